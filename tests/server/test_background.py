"""ttskit.local: the server in a background thread of this process."""

from __future__ import annotations

import pytest
import requests

from ttskit.server import build_app
from ttskit.server.background import LocalServer, default_server, start_server


def test_start_and_stop():
    server = start_server("espeak", workers=1)
    assert server.running
    assert server.host == "127.0.0.1" and server.port > 0
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    assert server.url + "/v1" == server.base_url
    assert server.websocket_url == f"ws://127.0.0.1:{server.port}/v1/audio/speech/websocket"
    assert requests.get(f"{server.base_url}/models", timeout=10).ok
    assert repr(server) == f"LocalServer(base_url='{server.base_url}', running)"
    server.stop()
    assert not server.running
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.base_url}/models", timeout=5)


def test_context_manager_and_two_servers_side_by_side():
    with LocalServer(build_app("espeak", workers=1)) as first, start_server("espeak") as second:
        assert first.port != second.port
        assert requests.get(f"{first.url}/health", timeout=10).ok
        assert requests.get(f"{second.url}/health", timeout=10).ok
    assert not first.running and not second.running


def test_stop_while_a_stream_is_open():
    server = start_server("espeak", workers=1)
    response = requests.post(
        f"{server.base_url}/audio/speech",
        json={"model": "espeak", "voice": "en-us", "input": "Word. " * 500, "stream": True},
        headers={"x-ttskit-faults": "delta_delay=0.05"},
        stream=True,
        timeout=30,
    )
    lines = response.iter_lines()
    next(lines)
    server.stop(timeout=10)
    assert not server.running
    response.close()


def test_default_server_is_shared():
    server = default_server()
    assert server is default_server()
    models = requests.get(f"{server.base_url}/models", timeout=10).json()
    assert "espeak" in [model["id"] for model in models["data"]]
