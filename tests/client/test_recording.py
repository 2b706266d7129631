"""The one Recorder behind every Speech: chunks, arrivals and words in, Timing out."""

from __future__ import annotations

import time

import numpy as np
import pytest

from ttskit.client.recording import Recorder
from ttskit.results import words_frame

RATE = 100


def test_chunks_become_timing_and_speech() -> None:
    recorder = Recorder(RATE)
    recorder.headers_s = 0.01
    recorder.arrived(0.02)
    assert recorder.add(np.zeros(50, np.float32), 0.10) == 50  # silence
    assert recorder.add(np.full(100, 0.5, np.float32), 0.30) == 100
    recorder.add_words(words_frame(["a", "b"], [0.0, 0.2], [0.2, 0.4]), offset_s=1.2)
    recorder.done_s = 0.5
    timing = recorder.timing()
    assert (timing.headers_s, timing.first_byte_s, timing.done_s) == (0.01, 0.02, 0.5)
    assert timing.first_audio_s == 0.10 and timing.first_audible_s == 0.30
    assert timing.chunks.to_dict("list") == {
        "arrival_s": [0.10, 0.30],
        "n_samples": [50, 100],
        "audio_start_s": [0.0, 0.5],
    }
    speech = recorder.speech(text="t", model="m", voice="v", endpoint="e")
    assert speech.duration == 1.5 and (speech.text, speech.endpoint) == ("t", "e")
    assert speech.words["start"].tolist() == pytest.approx([1.2, 1.4])
    # A partial Speech keeps its audio and only the words that end within it.
    assert recorder.speech(partial=True).words["word"].tolist() == ["a"]


def test_snapshots_do_not_stop_the_recording() -> None:
    recorder = Recorder(RATE)
    recorder.add(np.ones(10, np.float32), 0.0)
    first = recorder.speech()
    recorder.add(np.ones(10, np.float32), 0.1)
    assert first.duration == 0.1 and recorder.speech(final=True).duration == 0.2


def test_audio_needs_a_sample_rate() -> None:
    with pytest.raises(AssertionError):
        Recorder().add(np.ones(3, np.float32), 0.0)


@pytest.mark.parametrize("onset", [0, 1, 239, 240, 1919, 1920, 9000, 23999, None])
def test_a_chunk_is_audible_exactly_when_audio_first_audible_says_so(onset) -> None:
    from ttskit import audio
    from ttskit.client.recording import SILENCE_DB, _audible

    rate = 24000
    samples = np.full(24000, 1e-4, np.float32)  # far below -40 dBFS
    if onset is not None:
        samples[onset:] = audio.sine(440.0, duration=1.0, sample_rate=rate)[: 24000 - onset]
    for length in (len(samples), 24000 - 7, 250):
        part = samples[:length]
        expected = audio.first_audible(part, sample_rate=rate, threshold_db=SILENCE_DB)
        assert _audible(part, rate) is (expected is not None)


def test_a_timing_makes_its_chunk_table_only_when_read() -> None:
    import pickle
    from dataclasses import replace

    from ttskit.results import CHUNK_COLUMNS, Timing

    recorder = Recorder(RATE)
    recorder.add(np.full(30, 0.5, np.float32), 0.2)
    timing = recorder.timing()
    recorder.add(np.full(20, 0.5, np.float32), 0.4)  # later audio: not in the earlier timing
    assert timing.chunk_lists() == ([0.2], [30], [0.0])
    assert "DataFrame" not in repr(vars(timing))  # nothing made yet
    assert timing.chunks.to_dict("list") == {
        "arrival_s": [0.2],
        "n_samples": [30],
        "audio_start_s": [0.0],
    }
    assert timing.chunk_lists() == ([0.2], [30], [0.0])
    assert recorder.timing().chunk_lists() == ([0.2, 0.4], [30, 20], [0.0, 0.3])
    assert replace(recorder.timing(), done_s=1.0).chunks["arrival_s"].tolist() == [0.2, 0.4]
    assert pickle.loads(pickle.dumps(recorder.timing())).chunks["n_samples"].tolist() == [30, 20]
    for empty in (Timing(), Timing(chunks=None), Recorder(RATE).timing()):
        assert list(empty.chunks.columns) == CHUNK_COLUMNS and empty.chunks.empty
        assert empty.chunk_lists() == ([], [], [])
        assert empty.chunks["n_samples"].dtype == "int64"


def test_drain_reads_to_the_end_without_events(make_client, espeak_server) -> None:
    client = make_client(espeak_server.base_url)
    with client.stream("Hello there.", alignment="word") as stream:
        timing = stream.drain()
        speech = stream.speech()
    assert timing.first_audio_s <= timing.done_s
    assert sum(timing.chunk_lists()[1]) == len(speech.audio) > 0
    assert speech.words["word"].tolist() == ["Hello", "there"]
    with client.stream("Hello there.") as stream:
        events = list(stream)
        assert stream.drain().chunk_lists()[1] == [len(e.audio) for e in events]


def test_a_stream_read_to_its_done_keeps_its_connection(make_client, replay) -> None:
    from .replay_server import Answer, shape_payloads, sse

    # A server that says [DONE], then ends its body a moment later: the client reads to the
    # end, so that the connection goes back to the pool rather than being closed.
    def late_end(piece: int) -> None:
        if piece == 1:
            time.sleep(0.05)

    events = sse(*shape_payloads(1, [b"\x00\x00" * 10]))
    replay.answers.append(Answer([events, b": end\n\n"], before=late_end))
    client = make_client(replay.base_url, model="replay", voice="alice")
    for _ in range(3):
        with client.stream("Hi.") as stream:
            assert stream.drain().chunk_lists()[1] == [10]
    assert len(replay.ports) == 3 and len(set(replay.ports)) == 1
