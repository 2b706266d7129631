"""Behaviour written once and run with both clients: ``Client`` and ``AsyncClient``.

``make_client`` (conftest.py) makes either; the async one is driven by an event loop and
called as the sync one is, so each test here holds for both: the same results, events,
errors and bounds, over REST, SSE, OpenAI's dialect and the WebSocket, against real
servers on loopback.
"""

from __future__ import annotations

import numpy as np
import pytest

from ttskit import audio
from ttskit.client import ContextCancelled, TextReceived
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


@pytest.mark.parametrize("stream_format", ["sse", "audio"])
def test_openai_dialect(make_client, openai_server, stream_format: str) -> None:
    client = make_client(openai_server.base_url, model="tts-1", voice="alloy", dialect="openai")
    speech = client.speak("Hello there.", stream_format=stream_format)
    assert openai_server.app.state.received[-1]["stream_format"] == stream_format
    assert speech.sample_rate == RATE
    np.testing.assert_allclose(speech.audio, audio.decode_pcm(PCM, encoding="pcm_s16le"))


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
        session.commit()
        speech = session.collect()
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
