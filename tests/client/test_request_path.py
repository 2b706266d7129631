"""build_request + send: the request as a value, both dialects, what the answer says it served."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from ttskit import Client, audio
from ttskit.client import SpeechRequest, resolve_defaults
from ttskit.errors import InvalidArgument, ServiceUnavailableError

from .openai_server import PCM, RATE, TONE
from .replay_server import Answer, ReplayServer


def test_a_request_is_a_value_with_everything_the_client_carries(replay: ReplayServer) -> None:
    client = Client(
        replay.base_url,
        api_key="sk-secret-123",
        model="replay",
        voice="alice",
        timeout=7,
        max_retries=3,
        headers={"x-ttskit-faults": "first_audio_delay=0.2"},
    )
    request = client.build_request("Hello.", stream=True)
    assert request.endpoint == client.endpoint
    assert dict(request.headers) == {"x-ttskit-faults": "first_audio_delay=0.2"}
    assert (request.timeout, request.max_retries, request.dialect) == (7.0, 3, "together")
    assert request.body()["stream"] is True and request.body()["model"] == "replay"
    assert pickle.loads(pickle.dumps(request)) == request
    assert "sk-secret" not in repr(request)
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.text = "other"  # type: ignore[misc]
    assert request.replace(max_retries=0).max_retries == 0


def test_send_sends_the_request_as_built(replay: ReplayServer) -> None:
    pcm = audio.encode_pcm(np.full(2400, 0.25, np.float32), encoding="pcm_s16le")
    replay.answers.append(
        Answer([pcm], content_type="application/octet-stream", headers={"x-request-id": "r1"})
    )
    client = Client(replay.base_url, model="replay", voice="alice", headers={"x-proxy": "p"})
    request = client.build_request("Hello.", response_format="raw", sample_rate=RATE)
    with client.send(request) as stream:
        speech = stream.speech()
        assert (stream.status, stream.request_id, stream.http_version) == (200, "r1", "HTTP/1.1")
    received = replay.speech_requests[0]
    assert received.body == request.body()
    assert received.headers["x-proxy"] == "p"
    assert speech.duration == pytest.approx(0.1)
    # What the server did not name is what was asked.
    assert (speech.model, speech.voice) == ("replay", "alice")
    assert (speech.requested_model, speech.requested_voice) == ("replay", "alice")


def test_a_request_goes_only_to_its_own_endpoint(replay: ReplayServer, espeak_server) -> None:
    request = Client(replay.base_url, model="replay", voice="alice").build_request("Hi.")
    with pytest.raises(InvalidArgument, match="build it with this client"):
        Client(espeak_server.base_url).send(request)
    with pytest.raises(Exception, match="SpeechRequest"):
        Client(replay.base_url).send({"input": "Hi."})  # type: ignore[arg-type]


def test_max_retries_zero_on_the_request_sends_once(replay: ReplayServer, sleeps) -> None:
    replay.answers.append(
        Answer([b'{"error":{"message":"busy"}}'], 503, "application/json", chunked=False)
    )
    client = Client(replay.base_url, model="replay", voice="alice", max_retries=3, sleep=sleeps)
    with pytest.raises(ServiceUnavailableError):
        client.speak("Hi.", max_retries=0)
    assert len(replay.speech_requests) == 1 and sleeps.waits == []
    with pytest.raises(ServiceUnavailableError):
        client.speak("Hi.")
    assert len(replay.speech_requests) == 5 and len(sleeps.waits) == 3


def test_fresh_connection_and_reuse_are_reported(replay: ReplayServer) -> None:
    pcm = audio.encode_pcm(np.zeros(240, np.float32), encoding="pcm_s16le")
    replay.answers.append(Answer([pcm], content_type="application/octet-stream"))
    client = Client(replay.base_url, model="replay", voice="alice")
    reused = []
    for fresh in (False, False, True, False):
        with client.stream("Hi.", fresh_connection=fresh) as stream:
            stream.speech()
            reused.append(stream.connection_reused)
    assert reused == [False, True, False, True]
    ports = replay.ports
    assert ports[0] == ports[1] == ports[3] != ports[2]


def test_resolve_defaults_is_the_clients_rule(replay: ReplayServer) -> None:
    client = Client(replay.base_url)
    assert resolve_defaults(client) == ("replay", "alice")
    assert resolve_defaults(client, voice="bob") == ("replay", "bob")
    assert client.build_request("Hi.").voice == "alice"


@pytest.mark.parametrize("stream_format", ["sse", "audio"])
def test_openai_dialect_streams_from_an_openai_only_server(openai_server, stream_format) -> None:
    client = Client(openai_server.base_url, model="tts-1", voice="alloy", dialect="openai")
    options = {} if stream_format == "sse" else {"stream_format": "audio"}
    with client.stream("Hello there.", **options) as stream:
        chunks = list(stream)
        speech = stream.speech()
    body = openai_server.app.state.received[-1]
    assert body == {
        "model": "tts-1",
        "input": "Hello there.",
        "voice": "alloy",
        "response_format": "pcm",
        "stream_format": stream_format,
    }
    assert len(chunks) == 3 and speech.sample_rate == RATE
    np.testing.assert_allclose(speech.audio, audio.decode_pcm(PCM, encoding="pcm_s16le"))


def test_openai_dialect_whole_answers_and_per_call(openai_server) -> None:
    client = Client(openai_server.base_url, model="tts-1", voice="alloy")
    with pytest.raises(Exception, match="Unrecognized request argument"):
        client.speak("Hi.")  # Together's body: refused
    speech = client.speak("Hi.", dialect="openai")
    assert openai_server.app.state.received[-1] == {
        "model": "tts-1",
        "input": "Hi.",
        "voice": "alloy",
        "response_format": "wav",
    }
    np.testing.assert_allclose(speech.audio, TONE, atol=1 / 16384)
    assert client.speak("Hi.", stream_format="sse").duration == pytest.approx(0.3)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"sample_rate": 16000}, "OpenAI's dialect"),
        ({"response_encoding": "pcm_f32le"}, "OpenAI's dialect"),
        ({"alignment": "word"}, "OpenAI's dialect"),
        ({"dialect": "klingon"}, "dialect"),
        ({"stream_format": "sse", "dialect": "together"}, "dialect='openai'"),
        ({"max_retries": -1}, "max_retries"),
    ],
)
def test_what_a_dialect_cannot_say_is_refused(replay: ReplayServer, options, message) -> None:
    client = Client(replay.base_url, model="replay", voice="alice", dialect="openai")
    with pytest.raises(InvalidArgument, match=message):
        client.build_request("Hi.", stream=True, **options)
    assert replay.speech_requests == []


def test_a_request_built_by_hand_has_its_body() -> None:
    request = SpeechRequest("Hi.", "m", "v", "raw", stream=True)
    assert request.url == "/audio/speech" and request.body()["model"] == "m"
