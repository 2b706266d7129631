"""Reading rows: stalls against a direct simulation, summaries, comparisons, knees."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ttskit import Timing, bench
from ttskit.errors import InvalidArgument


def simulate_stalls(arrival_ms, length_ms, buffer_ms):
    """A player ticking once per millisecond: starts once ``buffer_ms`` of audio (and at
    least some) has arrived, or everything has; then plays one ms of audio per tick when it
    has one, else stalls."""
    total = sum(length_ms)
    received = played = 0
    playing = stalled = False
    stalls = stall_ms = 0
    arrivals = sorted(zip(arrival_ms, length_ms, strict=True))
    tick = 0
    while played < total:
        while arrivals and arrivals[0][0] <= tick:
            received += arrivals.pop(0)[1]
        if not playing and (received >= max(buffer_ms, 1) or received == total):
            playing = True
        if playing:
            if received > played:
                played += 1
                stalled = False
            else:
                stall_ms += 1
                if not stalled:
                    stalls += 1
                stalled = True
        tick += 1
    return stalls, stall_ms


SCHEDULES = [
    # (arrival ms, chunk length ms): smooth, one late chunk, bursts, early and late mixes
    ([0, 100, 200, 300], [100, 100, 100, 100]),
    ([0, 100, 450, 500], [100, 100, 100, 100]),
    ([50, 60, 70, 400, 410, 900], [20, 20, 20, 200, 200, 20]),
    ([0, 20, 40, 60, 500, 520, 540], [20, 20, 20, 20, 20, 20, 20]),
    ([10, 10, 10, 10], [50, 50, 50, 50]),
    ([0, 300, 310, 320, 330, 1000], [300, 10, 10, 10, 10, 300]),
    ([0, 250, 260, 700], [40, 40, 300, 40]),
]


@pytest.mark.parametrize("arrival_ms, length_ms", SCHEDULES)
@pytest.mark.parametrize("buffer_ms", bench.stats.STALL_BUFFERS_MS)
def test_stall_counts_equal_a_direct_simulation(arrival_ms, length_ms, buffer_ms):
    rate = 1000  # one sample per millisecond
    count, seconds = bench.stall_count(
        [a / 1000 for a in arrival_ms], length_ms, sample_rate=rate, start_buffer_s=buffer_ms / 1000
    )
    expected_count, expected_ms = simulate_stalls(arrival_ms, length_ms, buffer_ms)
    assert count == expected_count
    assert seconds == pytest.approx(expected_ms / 1000, abs=1e-9)
    # ... and the same as Timing.stalls, which plots and notebooks use.
    starts = np.cumsum([0, *length_ms[:-1]]) / rate
    chunks = pd.DataFrame(
        {
            "arrival_s": np.asarray(arrival_ms) / 1000,
            "n_samples": length_ms,
            "audio_start_s": starts,
        }
    )
    stalls = Timing(chunks=chunks, sample_rate=rate).stalls(buffer_ms / 1000)
    assert len(stalls) == count
    assert stalls["duration_s"].sum() == pytest.approx(seconds)


def frame(first_audio, *, voice="a", level=1, ok=None, stalls=None, warmup=None):
    n = len(first_audio)
    return pd.DataFrame(
        {
            "voice": voice,
            "concurrency": level,
            "rate": np.nan,
            "first_audio_s": first_audio,
            "done_s": np.asarray(first_audio) + 1.0,
            "audio_s": 2.0,
            "scheduled_s": np.arange(n, dtype=float),
            "ok": [True] * n if ok is None else ok,
            "silent": False,
            "error": [None if o else "APIError" for o in (ok or [True] * n)],
            "warmup": [False] * n if warmup is None else warmup,
            **{f"stalls_{ms}ms": (stalls or [0] * n) for ms in bench.stats.STALL_BUFFERS_MS},
        }
    )


def test_summary_percentiles_intervals_throughput_and_goodput():
    values = np.linspace(0.1, 0.5, 41)
    df = frame(values, stalls=[1] + [0] * 40)
    row = bench.summary(df, objective=bench.Objective(first_audio_s=0.305)).iloc[0]
    assert row["requests"] == 41 and row["errors"] == 0
    assert row["first_audio_p50"] == pytest.approx(0.3)
    assert row["first_audio_p50_lo"] <= 0.3 <= row["first_audio_p50_hi"]
    assert row["first_audio_p50_lo"] < row["first_audio_p50_hi"]
    assert row["done_p90"] == pytest.approx(np.percentile(values + 1, 90))
    # 41 requests of 2 s audio, scheduled 1 s apart, the last done 1.5 s after it started.
    assert row["throughput"] == pytest.approx(82.0 / (40 + 1.5))
    # first audio <= 300 ms: 21 requests, one of which stalled at 100 ms.
    assert row["goodput"] == pytest.approx(20 / 41)
    assert row["goodput_lo"] <= row["goodput"] <= row["goodput_hi"]


def test_summary_leaves_out_warmup_and_counts_failures_against_goodput():
    df = frame(
        [5.0, 0.1, 0.1, 0.2], ok=[True, True, False, True], warmup=[True, False, False, False]
    )
    row = bench.summary(df).iloc[0]
    assert row["requests"] == 3 and row["errors"] == 1
    assert row["first_audio_p50"] == pytest.approx(0.15)
    assert row["goodput"] == pytest.approx(2 / 3)
    by = bench.summary(pd.concat([frame([0.1], voice="a"), frame([0.2], voice="b")]), by="voice")
    assert by["voice"].tolist() == ["a", "b"]


def test_compare_reports_a_difference_with_its_interval():
    rng = np.random.default_rng(0)
    a = frame(0.2 + 0.01 * rng.standard_normal(200))
    b = frame(0.3 + 0.01 * rng.standard_normal(200))
    row = bench.compare(a, b).iloc[0]
    assert row["diff_p50"] == pytest.approx(0.1, abs=0.01)
    assert row["diff_p50_lo"] < row["diff_p50"] < row["diff_p50_hi"]
    assert row["diff_p50_lo"] > 0
    assert not row["b_faster_p50"]
    same = bench.compare(a, a).iloc[0]
    assert same["diff_p50"] == 0 and pd.isna(same["b_faster_p50"])


def test_knee_is_the_last_level_that_meets_the_objective():
    df = pd.concat(
        [
            frame([0.1] * 20, level=1),
            frame([0.1] * 19 + [0.9], level=2),
            frame([0.1] * 10 + [0.9] * 10, level=4),
            frame([0.1] * 20, level=8),  # after a miss: not a knee
        ]
    )
    assert bench.knee(df) == 2.0
    assert bench.knee(df, objective=bench.Objective(min_share=1.0)) == 1.0
    assert bench.knee(df, objective=bench.Objective(first_audio_s=0.05)) is None


def test_objective_rejects_a_buffer_that_rows_do_not_count():
    with pytest.raises(InvalidArgument, match="start_buffer_ms"):
        bench.Objective(start_buffer_ms=50)


def simulate_underruns(arrival_ms, length_ms, buffer_ms):
    """The millisecond player of ``simulate_stalls``, also timing its longest underrun."""
    total = sum(length_ms)
    received = played = 0
    playing = False
    runs: list[int] = []
    starving = False
    arrivals = sorted(zip(arrival_ms, length_ms, strict=True))
    tick = 0
    while played < total:
        while arrivals and arrivals[0][0] <= tick:
            received += arrivals.pop(0)[1]
        if not playing and (received >= max(buffer_ms, 1) or received == total):
            playing = True
        if playing:
            if received > played:
                played += 1
                starving = False
            else:
                if not starving:
                    runs.append(0)
                runs[-1] += 1
                starving = True
        tick += 1
    return len(runs), sum(runs), max(runs, default=0)


def random_schedules(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        size = int(rng.integers(1, 15))
        lengths = rng.integers(5, 200, size=size).tolist()
        yield np.sort(rng.integers(0, 1500, size=size)).tolist(), lengths


@pytest.mark.parametrize("buffer_ms", [0, 37, 100, 180, 250, 1000])
def test_underruns_equal_a_direct_simulation(buffer_ms):
    schedules = [*SCHEDULES, *random_schedules(200, seed=buffer_ms)]
    for arrival_ms, length_ms in schedules:
        count, total, longest = bench.underruns(
            [a / 1000 for a in arrival_ms],
            length_ms,
            sample_rate=1000,
            prebuffer_s=buffer_ms / 1000,
        )
        expected = simulate_underruns(arrival_ms, length_ms, buffer_ms)
        assert (count, round(total * 1000), round(longest * 1000)) == expected, (
            arrival_ms,
            length_ms,
        )


def test_the_summary_counts_requests_without_underrun():
    df = frame([0.1, 0.2, 0.3, 0.4], ok=[True, True, True, False])
    df["underrun_count"] = [0, 2, 0, 0]
    # The failed request has no underrun but counts against the share.
    assert bench.summary(df).loc[0, "no_underrun"] == 0.5


def test_compare_warns_when_the_sides_differ_in_how_they_were_measured():
    a, b = frame([0.1, 0.2, 0.3]), frame([0.2, 0.3, 0.4])
    a["start_policy"] = b["start_policy"] = "excludes_connect"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bench.compare(a, b)
    b.loc[0, "start_policy"] = "includes_connect"
    with pytest.warns(bench.UnfairComparison, match="start_policy"):
        bench.compare(a, b)
