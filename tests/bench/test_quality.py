"""bench.run(..., quality=...): every successful request scored after the run, with the real
models of the quality extra, on eSpeak NG speech."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

from ttskit import bench
from ttskit.errors import InvalidArgument

pytest.importorskip("faster_whisper")
pytest.importorskip("jiwer")

SAID = "Hello there, how are you today?"


def test_a_scored_run_has_the_quality_columns_and_summaries_cover_them(espeak_server):
    df = bench.run(
        (espeak_server.base_url, "espeak", "en-us"),
        [SAID],
        repeats=2,
        warmup=1,
        transports=["sse", "ws"],
        quality=["wer", "vad"],
        progress=False,
    )
    assert df["ok"].all(), df["error_message"].tolist()
    assert "speech" not in df.columns  # the audio is gone once scored
    measured, warmups = df[~df["warmup"]], df[df["warmup"]]
    # eSpeak NG says this sentence right: the round trip finds its words.
    assert (measured["wer"] <= 0.2).all(), measured[["wer", "transcript"]]
    assert (measured["speech_onset_s"] >= 0).all()
    assert warmups["wer"].isna().all()  # warm-ups are not scored
    assert df.attrs["bench"]["quality"]["metrics"] == ["wer", "vad"]
    assert df.attrs["bench"]["arguments"]["quality"] == ["wer", "vad"]

    table = bench.summary(df, by="transport")
    assert (table["wer_median"] <= 0.2).all()
    assert (table["wer_median_lo"] <= table["wer_median"]).all()
    assert (table["wer_median"] <= table["wer_median_hi"]).all()
    assert "speech_onset_s_median" in table.columns
    assert table["flagged"].tolist() == [0, 0]  # nothing broke a limit
    assert "WER median (%)" in bench.tables.readable(table).columns

    sse, ws = df[df["transport"] == "sse"], df[df["transport"] == "ws"]
    with warnings.catch_warnings():
        # Timed differently (requests against websockets), which says nothing of the audio.
        warnings.simplefilter("error", bench.UnfairComparison)
        compared = bench.compare(sse, ws, column="wer", percentiles=(50,))
    assert compared.loc[0, "n_a"] == 2 and compared.loc[0, "n_b"] == 2
    assert "b_lower_p50" in compared.columns
    assert np.isfinite(compared.loc[0, "diff_p50"])


def test_a_failed_request_is_not_scored():
    df = bench.run(
        ("http://127.0.0.1:9/v1", "m", "v"),
        [SAID],
        repeats=1,
        warmup=0,
        quality=["wer"],
        progress=False,
    )
    assert df["error"].tolist() == ["ConnectError"]
    assert df["wer"].isna().all()


def test_quality_names_known_metrics_before_any_request(replay):
    for bad in (["loudness"], [], 3):
        with pytest.raises(InvalidArgument, match="quality"):
            bench.run((replay.base_url, "replay", "alice"), [SAID], quality=bad, progress=False)
    assert replay.received == []


def test_ttskit_bench_quality(espeak_server, tmp_path):
    results = tmp_path / "scored.parquet"
    texts = tmp_path / "texts.txt"
    texts.write_text(SAID + "\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "ttskit.cli", "bench", "--base-url", espeak_server.base_url]
        + ["--model", "espeak", "--voices", "en-us", "--texts", str(texts)]
        + ["--transports", "rest", "--repeats", "1", "--warmup", "0", "--no-progress"]
        + ["--quality", "-o", str(results)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "WER median (%)" in done.stdout
    df = bench.load(results)
    assert {"wer", "mos_ovrl", "speech_onset_s", "transcript"} <= set(df.columns)
    assert df["wer"].notna().all()
    assert df.attrs["bench"]["quality"]["metrics"] == ["wer", "mos", "vad", "timestamps"]
