"""No client can starve the server: stalled readers, delayed streams and half-sent requests
lose what they hold, and a well-behaved request is served.

Servers here have small deadlines so that the tests are quick; every wait is on a socket
or an HTTP answer, bounded only by a generous client timeout that fails the test.
"""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest
import requests

from ttskit.server import FAULTS_HEADER
from ttskit.server.limits import Limits

from ..server.helpers import assert_error, speech_body
from .clients import LONG_TEXT, HalfSentRequest, StalledClient

# Stalled clients are found within a second; queued requests would wait half a minute.
QUICK = Limits(
    header_timeout=0.5,
    body_timeout=0.5,
    write_timeout=0.5,
    synthesis_timeout=3.0,
    queue_timeout=30.0,
)


def _health(server) -> dict:
    return requests.get(f"{server.url}/health", timeout=10).json()["models"]["espeak"]


def _until(condition) -> None:
    """Wait for a server-side condition, polling /health (each poll is a request)."""
    for _ in range(3000):
        if condition():
            return
        time.sleep(0.01)
    pytest.fail("the server never reached the condition")


class Victim(threading.Thread):
    """A well-behaved request, sent when started, with its answer and its latency."""

    def __init__(self, server) -> None:
        super().__init__()
        self.server = server
        self.response: requests.Response | None = None
        self.seconds = 0.0

    def run(self) -> None:
        started = time.perf_counter()
        self.response = requests.post(
            f"{self.server.base_url}/audio/speech",
            json=speech_body(input="I am served."),
            timeout=120,
        )
        self.seconds = time.perf_counter() - started


@pytest.mark.parametrize("n_stalled", [2, 4])
def test_stalled_readers_lose_their_slots(make_server, caplog, n_stalled):
    server = make_server(workers=2, queue=8, limits=QUICK)
    with caplog.at_level(logging.INFO):
        stalled = [StalledClient(server.port) for _ in range(n_stalled)]
        try:
            # The first two hold both slots once their headers are in; the others queue.
            for client in stalled[:2]:
                assert client.read_head().startswith(b"HTTP/1.1 200 ")
            _until(lambda: _health(server)["queued"] == n_stalled - 2)
            victim = Victim(server)
            victim.start()
            victim.join()
            assert victim.response is not None and victim.response.status_code == 200
            # With two slots the victim may be served while one stalled client still holds
            # the other; that one loses it too, since nobody reads it.
            _until(lambda: _health(server)["busy"] == 0)
            for client in stalled:
                rest, closed = client.drain()
                assert closed and b"[DONE]" not in client.head + rest
        finally:
            for client in stalled:
                client.close()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("took no data" in r.getMessage() for r in caplog.records)


def test_delayed_streams_lose_their_slots_at_the_synthesis_deadline(make_server):
    # The attack of a fault header on a server that allows it: audio held back for 600 s.
    server = make_server(workers=2, limits=QUICK, allow_fault_header=True)
    delayed = [
        requests.post(
            f"{server.base_url}/audio/speech",
            json=speech_body(input=LONG_TEXT, stream=True),
            headers={FAULTS_HEADER: "first_audio_delay=600"},
            stream=True,
            timeout=120,
        )
        for _ in range(2)
    ]
    try:
        assert [response.status_code for response in delayed] == [200, 200]
        assert _health(server)["busy"] == 2
        victim = Victim(server)
        victim.start()
        victim.join()
        assert victim.response is not None and victim.response.status_code == 200
    finally:
        for response in delayed:
            response.close()


def test_a_queued_request_gets_503_with_retry_after_at_its_deadline(make_server):
    server = make_server(
        workers=1, allow_fault_header=True, limits=Limits(queue_timeout=0.3, synthesis_timeout=60)
    )
    holder = requests.post(
        f"{server.base_url}/audio/speech",
        json=speech_body(input=LONG_TEXT, stream=True),
        headers={FAULTS_HEADER: "first_audio_delay=600"},
        stream=True,
        timeout=120,
    )
    try:
        assert holder.status_code == 200
        refused = requests.post(f"{server.base_url}/audio/speech", json=speech_body(), timeout=60)
        error = assert_error(refused, 503, code="overloaded")
        assert "0.3 s" in error["message"]
        # The slot is held until the holder's synthesis deadline, about a minute away.
        assert 30 <= int(refused.headers["Retry-After"]) <= 60
    finally:
        holder.close()


def test_a_synthesis_past_its_deadline_ends_with_an_error_event(make_server):
    server = make_server(workers=1, allow_fault_header=True, limits=Limits(synthesis_timeout=0.5))
    response = requests.post(
        f"{server.base_url}/audio/speech",
        json=speech_body(input=LONG_TEXT, stream=True),
        headers={FAULTS_HEADER: "first_audio_delay=1"},
        timeout=60,
    )
    last = response.text.strip().split("\n\n")[-1]
    assert last.startswith("data: {")
    assert json.loads(last[len("data: ") :])["error"]["code"] == "synthesis_timeout"
    assert _health(server)["busy"] == 0


# --- slowloris ------------------------------------------------------------------------------

HALF_SENT = {
    "part of the request line": (b"POST /v1/audio/spe", 408),
    "headers without their end": (b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Le", 408),
    "part of the body": (
        b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"model": "espeak", ',
        408,
    ),
    "nothing at all": (b"", None),
}


@pytest.mark.parametrize("part, status", HALF_SENT.values(), ids=list(HALF_SENT))
def test_half_sent_requests_are_closed(make_server, part, status):
    server = make_server(limits=QUICK)
    connection = HalfSentRequest(server.port, part)
    try:
        answer = connection.answer()
    finally:
        connection.close()
    if status is None:
        assert answer == b""
        return
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), answer[:100]
    assert json.loads(body)["error"]["code"] == "request_timeout"


def test_a_kept_alive_connection_must_finish_its_next_request_in_time(make_server):
    server = make_server(limits=QUICK)
    request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    connection = HalfSentRequest(server.port, request + request[:10])
    try:
        answer = connection.answer()
    finally:
        connection.close()
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"HTTP/1.1 408 " in answer


def test_many_half_sent_requests_do_not_stop_the_server(make_server):
    server = make_server(limits=QUICK)
    connections = [HalfSentRequest(server.port, b"GET /health HTTP/1.1\r\nHo") for _ in range(50)]
    try:
        assert requests.post(
            f"{server.base_url}/audio/speech", json=speech_body(input="Still here."), timeout=30
        ).ok
        answers = [connection.answer() for connection in connections]
    finally:
        for connection in connections:
            connection.close()
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers)


def test_a_websocket_that_stops_reading_loses_its_slot(make_server, caplog):
    from urllib.parse import urlencode

    from websockets.sync.client import connect

    server = make_server(workers=1, limits=QUICK)
    query = urlencode({"segment": "never", "sample_rate": 48000})
    # max_queue=1: the client stops reading its socket as soon as one message waits.
    with (
        caplog.at_level(logging.INFO),
        connect(f"{server.websocket_url}?{query}", max_queue=1, close_timeout=1) as stalled,
    ):
        stalled.send(json.dumps({"type": "input_text_buffer.append", "text": LONG_TEXT}))
        stalled.send(json.dumps({"type": "input_text_buffer.commit"}))
        _until(lambda: _health(server)["busy"] == 1)
        victim = Victim(server)
        victim.start()
        victim.join()
        assert victim.response is not None and victim.response.status_code == 200
    assert any("took no data" in r.getMessage() for r in caplog.records)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
