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
