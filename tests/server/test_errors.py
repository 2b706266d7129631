"""Bad requests: each gets the protocol's error body with the right status, never a 500,
and the server goes on serving."""

from __future__ import annotations

import itertools
import json

import pytest
import requests

from .helpers import assert_error, speech_body, still_serving

MISSING = object()
JSON = {"Content-Type": "application/json"}


def _body(**changes):
    body = speech_body()
    for key, value in changes.items():
        if value is MISSING:
            body.pop(key)
        else:
            body[key] = value
    return json.dumps(body).encode()


CASES = {
    # raw body -> (status, param, code)
    "malformed json": (b'{"model": "espeak", "input": ', 400, None, "invalid_json"),
    "not utf-8": (b'{"input": "\xff\xfe"}', 400, None, "invalid_json"),
    "json array": (b"[1, 2]", 400, None, "invalid_type"),
    "json string": (b'"hello"', 400, None, "invalid_type"),
    "empty body": (b"", 400, None, "missing"),
    "missing model": (_body(model=MISSING), 400, "model", "missing"),
    "missing input": (_body(input=MISSING), 400, "input", "missing"),
    "missing voice": (_body(voice=MISSING), 400, "voice", "missing"),
    "empty input": (_body(input=""), 400, "input", "empty_input"),
    "whitespace input": (_body(input=" \n\t "), 400, "input", "empty_input"),
    "input over the limit": (_body(input="a " * 5001), 400, "input", "input_too_long"),
    "no words": (_body(input="?! ... --"), 400, "input", "no_words"),
    "input not a string": (_body(input=5), 400, "input", "invalid_type"),
    "model null": (_body(model=None), 400, "model", "invalid_type"),
    "voice a list": (_body(voice=["en-us"]), 400, "voice", "invalid_type"),
    "stream a string": (_body(stream="yes"), 400, "stream", "invalid_type"),
    "sample rate a string": (_body(sample_rate="24000"), 400, "sample_rate", "invalid_type"),
    "sample rate a float": (_body(sample_rate=24000.5), 400, "sample_rate", "invalid_type"),
    "speed a string": (_body(speed="1.0"), 400, "speed", "invalid_type"),
    "unknown model": (_body(model="no/such-model"), 404, "model", "model_not_found"),
    "unknown voice": (_body(voice="no-such-voice"), 400, "voice", "voice_not_found"),
    "unknown voice variant": (_body(voice="en-us+zz9"), 400, "voice", "voice_not_found"),
    "stream as wav": (_body(stream=True, response_format="wav"), 400, "response_format", "unsupported_format"),
    "stream as mp3": (_body(stream=True, response_format="mp3"), 400, "response_format", "unsupported_format"),
    "unsupported format": (_body(response_format="opus"), 400, "response_format", "invalid_value"),
    "unsupported encoding": (_body(response_format="raw", response_encoding="pcm_s24le"), 400, "response_encoding", "invalid_value"),
    "sample rate too low": (_body(sample_rate=4000), 400, "sample_rate", "invalid_value"),
    "sample rate too high": (_body(sample_rate=96000), 400, "sample_rate", "invalid_value"),
    "speed too slow": (_body(speed=0.1), 400, "speed", "invalid_value"),
    "speed too fast": (_body(speed=5), 400, "speed", "invalid_value"),
    "unknown alignment": (_body(alignment="char"), 400, "alignment", "invalid_value"),
    "unknown segment": (_body(segment="word"), 400, "segment", "invalid_value"),
}  # fmt: skip


@pytest.mark.parametrize("raw, status, param, code", CASES.values(), ids=list(CASES))
def test_bad_request(espeak_server, raw, status, param, code):
    response = requests.post(
        f"{espeak_server.base_url}/audio/speech",
        data=raw,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    error = assert_error(response, status, param=param, code=code)
    assert error["type"] == "invalid_request_error"
    if param:
        assert param in error["message"]
    still_serving(espeak_server)


def test_bad_streaming_request_gets_a_status_not_an_event(espeak_server):
    response = requests.post(
        f"{espeak_server.base_url}/audio/speech",
        json=speech_body(stream=True, voice="no-such-voice"),
        timeout=30,
    )
    assert_error(response, 400, param="voice", code="voice_not_found")


def test_oversized_body_is_refused(espeak_server):
    body = json.dumps(speech_body(input="word " * 40_000)).encode()
    response = requests.post(
        f"{espeak_server.base_url}/audio/speech", data=body, headers=JSON, timeout=30
    )
    assert_error(response, 413, param=None, code="request_too_large")
    still_serving(espeak_server)


def test_oversized_chunked_body_is_refused(espeak_server):
    def chunks():
        yield b'{"model": "espeak", "voice": "en-us", "input": "'
        for _ in range(200):
            yield b"word " * 200
        yield b'"}'

    response = requests.post(
        f"{espeak_server.base_url}/audio/speech", data=chunks(), headers=JSON, timeout=30
    )
    assert_error(response, 413, code="request_too_large")
    still_serving(espeak_server)


def test_max_input_chars_is_configurable(make_server):
    server = make_server(max_input_chars=20)
    assert requests.post(
        f"{server.base_url}/audio/speech", json=speech_body(input="Short one."), timeout=30
    ).ok
    response = requests.post(
        f"{server.base_url}/audio/speech",
        json=speech_body(input="This sentence is longer than twenty characters."),
        timeout=30,
    )
    error = assert_error(response, 400, param="input", code="input_too_long")
    assert "20" in error["message"]


@pytest.mark.parametrize(
    "method, path, status, code",
    [
        ("GET", "/v1/nothing", 404, "not_found"),
        ("POST", "/v2/audio/speech", 404, "not_found"),
        ("GET", "/v1/audio/speech", 405, "method_not_allowed"),
        ("DELETE", "/v1/models", 405, "method_not_allowed"),
    ],
)
def test_unknown_paths_and_methods(espeak_server, method, path, status, code):
    response = requests.request(method, espeak_server.url + path, timeout=10)
    assert_error(response, status, code=code)
    still_serving(espeak_server)


def test_unknown_model_filter_on_voices(espeak_server):
    response = requests.get(f"{espeak_server.base_url}/voices?model=nope", timeout=10)
    assert_error(response, 404, param="model", code="model_not_found")


JUNK = [None, True, -1, 0, 3.5, "", "x" * 300, [], {}, {"a": 1}, ["en-us"]]
FIELDS = ["model", "input", "voice", "response_format", "response_encoding", "sample_rate",
          "stream", "language", "alignment", "segment", "speed"]  # fmt: skip


def test_junk_in_every_field_is_never_a_server_error(espeak_server):
    session = requests.Session()
    statuses = set()
    for field, junk in itertools.product(FIELDS, JUNK):
        response = session.post(
            f"{espeak_server.base_url}/audio/speech", json=speech_body(**{field: junk}), timeout=30
        )
        statuses.add(response.status_code)
        if response.status_code != 200:
            assert_error(response, response.status_code)
            assert 400 <= response.status_code < 500, (field, junk, response.text)
    assert statuses >= {200, 400}
    still_serving(espeak_server)
