"""Quality columns of one item, loudness normalization, and the scores of ``ttskit.quality``.

Measures are plain numpy functions of float32 mono audio at an explicit sample rate;
loudness is ITU-R BS.1770 integrated loudness from pyloudnorm. With
``generate(quality=True)`` an item also gets ``ttskit.quality``'s scores (``wer``,
``mos_ovrl``, ``speech_onset_s``, ...); ``flag`` adds the limits they break to the same
``issues`` and ``suspicious`` as the measures here.

>>> import numpy as np
>>> from ttskit.audio import sine
>>> tone = np.concatenate([np.zeros(2400, np.float32), sine(440, duration=1.0, sample_rate=24000)])
>>> row = measure(tone, sample_rate=24000, text="one two three")
>>> round(row["leading_silence"], 2), row["silent"]
(0.1, False)
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigurationError, InvalidArgument

__all__ = [
    "QUALITY_COLUMNS",
    "check_metrics",
    "flag",
    "measure",
    "missing_metrics",
    "normalize_loudness",
    "score_columns",
    "scored_now",
    "scores_of",
]

QUALITY_COLUMNS = [
    "duration",
    "leading_silence",
    "trailing_silence",
    "peak",
    "clipped_fraction",
    "loudness_lufs",
    "words_per_second",
    "n_words",
    "timestamps_cover",
    "empty",
    "silent",
    "suspicious",
    "issues",
]

#: A 10 ms frame is sound when its power is above this level.
SILENCE_DBFS = -50.0
FRAME_S = 0.01
#: A sample this close to full scale counts as clipped.
CLIP_LEVEL = 0.999
#: Shortest audio that is not empty.
MIN_DURATION_S = 0.05

# What makes an item suspicious; each limit is named in the ``issues`` column.
MAX_CLIPPED_FRACTION = 0.001
MAX_LEADING_SILENCE_S = 1.0
MAX_TRAILING_SILENCE_S = 1.5
WORDS_PER_SECOND_RANGE = (0.7, 6.0)
#: Word timestamps must reach within this of the first and last sound.
COVER_TOLERANCE_S = 0.5


@functools.lru_cache(maxsize=8)
def _meter(sample_rate: int) -> Any:
    try:
        import pyloudnorm
    except ImportError as exc:
        raise ConfigurationError(
            "loudness measures need pyloudnorm: pip install 'ttskit[dataset]'"
        ) from exc
    return pyloudnorm.Meter(sample_rate)


#: Loudness reported for silence: the absolute gate of ITU-R BS.1770.
SILENCE_LUFS = -70.0
_BLOCK_S = 0.4


def loudness_lufs(audio: np.ndarray, *, sample_rate: int) -> float:
    """Integrated loudness in LUFS, at least ``SILENCE_LUFS``.

    Audio shorter than one 400 ms block is measured repeated up to that length, which
    keeps its mean power.
    """
    samples = np.asarray(audio, dtype=np.float64)
    if not samples.size or not np.any(samples):
        return SILENCE_LUFS
    block = int(_BLOCK_S * sample_rate) + 1
    if samples.size < block:
        samples = np.tile(samples, -(-block // samples.size))
    measured = float(_meter(int(sample_rate)).integrated_loudness(samples))
    return max(measured, SILENCE_LUFS) if math.isfinite(measured) else SILENCE_LUFS


def _sound_span(audio: np.ndarray, sample_rate: int) -> tuple[float, float] | None:
    """Start and end in seconds of the first and last frame above ``SILENCE_DBFS``."""
    frame = max(1, int(round(FRAME_S * sample_rate)))
    n_frames = -(-audio.size // frame)
    if n_frames == 0:
        return None
    padded = np.zeros(n_frames * frame, dtype=np.float64)
    padded[: audio.size] = audio
    power = np.mean(padded.reshape(n_frames, frame) ** 2, axis=1)
    loud = np.flatnonzero(power > 10.0 ** (SILENCE_DBFS / 10.0))
    if not loud.size:
        return None
    start = int(loud[0]) * frame / sample_rate
    return start, min(audio.size, (int(loud[-1]) + 1) * frame) / sample_rate


def measure(
    audio: np.ndarray,
    *,
    sample_rate: int,
    text: str = "",
    words: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The quality columns of one item.

    Parameters
    ----------
    audio : np.ndarray, shape (n,), float32
    sample_rate : int
    text : str
        What was said, for the speaking rate.
    words : pandas.DataFrame, optional
        Word timestamps (``word``, ``start``, ``end``); None when none were asked for,
        which leaves ``timestamps_cover`` as None.

    Returns
    -------
    dict
        ``QUALITY_COLUMNS``: seconds for ``duration`` and the silences, linear ``peak``,
        ``loudness_lufs``, ``words_per_second`` over the span between first and last
        sound, and the flags ``empty``, ``silent`` and
        ``suspicious`` with the reasons in ``issues`` (";"-separated). Every number is
        finite: ``loudness_lufs`` is ``SILENCE_LUFS`` for silence and ``words_per_second``
        0 when nothing is heard.
    """
    samples = np.asarray(audio, dtype=np.float32)
    duration = samples.size / sample_rate
    span = _sound_span(samples, sample_rate)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    clipped = float(np.mean(np.abs(samples) >= CLIP_LEVEL)) if samples.size else 0.0
    n_text_words = len(text.split())
    if span is None:
        leading = trailing = duration
        words_per_second = 0.0
    else:
        leading, trailing = span[0], duration - span[1]
        voiced = span[1] - span[0]
        words_per_second = float(n_text_words / voiced) if voiced > 0 else 0.0
    cover: bool | None = None
    n_words = 0
    if words is not None:
        n_words = len(words)
        cover = bool(
            n_words
            and span is not None
            and float(words["start"].min()) <= span[0] + COVER_TOLERANCE_S
            and float(words["end"].max()) >= span[1] - COVER_TOLERANCE_S
            and float(words["end"].max()) <= duration + COVER_TOLERANCE_S
        )
    empty = duration < MIN_DURATION_S
    silent = not empty and span is None
    issues = []
    if empty:
        issues.append("empty")
    if silent:
        issues.append("silent")
    if clipped > MAX_CLIPPED_FRACTION:
        issues.append("clipped")
    if not (empty or silent):
        if leading > MAX_LEADING_SILENCE_S:
            issues.append("long_leading_silence")
        if trailing > MAX_TRAILING_SILENCE_S:
            issues.append("long_trailing_silence")
        if n_text_words >= 3 and words_per_second < WORDS_PER_SECOND_RANGE[0]:
            issues.append("slow")
        if words_per_second > WORDS_PER_SECOND_RANGE[1]:
            issues.append("fast")
        if cover is False:
            issues.append("timestamps_gap")
    return {
        "duration": duration,
        "leading_silence": leading,
        "trailing_silence": trailing,
        "peak": peak,
        "clipped_fraction": clipped,
        "loudness_lufs": loudness_lufs(samples, sample_rate=sample_rate),
        "words_per_second": words_per_second,
        "n_words": n_words,
        "timestamps_cover": cover,
        "empty": empty,
        "silent": silent,
        "suspicious": bool(issues),
        "issues": ";".join(issues),
    }


def normalize_loudness(
    audio: np.ndarray, *, sample_rate: int, target_lufs: float
) -> tuple[np.ndarray, float]:
    """Scale ``audio`` to ``target_lufs`` integrated loudness, never above full scale.

    Returns
    -------
    audio : np.ndarray, float32
    gain_db : float
        The gain applied; 0 for silence. When the target would clip, the gain stops at
        a peak of -0.1 dBFS.
    """
    samples = np.asarray(audio, dtype=np.float32)
    measured = loudness_lufs(samples, sample_rate=sample_rate)
    if measured <= SILENCE_LUFS:
        return samples, 0.0
    gain_db = float(target_lufs) - measured
    peak = float(np.max(np.abs(samples)))
    ceiling_db = 20.0 * math.log10(10 ** (-0.1 / 20) / peak) if peak > 0 else gain_db
    gain_db = min(gain_db, ceiling_db)
    return (samples * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32), gain_db


# --- the scores of ttskit.quality -------------------------------------------------------

#: When an item was scored (UTC, ISO 8601): a rerun keeps the scores an item has.
SCORED_AT = "scored_at"


def scored_now() -> str:
    """The time to record in ``scored_at``: now, UTC, to the microsecond."""
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="microseconds")


def score_columns() -> list[str]:
    """The columns ``quality=True`` adds to an item, in the manifest's order."""
    from ..quality import COLUMNS

    return [c for c in COLUMNS if c != "quality_flagged"] + [SCORED_AT]


def check_metrics(quality: Any, *, alignment: bool) -> tuple[str, ...]:
    """The metrics of ``generate(quality=...)``: none for False; for True all of them,
    the timestamp check only when word timestamps are asked for."""
    from ..quality import METRICS

    if quality is None or isinstance(quality, bool):
        return tuple(m for m in METRICS if alignment or m != "timestamps") if quality else ()
    try:
        chosen = (quality,) if isinstance(quality, str) else tuple(quality)
    except TypeError:
        chosen = ()
    if not chosen or any(m not in METRICS for m in chosen):
        raise InvalidArgument(f"quality={quality!r}: pass True, or metrics from {list(METRICS)}")
    return tuple(dict.fromkeys(chosen))


def missing_metrics(record: dict[str, Any], metrics: tuple[str, ...]) -> tuple[str, ...]:
    """The metrics of ``metrics`` that ``record`` has no score for (a score that is None,
    because it could not be computed, counts as had)."""
    from ..quality import METRICS

    return tuple(m for m in metrics if not any(c in record for c in METRICS[m]))


def scores_of(scored: pd.Series, metrics: tuple[str, ...], *, when: str) -> dict[str, Any]:
    """A row's columns from ``quality.score``'s result: the metrics' values (NaN as None),
    ``quality_reason`` and ``scored_at``; the flags are ``flag``'s."""
    from ..quality import METRICS

    row: dict[str, Any] = {}
    for metric in metrics:
        for column in METRICS[metric]:
            value = scored.get(column)
            if hasattr(value, "item") and not isinstance(value, str):
                value = value.item()
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            row[column] = value
    row["quality_reason"] = str(scored.get("quality_reason") or "")
    row[SCORED_AT] = when
    return row


def flag(record: dict[str, Any], limits: Any) -> dict[str, Any]:
    """``record`` with the limits its scores break (``quality.Limits.issues``) in
    ``quality_issues``, and added to ``issues`` and ``suspicious`` beside the measures'."""
    before = [t for t in str(record.get("quality_issues") or "").split(";") if t]
    kept = [t for t in str(record.get("issues") or "").split(";") if t and t not in before]
    found = [issue.replace(" ", "_") for issue in limits.issues(record)]
    record["quality_issues"] = ";".join(found)
    record["issues"] = ";".join(kept + found)
    record["suspicious"] = bool(kept or found)
    return record
