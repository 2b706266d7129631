"""The optional API key: HTTP Authorization header, or the WebSocket's header or query."""

from __future__ import annotations

import logging

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from ttskit.server.middleware import RedactKeys

from ..conftest import API_KEY
from .helpers import assert_error, open_ws, speech_body, ws_recv


def _post(server, headers):
    return requests.post(
        f"{server.base_url}/audio/speech", json=speech_body(), headers=headers, timeout=30
    )


def test_right_key(auth_server):
    response = _post(auth_server, {"Authorization": f"Bearer {API_KEY}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers, missing",
    [
        ({}, True),
        ({"Authorization": "Bearer wrong-key"}, False),
        ({"Authorization": f"Bearer {API_KEY}x"}, False),
        ({"Authorization": f"Basic {API_KEY}"}, True),
        ({"Authorization": "Bearer "}, True),
    ],
)
def test_wrong_or_missing_key(auth_server, headers, missing):
    error = assert_error(_post(auth_server, headers), 401, code="invalid_api_key")
    assert error["type"] == "authentication_error"
    assert ("missing" in error["message"]) is missing
    assert API_KEY not in error["message"]


def test_every_v1_path_needs_the_key(auth_server):
    for path in ("/v1/models", "/v1/voices", "/v1/no-such-path"):
        assert_error(requests.get(auth_server.url + path, timeout=10), 401)
    ok = requests.get(
        f"{auth_server.base_url}/models", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10
    )
    assert ok.status_code == 200


def test_health_is_open(auth_server):
    assert requests.get(f"{auth_server.url}/health", timeout=10).ok


def test_query_key_is_for_websockets_only(auth_server):
    response = requests.post(
        f"{auth_server.base_url}/audio/speech?api_key={API_KEY}", json=speech_body(), timeout=10
    )
    assert_error(response, 401)


def test_websocket_with_query_key(auth_server):
    with open_ws(auth_server, api_key=API_KEY) as ws:
        assert ws_recv(ws)["type"] == "session.created"


def test_websocket_with_header_key(auth_server):
    with connect(
        auth_server.websocket_url, additional_headers={"Authorization": f"Bearer {API_KEY}"}
    ) as ws:
        assert ws_recv(ws)["type"] == "session.created"


@pytest.mark.parametrize("query", [{}, {"api_key": "wrong"}])
def test_websocket_refused_without_the_key(auth_server, query):
    with pytest.raises(InvalidStatus) as refused:
        open_ws(auth_server, **query)
    response = refused.value.response
    assert response.status_code == 401
    assert b"invalid_api_key" in response.body


def test_keys_in_log_lines_are_redacted():
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/v1/audio/speech/websocket?voice=x&api_key={API_KEY}", "1.1", 101),
        None,
    )  # fmt: skip
    RedactKeys().filter(record)
    assert API_KEY not in record.getMessage()
    assert "api_key=***" in record.getMessage()


def test_a_refused_websocket_logs_no_false_error(auth_server, caplog):
    with caplog.at_level(logging.INFO), pytest.raises(InvalidStatus):
        open_ws(auth_server, api_key="wrong")
    # The refusal is logged once, by uvicorn's access line, not as an ERROR.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_the_server_never_logs_a_key(make_server, caplog):
    """A planted key, right or wrong, in headers, queries and bodies, in no log record."""
    planted = "sk-planted-9f8e7d6c5b4a"
    server = make_server(api_key=planted, log_level="debug")
    wrong = planted + "-wrong"
    with caplog.at_level(logging.DEBUG):
        for key in (planted, wrong):
            _post(server, {"Authorization": f"Bearer {key}"})
            requests.get(f"{server.base_url}/voices?api_key={key}", timeout=10)
            requests.post(
                f"{server.base_url}/audio/speech",
                json=speech_body(input=f"Say {key}.", voice=key),
                headers={"Authorization": f"Bearer {key}", "x-ttskit-faults": f"seed={key}"},
                timeout=30,
            )
            try:
                with open_ws(server, api_key=key) as ws:
                    ws_recv(ws)
            except InvalidStatus:
                pass
    # The test's own clients (urllib3, websockets.client) log their URLs; the server may not.
    server_records = [
        record
        for record in caplog.records
        if record.name.startswith(("uvicorn", "ttskit", "starlette", "fastapi"))
    ]
    assert len(server_records) > 5, "the server logged next to nothing"
    for record in server_records:
        assert planted not in record.getMessage() + str(record.__dict__), record.getMessage()
