"""Benchmark results as a person reads them: findings in words, tables in milliseconds.

:func:`readable` turns the frame of :func:`ttskit.bench.summary` into plain headers with
units, milliseconds and percent, and blanks each percentile a group has too few requests
for; :func:`text_table`, :func:`html_table` and :func:`styled` show that one frame in a
terminal, a page and a notebook. :func:`findings` says what a run found, from
:func:`ttskit.bench.compare`, and what it cannot tell.
"""

from __future__ import annotations

import html
import math
import re
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InvalidArgument
from .stats import UnfairComparison, compare

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

__all__ = [
    "cell_class",
    "cell_text",
    "findings",
    "frame_html",
    "html_table",
    "metadata_html",
    "min_requests",
    "readable",
    "styled",
    "text_table",
]

#: What each latency column of the summary is called in a header.
_LATENCIES = {"first_audio": "first audio", "done": "done"}
#: Quality medians a readable table shows: column -> (label, scale, unit).
_QUALITY = {
    "wer": ("WER", 100.0, "%"),
    "cer": ("CER", 100.0, "%"),
    "mos_ovrl": ("DNSMOS overall", 1.0, "1-5"),
    "mos_p808": ("DNSMOS P.808", 1.0, "1-5"),
    "speech_onset_s": ("speech onset", 1000.0, "ms"),
}

#: Group columns, in the order a table shows them.
_KEYS = ("target", "model", "voice", "transport", "concurrency", "rate")


def min_requests(percentile: float) -> int:
    """Fewest requests for which a percentile is more than the largest (or smallest) value.

    The ``q``-th percentile is only told apart from the maximum when at least one request
    lies beyond it: ``ceil(1 / (1 - q/100))`` requests (2 for a median, 10 for a p90,
    20 for a p95, 100 for a p99).

    Examples
    --------
    >>> [min_requests(q) for q in (50, 90, 95, 99)]
    [2, 10, 20, 100]
    """
    if not 0 <= percentile < 100:
        raise InvalidArgument(f"percentile must be within [0, 100), got {percentile!r}")
    return max(1, math.ceil(1 / (1 - percentile / 100) - 1e-9))


def _percentiles(table: pd.DataFrame, name: str) -> list[str]:
    """The percentile suffixes (``"50"``, ``"90"``) the summary holds for a latency."""
    found = []
    for column in table.columns:
        if column.startswith(f"{name}_p") and not column.endswith(("_lo", "_hi")):
            found.append(column.removeprefix(f"{name}_p"))
    return found


def readable(table: pd.DataFrame) -> pd.DataFrame:
    """A summary with plain headers, milliseconds and percent; intervals as their own columns.

    Parameters
    ----------
    table : pandas.DataFrame
        The frame of :func:`ttskit.bench.summary`.

    Returns
    -------
    pandas.DataFrame
        Group columns first, then ``requests``, ``failed``, each latency percentile in ms
        (``"first audio p50 (ms)"``) with its interval (``"... 95% low (ms)"``, ``"... high"``),
        ``"throughput (audio s/s)"``, ``"requests/s"`` and ``"goodput (%)"``. A percentile
        is NaN in a group with fewer than :func:`min_requests` requests, and dropped when
        no group has that many. ``attrs["key"]`` names the columns a reader needs first.

    Examples
    --------
    >>> table = pd.DataFrame({"transport": ["rest"], "requests": [4], "errors": [0],
    ...                       "silent": [0], "first_audio_p50": [0.0412],
    ...                       "first_audio_p50_lo": [0.03], "first_audio_p50_hi": [0.05],
    ...                       "first_audio_p99": [0.09], "first_audio_p99_lo": [0.08],
    ...                       "first_audio_p99_hi": [0.1]})
    >>> readable(table).columns.tolist()[2:4]
    ['failed', 'first audio p50 (ms)']
    >>> "first audio p99 (ms)" in readable(table).columns  # four requests: no p99
    False
    >>> float(readable(table).iloc[0]["first audio p50 (ms)"])
    41.2
    """
    out = pd.DataFrame(index=table.index)
    keys = [c for c in _KEYS if c in table.columns and table[c].notna().any()]
    for key in keys:
        out[key] = table[key]
    out["requests"] = table["requests"]
    failed = table.get("errors", 0) + table.get("silent", 0)
    out["failed"] = failed
    key_columns = [*keys, "requests", "failed"]
    requests = table["requests"].to_numpy(float)
    for name, label in _LATENCIES.items():
        for q in _percentiles(table, name):
            enough = requests - failed.to_numpy(float) >= min_requests(float(q))
            if not enough.any():
                continue
            base = f"{label} p{q}"
            for suffix, header in (("", ""), ("_lo", " low"), ("_hi", " high")):
                column = f"{name}_p{q}{suffix}"
                if column in table.columns:
                    values = (table[column].to_numpy(float) * 1000).round(1)
                    out[f"{base}{header} (ms)"] = np.where(enough, values, np.nan)
            if q in ("50", "90", "95", "99"):
                key_columns.append(f"{base} (ms)")
    if "throughput" in table.columns:
        out["throughput (audio s/s)"] = table["throughput"].round(2)
        key_columns.append("throughput (audio s/s)")
    if "requests_per_s" in table.columns:
        out["requests/s"] = table["requests_per_s"].round(2)
    if "goodput" in table.columns:
        out["goodput (%)"] = (table["goodput"] * 100).round(0)
        key_columns.append("goodput (%)")
        for suffix, header in (("_lo", "low"), ("_hi", "high")):
            if f"goodput{suffix}" in table.columns:
                out[f"goodput {header} (%)"] = (table[f"goodput{suffix}"] * 100).round(0)
    for column, (label, scale, unit) in _QUALITY.items():
        if f"{column}_median" not in table.columns:
            continue
        for suffix, header in (("", ""), ("_lo", " low"), ("_hi", " high")):
            values = table[f"{column}_median{suffix}"].to_numpy(float) * scale
            out[f"{label} median{header} ({unit})"] = values.round(1 if scale > 1 else 2)
        if column in ("wer", "mos_ovrl"):
            key_columns.append(f"{label} median ({unit})")
    # A reader at 1280 px sees the group, the counts, the median and the tail it can trust.
    latency_keys = [c for c in key_columns if c.endswith("(ms)")]
    shown = [c for c in latency_keys if " p50 " in c]
    tails = [c for c in latency_keys if c.startswith("first audio") and " p50 " not in c]
    key = [*[c for c in key_columns if not c.endswith("(ms)")], *shown, *tails[-1:]]
    out.attrs["key"] = [c for c in out.columns if c in key]
    return out.reset_index(drop=True)


def cell_text(value: Any) -> str:
    """A table cell as text: a dash for a blank, numbers without trailing zeros."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return f"{value:.0f}" if value.is_integer() and abs(value) >= 10 else f"{value:g}"
    return str(value)


def text_table(table: pd.DataFrame, *, columns: Sequence[str] | None = None) -> str:
    """A readable summary as aligned text, for a terminal (``ttskit bench`` prints it).

    Parameters
    ----------
    table : pandas.DataFrame
        The frame of :func:`ttskit.bench.summary`.
    columns : sequence of str, optional
        Which readable columns; the key ones (``readable(table).attrs["key"]``) when None.
    """
    shown = readable(table)
    columns = list(columns or shown.attrs["key"])
    cells = [[cell_text(v) for v in row] for row in shown[columns].itertuples(index=False)]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def cell_class(value: Any) -> str:
    """Numbers right-aligned (class ``num``), text as it reads."""
    number = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    return " class='num'" if number else ""


def frame_html(frame: pd.DataFrame, css_class: str) -> str:
    """A frame as an HTML table in a wrapper that scrolls inside the page; texts escaped."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = "".join(f"<td{cell_class(v)}>{html.escape(cell_text(v))}</td>" for v in row)
        body.append(f"<tr>{cells}</tr>")
    return (
        f"<div class='table-wrap'><table class='{css_class}'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def html_table(table: pd.DataFrame, *, caption: str = "all columns, with 95% intervals") -> str:
    """A readable summary as HTML: the key columns, and every column behind a ``<details>``.

    Texts are escaped; a blank percentile shows as a dash. The page's stylesheet decides
    the look (class ``summary``).
    """
    shown = readable(table)
    key = shown.attrs["key"]
    return (
        frame_html(shown[key], "summary")
        + f"<details><summary>{html.escape(caption)}</summary>{frame_html(shown, 'summary full')}"
        "</details>"
    )


def styled(table: pd.DataFrame) -> Styler:
    """A readable summary as a pandas Styler, for a notebook: key columns, dashes for blanks.

    Examples
    --------
    >>> from ttskit import bench  # doctest: +SKIP
    >>> bench.tables.styled(bench.summary(df, by="transport"))  # doctest: +SKIP
    """
    shown = readable(table)
    key = shown.attrs["key"]
    return shown[key].style.hide(axis="index").format(cell_text, na_rep="–")


def metadata_html(metadata: dict) -> str:
    """A run's metadata as a definition list: nested values as nested lists, all escaped."""

    def entry(key: Any, item: Any) -> str:
        name = str(key)
        # A duration of the run reads in milliseconds, as every other time of the page.
        if name.endswith("_s") and isinstance(item, float) and math.isfinite(item):
            name, item = f"{name[:-2]} (ms)", round(item * 1000, 3)
        return f"<dt>{html.escape(name.replace('_', ' '))}</dt><dd>{value(item)}</dd>"

    def value(item: Any) -> str:
        if isinstance(item, dict):
            if not item:
                return "–"
            return f"<dl>{''.join(entry(k, v) for k, v in item.items())}</dl>"
        if isinstance(item, (list, tuple)):
            return html.escape(", ".join(str(v) for v in item)) or "–"
        return html.escape(cell_text(item) if item is not None else "–")

    return f"<div class='run'>{value(metadata)}</div>" if metadata else "<p>No metadata.</p>"


def _ms(seconds: float) -> str:
    return (
        f"{abs(seconds) * 1000:.0f} ms" if abs(seconds) >= 0.01 else f"{abs(seconds) * 1000:.1f} ms"
    )


def _label(column: str, value: Any) -> str:
    if column == "transport":
        return {"rest": "REST", "sse": "SSE", "ws": "WebSocket", "ws-keep": "WebSocket (kept)"}.get(
            str(value), str(value)
        )
    if column == "concurrency":
        return f"concurrency {value:g}" if isinstance(value, float) else f"concurrency {value}"
    if column == "rate":
        return f"{value:g} requests/s"
    return str(value)


def _scope(columns: Sequence[str], row: pd.Series) -> str:
    """Where a comparison was made: " for piper over SSE"."""
    words = [
        f"{'over' if column == 'transport' else 'for'} {_label(column, row[column])}"
        for column in sorted(columns, key=lambda column: column == "transport")
    ]
    return " " + " ".join(words) if words else ""


def _sizes(first: int, second: int, *, per: str = "each") -> str:
    if first == second:
        return f"{first} requests {per}"
    if per == "each":
        return f"{first} and {second} requests"
    return f"{first} to {second} requests {per}"


def _plural(column: str) -> str:
    return {"transport": "transports", "model": "models", "voice": "voices"}.get(column, column)


def findings(
    df: pd.DataFrame,
    *,
    factors: Sequence[str] = ("transport", "model", "voice"),
    confidence: float = 0.95,
    limit: int = 8,
    n_boot: int = 1000,
    seed: int = 0,
) -> list[str]:
    """What a run found, in sentences, each with its interval and sample size.

    For each factor that varies (transport, model, voice), every value is compared with the
    fastest at the median (and at the p95 where both sides have :func:`min_requests`),
    within each group of the other factors and at the lowest load level, with
    :func:`ttskit.bench.compare`. A difference is said only when its interval excludes
    zero; the largest come first, at most ``limit``. Then what the data cannot tell: a
    p99 without enough requests, failures.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows of :func:`ttskit.bench.run`.

    Returns
    -------
    list of str
        Plain text; the caller escapes it for HTML.
    """
    # A page says in words what compare() would warn of on a console.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnfairComparison)
        out = _findings(df, factors, confidence, limit, n_boot, seed)
    differed = sorted(
        {
            name.replace("_", " ")
            for warning in caught
            if issubclass(warning.category, UnfairComparison)
            for name in re.findall(r"(\w+) \[[^\]]*\] against", str(warning.message))
        }
    )
    if differed:
        out.append(
            "Some sides compared above were not measured the same way ("
            + ", ".join(differed)
            + "): a transport brings its own client library and connection set-up, and a "
            "worker's first request opens its connection; bench.compare names the groups."
        )
    return out


def _findings(
    df: pd.DataFrame,
    factors: Sequence[str],
    confidence: float,
    limit: int,
    n_boot: int,
    seed: int,
) -> list[str]:
    rows = df[~df["warmup"].astype(bool)] if "warmup" in df.columns else df
    level = "rate" if "rate" in rows.columns and rows["rate"].notna().any() else "concurrency"
    varying = [f for f in factors if f in rows.columns and rows[f].nunique() > 1]
    # A factor that only follows another (one voice per model) is a label, not a comparison.
    varying = [
        f
        for i, f in enumerate(varying)
        if not any(rows.groupby(g)[f].nunique().max() == 1 for g in varying[:i])
    ]
    at_level = rows
    level_note = ""
    if level in rows.columns and rows[level].nunique() > 1:
        lowest = rows[level].min()
        at_level = rows[rows[level] == lowest]
        level_note = f" at {_label(level, lowest)}"
    tail = f"{confidence:.0%} interval"
    said: list[tuple[float, str]] = []
    quiet: list[str] = []
    for factor in varying:
        before = len(said)
        others = [f for f in varying if f != factor]
        ok = at_level[at_level["ok"].astype(bool)]
        medians = ok.groupby(factor)["first_audio_s"].median().sort_values()
        if medians.empty:
            continue
        fastest = medians.index[0]
        for other in medians.index[1:]:
            a = at_level[at_level[factor] == other]
            b = at_level[at_level[factor] == fastest]
            result = compare(
                a, b, by=others or None, percentiles=(50, 95), confidence=confidence,
                n_boot=n_boot, seed=seed,
            )  # fmt: skip
            for _, row in result.iterrows():
                n_a, n_b = int(row["n_a"]), int(row["n_b"])
                scope = _scope(others, row) + level_note
                for q, name in ((50, "median"), (95, "p95")):
                    if min(n_a, n_b) < min_requests(q):
                        continue
                    low, high = row[f"diff_p{q}_lo"], row[f"diff_p{q}_hi"]
                    if not (high < 0 or low > 0):
                        continue
                    diff = row[f"diff_p{q}"]
                    word = "sooner" if diff < 0 else "later"
                    bounds = sorted((abs(low), abs(high)))
                    size = _sizes(n_b, n_a)
                    sentence = (
                        f"{_label(factor, fastest)} reached first audio {_ms(diff)} {word} than "
                        f"{_label(factor, other)} at the {name}{scope} ({tail} "
                        f"{bounds[0] * 1000:.0f} to {bounds[1] * 1000:.0f} ms, {size})."
                    )
                    said.append((abs(diff), sentence))
        if len(said) == before:
            sizes = at_level[at_level["ok"].astype(bool)].groupby([factor, *others]).size()
            quiet.append(
                f"No difference in first audio between {_plural(factor)}{level_note} was larger "
                f"than resampling noise (every {tail} includes zero; "
                f"{_sizes(int(sizes.min()), int(sizes.max()), per='per group')})."
            )
    if level in rows.columns and rows[level].nunique() > 1:
        levels = sorted(rows[level].dropna().unique())
        low_rows, high_rows = rows[rows[level] == levels[0]], rows[rows[level] == levels[-1]]
        result = compare(
            low_rows, high_rows, by=varying or None, percentiles=(50,), confidence=confidence,
            n_boot=n_boot, seed=seed,
        )  # fmt: skip
        for _, row in result.iterrows():
            low, high, diff = row["diff_p50_lo"], row["diff_p50_hi"], row["diff_p50"]
            if not (high < 0 or low > 0) or min(row["n_a"], row["n_b"]) < min_requests(50):
                continue
            where = _scope(varying, row).strip()
            bounds = sorted((abs(low), abs(high)))
            lead = f"{where[0].upper()}{where[1:]}: first" if where else "First"
            sentence = (
                f"{lead} audio came {_ms(diff)} {'later' if diff > 0 else 'sooner'} at "
                f"{_label(level, levels[-1])} than at {_label(level, levels[0])}, at the median "
                f"({tail} {bounds[0] * 1000:.0f} to {bounds[1] * 1000:.0f} ms, "
                f"{_sizes(int(row['n_b']), int(row['n_a']))})."
            )
            said.append((abs(diff), sentence))
    said.sort(key=lambda item: -item[0])
    out = [sentence for _, sentence in said[:limit]]
    if len(said) > limit:
        out.append(f"{len(said) - limit} smaller differences are in the tables below.")
    out += quiet
    if not said and not quiet:
        out.append(
            "No difference in first audio between the groups compared was larger than "
            f"resampling noise (every {tail} includes zero)."
        )
    group_cols = [*varying, *([level] if level in rows.columns else [])]
    ok_counts = rows[rows["ok"].astype(bool)].groupby(group_cols).size() if group_cols else None
    largest = int(ok_counts.max()) if ok_counts is not None and len(ok_counts) else 0
    if largest < min_requests(99):
        out.append(
            f"Too few requests for a p99: the largest group has {largest} successful "
            f"requests, a p99 needs at least {min_requests(99)}"
            + (f" (a p95 needs {min_requests(95)})." if largest < min_requests(95) else ".")
        )
    failed = int((~rows["ok"].astype(bool)).sum())
    if failed:
        out.append(
            f"{failed} of {len(rows)} requests failed or were silent; latencies are over the rest."
        )
    return out
