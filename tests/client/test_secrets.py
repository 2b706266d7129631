"""The API key never shows: not in a repr, an error, a log line, or a saved result."""

from __future__ import annotations

import logging
import pickle

import pytest

from ttskit.client import Client
from ttskit.client.realtime import RealtimeSession
from ttskit.errors import APIError, AuthenticationError, ConfigurationError, ConnectError

from ..conftest import API_KEY
from .replay_server import Answer, ReplayServer


def test_repr_hides_the_key() -> None:
    client = Client("https://api.together.ai/v1", api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(client) and "api_key='***'" in repr(client)
    assert "sk-very-secret" not in str(client)


def test_a_client_is_not_pickled_with_its_key() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(Client("https://api.together.ai/v1", api_key="sk-very-secret"))


def test_the_key_is_sent_as_a_bearer_token(auth_server) -> None:
    speech = Client(auth_server.base_url, api_key=API_KEY).speak("Hello.")
    assert speech.duration > 0


def test_a_wrong_key_is_an_authentication_error_without_the_key(auth_server) -> None:
    wrong = "wrong-key-5678"
    with pytest.raises(AuthenticationError) as caught:
        Client(auth_server.base_url, api_key=wrong, model="espeak", voice="en-us").speak("Hello.")
    error = caught.value
    assert error.status_code == 401
    for text in (str(error), repr(error), str(error.body)):
        assert wrong not in text and API_KEY not in text


def test_a_key_echoed_by_the_server_is_scrubbed(replay: ReplayServer) -> None:
    key = "sk-echoed-secret"
    body = (
        f'{{"error":{{"message":"invalid key {key}","type":"auth","param":"{key}","code":null}}}}'
    )
    replay.answers.append(Answer([body.encode()], 401, "application/json", chunked=False))
    with pytest.raises(AuthenticationError) as caught:
        Client(replay.base_url, api_key=key, model="replay", voice="alice").speak("Hi.")
    error = caught.value
    assert key not in str(error) and key not in str(error.body) and key not in str(error.param)
    assert "invalid key ***" in str(error)
    assert replay.received[-1].headers["authorization"] == f"Bearer {key}"
    assert key.encode() not in pickle.dumps(error)


def test_api_errors_survive_pickling() -> None:
    error = AuthenticationError("nope", status_code=401, code="bad_key", request_id="r1")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is AuthenticationError and str(copy) == str(error)
    assert isinstance(copy, APIError) and copy.code == "bad_key"


def test_no_log_line_has_the_key(
    make_client, auth_server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ttskit, urllib3, websockets, the server
    client = make_client(auth_server.base_url, api_key=API_KEY)
    client.speak("Hello there.", alignment="word")
    with client.realtime() as session:
        session.append("Hello.")
        session.commit()
        session.collect()
    wrong = make_client(auth_server.base_url, api_key="wrong-key-5678", model="espeak", voice="v")
    with pytest.raises(AuthenticationError):
        wrong.speak("Hi.")
    with pytest.raises(AuthenticationError), wrong.realtime():
        pass
    assert "Authorization: Bearer ***" in caplog.text  # the handshake was logged ...
    assert API_KEY not in caplog.text and "wrong-key-5678" not in caplog.text  # ... without the key


def test_a_saved_speech_has_no_key(auth_server, tmp_path) -> None:
    speech = Client(auth_server.base_url, api_key=API_KEY).speak("Hello.", alignment="word")
    assert API_KEY.encode() not in pickle.dumps(speech)
    for suffix in ("wav", "flac"):
        path = speech.save(tmp_path / f"speech.{suffix}")
        assert API_KEY.encode() not in path.read_bytes()
    assert API_KEY not in repr(speech)


def test_the_websocket_takes_the_key_from_the_header(make_client, auth_server) -> None:
    with make_client(auth_server.base_url, api_key=API_KEY).realtime() as session:
        assert "api_key" not in session.url and API_KEY not in repr(session)
    wrong = make_client(auth_server.base_url, api_key="wrong-key-5678")
    with (
        pytest.raises(AuthenticationError) as caught,
        wrong.realtime(model="espeak", voice="en-us"),
    ):
        pass
    assert "wrong-key-5678" not in str(caught.value)


@pytest.mark.parametrize("padding", ["\n", " ", "\r\n", "\t"])
def test_a_pasted_key_loses_its_surrounding_whitespace(auth_server, padding: str) -> None:
    client = Client(auth_server.base_url, api_key=f" {API_KEY}{padding}", model="espeak")
    assert client.speak("Hello.").duration > 0
    with client.realtime() as session:
        assert session.session["model"] == "espeak"


@pytest.mark.parametrize("key", ["sk-two words", "sk-new\nline", "sk-nul\x00", "sk-café"])
def test_a_key_that_cannot_be_a_header_is_refused_unquoted(key: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Client("https://api.together.ai/v1", api_key=key)
    assert key.strip() not in str(caught.value) and "sk-" not in str(caught.value)


def test_a_bad_header_is_a_configuration_error_that_does_not_quote_it(
    replay: ReplayServer,
) -> None:
    client = Client(
        replay.base_url,
        api_key="sk-kept-secret",
        model="replay",
        voice="alice",
        headers={"X-Proxy-Token": "tok-secret\n"},
    )
    with pytest.raises(ConfigurationError) as caught:
        client.speak("Hi.")
    assert "secret" not in str(caught.value)
    assert replay.received == []


def test_a_websocket_connect_error_does_not_quote_the_key(auth_server) -> None:
    key = "sk-secret-key\n"  # only a RealtimeSession made by hand can still hold such a key
    with pytest.raises(ConnectError) as caught:
        RealtimeSession(auth_server.base_url, {"model": "espeak"}, api_key=key, sample_rate=24000)
    assert "sk-secret-key" not in str(caught.value)
