"""Speech from the local servers' engines, and scorers loaded once for the module."""

from __future__ import annotations

import pytest

import ttskit

pytest.importorskip("faster_whisper", reason="needs pip install 'ttskit[quality]'")

SENTENCE = "Where did you park the car this morning?"


@pytest.fixture(scope="session")
def piper_client(piper_server):
    with ttskit.Client(piper_server.base_url, model="piper", voice="joe") as client:
        yield client


@pytest.fixture(scope="session")
def espeak_client(espeak_server):
    with ttskit.Client(espeak_server.base_url, model="espeak", voice="en-us") as client:
        yield client


@pytest.fixture(scope="session")
def piper_speech(piper_client):
    return piper_client.speak(SENTENCE, alignment="word")


@pytest.fixture(scope="session")
def scorer():
    from ttskit import quality

    return quality.Scorer()
