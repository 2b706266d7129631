"""Saving and loading a run's rows as Parquet, with its metadata and never an API key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ConfigurationError, InvalidArgument
from ..protocol import lone_surrogate

__all__ = ["load", "save"]

METADATA_KEY = b"ttskit.bench"


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigurationError(
            "saving benchmark results needs pyarrow: pip install 'ttskit[bench]'"
        ) from exc
    return pyarrow


def save(df: pd.DataFrame, path: str | Path, *, secrets: tuple[str, ...] = ()) -> Path:
    """Write the rows of :func:`ttskit.bench.run` to a Parquet file with its metadata.

    ``df.attrs["bench"]`` (versions, endpoint, machine, date, arguments) is stored in the
    file's schema metadata. The frame never holds an API key; ``secrets`` are checked
    for anyway (and blanked) so that a key pasted into a header or a label cannot leak.
    """
    pa = _pyarrow()
    target = Path(path)
    if target.suffix.lower() != ".parquet":
        raise InvalidArgument(
            f"results are saved as Parquet: use a .parquet path, got {str(target)!r}"
        )
    metadata = json.dumps(df.attrs.get("bench", {}), default=str)
    frame = df.copy()
    frame.attrs = {}
    for secret in (s for s in secrets if s):
        metadata = metadata.replace(secret, "***")
        for column in frame.columns:
            if not (
                pd.api.types.is_object_dtype(frame[column])
                or pd.api.types.is_string_dtype(frame[column])
            ):
                continue
            frame[column] = frame[column].map(
                lambda v, s=secret: v.replace(s, "***") if isinstance(v, str) else v
            )
    _check_encodable(frame)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), METADATA_KEY: metadata.encode()}
    )
    pa.parquet.write_table(table, target)
    return target


def _check_encodable(frame: pd.DataFrame) -> None:
    """Name the cell Parquet cannot store (a string UTF-8 cannot carry), before pyarrow."""
    for column in frame.columns:
        if frame[column].dtype != object:
            continue
        for row, value in zip(frame.index, frame[column], strict=True):
            at = lone_surrogate(value) if isinstance(value, str) else None
            if at is not None:
                raise InvalidArgument(
                    f"row {row}'s {column} ({value!r:.80}) holds a lone surrogate "
                    f"({value[at]!r} at character {at}), which no Parquet file can store; "
                    "fix that value before saving"
                )


def load(path: str | Path) -> pd.DataFrame:
    """Read a file written by :func:`save`; its metadata is back in ``df.attrs["bench"]``."""
    pa = _pyarrow()
    source = Path(path)
    try:
        table = pa.parquet.read_table(source)
    except (OSError, pa.ArrowException) as exc:
        raise InvalidArgument(f"cannot read {str(source)!r} as Parquet results: {exc}") from exc
    frame = table.to_pandas()
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    frame.attrs["bench"] = json.loads(raw) if raw else {}
    for column in ("chunk_arrival_s", "chunk_samples"):
        if column in frame.columns:
            frame[column] = frame[column].map(lambda v: [] if v is None else list(v))
    return frame
