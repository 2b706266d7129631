"""Behaviour written once and run with both clients: ``Client`` and ``AsyncClient``.

``make_client`` (conftest.py) makes either; the async one is driven by an event loop and
called as the sync one is, so each test here holds for both: the same results, events,
errors and bounds, over REST, SSE, OpenAI's dialect and the WebSocket, against real
servers on loopback.
"""

from __future__ import annotations

import signal
import struct
import threading
import time

import numpy as np
import pytest

from ttskit import audio
from ttskit.client import ContextCancelled, TextReceived
from ttskit.client.sse import MAX_LINE
from ttskit.errors import (
    BadRequestError,
    ConnectError,
    NotFoundError,
    ProtocolError,
    RateLimitError,
    StreamInterrupted,
    TimeoutError,
)
from ttskit.results import AudioChunk, WordTimestamps
from ttskit.server import Faults

from ..conftest import HOSTED_MODEL
from .conftest import ManualClock
from .openai_server import PCM, RATE
from .replay_server import Answer, b64, sse, streamed_wav_header
from .ws_servers import flooding

TEXT = "Hello there, how are you?"


# --- HTTP -------------------------------------------------------------------------------------


def test_rest(make_client, espeak_server) -> None:
    speech = make_client(espeak_server.base_url).speak(TEXT)
    assert speech.duration > 0.5 and speech.sample_rate == 24000
    assert (speech.model, speech.text) == ("espeak", TEXT)
    assert speech.endpoint == espeak_server.base_url
    assert speech.timing.first_audio_s > 0


def test_sse_events_and_words(make_client, espeak_server) -> None:
    client = make_client(espeak_server.base_url)
    with client.stream("Hello there.", alignment="word") as stream:
        events = list(stream)
        speech = stream.speech()
    chunks = [e for e in events if isinstance(e, AudioChunk)]
    words = [w for e in events if isinstance(e, WordTimestamps) for w in e.words["word"]]
    assert words == speech.words["word"].tolist() == ["Hello", "there"]
    assert sum(len(c.audio) for c in chunks) == len(speech.audio)
    assert len(speech.timing.chunks) == len(chunks)


def test_an_unknown_voice_is_an_api_error_with_its_request_id(make_client, espeak_server) -> None:
    client = make_client(espeak_server.base_url, model="espeak")
    with pytest.raises(BadRequestError) as caught:
        client.speak("Hi.", voice="no-such-voice")
    error = caught.value
    assert (error.status_code, error.param) == (400, "voice")
    assert error.request_id and "no-such-voice" in error.message


def test_an_unknown_model(make_client, espeak_server) -> None:
    with pytest.raises(NotFoundError) as caught:
        make_client(espeak_server.base_url).speak("Hi.", model="no-such-model", voice="x")
    assert caught.value.status_code == 404


def test_a_refused_connection(make_client) -> None:
    client = make_client("http://127.0.0.1:9/v1", model="m", voice="v", max_retries=0)
    with pytest.raises(ConnectError, match="could not connect for POST"):
        client.speak("Hi.")


def test_a_cut_stream_keeps_its_partial_audio(make_client, espeak_server) -> None:
    client = make_client(espeak_server.base_url, headers={"x-ttskit-faults": "cut_after=3"})
    with pytest.raises(StreamInterrupted) as caught:
        client.speak(TEXT, stream=True)
    partial = caught.value.partial
    assert partial.duration == pytest.approx(0.3, abs=0.01)  # three 100 ms deltas
    assert partial.endpoint == espeak_server.base_url


def test_served_and_requested_model_and_voice(make_client, espeak_server) -> None:
    client = make_client(espeak_server.base_url)
    with client.stream("Hello.", model=HOSTED_MODEL, voice="tara") as stream:
        speech = stream.speech()
        served = (stream.served_model, stream.served_voice)
        assert stream.server and stream.request_id and stream.status == 200
    assert served[0] == "espeak" and served[1] != "tara"
    assert (speech.model, speech.voice) == served
    assert (speech.requested_model, speech.requested_voice) == (HOSTED_MODEL, "tara")
    rest = client.speak("Hello.", model=HOSTED_MODEL, voice="tara")
    assert (rest.model, rest.voice, rest.requested_voice) == ("espeak", served[1], "tara")


def test_retry_after_is_honoured(make_client, make_server, sleeps) -> None:
    server = make_server(faults=Faults(error_rate=1.0, error_status=429, retry_after=2))
    client = make_client(server.base_url, model="espeak", voice="en-us", sleep=sleeps)
    with pytest.raises(RateLimitError) as caught:
        client.speak("Hi.")
    assert caught.value.retry_after == 2.0
    assert sleeps.waits == [2.0, 2.0]  # the client's two retries, as the server asked


def test_an_answer_says_how_many_requests_it_took(make_client, replay, sleeps) -> None:
    busy = b'{"error": {"message": "busy", "type": "server_error", "code": "overloaded"}}'
    wav = audio.wav_bytes(np.zeros(2400, np.float32), sample_rate=24000)
    replay.answers += [
        Answer([busy], status=503, content_type="application/json", chunked=False),
        Answer([busy], status=503, content_type="application/json", chunked=False),
        Answer([wav], content_type="audio/wav", chunked=False),
    ]
    client = make_client(replay.base_url, model="replay", voice="alice", sleep=sleeps)
    speech = client.speak("Hi.")
    assert len(replay.received) == 3 and len(sleeps.waits) == 2
    assert speech.timing.attempts == 3 and speech.duration == pytest.approx(0.1)
    # The next answer came at once.
    assert client.speak("Hi.").timing.attempts == 1


@pytest.mark.parametrize("stream_format", ["sse", "audio"])
def test_openai_dialect(make_client, openai_server, stream_format: str) -> None:
    client = make_client(openai_server.base_url, model="tts-1", voice="alloy", dialect="openai")
    speech = client.speak("Hello there.", stream_format=stream_format)
    assert openai_server.app.state.received[-1]["stream_format"] == stream_format
    assert speech.sample_rate == RATE
    np.testing.assert_allclose(speech.audio, audio.decode_pcm(PCM, encoding="pcm_s16le"))


# --- Ctrl-C ----------------------------------------------------------------------------------


class CtrlC:
    """A clock that presses Ctrl-C (a real SIGINT to this process) at its first reading once
    ``armed`` is set. A client reads its clock right after each network read, so the
    interrupt lands in the middle of reading the answer, where a user's Ctrl-C lands."""

    def __init__(self) -> None:
        self.armed = threading.Event()
        self.pressed = False

    def __call__(self) -> float:
        if self.armed.is_set() and not self.pressed:
            self.pressed = True
            signal.raise_signal(signal.SIGINT)
        return time.perf_counter()


def test_ctrl_c_keeps_what_arrived_and_hangs_up(make_client, replay) -> None:
    tone = audio.sine(440, duration=0.1, sample_rate=RATE)
    words = {
        "type": "conversation.item.word_timestamps",
        "words": ["Hello", "there"],
        "start_seconds": [0.0, 0.08],
        "end_seconds": [0.08, 0.2],  # "there" ends after the 0.1 s of audio that came
    }
    delta = {"type": "conversation.item.audio_output.delta", "delta": b64(audio.encode_pcm(tone))}
    clock = CtrlC()

    def before(index: int) -> None:
        if index == 1:  # the next read comes once the caller has had the first audio
            assert clock.armed.wait(10)

    # The answer stays open after a keep-alive comment: only the client can end it.
    pieces = [sse(words, delta, done=False), b": still synthesizing\n\n"]
    replay.answers.append(Answer(pieces, before=before, hold=True))
    client = make_client(replay.base_url, model="replay", voice="alice", clock=clock, timeout=10)
    with (
        pytest.raises(KeyboardInterrupt),
        client.stream("Hello there.", sample_rate=RATE) as stream,
    ):
        for event in stream:
            if isinstance(event, AudioChunk):
                clock.armed.set()
    assert clock.pressed
    partial = stream.speech(allow_partial=True)
    np.testing.assert_array_equal(partial.audio, audio.decode_pcm(audio.encode_pcm(tone)))
    assert partial.words["word"].tolist() == ["Hello"]
    assert replay.hung_up.wait(10) and replay.hangups == [2]  # the connection was closed


# --- what a misbehaving server can make the client do is bounded ------------------------------


def cause(error: BaseException) -> BaseException:
    """The ``ProtocolError`` behind a stream cut by a malformed answer (or the error itself)."""
    return error.__cause__ if isinstance(error, StreamInterrupted) else error


def test_an_sse_line_without_end_is_a_protocol_error(make_client, replay) -> None:
    mib = b"A" * 2**20
    replay.answers.append(Answer([b"data: " + mib] + [mib] * 63))  # one 64 MiB line
    client = make_client(replay.base_url, model="replay", voice="alice")
    with pytest.raises(StreamInterrupted) as caught:
        client.speak("Hi.", stream=True)
    assert isinstance(cause(caught.value), ProtocolError)
    assert f"a line over {MAX_LINE} bytes" in str(caught.value)
    # The client stopped reading at the bound: the server could not write the whole line.
    assert replay.hung_up.wait(10) and replay.hangups[0] < 64


@pytest.mark.parametrize(
    ("content_type", "served_rate", "rate"),
    [
        ("audio/L16; rate=4294967296", None, "4294967296"),
        ("audio/L16; rate=1e11", None, "1e11"),
        ("audio/L16; rate=0", None, "0"),
        ("application/octet-stream", "0", "0"),
    ],
)
def test_a_served_sample_rate_out_of_range_is_a_protocol_error(
    make_client, replay, content_type: str, served_rate: str | None, rate: str
) -> None:
    headers = {} if served_rate is None else {"x-ttskit-sample-rate": served_rate}
    pcm = audio.encode_pcm(np.zeros(800, np.float32))
    replay.answers.append(Answer([pcm], content_type=content_type, headers=headers, hold=True))
    client = make_client(replay.base_url, model="replay", voice="alice")
    with pytest.raises(ProtocolError, match=f"sample rate of '{rate}'") as caught:
        client.speak("Hi.", response_format="raw")
    assert ("x-ttskit-sample-rate" if served_rate else "Content-Type") in str(caught.value)
    # The connection was closed, not left to the garbage collector (``caught`` still holds
    # the traceback, and with it what the call made).
    assert replay.hung_up.wait(10)


def test_a_four_byte_wav_fmt_chunk_is_a_protocol_error(make_client, replay) -> None:
    wav = b"RIFF" + struct.pack("<I", 36) + b"WAVE" + b"fmt " + struct.pack("<I", 4) + b"\0" * 4
    wav += b"data" + struct.pack("<I", 1600) + b"\0" * 1600
    replay.answers.append(Answer([wav], content_type="audio/wav", chunked=False))
    client = make_client(replay.base_url, model="replay", voice="alice")
    with pytest.raises((ProtocolError, StreamInterrupted)) as caught:
        client.speak("Hi.")
    assert isinstance(cause(caught.value), ProtocolError)
    assert "WAV" in str(caught.value)


def test_a_wav_longer_than_its_header_says_is_a_protocol_error(make_client, replay) -> None:
    tone = audio.sine(440, duration=0.1, sample_rate=RATE)
    wav = audio.wav_bytes(tone, sample_rate=RATE)
    replay.answers.append(Answer([wav] + [b"\0" * 2**16] * 32, content_type="audio/wav"))
    client = make_client(replay.base_url, model="replay", voice="alice")
    with pytest.raises(StreamInterrupted) as caught:
        client.speak("Hi.")
    assert isinstance(cause(caught.value), ProtocolError)
    assert "past the 4800 bytes of audio its header declares" in str(caught.value)
    assert caught.value.partial.duration == pytest.approx(0.1)


@pytest.mark.parametrize("shape", ["raw", "streamed wav", "sse"])
def test_audio_past_max_audio_s_is_a_protocol_error(make_client, replay, shape: str) -> None:
    pcm = audio.encode_pcm(audio.sine(440, duration=0.1, sample_rate=RATE))
    if shape == "sse":
        delta = {"type": "conversation.item.audio_output.delta", "delta": b64(pcm)}
        pieces, content_type = [sse(delta, done=False)] * 100, "text/event-stream"
    else:
        pieces, content_type = [pcm] * 100, f"audio/L16; rate={RATE}"
        if shape == "streamed wav":
            pieces, content_type = [streamed_wav_header(RATE), *pieces], "audio/wav"
    replay.answers.append(Answer(pieces, content_type=content_type, hold=True))
    client = make_client(replay.base_url, model="replay", voice="alice", max_audio_s=0.5)
    with pytest.raises(StreamInterrupted) as caught:
        client.speak("Hi.", stream=True, sample_rate=RATE)
    assert isinstance(cause(caught.value), ProtocolError)
    assert "more than max_audio_s=0.5 seconds" in str(caught.value)
    assert "Client(..., max_audio_s=...)" in str(caught.value)
    assert caught.value.partial.duration == 0.5  # what fits is kept
    assert replay.hung_up.wait(10)


# --- WebSocket -------------------------------------------------------------------------------


def test_realtime_append_commit_collect(make_client, espeak_server) -> None:
    client = make_client(espeak_server.base_url)
    with client.realtime(alignment="word", segment="never") as session:
        assert session.session["voice"] == "en-us"
        session.append("Hello there, ")
        session.append("my friend")
        # "never": the server takes both pieces and says nothing before the commit...
        received = [session.recv(timeout=10), session.recv(timeout=10)]
        assert [type(e) for e in received] == [TextReceived, TextReceived]
        assert not session.finished()
        session.commit()
        speech = session.collect()
        assert session.finished() and not session.finished("never-used")
        assert len(session.items()) == 1  # ... and then says them as one item
    assert speech.words["word"].tolist() == ["Hello", "there", "my", "friend"]
    assert speech.text == "Hello there, my friend" and speech.sample_rate == 24000
    assert speech.endpoint == espeak_server.base_url
    assert 0 < speech.timing.first_audio_s <= speech.timing.done_s


def test_realtime_events_clear_and_contexts(make_client, espeak_server) -> None:
    client = make_client(espeak_server.base_url)
    with client.realtime(alignment="word", segment="never") as session:
        session.append("This is never said", context_id="a")
        session.clear(context_id="a")
        session.append("Goodbye.", context_id="a")
        session.append("Carrots.", context_id="b")
        session.commit(context_id="b")
        session.commit(context_id="a")
        events = []
        for event in session:
            events.append(event)
            if isinstance(event, TextReceived) and event.text == "Carrots.":
                break
        a = session.collect("a")
        b = session.collect("b")
    assert a.words["word"].tolist() == ["Goodbye"]
    assert b.words["word"].tolist() == ["Carrots"]
    assert {e.context_id for e in events if isinstance(e, TextReceived)} <= {"a", "b"}


def test_realtime_cancel(make_client, espeak_server) -> None:
    slow = make_client(espeak_server.base_url, headers={"x-ttskit-faults": "delta_delay=0.05"})
    with slow.realtime() as session:
        session.append("A long answer that would take a good while to say. " * 3, context_id="a")
        session.commit(context_id="a")
        for event in session:
            if isinstance(event, AudioChunk):
                break
        session.cancel("a")
        for event in session:
            if isinstance(event, ContextCancelled):
                break
        speech = session.collect("a")
    assert event.context_id == "a" and 0 < speech.duration < 3


def test_realtime_speak(make_client, espeak_server) -> None:
    client = make_client(espeak_server.base_url)
    speech = client.realtime_speak(iter(["Hi ", "there."]), alignment="word")
    assert speech.words["word"].tolist() == ["Hi", "there"]


def test_realtime_cut_connection_keeps_the_partial_audio(make_client, espeak_server) -> None:
    client = make_client(espeak_server.base_url, headers={"x-ttskit-faults": "cut_after=2"})
    with client.realtime() as session:
        session.append("Some words to say. And some more words after them.")
        session.commit()
        with pytest.raises(StreamInterrupted) as caught:
            session.collect()
    assert caught.value.partial.duration == pytest.approx(0.2, abs=0.01)


def test_realtime_unknown_voice_fails_on_connect(make_client, espeak_server) -> None:
    client = make_client(espeak_server.base_url)
    with (
        pytest.raises(BadRequestError, match="no-such-voice"),
        client.realtime(voice="no-such-voice"),
    ):
        pass


def test_realtime_refused_handshake_honours_retry_after(make_client, make_server, sleeps) -> None:
    server = make_server(faults=Faults(error_rate=1.0, error_status=429, retry_after=2))
    client = make_client(server.base_url, model="espeak", voice="en-us", sleep=sleeps)
    with pytest.raises(RateLimitError) as caught, client.realtime():
        pass
    assert caught.value.retry_after == 2.0
    assert sleeps.waits == [2.0, 2.0]


@pytest.mark.parametrize("kind", ["session.updated", "other context"])
def test_realtime_timeout_is_a_deadline(make_client, ws_server, kind: str) -> None:
    clock = ManualClock(step=0.01)
    client = make_client(ws_server(flooding(kind)), model="m", voice="v", clock=clock)
    started = clock.now
    with pytest.raises(TimeoutError, match=r"realtime_speak did not finish within timeout=3s"):
        client.realtime_speak(["Hello."], timeout=3)
    assert 3 <= clock.now - started < 3.1


def test_realtime_audio_is_bounded(make_client, ws_server) -> None:
    client = make_client(ws_server(flooding("endless audio")), model="m", voice="v")
    with client.realtime(max_audio_s=0.5) as session:
        session.append("Hello.")
        session.commit()
        with pytest.raises(StreamInterrupted) as caught:
            session.collect()
    assert isinstance(caught.value.__cause__, ProtocolError)
    assert caught.value.partial.duration == pytest.approx(0.5)
