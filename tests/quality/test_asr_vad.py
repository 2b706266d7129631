"""The transcriber's two ways of hearing a clip, and silences measured where they are."""

from __future__ import annotations

import numpy as np
import pytest

from ttskit import quality
from ttskit.quality.asr import FULL_WINDOW_S, WhisperTranscriber
from ttskit.quality.wer import ErrorRate
from ttskit.results import Speech

from .conftest import SENTENCE

LAST_SENTENCE = "The keys are on the kitchen table."


@pytest.fixture(scope="module")
def rate():
    return ErrorRate()


def _padded(speech: Speech, before_s: float = 0.0, after_s: float = 0.0) -> Speech:
    rate = speech.sample_rate
    audio = np.concatenate(
        [
            np.zeros(int(round(before_s * rate)), np.float32),
            speech.audio,
            np.zeros(int(round(after_s * rate)), np.float32),
        ]
    )
    return Speech(audio=audio, sample_rate=rate, text=speech.text)


def test_a_sentence_heard_in_its_own_window_reads_as_it_does_with_word_times(piper_speech, rate):
    quick = WhisperTranscriber()(piper_speech.audio, piper_speech.sample_rate)
    timed = WhisperTranscriber(word_timestamps=True)(piper_speech.audio, piper_speech.sample_rate)
    assert rate(SENTENCE, quick.text)["wer"] <= 0.05
    assert rate(SENTENCE, timed.text)["wer"] <= 0.05
    assert quick.words.empty
    assert len(timed.words) == len(SENTENCE.split())
    assert timed.words["start"].is_monotonic_increasing
    assert 0.0 <= timed.words["start"].iloc[0] < timed.words["end"].iloc[-1]
    assert timed.words["end"].iloc[-1] <= piper_speech.duration + 0.1


def test_a_clip_longer_than_one_window_is_heard_to_its_end(piper_client, piper_speech, rate):
    # One sentence said again and again until past a window, then a sentence of its own: the
    # last one must be heard. Whisper drops a repeat here and there where its windows meet
    # (up to 0.13 of the words over eight syntheses), so the whole is held to a looser bound.
    last = piper_client.speak(LAST_SENTENCE)
    gap = np.zeros(piper_speech.sample_rate // 4, np.float32)
    times = int(FULL_WINDOW_S // (piper_speech.duration + 0.25)) + 1
    audio = np.concatenate([np.concatenate([piper_speech.audio, gap])] * times + [last.audio])
    assert len(audio) / piper_speech.sample_rate > FULL_WINDOW_S + 0.5
    heard = WhisperTranscriber()(audio, piper_speech.sample_rate)
    tail = " ".join(heard.text.split()[-len(LAST_SENTENCE.split()) :])
    assert rate(LAST_SENTENCE, tail)["wer"] <= 0.15
    assert rate(" ".join([SENTENCE] * times + [LAST_SENTENCE]), heard.text)["wer"] <= 0.25


@pytest.mark.parametrize("before_s", [0.5, 0.3217, 1.25])
def test_leading_silence_moves_the_onset_by_its_length(piper_speech, before_s):
    before = quality.score(piper_speech, metrics="vad")
    after = quality.score(_padded(piper_speech, before_s=before_s), metrics="vad")
    moved = after["speech_onset_s"] - before["speech_onset_s"]
    assert moved == pytest.approx(before_s, abs=0.03)


def test_trailing_silence_is_measured_and_flagged_past_the_limit(piper_speech):
    before = quality.score(piper_speech, metrics="vad")
    after = quality.score(_padded(piper_speech, after_s=2.0), metrics="vad")
    grown = after["trailing_silence_s"] - before["trailing_silence_s"]
    assert grown == pytest.approx(2.0, abs=0.03)
    assert after["speech_onset_s"] == pytest.approx(before["speech_onset_s"], abs=0.01)
    assert not before["quality_flagged"]
    assert after["quality_flagged"] and "trailing_silence" in after["quality_issues"]


def test_noise_under_the_speech_leaves_the_onset_near_where_it_was(piper_speech):
    padded = _padded(piper_speech, before_s=0.5)
    audio = padded.audio
    loud = np.mean(piper_speech.audio**2)
    noise = np.random.default_rng(1).standard_normal(len(audio)).astype(np.float32)
    noise *= np.sqrt(loud / 100 / np.mean(noise**2))  # 20 dB below the speech
    noisy = Speech(audio=audio + noise, sample_rate=padded.sample_rate, text=padded.text)
    clean = quality.score(padded, metrics="vad")
    heard = quality.score(noisy, metrics="vad")
    assert heard["speech_onset_s"] == pytest.approx(clean["speech_onset_s"], abs=0.05)
