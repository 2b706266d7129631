"""Word timestamps of texts with numbers, abbreviations and unknown words, on real speech."""

from __future__ import annotations

import pytest

from ttskit import quality
from ttskit.quality.align import Aligner, spoken_readings
from ttskit.results import Speech

PRICE = "Dr. Smith paid $42.50 for 3 books on May 5th."
# Long enough that the median offset of one synthesis is steady from one run to the next.
NUMBERS = PRICE[:-1] + ", and Mrs. Jones sold 12 more at 3:30 on the 2nd floor."
UNKNOWN = "I installed ttskit and ran it 15 times."


def _said(word: str) -> list[str]:
    return [" ".join(w for w, _ in reading) for reading in spoken_readings(word)]


def _shifted(speech: Speech, shift_s: float) -> Speech:
    words = speech.words.assign(start=speech.words.start + shift_s, end=speech.words.end + shift_s)
    return Speech(audio=speech.audio, sample_rate=speech.sample_rate, words=words, text=speech.text)


@pytest.fixture(scope="module")
def aligner():
    return Aligner()


@pytest.fixture(scope="module")
def piper_numbers(piper_client):
    return piper_client.speak(NUMBERS, alignment="word")


def test_numbers_and_abbreviations_are_read_the_ways_engines_say_them():
    assert _said("$42.50") == [
        "dollar forty two point five zero",
        "forty two dollars and fifty cents",
    ]
    assert _said("5th.") == ["fifth"] and _said("21st") == ["twenty first"]
    assert _said("3:30") == ["three thirty"] and _said("12%") == ["twelve percent"]
    assert _said("Dr.") == ["doctor", "drive"] and _said("2024")[1] == "twenty twenty four"


def test_a_price_a_count_and_an_ordinal_count_toward_coverage(aligner, piper_numbers):
    aligned = aligner(piper_numbers.audio, piper_numbers.sample_rate, NUMBERS)
    assert {"$42.50", "3", "5th,", "12", "3:30", "2nd"} <= set(aligned.word)
    row = quality.score(piper_numbers, metrics="timestamps")
    assert row["timestamp_coverage"] >= 0.8
    assert abs(row["timestamp_offset_p50_ms"]) <= 50
    assert not row["quality_flagged"], row["quality_issues"]


def test_timestamps_shifted_by_300_ms_in_a_text_with_numbers_are_reported(piper_numbers):
    own = quality.score(piper_numbers, metrics="timestamps")
    late = quality.score(_shifted(piper_numbers, 0.3), metrics="timestamps")
    assert late["timestamp_offset_p50_ms"] == pytest.approx(300, abs=50)
    assert late["timestamp_offset_p50_ms"] - own["timestamp_offset_p50_ms"] == pytest.approx(
        300, abs=30
    )
    assert late["quality_flagged"] and "timestamps" in late["quality_issues"]


def test_a_word_the_dictionary_lacks_keeps_the_words_after_it_in_place(aligner, piper_client):
    speech = piper_client.speak(UNKNOWN, alignment="word")
    aligned = aligner(speech.audio, speech.sample_rate, UNKNOWN).set_index("word")
    claimed = speech.words.set_index("word")
    assert "ttskit" in aligned.index
    for word in ("and", "ran", "15"):
        assert abs(claimed.start[word] - aligned.start[word]) <= 0.08, word
    assert quality.score(speech, metrics="timestamps")["timestamp_coverage"] == 1.0


def test_espeak_numbers_align_too(espeak_client):
    speech = espeak_client.speak(NUMBERS, alignment="word")
    row = quality.score(speech, metrics="timestamps")
    assert row["timestamp_coverage"] >= 0.8
    assert abs(row["timestamp_offset_p50_ms"]) <= 60


def test_a_price_read_the_other_way_is_found_where_it_is_said(aligner, piper_client):
    said = "Doctor Smith paid forty two dollars and fifty cents for three books on May fifth."
    speech = piper_client.speak(said, alignment="word")
    aligned = aligner(speech.audio, speech.sample_rate, PRICE).set_index("word")
    claimed = speech.words.set_index("word")
    heard = " ".join(aligned.attrs["spoken"].word)
    assert "forty two dollars and fifty cents for three" in heard
    for written, spoken in (("$42.50", "forty"), ("3", "three"), ("books", "books")):
        assert aligned.start[written] == pytest.approx(claimed.start[spoken], abs=0.12), written
