"""Scoring a run's speech after it was timed: whether each answer says its text, and how it
sounds (``ttskit.quality``), in other processes, so that no scorer ever shares a core, a
cache or the interpreter's lock with a request being timed.

A run asked for quality keeps the ``Speech`` of every successful request (and only then:
the audio of a long run is memory) in a ``speech`` column; ``add_scores`` replaces that
column by the quality columns once the last request is done.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import InvalidArgument, TTSKitError
from ..results import Speech

__all__ = [
    "QUALITY_COLUMNS",
    "add_scores",
    "median_with_interval",
    "quality_metrics",
    "quality_present",
]

#: The numeric quality columns a summary and a comparison cover when a frame has them.
QUALITY_COLUMNS = (
    "wer",
    "cer",
    "mos_p808",
    "mos_sig",
    "mos_bak",
    "mos_ovrl",
    "speech_onset_s",
    "speech_ratio",
    "leading_silence_s",
    "trailing_silence_s",
    "timestamp_offset_p50_ms",
    "timestamp_offset_p95_ms",
    "timestamp_coverage",
)


def quality_metrics(quality: bool | str | Sequence[str] | None) -> tuple[str, ...] | None:
    """The metrics a run scores: None for none, every one for True, else those named.

    Examples
    --------
    >>> quality_metrics(False) is None, quality_metrics(["wer"])
    (True, ('wer',))
    """
    if quality is None or quality is False:
        return None
    from ..quality import METRICS

    if quality is True:
        return tuple(METRICS)
    names = [quality] if isinstance(quality, str) else quality
    if not isinstance(names, Sequence) or not names or any(n not in METRICS for n in names):
        raise InvalidArgument(
            f"quality must be True, False or metrics from {list(METRICS)}, got {quality!r}"
        )
    return tuple(names)


def add_scores(
    df: pd.DataFrame,
    metrics: tuple[str, ...],
    *,
    processes: int = 1,
    asr: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """``df`` without its ``speech`` column and with the quality columns of ``metrics``.

    Requests without audio (failed, silent, warm-ups) get NaN. If scoring cannot run (the
    ``quality`` extra is missing, a scorer fails), the timed rows are kept and a
    ``RuntimeWarning`` says why; ``attrs["bench"]["quality"]`` then holds the error.
    """
    from ..quality import score_rows

    speech = df.pop("speech") if "speech" in df.columns else pd.Series(None, index=df.index)
    has_audio = speech.map(lambda s: isinstance(s, Speech) and s.audio.size > 0)
    todo = pd.DataFrame({"speech": speech[has_audio]})
    try:
        scored = score_rows(todo, metrics=metrics, asr=asr, processes=processes, progress=progress)
    except (TTSKitError, OSError, RuntimeError) as exc:
        warnings.warn(f"the rows are timed but not scored: {exc}", RuntimeWarning, stacklevel=3)
        df.attrs.setdefault("bench", {})["quality"] = {"error": f"{type(exc).__name__}: {exc}"}
        return df
    for column in scored.columns:
        if column != "speech":
            df[column] = scored[column].reindex(df.index)
    df.attrs.setdefault("bench", {})["quality"] = scored.attrs.get("quality", {})
    return df


def quality_present(df: pd.DataFrame) -> list[str]:
    """The numeric quality columns ``df`` has with at least one value."""
    return [
        c
        for c in QUALITY_COLUMNS
        if c in df.columns and pd.to_numeric(df[c], errors="coerce").notna().any()
    ]


def median_with_interval(
    values: np.ndarray, n_boot: int, rng: np.random.Generator, tail: float
) -> tuple[float, float, float]:
    """The median of ``values`` and its bootstrap interval (NaN for no values)."""
    if not values.size:
        return np.nan, np.nan, np.nan
    picks = rng.integers(0, values.size, size=(n_boot, values.size))
    replicates = np.median(values[picks], axis=1)
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return float(np.median(values)), float(low), float(high)
