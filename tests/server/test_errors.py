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
    "unsupported format": (_body(response_format="ogg"), 400, "response_format", "invalid_value"),
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


# --- inputs that once made the server fail -------------------------------------------------

LONE_SURROGATE = '{"model": "espeak", "voice": "en-us", "input": "Hello \\ud800 there."}'
SECOND_SENTENCE_SURROGATE = (
    '{"model": "espeak", "voice": "en-us", "stream": true, '
    '"input": "Hello there. And \\udfff here."}'
)

UNSAFE = {
    # raw body -> (param, code)
    "lone surrogate": (LONE_SURROGATE, "input", "invalid_unicode"),
    "surrogate in a later sentence, streamed": (SECOND_SENTENCE_SURROGATE, "input", "invalid_unicode"),
    "surrogate in the voice": ('{"model": "espeak", "voice": "\\ud83d", "input": "Hi."}', "voice", "invalid_unicode"),
    "surrogate in a key": ('{"model": "espeak", "voice": "en-us", "input": "Hi.", "\\udc00": 1}', None, "invalid_unicode"),
    "nested 1000 deep": ('{"model": "espeak", "voice": "en-us", "input": ' + "[" * 1000 + "]" * 1000 + "}", None, "nested_too_deep"),
    "nested 100 deep": ('{"input": ' + "[" * 100 + "]" * 100 + "}", None, "nested_too_deep"),
    "5000-digit integer": ('{"model": "espeak", "voice": "en-us", "input": "Hi.", "sample_rate": ' + "9" * 5000 + "}", None, "number_too_large"),
    "NaN": ('{"model": "espeak", "voice": "en-us", "input": "Hi.", "speed": NaN}', None, "invalid_json"),
    "Infinity": ('{"model": "espeak", "voice": "en-us", "input": "Hi.", "speed": -Infinity}', None, "invalid_json"),
}  # fmt: skip


@pytest.mark.parametrize("raw, param, code", UNSAFE.values(), ids=list(UNSAFE))
def test_unsafe_json_is_a_400(espeak_server, raw, param, code, caplog):
    with caplog.at_level("INFO"):
        response = requests.post(
            f"{espeak_server.base_url}/audio/speech", data=raw, headers=JSON, timeout=30
        )
    error = assert_error(response, 400, param=param, code=code)
    assert len(error["message"]) < 300
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    still_serving(espeak_server)


def test_errors_do_not_echo_large_values(espeak_server):
    for field in ("model", "voice"):
        response = requests.post(
            f"{espeak_server.base_url}/audio/speech",
            json=speech_body(**{field: "x" * 60_000}),
            timeout=30,
        )
        error = assert_error(response, response.status_code)
        assert 400 <= response.status_code < 500
        assert len(error["message"]) <= 1000


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data"],
)  # fmt: skip
def test_speech_needs_a_json_content_type(espeak_server, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = requests.post(
        f"{espeak_server.base_url}/audio/speech",
        data=json.dumps(speech_body()).encode(),
        headers=headers,
        timeout=30,
    )
    error = assert_error(response, 415, param="content-type", code="unsupported_media_type")
    assert "application/json" in error["message"]


def test_json_with_a_charset_or_a_json_suffix_is_json(espeak_server):
    for content_type in ("application/json; charset=utf-8", "application/vnd.api+json"):
        response = requests.post(
            f"{espeak_server.base_url}/audio/speech",
            data=json.dumps(speech_body(input="Yes.")).encode(),
            headers={"Content-Type": content_type},
            timeout=30,
        )
        assert response.status_code == 200, response.text


def _raw_exchange(server, request: bytes) -> bytes:
    import socket

    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        # h11 holds at most 16 KiB of an unfinished head
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000,
    ],
    ids=["garbage", "header without colon", "bad content-length", "endless header"],
)
def test_malformed_http_gets_the_error_body(espeak_server, request_bytes):
    answer = _raw_exchange(espeak_server, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"content-type: application/json" in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] == "invalid_http" and error["type"] == "invalid_request_error"
    still_serving(espeak_server)


def test_an_unexpected_error_is_one_500_and_one_log_record(make_server, caplog):
    server = make_server()
    app = server.app

    @app.get("/v1/broken")
    async def broken() -> None:
        raise KeyError("deliberately broken")

    with caplog.at_level("INFO"):
        response = requests.get(f"{server.base_url}/broken", timeout=10)
    assert_error(response, 500, code="internal_error")
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].name == "ttskit.server"
