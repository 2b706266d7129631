"""bench.run against real servers on loopback: rows, errors as rows, connections, open loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import ttskit
from ttskit import bench
from ttskit.bench.execute import HARNESSES
from ttskit.errors import InvalidArgument

from .conftest import SHORT


def test_one_row_per_request_for_every_transport(espeak_server):
    df = bench.run(
        espeak_server.base_url,
        SHORT,
        ["en-us", "en-gb"],
        repeats=2,
        transports=list(bench.TRANSPORTS),
        concurrency=[1, 2],
        warmup=1,
        progress=False,
    )
    assert list(df.columns) == bench.COLUMNS
    per_level = 1 * 2 * len(SHORT) * 2  # targets x voices x texts x repeats
    assert len(df) == len(bench.TRANSPORTS) * (1 + 2 * per_level)
    assert df["warmup"].sum() == len(bench.TRANSPORTS)
    assert df["ok"].all(), df.loc[~df["ok"], "error_message"].tolist()
    counts = df[~df["warmup"]].groupby(["transport", "concurrency", "voice"]).size()
    assert (counts == len(SHORT) * 2).all()
    measured = df[~df["warmup"]]
    assert (measured["first_audio_s"] > 0).all()
    assert (measured["first_audio_s"] <= measured["done_s"]).all()
    assert (measured["first_byte_s"] <= measured["first_audio_s"]).all()
    assert (measured["audio_s"] > 0.3).all()
    assert (measured["chunks"] == measured["chunk_arrival_s"].map(len)).all()
    assert (measured["characters"] == measured["text_id"].map({"t0": 12, "t1": 15})).all()
    # Streamed transports deliver many chunks; the SSE stream is one delta per 20 ms or so.
    assert measured.loc[measured["transport"] == "sse", "chunks"].min() > 1
    # A kept-open WebSocket is opened once per worker thread and voice, then reused.
    keep = df[df["transport"] == "ws-keep"]
    assert (~keep["connection_reused"]).sum() <= 2 * 2
    assert keep["connection_reused"].sum() >= len(keep) - 4
    assert not measured.loc[measured["transport"] == "ws", "connection_reused"].any()
    assert df.attrs["bench"]["arguments"]["transports"] == list(bench.TRANSPORTS)
    assert df.attrs["bench"]["harness_cpu_per_request_s"] > 0


def test_warm_connections_are_reused_and_cold_ones_are_not(espeak_server):
    options = dict(repeats=3, transports=["rest"], warmup=1, progress=False)
    warm = bench.run(espeak_server.base_url, SHORT[:1], connection="warm", **options)
    cold = bench.run(espeak_server.base_url, SHORT[:1], connection="cold", **options)
    # The warm-up opens the worker's connection; the requests after it reuse it.
    assert warm["connection_reused"].tolist() == [False, True, True, True]
    assert not cold["connection_reused"].any()


def test_targets_clients_urls_and_tuples(espeak_server):
    client = ttskit.Client(espeak_server.base_url, model="espeak", voice="en-us")
    df = bench.run(
        [client, (espeak_server.base_url, "espeak", "en-gb")],
        SHORT[:1],
        repeats=1,
        warmup=0,
        progress=False,
    )
    assert sorted(df["voice"]) == ["en-gb", "en-us"]
    assert set(df["model"]) == {"espeak"}


def test_errors_are_rows(espeak_server):
    target = bench.Target(espeak_server.base_url, "espeak", "no-such-voice")
    df = bench.run(
        target, SHORT, repeats=2, warmup=0, transports=["rest", "sse", "ws"], progress=False
    )
    assert len(df) == 3 * 2 * 2
    assert not df["ok"].any()
    http = df[df["transport"] != "ws"]
    assert set(http["error"]) == {"BadRequestError"}
    assert set(http["status"]) == {400}
    assert http["request_id"].notna().all()
    assert df["first_audio_s"].isna().all()
    assert df["error_message"].str.contains("no-such-voice").all()


def test_a_dead_endpoint_is_rows_of_connect_errors():
    df = bench.run(
        ("http://127.0.0.1:9/v1", "m", "v"), SHORT[:1], repeats=2, warmup=0, progress=False
    )
    assert list(df["error"]) == ["ConnectError", "ConnectError"]
    assert df["status"].isna().all()


def test_a_timeout_is_a_row(espeak_server):
    target = bench.Target(
        espeak_server.base_url, headers={"x-ttskit-faults": "first_audio_delay=3"}
    )
    df = bench.run(
        target, SHORT[:1], repeats=1, warmup=0, timeout=0.2, transports=["rest"], progress=False
    )
    assert df["error"].tolist() == ["TimeoutError"]


def test_429_is_recorded_and_backed_off_as_asked(espeak_server, sleeps):
    target = bench.Target(
        espeak_server.base_url,
        headers={"x-ttskit-faults": "error_rate=1,error_status=429,retry_after=0.25"},
    )
    df = bench.run(
        target, SHORT, repeats=1, warmup=0, transports=["sse"], progress=False, sleep=sleeps
    )
    assert df["status"].tolist() == [429, 429]
    assert set(df["error"]) == {"RateLimitError"}
    assert df["retry_after_s"].tolist() == [0.25, 0.25]
    assert sleeps.waits == [0.25, 0.25]


def test_silent_and_empty_audio_are_flagged_not_fast(replay):
    from tests.client.replay_server import Answer

    silence = np.zeros(4800, dtype="<i2").tobytes()
    replay.answers = [
        Answer([silence], content_type="application/octet-stream"),
        Answer([b""], content_type="application/octet-stream"),
    ]
    # Threads: the replay server's empty answer is a lone zero-length chunk, which aiohttp
    # (the asyncio harness) does not read as an empty body.
    df = bench.run(
        (replay.base_url, "replay", "alice"),
        SHORT,
        repeats=1,
        warmup=0,
        transports=["chunked"],
        progress=False,
        harness="threads",
    )
    assert df["silent"].all()
    assert not df["ok"].any()
    assert df["error"].isna().all()
    assert df["first_audible_s"].isna().all()
    summary = bench.summary(df)
    assert summary.loc[0, "silent"] == 2
    assert summary.loc[0, "goodput"] == 0.0
    assert np.isnan(summary.loc[0, "first_audio_p50"])


def test_chunked_reads_a_raw_body_as_it_arrives(replay):
    from tests.client.replay_server import Answer, tone

    pcm = ttskit.audio.encode_pcm(tone(0.4), encoding="pcm_s16le")
    pieces = [pcm[i : i + 4800] for i in range(0, len(pcm), 4800)]
    replay.answers = [Answer(pieces, content_type="audio/pcm")]
    # Threads: requests yields each HTTP chunk; aiohttp yields what each read found, which
    # joins pieces that arrive back to back.
    df = bench.run(
        (replay.base_url, "replay", "alice"),
        SHORT[:1],
        repeats=1,
        warmup=0,
        transports=["chunked"],
        progress=False,
        harness="threads",
    )
    body = replay.speech_requests[-1].body
    assert body["stream_format"] == "audio" and body["response_format"] == "pcm"
    row = df.iloc[0]
    assert row["ok"]
    assert row["chunks"] == len(pieces)
    assert row["audio_s"] == pytest.approx(len(pcm) / 2 / 24000)


def test_bad_arguments_raise_before_any_request(replay, tmp_path):
    from tests.client.replay_server import Answer

    replay.answers = [Answer([b""], content_type="application/octet-stream")]
    target = (replay.base_url, "replay", "alice")
    binary = tmp_path / "texts.bin"
    binary.write_bytes(b"\x00\x01\x02hello")
    bad = [
        dict(transports=["carrier-pigeon"]),
        dict(concurrency=0),
        dict(concurrency=[1, 2.5]),
        dict(rate=10),
        dict(rate=-1, duration=1),
        dict(texts=str(binary)),
        dict(texts=[]),
        dict(texts="no such file.txt"),
        dict(transports=["ws-keep"], connection="cold"),
        dict(connection="lukewarm"),
        dict(repeats=0),
        dict(voices=[""]),
    ]
    for options in bad:
        options = {"texts": SHORT, **options}
        with pytest.raises(InvalidArgument):
            bench.run(target, progress=False, **options)
    with pytest.raises(InvalidArgument, match="target"):
        bench.run(object(), SHORT, progress=False)
    assert replay.received == []


def test_open_loop_schedule_with_an_injected_clock(replay):
    from tests.client.replay_server import Answer, tone

    replay.answers = [
        Answer([ttskit.audio.encode_pcm(tone(0.1), encoding="pcm_s16le")], content_type="audio/pcm")
    ]
    now = [1000.0]

    def clock() -> float:
        return now[0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    df = bench.run(
        (replay.base_url, "replay", "alice"),
        SHORT,
        repeats=1,
        warmup=0,
        rate=40.0,
        duration=1.0,
        seed=7,
        transports=["chunked"],
        progress=False,
        clock=clock,
        sleep=sleep,
    )
    rng = np.random.default_rng(7)
    expected = bench.poisson_schedule(40.0, 1.0, rng)
    np.testing.assert_allclose(df["scheduled_s"].to_numpy(), expected, rtol=0, atol=1e-9)
    failed = df.loc[~df["ok"], ["error", "error_message"]].to_dict("records")
    assert not failed
    assert len(replay.speech_requests) == len(expected)
    assert (df["loop"] == "open").all() and (df["rate"] == 40.0).all()
    assert df["concurrency"].isna().all()
    # The fake clock moves only when the dispatcher sleeps: a latency is its late start
    # plus whatever the dispatcher slept meanwhile, never less than the late start.
    assert (df["late_s"] >= -1e-9).all()
    assert (df["first_audio_s"] >= df["late_s"] - 1e-9).all()
    np.testing.assert_allclose(df["started_s"] - df["scheduled_s"], df["late_s"], atol=1e-9)
    assert df["repetition"].tolist() == [k // 2 for k in range(len(expected))]


def test_open_loop_latency_counts_from_the_scheduled_start(make_server):
    """One request in flight at a time, each held 0.2 s: later arrivals queue in the
    harness, and their latency includes the wait (no coordinated omission)."""
    server = make_server(workers=1)
    delay = 0.2
    target = bench.Target(
        server.base_url,
        "espeak",
        "en-us",
        headers={"x-ttskit-faults": f"first_audio_delay={delay}"},
    )
    df = bench.run(
        target,
        SHORT[:1],
        rate=50.0,
        duration=0.1,
        seed=3,
        warmup=0,
        max_in_flight=1,
        transports=["rest"],
        progress=False,
    )
    assert len(df) >= 3 and df["ok"].all()
    df = df.sort_values("scheduled_s").reset_index(drop=True)
    # Request k cannot start before the k earlier ones, each at least ``delay`` long, ended.
    for k in range(1, len(df)):
        assert df.loc[k, "started_s"] >= df.loc[0, "started_s"] + k * delay
        assert df.loc[k, "first_audio_s"] >= df.loc[k, "late_s"] + delay
        assert df.loc[k, "late_s"] >= k * delay - (
            df.loc[k, "scheduled_s"] - df.loc[0, "started_s"]
        )
    assert df["first_audio_s"].is_monotonic_increasing


@pytest.mark.parametrize("harness", HARNESSES)
def test_ctrl_c_keeps_the_rows_so_far(espeak_server, harness):
    calls = []

    def sleep(seconds: float) -> None:
        calls.append(seconds)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.warns(RuntimeWarning, match="interrupted"):
        df = bench.run(
            espeak_server.base_url,
            SHORT,
            rate=200.0,
            duration=1.0,
            warmup=0,
            transports=["rest"],
            harness=harness,
            progress=False,
            sleep=sleep,
        )
    assert df.attrs["bench"]["interrupted"] is True
    assert list(df.columns) == bench.COLUMNS
    assert len(df) <= 3


def test_the_switch_interval_is_lowered_for_a_run_and_restored(espeak_server):
    import sys
    import time

    from ttskit.bench.runner import SWITCH_INTERVAL_S

    seen = []

    def clock() -> float:
        seen.append(sys.getswitchinterval())
        return time.perf_counter()

    before = sys.getswitchinterval()
    assert before > SWITCH_INTERVAL_S  # Python's default, 5 ms
    bench.run(espeak_server.base_url, SHORT[:1], repeats=2, warmup=0, progress=False, clock=clock)
    assert SWITCH_INTERVAL_S in seen  # while the requests were out
    assert sys.getswitchinterval() == before
    # Interrupted, too.
    with pytest.warns(RuntimeWarning, match="interrupted"):
        bench.run(
            espeak_server.base_url,
            SHORT,
            rate=200.0,
            duration=1.0,
            warmup=0,
            progress=False,
            sleep=lambda seconds: (_ for _ in ()).throw(KeyboardInterrupt),
        )
    assert sys.getswitchinterval() == before


def test_builtin_texts_span_lengths_and_kinds():
    texts = bench.builtin_texts()
    lengths = texts["text"].str.len()
    assert lengths.min() < 20 and lengths.max() > 400
    assert {"numbers", "abbreviations", "question", "names"} <= set(texts["kind"])
    assert texts["text_id"].is_unique


def test_texts_from_a_file(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("One.\n\n  Two words.  \n", encoding="utf-8")
    frame = bench.read_texts(path)
    assert frame["text"].tolist() == ["One.", "Two words."]
    assert frame["text_id"].tolist() == ["lines:1", "lines:3"]
    assert isinstance(frame, pd.DataFrame)


def test_a_tuple_naming_another_model_does_not_take_the_clients_voice(espeak_server):
    from ttskit.bench.targets import resolve_targets

    client = ttskit.Client(espeak_server.base_url, model="espeak", voice="en-gb")
    own, other = resolve_targets([(client, "espeak", None), (client, "piper", None)])
    assert (own.model, own.voice) == ("espeak", "en-gb")
    assert (other.model, other.voice) == ("piper", None)  # asked of the server when run


LONGER = "Hello there, this is a longer sentence. And another one follows it here."


@pytest.mark.parametrize("harness", HARNESSES)
def test_an_interrupted_websocket_run_records_how_fast_speech_stopped(espeak_server, harness):
    # One delta every 50 ms, so that the utterance is still arriving when it is cancelled.
    target = bench.Target(
        espeak_server.base_url,
        "espeak",
        "en-us",
        headers={"x-ttskit-faults": "delta_delay=0.05"},
    )
    options = dict(repeats=2, warmup=0, transports=["ws", "ws-keep"], progress=False)
    whole = bench.run(target, [LONGER], harness=harness, **options)
    cut = bench.run(target, [LONGER], interrupt_after_s=0.1, harness=harness, **options)
    assert cut.attrs["bench"]["arguments"]["harness"] == harness  # measured where asked
    assert whole["ok"].all() and cut["ok"].all()
    assert whole["cancel_s"].isna().all() and whole["interrupt_after_s"].isna().all()
    assert (cut["interrupt_after_s"] == 0.1).all()
    assert (cut["cancel_s"] >= cut["first_audio_s"] + 0.1).all()
    assert (cut["stop_latency_s"] >= 0).all() and (cut["audio_after_cancel_s"] >= 0).all()
    for arrivals, cancel, stop in zip(
        cut["chunk_arrival_s"], cut["cancel_s"], cut["stop_latency_s"], strict=True
    ):
        assert max(arrivals) <= cancel + stop + 1e-9
    # The server stopped sending: far less audio than the whole utterance.
    assert cut["audio_s"].max() < whole["audio_s"].min() / 2


def test_interruption_is_for_websocket_runs_only(espeak_server):
    with pytest.raises(InvalidArgument, match="WebSocket"):
        bench.run(espeak_server.base_url, SHORT, transports=["sse"], interrupt_after_s=0.1)
    with pytest.raises(InvalidArgument, match="interrupt_after_s"):
        bench.run(espeak_server.base_url, SHORT, transports=["ws"], interrupt_after_s=-1)


def test_rows_say_how_they_were_measured(espeak_server):
    import requests
    import websockets

    df = bench.run(
        espeak_server.base_url,
        SHORT[:1],
        repeats=2,
        warmup=1,
        transports=["sse", "ws"],
        connection="warm",
        progress=False,
        harness="threads",  # the asyncio harness's rows: tests/bench/test_aio.py
    )
    http, ws = df[df["transport"] == "sse"], df[df["transport"] == "ws"]
    assert set(http["http_version"]) == {"HTTP/1.1"}
    assert set(http["client_library"]) == {"requests"}
    assert set(http["client_version"]) == {requests.__version__}
    assert set(ws["client_library"]) == {"websockets"}
    assert set(ws["client_version"]) == {websockets.__version__}
    # The warm-up opened the connection inside its clock; the requests after it did not.
    assert http["start_policy"].tolist() == ["includes_connect", "excludes_connect"] + [
        "excludes_connect"
    ]
    assert set(ws["start_policy"]) == {"includes_connect"}
    assert (df["worker"] == "main").all() and (df["clock_offset_s"] == 0).all()


def test_continuity_at_several_prebuffers(espeak_server):
    df = bench.run(
        espeak_server.base_url,
        SHORT[:1],
        repeats=1,
        warmup=0,
        prebuffer_s=[0.05, 0.5],
        progress=False,
    )
    extra = ["underrun_count_500ms", "underrun_total_s_500ms", "underrun_max_s_500ms"]
    assert list(df.columns) == [*bench.COLUMNS, *extra]
    first = df.iloc[0]
    assert first["prebuffer_s"] == 0.05
    expected = bench.underruns(
        first["chunk_arrival_s"],
        first["chunk_samples"],
        sample_rate=first["sample_rate"],
        prebuffer_s=0.5,
    )
    assert tuple(first[extra]) == pytest.approx(expected)
    assert first["first_payload_bytes"] == 2 * first["chunk_samples"][0]
    assert df.attrs["bench"]["arguments"]["prebuffer_s"] == [0.05, 0.5]
    for bad in (-0.1, [], [0.1, 0.1], "0.1"):
        with pytest.raises(InvalidArgument, match="prebuffer_s"):
            bench.run(espeak_server.base_url, SHORT, prebuffer_s=bad, progress=False)


def test_the_threaded_executor_alone_sends_a_block_at_its_times(replay):
    """execute.Threads without run(): an open-loop block on an injected clock."""
    import threading

    from tests.client.replay_server import Answer, tone
    from ttskit.bench.execute import Recorder, Settings, Threads
    from ttskit.bench.rows import Trial
    from ttskit.bench.transports import Target

    replay.answers = [
        Answer([ttskit.audio.encode_pcm(tone(0.1), encoding="pcm_s16le")], content_type="audio/pcm")
    ]
    now = [50.0]
    settings = Settings(
        targets=[Target(replay.base_url, "replay", "alice")],
        loop="open",
        clock=lambda: now[0],
        sleep=lambda seconds: now.__setitem__(0, now[0] + seconds),
    )
    recorder = Recorder(settings, origin=40.0)
    threads = Threads(settings, workers=1, stop=threading.Event())
    trials = [(at, Trial(0, "alice", "t0", "short", "Hi.", k)) for k, at in enumerate([0.5, 1.25])]
    try:
        threads.block(recorder, "chunked", 2.0, 1, trials, start_at=60.0)
    finally:
        threads.close()
    rows = sorted(recorder.timed.rows, key=lambda r: r["scheduled_s"])
    assert [r["scheduled_s"] for r in rows] == [20.5, 21.25]
    assert all(r["ok"] for r in rows) and len(replay.speech_requests) == 2
    assert recorder.timed.cpu_s > 0


def test_openai_sse_reads_speech_audio_delta_events(replay):
    import base64
    import json

    from tests.client.replay_server import Answer, tone

    pcm = ttskit.audio.encode_pcm(tone(0.3), encoding="pcm_s16le")
    events = [
        b"data: %s\n\n"
        % json.dumps(
            {"type": "speech.audio.delta", "audio": base64.b64encode(pcm[i : i + 2400]).decode()}
        ).encode()
        for i in range(0, len(pcm), 2400)
    ] + [b'data: {"type": "speech.audio.done"}\n\n']
    replay.answers = [Answer(events, content_type="text/event-stream")]
    df = bench.run(
        (replay.base_url, "replay", "alice"),
        SHORT[:1],
        repeats=1,
        warmup=0,
        transports=["openai-sse"],
        progress=False,
    )
    body = replay.speech_requests[-1].body
    assert body["stream_format"] == "sse" and body["response_format"] == "pcm"
    assert "stream" not in body
    row = df.iloc[0]
    assert row["ok"], row["error_message"]
    assert row["chunks"] == len(events) - 1
    assert row["audio_s"] == pytest.approx(len(pcm) / 2 / 24000)
