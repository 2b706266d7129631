"""Player: the messages the kernel sends, the state it ends in, and the headless path."""

from __future__ import annotations

import itertools
import re
import threading
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ttskit import audio
from ttskit.results import AudioChunk
from ttskit.widgets import Player

from .conftest import SAMPLE_RATE, events, tone_chunks


def test_one_message_per_chunk_with_its_pcm(sent):
    player = Player(events(6)).wait(10)
    chunks = sent.of_type("chunk")
    assert len(chunks) == 6 == player.chunks_sent
    for i, ((content, buffers), expected) in enumerate(zip(chunks, tone_chunks(6), strict=True)):
        assert content["seq"] == i
        assert content["sample_rate"] == SAMPLE_RATE
        assert content["n_samples"] == expected.size
        assert content["audio_start_s"] == pytest.approx(i * 0.1)
        assert len(buffers) == 1
        np.testing.assert_array_equal(np.frombuffer(buffers[0], dtype="<f4"), expected)


def test_words_are_sent_as_they_arrive_and_the_stream_ends_once(sent):
    Player(events(3)).wait(10)
    kinds = [content["type"] for content, _ in sent.messages]
    assert kinds == ["chunk", "words"] * 3 + ["end"]
    words = [content["words"] for content, _ in sent.of_type("words")]
    assert words[1] == [{"word": "word1", "start": pytest.approx(0.11), "end": pytest.approx(0.19)}]
    assert sent.of_type("end")[0][0]["n_chunks"] == 3


def test_final_state_holds_the_whole_answer(sent):
    player = Player(events(4), voice="joe").wait(10)
    assert player.status == "done"
    assert player.received_s == pytest.approx(0.4)
    assert player.ttfb_s == pytest.approx(player.speech.timing.first_audio_s)
    samples, rate = audio.decode_file(player.wav)
    assert rate == SAMPLE_RATE
    np.testing.assert_allclose(samples, np.concatenate(tone_chunks(4)), atol=1 / 16000)
    assert [w["word"] for w in player.words] == ["word0", "word1", "word2", "word3"]


def test_without_a_front_end_the_stream_is_consumed_and_collected():
    first_handed_on, release = threading.Event(), threading.Event()

    def slow_stream():
        yield from itertools.islice(events(2), 2)
        first_handed_on.set()
        release.wait(10)
        yield from itertools.islice(events(2), 2, None)

    player = Player(slow_stream())
    assert first_handed_on.wait(10)
    assert not player.done
    assert repr(player) == "Player(0.10 s received, 1 chunks, streaming)"
    release.set()
    speech = player.wait(10).speech
    assert speech.sample_rate == SAMPLE_RATE
    assert speech.duration == pytest.approx(0.2)
    assert list(speech.words["word"]) == ["word0", "word1"]
    assert speech.timing.chunks["n_samples"].tolist() == [2205, 2205]


def test_repr_is_stable_and_has_no_address():
    player = Player(events(2), voice="joe").wait(10)
    assert repr(player) == "Player(voice='joe', 0.20 s received, 2 chunks, done)"
    data, _ = player._repr_mimebundle_()
    assert data["text/plain"] == repr(player)
    assert not re.search(r"0x[0-9a-f]+", data["text/plain"])


def test_any_iterable_of_duck_typed_events_plays():
    chunk = SimpleNamespace(
        audio=np.zeros(100, np.float32), sample_rate=8000, arrival_s=0.01, audio_start_s=0.0
    )
    words = SimpleNamespace(
        words=pd.DataFrame({"word": ["hi"], "start": [0.0], "end": [0.01]}), arrival_s=0.02
    )
    player = Player([chunk, words, "ignored"]).wait(10)
    assert player.speech.duration == pytest.approx(100 / 8000)
    assert player.words == [{"word": "hi", "start": 0.0, "end": 0.01}]


def test_a_failing_stream_is_reported_and_reraised(sent):
    def broken():
        yield AudioChunk(np.zeros(10, np.float32), SAMPLE_RATE, 0.01, 0.0)
        raise ConnectionError("server went away")

    player = Player(broken())
    with pytest.raises(ConnectionError, match="server went away"):
        player.wait(10)
    assert player.status == "error"
    assert player.error == "ConnectionError: server went away"
    assert repr(player).endswith("1 chunks, failed)")
    assert len(sent.of_type("end")) == 1


def test_kernel_latency_is_measured_with_the_injected_clock(sent):
    ticks = itertools.count()
    player = Player(events(3), clock=lambda: next(ticks) * 0.001).wait(10)
    # Per chunk: the event leaves the iterator (tick), the message is built (tick), sent (tick).
    assert [c["kernel_ms"] for c, _ in sent.of_type("chunk")] == pytest.approx([1.0] * 3)
    figures = player.latency()
    assert figures["kernel_first_ms"] == figures["kernel_median_ms"] == pytest.approx(2.0)
    assert figures["browser_median_ms"] is None
    player.frontend = {"handling_median_ms": 0.4, "handling_max_ms": 1.5, "first_lead_ms": 10.0}
    assert player.latency()["browser_max_ms"] == 1.5


def test_a_speech_stream_from_the_local_server_plays(espeak_server, sent):
    from ttskit.client import Client

    client = Client(espeak_server.base_url)
    stream = client.stream("Hello there. A second sentence.", voice="en-us", alignment="word")
    player = stream.play().wait(30)
    assert isinstance(player, Player)
    speech = player.speech
    chunks = sent.of_type("chunk")
    assert len(chunks) == len(speech.timing.chunks) == player.chunks_sent > 1
    pcm = np.concatenate([np.frombuffer(buffers[0], dtype="<f4") for _, buffers in chunks])
    np.testing.assert_array_equal(pcm, speech.audio)
    assert speech.timing.done_s is not None
    assert list(speech.words["word"]) == ["Hello", "there", "A", "second", "sentence"]
    assert repr(player).startswith("Player(voice='en-us', ")
