"""ttskit.local: the server in a background thread of this process."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest
import requests
import uvicorn

from ttskit.server import build_app
from ttskit.server.background import LocalServer, default_server, start_server
from ttskit.server.http import server_config


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


def _no_delay_on_served_connections(server: Any) -> list[int]:
    """TCP_NODELAY of each connection the uvicorn ``server`` holds open."""
    return [
        protocol.transport.get_extra_info("socket").getsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY
        )
        for protocol in server.server_state.connections
    ]


def _serve_on(sock: socket.socket) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(server_config(build_app("espeak", workers=1), log_config=None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive()
        thread.join(0.01)
    return server, thread


@pytest.mark.parametrize("proto", [socket.IPPROTO_TCP, 0])
def test_answers_go_out_without_nagles_delay(proto):
    # A socket made without naming TCP (proto 0, as uvicorn binds one for its workers)
    # is not set TCP_NODELAY by asyncio; kept-alive answers then wait for the client's
    # delayed ACK of their head. The server turns Nagle off on every connection itself.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
    sock.bind(("127.0.0.1", 0))
    server, thread = _serve_on(sock)
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/audio/speech"
        body = {"model": "espeak", "voice": "en-us", "input": "Hi."}
        with requests.Session() as session:
            for _ in range(2):
                assert session.post(url, json=body, timeout=30).ok
            assert _no_delay_on_served_connections(server) == [1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_a_local_server_binds_a_socket_asyncio_knows_for_tcp():
    with start_server("espeak", workers=1) as server:
        assert server._socket.proto == socket.IPPROTO_TCP
        with requests.Session() as session:
            assert session.get(f"{server.base_url}/models", timeout=10).ok
            assert _no_delay_on_served_connections(server._server) == [1]
