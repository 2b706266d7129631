"""Small clients for the server tests: requests for HTTP, websockets' sync client for WS."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import numpy as np
import requests
from websockets.sync.client import ClientConnection, connect

from ttskit import audio
from ttskit.server.background import LocalServer

TEXT = "Hello world. This is a test of the speech server."


def speech_body(**fields: Any) -> dict[str, Any]:
    body = {"model": "espeak", "input": TEXT, "voice": "en-us"}
    body.update(fields)
    return {key: value for key, value in body.items() if value is not None}


def post_speech(server: LocalServer, **fields: Any) -> requests.Response:
    return requests.post(f"{server.base_url}/audio/speech", json=speech_body(**fields), timeout=60)


def sse_payloads(response: requests.Response) -> list[Any]:
    """The data of every event, parsed as JSON except ``[DONE]``; checks the framing."""
    text = response.content.decode()
    assert text.endswith("\n\n") or not text, text[-50:]
    payloads = []
    for block in text.split("\n\n")[:-1]:
        assert block.startswith("data: ") and "\n" not in block, block[:80]
        data = block[len("data: ") :]
        payloads.append(data if data == "[DONE]" else json.loads(data))
    return payloads


def stream_audio(payloads: list[Any], *, encoding: str = "pcm_f32le") -> np.ndarray:
    pcm = b"".join(
        base64.b64decode(p["delta"])
        for p in payloads
        if isinstance(p, dict) and p.get("type") == "conversation.item.audio_output.delta"
    )
    return audio.decode_pcm(pcm, encoding=encoding)


def assert_error(response: requests.Response, status: int, *, param: Any = ..., code: Any = ...):
    """The response is the protocol's error body with ``status``; returns the error."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    if param is not ...:
        assert error["param"] == param, error
    if code is not ...:
        assert error["code"] == code, error
    return error


def still_serving(server: LocalServer) -> None:
    """A good request right after a bad one is answered with audio."""
    response = post_speech(server, input="Still here.")
    assert response.status_code == 200, response.text
    samples, _ = audio.decode_file(response.content)
    assert samples.size > 0


def open_ws(server: LocalServer, **params: Any) -> ClientConnection:
    query = urlencode(params)
    url = server.websocket_url + (f"?{query}" if query else "")
    return connect(url, open_timeout=10, close_timeout=2)


def ws_send(ws: ClientConnection, **event: Any) -> None:
    ws.send(json.dumps(event))


def ws_recv(ws: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=timeout))


def ws_until(ws: ClientConnection, kind: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Events up to and including the first of type ``kind``."""
    events = []
    while True:
        event = ws_recv(ws, timeout)
        events.append(event)
        if event["type"] == kind:
            return events


def envelope(samples: np.ndarray, rate: int, *, frame_s: float = 0.02) -> np.ndarray:
    """Level in dB of each ``frame_s`` frame, floored at -60 dB."""
    frame = int(rate * frame_s)
    n = samples.size // frame
    frames = samples[: n * frame].reshape(n, frame).astype(np.float64)
    return np.maximum(10 * np.log10(np.mean(frames**2, axis=1) + 1e-12), -60.0)


def assert_same_speech(
    samples: np.ndarray, rate: int, expected: np.ndarray, expected_rate: int, *, slack: float = 0.0
) -> None:
    """Same speech, as far as two runs of a non-deterministic engine can be compared.

    eSpeak varies a few samples from run to run, so two answers are compared by length,
    loudness and their level envelopes, which a wrong encoding, rate or byte order
    would all break. ``slack`` seconds more are allowed for encoders that add some (a
    streamed mp3 carries LAME's delay and padding, about 0.1 s, with no tag to trim them).
    """
    duration, expected_duration = samples.size / rate, expected.size / expected_rate
    assert abs(duration - expected_duration) < 0.02 * expected_duration + 0.02 + slack
    assert abs(audio.rms_dbfs(samples) - audio.rms_dbfs(expected)) < 1.5
    ours, theirs = envelope(samples, rate), envelope(expected, expected_rate)
    n = min(ours.size, theirs.size) - int(slack / 0.02)
    best = max(
        np.corrcoef(ours[lag : lag + n], theirs[:n])[0, 1] for lag in range(int(slack / 0.02) + 1)
    )
    assert best > 0.9


def busy_slots(server: LocalServer, model: str) -> int:
    health = requests.get(f"{server.url}/health", timeout=10).json()
    return health["models"][model]["busy"]


def wait_until_idle(server: LocalServer, model: str, timeout: float = 2.0) -> float:
    """Seconds until every slot of ``model`` is free; fails after ``timeout``."""
    import time

    started = time.perf_counter()
    while busy_slots(server, model):
        assert time.perf_counter() - started < timeout, f"{model} slots still busy"
        time.sleep(0.01)
    return time.perf_counter() - started
