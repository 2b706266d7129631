"""SpeechStream: decoding layers and timing, fed with bytes and an exact clock."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ttskit import audio
from ttskit.client.request import SpeechRequest
from ttskit.client.streaming import SpeechStream
from ttskit.errors import (
    BadRequestError,
    ProtocolError,
    ReadError,
    StreamConsumedError,
    StreamInterrupted,
)
from ttskit.results import AudioChunk, WordTimestamps

from .replay_server import b64, sse, streamed_wav_header

RATE = 8000


class ManualClock:
    """A clock that reads whatever the body generator last set."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def timed_body(clock: ManualClock, reads: list[tuple[float, bytes]], end_s: float):
    """Yield each read at its time; the clock shows ``end_s`` once the body has ended."""
    for at, data in reads:
        clock.now = at
        yield data
    clock.now = end_s


def make_stream(
    reads, *, end_s=1.0, content_type="text/event-stream", encoding="pcm_s16le", sample_rate=RATE
):
    clock = ManualClock()
    clock.now = 100.0
    return SpeechStream(
        timed_body(clock, [(100.0 + at, data) for at, data in reads], 100.0 + end_s),
        content_type=content_type,
        encoding=encoding,
        sample_rate=sample_rate,
        started=100.0,
        headers_s=0.05,
        clock=clock,
        request=SpeechRequest("hi", "m", "v", "raw", stream=True),
        endpoint="http://example.invalid/v1",
    )


def delta(samples: np.ndarray, item_id: str = "tts_1") -> dict:
    pcm = audio.encode_pcm(samples, encoding="pcm_s16le")
    return {"type": "conversation.item.audio_output.delta", "item_id": item_id, "delta": b64(pcm)}


SILENCE = np.zeros(800, dtype=np.float32)  # 0.1 s
TONE = audio.sine(440, duration=0.1, sample_rate=RATE)


def test_timing_is_taken_where_the_bytes_arrive() -> None:
    body = sse(delta(SILENCE), delta(TONE), delta(TONE))
    first_end = body.index(b"\n\n") + 2
    second_end = body.index(b"\n\n", first_end) + 2
    reads = [
        (0.10, b": keep-alive\n\n"),  # the first body byte, no audio yet
        (0.20, body[:40]),  # the first delta starts ...
        (0.30, body[40:first_end]),  # ... and is complete here
        (0.50, body[first_end : second_end + 10]),
        (0.70, body[second_end + 10 :]),
    ]
    with make_stream(reads, end_s=0.75) as stream:
        speech = stream.speech()
    timing = speech.timing
    assert timing.headers_s == 0.05
    assert timing.first_byte_s == pytest.approx(0.10)
    assert timing.first_audio_s == pytest.approx(0.30)
    assert timing.first_audible_s == pytest.approx(0.50)  # the first chunk is silent
    assert timing.done_s == pytest.approx(0.75)
    assert timing.chunks["arrival_s"].tolist() == pytest.approx([0.30, 0.50, 0.70])
    assert timing.chunks["n_samples"].tolist() == [800, 800, 800]
    assert timing.chunks["audio_start_s"].tolist() == pytest.approx([0.0, 0.1, 0.2])
    assert speech.duration == pytest.approx(0.3)
    assert (speech.text, speech.model, speech.voice) == ("hi", "m", "v")
    assert speech.endpoint == "http://example.invalid/v1"


def test_events_come_as_they_arrive_and_speech_collects_the_rest() -> None:
    words = {
        "type": "conversation.item.word_timestamps",
        "words": ["a", "b"],
        "start_seconds": [0.0, 0.05],
        "end_seconds": [0.05, 0.1],
    }
    later = dict(words, words=["c"], start_seconds=[0.1], end_seconds=[0.2])
    body = sse(words, delta(TONE), later, delta(TONE))
    stream = make_stream([(0.1, body)])
    iterator = iter(stream)
    first, second = next(iterator), next(iterator)
    assert isinstance(first, WordTimestamps) and first.words["word"].tolist() == ["a", "b"]
    assert isinstance(second, AudioChunk) and second.audio_start_s == 0.0
    speech = stream.speech()  # collects what was not iterated too
    assert speech.duration == pytest.approx(0.2)
    assert speech.words["word"].tolist() == ["a", "b", "c"]
    assert speech.words["start"].tolist() == pytest.approx([0.0, 0.05, 0.1])
    with pytest.raises(StreamConsumedError):
        iter(stream)
    assert stream.speech() is speech


def test_iterating_twice_raises() -> None:
    stream = make_stream([(0.1, sse(delta(TONE)))])
    assert len(list(stream)) == 1
    with pytest.raises(StreamConsumedError):
        list(stream)


def test_an_error_event_interrupts_with_the_partial_speech() -> None:
    error = {
        "error": {
            "message": "engine fell over",
            "type": "invalid_request_error",
            "param": "voice",
            "code": "boom",
        }
    }
    body = sse(delta(TONE), delta(TONE), error, done=False)
    stream = make_stream([(0.1, body)])
    with pytest.raises(StreamInterrupted) as caught:
        stream.speech()
    assert caught.value.partial.duration == pytest.approx(0.2)
    cause = caught.value.__cause__
    assert isinstance(cause, BadRequestError)
    assert (cause.message, cause.code, cause.param) == ("engine fell over", "boom", "voice")
    assert "engine fell over" in str(caught.value)
    assert stream.speech(allow_partial=True) is caught.value.partial


def test_a_stream_without_done_is_interrupted() -> None:
    stream = make_stream([(0.1, sse(delta(TONE), done=False))])
    events = []
    with pytest.raises(StreamInterrupted) as caught:
        for event in stream:
            events.append(event)
    assert len(events) == 1
    assert isinstance(caught.value.__cause__, ProtocolError)
    assert caught.value.partial.duration == pytest.approx(0.1)


def test_a_broken_connection_is_interrupted() -> None:
    def body():
        yield sse(delta(TONE), done=False)
        raise ReadError("connection reset")

    stream = SpeechStream(
        body(),
        content_type="text/event-stream",
        encoding="pcm_s16le",
        sample_rate=RATE,
        started=0.0,
    )
    with pytest.raises(StreamInterrupted) as caught:
        stream.speech()
    assert isinstance(caught.value.__cause__, ReadError)
    assert caught.value.partial.duration == pytest.approx(0.1)


def test_ctrl_c_keeps_the_audio_and_only_its_words() -> None:
    words = {
        "type": "conversation.item.word_timestamps",
        "words": ["Hello", "there"],
        "start_seconds": [0.0, 0.08],
        "end_seconds": [0.08, 0.2],  # "there" ends after the 0.1 s of audio that came
    }

    def body():
        yield sse(words, delta(TONE), done=False)
        raise KeyboardInterrupt

    stream = SpeechStream(
        body(), content_type="text/event-stream", encoding="pcm_s16le", sample_rate=RATE, started=0
    )
    with pytest.raises(KeyboardInterrupt), stream:
        for _ in stream:
            pass
    partial = stream.speech(allow_partial=True)
    assert partial.duration == pytest.approx(0.1)
    assert partial.words["word"].tolist() == ["Hello"]


def test_closing_early_releases_and_speech_says_it_is_partial() -> None:
    released = []
    # Each read carries one event: what was read stays collected, what was not is not.
    stream = SpeechStream(
        iter([sse(delta(TONE), done=False), sse(delta(TONE))]),
        content_type="text/event-stream",
        encoding="pcm_s16le",
        sample_rate=RATE,
        started=0.0,
        close=lambda: released.append(True),
    )
    with stream:
        next(iter(stream))
    assert released == [True]
    with pytest.raises(StreamInterrupted):
        stream.speech()
    assert stream.speech(allow_partial=True).duration == pytest.approx(0.1)


@pytest.mark.parametrize("encoding", audio.ENCODINGS)
def test_a_raw_body_split_inside_samples(encoding: str) -> None:
    pcm = audio.encode_pcm(TONE, encoding=encoding)
    reads = [(0.1 * i, pcm[i * 333 : (i + 1) * 333]) for i in range(len(pcm) // 333 + 1)]
    speech = make_stream(reads, content_type="application/octet-stream", encoding=encoding).speech()
    assert np.array_equal(speech.audio, audio.decode_pcm(pcm, encoding=encoding))


@pytest.mark.parametrize("encoding", audio.ENCODINGS)
def test_a_streamed_wav_header_arriving_byte_by_byte_sets_format_and_rate(encoding: str) -> None:
    header = streamed_wav_header(16000, encoding)
    pcm = audio.encode_pcm(TONE, encoding=encoding)
    reads = [(0.001 * i, header[i : i + 1]) for i in range(len(header))] + [(0.5, pcm)]
    # The request asked for something else: the header wins.
    speech = make_stream(
        reads, content_type="audio/wav", encoding="pcm_f32le", sample_rate=24000
    ).speech()
    assert speech.sample_rate == 16000
    assert np.array_equal(speech.audio, audio.decode_pcm(pcm, encoding=encoding))
    assert speech.timing.first_audio_s == pytest.approx(0.5)


def test_a_wav_file_body_stops_at_its_data_size() -> None:
    data = audio.wav_bytes(TONE, sample_rate=RATE) + b"LIST\x04\x00\x00\x00abcd"
    speech = make_stream([(0.1, data)], content_type="application/octet-stream").speech()
    assert len(speech.audio) == len(TONE)


def test_an_mp3_body_is_decoded_whole() -> None:
    tone = audio.sine(440, duration=0.5, sample_rate=24000)
    data = audio.encode_file(tone, sample_rate=24000, format="mp3")
    reads = [(0.1, data[:100]), (0.2, data[100:])]
    speech = make_stream(reads, content_type="audio/mpeg", encoding=None, sample_rate=None).speech()
    assert speech.sample_rate == 24000
    assert abs(speech.duration - 0.5) < 0.1


def test_l16_content_type_gives_the_rate() -> None:
    pcm = audio.encode_pcm(TONE, encoding="pcm_s16le")
    speech = make_stream(
        [(0.1, pcm)], content_type="audio/L16; rate=8000", encoding=None, sample_rate=None
    ).speech()
    assert speech.sample_rate == 8000 and len(speech.audio) == len(TONE)


def test_raw_audio_of_unknown_rate_is_an_error_not_a_guess() -> None:
    stream = make_stream(
        [(0.1, b"\x00" * 64)], content_type="application/octet-stream", sample_rate=None
    )
    with pytest.raises(StreamInterrupted) as caught:
        stream.speech()
    assert "sample rate is unknown" in str(caught.value.__cause__)


def test_an_unexpected_content_type_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="application/json"):
        make_stream([(0.1, json.dumps({"audio": "..."}).encode())], content_type="application/json")


def test_collecting_grows_in_place() -> None:
    stream = make_stream([(0.1, sse(*[delta(TONE)] * 50))])
    speech = stream.speech()
    assert speech.audio.flags.owndata and len(speech.audio) == 50 * len(TONE)
    assert np.array_equal(speech.audio[-len(TONE) :], audio.decode_pcm(audio.encode_pcm(TONE)))


# --- malformed answers are interrupted streams, with the audio before them ----------------


@pytest.mark.parametrize(
    "words",
    [
        {"words": ["a", "b"], "start_seconds": [0.0], "end_seconds": [0.1]},
        {"words": "a b", "start_seconds": [0.0], "end_seconds": [0.1]},
        {"words": [{"word": "a"}, "b"]},
    ],
)
def test_bad_word_timestamps_interrupt_the_stream(words: dict) -> None:
    payload = {"type": "conversation.item.word_timestamps", **words}
    stream = make_stream([(0.1, sse(delta(TONE), payload))])
    with pytest.raises(StreamInterrupted) as caught:
        stream.speech()
    assert isinstance(caught.value.__cause__, ProtocolError)
    assert caught.value.partial.duration == pytest.approx(0.1)


@pytest.mark.parametrize("bad", ["!!!", b64(b"\x00\x01") + "\n", "AAA=AAA=", "ÄÄÄÄ"])
def test_invalid_base64_interrupts_the_stream(bad: str) -> None:
    bad_delta = {"type": "conversation.item.audio_output.delta", "delta": bad}
    stream = make_stream([(0.1, sse(delta(TONE), bad_delta, delta(TONE)))])
    with pytest.raises(StreamInterrupted) as caught:
        stream.speech()
    assert isinstance(caught.value.__cause__, ProtocolError)
    assert "base64" in str(caught.value)
    assert caught.value.partial.duration == pytest.approx(0.1)


def test_a_wav_stream_of_an_unsupported_sample_format_is_interrupted() -> None:
    header = bytearray(streamed_wav_header(RATE, "pcm_s16le"))
    header[34:36] = (24).to_bytes(2, "little")  # 24-bit integer samples
    stream = make_stream([(0.1, bytes(header) + b"\x00" * 30)], content_type="audio/wav")
    with pytest.raises(StreamInterrupted) as caught:
        stream.speech()
    assert isinstance(caught.value.__cause__, ProtocolError)
    assert "24 bits" in str(caught.value)


# --- formats besides PCM ---------------------------------------------------------------------


def test_a_mulaw_body_is_headerless_whatever_its_content_type() -> None:
    data = audio.encode_pcm(TONE, encoding="pcm_mulaw")
    speech = make_stream(
        [(0.1, data[:101]), (0.2, data[101:])], content_type="audio/basic", encoding="pcm_mulaw"
    ).speech()
    assert speech.sample_rate == RATE
    assert np.array_equal(speech.audio, audio.decode_pcm(data, encoding="pcm_mulaw"))


def test_an_undecodable_body_says_what_to_ask_for_instead() -> None:
    stream = make_stream(
        [(0.1, b"\xff\xf1" + b"\x00" * 500)],
        content_type="audio/aac",
        encoding=None,
        sample_rate=None,
    )
    with pytest.raises(ProtocolError) as caught:
        stream.speech()
    assert not isinstance(caught.value, StreamInterrupted)
    assert "audio/aac" in str(caught.value) and "response_format='wav'" in str(caught.value)
