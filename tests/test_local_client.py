"""``ttskit.local()``: a Client for an embedded server, over real HTTP on loopback."""

import ttskit


def test_local_espeak_returns_a_client_that_speaks():
    client = ttskit.local("espeak", workers=1)
    assert client.source == "local server" and client.base_url.startswith("http://127.0.0.1:")
    speech = client.speak("Hello from the local server.", alignment="word")
    assert speech.model == "espeak" and speech.endpoint == client.base_url
    assert list(speech.words["word"]) == ["Hello", "from", "the", "local", "server"]


def test_local_with_a_key_sends_it_and_keeps_it_secret():
    client = ttskit.local("espeak", workers=1, api_key="sk-local-secret")
    assert client.speak("Fine.", model="espeak").duration > 0
    assert "sk-local-secret" not in repr(client)
