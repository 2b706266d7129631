"""Every payload shape of PROTOCOL.md section 2, over real HTTP from the replay server."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ttskit import audio
from ttskit.client import Client
from ttskit.errors import InternalServerError, StreamInterrupted, TimeoutError

from .conftest import ManualClock
from .replay_server import (
    Answer,
    ReplayServer,
    shape_payloads,
    split_pcm,
    sse,
    streamed_wav_header,
    tone,
)

SIGNAL = tone()
PCM = audio.encode_pcm(SIGNAL, encoding="pcm_s16le")
EXPECTED = audio.decode_pcm(PCM, encoding="pcm_s16le")


def pieces_of(body: bytes, size: int | None) -> list[bytes]:
    if size is None:
        return [body]
    return [body[i : i + size] for i in range(0, len(body), size)]


@pytest.mark.parametrize("read_size", [None, 7], ids=["whole", "7-byte-chunks"])
@pytest.mark.parametrize("shape", [1, 2, 3, 4])
def test_sse_shapes(replay: ReplayServer, shape: int, read_size: int | None) -> None:
    body = sse(*shape_payloads(shape, split_pcm(PCM, 6, 2)))
    replay.answers.append(Answer(pieces_of(body, read_size)))
    speech = Client(replay.base_url).speak("Hello.", stream=True)
    assert np.array_equal(speech.audio, EXPECTED)
    assert speech.sample_rate == 24000
    assert len(speech.timing.chunks) == 6


def test_crlf_framing_and_named_events(replay: ReplayServer) -> None:
    body = sse(*shape_payloads(1, split_pcm(PCM, 3, 2)), newline=b"\r\n")
    body = b": comment\r\nevent: message\r\nid: 1\r\n" + body
    replay.answers.append(Answer(pieces_of(body, 5)))
    assert np.array_equal(Client(replay.base_url).speak("Hi.", stream=True).audio, EXPECTED)


@pytest.mark.parametrize("read_size", [None, 1000, 3])
def test_binary_raw_pcm_body(replay: ReplayServer, read_size: int | None) -> None:
    replay.answers.append(
        Answer(pieces_of(PCM, read_size), content_type="application/octet-stream")
    )
    speech = Client(replay.base_url).speak("Hi.", stream=True)
    assert np.array_equal(speech.audio, EXPECTED)


@pytest.mark.parametrize("read_size", [None, 1000, 3])
def test_binary_streamed_wav_body(replay: ReplayServer, read_size: int | None) -> None:
    body = streamed_wav_header(16000, "pcm_s16le") + PCM
    replay.answers.append(Answer(pieces_of(body, read_size), content_type="audio/wav"))
    speech = Client(replay.base_url).speak("Hi.", stream=True)
    assert speech.sample_rate == 16000  # from the header, not the 24000 asked for
    assert np.array_equal(speech.audio, EXPECTED)


def test_a_non_streamed_wav_without_content_length(replay: ReplayServer) -> None:
    body = audio.wav_bytes(SIGNAL, sample_rate=22050)
    replay.answers.append(Answer(pieces_of(body, 4096), content_type="audio/wav"))
    speech = Client(replay.base_url).speak("Hi.")
    assert speech.sample_rate == 22050
    assert np.array_equal(speech.audio, audio.decode_file(body)[0])
    assert replay.speech_requests[-1].body["response_format"] == "wav"


def test_word_timestamps_accumulate(replay: ReplayServer) -> None:
    first, second = split_pcm(PCM, 2, 2)
    body = sse(
        {
            "type": "conversation.item.word_timestamps",
            "item_id": "tts_1",
            "words": ["Hello"],
            "start_seconds": [0.0],
            "end_seconds": [0.1],
        },
        *shape_payloads(1, [first]),
        {
            "type": "conversation.item.word_timestamps",
            "item_id": "tts_1",
            "words": ["world"],
            "start_seconds": [0.2],
            "end_seconds": [0.3],
        },
        *shape_payloads(1, [second]),
    )
    replay.answers.append(Answer(pieces_of(body, 50)))
    speech = Client(replay.base_url).speak("Hello world", alignment="word")
    assert speech.words.to_dict("list") == {
        "word": ["Hello", "world"],
        "start": [0.0, 0.2],
        "end": [0.1, 0.3],
    }
    assert replay.speech_requests[-1].body["stream"] is True


def test_an_error_event_mid_stream(replay: ReplayServer) -> None:
    error = {
        "error": {
            "message": "out of GPUs",
            "type": "server_error",
            "param": None,
            "code": "overloaded",
        }
    }
    body = sse(*shape_payloads(1, split_pcm(PCM, 4, 2)[:2]), error, done=False)
    replay.answers.append(Answer([body]))
    with pytest.raises(StreamInterrupted) as caught:
        Client(replay.base_url).speak("Hi.", stream=True)
    assert isinstance(caught.value.__cause__, InternalServerError)
    assert caught.value.__cause__.code == "overloaded"
    assert len(caught.value.partial.audio) == sum(len(p) for p in split_pcm(PCM, 4, 2)[:2]) // 2
    assert len(replay.speech_requests) == 1  # audio had arrived: never retried


@pytest.mark.parametrize("chunked", [True, False])
def test_a_body_cut_mid_chunk(replay: ReplayServer, chunked: bool) -> None:
    pieces = split_pcm(PCM, 5, 2)[:2]
    replay.answers.append(
        Answer(pieces, content_type="application/octet-stream", chunked=chunked, cut=True)
    )
    with pytest.raises(StreamInterrupted) as caught:
        Client(replay.base_url).speak("Hi.", stream=True)
    assert len(caught.value.partial.audio) == sum(len(p) for p in pieces) // 2
    assert len(replay.speech_requests) == 1


def test_timing_follows_the_server_delays(replay: ReplayServer) -> None:
    # The server moves the client's clock 50 ms before its headers and before each event,
    # and sends an event only once the client has read the one before: each time in the
    # Timing is then known exactly.
    clock = ManualClock(now=100.0)
    turn = threading.Semaphore(0)

    def before(index: int) -> None:
        if index >= 0:
            assert turn.acquire(timeout=30), "the client stopped reading"
        clock.now += 0.05

    body = sse(*shape_payloads(1, split_pcm(PCM, 3, 2)))
    events = [piece + b"\n\n" for piece in body.split(b"\n\n") if piece]
    replay.answers.append(Answer(events, before=before))
    client = Client(replay.base_url, model="replay", voice="alice", clock=clock)
    with client.stream("Hi.") as stream:
        turn.release()
        for _ in stream:
            turn.release()
        timing = stream.timing
    assert timing.headers_s == pytest.approx(0.05)
    assert timing.first_byte_s == timing.first_audio_s == pytest.approx(0.10)
    assert timing.chunks["arrival_s"].tolist() == pytest.approx([0.10, 0.15, 0.20])
    assert timing.done_s == pytest.approx(0.25)  # when [DONE] came


def test_a_server_that_stalls_mid_stream_times_out(replay: ReplayServer) -> None:
    events = [
        e + b"\n\n" for e in sse(*shape_payloads(1, split_pcm(PCM, 3, 2))).split(b"\n\n") if e
    ]
    replay.answers.append(Answer(events, piece_delay_s=0.6))
    with pytest.raises(StreamInterrupted) as caught:
        Client(replay.base_url, timeout=0.3).speak("Hi.", stream=True)
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert len(replay.speech_requests) == 1


def test_a_server_slow_to_answer_is_a_timeout_not_retried(replay: ReplayServer, sleeps) -> None:
    # The server accepted the request and is still at it: asking again would only double
    # the wait (and the work).
    replay.answers.append(Answer([sse()], headers_delay_s=0.5))
    client = Client(
        replay.base_url, model="replay", voice="alice", timeout=0.2, max_retries=1, sleep=sleeps
    )
    with pytest.raises(TimeoutError, match="no answer in time for POST"):
        client.speak("Hi.", stream=True)
    assert sleeps.waits == []
    assert len(replay.speech_requests) == 1
