"""A training-ready copy of a dataset without the items that fail a quality rule."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidArgument, InvalidType
from .layout import Layout, write_atomic
from .manifest import load

__all__ = ["filter"]


def _needed(expression: str, frame: pd.DataFrame) -> list[str]:
    from ..quality import METRICS

    names = set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", expression))
    return [
        metric
        for metric, columns in METRICS.items()
        if any(c in names and (c not in frame or frame[c].isna().all()) for c in columns)
    ]


def filter(  # noqa: A001 - the dataset's filter, as datasets.Dataset.filter
    folder: str | os.PathLike[str],
    keep: str | Callable[[pd.DataFrame], Any] | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    scores: pd.DataFrame | str | os.PathLike[str] | None = None,
    asr: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Copy the items of ``folder`` that ``keep`` accepts into ``out``, in the same layout.

    Parameters
    ----------
    folder : path
        A dataset made by ``generate``.
    keep : str or callable
        A ``DataFrame.query`` expression over the manifest and the quality columns
        (``"wer <= 0.1 and mos_ovrl >= 3"``), or a function of the manifest returning a
        boolean mask. A NaN fails every comparison, so an item that could not be scored
        is left out.
    out : path
        The new dataset folder: the kept audio, the same splits, its metadata and
        journal, with the quality columns in each row, so that ``load``, ``datasets``
        and the exports read it as they read ``folder``.
    scores : DataFrame or path, optional
        Scores made before (``ttskit quality``'s Parquet or CSV, or ``score_many``'s
        frame) with an ``id`` column or the item ids as index. Columns the rule names
        that neither these nor the manifest hold are scored here.
    asr : str, optional
        The transcriber for ``wer`` when it is scored here, as ``quality.score``'s.

    Returns
    -------
    pandas.DataFrame
        The manifest of ``out``.

    Examples
    --------
    >>> from ttskit import dataset
    >>> kept = dataset.filter("my_dataset", "wer <= 0.1 and mos_ovrl >= 3", "clean")  # doctest: +SKIP
    """
    if keep is None:
        raise InvalidArgument("filter needs keep=, an expression such as 'wer <= 0.1'")
    if out is None:
        raise InvalidArgument("filter needs out=, the folder for the copy")
    source = Layout(folder)
    manifest = load(folder)
    if Path(out).resolve() == Path(folder).resolve():
        raise InvalidArgument(f"out={str(out)!r} is the dataset itself; choose another folder")
    if scores is not None:
        manifest = _join(manifest, scores)
    if isinstance(keep, str):
        for metric in _needed(keep, manifest):
            from ..quality import score_many

            found = score_many(manifest, metrics=[metric], asr=asr, progress=progress)
            for column in found.columns:
                if column not in manifest or manifest[column].isna().all():
                    manifest[column] = found[column]
        try:
            mask = manifest.eval(keep)
        except Exception as exc:  # pandas raises several kinds for a bad expression
            raise InvalidArgument(
                f"keep={keep!r} is not an expression over the columns "
                f"{sorted(manifest.columns)}: {exc}"
            ) from exc
    elif callable(keep):
        mask = keep(manifest)
    else:
        raise InvalidType(f"keep must be an expression or a function, not {type(keep).__name__}")
    mask = pd.Series(np.asarray(mask, dtype=bool), index=manifest.index)
    kept = manifest[mask.to_numpy()]

    target = Layout(out)
    target.prepare(settings=source.settings(), overwrite=overwrite)
    target.journal.rewrite([])
    records = source.journal.read()
    extra = [c for c in manifest.columns if c not in ("path",)]
    rows = []
    for _, item in kept.iterrows():
        record = dict(records[item["id"]])
        for column in extra:
            if column not in record:
                value = item[column]
                record[column] = None if _missing(value) else _plain(value)
        destination = target.root / record["file_name"]
        destination.parent.mkdir(parents=True, exist_ok=True)
        temp = destination.with_name(f".{destination.name}.partial")
        shutil.copyfile(source.root / record["file_name"], temp)
        os.replace(temp, destination)
        target.journal.append(record)
        rows.append(record)
    target.journal.close()
    target.write_metadata(rows)
    write_atomic(
        target.state / "filter.txt",
        f"from {os.path.abspath(folder)}\nkeep {keep if isinstance(keep, str) else 'a function'}\n"
        f"kept {len(kept)} of {len(manifest)}\n".encode(),
    )
    return load(out)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _join(manifest: pd.DataFrame, scores: Any) -> pd.DataFrame:
    if not isinstance(scores, pd.DataFrame):
        path = Path(scores)
        scores = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    if "id" in scores:
        scores = scores.set_index("id")
    from ..quality import COLUMNS

    columns = [c for c in COLUMNS if c in scores]
    if not columns:
        raise InvalidArgument(f"scores= has none of the quality columns {COLUMNS}")
    joined = manifest.drop(columns=[c for c in columns if c in manifest]).join(
        scores[columns], on="id"
    )
    return joined
