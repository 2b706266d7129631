"""Real ttskit servers on loopback, shared by the test modules.

Every server here is ``ttskit.server.background.LocalServer``: uvicorn on a background thread on
127.0.0.1 and a port the OS picks. Tests talk to them over HTTP and WebSocket only.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator

import pytest

from ttskit.server.background import LocalServer, start_server

API_KEY = "test-key-1234"
HOSTED_MODEL = "canopylabs/orpheus-3b-0.1-ft"


@pytest.fixture(autouse=True)
def _no_endpoint_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their endpoint: a TOGETHER_API_KEY or TTSKIT_BASE_URL exported in the
    shell that runs them must not send them elsewhere. A test that wants one sets it."""
    monkeypatch.delenv("TTSKIT_BASE_URL", raising=False)
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)


def _serve(**options) -> Iterator[LocalServer]:
    server = start_server(**options)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def espeak_server() -> Iterator[LocalServer]:
    """eSpeak with two slots, the defaults otherwise, and a hosted id aliased to it."""
    yield from _serve(engine="espeak", workers=2, aliases={HOSTED_MODEL: "espeak"})


@pytest.fixture(scope="session")
def piper_server() -> Iterator[LocalServer]:
    """Piper with two one-thread slots, as ``ttskit serve --engine piper`` runs it."""
    if importlib.util.find_spec("piper") is None:
        pytest.skip("piper-tts is not installed")
    yield from _serve(engine="piper", workers=2, aliases={HOSTED_MODEL: "piper"})


@pytest.fixture(scope="session")
def auth_server() -> Iterator[LocalServer]:
    """eSpeak behind the API key ``API_KEY``."""
    yield from _serve(engine="espeak", workers=1, api_key=API_KEY)


@pytest.fixture
def make_server() -> Iterator[Callable[..., LocalServer]]:
    """A factory of servers with their own options, stopped after the test."""
    servers: list[LocalServer] = []

    def make(**options) -> LocalServer:
        options.setdefault("engine", "espeak")
        options.setdefault("workers", 1)
        server = start_server(**options)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
