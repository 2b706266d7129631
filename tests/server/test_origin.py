"""Web pages of other origins cannot drive the server: POSTs and upgrades are refused."""

from __future__ import annotations

import pytest
import requests

from ttskit.server.origin import normalize_origin

from .helpers import assert_error, speech_body


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1", "file://"])
def test_post_from_another_origin_is_refused(espeak_server, origin):
    response = requests.post(
        f"{espeak_server.base_url}/audio/speech",
        json=speech_body(),
        headers={"Origin": origin},
        timeout=30,
    )
    error = assert_error(response, 403, param="origin", code="origin_not_allowed")
    assert "--cors-origin" in error["message"]


def test_post_from_its_own_origin(espeak_server):
    for origin in (espeak_server.url, espeak_server.url + "/"):
        response = requests.post(
            f"{espeak_server.base_url}/audio/speech",
            json=speech_body(input="Same origin."),
            headers={"Origin": origin},
            timeout=30,
        )
        assert response.status_code == 200, response.text


def test_a_rebound_name_is_not_the_servers_own_origin(espeak_server):
    # DNS rebinding: evil.example now resolves to 127.0.0.1, so Host and Origin agree.
    rebound = f"http://evil.example:{espeak_server.port}"
    response = requests.post(
        f"{espeak_server.base_url}/audio/speech",
        json=speech_body(),
        headers={"Origin": rebound, "Host": f"evil.example:{espeak_server.port}"},
        timeout=30,
    )
    assert_error(response, 403, code="origin_not_allowed")
    own = f"http://localhost:{espeak_server.port}"
    response = requests.post(
        f"{espeak_server.base_url}/audio/speech",
        json=speech_body(input="Local."),
        headers={"Origin": own, "Host": f"localhost:{espeak_server.port}"},
        timeout=30,
    )
    assert response.status_code == 200


def test_allow_list(make_server):
    server = make_server(cors_origins=["http://localhost:8888"])
    ok = requests.post(
        f"{server.base_url}/audio/speech",
        json=speech_body(input="Allowed."),
        headers={"Origin": "http://localhost:8888"},
        timeout=30,
    )
    assert ok.status_code == 200
    refused = requests.post(
        f"{server.base_url}/audio/speech",
        json=speech_body(input="Not allowed."),
        headers={"Origin": "http://localhost:8889"},
        timeout=30,
    )
    assert_error(refused, 403, code="origin_not_allowed")


def test_reads_without_side_effects_are_not_checked(espeak_server):
    # A browser shows a page of another origin no answer without CORS headers anyway.
    response = requests.get(
        f"{espeak_server.base_url}/voices", headers={"Origin": "http://evil.example"}, timeout=10
    )
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    "origin, expected",
    [
        ("http://localhost:8888", "http://localhost:8888"),
        ("HTTP://LocalHost", "http://localhost:80"),
        ("https://example.org/", "https://example.org:443"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_normalize_origin(origin, expected):
    assert normalize_origin(origin) == expected


@pytest.mark.parametrize("origin", ["null", "localhost:8888", "http://a/b", "ftp://x", ""])
def test_normalize_origin_refuses_non_origins(origin):
    with pytest.raises(ValueError, match="origin"):
        normalize_origin(origin)
