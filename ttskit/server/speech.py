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
import re
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypeVar

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from .. import audio
from ..engines.text import split_words
from .bodies import (
    AudioPieces,
    CuttableResponse,
    chunked_body,
    file_chunks,
    openai_events,
    together_events,
)
from .connections import client_of
from .errors import WireError, bad_request
from .faults import FAULTS_HEADER, RequestFaults
from .payload import parse_json, read_body
from .pool import SlotPool
from .render import RenderedSegment, render_segment
from .schemas import DEFAULT_SAMPLE_RATE, RESPONSE_FORMATS, SpeechRequest
from .state import ServerState
from .worker import synthesize

__all__ = ["router"]

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
    speech = _in_its_dialect(
        SpeechRequest.model_validate(await _read_json(request, state.max_body_bytes))
    )
    _check_input(speech.input, state.max_input_chars)
    model, aliased = state.registry.resolve(speech.model)
    voice = state.registry.voice_for(model, speech.voice_name, aliased=aliased)
    answer = _answer_for(speech)
    faults = state.faults.for_request(request.headers.get(FAULTS_HEADER))
    faults.check_refusal()

    client = client_of(request.scope)
    encoder = answer.encoder()
    render = partial(
        render_segment,
        sample_rate=answer.sample_rate,
        # A file encoder takes the samples as they are sent.
        encoding=None if encoder is not None else answer.encoding,
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
        client=client,
        # What "immediate" asks for: audio as soon as there is something to say.
        first_clause=speech.segment == "immediate",
        **state.slot_deadlines(),
    )
    headers = {
        "x-ttskit-model": model.id,
        "x-ttskit-voice": voice,
        "x-ttskit-sample-rate": str(answer.sample_rate),
        **_rate_headers(model.pool, client),
    }
    try:
        first = await _unless_disconnected(request, anext(segments, None))
        if answer.body != "file":
            body = _streamed_body(
                answer,
                first,
                segments,
                encoder=encoder,
                delta_samples=max(1, int(state.delta_seconds * answer.sample_rate)),
                faults=faults,
                speech=speech,
            )
            if answer.body == "chunked":
                return CuttableResponse(
                    body, media_type=_MEDIA_TYPES[answer.format], headers=headers
                )
            headers.update({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
            return CuttableResponse(body, media_type="text/event-stream", headers=headers)
        rendered = await _unless_disconnected(request, _collect(first, segments))
    except _ClientGone:
        await segments.aclose()
        return Response(status_code=_CLIENT_CLOSED_REQUEST)
    except BaseException:
        await segments.aclose()
        raise
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

    body: Literal["together_events", "openai_events", "chunked", "file"]
    format: str
    encoding: str
    sample_rate: int

    def encoder(self) -> audio.StreamEncoder | None:
        """A new encoder for a body whose file is written as it is made, else None."""
        if self.format in ("mp3", "opus") or (self.format == "wav" and self.body != "file"):
            return audio.StreamEncoder(sample_rate=self.sample_rate, format=self.format)
        return None


# OpenAI's speech models, and their dated snapshots ("gpt-4o-mini-tts-2025-03-20").
_OPENAI_MODEL = re.compile(r"(?:tts-1(?:-hd)?|gpt-4o-mini-tts)(?:-\d{4}-\d{2}-\d{2})?")
# The fields only OpenAI's body has; ``stream_format`` is the schema's own sign.
_OPENAI_ONLY_FIELDS = ("instructions",)


def _in_its_dialect(speech: SpeechRequest) -> SpeechRequest:
    """``speech`` as its dialect reads it.

    A body without ``stream`` that names one of OpenAI's models (``tts-1``, ``tts-1-hd``,
    ``gpt-4o-mini-tts``, served here by alias) or carries OpenAI's own ``instructions`` is in
    OpenAI's dialect even without ``stream_format``: OpenAI's default for it is "audio",
    so its default format is mp3, as OpenAI's own examples expect.
    """
    # The dialect sets defaults only; a WAV asked for by name stays a whole file, as a
    # WAV is streamed (with unknown sizes) only when the body asks for it in so many words.
    if speech.stream is not None or speech.stream_format is not None:
        return speech
    if speech.response_format == "wav":
        return speech
    named = _OPENAI_MODEL.fullmatch(speech.model) is not None
    if named or any(getattr(speech, name) is not None for name in _OPENAI_ONLY_FIELDS):
        return speech.model_copy(update={"stream_format": "audio"})
    return speech


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
        body = "together_events"
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
        body = "chunked"
    else:
        body = "file"
    # mp3 and opus encoders take a few rates only: the nearest one is sent, and said in
    # the file's header (and in x-ttskit-sample-rate).
    sample_rate = audio.nearest_encoder_rate(
        speech.sample_rate or DEFAULT_SAMPLE_RATE, format=format
    )
    return _Answer(body=body, format=format, encoding=speech.encoding, sample_rate=sample_rate)


def _streamed_body(
    answer: _Answer,
    first: RenderedSegment | None,
    segments: AsyncIterator[RenderedSegment],
    *,
    encoder: audio.StreamEncoder | None,
    delta_samples: int,
    faults: RequestFaults,
    speech: SpeechRequest,
) -> AsyncIterator[bytes]:
    """The body of an answer sent as it is made: events of either dialect, or the file."""
    if answer.body == "together_events":
        return together_events(
            first,
            segments,
            sample_rate=answer.sample_rate,
            words=speech.alignment == "word",
            faults=faults,
        )
    pieces = AudioPieces(
        first, segments, encoder=encoder, delta_samples=delta_samples, faults=faults
    )
    if answer.body == "openai_events":
        return openai_events(
            pieces, sample_rate=answer.sample_rate, input_words=len(split_words(speech.input))
        )
    return chunked_body(pieces)


# --- request checks ------------------------------------------------------------------------


async def _read_json(request: Request, limit: int) -> Any:
    """The body parsed as JSON, whatever its content type, refused past ``limit`` bytes."""
    too_large = WireError(413, f"the request body is larger than {limit} bytes", param=None)
    raw = await read_body(request, limit, too_large)
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


def _rate_headers(pool: SlotPool, client: str) -> dict[str, str]:
    """What ``client`` may still ask of the model: its share of slots and queue, and what is
    left of it."""
    return {
        "x-ratelimit-limit": str(pool.client_capacity()),
        "x-ratelimit-remaining": str(pool.remaining_for(client)),
    }


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
    return CuttableResponse(
        file_chunks(data, size, faults), media_type=_MEDIA_TYPES[format], headers=headers
    )
