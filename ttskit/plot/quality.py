"""Figures of quality beside latency: bench rows (or dataset items) with quality columns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InvalidArgument
from ._axes import axes, grouped, require

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["quality_box", "quality_vs_latency"]

#: Whether more is better, per quality column (the Pareto front and the axis label use it).
HIGHER_IS_BETTER = {"wer": False, "cer": False}


def _by(df: pd.DataFrame, by: str | None) -> tuple[pd.DataFrame, str]:
    """Rows that were measured, and the column naming each group (``target`` or model/voice)."""
    rows = df
    if "warmup" in rows:
        rows = rows[~rows["warmup"].astype(bool)]
    if "ok" in rows:
        rows = rows[rows["ok"].astype(bool)]
    if by is not None:
        return rows, by
    if "target" in rows:
        return rows, "target"
    if {"model", "voice"} <= set(rows.columns):
        return rows.assign(
            _group=rows["model"].astype(str) + " / " + rows["voice"].astype(str)
        ), "_group"
    if "voice" in rows:
        return rows, "voice"
    raise InvalidArgument(
        f"the frame has neither 'target' nor 'model' and 'voice'; pass by=, one of {list(df.columns)}"
    )


def _interval(
    values: np.ndarray, statistic: Any, rng: np.random.Generator
) -> tuple[float, float, float]:
    """The statistic and its 95% bootstrap interval (1,000 resamples)."""
    if len(values) == 0:
        return (np.nan, np.nan, np.nan)
    point = float(statistic(values))
    if len(values) == 1:
        return point, point, point
    samples = rng.choice(values, size=(1000, len(values)), replace=True)
    spread = statistic(samples, axis=1)
    return point, float(np.percentile(spread, 2.5)), float(np.percentile(spread, 97.5))


def quality_vs_latency(
    df: pd.DataFrame,
    *,
    quality: str = "wer",
    latency: str = "first_audio_s",
    by: str | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Each target a point: median latency against mean quality, with 95% intervals.

    The Pareto front (no other target both faster and better) is drawn as a line; a
    target off it is beaten on both at once.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows with ``latency``, ``quality`` and ``target`` (or ``model`` and ``voice``).
    quality : str
        ``"wer"`` (lower is better), ``"mos_ovrl"`` (higher is better), or another column.
    by : str, optional
        The column naming each point.
    **kwargs
        To ``ax.errorbar``.

    Examples
    --------
    >>> df = pd.DataFrame({"target": list("aabb"), "first_audio_s": [0.1, 0.2, 0.3, 0.4],
    ...                    "wer": [0.2, 0.1, 0.0, 0.0]})
    >>> ax = quality_vs_latency(df)
    >>> [t.get_text() for t in ax.texts]
    ['a', 'b']
    """
    require(df, latency, quality)
    rows, by = _by(df, by)
    ax = axes(ax)
    rng = np.random.default_rng(0)
    points = []
    for label, group in grouped(rows, by):
        speed = _interval(group[latency].dropna().to_numpy(float), np.median, rng)
        score = _interval(group[quality].dropna().to_numpy(float), np.mean, rng)
        if np.isnan(speed[0]) or np.isnan(score[0]):
            continue
        points.append((label, speed, score))
        ax.errorbar(
            speed[0],
            score[0],
            xerr=[[speed[0] - speed[1]], [speed[2] - speed[0]]],
            yerr=[[score[0] - score[1]], [score[2] - score[0]]],
            fmt="o",
            capsize=3,
            **kwargs,
        )
        ax.annotate(label, (speed[0], score[0]), textcoords="offset points", xytext=(5, 5))
    higher = HIGHER_IS_BETTER.get(quality, not quality.startswith(("wer", "cer")))
    front, best = [], None
    for _label, speed, score in sorted(
        points, key=lambda p: (p[1][0], -p[2][0] if higher else p[2][0])
    ):
        if best is None or (score[0] > best if higher else score[0] < best):
            front.append((speed[0], score[0]))
            best = score[0]
    if len(front) > 1:
        xs, ys = zip(*front, strict=True)
        ax.plot(xs, ys, "--", color="grey", linewidth=1, label="Pareto front")
        ax.legend(loc="best")
    ax.set_xlim(left=0.0)
    ax.set_xlabel(f"{latency} (median, 95% interval)")
    ax.set_ylabel(f"{quality} (mean; {'higher' if higher else 'lower'} is better)")
    ax.set_title(f"{quality} against {latency}, {len(points)} targets")
    return ax


def quality_box(
    df: pd.DataFrame,
    *,
    column: str = "mos_ovrl",
    by: str | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Box plot of a quality column per target (or model / voice).

    ``**kwargs`` go to ``ax.boxplot``.

    Examples
    --------
    >>> df = pd.DataFrame({"voice": list("aabb"), "mos_ovrl": [3.1, 3.3, 2.5, 2.7]})
    >>> ax = quality_box(df, by="voice")
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['a', 'b']
    """
    require(df, column)
    rows, by = _by(df, by)
    ax = axes(ax)
    groups = [(label, g[column].dropna().to_numpy(float)) for label, g in grouped(rows, by)]
    ax.boxplot([values for _, values in groups], **kwargs)
    ax.set_xticks(np.arange(1, len(groups) + 1), [label for label, _ in groups])
    ax.set_ylabel(column)
    ax.set_title(f"{column} per {by.lstrip('_').replace('group', 'model / voice')}")
    return ax
