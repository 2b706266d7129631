"""Fixtures of the benchmark tests: real servers on loopback, and a recorder of sleeps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client.replay_server import ReplayServer

SHORT = ["Hello there.", "Yes, of course."]


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    """A loopback HTTP server answering with the answers a test queues."""
    server = ReplayServer()
    yield server
    server.close()


class Sleeps:
    """An injectable ``sleep`` that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()
