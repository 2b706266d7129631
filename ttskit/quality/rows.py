"""Scoring a table of results in other processes, after the timed part is over."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidArgument

__all__ = ["score_rows"]

_scorer: Any = None


def _start(metrics: Any, asr: Any) -> None:
    global _scorer
    from .score import Scorer

    _scorer = Scorer(metrics, asr=asr)


def _score(frame: pd.DataFrame) -> pd.DataFrame:
    return _scorer.many(frame, progress=False)


def score_rows(
    rows: pd.DataFrame,
    *,
    metrics: Any = None,
    asr: str | None = None,
    processes: int = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """``rows`` with the quality columns added, scored in ``processes`` other processes.

    The scorers load and run in fresh processes (``spawn``), so nothing they do shares a
    core's caches, threads or the interpreter's lock with the process that timed the
    rows. Rows without audio (a failed request) get NaN.

    Parameters
    ----------
    rows : pandas.DataFrame
        A ``speech`` column of ``ttskit.Speech`` or a ``path`` column of audio files, and
        ``text`` (and ``words``, for the timestamp check) as ``score_many`` reads them.
    metrics, asr :
        As ``score``'s; ``asr`` is a name, folder or URL, so that it crosses processes.
    processes : int
        Processes to shard the rows over.

    Returns
    -------
    pandas.DataFrame
        A copy of ``rows`` with ``score``'s columns; ``attrs["quality"]`` says what made them.
    """
    from tqdm.auto import tqdm

    if not isinstance(processes, int) or isinstance(processes, bool) or processes < 1:
        raise InvalidArgument(f"processes must be a positive int, not {processes!r}")
    if not isinstance(rows, pd.DataFrame):
        raise InvalidArgument(f"rows must be a pandas DataFrame, not {type(rows).__name__}")
    from .score import COLUMNS, _check_metrics

    metrics = _check_metrics(metrics)
    has_audio = pd.Series(False, index=rows.index)
    if "speech" in rows:
        has_audio |= rows["speech"].map(lambda s: getattr(s, "audio", None) is not None)
    if "path" in rows:
        has_audio |= rows["path"].map(lambda p: isinstance(p, str) and bool(p))
    todo = rows.loc[has_audio, [c for c in ("speech", "path", "text", "words") if c in rows]]
    shards = [todo.iloc[i::processes] for i in range(processes)] if len(todo) else []
    # Small shards keep the progress bar moving.
    chunks = [s.iloc[i : i + 8] for s in shards for i in range(0, len(s), 8)]
    scored: list[pd.DataFrame] = []
    attrs: dict[str, Any] = {}
    if chunks:
        context = multiprocessing.get_context("spawn")
        with (
            ProcessPoolExecutor(
                processes, mp_context=context, initializer=_start, initargs=(metrics, asr)
            ) as pool,
            tqdm(total=len(todo), desc="quality", unit="row", disable=not progress) as bar,
        ):
            for part in pool.map(_score, chunks):
                scored.append(part)
                attrs = part.attrs.get("quality", attrs)
                bar.update(len(part))
    out = rows.copy()
    if scored:
        scores = pd.concat(scored).reindex(rows.index)
    else:
        scores = pd.DataFrame(np.nan, index=rows.index, columns=COLUMNS)
    for column in scores.columns:
        out[column] = scores[column]
    out.attrs = {**rows.attrs, "quality": attrs}
    return out
