"""Injected latency and faults: delays, refusals, cut connections; seeded and repeatable."""

from __future__ import annotations

import asyncio
import types

import pytest
import requests
from websockets.exceptions import ConnectionClosed

import ttskit.server.faults as faults_module
from ttskit.server import FAULTS_HEADER, Faults

from .helpers import (
    assert_error,
    open_ws,
    post_speech,
    speech_body,
    still_serving,
    ws_recv,
    ws_send,
)


def _stream(server, headers=None, **fields) -> requests.Response:
    return requests.post(
        f"{server.base_url}/audio/speech",
        json=speech_body(stream=True, **fields),
        headers=headers or {},
        timeout=30,
    )


class ServerSleeps:
    """Stands in for the fault injector's ``asyncio.sleep``: records each wait the server
    makes on purpose and yields to the loop instead of waiting, so that the tests check
    the delays asked for with no clock at all."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def server_sleeps(monkeypatch: pytest.MonkeyPatch) -> ServerSleeps:
    sleeps = ServerSleeps()
    monkeypatch.setattr(faults_module, "asyncio", types.SimpleNamespace(sleep=sleeps.sleep))
    return sleeps


def _deltas(server, headers=None, **fields) -> int:
    """Audio deltas of a streamed answer."""
    response = _stream(server, headers, **fields)
    return sum(line.startswith(b"data: {") and b"delta" in line for line in response.iter_lines())


def test_first_audio_delay(make_server, server_sleeps):
    server = make_server(faults=Faults(first_audio_delay=0.4))
    assert _deltas(server) > 1
    assert server_sleeps.waits == [0.4]  # once, before the first audio; none between deltas
    post_speech(server)
    assert server_sleeps.waits == [0.4, 0.4]


def test_delta_delay_with_jitter(make_server, server_sleeps):
    server = make_server(faults=Faults(delta_delay=0.02, jitter=0.02, seed=3))
    deltas = _deltas(server, input="Hello there.")
    # Jitter alone before the first audio, then delay plus jitter between two deltas.
    first, *gaps = server_sleeps.waits
    assert 0 <= first <= 0.02
    assert deltas > 5 and len(gaps) == deltas - 1
    assert all(0.02 <= gap <= 0.04 for gap in gaps)
    assert max(gaps) - min(gaps) > 0.005  # jittered: the gaps are not all the same


def test_fault_header_per_request(espeak_server, server_sleeps):
    _deltas(espeak_server, {FAULTS_HEADER: "first_audio_delay=0.3"})
    assert server_sleeps.waits == [0.3]
    _deltas(espeak_server)
    assert server_sleeps.waits == [0.3]  # the next request brought no faults


@pytest.mark.parametrize(
    "header", ["delay=1", "first_audio_delay=soon", "error_rate=2", "cut_after"]
)
def test_bad_fault_header(espeak_server, header):
    response = requests.post(
        f"{espeak_server.base_url}/audio/speech",
        json=speech_body(),
        headers={FAULTS_HEADER: header},
        timeout=10,
    )
    assert_error(response, 400, param=FAULTS_HEADER)
    still_serving(espeak_server)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_every_request_refused(make_server, status):
    server = make_server(faults=Faults(error_rate=1.0, error_status=status, retry_after=2))
    response = post_speech(server)
    error = assert_error(response, status)
    assert "injected" in error["message"]
    if status in (429, 503):
        assert response.headers["Retry-After"] == "2"
        assert response.headers["retry-after-ms"] == "2000"
    # Catalog and health are not refused: only speech is.
    assert requests.get(f"{server.base_url}/models", timeout=10).ok


def _refusals(server, n: int) -> list[int]:
    return [post_speech(server, input="Hi there.").status_code for _ in range(n)]


def test_refusal_fraction_is_seeded_and_repeatable(make_server):
    faults = Faults(error_rate=0.5, error_status=503, seed=42)
    first = _refusals(make_server(faults=faults), 30)
    second = _refusals(make_server(faults=faults), 30)
    assert first == second
    assert set(first) == {200, 503}
    assert 5 <= first.count(503) <= 25


def test_cut_stream_after_n_deltas(make_server):
    server = make_server(faults=Faults(cut_after=3))
    with requests.post(
        f"{server.base_url}/audio/speech", json=speech_body(stream=True), stream=True, timeout=30
    ) as response:
        assert response.status_code == 200
        lines = []
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            for line in response.iter_lines():
                lines.append(line)
    events = [line for line in lines if line]
    assert len(events) == 3 and b"[DONE]" not in b"".join(events)
    assert requests.get(f"{server.url}/health", timeout=10).ok


def test_cut_file_download(make_server):
    server = make_server(faults=Faults(cut_after=2))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        post_speech(server, response_format="raw")


def test_cut_websocket(make_server):
    server = make_server(faults=Faults(cut_after=2))
    with open_ws(server, segment="never") as ws:
        ws_recv(ws)
        ws_send(ws, type="input_text_buffer.append", text="Hello there, world.")
        ws_send(ws, type="input_text_buffer.commit")
        deltas = 0
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                if ws_recv(ws)["type"] == "conversation.item.audio_output.delta":
                    deltas += 1
        assert deltas == 2
        assert closed.value.rcvd.code == 1011


def test_websocket_refused(make_server):
    from websockets.exceptions import InvalidStatus

    server = make_server(faults=Faults(error_rate=1.0, error_status=429))
    with pytest.raises(InvalidStatus) as refused:
        open_ws(server)
    assert refused.value.response.status_code == 429


def test_faults_validate_their_values():
    for bad in (
        {"first_audio_delay": -1},
        {"error_rate": 1.5},
        {"error_status": 404},
        {"cut_after": -2},
        {"jitter": float("nan")},
    ):
        with pytest.raises(ValueError):
            Faults(**bad)
    assert not Faults(seed=1).active and Faults(cut_after=0).active


def test_bad_fault_header_has_a_code(espeak_server):
    response = _stream(espeak_server, headers={FAULTS_HEADER: "first_audio_delay=soon"})
    assert_error(response, 400, param=FAULTS_HEADER, code="invalid_faults")


def test_fault_header_only_where_allowed(make_server):
    server = make_server(allow_fault_header=False)
    response = _stream(server, headers={FAULTS_HEADER: "first_audio_delay=600"})
    error = assert_error(response, 400, param=FAULTS_HEADER, code="faults_not_allowed")
    assert "--allow-fault-header" in error["message"]
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus) as refused:
        connect(server.websocket_url, additional_headers={FAULTS_HEADER: "cut_after=1"})
    assert refused.value.response.status_code == 400
    still_serving(server)


@pytest.mark.parametrize("response_format", [None, "raw"])
def test_cuts_log_no_uvicorn_error(make_server, caplog, response_format):
    server = make_server(faults=Faults(cut_after=2))
    stream = response_format is None
    with (
        caplog.at_level("INFO"),
        pytest.raises(requests.exceptions.ChunkedEncodingError),
        requests.post(
            f"{server.base_url}/audio/speech",
            json=speech_body(stream=stream, response_format=response_format),
            stream=True,
            timeout=30,
        ) as response,
    ):
        for _ in response.iter_content(1024):
            pass
    # The cut is complete on the server before /health is answered on a new connection.
    assert requests.get(f"{server.url}/health", timeout=10).ok
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
    assert any("injected fault" in r.getMessage() for r in caplog.records)
