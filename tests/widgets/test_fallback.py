"""Plain ipywidgets stand-ins, and the switch to them when anywidget is missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ttskit.widgets import FallbackPlayer, FallbackSpeechView

from .conftest import events


def test_fallback_player_shows_progress_then_the_audio():
    player = FallbackPlayer(events(3), voice="joe").wait(10)
    assert repr(player) == "Player(voice='joe', 0.30 s received, 3 chunks, done)"
    assert "0.30 s received" in player._progress.value
    assert len(player._output.outputs) == 2
    assert "<audio" in player._output.outputs[0]["data"]["text/html"]
    assert player.speech.duration == pytest.approx(0.3)


def test_fallback_view_shows_audio_and_words():
    speech = FallbackPlayer(events(2)).wait(10).speech
    view = FallbackSpeechView(speech, title="local")
    assert repr(view) == "SpeechView(title='local', 0.20 s, 2 words)"
    assert "word1" in view.children[1].outputs[1]["data"]["text/html"]


def test_without_anywidget_the_fallbacks_are_used():
    code = (
        "import sys; sys.modules['anywidget'] = None\n"
        "import ttskit.widgets as w\n"
        "print(w.HAS_ANYWIDGET, w.Player is w.FallbackPlayer, w.SpeechView is w.FallbackSpeechView)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "True", "True"]


def test_fallback_view_refuses_what_is_not_a_speech():
    with pytest.raises(TypeError, match="needs a Speech, got str"):
        FallbackSpeechView("not a speech")  # type: ignore[arg-type]
