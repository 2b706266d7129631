"""Fixtures of the client tests: a replay server for canned answers, and clients of the
real local servers that tests/conftest.py starts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ttskit.client import Client
from ttskit.server.background import LocalServer

from .replay_server import ReplayServer


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    """A loopback HTTP server answering with the answers a test queues."""
    server = ReplayServer()
    yield server
    server.close()


@pytest.fixture
def espeak_client(espeak_server: LocalServer) -> Iterator[Client]:
    """A client of the shared eSpeak server."""
    with Client(espeak_server.base_url, timeout=30) as client:
        yield client


class Sleeps:
    """An injectable ``sleep`` that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()
