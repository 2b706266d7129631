"""``POST /v1/audio/speech``: the whole audio file, or Server-Sent Events as it is made.

The route checks the request, starts the synthesis on a worker thread and waits for the
first segment before it answers, so that a bad voice or a full server still gets a
proper error status; after that, a streamed answer can only end with an error event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from functools import partial
from typing import Any, TypeVar

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Send

from .. import audio
from ..engines.text import split_words
from .errors import WireError, bad_request, wire_error_for
from .faults import FAULTS_HEADER, RequestFaults
from .payload import parse_json
from .pool import SlotPool
from .render import (
    RenderedSegment,
    audio_delta,
    render_segment,
    sse_event,
    word_timestamps,
)
from .schemas import DEFAULT_SAMPLE_RATE, SpeechRequest
from .state import ServerState
from .worker import synthesize

__all__ = ["router"]

_LOGGER = logging.getLogger("ttskit.server")
T = TypeVar("T")

router = APIRouter()

_MEDIA_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "raw": "application/octet-stream",
}
# An item id of its own per response: the stream is one item, as on the hosted API.
_ITEM_ID = "tts_1"
# Status for the log line of a request whose client left before the answer; never sent.
_CLIENT_CLOSED_REQUEST = 499

_REQUEST_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": SpeechRequest.model_json_schema()}},
    }
}


@router.post("/v1/audio/speech", openapi_extra=_REQUEST_SCHEMA)
async def create_speech(request: Request) -> Response:
    """Synthesize ``input``: an audio file, or ``text/event-stream`` with ``stream: true``."""
    state: ServerState = request.app.state.ttskit
    speech = SpeechRequest.model_validate(await _read_json(request, state.max_body_bytes))
    _check_input(speech.input, state.max_input_chars)
    model, aliased = state.registry.resolve(speech.model)
    voice = state.registry.voice_for(model, speech.voice, aliased=aliased)
    if speech.streaming and speech.format != "raw":
        raise bad_request(
            f"streaming sends raw PCM only; response_format {speech.response_format!r} "
            "needs stream: false",
            param="response_format",
            code="unsupported_format",
        )
    faults = state.faults.for_request(request.headers.get(FAULTS_HEADER))
    faults.check_refusal()

    sample_rate = speech.sample_rate or DEFAULT_SAMPLE_RATE
    render = partial(
        render_segment,
        sample_rate=sample_rate,
        encoding=speech.encoding,
        delta_seconds=state.delta_seconds,
    )
    segments = synthesize(
        model.pool,
        state.executor,
        speech.input,
        voice=voice,
        speed=speech.speed or 1.0,
        render=render,
        lookahead=state.lookahead,
        **state.slot_deadlines(),
    )
    headers = {"x-ttskit-model": model.id, "x-ttskit-voice": voice, **_rate_headers(model.pool)}
    try:
        first = await _unless_disconnected(request, anext(segments, None))
        if speech.streaming:
            body = _event_stream(
                first,
                segments,
                sample_rate=sample_rate,
                words=speech.alignment == "word",
                faults=faults,
            )
            headers.update({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
            return _CuttableResponse(body, media_type="text/event-stream", headers=headers)
        rendered = await _unless_disconnected(request, _collect(first, segments))
    except _ClientGone:
        await segments.aclose()
        return Response(status_code=_CLIENT_CLOSED_REQUEST)
    except BaseException:
        await segments.aclose()
        raise
    return await _file_response(
        rendered,
        speech.format,
        sample_rate=sample_rate,
        faults=faults,
        headers=headers,
        delta_seconds=state.delta_seconds,
    )


# --- request checks ------------------------------------------------------------------------


async def _read_json(request: Request, limit: int) -> Any:
    """The body parsed as JSON, whatever its content type, refused past ``limit`` bytes."""
    too_large = WireError(413, f"the request body is larger than {limit} bytes", param=None)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise bad_request(
            "the request body is empty; send a JSON object with model, input and voice",
            param=None,
            code="missing",
        )
    return parse_json(raw)


def _check_input(text: str, max_chars: int) -> None:
    if not text.strip():
        raise bad_request(
            "input is empty; send the text to speak", param="input", code="empty_input"
        )
    if len(text) > max_chars:
        raise bad_request(
            f"input is {len(text)} characters long; this server takes at most {max_chars}",
            param="input",
            code="input_too_long",
        )
    if not split_words(text):
        raise bad_request(
            f"input has no word to speak: {text[:40]!r}", param="input", code="no_words"
        )


def _rate_headers(pool: SlotPool) -> dict[str, str]:
    return {"x-ratelimit-limit": str(pool.capacity), "x-ratelimit-remaining": str(pool.remaining)}


# --- running while the client is there -----------------------------------------------------


class _ClientGone(Exception):
    """The client disconnected before the answer was ready."""


async def _wait_for_disconnect(request: Request) -> None:
    # The body has been read, so the next message the server has for us is the disconnect.
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _unless_disconnected(request: Request, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable``, cancelling it (and raising ``_ClientGone``) if the client leaves."""
    work = asyncio.ensure_future(awaitable)
    watch = asyncio.ensure_future(_wait_for_disconnect(request))
    try:
        await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        work.cancel()
        raise
    finally:
        watch.cancel()
    if not work.done():
        work.cancel()
        # Let the cancellation land before the caller closes the generator it was driving.
        await asyncio.wait({work})
        raise _ClientGone
    return work.result()


async def _collect(
    first: RenderedSegment | None, segments: AsyncIterator[RenderedSegment]
) -> list[RenderedSegment]:
    rendered = [] if first is None else [first]
    rendered.extend([segment async for segment in segments])
    return rendered


# --- answers -------------------------------------------------------------------------------


async def _encode(rendered: list[RenderedSegment], format: str, sample_rate: int) -> bytes:
    if format == "raw":
        return b"".join(delta for segment in rendered for delta in segment.deltas)
    samples = (
        np.concatenate([segment.audio for segment in rendered])
        if rendered
        else np.zeros(0, dtype=np.float32)
    )
    if format == "wav":
        return audio.wav_bytes(samples, sample_rate=sample_rate)
    # mp3 and flac take a few milliseconds a second of audio: off the loop.
    return await run_in_threadpool(
        audio.encode_file, samples, sample_rate=sample_rate, format=format
    )


async def _file_response(
    rendered: list[RenderedSegment],
    format: str,
    *,
    sample_rate: int,
    faults: RequestFaults,
    headers: dict[str, str],
    delta_seconds: float,
) -> Response:
    data = await _encode(rendered, format, sample_rate)
    await faults.before_first_audio()
    if faults.faults.cut_after is None and not faults.faults.delta_delay:
        return Response(data, media_type=_MEDIA_TYPES[format], headers=headers)
    # A slow or cut download: the file goes out in pieces of about a delta's audio.
    duration = sum(segment.n_samples for segment in rendered) / sample_rate
    size = max(1, int(len(data) * delta_seconds / duration)) if duration else len(data) or 1
    headers["Content-Length"] = str(len(data))
    return _CuttableResponse(
        _file_chunks(data, size, faults), media_type=_MEDIA_TYPES[format], headers=headers
    )


#: What a body iterator yields to close the connection without finishing the response.
_CUT = b"\x00cut"


class _CuttableResponse(StreamingResponse):
    """A streaming response that an injected fault can cut off mid-body.

    When the body iterator yields ``_CUT`` the response is left unfinished, and uvicorn
    closes the connection, as a dropped network would.
    """

    async def stream_response(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        async for chunk in self.body_iterator:
            if chunk is _CUT:
                _LOGGER.info("injected fault: cutting the connection")
                return
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _event_stream(
    first: RenderedSegment | None,
    segments: AsyncIterator[RenderedSegment],
    *,
    sample_rate: int,
    words: bool,
    faults: RequestFaults,
) -> AsyncIterator[bytes]:
    """The SSE body: per segment its words (cumulative times), then its deltas; [DONE]."""
    offset = 0.0
    segment = first
    try:
        await faults.before_first_audio()
        while segment is not None:
            if words and segment.words:
                yield sse_event(word_timestamps(_ITEM_ID, segment.words, offset=offset))
            for delta in segment.deltas:
                if faults.cut_now():
                    yield _CUT
                    return
                if faults.deltas_sent:
                    await faults.before_delta()
                yield sse_event(audio_delta(_ITEM_ID, delta))
                faults.deltas_sent += 1
            offset += segment.n_samples / sample_rate
            segment = await anext(segments, None)
        yield sse_event("[DONE]")
    except Exception as exc:
        error = wire_error_for(exc)
        _LOGGER.error("stream failed after it started: %s", error.message, exc_info=exc)
        yield sse_event(error.body())
    finally:
        await segments.aclose()


async def _file_chunks(data: bytes, size: int, faults: RequestFaults) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        if faults.cut_now():
            yield _CUT
            return
        if faults.deltas_sent:
            await faults.before_delta()
        yield data[start : start + size]
        faults.deltas_sent += 1
