"""The manifest: one row per item, as a pandas DataFrame, read back without ``datasets``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import pandas as pd

from ..errors import InvalidArgument
from .layout import Layout
from .quality import QUALITY_COLUMNS, score_columns

__all__ = ["COLUMNS", "frame", "load", "ordered"]

#: The manifest's own columns, in order; the scores of ``generate(quality=...)`` and the
#: carried input columns follow, then ``path``.
COLUMNS = [
    "file_name",
    "id",
    "text_id",
    "text",
    "voice",
    "model",
    "requested_voice",
    "requested_model",
    "endpoint",
    "sample_rate",
    "format",
    "split",
    "status",
    "error",
    "attempts",
    "words",
    *QUALITY_COLUMNS,
    "gain_db",
]


#: Rows turned into a DataFrame at a time: a large manifest is never held as dicts whole.
CHUNK_ROWS = 4096


def frame(records: Iterable[dict[str, Any]], root: str | os.PathLike[str]) -> pd.DataFrame:
    """The manifest of ``records`` (journal rows) of the dataset at ``root``.

    ``file_name`` is relative to ``root``; ``path`` is the audio file's absolute path
    (None for a failed item).
    """
    carried: list[str] = []
    chunks: list[pd.DataFrame] = []
    for rows in _chunks(records, CHUNK_ROWS):
        for row in rows:
            carried.extend(k for k in row if k not in COLUMNS and k not in carried)
        chunks.append(pd.DataFrame.from_records(rows, columns=[*COLUMNS, *carried]))
        del rows
    if carried:
        # Scores (generate(quality=...)) come before the carried input columns.
        scores = score_columns()
        carried = [c for c in scores if c in carried] + [c for c in carried if c not in scores]
    columns = [*COLUMNS, *carried]
    if not chunks:
        table = pd.DataFrame(columns=columns)
    elif len(chunks) == 1:
        table = chunks[0][columns]
    else:
        table = pd.concat(chunks, ignore_index=True)[columns]
    del chunks
    base = os.path.abspath(root)
    table["path"] = [
        os.path.join(base, *name.split("/")) if isinstance(name, str) else None
        for name in table["file_name"]
    ]
    return table


def _chunks(records: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    for record in records:
        rows.append(record)
        if len(rows) == size:
            yield rows
            rows = []
    if rows:
        yield rows


def load(out: str | os.PathLike[str], *, failed: bool = False) -> pd.DataFrame:
    """The manifest of a dataset folder made by ``generate``, without ``datasets``.

    Parameters
    ----------
    out : path
        The dataset folder.
    failed : bool
        Also return the rows of items that failed (``status == "failed"``, with their
        ``error``), which the folder's metadata leaves out.

    Returns
    -------
    pandas.DataFrame
        One row per item, in the order they were made: ``file_name`` (relative to
        ``out``), ``id``, ``text``, ``voice``, the quality columns, the scores of
        ``generate(quality=...)``, the carried input columns, and ``path`` to open the
        audio; ``attrs["quality"]`` says what made the scores.

    Examples
    --------
    >>> table = load("my_dataset")  # doctest: +SKIP
    >>> table.sort_values("loudness_lufs").head()  # doctest: +SKIP
    """
    layout = Layout(out)
    if not layout.is_dataset():
        raise InvalidArgument(
            f"{str(out)!r} is not a dataset made by ttskit.dataset.generate (no .ttskit folder)"
        )
    records = [
        r
        for r in layout.journal.read().values()
        if (r.get("status") == "ok" and (layout.root / r["file_name"]).is_file())
        or (failed and r.get("status") != "ok")
    ]
    table = frame(records, layout.root)
    from .scoring import read_provenance

    scorers = read_provenance(layout)
    if scorers is not None:
        table.attrs["quality"] = scorers
    return table


def ordered(record: dict[str, Any], carried: dict[str, Any]) -> dict[str, Any]:
    """A journal record in the manifest's order: its own columns, scores, then ``carried``."""
    out = {c: record[c] for c in COLUMNS if c in record}
    out.update((c, record[c]) for c in score_columns() if c in record)
    out.update((c, value) for c, value in record.items() if c not in out)
    out.update(carried)
    return out
