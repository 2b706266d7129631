"""A self-contained HTML page of a run: findings first, then tables, plots and the run."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from ..errors import InvalidArgument
from .stats import summary
from .tables import findings, frame_html, html_table, metadata_html

__all__ = ["STYLE", "report", "sections"]

#: The report's stylesheet; the demo's page uses it too.
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222;
       padding: 0 1em; }
table { border-collapse: collapse; font-size: 13px; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 7px; }
th { background: #f3f3f3; text-align: center; font-weight: 600; }
td { text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.table-wrap { max-width: 100%; overflow-x: auto; }
details { margin: 0.5em 0 1em; } summary { cursor: pointer; color: #345; }
img { max-width: 100%; display: block; margin: 1em 0; }
ul.findings li { margin: 0.3em 0; }
.run dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 1em; margin: 0; }
.run dt { font-weight: 600; } .run dd { margin: 0; overflow-wrap: anywhere; }
.run dd dl { font-size: 13px; }
.note { color: #555; }
"""

#: Per-request quality columns a report shows when the rows have them: (column, label, scale).
QUALITY_COLUMNS = (
    ("wer", "word error rate (%)", 100.0),
    ("cer", "character error rate (%)", 100.0),
    ("mos_ovrl", "DNSMOS overall (1 to 5)", 1.0),
    ("mos_sig", "DNSMOS signal (1 to 5)", 1.0),
    ("mos_bak", "DNSMOS background (1 to 5)", 1.0),
)

#: Per-request continuity columns: a player's underruns at the run's prebuffer.
CONTINUITY_COLUMNS = (
    ("underrun_count", "underruns per request", 1.0),
    ("underrun_total_s", "time in underrun (ms)", 1000.0),
)


def _image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _figures(df: pd.DataFrame, by: str, facet: str | None) -> list[str]:
    from .. import plot

    return [_image(png, "benchmark plot") for png in plot.bench_figures(df, by=by, facet=facet)]


def _per_request(
    df: pd.DataFrame, columns, keys: list[str], *, by: str, facet: str | None
) -> list[str]:
    """A table of medians (and, for counts, shares) per group, and its faceted box plots."""
    from ..plot.bench import column_panels, figure_png

    present = [(c, label, scale) for c, label, scale in columns if c in df.columns]
    if not present:
        return []
    rows = df[~df["warmup"].astype(bool)] if "warmup" in df.columns else df
    grouped = rows.groupby(keys, sort=True, dropna=False) if keys else [((), rows)]
    records = []
    for key, group in grouped:
        record = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        record["scored requests"] = int(group[present[0][0]].notna().sum())
        for column, label, scale in present:
            values = group[column].dropna() * scale
            record[f"median {label}"] = round(float(values.median()), 2) if len(values) else None
            if column == "underrun_count":
                share = (group[column].dropna() > 0).mean() * 100 if len(values) else None
                record["requests with an underrun (%)"] = None if share is None else round(share)
        records.append(record)
    table = pd.DataFrame(records)
    figure = column_panels(rows, present, facet=facet, by=by)
    return [frame_html(table, "summary"), _image(figure_png(figure), present[0][1])]


def _continuity(df: pd.DataFrame, keys: list[str], *, by: str, facet: str | None) -> list[str]:
    """The continuity table and plots, or one sentence when no request underran: a table
    of zeros and empty plots would say the same thing at length."""
    if "underrun_count" not in df.columns:
        return []
    rows = df[~df["warmup"].astype(bool)] if "warmup" in df.columns else df
    counts = rows["underrun_count"].dropna()
    if len(counts) and not (counts > 0).any():
        buffers = rows["prebuffer_s"].dropna().unique() if "prebuffer_s" in rows else []
        at = f" with a {buffers[0] * 1000:g} ms buffer" if len(buffers) == 1 else ""
        return [
            f"<p>No request underran: a player that started{at} would have played every "
            f"one of the {len(counts)} requests through without a gap.</p>"
        ]
    return _per_request(df, CONTINUITY_COLUMNS, keys, by=by, facet=facet)


def report(df: pd.DataFrame | str | Path, path: str | Path | None = None) -> str:
    """Write (or return) a self-contained HTML page of a run: findings, tables, plots, the run.

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
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>ttskit bench report</title><style>{STYLE}</style></head><body>",
        "<h1>ttskit bench report</h1>",
        *sections(df),
        "</body></html>",
    ]
    page = "\n".join(parts)
    if path is not None:
        Path(path).write_text(page, encoding="utf-8")
    return page


def sections(
    df: pd.DataFrame,
    *,
    level: int = 2,
    by: str | None = None,
    facet: str | None = None,
    run: bool = True,
) -> list[str]:
    """The report's body as HTML fragments: findings, summary, plots, quality, continuity,
    errors, and the run's metadata last.

    Parameters
    ----------
    df : DataFrame
        Rows of :func:`ttskit.bench.run`.
    level : int
        HTML heading level of the sections, so that another page can nest them.
    by : str, optional
        The column a plot's lines compare: ``"transport"`` when it varies, else the last of
        target, model, voice that does.
    facet : str, optional
        The column with a panel per value: the first of model, voice, target that varies
        (and is not ``by``) when None.
    run : bool
        End with the run's metadata; a page that shows it elsewhere passes False.

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
    if by is None:
        by = "transport" if "transport" in groups else groups[-1]
    if facet is None:
        facet = next((c for c in ("model", "voice", "target") if c in groups and c != by), None)
    table = summary(df, by=[*groups, sweep], percentiles=(50, 90, 95, 99))
    errors = df[df["error"].notna()].groupby(["error", "status"], dropna=False).size()
    h = f"h{level}"
    said = "".join(f"<li>{html.escape(sentence)}</li>" for sentence in findings(df))
    keys = [*groups, sweep] if df[sweep].nunique() > 1 else groups
    out = [
        f"<{h}>Findings</{h}>",
        f"<ul class='findings'>{said}</ul>",
        f"<p class='note'>{len(df)} requests ({int(df['warmup'].sum())} warm-up), "
        f"{int((~df['ok'].astype(bool)).sum())} failed or silent. Latencies count from each "
        "request's scheduled start; percentiles are over successful requests and shown only "
        "where a group has enough of them (10 for a p90, 20 for a p95, 100 for a p99); "
        "goodput is over all requests (first audio within 300 ms and no stall at a 100 ms "
        "buffer). Intervals are 95% bootstrap intervals.</p>",
        f"<{h}>Summary</{h}>",
        html_table(table),
        f"<{h}>Plots</{h}>",
        *_figures(df, by, facet),
    ]
    # What was said does not depend on the load; whether it played through does.
    quality = _per_request(df, QUALITY_COLUMNS, groups, by=by, facet=facet)
    if quality:
        out += [f"<{h}>Quality</{h}>", *quality]
    continuity = _continuity(df, keys, by=by, facet=facet)
    if continuity:
        out += [f"<{h}>Continuity</{h}>", *continuity]
    out += [
        f"<{h}>Errors</{h}>",
        frame_html(errors.rename("requests").reset_index(), "summary")
        if len(errors)
        else "<p>None.</p>",
    ]
    if run:
        out += [f"<{h}>Run</{h}>", metadata_html(metadata)]
    return out
