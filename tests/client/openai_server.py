"""A small server that speaks only OpenAI's dialect of ``POST /v1/audio/speech``.

It refuses what OpenAI's API refuses (Together's ``stream``, ``sample_rate``,
``response_encoding``, ``alignment``) with a 400, and answers with canned 24 kHz 16-bit
PCM: OpenAI's SSE events (``speech.audio.delta`` / ``speech.audio.done``, no ``[DONE]``)
for ``stream_format: "sse"``, the raw bytes chunked for ``stream_format: "audio"``, and a
WAV or PCM body otherwise. Served by uvicorn on loopback, as the local server is.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ttskit import audio
from ttskit.server.background import LocalServer

RATE = 24000
#: Every answer's audio: 0.3 s of a tone, sent in 0.1 s deltas.
TONE = (0.5 * np.sin(2 * np.pi * 220 * np.arange(int(0.3 * RATE)) / RATE)).astype(np.float32)
PCM = audio.encode_pcm(TONE, encoding="pcm_s16le")
DELTAS = [PCM[i : i + RATE // 5] for i in range(0, len(PCM), RATE // 5)]  # 0.1 s of s16le
_TOGETHER_ONLY = ("stream", "sample_rate", "response_encoding", "alignment", "segment")


def _error(message: str, param: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param}}
    return JSONResponse(body, status_code=400)


async def speech(request: Request) -> Response:
    body = json.loads(await request.body())
    request.app.state.received.append(body)
    for name in _TOGETHER_ONLY:
        if name in body:
            return _error(f"Unrecognized request argument supplied: {name}", name)
    fmt = body.get("response_format", "mp3")
    headers = {"x-request-id": f"req_{len(request.app.state.received)}"}
    stream_format = body.get("stream_format")
    if stream_format == "sse":
        if fmt != "pcm":
            return _error("this server streams pcm only", "response_format")

        async def events() -> AsyncIterator[bytes]:
            for delta in DELTAS:
                event = {"type": "speech.audio.delta", "audio": base64.b64encode(delta).decode()}
                yield f"data: {json.dumps(event)}\n\n".encode()
            done = {"type": "speech.audio.done", "usage": {"input_tokens": 1}}
            yield f"data: {json.dumps(done)}\n\n".encode()

        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
    if stream_format == "audio":

        async def pieces() -> AsyncIterator[bytes]:
            for delta in DELTAS:
                yield delta

        return StreamingResponse(pieces(), media_type="audio/pcm", headers=headers)
    if stream_format is not None:
        return _error(f"stream_format={stream_format!r} is not supported", "stream_format")
    if fmt == "wav":
        wav = audio.wav_bytes(TONE, sample_rate=RATE)
        return Response(wav, media_type="audio/wav", headers=headers)
    if fmt == "pcm":
        return Response(PCM, media_type="audio/pcm", headers=headers)
    return _error(f"response_format={fmt!r} is not supported here", "response_format")


async def models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [{"id": "tts-1", "object": "model"}]})


def openai_only_server() -> LocalServer:
    """The server, started; ``server.app.state.received`` holds every speech body."""
    app = Starlette(
        routes=[
            Route("/v1/audio/speech", speech, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
        ]
    )
    app.state.received = []
    return LocalServer(app).start()
