"""What every plot function shares: a new Axes when none is given, column checks, groups,
and texts drawn as they are."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import pandas as pd

from ..errors import InvalidArgument

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["axes", "grouped", "literal", "require"]


def literal(text: object) -> str:
    r"""``text`` as matplotlib draws it letter for letter, never as TeX.

    matplotlib reads a label with two ``$`` as mathtext (``"$x_{$"`` raises when drawn);
    with every ``$`` escaped it draws the text as it is, in a legend or a tick label made
    later too. Every label of data (a word, a voice, a column) goes through here.

    >>> literal("$42.50 or $x_{$")
    '\\$42.50 or \\$x_{\\$'
    """
    return str(text).replace("$", r"\$")


def axes(ax: Axes | None) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3), layout="constrained")
    return ax


def require(df: pd.DataFrame, *columns: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InvalidArgument(
            f"the frame has no column {', '.join(map(repr, missing))}; "
            f"it has {list(map(str, df.columns))}"
        )


def grouped(df: pd.DataFrame, by: str | None) -> Iterator[tuple[str | None, pd.DataFrame]]:
    """(label, rows) per value of ``by`` in sorted order, or (None, df) when ``by`` is None;
    labels as ``literal`` makes them."""
    if by is None:
        yield None, df
        return
    require(df, by)
    for key, rows in df.groupby(by, sort=True, dropna=False):
        yield literal(key), rows
