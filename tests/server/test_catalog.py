"""GET /v1/models, /v1/voices and /health."""

from __future__ import annotations

import numpy as np
import requests

from ttskit import audio

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


def test_models_and_voices_say_what_answers_hold(espeak_server):
    """The rate every answer has by default, and the formats the server sends."""
    formats = {"wav", "mp3", "opus", "flac", "pcm", "raw"}
    for entry in _get(espeak_server, "/v1/models")["data"]:
        assert entry["sample_rate"] == 24000 and set(entry["formats"]) == formats
    for entry in _get(espeak_server, "/v1/voices")["data"]:
        assert entry["sample_rate"] == 24000 and set(entry["formats"]) == formats
    response = requests.post(
        f"{espeak_server.base_url}/audio/speech",
        json={"model": "espeak", "input": "Hello.", "voice": "en-us"},
        timeout=30,
    )
    samples, rate = audio.decode_file(response.content)
    assert rate == 24000 and np.abs(samples).max() > 0


def test_one_model_by_id(espeak_server):
    assert _get(espeak_server, "/v1/models/espeak") == {
        "id": "espeak",
        "object": "model",
        "created": 0,
        "owned_by": "ttskit",
        "type": "audio",
        "sample_rate": 24000,
        "formats": ["wav", "mp3", "opus", "flac", "pcm", "raw"],
    }
    aliased = _get(espeak_server, f"/v1/models/{HOSTED_MODEL}")
    assert aliased["id"] == HOSTED_MODEL and aliased["root"] == "espeak"
    response = requests.get(f"{espeak_server.url}/v1/models/no-such-model", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


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
