"""Client: endpoint choice, arguments, formats and encodings against the local server,
errors and retries."""

from __future__ import annotations

import base64
import inspect
import json

import numpy as np
import pandas as pd
import pytest

import ttskit.client
import ttskit.errors
from ttskit import audio
from ttskit.client import Client
from ttskit.errors import (
    BadRequestError,
    ConnectError,
    InternalServerError,
    InvalidArgument,
    NotFoundError,
    ProtocolError,
    RateLimitError,
    ServiceUnavailableError,
    StreamInterrupted,
)
from ttskit.results import AudioChunk, WordTimestamps

from .conftest import Sleeps
from .replay_server import (
    Answer,
    ReplayServer,
    shape_payloads,
    split_pcm,
    sse,
    streamed_wav_header,
    tone,
)

TEXT = "Hello there. How are you today?"


def test_a_voice_given_alone_goes_with_any_model(replay: ReplayServer) -> None:
    replay.answers.append(Answer([sse(*shape_payloads(1, [b"\x00\x00" * 10]))]))
    client = Client(replay.base_url, voice="bob")
    client.speak("Hi.", model="other", stream=True)
    client.speak("Hi.", stream=True)  # the listed model, and still the client's voice
    assert [(r.body["model"], r.body["voice"]) for r in replay.speech_requests] == [
        ("other", "bob"),
        ("replay", "bob"),
    ]


def test_defaults_from_the_server_listing(replay: ReplayServer) -> None:
    replay.answers.append(Answer([sse(*shape_payloads(1, [b"\x00\x00" * 10]))]))
    client = Client(replay.base_url)
    assert "model=None" in repr(client)
    speech = client.speak("Hi.", stream=True)
    assert (speech.model, speech.voice) == ("replay", "alice")
    assert "model='replay', voice='alice'" in repr(client)
    body = replay.speech_requests[-1].body
    assert (body["model"], body["voice"]) == ("replay", "alice")


def test_hosted_models_with_a_fixed_output_format() -> None:
    def raw_format(client: Client, model: str, encoding: str | None, rate: int | None):
        request = client.build_request(
            "Hi.",
            model=model,
            voice="v",
            stream=True,
            response_encoding=encoding,
            sample_rate=rate,
        )
        return request.encoding, request.sample_rate_out

    client = Client("https://api.together.ai/v1", api_key="k")
    with pytest.warns(UserWarning, match="always sends pcm_s16le at 24000 Hz"):
        fixed = raw_format(client, "canopylabs/orpheus-3b-0.1-ft", "pcm_f32le", 44100)
    assert fixed == ("pcm_s16le", 24000)
    assert raw_format(client, "hexgrad/Kokoro-82M", None, None) == ("pcm_s16le", 24000)
    assert raw_format(client, "cartesia/sonic-2", "pcm_f32le", 44100) == ("pcm_f32le", 44100)
    # The local server honours what is asked, whatever the id.
    local = Client("http://127.0.0.1:9/v1")
    honoured = raw_format(local, "canopylabs/orpheus-3b-0.1-ft", "pcm_f32le", 16000)
    assert honoured == ("pcm_f32le", 16000)


def test_top_level_helpers_mirror_the_methods() -> None:
    for name in ("speak", "stream"):
        function = inspect.signature(getattr(ttskit.client, name))
        method = inspect.signature(getattr(Client, name))
        assert list(function.parameters.values()) == list(method.parameters.values())[1:]
        assert function.return_annotation == method.return_annotation


# --- invalid arguments never reach the server -------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "quoted"),
    [
        ({"text": ""}, "text=''"),
        ({"text": "   "}, "text='   '"),
        ({"response_format": "ogg"}, "response_format='ogg'"),
        ({"response_encoding": "pcm_s24le"}, "response_encoding='pcm_s24le'"),
        ({"speed": 9}, "speed=9"),
        ({"speed": 0}, "speed=0"),
        ({"sample_rate": -1}, "sample_rate=-1"),
        ({"sample_rate": 22050.5}, "sample_rate=22050.5"),
        ({"alignment": "phoneme"}, "alignment='phoneme'"),
        ({"segment": "paragraph"}, "segment='paragraph'"),
        ({"alignment": "word", "stream": False}, "alignment='word' needs stream=True"),
        ({"response_format": "mp3", "stream": True}, "response_format='mp3' cannot be streamed"),
    ],
)
def test_invalid_arguments(replay: ReplayServer, kwargs: dict, quoted: str) -> None:
    client = Client(replay.base_url, model="replay", voice="alice")
    text = kwargs.pop("text", "Hi.")
    with pytest.raises(InvalidArgument) as caught:
        client.speak(text, **kwargs)
    assert quoted in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert replay.received == []


def test_the_accepted_values_are_quoted(replay: ReplayServer) -> None:
    with pytest.raises(InvalidArgument, match="pcm_mulaw"):
        Client(replay.base_url).speak("Hi.", response_format="raw", response_encoding="ulaw")


def test_the_hosted_api_streams_raw_only() -> None:
    client = Client("https://api.together.ai/v1", api_key="k")
    with pytest.raises(InvalidArgument, match="raw PCM only on the hosted API"):
        client.speak("Hi.", stream=True, response_format="wav")


# --- formats of other servers, through the replay server ---------------------------------------


def test_a_streamed_wav_from_another_server(replay: ReplayServer) -> None:
    pcm = audio.encode_pcm(tone(sample_rate=16000))
    replay.answers.append(Answer([streamed_wav_header(16000), pcm], content_type="audio/wav"))
    client = Client(replay.base_url, model="replay", voice="alice")
    speech = client.speak("Hi.", stream=True, response_format="wav")
    assert speech.sample_rate == 16000 and len(speech.audio) == len(pcm) // 2
    assert replay.speech_requests[-1].body["response_format"] == "wav"


def test_a_mulaw_answer(replay: ReplayServer) -> None:
    signal = tone(sample_rate=8000)
    data = audio.encode_pcm(signal, encoding="pcm_mulaw")
    replay.answers.append(Answer([data], content_type="audio/basic"))
    client = Client(replay.base_url, model="replay", voice="alice")
    speech = client.speak("Hi.", response_format="mulaw", sample_rate=8000)
    assert speech.sample_rate == 8000
    assert np.array_equal(speech.audio, audio.decode_pcm(data, encoding="pcm_mulaw"))
    body = replay.speech_requests[-1].body
    assert (body["response_format"], body["sample_rate"]) == ("mulaw", 8000)


def test_an_opus_answer(replay: ReplayServer) -> None:
    import io

    import soundfile

    file = io.BytesIO()
    soundfile.write(file, tone(0.5, sample_rate=48000), 48000, format="OGG", subtype="OPUS")
    replay.answers.append(Answer([file.getvalue()], content_type="audio/ogg"))
    client = Client(replay.base_url, model="replay", voice="alice")
    speech = client.speak("Hi.", response_format="opus")
    assert speech.sample_rate == 48000 and abs(speech.duration - 0.55) < 0.05


def test_an_aac_answer_that_cannot_be_decoded(replay: ReplayServer) -> None:
    replay.answers.append(Answer([b"\xff\xf1" + b"\x00" * 500], content_type="audio/aac"))
    client = Client(replay.base_url, model="replay", voice="alice")
    with pytest.raises(ProtocolError, match="ask for response_format='wav'"):
        client.speak("Hi.", response_format="aac")


# --- against the local server ------------------------------------------------------------------


def same_speech(a, b, *, level_db: float = 0.5) -> bool:
    """Two syntheses of the same text: eSpeak's length varies by a few samples between runs."""
    return (
        a.sample_rate == b.sample_rate
        and abs(a.duration - b.duration) < 0.05
        and abs(audio.rms_dbfs(a.audio) - audio.rms_dbfs(b.audio)) < level_db
    )


@pytest.mark.parametrize("encoding", audio.ENCODINGS)
def test_each_raw_encoding_streamed(espeak_client: Client, encoding: str) -> None:
    reference = espeak_client.speak(
        TEXT, stream=True, response_encoding="pcm_f32le", sample_rate=16000
    )
    speech = espeak_client.speak(TEXT, stream=True, response_encoding=encoding, sample_rate=16000)
    assert speech.sample_rate == 16000 and speech.audio.dtype == np.float32
    assert same_speech(speech, reference)
    assert np.abs(speech.audio).max() <= 1.0
    assert speech.timing.first_audio_s <= speech.timing.done_s


@pytest.mark.parametrize("encoding", audio.ENCODINGS)
def test_each_raw_encoding_not_streamed(espeak_client: Client, encoding: str) -> None:
    speech = espeak_client.speak(
        TEXT, response_format="raw", response_encoding=encoding, sample_rate=8000
    )
    streamed = espeak_client.speak(TEXT, stream=True, response_encoding=encoding, sample_rate=8000)
    assert speech.sample_rate == 8000 and same_speech(speech, streamed)


@pytest.mark.parametrize("response_format", ["wav", "mp3", "flac"])
def test_each_file_format(espeak_client: Client, response_format: str) -> None:
    raw = espeak_client.speak(TEXT, response_format="raw")
    speech = espeak_client.speak(TEXT, response_format=response_format)
    assert speech.sample_rate == raw.sample_rate == 24000
    # A streamed mp3 keeps LAME's delay and padding (about 0.1 s): no tag can trim them.
    assert abs(speech.duration - raw.duration) < 0.12
    assert abs(audio.rms_dbfs(speech.audio) - audio.rms_dbfs(raw.audio)) < 1.0
    assert speech.audio.min() >= -1 and speech.audio.max() <= 1


def test_words_from_a_stream(espeak_client: Client) -> None:
    speech = espeak_client.speak(TEXT, alignment="word")
    assert speech.words["word"].tolist() == ["Hello", "there", "How", "are", "you", "today"]
    assert speech.words["start"].is_monotonic_increasing
    assert speech.words["end"].iloc[-1] <= speech.duration + 1e-6
    # The second sentence's words are in the whole answer's time, not the sentence's.
    assert speech.words["start"].iloc[2] > speech.words["end"].iloc[1]


def test_stream_yields_words_before_their_audio(espeak_client: Client) -> None:
    with espeak_client.stream(TEXT, alignment="word") as stream:
        events = list(stream)
        speech = stream.speech()
    assert isinstance(events[0], WordTimestamps)
    chunks = [e for e in events if isinstance(e, AudioChunk)]
    assert sum(len(c.audio) for c in chunks) == len(speech.audio)
    assert [c.audio_start_s for c in chunks] == speech.timing.chunks["audio_start_s"].tolist()
    assert speech.timing.first_audible_s is not None


def test_voices_and_models(espeak_client: Client) -> None:
    models = espeak_client.models()
    assert isinstance(models, pd.DataFrame) and "espeak" in models["id"].tolist()
    voices = espeak_client.voices("espeak")
    assert list(voices.columns) == ["model", "id", "name"]
    assert "en-us" in voices["name"].tolist() and set(voices["model"]) == {"espeak"}


def test_an_unknown_model(espeak_client: Client) -> None:
    with pytest.raises(NotFoundError) as caught:
        espeak_client.speak("Hi.", model="no-such-model", voice="x")
    assert caught.value.status_code == 404 and caught.value.message


def test_the_connection_is_kept_alive(replay: ReplayServer) -> None:
    replay.answers.append(Answer([sse(*shape_payloads(1, [b"\x00\x00" * 10]))]))
    client = Client(replay.base_url, model="replay", voice="alice")
    for _ in range(3):
        client.speak("Hi.", stream=True)
    assert len(set(replay.ports)) == 1


# --- retries -----------------------------------------------------------------------------------


def ok_answer() -> Answer:
    return Answer([sse(*shape_payloads(1, split_pcm(audio.encode_pcm(tone()), 3, 2)))])


@pytest.mark.parametrize(
    ("headers", "expected_wait"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after-ms": "1500", "Retry-After": "2"}, 1.5),
        ({"x-ratelimit-reset": "3"}, 3.0),
        ({"Retry-After": "600"}, 60.0),  # capped at max_retry_wait
    ],
)
def test_retry_after_429_honours_the_headers(
    replay: ReplayServer, sleeps: Sleeps, headers: dict, expected_wait: float
) -> None:
    refusal = Answer(
        [b'{"error":{"message":"slow down","type":"rate_limit"}}'],
        429,
        "application/json",
        headers,
        chunked=False,
    )
    replay.answers += [refusal, ok_answer()]
    client = Client(replay.base_url, model="replay", voice="alice", sleep=sleeps)
    speech = client.speak("Hi.", stream=True)
    assert speech.duration > 0
    assert len(replay.speech_requests) == 2
    assert sleeps.waits == [pytest.approx(expected_wait)]


@pytest.mark.parametrize("status", [408, 409, 500, 502, 503])
def test_retryable_statuses_back_off_exponentially(
    replay: ReplayServer, sleeps: Sleeps, status: int
) -> None:
    replay.answers.append(
        Answer([b'{"error":{"message":"nope"}}'], status, "application/json", chunked=False)
    )
    client = Client(replay.base_url, model="replay", voice="alice", max_retries=3, sleep=sleeps)
    with pytest.raises(Exception) as caught:
        client.speak("Hi.")
    assert getattr(caught.value, "status_code", None) == status
    assert len(replay.speech_requests) == 4
    for attempt, wait in enumerate(sleeps.waits):
        assert 0.75 * 0.5 * 2**attempt <= wait <= 0.5 * 2**attempt  # with jitter


def test_client_errors_are_not_retried(replay: ReplayServer, sleeps: Sleeps) -> None:
    body = json.dumps(
        {
            "error": {
                "message": "bad voice",
                "type": "invalid_request_error",
                "param": "voice",
                "code": "voice_not_found",
            }
        }
    )
    replay.answers.append(
        Answer([body.encode()], 400, "application/json", {"x-request-id": "req_42"}, chunked=False)
    )
    client = Client(replay.base_url, model="replay", voice="alice", sleep=sleeps)
    with pytest.raises(BadRequestError) as caught:
        client.speak("Hi.")
    error = caught.value
    assert (error.status_code, error.type, error.code, error.param) == (
        400,
        "invalid_request_error",
        "voice_not_found",
        "voice",
    )
    assert error.request_id == "req_42" and "req_42" in str(error)
    assert len(replay.speech_requests) == 1 and sleeps.waits == []


def test_connection_errors_are_retried_then_raised(sleeps: Sleeps) -> None:
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    client = Client(
        f"http://127.0.0.1:{port}/v1", model="m", voice="v", max_retries=2, sleep=sleeps
    )
    with pytest.raises(ConnectError) as caught:
        client.speak("Hi.")
    assert len(sleeps.waits) == 2
    assert caught.value.__cause__ is not None


def test_retries_against_the_local_servers_faults(make_server, sleeps: Sleeps) -> None:
    from ttskit.server.faults import Faults

    server = make_server(faults=Faults(error_rate=0.5, error_status=429, retry_after=0.25, seed=3))
    client = Client(server.base_url, max_retries=10, sleep=sleeps)
    for _ in range(6):
        assert client.speak("Hi.").duration > 0
    assert sleeps.waits and set(sleeps.waits) == {
        0.25
    }  # retry-after-ms, not the rounded Retry-After


def test_a_refusal_after_all_retries(make_server, sleeps: Sleeps) -> None:
    from ttskit.server.faults import Faults

    server = make_server(faults=Faults(error_rate=1.0, error_status=503, retry_after=0.5))
    client = Client(server.base_url, model="espeak", voice="en-us", max_retries=2, sleep=sleeps)
    with pytest.raises(ServiceUnavailableError) as caught:
        client.speak("Hi.")
    assert caught.value.retry_after == 0.5 and sleeps.waits == [0.5, 0.5]


def test_rate_limit_error_class(replay: ReplayServer, sleeps: Sleeps) -> None:
    replay.answers.append(
        Answer([b"too many"], 429, "text/plain", {"Retry-After": "1"}, chunked=False)
    )
    with pytest.raises(RateLimitError) as caught:
        Client(replay.base_url, model="replay", voice="alice", max_retries=0).speak("Hi.")
    assert caught.value.message == "too many" and caught.value.retry_after == 1.0


def test_a_server_error_class(replay: ReplayServer) -> None:
    replay.answers.append(Answer([b"<html>bad gateway</html>"], 502, "text/html", chunked=False))
    with pytest.raises(InternalServerError, match="bad gateway"):
        Client(replay.base_url, model="replay", voice="alice", max_retries=0).speak("Hi.")


# --- deadlines and partial answers -------------------------------------------------------------


class SteppingClock:
    """An injectable clock that moves ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_timeout_bounds_a_trickling_answer(espeak_server) -> None:
    # The server keeps sending (a delta every 50 ms) and no single read times out, but
    # the answer as a whole may not take longer than ``timeout`` on the client's clock.
    client = Client(
        espeak_server.base_url,
        timeout=2,
        clock=SteppingClock(0.5),
        headers={"x-ttskit-faults": "delta_delay=0.05"},
    )
    with pytest.raises(StreamInterrupted) as caught:
        client.speak("A long answer. " * 20, stream=True)
    assert isinstance(caught.value.__cause__, ttskit.errors.TimeoutError)
    assert "within the client's timeout" in str(caught.value)
    assert 0 < caught.value.partial.duration < 2


def test_a_partial_speech_lists_only_the_words_it_has(espeak_server) -> None:
    client = Client(espeak_server.base_url, headers={"x-ttskit-faults": "cut_after=4"})
    with pytest.raises(StreamInterrupted) as caught:
        client.speak("Hi. " + "There is much more to say after that. " * 3, alignment="word")
    partial = caught.value.partial
    assert partial.duration > 0
    assert (partial.words["end"] <= partial.duration + 1e-9).all()
    assert partial.words["word"].tolist() == ["Hi"]


def test_a_session_counts_the_connections_it_opens(espeak_server) -> None:
    from ttskit.client.endpoint import choose_endpoint
    from ttskit.client.session import HTTPSession

    session = HTTPSession(
        choose_endpoint(espeak_server.base_url), timeout=30, max_retries=0, max_retry_wait=0
    )
    assert session.connections_opened == 0
    for _ in range(3):
        session.get_json("/models")
    assert session.connections_opened == 1  # kept alive and reused
    session.close()
    session.get_json("/models")
    assert session.connections_opened == 1  # a new pool, with its own first connection
    session.close()


def test_on_send_is_called_again_as_the_connection_starts_sending(espeak_server) -> None:
    from ttskit.client.endpoint import choose_endpoint
    from ttskit.client.session import HTTPSession

    session = HTTPSession(
        choose_endpoint(espeak_server.base_url), timeout=30, max_retries=0, max_retry_wait=0
    )
    calls: list[int] = []
    # Once before requests prepares the request, once as the connection sends it: the
    # second call comes with the connection checked out of the pool.
    session.send("GET", "/models", on_send=lambda: calls.append(session.connections_opened))
    assert calls == [0, 1]
    calls.clear()
    session.send("GET", "/models", on_send=lambda: calls.append(session.connections_opened))
    assert calls == [1, 1]
    session.close()
    # A refused connection, then a send without on_send: no callback is left behind.
    calls.clear()
    with pytest.raises(ttskit.errors.ConnectError):
        HTTPSession(
            choose_endpoint("http://127.0.0.1:9/v1"), timeout=5, max_retries=0, max_retry_wait=0
        ).send("GET", "/models", on_send=lambda: calls.append(-1))
    assert calls == [-1, -1]
    session.get_json("/models")
    assert calls == [-1, -1]


def test_netrc_credentials_are_read_once_and_sent_with_every_request(
    replay: ReplayServer, tmp_path, monkeypatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login me password netrc-secret\n", encoding="utf-8")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    client = Client(replay.base_url, model="replay", voice="alice")
    netrc.unlink()  # read when the client was made, not per request
    client.models()
    client.models()
    expected = "Basic " + base64.b64encode(b"me:netrc-secret").decode()
    assert [r.headers.get("authorization") for r in replay.received] == [expected, expected]
    client.close()
