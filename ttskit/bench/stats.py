"""Reading benchmark rows: percentiles with bootstrap intervals, throughput, goodput, knees.

Every function takes the tidy frame of :func:`ttskit.bench.run` (one row per request).
Warm-up rows are left out unless asked for. A request counts as *ok* when it has no error
and its audio was not silent; latency percentiles are over ok requests, while goodput
counts every request, so failures and silence can never look fast.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InvalidArgument
from .scores import QUALITY_COLUMNS, median_with_interval, quality_present

__all__ = [
    "STALL_BUFFERS_MS",
    "Objective",
    "compare",
    "knee",
    "stall_count",
    "summary",
    "POLICY_COLUMNS",
    "UnfairComparison",
    "underruns",
]

#: Start buffers (ms) for which every row counts stalls.
STALL_BUFFERS_MS = (0, 100, 250)


def underruns(
    arrival_s: Sequence[float],
    n_samples: Sequence[int],
    *,
    sample_rate: int,
    prebuffer_s: float = 0.1,
) -> tuple[int, float, float]:
    """Number, total and longest seconds of the underruns a player would hit.

    The player starts once ``prebuffer_s`` of audio has arrived (or the answer ended),
    plays in real time, and starves whenever the next chunk arrives after it was due; it
    resumes as that chunk arrives, so every underrun moves the rest of the playback later
    by its length. The same rule as ``ttskit.Timing.stalls``, on plain lists so that a row
    costs microseconds.

    Examples
    --------
    >>> underruns([0.0, 0.5, 2.0], [8000, 8000, 8000], sample_rate=16000, prebuffer_s=0)
    (1, 1.0, 1.0)
    """
    if not len(arrival_s) or not sample_rate:
        return 0, 0.0, 0.0
    starts, position = [], 0
    for n in n_samples:
        starts.append(position / sample_rate)
        position += n
    first = len(arrival_s) - 1
    for i, n in enumerate(n_samples):
        if starts[i] + n / sample_rate >= prebuffer_s - 1e-9:
            first = i
            break
    # Every chunk up to ``first`` has arrived when playback starts.
    play_start = max(arrival_s[: first + 1])
    count, delay, longest = 0, 0.0, 0.0
    for i in range(first + 1, len(arrival_s)):
        due = play_start + starts[i] + delay
        if arrival_s[i] > due + 1e-9:
            count += 1
            delay += arrival_s[i] - due
            longest = max(longest, arrival_s[i] - due)
    return count, delay, longest


def stall_count(
    arrival_s: Sequence[float],
    n_samples: Sequence[int],
    *,
    sample_rate: int,
    start_buffer_s: float = 0.0,
) -> tuple[int, float]:
    """Number and total seconds of the stalls a player would hit: :func:`underruns` with a
    start buffer of ``start_buffer_s`` (0 by default).

    Examples
    --------
    >>> stall_count([0.0, 0.5, 2.0], [8000, 8000, 8000], sample_rate=16000)
    (1, 1.0)
    """
    count, total, _ = underruns(
        arrival_s, n_samples, sample_rate=sample_rate, prebuffer_s=start_buffer_s
    )
    return count, total


@dataclass(frozen=True)
class Objective:
    """A latency objective a request meets or misses.

    Parameters
    ----------
    first_audio_s : float
        Longest acceptable time to the first audio.
    start_buffer_ms : {0, 100, 250}
        The player's start buffer at which stalls are counted.
    max_stalls : int
        Most stalls allowed at that buffer.
    min_share : float
        Share of requests that must meet it for a level to count as meeting it (knee).
    """

    first_audio_s: float = 0.3
    start_buffer_ms: int = 100
    max_stalls: int = 0
    min_share: float = 0.95

    def __post_init__(self) -> None:
        if self.start_buffer_ms not in STALL_BUFFERS_MS:
            raise InvalidArgument(
                f"start_buffer_ms must be one of {STALL_BUFFERS_MS}, got {self.start_buffer_ms!r}"
            )
        if not self.first_audio_s > 0:
            raise InvalidArgument(f"first_audio_s must be > 0, got {self.first_audio_s!r}")
        if not 0 < self.min_share <= 1:
            raise InvalidArgument(f"min_share must be within (0, 1], got {self.min_share!r}")

    def met(self, df: pd.DataFrame) -> pd.Series:
        """Per row, whether the request met the objective (failed or silent ones never do)."""
        stalls = df[f"stalls_{self.start_buffer_ms}ms"].fillna(np.inf)
        return (
            df["ok"].astype(bool)
            & (df["first_audio_s"].fillna(np.inf) <= self.first_audio_s)
            & (stalls <= self.max_stalls)
        )


def _measured(df: pd.DataFrame, include_warmup: bool) -> pd.DataFrame:
    if "ok" not in df.columns or "first_audio_s" not in df.columns:
        raise InvalidArgument(
            "expected the frame of ttskit.bench.run (columns 'ok', 'first_audio_s', ...); "
            f"got columns {list(df.columns)[:8]}"
        )
    return df if include_warmup or "warmup" not in df.columns else df[~df["warmup"].astype(bool)]


def _bootstrap(
    values: np.ndarray, percentiles: Sequence[float], n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Bootstrap replicates of the percentiles: shape (n_boot, len(percentiles))."""
    picks = rng.integers(0, values.size, size=(n_boot, values.size))
    return np.percentile(values[picks], percentiles, axis=1).T


def _span(rows: pd.DataFrame) -> float:
    ends = rows["scheduled_s"] + rows["done_s"]
    span = float(ends.max() - rows["scheduled_s"].min()) if len(rows) else np.nan
    return span if span > 0 else np.nan


def _groups(df: pd.DataFrame, by: str | Sequence[str] | None):
    if by is None:
        yield (), df
        return
    keys = [by] if isinstance(by, str) else list(by)
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise InvalidArgument(f"cannot group by {missing[0]!r}: the frame has no such column")
    for key, rows in df.groupby(keys, sort=True, dropna=False):
        yield (key if isinstance(key, tuple) else (key,)), rows


def summary(
    df: pd.DataFrame,
    by: str | Sequence[str] | None = None,
    *,
    columns: Sequence[str] = ("first_audio_s", "done_s"),
    percentiles: Sequence[float] = (50, 90, 95, 99),
    confidence: float = 0.95,
    n_boot: int = 1000,
    objective: Objective | None = None,
    include_warmup: bool = False,
    seed: int = 0,
) -> pd.DataFrame:
    """Per group: counts, latency percentiles with bootstrap intervals, throughput, goodput.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows of :func:`ttskit.bench.run`.
    by : str or list of str, optional
        Grouping columns (``"voice"``, ``["transport", "concurrency"]``, ...).
    columns : sequence of str
        Latencies to summarize.
    percentiles : sequence of float
        Percentiles reported, each as ``<column>_p<q>`` with ``_lo`` and ``_hi`` bounds.
    confidence : float
        Coverage of the percentile bootstrap intervals.
    n_boot : int
        Bootstrap resamples.
    objective : Objective, optional
        What goodput counts (first audio <= 300 ms and no stall at a 100 ms buffer).
    include_warmup : bool
        Keep the warm-up requests.
    seed : int
        Seed of the resampling, for repeatable intervals.

    Returns
    -------
    pandas.DataFrame
        One row per group: ``requests``, ``errors``, ``silent``, the percentiles,
        ``throughput`` (audio seconds per wall second), ``requests_per_s``, ``goodput``
        (share meeting the objective) with ``goodput_lo``/``goodput_hi``, and
        ``no_underrun`` (share of requests ok with no underrun at the run's first
        prebuffer) when the rows have continuity columns. A run scored for quality adds,
        per quality column (``wer``, ``cer``, ``mos_ovrl``, ``speech_onset_s``, ...), its
        median over the scored requests with a bootstrap interval (``wer_median``,
        ``wer_median_lo``, ``wer_median_hi``) and ``flagged`` (requests a quality limit
        flagged).
    """
    if not 0 < confidence < 1:
        raise InvalidArgument(f"confidence must be within (0, 1), got {confidence!r}")
    if n_boot < 1:
        raise InvalidArgument(f"n_boot must be >= 1, got {n_boot!r}")
    objective = objective or Objective()
    rng = np.random.default_rng(seed)
    tail = (1 - confidence) / 2 * 100
    rows = []
    keys = [] if by is None else ([by] if isinstance(by, str) else list(by))
    scored = quality_present(df)
    for key, group in _groups(_measured(df, include_warmup), by):
        ok = group[group["ok"].astype(bool)]
        row: dict = dict(zip(keys, key, strict=True))
        row["requests"] = len(group)
        row["errors"] = int(group["error"].notna().sum())
        row["silent"] = int(group["silent"].astype(bool).sum())
        for column in columns:
            values = ok[column].dropna().to_numpy(float)
            name = column.removesuffix("_s")
            if values.size:
                point = np.percentile(values, percentiles)
                replicates = _bootstrap(values, percentiles, n_boot, rng)
                low = np.percentile(replicates, tail, axis=0)
                high = np.percentile(replicates, 100 - tail, axis=0)
            else:
                point = low = high = np.full(len(percentiles), np.nan)
            for q, p, lo, hi in zip(percentiles, point, low, high, strict=True):
                row[f"{name}_p{q:g}"] = p
                row[f"{name}_p{q:g}_lo"] = lo
                row[f"{name}_p{q:g}_hi"] = hi
        span = _span(group)
        row["throughput"] = float(ok["audio_s"].sum()) / span if span == span else np.nan
        row["requests_per_s"] = len(group) / span if span == span else np.nan
        met = objective.met(group).to_numpy(bool)
        row["goodput"] = float(met.mean()) if met.size else np.nan
        if met.size:
            boot = met[rng.integers(0, met.size, size=(n_boot, met.size))].mean(axis=1)
            row["goodput_lo"], row["goodput_hi"] = np.percentile(boot, [tail, 100 - tail])
        else:
            row["goodput_lo"] = row["goodput_hi"] = np.nan
        if "underrun_count" in group.columns:
            smooth = group["ok"].astype(bool) & (group["underrun_count"].fillna(1) == 0)
            row["no_underrun"] = float(smooth.mean()) if len(group) else np.nan
        for column in scored:
            values = pd.to_numeric(ok[column], errors="coerce").dropna().to_numpy(float)
            point, low, high = median_with_interval(values, n_boot, rng, tail)
            row[f"{column}_median"], row[f"{column}_median_lo"] = point, low
            row[f"{column}_median_hi"] = high
        if scored and "quality_flagged" in group.columns:
            row["flagged"] = int(group["quality_flagged"].eq(True).sum())
        rows.append(row)
    return pd.DataFrame(rows)


class UnfairComparison(UserWarning):
    """The two sides of a comparison were not measured the same way."""


#: What must be the same on both sides of a comparison for its differences to be fair.
POLICY_COLUMNS = ("start_policy", "http_version", "client_library", "connection")


def _policies(rows: pd.DataFrame) -> dict[str, set]:
    return {c: set(rows[c].dropna().astype(str)) for c in POLICY_COLUMNS if c in rows.columns}


def _values(rows: pd.DataFrame, column: str) -> np.ndarray:
    """``column`` of the successful rows that have it, as floats."""
    picked = rows.loc[rows["ok"].astype(bool), column]
    return pd.to_numeric(picked, errors="coerce").dropna().to_numpy(float)


def compare(
    a: pd.DataFrame,
    b: pd.DataFrame,
    by: str | Sequence[str] | None = None,
    *,
    column: str = "first_audio_s",
    percentiles: Sequence[float] = (50, 95),
    confidence: float = 0.95,
    n_boot: int = 2000,
    include_warmup: bool = False,
    seed: int = 0,
) -> pd.DataFrame:
    """How ``b`` differs from ``a``: percentile differences with bootstrap intervals.

    Each group (of ``by``, present in both frames) gets, per percentile ``q``: ``a_p<q>``,
    ``b_p<q>``, ``diff_p<q>`` (b minus a, seconds) with ``diff_p<q>_lo``/``_hi``, and
    ``ratio_p<q>`` (b over a). An interval that excludes 0 says the difference is more
    than resampling noise; ``b_faster_p<q>`` is True, False, or NA when it cannot tell.

    ``column`` is any numeric column of the rows: a latency, or a quality column of a run
    scored with ``quality`` (``"wer"``, ``"mos_ovrl"``, ...), for which the last column is
    ``b_lower_p<q>`` (lower is better for ``wer``, worse for ``mos_*``).

    Warns :class:`UnfairComparison` when a group's two sides differ in how their latency was
    measured (:data:`POLICY_COLUMNS`: the start-time policy, connect included or not; the
    HTTP version; the client library; warm or cold connections).

    Examples
    --------
    >>> import ttskit.bench as bench  # doctest: +SKIP
    >>> bench.compare(df[df.voice == "a"], df[df.voice == "b"], by="transport")  # doctest: +SKIP
    """
    rng = np.random.default_rng(seed)
    tail = (1 - confidence) / 2 * 100
    keys = [] if by is None else ([by] if isinstance(by, str) else list(by))
    for side, frame in (("a", a), ("b", b)):
        if column not in frame.columns:
            raise InvalidArgument(f"frame {side} has no column {column!r} to compare")
    better = "lower" if column in QUALITY_COLUMNS else "faster"
    groups_b = dict(_groups(_measured(b, include_warmup), by))
    rows = []
    for key, rows_a in _groups(_measured(a, include_warmup), by):
        if key not in groups_b:
            continue
        rows_b = groups_b[key]
        values_a, values_b = _values(rows_a, column), _values(rows_b, column)
        row: dict = dict(zip(keys, key, strict=True))
        policy_a, policy_b = _policies(rows_a), _policies(rows_b)
        differ = [c for c in policy_a if c in policy_b and policy_a[c] != policy_b[c]]
        if differ and better == "faster":  # how a request was timed says nothing of its audio
            warnings.warn(
                f"the two sides{' of ' + repr(key) if keys else ''} were measured differently: "
                + "; ".join(
                    f"{c} {sorted(policy_a[c])} against {sorted(policy_b[c])}" for c in differ
                ),
                UnfairComparison,
                stacklevel=2,
            )
        row["n_a"], row["n_b"] = values_a.size, values_b.size
        for q in percentiles:
            name = f"p{q:g}"
            if not (values_a.size and values_b.size):
                row.update({f"a_{name}": np.nan, f"b_{name}": np.nan, f"diff_{name}": np.nan})
                row.update({f"diff_{name}_lo": np.nan, f"diff_{name}_hi": np.nan})
                row.update({f"ratio_{name}": np.nan, f"b_{better}_{name}": pd.NA})
                continue
            pa_, pb_ = np.percentile(values_a, q), np.percentile(values_b, q)
            boot = (
                _bootstrap(values_b, [q], n_boot, rng)[:, 0]
                - _bootstrap(values_a, [q], n_boot, rng)[:, 0]
            )
            low, high = np.percentile(boot, [tail, 100 - tail])
            row[f"a_{name}"], row[f"b_{name}"], row[f"diff_{name}"] = pa_, pb_, pb_ - pa_
            row[f"diff_{name}_lo"], row[f"diff_{name}_hi"] = low, high
            row[f"ratio_{name}"] = pb_ / pa_ if pa_ else np.nan
            row[f"b_{better}_{name}"] = True if high < 0 else (False if low > 0 else pd.NA)
        rows.append(row)
    return pd.DataFrame(rows)


def knee(
    df: pd.DataFrame,
    *,
    objective: Objective | None = None,
    level: str | None = None,
    include_warmup: bool = False,
) -> float | None:
    """The highest concurrency (or rate) of a sweep up to which every level meets the objective.

    A level meets it when at least ``objective.min_share`` of its requests do. Returns None
    when even the lowest level misses.

    Parameters
    ----------
    level : {"concurrency", "rate"}, optional
        The swept column; ``"rate"`` when the frame has rates, else ``"concurrency"``.
    """
    objective = objective or Objective()
    rows = _measured(df, include_warmup)
    if level is None:
        level = "rate" if "rate" in rows.columns and rows["rate"].notna().any() else "concurrency"
    if level not in rows.columns:
        raise InvalidArgument(f"the frame has no column {level!r} to find a knee along")
    rows = rows[rows[level].notna()]
    shares = objective.met(rows).groupby(rows[level]).mean().sort_index()
    best = None
    for value, share in shares.items():
        if share < objective.min_share:
            break
        best = value
    return None if best is None else float(best)
