"""The asyncio executor (``harness="asyncio"``): one event loop on ``ttskit.AsyncClient``,
with the same plan, rows and errors as the threaded one."""

from __future__ import annotations

import asyncio

import pytest

from ttskit import bench
from ttskit.errors import InvalidArgument

from .conftest import SHORT


def test_every_transport_on_one_event_loop(espeak_server):
    df = bench.run(
        espeak_server.base_url,
        SHORT,
        ["en-us"],
        repeats=2,
        transports=list(bench.TRANSPORTS),
        concurrency=[1, 2],
        warmup=1,
        harness="asyncio",
        progress=False,
    )
    assert list(df.columns) == bench.COLUMNS
    assert len(df) == len(bench.TRANSPORTS) * (1 + 2 * len(SHORT) * 2)
    assert df["ok"].all(), df.loc[~df["ok"], "error_message"].tolist()
    measured = df[~df["warmup"]]
    assert (measured["first_byte_s"] <= measured["first_audio_s"]).all()
    assert (measured["first_audio_s"] <= measured["done_s"]).all()
    http = df[~df["transport"].str.startswith("ws")]
    assert set(http["client_library"]) == {"aiohttp"}
    assert set(df.loc[df["transport"].str.startswith("ws"), "client_library"]) == {"websockets"}
    # One kept-alive pool for the loop: after the warm-up, HTTP requests reuse connections
    # except where two are in flight at once for the first time.
    assert http.loc[~http["warmup"], "connection_reused"].mean() > 0.7
    keep = measured[measured["transport"] == "ws-keep"]
    assert keep["connection_reused"].sum() >= len(keep) - 2
    assert not measured.loc[measured["transport"] == "ws", "connection_reused"].any()
    assert df.attrs["bench"]["arguments"]["harness"] == "asyncio"
    assert df.attrs["bench"]["harness_cpu_per_request_s"] > 0


def test_errors_and_429_are_rows(espeak_server, sleeps):
    target = bench.Target(
        espeak_server.base_url,
        "espeak",
        "en-us",
        headers={"x-ttskit-faults": "error_rate=1,error_status=429,retry_after=0.25"},
    )
    df = bench.run(
        target,
        SHORT,
        repeats=1,
        warmup=0,
        transports=["sse"],
        harness="asyncio",
        progress=False,
        sleep=sleeps,
    )
    assert df["status"].tolist() == [429, 429]
    assert set(df["error"]) == {"RateLimitError"}
    assert sleeps.waits == [0.25, 0.25]
    dead = bench.run(
        ("http://127.0.0.1:9/v1", "m", "v"),
        SHORT[:1],
        repeats=2,
        warmup=0,
        harness="asyncio",
        progress=False,
    )
    assert list(dead["error"]) == ["ConnectError", "ConnectError"]


def test_an_open_loop_on_two_processes(espeak_server):
    df = bench.run(
        espeak_server.base_url,
        SHORT[:1],
        rate=20.0,
        duration=0.5,
        seed=2,
        warmup=1,
        transports=["rest"],
        processes=2,
        harness="asyncio",
        progress=False,
    )
    expected = bench.poisson_schedule(20.0, 0.5, __import__("numpy").random.default_rng(2))
    measured = df[~df["warmup"]]
    assert len(measured) == len(expected)
    assert measured["ok"].all(), measured["error_message"].tolist()
    assert set(measured["worker"]) == {"process-0", "process-1"}
    assert (measured["first_audio_s"] >= measured["late_s"]).all()


def test_the_harness_is_checked_before_any_request(replay):
    target = (replay.base_url, "replay", "alice")
    with pytest.raises(InvalidArgument, match="harness"):
        bench.run(target, SHORT, harness="greenlets", progress=False)
    assert replay.received == []


def test_a_caller_inside_an_event_loop_can_run_it(espeak_server):
    """As a notebook's cell does: its kernel's loop is running in the calling thread."""

    async def cell():
        return bench.run(
            espeak_server.base_url,
            SHORT[:1],
            repeats=2,
            warmup=0,
            harness="asyncio",
            processes=1,
            progress=False,
        )

    df = asyncio.run(cell())
    assert df["ok"].all() and len(df) == 2


@pytest.mark.parametrize("harness", ["threads", "asyncio"])
def test_an_open_loop_sends_at_most_max_in_flight_at_once(espeak_server, harness):
    # The delay is a wait on the server, which overlaps requests: only the harness can keep
    # them one at a time, and then they queue (late starts).
    target = bench.Target(
        espeak_server.base_url,
        "espeak",
        "en-us",
        headers={"x-ttskit-faults": "first_audio_delay=0.05"},
    )
    df = bench.run(
        target,
        SHORT[:1],
        rate=60.0,
        duration=0.5,
        seed=3,
        warmup=0,
        max_in_flight=1,
        transports=["rest"],
        harness=harness,
        progress=False,
    )
    assert df["ok"].all(), df["error_message"].tolist()
    df = df.sort_values("started_s")
    ends = (df["started_s"] + df["done_s"] - df["late_s"]).to_numpy()
    assert (df["started_s"].to_numpy()[1:] >= ends[:-1]).all()
    assert (df["late_s"] > 0.01).any()


def test_sse_answers_leave_their_connection_kept_alive(espeak_server):
    df = bench.run(
        espeak_server.base_url,
        SHORT,
        repeats=12,
        warmup=1,
        transports=["sse"],
        concurrency=8,
        harness="asyncio",
        progress=False,
    )
    measured = df[~df["warmup"]]
    assert measured["ok"].all(), measured["error_message"].tolist()
    # New connections only for the first requests in flight at once: the body is read to
    # its end after [DONE], so that each connection goes back to the pool.
    assert (~measured["connection_reused"].astype(bool)).sum() <= 8
