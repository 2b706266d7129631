"""Speech and Timing: stalls on hand-made chunk tables, slicing, files, stable reprs."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest

from ttskit import audio
from ttskit.results import AudioChunk, Speech, Timing, WordTimestamps, empty_words, words_frame

RATE = 1000


def timing(arrivals: list[float], chunk_s: float = 0.1, done_s: float | None = None) -> Timing:
    n = int(chunk_s * RATE)
    chunks = pd.DataFrame(
        {
            "arrival_s": arrivals,
            "n_samples": [n] * len(arrivals),
            "audio_start_s": [i * chunk_s for i in range(len(arrivals))],
        }
    )
    return Timing(
        first_audio_s=arrivals[0], done_s=done_s or arrivals[-1], chunks=chunks, sample_rate=RATE
    )


def test_no_stalls_when_chunks_arrive_in_real_time() -> None:
    assert timing([0.1, 0.2, 0.3, 0.4]).stalls().empty


def test_one_late_chunk_is_one_stall() -> None:
    stalls = timing([0.1, 0.5, 0.6]).stalls()
    # Playback starts at 0.1; the second chunk is due at 0.2 and arrives at 0.5.
    assert stalls.to_dict("list") == {
        "at_s": [pytest.approx(0.2)],
        "duration_s": [pytest.approx(0.3)],
        "audio_s": [pytest.approx(0.1)],
    }


def test_stalls_accumulate_their_delay() -> None:
    stalls = timing([0.0, 0.3, 0.4, 0.9]).stalls()
    # 2nd due 0.1 arrives 0.3 (stall 0.2); 3rd due 0.2+0.2=0.4 on time; 4th due 0.3+0.2=0.5, arrives 0.9.
    assert stalls["at_s"].tolist() == pytest.approx([0.1, 0.5])
    assert stalls["duration_s"].tolist() == pytest.approx([0.2, 0.4])
    assert stalls["audio_s"].tolist() == pytest.approx([0.1, 0.3])


def test_a_start_buffer_absorbs_jitter() -> None:
    late = timing([0.1, 0.5, 0.6])
    # With 0.2 s buffered, playback starts when the second chunk arrives (0.5): 3rd due 0.7.
    assert late.stalls(start_buffer_s=0.2).empty
    assert len(late.stalls(start_buffer_s=0.0)) == 1


def test_a_buffer_longer_than_the_audio_waits_for_the_end() -> None:
    assert timing([0.1, 0.5, 0.6]).stalls(start_buffer_s=10).empty


def test_playback_starts_once_the_start_buffer_has_arrived() -> None:
    late = timing([0.1, 0.5, 0.6])
    assert late.playback_start() == pytest.approx(0.1)
    assert late.playback_start(start_buffer_s=0.2) == pytest.approx(0.5)
    # Asking for more than the whole answer starts playback when the last chunk arrives.
    assert late.playback_start(start_buffer_s=10.0) == pytest.approx(0.6)
    assert Timing().playback_start() is None


def test_an_empty_table_has_no_stalls() -> None:
    stalls = Timing().stalls()
    assert stalls.empty and list(stalls.columns) == ["at_s", "duration_s", "audio_s"]


def test_derived_rates() -> None:
    t = timing([0.1, 0.2, 0.3, 0.4], done_s=0.2)
    assert t.audio_duration_s == pytest.approx(0.4)
    assert t.real_time_factor == pytest.approx(0.5)
    assert t.audio_per_second == pytest.approx(2.0)
    assert math.isnan(Timing().real_time_factor)
    assert t.summary()["n_chunks"] == 4 and t.ttfb == 0.1


def test_timing_repr_is_stable() -> None:
    assert (
        repr(timing([0.1, 0.2], done_s=0.25))
        == "Timing(first_audio=100.0ms, done=250.0ms, chunks=2, audio=0.20s)"
    )


# --- Speech -------------------------------------------------------------------------------


def speech() -> Speech:
    tone = audio.sine(200.0, duration=1.0, sample_rate=RATE)
    words = words_frame(["hello", "big", "world"], [0.0, 0.4, 0.6], [0.3, 0.5, 0.9])
    return Speech(
        tone, RATE, words, text="hello big world", model="m", voice="v", endpoint="http://x/v1"
    )


def test_segment_keeps_the_words_inside_and_shifts_them() -> None:
    part = speech().segment(0.35, 0.95)
    assert len(part.audio) == 600 and part.duration == pytest.approx(0.6)
    assert part.words["word"].tolist() == ["big", "world"]
    assert part.words["start"].tolist() == pytest.approx([0.05, 0.25])
    assert part.text == "big world"
    with pytest.raises(ValueError, match="start=0.5, end=0.2"):
        speech().segment(0.5, 0.2)


def test_word_by_position_and_by_text() -> None:
    s = speech()
    assert s.word(1) == s.word("BIG")
    assert len(s.word("world").audio) == 300
    with pytest.raises(KeyError, match="'nope'"):
        s.word("nope")
    with pytest.raises(LookupError, match="alignment='word'"):
        Speech(np.zeros(10), RATE).word(0)


def test_to_wav_bytes_round_trips() -> None:
    s = speech()
    samples, rate = audio.decode_file(s.to_wav_bytes())
    assert rate == RATE and np.max(np.abs(samples - s.audio)) < 1e-4


@pytest.mark.parametrize("suffix", ["wav", "flac", "ogg"])
def test_save_by_suffix(tmp_path, suffix: str) -> None:
    path = speech().save(tmp_path / f"out.{suffix}")
    samples, rate = audio.decode_file(path.read_bytes())
    assert rate == RATE and abs(len(samples) - RATE) < 20


def test_save_refuses_an_unknown_suffix(tmp_path) -> None:
    with pytest.raises(ValueError, match="out.aiff"):
        speech().save(tmp_path / "out.aiff")


def test_pickling_keeps_everything() -> None:
    s = speech()
    copy = pickle.loads(pickle.dumps(s))
    assert copy == s and copy.endpoint == s.endpoint


def test_speech_repr_is_stable() -> None:
    s = speech()
    s.timing = Timing(first_audio_s=0.1234, sample_rate=RATE)
    assert repr(s) == "Speech(1.00s @ 1000 Hz, 3 words, voice='v', model='m', ttfb=123ms)"
    assert repr(Speech(np.zeros(500), 1000)) == "Speech(0.50s @ 1000 Hz, 0 words)"


def test_speech_checks_its_audio() -> None:
    with pytest.raises(ValueError, match="mono"):
        Speech(np.zeros((10, 2)), RATE)
    with pytest.raises(ValueError, match="sample_rate"):
        Speech(np.zeros(10), 0)
    assert Speech(np.zeros(10, dtype=np.float64), RATE).audio.dtype == np.float32


def test_empty_words_have_the_columns() -> None:
    assert list(empty_words().columns) == ["word", "start", "end"]
    assert words_frame([], [], []).equals(empty_words())
    with pytest.raises(ValueError, match="2 words, 1 starts"):
        words_frame(["a", "b"], [0.0], [0.1, 0.2])


def test_event_reprs_are_stable() -> None:
    chunk = AudioChunk(np.zeros(240, dtype=np.float32), 24000, 0.0123, 0.5, "tts_1")
    assert repr(chunk) == "AudioChunk(10ms at 0.500s, arrived 12.3ms)"
    words = WordTimestamps(words_frame(["a"], [0.0], [0.1]), 0.002)
    assert repr(words) == "WordTimestamps(1 word, arrived 2.0ms)"
