"""Connections cannot exhaust the server: idle sessions and sockets are bounded, per client
address and overall, below the descriptor limit; /health answers throughout; the log
stays short.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
import websockets

from ttskit.server import build_app
from ttskit.server.connections import ConnectionBudget
from ttskit.server.http import server_config
from ttskit.server.limits import Limits
from ttskit.server.logs import SummarizingFilter

from ..server.helpers import assert_error, speech_body
from .descriptors import descriptor_case, held_open


def test_idle_sessions_and_sockets_leave_room_for_others():
    # The short version of `make soak`'s case: 256 descriptors, 300 idle sessions and 50
    # silent sockets from 127.0.0.2; without a bound the server ran out of descriptors,
    # /health went unanswered and the log grew by thousands of lines a second.
    figures = descriptor_case(descriptors=256, sessions=300, sockets=50, probes=3)
    assert figures.statuses == [200] * 6
    assert figures.held.sessions["101"] > 0  # idle clients get their share ...
    assert figures.held.sessions["503"] > 0  # ... and no more
    assert set(figures.held.sessions) <= {"101", "503"}
    assert figures.log_lines < 100


@contextmanager
def _bounded_server(budget: ConnectionBudget) -> Iterator[tuple[str, int]]:
    import uvicorn

    app = build_app("espeak", workers=1)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(server_config(app, budget=budget, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        for _ in range(3000):
            if server.started:
                break
            threading.Event().wait(0.01)
        yield f"http://127.0.0.1:{port}", port
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


def test_beyond_the_bound_only_health_is_answered():
    budget = ConnectionBudget(4, per_client=4, spare=4)
    with _bounded_server(budget) as (url, port):
        with held_open(port, sessions=4, sockets=0) as held:
            assert held.sessions == {"101": 4}
            assert budget.served == 4
            health = requests.get(f"{url}/health", timeout=30)
            assert health.status_code == 200 and health.json()["status"] == "ok"
            refused = requests.post(f"{url}/v1/audio/speech", json=speech_body(), timeout=30)
            assert_error(refused, 503, code="too_many_connections")
            assert refused.headers["Retry-After"] == "1"
            with pytest.raises(websockets.InvalidStatus) as caught:
                asyncio.run(_handshake(port))
            assert caught.value.response.status_code == 503
        # The sessions are gone, and so is the bound.
        for _ in range(3000):
            if budget.open == 0:
                break
            threading.Event().wait(0.01)
        served = requests.post(f"{url}/v1/audio/speech", json=speech_body(), timeout=30)
        assert served.status_code == 200


def test_one_client_address_gets_a_share():
    budget = ConnectionBudget(6, per_client=3, spare=4)
    with _bounded_server(budget) as (url, port), held_open(port, sessions=5, sockets=0) as held:
        assert held.sessions == {"101": 3, "503": 2}
        served = requests.post(f"{url}/v1/audio/speech", json=speech_body(), timeout=30)
        assert served.status_code == 200


async def _handshake(port: int) -> dict:
    uri = f"ws://127.0.0.1:{port}/v1/audio/speech/websocket?model=espeak"
    async with websockets.connect(uri, open_timeout=30) as ws:
        return json.loads(await ws.recv())


def test_a_silent_websocket_session_is_closed_after_its_idle_timeout(make_server):
    server = make_server(limits=Limits(ws_idle_timeout=0.3))

    async def session() -> tuple[dict, websockets.ConnectionClosed]:
        uri = f"ws://127.0.0.1:{server.port}/v1/audio/speech/websocket?model=espeak"
        async with websockets.connect(uri, open_timeout=30) as ws:
            created = json.loads(await ws.recv())
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 30)
            return created, closed.value

    created, closed = asyncio.run(session())
    assert created["type"] == "session.created"
    assert created["session"]["idle_timeout"] == 0.3
    assert closed.rcvd is not None and closed.rcvd.code == 1000
    assert closed.rcvd.reason == "idle"


def test_a_session_in_use_is_not_idle(make_server):
    server = make_server(limits=Limits(ws_idle_timeout=0.3))

    async def session() -> list[str]:
        uri = f"ws://127.0.0.1:{server.port}/v1/audio/speech/websocket?model=espeak"
        types = []
        async with websockets.connect(uri, open_timeout=30) as ws:
            await ws.recv()
            # Each frame starts the wait again; the last one is answered with speech.
            for word in ["One", "two", "three."]:
                await ws.send(json.dumps({"type": "input_text_buffer.append", "text": word}))
                types.append(json.loads(await asyncio.wait_for(ws.recv(), 30))["type"])
            await ws.send(json.dumps({"type": "input_text_buffer.commit"}))
            while "context.done" not in types:
                types.append(json.loads(await asyncio.wait_for(ws.recv(), 30))["type"])
        return types

    types = asyncio.run(session())
    assert "conversation.item.audio_output.delta" in types


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _record(message: str, *args, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("asyncio", level, __file__, 1, message, args, None)


def test_repeated_records_pass_once_per_interval_with_a_count():
    clock = _Clock()
    summarize = SummarizingFilter(10.0, clock=clock)
    passed = [summarize.filter(_record("accept failed: %s", n)) for n in range(1000)]
    assert passed == [True] + [False] * 999
    assert summarize.filter(_record("another kind"))
    clock.now = 10.0
    summary = _record("accept failed: %s", 1000)
    assert summarize.filter(summary)
    assert summary.getMessage() == "accept failed: 1000 (and 999 more like it in the last 10 s)"
    assert not summarize.filter(_record("accept failed: %s", 1001))


def test_records_below_the_level_pass_as_they_come():
    summarize = SummarizingFilter(10.0, level=logging.WARNING, clock=_Clock())
    assert all(summarize.filter(_record("hello", level=logging.INFO)) for _ in range(5))
