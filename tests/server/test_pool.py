"""Synthesis slots: a bounded queue, 429 when full, and work stopped when a client leaves."""

from __future__ import annotations

import json
import socket
import threading

import pytest
import requests

from ttskit.engines import load_engine
from ttskit.server import FAULTS_HEADER, create_app
from ttskit.server.background import LocalServer

from .helpers import (
    assert_error,
    busy_slots,
    speech_body,
    sse_payloads,
    stream_audio,
)

LONG_TEXT = " ".join(f"This is sentence number {n} of a long text." for n in range(40))
# Slows the reading of a stream, so that its synthesis (a few segments ahead) holds its slot.
SLOW = {FAULTS_HEADER: "delta_delay=0.05"}


def _health(server) -> dict:
    return requests.get(f"{server.url}/health", timeout=10).json()["models"]["espeak"]


def _poll_until(condition, polls: int = 2000) -> None:
    """Ask until ``condition()`` holds; each ask is a round trip to the server, so this
    waits for the server's own progress, with no clock and no sleep."""
    for _ in range(polls):
        if condition():
            return
    raise AssertionError(f"condition not reached after {polls} polls")


class WatchedEngine:
    """A real engine that tells the test how much it made and when its synthesis ended.

    The events replace wall-clock bounds: "synthesis stopped" is ``finished`` being set
    with fewer segments made than the text has.
    """

    def __init__(self, name: str) -> None:
        self._engine = load_engine(name)
        self.model = self._engine.model
        self.sample_rate = self._engine.sample_rate
        self.segments_made = 0
        self.started = threading.Event()
        self.finished = threading.Event()

    def voices(self):
        return self._engine.voices()

    def synthesize(self, text, *, voice, speed=1.0):
        segments = self._engine.synthesize(text, voice=voice, speed=speed)

        def watched():
            try:
                for segment in segments:
                    self.segments_made += 1
                    self.started.set()
                    yield segment
            finally:
                self.finished.set()

        return watched()


@pytest.fixture
def watched_espeak():
    engine = WatchedEngine("espeak")
    with LocalServer(create_app({"espeak": [engine]}, queue=1, allow_fault_header=True)) as server:
        yield server, engine


class _SlowStream:
    """A stream whose first event has been read, and nothing more until ``close``."""

    def __init__(self, server) -> None:
        self.response = requests.post(
            f"{server.base_url}/audio/speech",
            json=speech_body(input=LONG_TEXT, stream=True),
            headers=SLOW,
            stream=True,
            timeout=30,
        )
        assert self.response.status_code == 200
        # Kept: dropping a half-read line iterator makes urllib3 close the connection.
        self.lines = self.response.iter_lines()
        next(self.lines)

    def close(self) -> None:
        self.response.close()


@pytest.fixture
def one_slot_server(make_server):
    return make_server(workers=1, queue=1)


def test_429_when_slots_and_queue_are_full(one_slot_server):
    server = one_slot_server
    holder = _SlowStream(server)
    waiter_result = {}

    def wait_in_queue() -> None:
        waiter_result["response"] = requests.post(
            f"{server.base_url}/audio/speech", json=speech_body(input="Queued."), timeout=60
        )

    waiter = threading.Thread(target=wait_in_queue)
    waiter.start()
    _poll_until(lambda: _health(server)["queued"] == 1)

    refused = requests.post(f"{server.base_url}/audio/speech", json=speech_body(), timeout=10)
    assert_error(refused, 429, code="rate_limit_exceeded")
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["x-request-id"].startswith("req_")

    holder.close()
    waiter.join(30)
    assert waiter_result["response"].status_code == 200
    assert waiter_result["response"].headers["x-ratelimit-limit"] == "2"
    _poll_until(lambda: busy_slots(server, "espeak") == 0)


def test_queued_client_that_leaves_frees_its_place(one_slot_server):
    server = one_slot_server
    holder = _SlowStream(server)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(f"{server.base_url}/audio/speech", json=speech_body(), timeout=(5, 0.3))
    _poll_until(lambda: _health(server)["queued"] == 0)
    holder.close()
    _poll_until(lambda: busy_slots(server, "espeak") == 0)


def test_disconnect_stops_a_stream(watched_espeak):
    server, engine = watched_espeak
    response = _SlowStream(server)
    # Unread, the stream would keep its slot for 40 sentences x ~25 deltas x 50 ms.
    assert busy_slots(server, "espeak") == 1
    response.close()
    assert engine.finished.wait(30)
    assert engine.segments_made < 40  # a few segments ahead of the reader, no more
    # The slot serves the next request.
    assert requests.post(f"{server.base_url}/audio/speech", json=speech_body(), timeout=30).ok


@pytest.fixture(scope="module")
def watched_piper():
    pytest.importorskip("piper")
    engine = WatchedEngine("piper")
    with LocalServer(create_app({"piper": [engine]}, allow_fault_header=True)) as server:
        yield server, engine


def test_disconnect_stops_piper_synthesis(watched_piper):
    server, engine = watched_piper
    engine.finished.clear()
    text = " ".join([LONG_TEXT] * 2)
    body = speech_body(model="piper", voice="joe", input=text, stream=True)
    with requests.post(f"{server.base_url}/audio/speech", json=body, stream=True, timeout=60) as r:
        next(r.iter_lines())
        assert busy_slots(server, "piper") == 1
    # The sentence in progress finishes; the rest (a minute of speech) is never made.
    assert engine.finished.wait(60)
    assert engine.segments_made < 80
    _poll_until(lambda: busy_slots(server, "piper") == 0)


def test_disconnect_stops_a_non_streamed_request(watched_piper):
    server, engine = watched_piper
    engine.finished.clear()
    engine.started.clear()
    made_before = engine.segments_made
    body = speech_body(model="piper", voice="joe", input=" ".join([LONG_TEXT] * 2))
    # A client that gives up: the request is sent, and the socket closed once synthesis
    # has begun.
    payload = json.dumps(body).encode()
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        assert engine.started.wait(60)
    assert engine.finished.wait(60)
    assert engine.segments_made - made_before < 80
    _poll_until(lambda: busy_slots(server, "piper") == 0)


def test_concurrent_requests_all_served(espeak_server):
    results = []

    def speak(n: int) -> None:
        response = requests.post(
            f"{espeak_server.base_url}/audio/speech",
            json=speech_body(input=f"Request number {n}.", stream=n % 2 == 0),
            timeout=60,
        )
        results.append(response.status_code)

    threads = [threading.Thread(target=speak, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [200] * 8


def test_websocket_disconnect_stops_synthesis(watched_espeak):
    from websockets.sync.client import connect

    server, engine = watched_espeak
    with connect(server.websocket_url + "?segment=never", additional_headers=SLOW) as ws:
        ws.recv(timeout=10)
        ws.send(json.dumps({"type": "input_text_buffer.append", "text": LONG_TEXT}))
        ws.send(json.dumps({"type": "input_text_buffer.commit"}))
        while "audio_output.delta" not in ws.recv(timeout=10):
            pass
        assert busy_slots(server, "espeak") == 1
    assert engine.finished.wait(30)
    assert engine.segments_made < 40


def test_slots_of_a_model_share_their_cores():
    from ttskit.engines.espeak import EspeakEngine
    from ttskit.server.registry import Registry

    class SharingEngine(EspeakEngine):
        groups: list[list[EspeakEngine]] = []

        @staticmethod
        def share_cores(engines):
            SharingEngine.groups.append(list(engines))

    pair = [SharingEngine(), SharingEngine()]
    Registry({"espeak": pair, "solo": [SharingEngine()]}, queue_size=1)
    # A lone slot has no one to share with.
    assert SharingEngine.groups == [pair]


def test_concurrent_piper_streams_sharing_cores_all_get_their_audio(piper_server):
    texts = [f"Stream {n} says hello. Then it says goodbye." for n in range(3)]
    results = {}

    def speak(text: str) -> None:
        body = speech_body(model="piper", voice="joe", input=text, stream=True)
        response = requests.post(f"{piper_server.base_url}/audio/speech", json=body, timeout=60)
        results[text] = stream_audio(sse_payloads(response))

    threads = [threading.Thread(target=speak, args=(text,)) for text in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # Two slots, three streams: one waited its turn, and all spoke both sentences.
    assert sorted(results) == sorted(texts)
    assert all(len(samples) / 24_000 > 2.0 for samples in results.values())


def test_queue_deadline_and_retry_after_from_the_slot_deadline():
    import asyncio

    from ttskit.server.pool import QueueTimeout, SlotPool

    now = [100.0]
    pool = SlotPool([object()], queue_size=2, hold_seconds=60.0, clock=lambda: now[0])

    async def scenario() -> None:
        engine = await pool.acquire()
        now[0] += 20.0  # the holder has had its slot for 20 s of its 60
        with pytest.raises(QueueTimeout) as waited:
            await pool.acquire(timeout=0.01)
        assert waited.value.retry_after == 40
        assert pool.queued == 0  # the waiter that gave up left the queue
        pool.release(engine)
        assert await pool.acquire(timeout=0.01) is engine
        assert pool.retry_after() == 60

    asyncio.run(scenario())
