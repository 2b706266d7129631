"""``POST /v1/audio/speech``: the audio file, or Server-Sent Events, as it is made.

The route checks the request, starts the synthesis on a worker thread and waits for the
first segment before it answers, so that a bad voice or a full server still gets a
proper error status; after that, a streamed answer can only end with an error event
(or, for a plain body, a connection closed before the body's end).

Answers come in four kinds (PROTOCOL.md sections 1, 2 and 7):

- Together's events (``stream: true``): ``conversation.item.*`` events, then ``[DONE]``;
- OpenAI's events (``stream_format: "sse"``): ``speech.audio.delta``, ``speech.audio.done``;
- a body sent as it is made: raw PCM, mp3, Ogg/Opus, and WAV with unknown sizes when the
  request streams (``stream_format: "audio"``);
- a whole file: WAV with exact sizes, and FLAC.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypeVar

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Send

from .. import audio
from ..engines.text import split_words
from .errors import WireError, bad_request, wire_error_for
from .faults import FAULTS_HEADER, RequestFaults
from .pool import SlotPool
from .render import (
    RenderedSegment,
    audio_delta,
    openai_audio_delta,
    openai_audio_done,
    render_segment,
    sse_event,
    word_timestamps,
)
from .schemas import DEFAULT_SAMPLE_RATE, RESPONSE_FORMATS, SpeechRequest
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
    "opus": "audio/ogg",
    "raw": "application/octet-stream",
}
# Formats whose file can be written as the audio is made; WAV too when the request streams.
_PROGRESSIVE_FORMATS = ("raw", "mp3", "opus")
# What OpenAI's events can carry.
_EVENT_FORMATS = ("raw", "mp3", "opus", "wav")
# Usage of an OpenAI stream counts one output token per this much audio, as audio
# tokenizers do (20 ms frames); input tokens are the input's words.
_SECONDS_PER_AUDIO_TOKEN = 0.02
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
    """Synthesize ``input`` as a file, or as events with ``stream`` or ``stream_format: sse``."""
    state: ServerState = request.app.state.ttskit
    speech = SpeechRequest.model_validate(await _read_json(request, state.max_body_bytes))
    _check_input(speech.input, state.max_input_chars)
    model, aliased = state.registry.resolve(speech.model)
    voice = state.registry.voice_for(model, speech.voice_name, aliased=aliased)
    answer = _answer_for(speech)
    faults = state.faults.for_request(request.headers.get(FAULTS_HEADER))
    faults.check_refusal()

    encoder = answer.encoder()
    render = partial(
        render_segment,
        sample_rate=answer.sample_rate,
        encoding=answer.encoding,
        delta_seconds=state.delta_seconds,
        encoder=encoder,
    )
    segments = synthesize(
        model.pool,
        state.executor,
        speech.input,
        voice=voice,
        speed=speech.speed or 1.0,
        render=render,
        lookahead=state.lookahead,
    )
    headers = {
        "x-ttskit-model": model.id,
        "x-ttskit-voice": voice,
        "x-ttskit-sample-rate": str(answer.sample_rate),
        **_rate_headers(model.pool),
    }
    try:
        first = await _unless_disconnected(request, anext(segments, None))
        if answer.body == "events":
            body = _event_stream(
                first,
                segments,
                sample_rate=answer.sample_rate,
                words=speech.alignment == "word",
                faults=faults,
            )
        elif answer.body == "openai_events":
            pieces = _AudioPieces(first, segments, encoder=encoder, faults=faults)
            body = _openai_event_stream(
                pieces,
                sample_rate=answer.sample_rate,
                input_words=len(split_words(speech.input)),
            )
        elif answer.body == "chunks":
            pieces = _AudioPieces(first, segments, encoder=encoder, faults=faults)
            media_type = _MEDIA_TYPES[answer.format]
            return _CuttableResponse(_chunk_stream(pieces), media_type=media_type, headers=headers)
        else:
            rendered = await _unless_disconnected(request, _collect(first, segments))
    except _ClientGone:
        await segments.aclose()
        return Response(status_code=_CLIENT_CLOSED_REQUEST)
    except BaseException:
        await segments.aclose()
        raise
    if answer.body != "file":
        headers.update({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        return _CuttableResponse(body, media_type="text/event-stream", headers=headers)
    return await _file_response(
        rendered,
        answer.format,
        sample_rate=answer.sample_rate,
        faults=faults,
        headers=headers,
        delta_seconds=state.delta_seconds,
    )


@dataclass(frozen=True)
class _Answer:
    """How a request is answered: the kind of body, and the audio in it."""

    body: Literal["events", "openai_events", "chunks", "file"]
    format: str
    encoding: str
    sample_rate: int

    def encoder(self) -> audio.StreamEncoder | None:
        """A new encoder for a body whose file is written as it is made, else None."""
        if self.format in ("mp3", "opus") or (self.format == "wav" and self.body != "file"):
            return audio.StreamEncoder(sample_rate=self.sample_rate, format=self.format)
        return None


def _answer_for(speech: SpeechRequest) -> _Answer:
    """The answer ``speech`` asks for; a 400 for what the server cannot send."""
    format = speech.format
    if format == "aac":
        raise bad_request(
            "response_format 'aac' is not available on this server (no AAC encoder); "
            f"use one of {list(RESPONSE_FORMATS)}",
            param="response_format",
            code="unsupported_format",
        )
    if speech.streaming and speech.dialect == "together":
        if format != "raw":
            raise bad_request(
                f"streaming sends raw PCM only; response_format {speech.response_format!r} "
                "needs stream: false",
                param="response_format",
                code="unsupported_format",
            )
        body = "events"
    elif speech.streaming:
        if format not in _EVENT_FORMATS:
            raise bad_request(
                f"stream_format 'sse' sends pcm, mp3, opus or wav; response_format "
                f"{speech.response_format!r} needs stream_format 'audio'",
                param="response_format",
                code="unsupported_format",
            )
        body = "openai_events"
    elif format in _PROGRESSIVE_FORMATS or (format == "wav" and speech.stream_format == "audio"):
        body = "chunks"
    else:
        body = "file"
    # mp3 and opus encoders take a few rates only: the nearest one is sent, and said in
    # the file's header (and in x-ttskit-sample-rate).
    sample_rate = audio.nearest_encoder_rate(
        speech.sample_rate or DEFAULT_SAMPLE_RATE, format=format
    )
    return _Answer(body=body, format=format, encoding=speech.encoding, sample_rate=sample_rate)


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
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(
            f"the request body is not valid JSON ({exc})", param=None, code="invalid_json"
        ) from exc


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
    samples = (
        np.concatenate([segment.audio for segment in rendered])
        if rendered
        else np.zeros(0, dtype=np.float32)
    )
    if format == "wav":
        return audio.wav_bytes(samples, sample_rate=sample_rate)
    # flac takes a few milliseconds a second of audio: off the loop.
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


class _AudioPieces:
    """The audio of a response as it is made, delta by delta, with injected faults.

    Iterating yields the deltas of each segment, then what the encoder (if any) still
    holds, or ``_CUT`` where a fault cuts the connection. Closes ``segments`` at the end.
    """

    def __init__(
        self,
        first: RenderedSegment | None,
        segments: AsyncIterator[RenderedSegment],
        *,
        encoder: audio.StreamEncoder | None,
        faults: RequestFaults,
    ) -> None:
        self._first = first
        self._segments = segments
        self._encoder = encoder
        self._faults = faults
        self.n_samples = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        faults = self._faults
        segment = self._first
        try:
            await faults.before_first_audio()
            while segment is not None:
                for delta in segment.deltas:
                    if faults.cut_now():
                        yield _CUT
                        return
                    if faults.deltas_sent:
                        await faults.before_delta()
                    yield delta
                    faults.deltas_sent += 1
                self.n_samples += segment.n_samples
                segment = await anext(self._segments, None)
            # Only once the synthesis is over: the worker thread no longer writes to it.
            tail = self._encoder.close() if self._encoder is not None else b""
            if tail:
                yield tail
        finally:
            await self._segments.aclose()


async def _chunk_stream(pieces: _AudioPieces) -> AsyncIterator[bytes]:
    """A plain body sent as it is made; a failure cuts it short, which the client sees."""
    try:
        async for piece in pieces:
            yield piece
    except Exception as exc:
        error = wire_error_for(exc)
        _LOGGER.error("body failed after it started: %s", error.message, exc_info=exc)
        yield _CUT


async def _openai_event_stream(
    pieces: _AudioPieces, *, sample_rate: int, input_words: int
) -> AsyncIterator[bytes]:
    """OpenAI's events: ``speech.audio.delta`` per piece, then ``speech.audio.done``."""
    try:
        async for piece in pieces:
            if piece is _CUT:
                yield _CUT
                return
            yield sse_event(openai_audio_delta(piece))
        seconds = pieces.n_samples / sample_rate
        output_tokens = math.ceil(seconds / _SECONDS_PER_AUDIO_TOKEN)
        yield sse_event(openai_audio_done(input_tokens=input_words, output_tokens=output_tokens))
    except Exception as exc:
        error = wire_error_for(exc)
        _LOGGER.error("stream failed after it started: %s", error.message, exc_info=exc)
        yield sse_event(error.body())


async def _file_chunks(data: bytes, size: int, faults: RequestFaults) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        if faults.cut_now():
            yield _CUT
            return
        if faults.deltas_sent:
            await faults.before_delta()
        yield data[start : start + size]
        faults.deltas_sent += 1
