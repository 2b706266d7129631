"""Streams of speech events built from numpy tones, and a recorder of widget messages."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from ttskit import audio
from ttskit.results import AudioChunk, WordTimestamps, words_frame

SAMPLE_RATE = 22050
CHUNK_S = 0.1


def tone_chunks(n: int) -> list[np.ndarray]:
    """``n`` distinct tones of ``CHUNK_S`` seconds, one per chunk."""
    return [
        audio.sine(200.0 + 50.0 * i, duration=CHUNK_S, sample_rate=SAMPLE_RATE) for i in range(n)
    ]


def events(n: int, *, pause_s: float = 0.0) -> Iterator[AudioChunk | WordTimestamps]:
    """``n`` chunks, each followed by the timestamp of the one word it holds."""
    started = time.perf_counter()
    for i, samples in enumerate(tone_chunks(n)):
        time.sleep(pause_s)
        start = i * CHUNK_S
        yield AudioChunk(samples, SAMPLE_RATE, time.perf_counter() - started, start)
        words = words_frame([f"word{i}"], [start + 0.01], [start + CHUNK_S - 0.01])
        yield WordTimestamps(words, time.perf_counter() - started)


class Recorder:
    """Stands in for the comm: keeps every custom message a widget sends."""

    def __init__(self) -> None:
        self.messages: list[tuple[dict, list[bytes]]] = []

    def send(self, content, buffers=None) -> None:
        self.messages.append((content, list(buffers or [])))

    def of_type(self, kind: str) -> list[tuple[dict, list[bytes]]]:
        return [(c, b) for c, b in self.messages if c["type"] == kind]


@pytest.fixture
def sent(monkeypatch) -> Recorder:
    from ttskit.widgets.player import Player

    recorder = Recorder()
    monkeypatch.setattr(
        Player, "send", lambda widget, *args, **kwargs: recorder.send(*args, **kwargs)
    )
    return recorder
