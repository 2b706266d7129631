"""Choosing the endpoint once: explicit URL, $TTSKIT_BASE_URL, the embedded server; keys
go only where they belong, and no secret shows in a repr or an error."""

from __future__ import annotations

import logging
import pickle

import pytest

import ttskit.server.background
from ttskit.client import Client, Endpoint
from ttskit.client.endpoint import choose_endpoint
from ttskit.errors import ConfigurationError, ConnectError, NotFoundError

from .replay_server import Answer, ReplayServer, shape_payloads, sse


def test_explicit_base_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTSKIT_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("TOGETHER_API_KEY", "k")
    client = Client("http://127.0.0.1:2/v1/")
    assert client.base_url == "http://127.0.0.1:2/v1"
    assert "'http://127.0.0.1:2/v1' (base_url)" in repr(client)


def test_env_base_url_next(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTSKIT_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("TOGETHER_API_KEY", "k")
    client = Client()
    assert (client.base_url, client.source) == ("http://127.0.0.1:1/v1", "TTSKIT_BASE_URL")
    assert "api_key=None" in repr(client)  # the Together key stays home


def test_the_embedded_local_server_otherwise_even_with_a_together_key(
    monkeypatch: pytest.MonkeyPatch, espeak_server
) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", "k")
    monkeypatch.setattr(ttskit.server.background, "default_server", lambda: espeak_server)
    client = Client()
    assert client.base_url == espeak_server.base_url and client.source == "local server"
    assert not client.hosted and "api_key=None" in repr(client)
    speech = client.speak("Hi.")
    assert speech.endpoint == espeak_server.base_url
    assert (speech.model, speech.voice) == ("espeak", "en-us")  # first model, its voice


@pytest.mark.parametrize("how", ["argument", "TTSKIT_BASE_URL"])
@pytest.mark.parametrize("name", ["together", "https://api.together.ai/v1"])
def test_the_hosted_api_is_an_explicit_choice(
    monkeypatch: pytest.MonkeyPatch, how: str, name: str
) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", " sk-together\n")
    if how == "TTSKIT_BASE_URL":
        monkeypatch.setenv("TTSKIT_BASE_URL", name)
    client = Client(name if how == "argument" else None)
    assert client.base_url == "https://api.together.ai/v1" and client.hosted
    assert client.endpoint.api_key == "sk-together"
    assert "sk-together" not in repr(client) and "api_key='***'" in repr(client)


def test_an_explicit_key_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", "from-env")
    assert Client("together", api_key="explicit").endpoint.api_key == "explicit"


def test_the_together_key_only_goes_to_the_hosted_api(
    monkeypatch: pytest.MonkeyPatch, replay: ReplayServer
) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", "secret-for-together")
    replay.answers.append(Answer([sse(*shape_payloads(1, [b"\x00\x00" * 10]))]))
    Client(replay.base_url).speak("Hi.", stream=True)
    assert all("authorization" not in r.headers for r in replay.received)


def test_hosted_without_a_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="TOGETHER_API_KEY"):
        Client("together")


def test_a_bad_base_url() -> None:
    with pytest.raises(ConfigurationError, match="ftp://x"):
        Client("ftp://x")


@pytest.mark.parametrize("url", ["http://api.together.ai/v1", "http://api.together.xyz/v1"])
def test_the_hosted_api_only_over_https(url: str) -> None:
    with pytest.raises(ConfigurationError, match="cleartext") as caught:
        Client(url, api_key="sk-would-leak")
    assert "sk-would-leak" not in str(caught.value)


def test_the_endpoint_pickles_and_hides_its_key() -> None:
    endpoint = choose_endpoint("http://127.0.0.1:9/v1", "sk-secret")
    assert repr(endpoint) == (
        "Endpoint(base_url='http://127.0.0.1:9/v1', source='base_url', api_key='***')"
    )
    again = pickle.loads(pickle.dumps(endpoint))
    assert again == endpoint and again.api_key == "sk-secret"
    client = Client(again, timeout=5)
    assert client.endpoint == endpoint and client.timeout == 5
    with pytest.raises(TypeError, match="client.endpoint"):
        pickle.dumps(client)


def test_userinfo_is_never_shown(replay: ReplayServer, caplog: pytest.LogCaptureFixture) -> None:
    host = replay.base_url.removeprefix("http://")
    replay.answers.append(Answer([sse(*shape_payloads(1, [b"\x00\x00" * 10]))]))
    with caplog.at_level(logging.DEBUG):
        client = Client(f"http://me:sk-userinfo@{host}", model="replay", voice="alice")
        client.speak("Hi.", stream=True)
    assert client.base_url == replay.base_url
    assert "sk-userinfo" not in repr(client) and "sk-userinfo" not in caplog.text
    assert replay.speech_requests[-1].headers["authorization"].startswith("Basic ")
    refused = Client("http://me:sk-userinfo@127.0.0.1:1/v1", model="m", voice="v", max_retries=0)
    with pytest.raises(ConnectError) as caught:
        refused.speak("Hi.")
    assert "sk-userinfo" not in str(caught.value)
    assert isinstance(Endpoint, type)


def test_connection_refused_names_the_speech_call() -> None:
    client = Client("http://127.0.0.1:1/v1", max_retries=0)
    with pytest.raises(ConnectError) as caught:
        client.speak("Hello.")
    message = str(caught.value)
    assert "could not connect for POST http://127.0.0.1:1/v1/audio/speech" in message
    assert "connection refused" in message


def test_a_base_url_without_v1_gets_a_hint(espeak_server) -> None:
    client = Client(espeak_server.url, model="espeak", voice="en-us")
    with pytest.raises(NotFoundError, match=r"no /v1: try http://127\.0\.0\.1:\d+/v1"):
        client.speak("Hello.")


def test_a_client_shows_its_extra_headers_as_a_copy() -> None:
    client = Client("http://127.0.0.1:9/v1", headers={"x-ttskit-faults": "latency=0"})
    shown = client.headers
    shown["x-other"] = "1"
    assert client.headers == {"x-ttskit-faults": "latency=0"}
    assert Client("http://127.0.0.1:9/v1").headers == {}
