"""GET /v1/models, /v1/voices and /health."""

from __future__ import annotations

import requests

from ..conftest import HOSTED_MODEL


def _get(server, path):
    response = requests.get(server.url + path, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_models_are_an_openai_style_list(espeak_server):
    body = _get(espeak_server, "/v1/models")
    assert body["object"] == "list"
    ids = [model["id"] for model in body["data"]]
    assert ids == ["espeak", HOSTED_MODEL]
    for model in body["data"]:
        assert model["object"] == "model" and model["owned_by"] == "ttskit"
    assert body["data"][1]["root"] == "espeak"


def test_voices(espeak_server):
    body = _get(espeak_server, "/v1/voices")
    assert [entry["model"] for entry in body["data"]] == ["espeak", HOSTED_MODEL]
    voices = body["data"][0]["voices"]
    names = [voice["name"] for voice in voices]
    assert "en-us" in names and "en-us+f2" in names and len(names) > 100
    assert all(voice["id"] == voice["name"] for voice in voices)


def test_voices_filtered_by_model(espeak_server):
    body = _get(espeak_server, f"/v1/voices?model={HOSTED_MODEL}")
    assert [entry["model"] for entry in body["data"]] == [HOSTED_MODEL]


def test_health(espeak_server):
    body = _get(espeak_server, "/health")
    assert body["status"] == "ok"
    assert body["models"]["espeak"] == {"slots": 2, "busy": 0, "queued": 0, "queue_size": 16}


def test_piper_voices(piper_server):
    body = _get(piper_server, "/v1/voices?model=piper")
    assert [voice["name"] for voice in body["data"][0]["voices"]] == ["joe"]


def test_openapi_documents_the_speech_body(espeak_server):
    schema = _get(espeak_server, "/openapi.json")
    operation = schema["paths"]["/v1/audio/speech"]["post"]
    properties = operation["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert {"model", "input", "voice", "response_format", "stream"} <= set(properties)
