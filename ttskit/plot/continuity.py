"""Continuity of benchmark rows: how much a player would have starved, per group."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ._axes import axes, require

__all__ = ["continuity"]


def continuity(
    df: pd.DataFrame, by: str = "transport", *, ax: Axes | None = None, **kwargs: Any
) -> Axes:
    """Empirical CDF of each request's total underrun (``underrun_total_s``), per group.

    Each curve starts at the share of requests with no underrun at the run's prebuffer;
    warm-ups and failed requests are left out.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows of ``ttskit.bench.run``.
    by : str
        The column whose values get a curve each.
    ax : matplotlib.axes.Axes, optional
    **kwargs
        Passed to ``Axes.step``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    require(df, "underrun_total_s", "ok", by)
    ax = axes(ax)
    rows = df[df["ok"].astype(bool)]
    if "warmup" in rows.columns:
        rows = rows[~rows["warmup"].astype(bool)]
    for key, group in rows.groupby(by, sort=True):
        values = np.sort(group["underrun_total_s"].to_numpy(float))
        shares = np.arange(1, values.size + 1) / values.size
        smooth = float((values == 0).mean())
        ax.step(
            np.r_[0.0, values],
            np.r_[smooth, shares],
            where="post",
            label=f"{key} ({smooth:.0%} without underrun)",
            **kwargs,
        )
    prebuffer = df["prebuffer_s"].dropna().iloc[0] if "prebuffer_s" in df and len(df) else None
    ax.set_xlabel("underrun per request (s)")
    ax.set_ylabel("share of requests")
    ax.set_xlim(left=0)
    ax.set_ylim(0, 1.02)
    title = "Continuity"
    if prebuffer is not None:
        title += f" at a {prebuffer * 1000:g} ms prebuffer"
    ax.set_title(title)
    ax.legend(loc="lower right")
    return ax
