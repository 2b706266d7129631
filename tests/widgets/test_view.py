"""SpeechView: envelope, audio and words traits."""

from __future__ import annotations

import numpy as np
import pytest

from ttskit import audio
from ttskit.results import Speech, Timing, words_frame
from ttskit.widgets import SpeechView
from ttskit.widgets.view import envelope


def speech(duration: float, sample_rate: int = 22050) -> Speech:
    return Speech(
        audio=audio.sine(300.0, duration=duration, sample_rate=sample_rate),
        sample_rate=sample_rate,
        words=words_frame(["good", "morning"], [0.1, 0.5], [0.4, 0.9]),
        voice="en-us",
        timing=Timing(first_audio_s=0.012),
    )


def test_envelope_holds_min_and_max_of_each_slice():
    samples = np.array([0.1, -0.2, 0.3, 0.9, -0.8, 0.0], dtype=np.float32)
    np.testing.assert_allclose(
        envelope(samples, columns=3), [[-0.2, 0.1], [0.3, 0.9], [-0.8, 0.0]], rtol=1e-6
    )
    assert envelope(samples[:2], columns=600).shape == (2, 2)
    assert envelope(samples[:0], columns=600).shape == (0, 2)


def test_envelope_trait_stays_small_for_long_audio():
    view = SpeechView(speech(600.0), columns=800)
    pairs = np.frombuffer(view.envelope, dtype="<f4").reshape(-1, 2)
    assert pairs.shape == (800, 2)
    assert pairs[:, 0].min() == pytest.approx(-0.5, abs=1e-3)
    assert pairs[:, 1].max() == pytest.approx(0.5, abs=1e-3)


def test_view_carries_audio_words_and_timing():
    original = speech(1.0)
    view = SpeechView(original)
    samples, rate = audio.decode_file(view.wav)
    assert rate == 22050
    np.testing.assert_allclose(samples, original.audio, atol=1 / 16000)
    assert view.words == [
        {"word": "good", "start": 0.1, "end": 0.4},
        {"word": "morning", "start": 0.5, "end": 0.9},
    ]
    assert view.duration_s == pytest.approx(1.0)
    assert view.ttfb_s == pytest.approx(0.012)
    assert repr(view) == "SpeechView(title='en-us', 1.00 s, 2 words)"


def test_view_refuses_what_is_not_a_speech():
    with pytest.raises(TypeError, match="needs a Speech, got ndarray"):
        SpeechView(np.zeros(10))
