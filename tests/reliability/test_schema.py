"""schemathesis on the published /openapi.json: every generated request is answered as the
schema says (status, content type, body, headers), never with a 5xx, and most valid ones
reach synthesis. A bounded run here; ``make soak`` runs thousands (benchmarks/soak.py).
"""

from __future__ import annotations

import json

import pytest
import requests

pytest.importorskip("schemathesis")

from .fuzz import SPEECH, fuzz  # noqa: E402

EXAMPLES = 40


def test_published_schema(espeak_server):
    from schemathesis import GenerationMode

    positive = fuzz(espeak_server.url, examples=EXAMPLES, modes=(GenerationMode.POSITIVE,))
    assert positive.failures == []
    assert positive.server_errors == 0
    assert positive.share(SPEECH, 200) > 0.5, positive.statuses
    negative = fuzz(espeak_server.url, examples=EXAMPLES, modes=(GenerationMode.NEGATIVE,))
    assert negative.failures == []
    assert negative.server_errors == 0


def test_the_schema_says_what_the_speech_endpoint_does(espeak_server):
    published = requests.get(f"{espeak_server.url}/openapi.json", timeout=10).json()
    operation = published["paths"]["/v1/audio/speech"]["post"]
    answers = operation["responses"]
    assert set(answers["200"]["content"]) == {
        "audio/wav", "audio/mpeg", "audio/flac", "audio/ogg", "application/octet-stream",
        "text/event-stream",
    }  # fmt: skip
    assert "422" not in answers
    assert {"400", "403", "404", "408", "413", "415", "429", "500", "503"} <= set(answers)
    for status, answer in answers.items():
        if status != "200":
            assert answer["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["input"]["minLength"] == 1
    assert body["properties"]["model"]["enum"][0] == "espeak"
    assert "en-us" in json.dumps(body["allOf"][0]["then"]["properties"]["voice"])
    assert "HTTPValidationError" not in published["components"]["schemas"]


TEXTS = {
    "hebrew": "שלום עולם.",
    "arabic": "مرحبا بالعالم.",
    "chinese": "你好，世界。",
    "japanese": "こんにちは。",
    "letter": "a",
    "digit": "7",
    "dollars": "$5",
    "dots": "...",
    "underscore": "_",
    "spaces": "   ",
    "ideographic stop": "。",
}


def test_the_schema_accepts_what_the_server_speaks(espeak_server):
    import jsonschema

    published = requests.get(f"{espeak_server.url}/openapi.json", timeout=10).json()
    operation = published["paths"]["/v1/audio/speech"]["post"]
    body_schema = operation["requestBody"]["content"]["application/json"]["schema"]
    validator = jsonschema.Draft202012Validator(body_schema)
    verdicts = {}
    for name, text in TEXTS.items():
        body = {"model": "espeak", "input": text, "voice": "en-us"}
        answer = requests.post(f"{espeak_server.url}/v1/audio/speech", json=body, timeout=60)
        verdicts[name] = (validator.is_valid(body), answer.status_code)
    # What the server speaks, the schema accepts; for ASCII the two agree exactly.
    assert all(valid for valid, status in verdicts.values() if status == 200), verdicts
    for name, (valid, status) in verdicts.items():
        if TEXTS[name].isascii():
            assert valid == (status == 200), (name, verdicts[name])
    for name in ("hebrew", "arabic", "chinese", "japanese"):
        assert verdicts[name] == (True, 200), (name, verdicts[name])
    # Left to the server: a text of non-ASCII punctuation only, with its clear 400.
    assert verdicts["ideographic stop"] == (True, 400)


@pytest.mark.parametrize(("rate", "status"), [(13527.0, 200), (16000, 200), (13527.5, 400)])
def test_an_integral_number_is_an_integer_sample_rate(espeak_server, rate, status):
    import jsonschema

    published = requests.get(f"{espeak_server.url}/openapi.json", timeout=10).json()
    schema = published["paths"]["/v1/audio/speech"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    body = {"model": "espeak", "input": "Hello.", "voice": "en-us", "sample_rate": rate}
    assert jsonschema.Draft202012Validator(schema).is_valid(body) == (status == 200)
    answer = requests.post(f"{espeak_server.url}/v1/audio/speech", json=body, timeout=60)
    assert answer.status_code == status, answer.text
    if status == 200:
        assert answer.headers["x-ttskit-sample-rate"] == str(int(rate))
