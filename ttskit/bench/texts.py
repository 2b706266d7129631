"""Texts to benchmark with: a built-in set, or one text per line of a file."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ..errors import InvalidArgument, check_encodable

__all__ = ["TEXTS", "builtin_texts", "read_texts", "text_frame"]

#: The built-in set: (id, kind, text), from a few words to a long paragraph, with numbers,
#: abbreviations, questions and names, so that a first experiment needs no data.
TEXTS: tuple[tuple[str, str, str], ...] = (
    ("hello", "short", "Hello there."),
    ("yes", "short", "Yes, of course."),
    ("question", "question", "Could you tell me where the nearest train station is?"),
    ("numbers", "numbers", "Your order of 3 items costs $42.50 and ships on 12 March 2025."),
    (
        "abbreviations",
        "abbreviations",
        "Dr. Smith met Mr. Lee at 5 p.m. near the U.N. building on Fifth Ave.",
    ),
    (
        "names",
        "names",
        "Siobhan, Nguyen and Xavier flew from Reykjavik to Wollongong via Qingdao.",
    ),
    (
        "sentence",
        "sentence",
        "The quick brown fox jumps over the lazy dog while the farmer watches from the porch.",
    ),
    (
        "two_sentences",
        "medium",
        "Streaming speech lets a listener hear the first words while the rest is still being "
        "made. How long that first wait lasts is what people notice most.",
    ),
    (
        "paragraph",
        "long",
        "Latency is not one number. The time to the first byte says when the server answered; "
        "the time to the first audio says when a player could start; the time to the first "
        "audible sound says when a listener hears something. After that, what matters is "
        "whether the audio keeps arriving faster than it plays. A stream that starts quickly "
        "but stalls halfway can feel slower than one that starts a little later and then runs "
        "smoothly to the end, which is why a fair comparison looks at the whole arrival curve.",
    ),
)


def text_frame(texts: Iterable[str] | pd.DataFrame, *, kind: str = "custom") -> pd.DataFrame:
    """A table of texts with columns ``text_id``, ``kind``, ``text``.

    ``texts`` is a list of strings (ids ``t0``, ``t1``, ...) or a DataFrame with a ``text``
    column (and optionally ``text_id`` and ``kind``).
    """
    if isinstance(texts, pd.DataFrame):
        if "text" not in texts.columns:
            raise InvalidArgument(
                f"a texts DataFrame needs a 'text' column; it has {list(texts.columns)}"
            )
        _check_encodable(texts["text"])
        frame = texts.copy()
        if "text_id" not in frame.columns:
            frame["text_id"] = [f"t{i}" for i in range(len(frame))]
        if "kind" not in frame.columns:
            frame["kind"] = kind
    else:
        if isinstance(texts, str):
            raise InvalidArgument(
                "texts must be a list of strings, not one string; wrap it: texts=[text]"
            )
        items = list(texts)
        bad = [t for t in items if not isinstance(t, str)]
        if bad:
            raise InvalidArgument(f"texts must be strings, got {bad[0]!r}")
        _check_encodable(items)
        frame = pd.DataFrame(
            {"text_id": [f"t{i}" for i in range(len(items))], "kind": kind, "text": items}
        )
    frame = frame[["text_id", "kind", "text"]].reset_index(drop=True)
    empty = frame["text"].astype(str).str.strip() == ""
    if empty.any() or frame.empty:
        raise InvalidArgument("texts must hold at least one text and no empty one")
    if frame["text_id"].duplicated().any():
        raise InvalidArgument(
            f"text ids must be unique, {frame['text_id'][frame['text_id'].duplicated()].iloc[0]!r} repeats"
        )
    return frame


def _check_encodable(texts: Iterable[object]) -> None:
    """Refuse a text UTF-8 cannot carry (a lone surrogate), naming it."""
    check_encodable("text", texts)


def builtin_texts(kinds: Iterable[str] | None = None) -> pd.DataFrame:
    """The built-in text set (:data:`TEXTS`), optionally only some ``kinds``.

    Examples
    --------
    >>> builtin_texts(["short"])["text_id"].tolist()
    ['hello', 'yes']
    """
    frame = pd.DataFrame(list(TEXTS), columns=["text_id", "kind", "text"])
    if kinds is not None:
        wanted = list(kinds)
        unknown = sorted(set(wanted) - set(frame["kind"]))
        if unknown:
            raise InvalidArgument(
                f"unknown text kind {unknown[0]!r}; the built-in set has {sorted(set(frame['kind']))}"
            )
        frame = frame[frame["kind"].isin(wanted)].reset_index(drop=True)
    return frame


def read_texts(path: str | Path) -> pd.DataFrame:
    """Texts from a UTF-8 file, one per non-empty line (ids are ``<stem>:<line number>``).

    Raises
    ------
    ttskit.errors.InvalidArgument
        If the file is missing, not UTF-8 text, or holds no text.
    """
    source = Path(path)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"cannot read the texts file {str(source)!r}: {exc}") from exc
    if b"\x00" in data:
        raise InvalidArgument(
            f"{str(source)!r} is not a text file (it holds NUL bytes); give one text per line"
        )
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(
            f"{str(source)!r} is not UTF-8 text ({exc}); give one text per line"
        ) from exc
    rows = [
        (f"{source.stem}:{number}", "file", line.strip())
        for number, line in enumerate(content.splitlines(), start=1)
        if line.strip()
    ]
    if not rows:
        raise InvalidArgument(f"{str(source)!r} holds no text; give one text per line")
    return pd.DataFrame(rows, columns=["text_id", "kind", "text"])
