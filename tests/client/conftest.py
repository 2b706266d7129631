"""Fixtures of the client tests: a replay server for canned answers, an OpenAI-only server,
WebSocket servers that misbehave, clients of the real local servers that tests/conftest.py
starts, an injectable clock and sleep, and ``make_client``, which runs a test once with
``Client`` and once with ``AsyncClient``."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.sync.server import ServerConnection, serve

from ttskit.client import AsyncClient, Client
from ttskit.server.background import LocalServer

from .openai_server import openai_only_server
from .replay_server import ReplayServer


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    """A loopback HTTP server answering with the answers a test queues."""
    server = ReplayServer()
    yield server
    server.close()


@pytest.fixture
def ws_server() -> Iterator[Callable[[Callable[[ServerConnection], None]], str]]:
    """Serves a WebSocket handler on loopback; returns the base URL of the session."""
    servers = []

    def start(handler: Callable[[ServerConnection], None]) -> str:
        server = serve(handler, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.socket.getsockname()[1]}/v1"

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture(scope="session")
def openai_server() -> Iterator[LocalServer]:
    """A server that speaks only OpenAI's dialect (``openai_server.py``)."""
    server = openai_only_server()
    yield server
    server.stop()


@pytest.fixture
def espeak_client(espeak_server: LocalServer) -> Iterator[Client]:
    """A client of the shared eSpeak server."""
    with Client(espeak_server.base_url, timeout=30) as client:
        yield client


class ManualClock:
    """An injectable clock that shows what the test sets, and moves on only when told (or
    by ``step`` at each reading)."""

    def __init__(self, now: float = 1000.0, step: float = 0.0) -> None:
        self.now = now
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class Sleeps:
    """An injectable ``sleep`` that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


# --- one test body, two clients -------------------------------------------------------------


class Blocking:
    """An object of the async client driven from plain test code, called as its sync twin.

    Coroutines run to their end on ``runner``, an ``asyncio.Runner``: a Ctrl-C meanwhile
    cancels the coroutine and then raises ``KeyboardInterrupt``, as under ``asyncio.run``.
    What is entered with ``async with`` is entered with ``with``, what is iterated with
    ``async for`` is iterated with ``for``; results that are themselves async objects (a
    stream, a session) are wrapped in turn.
    """

    def __init__(self, target: Any, runner: asyncio.Runner) -> None:
        self._target = target
        self._runner = runner

    def _run(self, awaitable: Any) -> Any:
        async def wait() -> Any:
            return await awaitable

        return self._runner.run(awaitable if inspect.iscoroutine(awaitable) else wait())

    def _wrap(self, value: Any) -> Any:
        if inspect.isawaitable(value) and not hasattr(value, "__aenter__"):
            value = self._run(value)
        if hasattr(value, "__aenter__") or hasattr(value, "__aiter__"):
            return Blocking(value, self._runner)
        return value

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value
        return lambda *args, **kwargs: self._wrap(value(*args, **kwargs))

    def __enter__(self) -> Any:
        return self._wrap(self._run(self._target.__aenter__()))

    def __exit__(self, *exc_info: Any) -> None:
        self._run(self._target.__aexit__(*exc_info))

    def __iter__(self) -> Iterator[Any]:
        events = self._target.__aiter__()
        while True:
            try:
                yield self._run(events.__anext__())
            except StopAsyncIteration:
                return

    def __repr__(self) -> str:
        return f"Blocking({self._target!r})"


@pytest.fixture(params=["Client", "AsyncClient"])
def make_client(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Makes a ``Client``, or an ``AsyncClient`` called the same way (``Blocking``): a test
    that uses it runs once with each, so that both clients give the same results and
    errors. Clients are closed after the test."""
    closers: list[Callable[[], None]] = []
    runner = asyncio.Runner() if request.param == "AsyncClient" else None

    def make(*args: Any, **kwargs: Any) -> Any:
        if runner is None:
            client = Client(*args, **kwargs)
            closers.append(client.close)
            return client
        client = AsyncClient(*args, **kwargs)
        closers.append(lambda: runner.run(client.aclose()))
        return Blocking(client, runner)

    yield make
    for close in closers:
        close()
    if runner is not None:
        runner.close()
