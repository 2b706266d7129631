"""The record step alone: one row from one outcome, built by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ttskit import bench
from ttskit.bench.outcome import Outcome
from ttskit.bench.rows import Measurement, Trial, continuity, frame, prebuffer_columns, row
from ttskit.bench.transports import Target

TRIAL = Trial(0, "v", "t0", "short", "Hello there.", 0)
TARGET = Target("http://127.0.0.1:9/v1", "m", "v")


def outcome(**fields) -> Outcome:
    # 0.1 s chunks at 1000 Hz arriving at 0.2, 0.3 and 0.6 s after a start at 10 s.
    base = dict(
        started=10.0,
        headers_s=0.1,
        first_byte_s=0.15,
        first_audio_s=0.2,
        first_audible_s=0.2,
        done_s=0.6,
        arrivals=[0.2, 0.3, 0.6],
        lengths=[100, 100, 100],
        sample_rate=1000,
        status=200,
        connection_reused=True,
        http_version="HTTP/1.1",
        client_library="requests",
        client_version="2.0",
    )
    return Outcome(**{**base, **fields})


def make(result: Outcome, measurement: Measurement | None = None, scheduled: float = 9.5):
    return row(
        result,
        TRIAL,
        TARGET,
        transport="sse",
        connection="warm",
        loop="open",
        level=10.0,
        scheduled=scheduled,
        origin=9.0,
        warmup=False,
        measurement=measurement or Measurement(),
    )


def test_a_row_counts_from_the_scheduled_start_and_says_how_it_was_measured():
    record = make(outcome(), Measurement(worker="w1", clock_offset_s=0.25))
    assert set(record) == set(bench.COLUMNS)
    assert record["late_s"] == pytest.approx(0.5)
    assert record["first_audio_s"] == pytest.approx(0.7)
    assert record["chunk_arrival_s"] == pytest.approx([0.7, 0.8, 1.1])
    assert record["scheduled_s"] == pytest.approx(0.5)
    assert record["start_policy"] == "excludes_connect"
    assert record["http_version"] == "HTTP/1.1"
    assert (record["client_library"], record["client_version"]) == ("requests", "2.0")
    assert (record["worker"], record["clock_offset_s"]) == ("w1", 0.25)
    assert make(outcome(connection_reused=False))["start_policy"] == "includes_connect"


def test_continuity_at_the_prebuffers_asked():
    # Playback starts at 0.2 s with a 100 ms prebuffer; the third chunk was due at 0.4 s
    # and came at 0.6 s: one underrun of 0.2 s. With 200 ms, playback starts at 0.3 s
    # and the third chunk is due at 0.5 s.
    record = make(outcome(), Measurement(prebuffers=(0.1, 0.2)))
    assert record["prebuffer_s"] == 0.1
    assert record["underrun_count"] == 1
    assert record["underrun_total_s"] == pytest.approx(0.2)
    assert record["underrun_max_s"] == pytest.approx(0.2)
    assert record["underrun_count_200ms"] == 1
    assert record["underrun_total_s_200ms"] == pytest.approx(0.1)
    assert record["gap_p50_s"] == pytest.approx(0.2)
    assert record["gap_p99_s"] == pytest.approx(np.percentile([0.1, 0.3], 99))
    assert record["first_payload_bytes"] == 200
    assert prebuffer_columns((0.1, 0.2)) == [
        "underrun_count_200ms",
        "underrun_total_s_200ms",
        "underrun_max_s_200ms",
    ]
    table = frame([record], prebuffer_columns((0.1, 0.2)))
    assert list(table.columns) == [*bench.COLUMNS, *prebuffer_columns((0.1, 0.2))]


def test_continuity_of_an_answer_without_audio():
    values = continuity([], [], 0, (0.1,))
    assert values["underrun_count"] == 0 and values["first_payload_bytes"] == 0
    assert np.isnan(values["gap_p50_s"])


def test_an_interrupted_utterance_records_what_came_after_the_cancel():
    # Cancel sent 0.25 s after the start: the chunk of 0.3 s and 0.6 s came after it.
    record = make(outcome(cancel_s=0.25), Measurement(interrupt_after_s=0.05))
    assert record["interrupt_after_s"] == 0.05
    assert record["cancel_s"] == pytest.approx(0.75)
    assert record["stop_latency_s"] == pytest.approx(0.35)
    assert record["audio_after_cancel_s"] == pytest.approx(0.2)
    # Nothing after the cancel: it stopped at once.
    quiet = make(outcome(cancel_s=0.7))
    assert quiet["stop_latency_s"] == 0.0 and quiet["audio_after_cancel_s"] == 0.0
    assert np.isnan(make(outcome())["stop_latency_s"])
