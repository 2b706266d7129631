"""``bench.report``: findings, readable tables, sections that follow the rows' columns, and a
self-contained page even of a run in which nothing succeeded."""

from __future__ import annotations

import re
import socket

import numpy as np
import pandas as pd

from ttskit import bench
from ttskit.bench.report import sections
from ttskit.bench.tables import findings, html_table, readable, text_table

from .conftest import SHORT


def test_a_run_where_every_request_failed_still_gets_a_report(tmp_path):
    with socket.socket() as unused:  # a port nothing listens on: every request is refused
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    df = bench.run(
        (f"http://127.0.0.1:{port}/v1", "espeak", "en-us"),
        SHORT[:1],
        repeats=1,
        concurrency=[1, 2],
        transports=["rest"],
        progress=False,
    )
    assert set(df["error"]) == {"ConnectError"}
    page = bench.report(df, tmp_path / "report.html")
    assert "3 requests (1 warm-up), 3 failed or silent" in page
    assert page.count("data:image/png;base64,") >= 1  # the load figures, empty but titled
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == page
    assert "ConnectError" in page


def _rows(medians_ms: dict[str, float], *, n: int, spread_ms: float = 2.0, **columns):
    """A frame shaped like bench.run's: n ok requests per transport around a median."""
    rng = np.random.default_rng(1)
    frames = []
    for transport, median in medians_ms.items():
        first = (median + rng.uniform(-spread_ms, spread_ms, n)) / 1000
        frames.append(
            pd.DataFrame(
                {
                    "target": "t",
                    "model": "espeak",
                    "voice": "af",
                    "transport": transport,
                    "concurrency": 1,
                    "rate": np.nan,
                    "text_id": "hello",
                    "characters": 5,
                    "warmup": False,
                    "ok": True,
                    "silent": False,
                    "error": None,
                    "status": 200,
                    "first_audio_s": first,
                    "done_s": first + 0.01,
                    "audio_s": 0.5,
                    "scheduled_s": np.arange(n) * 0.05,
                    "chunks": 0,
                    "stalls_100ms": 0,
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    for name, values in columns.items():
        df[name] = values
    return df


def test_findings_say_a_difference_only_when_its_interval_excludes_zero():
    said = findings(_rows({"rest": 80.0, "sse": 40.0}, n=30))
    faster = [s for s in said if "sooner than REST at the median" in s]
    assert len(faster) == 1 and faster[0].startswith("SSE reached first audio ")
    assert "30 requests each" in faster[0]
    assert any("sooner than REST at the p95" in s for s in said)  # 30 requests support a p95
    low, high = map(int, re.search(r"interval (\d+) to (\d+) ms", faster[0]).groups())
    assert 30 <= low <= 40 <= high <= 50

    same = findings(_rows({"rest": 40.0, "sse": 40.0}, n=30, spread_ms=10.0))
    assert not any("sooner" in s or "later" in s for s in same)
    assert any(s.startswith("No difference in first audio between transports") for s in same)


def test_findings_say_what_the_data_cannot_tell():
    said = findings(_rows({"rest": 80.0, "sse": 40.0}, n=6))
    assert said[-1] == (
        "Too few requests for a p99: the largest group has 6 successful requests, "
        "a p99 needs at least 100 (a p95 needs 20)."
    )
    assert not any("p95" in s and "sooner" in s for s in said)  # six requests: no p95 either
    assert not any("p99" in s for s in findings(_rows({"rest": 80.0}, n=100)))


def test_findings_say_in_words_when_the_sides_were_measured_differently(recwarn):
    df = _rows({"rest": 80.0, "ws": 40.0}, n=30)
    df["client_library"] = np.where(df["transport"] == "ws", "websockets", "requests")
    said = findings(df)
    assert any("not measured the same way (client library)" in s for s in said)
    assert not [w for w in recwarn if issubclass(w.category, bench.UnfairComparison)]
    assert not any("measured the same way" in s for s in findings(_rows({"rest": 80.0}, n=30)))


def test_tables_are_in_milliseconds_and_leave_out_percentiles_the_sample_cannot_support():
    table = bench.summary(_rows({"rest": 80.0, "sse": 40.0}, n=12), by="transport")
    shown = readable(table)
    assert "first audio p50 (ms)" in shown.attrs["key"]
    assert 38 <= shown.loc[shown["transport"] == "sse", "first audio p50 (ms)"].item() <= 42
    assert "first audio p90 (ms)" in shown.columns  # 12 requests: a p90, not a p95 or p99
    assert not any(c.startswith(("first audio p95", "first audio p99")) for c in shown.columns)
    assert "throughput (audio s/s)" in shown.columns and "goodput (%)" in shown.columns

    text = text_table(table).splitlines()
    assert text[0].split()[:4] == ["transport", "requests", "failed", "first"]
    assert len(text) == 3 and "_lo" not in text[0]

    page = html_table(table)
    assert page.count("<table") == 2 and "<details>" in page
    assert "first audio p50 low (ms)" in page.split("<details>")[1]
    assert "first audio p50 low (ms)" not in page.split("<details>")[0]


def test_quality_and_continuity_sections_appear_when_the_rows_have_those_columns():
    plain = "\n".join(sections(_rows({"rest": 80.0, "sse": 40.0}, n=6)))
    assert "<h2>Quality</h2>" not in plain and "<h2>Continuity</h2>" not in plain

    n = 12
    df = _rows(
        {"rest": 80.0, "sse": 40.0},
        n=n // 2,
        wer=[0.0, 0.5] * (n // 2),
        cer=0.1,
        mos_ovrl=3.2,
        underrun_count=[0, 0, 1] * (n // 3),
        underrun_total_s=[0.0, 0.0, 0.12] * (n // 3),
    )
    page = "\n".join(sections(df))
    quality = page.split("<h2>Quality</h2>")[1].split("<h2>")[0]
    assert "median word error rate (%)" in quality and "median DNSMOS overall (1 to 5)" in quality
    assert quality.count("data:image/png;base64,") == 1
    continuity = page.split("<h2>Continuity</h2>")[1].split("<h2>")[0]
    assert "requests with an underrun (%)" in continuity
    assert "<td class='num'>33</td>" in continuity  # one request in three had an underrun


def test_a_run_without_underruns_says_so_in_a_sentence_instead_of_zeros():
    df = _rows({"rest": 80.0}, n=6, underrun_count=0, underrun_total_s=0.0, prebuffer_s=0.1)
    continuity = "\n".join(sections(df)).split("<h2>Continuity</h2>")[1].split("<h2>")[0]
    assert "No request underran" in continuity and "100 ms buffer" in continuity
    assert "<table" not in continuity and "data:image/png" not in continuity


def test_the_run_is_a_definition_list_at_the_end_with_its_texts_escaped():
    df = _rows({"rest": 80.0}, n=3)
    df.attrs["bench"] = {"ttskit_version": "1.0", "arguments": {"texts": ["<b>hi</b>"]}}
    parts = sections(df)
    assert parts[-2] == "<h2>Run</h2>"
    assert "<dt>ttskit version</dt><dd>1.0</dd>" in parts[-1]
    assert "&lt;b&gt;hi&lt;/b&gt;" in parts[-1] and "<b>hi" not in parts[-1]
    assert "{" not in parts[-1]


def test_the_demo_dataset_table_plays_each_item_and_says_the_filter(tmp_path):
    import soundfile as sf

    from ttskit.demo import _dataset_section

    items = []
    for name, wer, mos in (("good", 0.0, 3.9), ("misread", 0.5, 3.8), ("noisy", 0.0, 2.1)):
        path = tmp_path / "dataset" / "train" / f"{name}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.zeros(1600, "float32"), 16000)
        items.append(
            {"file_name": f"train/{name}.flac", "path": str(path), "text": f"<{name}>",
             "duration": 0.1, "suspicious": name != "good", "issues": "", "wer": wer,
             "mos_ovrl": mos}
        )  # fmt: skip
    dataset = pd.DataFrame(items)
    # The scores' limits come with the manifest; the dataset flagged the items they break.
    dataset.attrs["quality"] = {"limits": {"max_wer": 0.2, "min_mos_ovrl": 3.0}}
    note, table = _dataset_section(dataset, tmp_path, dataset.iloc[:1])
    assert "word error rate above 20%" in note and "DNSMOS overall below 3" in note
    assert "2 of 3 items flagged" in note and "kept 1 of 3 items" in note
    rows = table.split("<tbody>")[1].split("</tr>")[:3]
    assert [r.startswith("<tr class='flagged'>") for r in rows] == [True, True, False]
    assert "&lt;good&gt;" in rows[2] and "<good>" not in table
    assert table.count("<audio controls") == 3
    assert table.count("src='data:audio/flac;base64,") == 3
