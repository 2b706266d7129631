"""POST /v1/audio/speech with ``stream: true``: Server-Sent Events of PROTOCOL.md section 2."""

from __future__ import annotations

import base64
import threading

import numpy as np
import pytest
import requests

from ttskit import audio
from ttskit.engines import EngineError, load_engine
from ttskit.engines.text import split_sentences, split_words
from ttskit.server import create_app
from ttskit.server.background import LocalServer

from .helpers import (
    TEXT,
    assert_same_speech,
    post_speech,
    speech_body,
    sse_payloads,
    stream_audio,
    wait_until_idle,
)

PARAGRAPH = (
    "The quick brown fox jumps over the lazy dog. It was a bright cold day in April. "
    "Clocks were striking thirteen! Did anyone notice? Nobody did."
)
DELTA_KEYS = {"type", "item_id", "delta"}
WORDS_KEYS = {"type", "item_id", "words", "start_seconds", "end_seconds"}


def test_exact_event_shapes_and_done(espeak_server):
    response = post_speech(espeak_server, stream=True, response_format="raw", alignment="word")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "event:" not in response.text
    payloads = sse_payloads(response)
    assert payloads[-1] == "[DONE]"
    assert "[DONE]" not in payloads[:-1]
    for payload in payloads[:-1]:
        if payload["type"] == "conversation.item.audio_output.delta":
            assert set(payload) == DELTA_KEYS
            assert payload["item_id"] == "tts_1"
        else:
            assert payload["type"] == "conversation.item.word_timestamps"
            assert set(payload) == WORDS_KEYS


def test_stream_defaults_to_raw_f32le_at_24000(espeak_server):
    streamed = sse_payloads(post_speech(espeak_server, stream=True))
    samples = stream_audio(streamed, encoding="pcm_f32le")
    whole, rate = audio.decode_file(post_speech(espeak_server).content)
    assert_same_speech(samples, 24000, whole, rate)


@pytest.mark.parametrize("encoding", ["pcm_f32le", "pcm_s16le", "pcm_mulaw", "pcm_alaw"])
def test_stream_encodings(espeak_server, encoding):
    payloads = sse_payloads(
        post_speech(espeak_server, stream=True, response_encoding=encoding, sample_rate=16000)
    )
    samples = stream_audio(payloads, encoding=encoding)
    whole, rate = audio.decode_file(post_speech(espeak_server).content)
    assert_same_speech(samples, 16000, whole, rate)


def test_no_words_without_alignment(espeak_server):
    payloads = sse_payloads(post_speech(espeak_server, stream=True))
    assert all(p == "[DONE]" or p["type"].endswith("audio_output.delta") for p in payloads)


def test_deltas_carry_at_most_half_a_second(espeak_server):
    for sample_rate, encoding in [(48000, "pcm_f32le"), (8000, "pcm_mulaw")]:
        payloads = sse_payloads(
            post_speech(
                espeak_server, stream=True, sample_rate=sample_rate, response_encoding=encoding
            )
        )
        width = audio.bytes_per_sample(encoding)
        sizes = [
            len(base64.b64decode(p["delta"])) // width for p in payloads if isinstance(p, dict)
        ]
        assert max(sizes) <= 0.5 * sample_rate
        # The default is a tenth of a second; only a segment's last delta is shorter.
        assert max(sizes) == int(0.1 * sample_rate)


def test_word_timestamps_cumulative_monotone_and_before_their_audio(espeak_server):
    payloads = sse_payloads(
        post_speech(espeak_server, input=PARAGRAPH, stream=True, alignment="word")
    )
    audio_seconds = 0.0
    words, starts, ends = [], [], []
    n_word_events = 0
    for payload in payloads[:-1]:
        if payload["type"] == "conversation.item.word_timestamps":
            n_word_events += 1
            # Sent before the segment's first audio: its first word starts at or after
            # the audio sent so far.
            assert payload["start_seconds"][0] >= audio_seconds - 1e-3
            words += payload["words"]
            starts += payload["start_seconds"]
            ends += payload["end_seconds"]
        else:
            pcm = base64.b64decode(payload["delta"])
            audio_seconds += len(pcm) / 4 / 24000
    assert n_word_events == 5  # one per sentence
    assert words[:4] == ["The", "quick", "brown", "fox"] and words[-2:] == ["Nobody", "did"]
    assert len(words) == 26
    assert all(start <= end for start, end in zip(starts, ends, strict=True))
    assert starts == sorted(starts) and ends == sorted(ends)
    assert ends[-1] <= audio_seconds + 1e-3
    # Cumulative: the last sentence's words come late in the audio, not near zero.
    assert starts[-1] > 0.7 * audio_seconds


class HeldAfterOneSegment:
    """eSpeak whose synthesis, after its first sentence, waits until the test lets it go on,
    and says when it has finished: events instead of timings."""

    def __init__(self) -> None:
        self._engine = load_engine("espeak")
        self.model = "held"
        self.sample_rate = self._engine.sample_rate
        self.go_on = threading.Event()
        self.finished = threading.Event()

    def voices(self):
        return self._engine.voices()

    def synthesize(self, text, *, voice, speed=1.0):
        for index, segment in enumerate(self._engine.synthesize(text, voice=voice, speed=speed)):
            if index == 1:
                self.go_on.wait(60)  # a test that fails still ends
            yield segment
        self.finished.set()


def test_stream_starts_before_synthesis_ends():
    """The first delta arrives while the engine is still on the rest of the text."""
    engine = HeldAfterOneSegment()
    with (
        LocalServer(create_app({"held": [engine]})) as server,
        requests.post(
            f"{server.base_url}/audio/speech",
            json=speech_body(model="held", input=PARAGRAPH, stream=True),
            stream=True,
            timeout=60,
        ) as response,
    ):
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith(b"data: {"))
        assert not engine.finished.is_set()
        engine.go_on.set()
        rest = [line for line in lines if line]
    assert b"audio_output.delta" in first or b"word_timestamps" in first
    assert rest[-1] == b"data: [DONE]"
    assert engine.finished.is_set()


class FailingAfterOneSegment:
    """eSpeak that breaks after its first sentence, as a crashing engine would.

    No real engine fails on demand mid-stream, hence this wrapper.
    """

    def __init__(self) -> None:
        self._engine = load_engine("espeak")
        self.model = "failing"
        self.sample_rate = self._engine.sample_rate

    def voices(self):
        return self._engine.voices()

    def synthesize(self, text, *, voice, speed=1.0):
        for index, segment in enumerate(self._engine.synthesize(text, voice=voice, speed=speed)):
            if index == 1:
                raise EngineError("the engine broke down")
            yield segment


def test_error_after_the_stream_started():
    app = create_app({"failing": [FailingAfterOneSegment()]})
    with LocalServer(app) as server:
        response = post_speech(server, model="failing", input=TEXT, stream=True)
        assert response.status_code == 200
        payloads = sse_payloads(response)
        assert "[DONE]" not in payloads
        assert payloads[0]["type"] == "conversation.item.audio_output.delta"
        error = payloads[-1]
        assert set(error) == {"error"}
        assert error["error"]["type"] == "server_error"
        assert error["error"]["code"] == "engine_error"
        assert "broke down" in error["error"]["message"]
        # The server keeps serving, and the slot was given back.
        wait_until_idle(server, "failing", timeout=1.0)
        non_streamed = post_speech(server, model="failing", input="One sentence.")
        assert non_streamed.status_code == 200


def test_streamed_audio_is_speech(espeak_server):
    samples = stream_audio(sse_payloads(post_speech(espeak_server, stream=True)))
    assert audio.rms_dbfs(samples) > -40
    assert np.isfinite(samples).all()


CLAUSED = (
    "When the morning train finally pulled into the station, the passengers stepped down "
    "onto the cold platform. A conductor called out the next departure."
)


@pytest.mark.parametrize(
    ("segment", "first_words"),
    [
        ("immediate", ["When", "the", "morning", "train", "finally", "pulled", "into", "the",
                       "station"]),
        ("sentence", [word.text for word in split_words(split_sentences(CLAUSED)[0])]),
        (None, [word.text for word in split_words(split_sentences(CLAUSED)[0])]),
    ],
)  # fmt: skip
def test_immediate_starts_on_the_first_clause(espeak_server, segment, first_words):
    response = post_speech(
        espeak_server, input=CLAUSED, stream=True, alignment="word", segment=segment
    )
    assert response.status_code == 200
    events = [p for p in sse_payloads(response) if isinstance(p, dict)]
    timed = [p for p in events if p["type"] == "conversation.item.word_timestamps"]
    # The first synthesis is the first clause alone with "immediate", else the sentence;
    # either way every word is spoken once, in order, on one clock.
    assert timed[0]["words"] == first_words
    words = [word for event in timed for word in event["words"]]
    assert words == [word.text for word in split_words(CLAUSED)]
    starts = [start for event in timed for start in event["start_seconds"]]
    assert starts == sorted(starts)
