"""The eSpeak NG engine, on the real library."""

from __future__ import annotations

import threading
from itertools import pairwise

import numpy as np
import pytest

from ttskit.engines import Engine, EngineError, UnknownVoice, Voice, load_engine
from ttskit.engines.espeak import EspeakEngine, _align_words
from ttskit.engines.text import split_sentences, split_words
from ttskit.protocol import SPEED_RANGE

SAMPLE_RATE = 22050


@pytest.fixture(scope="module")
def engine() -> EspeakEngine:
    return EspeakEngine()


def speak(engine: EspeakEngine, text: str, voice: str = "en-us", speed: float = 1.0):
    return list(engine.synthesize(text, voice=voice, speed=speed))


def median_pitch(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """Median F0 in Hz of the loud 40 ms frames, by autocorrelation."""
    frame = int(0.04 * sample_rate)
    shortest, longest = sample_rate // 400, sample_rate // 60
    pitches = []
    for start in range(0, len(audio) - frame, frame):
        window = audio[start : start + frame].astype(np.float64)
        if np.sqrt(np.mean(window**2)) < 0.05:
            continue
        correlation = np.correlate(window, window, "full")[frame - 1 :]
        lag = shortest + int(np.argmax(correlation[shortest:longest]))
        if correlation[lag] > 0.3 * correlation[0]:
            pitches.append(sample_rate / lag)
    return float(np.median(pitches))


def test_is_a_registered_engine(engine):
    loaded = load_engine("espeak")
    assert isinstance(loaded, EspeakEngine)
    assert isinstance(engine, Engine)
    assert (engine.model, engine.sample_rate) == ("espeak", SAMPLE_RATE)
    assert EspeakEngine(model="espeak-ng").model == "espeak-ng"
    assert repr(engine) == "EspeakEngine(model='espeak')"


def test_voices_list_every_voice_and_english_variants(engine):
    voices = engine.voices()
    names = [voice.name for voice in voices]
    assert all(isinstance(voice, Voice) for voice in voices)
    assert len(names) == len(set(names))
    assert {"en-us", "en", "en-gb-x-rp", "fr", "de", "cmn"} <= set(names)
    assert {"en-us+f2", "en-us+m3", "en+f5"} <= set(names)
    assert len([name for name in names if "+" not in name]) > 140
    by_name = {voice.name: voice for voice in voices}
    assert by_name["en-us"].language == "en-us"
    assert by_name["en-us+f2"].gender == "female"
    assert "English" in by_name["en"].description
    assert {"f2", "m3", "klatt"} <= set(engine.variants())


def test_audio_is_float32_mono_in_range(engine):
    (segment,) = speak(engine, "The quick brown fox jumps over the lazy dog.")
    assert segment.sample_rate == SAMPLE_RATE
    assert segment.audio.dtype == np.float32
    assert segment.audio.ndim == 1
    assert np.abs(segment.audio).max() <= 1.0
    assert np.sqrt(np.mean(segment.audio**2)) > 0.01
    assert 1.5 < segment.duration < 4.0


def test_one_segment_per_sentence_each_synthesized_when_asked_for(engine, monkeypatch):
    library = engine._library
    spoken = []

    def record(text, **options):
        spoken.append(text)
        return type(library).synthesize(library, text, **options)

    monkeypatch.setattr(library, "synthesize", record)
    text = "First sentence here. Second one follows! Is there a third?"
    segments = engine.synthesize(text, voice="en-us")
    assert spoken == []
    first = next(segments)
    assert first.text == "First sentence here."
    assert spoken == ["First sentence here."]
    rest = list(segments)
    assert [segment.text for segment in rest] == split_sentences(text)[1:]
    assert spoken == split_sentences(text)


TRICKY_TEXTS = [
    "Hello world, this is a test.",
    "Dr. Smith paid 1,234 dollars, e.g. 3.14 in 2026!",
    "naïve café in Zürich, Ångström and Øresund.",
    "a 😀 b 🎉 c",
    "😀 hello there",
    "It is 50% off (really) — “quoted” text… $5.99, #1, & 3rd.",
    "Wow!!! Are you sure?? Yes... Mr. and Mrs. Jones, i.e. the Joneses.",
    "don't stop-believing; rock'n'roll/jazz 12:30pm 2026-01-31",
    "Visit https://example.com/a?b=1 or mail me@example.org now.",
    "東京 is big. Привет мир.",
    "Hello\n\tworld   again",
    "123456789 9,876,543.21 0.5 -7 1e6",
]


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_words_cover_the_input_in_order_within_each_segment(engine, text):
    segments = speak(engine, text)
    spoken_words = []
    for segment in segments:
        expected = [word.text for word in split_words(segment.text)]
        assert [word.text for word in segment.words] == expected
        previous_end = 0.0
        for word in segment.words:
            assert previous_end <= word.start <= word.end <= segment.duration
            previous_end = word.end
        spoken_words += expected
    assert spoken_words == [word.text for word in split_words(text)]


def test_words_follow_the_speech(engine):
    (segment,) = speak(engine, "Hello world, this is a test.")
    words = {word.text: word for word in segment.words}
    assert all(word.end - word.start > 0.04 for word in segment.words)
    # The pause after the comma belongs to no word.
    assert words["this"].start - words["world"].end > 0.05
    # eSpeak's pause after the sentence is no part of its last word either.
    assert segment.duration - words["test"].end > 0.1


def test_symbols_are_heard_within_their_words(engine):
    # "percent", "number" and "dollars" are read from the punctuation around a word.
    (segment,) = speak(engine, "It is 50% off for #1 at $5 now")
    assert [word.text for word in segment.words] == [
        "It",
        "is",
        "50",
        "off",
        "for",
        "1",
        "at",
        "$5",
        "now",
    ]
    gaps = [after.start - before.end for before, after in pairwise(segment.words)]
    assert max(gaps) < 0.1


def test_non_ascii_words_each_get_their_own_time(engine):
    # Events count characters, not UTF-8 bytes: with bytes, later words would collapse.
    (segment,) = speak(engine, "Über naïve café Zürich Ångström Øresund.")
    starts = [word.start for word in segment.words]
    assert len(starts) == 6
    assert np.all(np.diff(starts) > 0.1)


def test_sentences_without_words_are_skipped(engine):
    segments = speak(engine, "Hello. 😀! ... Bye.")
    assert [segment.text for segment in segments] == ["Hello.", "Bye."]


@pytest.mark.parametrize("text", ["", "   ", "...", "?!", "😀 🎉", " — "])
def test_text_without_words_raises_engine_error(engine, text):
    with pytest.raises(EngineError, match="no words"):
        engine.synthesize(text, voice="en-us")


def test_variant_changes_the_voice(engine):
    text = "Hello there, how are you today?"
    plain = np.concatenate([segment.audio for segment in speak(engine, text, "en-us")])
    female = np.concatenate([segment.audio for segment in speak(engine, text, "en-us+f2")])
    assert median_pitch(female) > 1.5 * median_pitch(plain)


@pytest.mark.parametrize("voice", ["en-gb-x-rp", "de+klatt", "en-gb", "EN-US+F2", "fr+Mr serious"])
def test_any_voice_variant_and_language_code_is_accepted(engine, voice):
    (segment,) = speak(engine, "Good morning.", voice)
    assert segment.duration > 0.3


@pytest.mark.parametrize("voice", ["klingon-x", "en-us+nosuch", "+f2", "", "en-us+"])
def test_unknown_voice_raises_when_called(engine, voice):
    with pytest.raises(UnknownVoice) as caught:
        engine.synthesize("Hello.", voice=voice)
    assert caught.value.voice == voice


def test_unknown_voice_hints_at_close_names(engine):
    with pytest.raises(UnknownVoice, match="did you mean 'en-us'"):
        engine.synthesize("Hello.", voice="en-su")


def test_interleaved_syntheses_keep_their_own_voice(engine):
    text = "One sentence here. Another sentence there."
    female = engine.synthesize(text, voice="en-us+f2")
    male = engine.synthesize(text, voice="en-us")
    first_female, first_male = next(female), next(male)
    second_male, second_female = next(male), next(female)
    assert median_pitch(second_female.audio) > 1.5 * median_pitch(second_male.audio)
    assert median_pitch(first_female.audio) > 1.5 * median_pitch(first_male.audio)


def test_threads_sharing_the_library_keep_their_own_voice():
    # Without the module's lock two threads inside eSpeak at once corrupt its memory.
    text = "One sentence here. Another sentence there."
    pitches: dict[str, list[float]] = {}

    def speak_three_times(voice: str) -> None:
        engine = EspeakEngine()
        pitches[voice] = [
            median_pitch(np.concatenate([segment.audio for segment in speak(engine, text, voice)]))
            for _ in range(3)
        ]

    threads = [threading.Thread(target=speak_three_times, args=(v,)) for v in ("en-us", "en-us+f2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert min(pitches["en-us+f2"]) > 1.5 * max(pitches["en-us"])


def test_faster_speed_gives_shorter_audio(engine):
    text = "Speed changes how long this sentence takes to say."
    (normal,) = speak(engine, text, speed=1.0)
    (fast,) = speak(engine, text, speed=2.0)
    (slow,) = speak(engine, text, speed=SPEED_RANGE[0])
    assert fast.duration < 0.65 * normal.duration
    assert slow.duration > 1.5 * normal.duration
    assert [word.text for word in fast.words] == [word.text for word in normal.words]


@pytest.mark.parametrize("speed", [0.0, 0.2, 4.1, 10.0, -1.0])
def test_speed_out_of_range_raises(engine, speed):
    with pytest.raises(ValueError, match="speed"):
        engine.synthesize("Hello.", voice="en-us", speed=speed)


def test_alignment_without_events_spreads_words_over_the_speech():
    audio = np.zeros(SAMPLE_RATE, dtype=np.float32)
    audio[: SAMPLE_RATE // 2] = 0.5
    words = _align_words("ab abcd, ab", [], audio, SAMPLE_RATE)
    assert [word.text for word in words] == ["ab", "abcd", "ab"]
    spans = [(word.start, word.end) for word in words]
    assert spans == [pytest.approx(span) for span in [(0.0, 0.125), (0.125, 0.375), (0.375, 0.5)]]


def test_alignment_keeps_order_with_repeated_backward_and_stray_events():
    audio = np.full(SAMPLE_RATE, 0.5, dtype=np.float32)
    text = "one 1,234 😀 two three"
    events = [
        (0, 0.0),  # one
        (4, 0.2),  # 1,234 ...
        (5, 0.3),  # ... read as several words
        (4, 0.35),  # a position that goes back
        (10, 0.5),  # the emoji, no word
        (11, 0.6),  # its second word, on the space after it
        (12, 0.7),  # two
        (13, 0.65),  # inside "two", with a time that goes back
    ]
    words = _align_words(text, events, audio, SAMPLE_RATE)
    assert [word.text for word in words] == ["one", "1,234", "two", "three"]
    spans = [(word.start, word.end) for word in words]
    two_end = 0.7 + 0.3 * 3 / 8
    expected = [(0.0, 0.2), (0.2, 0.5), (0.7, two_end), (two_end, 1.0)]
    assert spans == [pytest.approx(span) for span in expected]


def test_alignment_never_lets_a_word_end_after_the_next_starts():
    # 0.002 + (0.77 - 0.002) * 3 / 3 rounds up past 0.77; silence leaves the end untrimmed.
    audio = np.zeros(SAMPLE_RATE, dtype=np.float32)
    words = _align_words("a bb c", [(0, 0.002), (5, 0.77)], audio, SAMPLE_RATE)
    assert [word.text for word in words] == ["a", "bb", "c"]
    assert words[1].end <= words[2].start == 0.77


def test_a_title_before_a_name_is_read_within_its_sentence():
    engine = EspeakEngine()
    [titled] = list(engine.synthesize("Dr. Smith went home.", voice="en-us"))
    [plain] = list(engine.synthesize("Doctor Smith went home.", voice="en-us"))
    # eSpeak ends a clause at "Dr." unless told otherwise, adding a pause after the title.
    assert abs(titled.duration - plain.duration) < 0.02
    assert [w.text for w in titled.words] == ["Dr", "Smith", "went", "home"]
