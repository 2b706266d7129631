"""Fixtures of the dataset tests: clients of the real eSpeak server on loopback."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

import ttskit
from ttskit.server.app import build_app
from ttskit.server.background import LocalServer

TEXTS = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
]
VOICES = ["en-us", "en-us+f2"]


@pytest.fixture
def client(espeak_server) -> Iterator[ttskit.Client]:
    """A client of the shared eSpeak server."""
    with ttskit.Client(espeak_server.base_url, model="espeak", timeout=30) as made:
        yield made


def options(**overrides):
    """generate() options for tests: quiet, and no waiting between retries."""
    return {"progress": False, "retry_backoff": 0.0, "workers": 2, **overrides}


class CountingApp:
    """An ASGI app in front of a ttskit server's app that counts the speech requests it
    receives, by text: what reached the server, whatever the client says."""

    def __init__(self, app) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/audio/speech"):
            await self.app(scope, receive, send)
            return
        messages, body = [], b""
        while True:
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.counts[json.loads(body)["input"]] += 1
        pending = iter(messages)

        async def replay():
            return next(pending, None) or await receive()

        await self.app(scope, replay, send)


@pytest.fixture
def counting_server() -> Iterator[Callable[..., tuple[LocalServer, CountingApp]]]:
    """A factory of eSpeak servers (``build_app`` options) that count what they receive."""
    servers: list[LocalServer] = []

    def make(**app_options) -> tuple[LocalServer, CountingApp]:
        app_options.setdefault("allow_fault_header", True)
        counting = CountingApp(build_app("espeak", workers=1, **app_options))
        servers.append(LocalServer(counting).start())
        return servers[-1], counting

    yield make
    for server in servers:
        server.stop()
