"""Figures of benchmark frames, one row per request as ``ttskit.bench.run`` returns them:
titled, axes from zero, warm-ups and failed requests left out (the title says how many)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InvalidArgument
from ._axes import axes, grouped, literal, require

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "bench_figures",
    "first_audio_box",
    "first_audio_ecdf",
    "latency_vs_length",
    "load_curve",
    "slowest_arrivals",
]


def _measured_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Requests that produced audio and are not warm-ups (what latency plots show)."""
    rows = df
    if "warmup" in rows.columns:
        rows = rows[~rows["warmup"].astype(bool)]
    if "ok" in rows.columns:
        rows = rows[rows["ok"].astype(bool)]
    return rows


def _title(ax: Axes, text: str, df: pd.DataFrame, shown: pd.DataFrame) -> None:
    """Title the plot, saying how many measured requests were left out as failed or silent."""
    measured = df[~df["warmup"].astype(bool)] if "warmup" in df.columns else df
    left_out = len(measured) - len(shown)
    ax.set_title(literal(text) + (f" ({left_out} failed or silent left out)" if left_out else ""))


def first_audio_ecdf(
    df: pd.DataFrame,
    *,
    by: str | None = "transport",
    column: str = "first_audio_s",
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Empirical CDF of first audio (or another latency column), one step line per group.

    Warm-up requests and requests that failed or were silent (columns ``warmup`` and
    ``ok``, when the frame has them) are left out, and the title says how many; the x axis
    starts at zero so that distances between groups read honestly.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per request, e.g. from :func:`ttskit.bench.run`.
    by : str, optional
        Column to group by (``"voice"``, ``"transport"``, ...); one line for all when None.
    column : str
        The latency in seconds.
    ax : matplotlib Axes, optional
    **kwargs
        Passed to each ``ax.step``.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> df = pd.DataFrame({"first_audio_s": [0.1, 0.2, 0.15, 0.3], "transport": list("aabb"),
    ...                    "ok": [True] * 4, "warmup": [False] * 4})
    >>> ax = first_audio_ecdf(df)
    >>> len(ax.lines), ax.get_title()
    (2, 'first_audio_s by transport')
    """
    require(df, column)
    shown = _measured_rows(df)
    ax = axes(ax)
    for label, rows in grouped(shown, by):
        values = np.sort(rows[column].dropna().to_numpy(float))
        if not values.size:
            continue
        fraction = np.arange(values.size + 1) / values.size
        ax.step(np.r_[values[0], values], fraction, where="post", label=label, **kwargs)
    ax.set_xlim(left=0.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel(literal(column))
    ax.set_ylabel("fraction of requests")
    if by is not None and ax.lines:
        ax.legend(title=literal(by), fontsize="small")
    _title(ax, f"{column}{'' if by is None else f' by {by}'}", df, shown)
    return ax


def first_audio_box(
    df: pd.DataFrame,
    *,
    by: str | None = "transport",
    column: str = "first_audio_s",
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Box plot of first audio (or another latency) per group, y axis from zero.

    Rows are chosen as in :func:`first_audio_ecdf`; one box for all when ``by`` is None.
    ``**kwargs`` go to ``ax.boxplot``.

    Examples
    --------
    >>> df = pd.DataFrame({"first_audio_s": [0.1, 0.2, 0.15, 0.3], "voice": list("aabb")})
    >>> ax = first_audio_box(df, by="voice")
    >>> [t.get_text() for t in ax.get_xticklabels()], float(ax.get_ylim()[0])
    (['a', 'b'], 0.0)
    """
    require(df, column)
    shown = _measured_rows(df)
    ax = axes(ax)
    groups = [(label, rows[column].dropna().to_numpy(float)) for label, rows in grouped(shown, by)]
    ax.boxplot([values for _, values in groups], **kwargs)
    ax.set_xticks(
        np.arange(1, len(groups) + 1),
        [literal(column) if label is None else label for label, _ in groups],
    )
    ax.set_ylim(bottom=0.0)
    ax.set_ylabel(literal(column))
    if by is not None:
        ax.set_xlabel(literal(by))
    _title(ax, f"{column}{'' if by is None else f' by {by}'}", df, shown)
    return ax


def latency_vs_length(
    df: pd.DataFrame,
    *,
    x: str = "characters",
    y: str = "first_audio_s",
    by: str | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Scatter a latency against the text's length, one colour per group, axes from zero.

    Rows are chosen as in :func:`first_audio_ecdf`. ``**kwargs`` go to each ``ax.scatter``.

    Examples
    --------
    >>> df = pd.DataFrame({"characters": [10, 100, 1000], "first_audio_s": [0.1, 0.12, 0.3]})
    >>> ax = latency_vs_length(df)
    >>> len(ax.collections), ax.get_title()
    (1, 'first_audio_s against characters')
    """
    require(df, x, y)
    shown = _measured_rows(df)
    ax = axes(ax)
    kwargs.setdefault("s", 12)
    for label, rows in grouped(shown, by):
        ax.scatter(rows[x], rows[y], label=label, **kwargs)
    ax.set_xlim(left=0.0)
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel(literal(x))
    ax.set_ylabel(literal(y))
    if by is not None and ax.collections:
        ax.legend(title=literal(by), fontsize="small")
    _title(ax, f"{y} against {x}", df, shown)
    return ax


def load_curve(
    df: pd.DataFrame,
    *,
    level: str | None = None,
    column: str = "first_audio_s",
    percentiles: Sequence[float] = (50, 90, 99),
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Percentiles of a latency (left axis) and throughput (right axis) against load.

    ``level`` is ``"concurrency"`` or ``"rate"`` (whichever the frame swept when None).
    Throughput is audio seconds delivered per wall second at each level: the audio of
    its successful requests over the span from the first scheduled start to the last
    finish (``scheduled_s + done_s``), what the server sustained. Both axes start at
    zero; the right axis is ``ax.right_axis``. ``**kwargs`` go to each percentile's
    ``ax.plot``.

    Examples
    --------
    >>> df = pd.DataFrame({"concurrency": [1, 1, 4, 4], "first_audio_s": [0.1, 0.2, 0.3, 0.5],
    ...                    "done_s": [0.5] * 4, "audio_s": [2.0] * 4,
    ...                    "scheduled_s": [0.0, 0.5, 1.0, 1.0]})
    >>> ax = load_curve(df)
    >>> [line.get_label() for line in ax.lines]
    ['p50', 'p90', 'p99']
    >>> ax.right_axis.lines[0].get_ydata().tolist()
    [4.0, 8.0]
    """
    if level is None:
        level = "rate" if "rate" in df.columns and df["rate"].notna().any() else "concurrency"
    require(df, level, column, "done_s", "audio_s", "scheduled_s")
    shown = _measured_rows(df)
    shown = shown[shown[level].notna()]
    ax = axes(ax)
    right = ax.twinx()
    kwargs.setdefault("marker", "o")
    if len(shown):
        by_level = shown.groupby(level, sort=True)
        quantiles = by_level[column].quantile([p / 100 for p in percentiles]).unstack()
        levels = quantiles.index.to_numpy(float)
        for p, q in zip(percentiles, quantiles.columns, strict=True):
            ax.plot(levels, quantiles[q].to_numpy(float), label=f"p{p:g}", **kwargs)
        span = (shown["scheduled_s"] + shown["done_s"]).groupby(shown[level]).max() - by_level[
            "scheduled_s"
        ].min()
        audio = by_level["audio_s"].sum()
        throughput = (audio / span.where(span > 0)).to_numpy(float)
        right.plot(levels, throughput, color="0.3", linestyle=":", marker="s", label="throughput")
        ax.legend(loc="upper left", fontsize="small")
        right.legend(loc="upper right", fontsize="small")
    ax.set_xlabel(literal(level))
    ax.set_ylabel(literal(column))
    right.set_ylabel("audio seconds per wall second")
    right.set_ylim(bottom=0.0)
    ax.set_ylim(bottom=0.0)
    ax.set_xlim(left=0.0)
    _title(ax, f"{column} percentiles and throughput against {level}", df, shown)
    ax.right_axis = right
    return ax


def slowest_arrivals(
    df: pd.DataFrame,
    *,
    n: int = 5,
    column: str = "done_s",
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Chunk arrival timelines of the ``n`` slowest requests (by ``column``).

    Each request is a step line of audio received (s) against wall time since its
    scheduled start, from the frame's ``chunk_arrival_s`` and ``chunk_samples``; a flat
    stretch is a wait for the next chunk. Both axes start at zero.

    Examples
    --------
    >>> df = pd.DataFrame({"done_s": [0.5, 1.0], "sample_rate": [10, 10],
    ...                    "chunk_arrival_s": [[0.1, 0.5], [0.2, 1.0]],
    ...                    "chunk_samples": [[5, 5], [5, 5]], "voice": ["a", "b"]})
    >>> len(slowest_arrivals(df, n=1).lines)
    1
    """
    require(df, column, "chunk_arrival_s", "chunk_samples", "sample_rate")
    if n < 1:
        raise InvalidArgument(f"n must be >= 1, got {n!r}")
    ax = axes(ax)
    rows = df
    if "warmup" in rows.columns:
        rows = rows[~rows["warmup"].astype(bool)]
    slowest = rows.dropna(subset=[column]).nlargest(n, column)
    kwargs.setdefault("marker", ".")
    for index, row in slowest.iterrows():
        arrivals = np.asarray(list(row["chunk_arrival_s"]), dtype=float)
        if not arrivals.size or not row["sample_rate"]:
            continue
        received = np.cumsum(np.asarray(list(row["chunk_samples"]), float)) / row["sample_rate"]
        parts = [str(row[c]) for c in ("transport", "voice", "text_id") if c in row.index]
        label = literal(f"#{index} {' '.join(parts)} ({row[column] * 1000:.0f} ms)")
        ax.step(np.r_[0.0, arrivals], np.r_[0.0, received], where="post", label=label, **kwargs)
    ax.set_xlim(left=0.0)
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("wall time since scheduled start (s)")
    ax.set_ylabel("audio received (s)")
    ax.set_title(literal(f"chunk arrivals of the {len(slowest)} slowest requests by {column}"))
    if ax.lines:
        ax.legend(loc="upper left", fontsize="small")
    return ax


def bench_figures(df: pd.DataFrame, *, by: str = "transport") -> list[bytes]:
    """The figures of a benchmark report, as PNG images.

    First audio as ECDF and box plot and against text length (when any request
    succeeded), the load curve (when the run swept concurrency or rate), and the chunk
    arrivals of the slowest requests (when chunks were recorded). Each is drawn on a
    figure of its own, outside pyplot, so that writing a report never touches the
    notebook's current figure or backend.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows of ``ttskit.bench.run``.
    by : str
        The column whose groups the plots compare.

    Returns
    -------
    list of bytes
    """
    from matplotlib.figure import Figure

    def png(figure: Figure) -> bytes:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()

    def wide(columns: int = 1) -> tuple[Figure, Any]:
        figure = Figure(figsize=(12, 4), layout="constrained")
        return figure, figure.subplots(1, columns)

    images = []
    measured = _measured_rows(df)
    if len(measured):
        figure, axes = wide(2)
        first_audio_ecdf(df, by=by, ax=axes[0])
        first_audio_box(df, by=by, ax=axes[1])
        images.append(png(figure))
        figure, ax = wide()
        latency_vs_length(df, by=by, ax=ax)
        images.append(png(figure))
    swept = df[~df["warmup"].astype(bool)] if "warmup" in df.columns else df
    level = "rate" if swept["rate"].notna().any() else "concurrency"
    if swept[level].nunique() > 1:
        figure, ax = wide()
        load_curve(df, level=level, ax=ax)
        images.append(png(figure))
    if swept["chunks"].gt(0).any():
        figure, ax = wide()
        slowest_arrivals(df, n=5, ax=ax)
        images.append(png(figure))
    return images
