"""Texts in: a list, a pandas Series or DataFrame, or a .txt, .csv or .jsonl file.

Every form becomes one table with ``text_id``, ``text`` and the columns to carry into the
dataset's metadata. Texts are cleaned (whitespace collapsed); empty ones are dropped and
counted, and repeated ones kept once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InvalidArgument, check_encodable
from .manifest import COLUMNS

__all__ = ["FILE_SUFFIXES", "RESERVED_COLUMNS", "Texts", "read_texts"]

FILE_SUFFIXES = (".txt", ".csv", ".jsonl")

#: Columns ttskit writes itself; an input column of the same name cannot be carried.
RESERVED_COLUMNS = frozenset([*COLUMNS, "path"])


@dataclass
class Texts:
    """Cleaned texts: ``table`` has ``text_id``, ``text`` and the carried columns."""

    table: pd.DataFrame
    n_given: int
    n_empty: int
    n_duplicate: int

    @property
    def carried(self) -> list[str]:
        return [c for c in self.table.columns if c not in ("text_id", "text")]


def clean_text(value: Any) -> str:
    """``value`` as one line of text: whitespace collapsed; NaN and None are empty."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return " ".join(str(value).split())


def text_id_of(text: str) -> str:
    """A stable id for a text given without one."""
    return "t" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:11]


def _read_file(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise InvalidArgument(
            f"cannot read texts from {str(path)!r}: use a {', '.join(FILE_SUFFIXES)} file"
        )
    if not path.is_file():
        raise InvalidArgument(f"texts file {str(path)!r} does not exist")
    try:
        if suffix == ".txt":
            lines = path.read_text(encoding="utf-8").splitlines()
            return pd.DataFrame({"text": pd.Series(lines, dtype=object)})
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        else:
            frame = pd.read_json(path, lines=True, dtype=False)
    except UnicodeError as exc:
        raise InvalidArgument(
            f"cannot read texts from {str(path)!r}: it is not UTF-8 text ({exc.reason}); "
            "save it as UTF-8"
        ) from None
    if "text" not in frame.columns:
        raise InvalidArgument(
            f"{str(path)!r} has no 'text' column (columns: {list(frame.columns)})"
        )
    return frame


def _as_frame(texts: Any) -> pd.DataFrame:
    if isinstance(texts, str | Path):
        if isinstance(texts, str) and Path(texts).suffix.lower() not in FILE_SUFFIXES:
            raise InvalidArgument(
                f"texts={texts[:60]!r} is a str but not a {', '.join(FILE_SUFFIXES)} file "
                "name; pass a list of texts, e.g. [text]"
            )
        return _read_file(Path(texts))
    if isinstance(texts, pd.DataFrame):
        if "text" not in texts.columns:
            raise InvalidArgument(
                f"the texts DataFrame has no 'text' column (columns: {list(texts.columns)})"
            )
        return texts.reset_index(drop=True)
    if isinstance(texts, pd.Series):
        frame = pd.DataFrame({"text": texts.to_numpy(dtype=object)})
        if not isinstance(texts.index, pd.RangeIndex):
            frame.insert(0, "id", texts.index.astype(str))
        return frame
    if isinstance(texts, Iterable) and not isinstance(texts, bytes | dict):
        values = list(texts)
        bad = next((v for v in values if not isinstance(v, str)), None)
        if bad is not None:
            raise InvalidArgument(f"texts must be strings; got {type(bad).__name__} {bad!r:.60}")
        check_encodable("text", values)
        return pd.DataFrame({"text": pd.Series(values, dtype=object)})
    raise InvalidArgument(
        f"texts must be a list of str, a pandas Series or DataFrame, or a "
        f"{', '.join(FILE_SUFFIXES)} file; got {type(texts).__name__}"
    )


def read_texts(texts: Any) -> Texts:
    """Read and clean ``texts`` in any accepted form.

    Parameters
    ----------
    texts : list of str, pandas.Series, pandas.DataFrame, str or pathlib.Path
        A DataFrame (or a .csv/.jsonl file) needs a ``text`` column; an ``id`` column, if
        any, becomes ``text_id``, and every other column is carried into the metadata.
        A .txt file holds one text per line.

    Returns
    -------
    Texts
    """
    frame = _as_frame(texts)
    for column in frame.columns:
        if frame[column].dtype == object:
            check_encodable(str(column), frame[column])
    n_given = len(frame)
    if "text_id" in frame.columns and "id" in frame.columns:
        raise InvalidArgument("the texts have both 'id' and 'text_id' columns; keep one")
    frame = frame.rename(columns={"id": "text_id"})
    clashes = sorted(str(c) for c in frame.columns if c in RESERVED_COLUMNS - {"text", "text_id"})
    if clashes:
        raise InvalidArgument(
            f"input columns {clashes} have names the dataset uses itself; rename them "
            "(e.g. with DataFrame.rename) to carry them"
        )
    cleaned = frame["text"].map(clean_text)
    frame = frame.assign(text=cleaned)
    empty = cleaned.eq("")
    frame = frame[~empty]
    duplicate = frame["text"].duplicated(keep="first")
    frame = frame[~duplicate].reset_index(drop=True)
    if "text_id" in frame.columns:
        frame["text_id"] = [
            text_id_of(t) if clean_text(i) == "" else str(i)
            for i, t in zip(frame["text_id"], frame["text"], strict=True)
        ]
    else:
        frame.insert(0, "text_id", frame["text"].map(text_id_of))
    order = ["text_id", "text", *[c for c in frame.columns if c not in ("text_id", "text")]]
    return Texts(
        table=frame[order],
        n_given=n_given,
        n_empty=int(empty.sum()),
        n_duplicate=int(duplicate.sum()),
    )
