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
    "column_panels",
    "figure_png",
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


def _facets(df: pd.DataFrame, facet: str | None) -> list[tuple[Any, pd.DataFrame]]:
    if facet is None or facet not in df.columns or df[facet].nunique() < 2:
        return [(None, df)]
    return [(value, rows) for value, rows in df.groupby(facet, sort=True)]


def _panels(
    count: int, *, height: float = 3.6, sharey: bool = False, columns: int | None = None
) -> tuple[Any, list[Axes]]:
    from matplotlib.figure import Figure

    columns = columns or min(count, 3)
    lines = -(-count // columns)
    figure = Figure(figsize=(12, height * lines), layout="constrained")
    grid = figure.subplots(lines, columns, squeeze=False, sharey=sharey)
    panels = list(grid.ravel())
    for spare in panels[count:]:
        spare.set_visible(False)
    return figure, panels[:count]


def _panel_title(ax: Axes, facet: str | None, value: Any, text: str) -> None:
    ax.set_title(text if facet is None else f"{facet} {value}: {text}", fontsize="medium")


def _ecdf_panels(df: pd.DataFrame, *, facet: str | None, by: str, level: str) -> Any:
    """First audio ECDF, a panel per ``facet`` value, a line per ``by``, at the lowest load."""
    shown = _measured_rows(df)
    note = ""
    if level in shown.columns and shown[level].nunique() > 1:
        lowest = shown[level].min()
        shown = shown[shown[level] == lowest]
        note = f" at {level} {lowest:g}"
    facets = _facets(shown, facet)
    figure, panels = _panels(len(facets))
    for ax, (value, rows) in zip(panels, facets, strict=True):
        for label, group in grouped(rows, by):
            values = np.sort(group["first_audio_s"].dropna().to_numpy(float)) * 1000
            if values.size:
                fraction = np.arange(values.size + 1) / values.size
                ax.step(np.r_[values[0], values], fraction, where="post", label=f"{label}")
        ax.set_xlim(left=0.0)
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel("first audio (ms)")
        ax.set_ylabel("fraction of requests")
        if ax.lines:
            ax.legend(title=by, fontsize="small")
        _panel_title(ax, facet, value, f"first audio by {by}{note}")
    return figure


def _load_panels(df: pd.DataFrame, *, facet: str | None, by: str, level: str) -> Any:
    """Median first audio and throughput against load: a panel per ``facet`` value each."""
    shown = _measured_rows(df)
    shown = shown[shown[level].notna()]
    facets = _facets(shown, facet)
    # Latency on the first line of panels, throughput on the second, a column per facet.
    figure, panels = _panels(2 * len(facets), columns=len(facets))
    latency_axes, throughput_axes = panels[: len(facets)], panels[len(facets) :]
    for ax, right, (value, rows) in zip(latency_axes, throughput_axes, facets, strict=True):
        for label, group in grouped(rows, by):
            per_level = group.groupby(level, sort=True)
            median = per_level["first_audio_s"].median() * 1000
            ends = (group["scheduled_s"] + group["done_s"]).groupby(group[level]).max()
            span = ends - per_level["scheduled_s"].min()
            throughput = per_level["audio_s"].sum() / span.where(span > 0)
            ax.plot(median.index, median.to_numpy(float), marker="o", label=f"{label}")
            right.plot(throughput.index, throughput.to_numpy(float), marker="s", label=f"{label}")
        ax.set_xlabel(level)
        ax.set_ylabel("median first audio (ms)")
        _panel_title(ax, facet, value, f"median first audio against {level}")
        right.set_xlabel(level)
        right.set_ylabel("throughput (audio s per wall s)")
        _panel_title(right, facet, value, f"throughput against {level}")
        for a in (ax, right):
            a.set_xlim(left=0.0)
            _fit(a)
            if a.lines:
                a.legend(title=by, fontsize="small")
    return figure


def _fit(ax: Axes) -> None:
    """From zero to a little above the highest point drawn, so that nothing is cut off."""
    tops = [np.nanmax(line.get_ydata(), initial=0.0) for line in ax.lines if len(line.get_ydata())]
    top = float(np.nanmax(tops, initial=0.0)) if tops else 0.0
    ax.set_ylim(0.0, top * 1.15 if top > 0 else 1.0)


def _length_panels(df: pd.DataFrame, *, facet: str | None, by: str) -> Any:
    """First audio against text length, a panel per ``facet`` value, a colour per ``by``."""
    shown = _measured_rows(df)
    facets = _facets(shown, facet)
    figure, panels = _panels(len(facets))
    for ax, (value, rows) in zip(panels, facets, strict=True):
        for label, group in grouped(rows, by):
            ax.scatter(group["characters"], group["first_audio_s"] * 1000, s=12, label=f"{label}")
        ax.set_xlim(left=0.0)
        ax.set_ylim(bottom=0.0)
        ax.set_xlabel("text length (characters)")
        ax.set_ylabel("first audio (ms)")
        if ax.collections:
            ax.legend(title=by, fontsize="small")
        _panel_title(ax, facet, value, "first audio against text length")
    return figure


def column_panels(
    df: pd.DataFrame,
    columns: Sequence[tuple[str, str, float]],
    *,
    facet: str | None,
    by: str,
) -> Any:
    """Box plots of per-request columns (quality, continuity), one panel per column.

    Each of ``columns`` is ``(column, axis label, scale)``; a panel has one box per
    ``facet`` and ``by`` pair, so that each box compares one thing. Returns the Figure.
    """
    shown = df[~df["warmup"].astype(bool)] if "warmup" in df.columns else df
    present = [(c, label, scale) for c, label, scale in columns if c in shown.columns]
    figure, panels = _panels(max(len(present), 1), sharey=False)
    keys = [k for k in (facet, by) if k is not None and k in shown.columns]
    for ax, (column, label, scale) in zip(panels, present, strict=False):
        groups = list(shown.groupby(keys, sort=True)) if keys else [((), shown)]
        values = [rows[column].dropna().to_numpy(float) * scale for _, rows in groups]
        names = [
            "\n".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
            for key, _ in groups
        ]
        ax.boxplot(values)
        ax.set_xticks(np.arange(1, len(groups) + 1), names, fontsize="small")
        top = max((float(v.max()) for v in values if v.size), default=0.0)
        if column.startswith("mos_"):
            ax.set_ylim(1.0, 5.0)  # the scale's own range
        else:
            ax.set_ylim(0.0, top * 1.12 or 1.0)
        ax.set_ylabel(label)
        ax.set_title(f"{label} by {' and '.join(keys) or 'run'}", fontsize="medium")
    return figure


def bench_figures(
    df: pd.DataFrame, *, by: str = "transport", facet: str | None = "model"
) -> list[bytes]:
    """The figures of a benchmark report, as PNG images, in milliseconds.

    First audio as ECDF at the lowest load level and against text length (when any
    request succeeded), the median and throughput against load (when the run swept
    concurrency or rate), and the chunk arrivals of the slowest requests (when chunks were
    recorded). Each figure has a panel per ``facet`` value (each model) with a line per
    ``by`` value (each transport), so that a panel compares one thing. Drawn outside
    pyplot, so that writing a report never touches the notebook's current figure.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows of ``ttskit.bench.run``.
    by : str
        The column whose groups a panel compares.
    facet : str, optional
        The column with a panel per value; one panel when None or when it does not vary.

    Returns
    -------
    list of bytes
    """
    if facet == by:
        facet = None
    images = []
    measured = _measured_rows(df)
    swept = df[~df["warmup"].astype(bool)] if "warmup" in df.columns else df
    level = "rate" if swept["rate"].notna().any() else "concurrency"
    if len(measured):
        images.append(figure_png(_ecdf_panels(df, facet=facet, by=by, level=level)))
        images.append(figure_png(_length_panels(df, facet=facet, by=by)))
    if swept[level].nunique() > 1:
        images.append(figure_png(_load_panels(df, facet=facet, by=by, level=level)))
    if swept["chunks"].gt(0).any():
        figure, ax = _panels(1, height=4)
        slowest_arrivals(df, n=5, ax=ax[0])
        images.append(figure_png(figure))
    return images


def figure_png(figure: Any) -> bytes:
    """A Figure as PNG bytes at 100 dpi."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
