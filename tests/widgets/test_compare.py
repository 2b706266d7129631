"""compare: one cell per speech or voice, labelled, with duration and TTFB."""

from __future__ import annotations

import pytest

from ttskit import audio
from ttskit.errors import InvalidArgument
from ttskit.results import Speech, Timing
from ttskit.widgets import Comparison, SpeechView, compare


def tone(voice: str, duration: float = 0.5) -> Speech:
    return Speech(
        audio=audio.sine(220.0, duration=duration, sample_rate=16000),
        sample_rate=16000,
        voice=voice,
        timing=Timing(first_audio_s=0.02),
    )


class SpeakingClient:
    """Answers ``speak`` with a tone per voice and remembers what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def speak(self, text: str, *, voice: str, alignment: str) -> Speech:
        self.calls.append((text, voice, alignment))
        return tone(voice, duration=0.25 * len(self.calls))


def test_one_cell_per_speech():
    grid = compare([tone("a"), tone("b"), tone("c"), tone("d")])
    assert isinstance(grid, Comparison)
    assert len(grid.children) == 4
    assert all(isinstance(cell, SpeechView) for cell in grid.children)
    assert [cell.title for cell in grid.children] == ["a", "b", "c", "d"]
    assert grid.layout.grid_template_columns == "repeat(3, minmax(0, 1fr))"
    assert repr(grid).startswith("Comparison('a' 0.50 s ttfb 20 ms, 'b' 0.50 s ttfb 20 ms")


def test_mapping_keys_label_the_cells():
    grid = compare({"local": tone("x"), "hosted": tone("x")}, columns=1)
    assert grid.labels == ["local", "hosted"]
    assert grid.layout.grid_template_columns == "repeat(1, minmax(0, 1fr))"


def test_voices_are_synthesized_through_the_client():
    client = SpeakingClient()
    grid = compare(["en-us", "en-gb"], "Good morning.", client=client)
    assert client.calls == [("Good morning.", "en-us", "word"), ("Good morning.", "en-gb", "word")]
    assert [s.duration for s in grid.speeches] == [0.25, 0.5]
    assert repr(grid) == "Comparison('en-us' 0.25 s ttfb 20 ms, 'en-gb' 0.50 s ttfb 20 ms)"


@pytest.mark.parametrize(
    ("items", "text", "error", "message"),
    [
        ([], None, InvalidArgument, "at least one"),
        (["en-us"], None, ValueError, "needs text="),
        ([42], None, InvalidArgument, "got 42"),
    ],
)
def test_bad_arguments(items, text, error, message):
    with pytest.raises(error, match=message):
        compare(items, text)


def test_voices_from_the_local_server(espeak_server):
    from ttskit.client import Client

    grid = compare(["en-us", "en-gb"], "Good morning.", client=Client(espeak_server.base_url))
    assert grid.labels == ["en-us", "en-gb"]
    assert all(list(s.words["word"]) == ["Good", "morning"] for s in grid.speeches)
    assert all(s.timing.first_audio_s is not None for s in grid.speeches)
