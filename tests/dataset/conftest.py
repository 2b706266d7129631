"""Fixtures of the dataset tests: clients of the real eSpeak server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import ttskit

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
