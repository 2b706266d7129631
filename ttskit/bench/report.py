"""A self-contained HTML page of a run: its metadata, summary tables and plots inline."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

from ..errors import InvalidArgument
from .stats import summary

__all__ = ["report", "sections"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; font-size: 13px; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f3f3f3; }
img { max-width: 100%; display: block; margin: 1em 0; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 12px; }
"""


def _figures(df: pd.DataFrame, group: str) -> list[str]:
    from .. import plot

    images = []
    for png in plot.bench_figures(df, by=group):
        data = base64.b64encode(png).decode("ascii")
        images.append(f'<img alt="plot" src="data:image/png;base64,{data}">')
    return images


def report(df: pd.DataFrame | str | Path, path: str | Path | None = None) -> str:
    """Write (or return) a self-contained HTML page of a run: metadata, tables and plots.

    Parameters
    ----------
    df : DataFrame or path
        Rows of :func:`ttskit.bench.run`, or a Parquet file written by ``save``.
    path : str or Path, optional
        Where to write the page; only returned when None.

    Returns
    -------
    str
        The HTML; images are inline PNGs, so the page needs no other file.
    """
    if not isinstance(df, pd.DataFrame):
        from .store import load

        df = load(df)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>ttskit bench report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>ttskit bench report</h1>",
        *sections(df),
        "</body></html>",
    ]
    page = "\n".join(parts)
    if path is not None:
        Path(path).write_text(page, encoding="utf-8")
    return page


def sections(df: pd.DataFrame, *, level: int = 2, by: str | None = None) -> list[str]:
    """The report's body as HTML fragments: summary, plots, intervals, errors, the run.

    Parameters
    ----------
    df : DataFrame
        Rows of :func:`ttskit.bench.run`.
    level : int
        HTML heading level of the sections, so that another page can nest them.
    by : str, optional
        The column whose groups the plots compare; the last one that varies when None.

    Returns
    -------
    list of str
    """
    if "ok" not in df.columns:
        raise InvalidArgument("report needs the frame of ttskit.bench.run (no 'ok' column)")
    metadata = df.attrs.get("bench", {})
    sweep = "rate" if df["rate"].notna().any() else "concurrency"
    candidates = ("target", "model", "voice", "transport")
    groups = [c for c in candidates if df[c].nunique() > 1] or ["transport"]
    table = summary(df, by=[*groups, sweep], percentiles=(50, 90, 95, 99))
    compact = [c for c in table.columns if not c.endswith(("_lo", "_hi"))]
    errors = df[df["error"].notna()].groupby(["error", "status"], dropna=False).size()
    h = f"h{level}"
    return [
        f"<p>{len(df)} requests ({int(df['warmup'].sum())} warm-up), "
        f"{int((~df['ok'].astype(bool)).sum())} failed or silent. Latencies count from each "
        "request's scheduled start; percentiles are over successful requests, goodput over "
        "all (first audio within the objective and no stall at a 100 ms buffer).</p>",
        f"<{h}>Summary</{h}>",
        table[compact].to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-"),
        f"<{h}>Plots</{h}>",
        *_figures(df, by or groups[-1]),
        f"<{h}>Confidence intervals</{h}>",
        table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-"),
        f"<{h}>Errors</{h}>",
        errors.rename("requests").to_frame().to_html() if len(errors) else "<p>None.</p>",
        f"<{h}>Run</{h}>",
        f"<pre>{html.escape(json.dumps(metadata, indent=2, default=str))}</pre>",
    ]
