"""How a speech answer goes out as it is made: events of either dialect, or a plain body.

Each body is an async iterator of bytes over the rendered segments of one synthesis
(``worker.synthesize``); it applies the request's injected faults per delta, closes the
synthesis when it ends, and so stops it when the client goes away (Starlette cancels the
body then). A body yields ``CUT`` to drop the connection mid-answer.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse
from starlette.types import Send

from .. import audio
from .errors import WireError, wire_error_for
from .faults import RequestFaults
from .render import (
    RenderedSegment,
    audio_delta,
    openai_audio_delta,
    openai_audio_done,
    sse_event,
    word_timestamps,
)

__all__ = [
    "CUT",
    "AudioPieces",
    "CuttableResponse",
    "chunked_body",
    "file_chunks",
    "openai_events",
    "together_events",
]

_LOGGER = logging.getLogger("ttskit.server")


def _log_failure(exc: Exception) -> WireError:
    """One log record for an answer that failed after it started; a traceback only for
    what the server did not expect (a deadline or an overload is not a bug)."""
    error = wire_error_for(exc)
    trace = exc if error.status_code >= 500 and error.code not in _EXPECTED_CODES else None
    _LOGGER.error("answer failed after it started: %s", error.message, exc_info=trace)
    return error


# Failures that are the server working as designed, logged without a traceback.
_EXPECTED_CODES = ("synthesis_timeout",)
# An item id of its own per response: the stream is one item, as on the hosted API.
_ITEM_ID = "tts_1"
# Usage of an OpenAI stream counts one output token per this much audio, as audio
# tokenizers do (20 ms frames); input tokens are the input's words.
_SECONDS_PER_AUDIO_TOKEN = 0.02

#: What a body iterator yields to close the connection without finishing the response.
CUT = b"\x00cut"


class CuttableResponse(StreamingResponse):
    """A streaming response that an injected fault can cut off mid-body.

    When the body iterator yields ``CUT`` the response is left unfinished, and uvicorn
    closes the connection, as a dropped network would.
    """

    async def stream_response(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        async for chunk in self.body_iterator:
            if chunk is CUT:
                _LOGGER.info("injected fault: cutting the connection")
                return
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def together_events(
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
                    yield CUT
                    return
                if faults.deltas_sent:
                    await faults.before_delta()
                yield sse_event(audio_delta(_ITEM_ID, delta))
                faults.deltas_sent += 1
            offset += segment.n_samples / sample_rate
            segment = await anext(segments, None)
        yield sse_event("[DONE]")
    except Exception as exc:
        error = _log_failure(exc)
        yield sse_event(error.body())
    finally:
        await segments.aclose()


class AudioPieces:
    """The audio of a response as it is made, delta by delta, with injected faults.

    Iterating yields the PCM deltas of each segment or, with an ``encoder``, the bytes
    of its file that each ``delta_samples`` of audio complete (encoded on a worker
    thread as they are sent, so the first bytes wait for one delta's encoding, not a
    sentence's), then what the encoder still holds; or ``CUT`` where a fault cuts the
    connection. Closes ``segments`` at the end.
    """

    def __init__(
        self,
        first: RenderedSegment | None,
        segments: AsyncIterator[RenderedSegment],
        *,
        encoder: audio.StreamEncoder | None,
        delta_samples: int,
        faults: RequestFaults,
    ) -> None:
        self._first = first
        self._segments = segments
        self._encoder = encoder
        self._delta_samples = delta_samples
        self._faults = faults
        self.n_samples = 0

    async def _deltas(self, segment: RenderedSegment) -> AsyncIterator[bytes]:
        if self._encoder is None:
            for delta in segment.deltas:
                yield delta
            return
        step = self._delta_samples
        for start in range(0, segment.n_samples, step):
            piece = await run_in_threadpool(
                self._encoder.encode, segment.audio[start : start + step]
            )
            if piece:
                yield piece

    async def __aiter__(self) -> AsyncIterator[bytes]:
        faults = self._faults
        segment = self._first
        try:
            await faults.before_first_audio()
            while segment is not None:
                async for delta in self._deltas(segment):
                    if faults.cut_now():
                        yield CUT
                        return
                    if faults.deltas_sent:
                        await faults.before_delta()
                    yield delta
                    faults.deltas_sent += 1
                self.n_samples += segment.n_samples
                segment = await anext(self._segments, None)
            if self._encoder is not None:
                tail = await run_in_threadpool(self._encoder.close)
                if tail:
                    yield tail
        finally:
            await self._segments.aclose()


async def chunked_body(pieces: AudioPieces) -> AsyncIterator[bytes]:
    """A plain body sent as it is made; a failure cuts it short, which the client sees."""
    try:
        async for piece in pieces:
            yield piece
    except Exception as exc:
        _log_failure(exc)
        yield CUT


async def openai_events(
    pieces: AudioPieces, *, sample_rate: int, input_words: int
) -> AsyncIterator[bytes]:
    """OpenAI's events: ``speech.audio.delta`` per piece, then ``speech.audio.done``."""
    try:
        async for piece in pieces:
            if piece is CUT:
                yield CUT
                return
            yield sse_event(openai_audio_delta(piece))
        seconds = pieces.n_samples / sample_rate
        output_tokens = math.ceil(seconds / _SECONDS_PER_AUDIO_TOKEN)
        yield sse_event(openai_audio_done(input_tokens=input_words, output_tokens=output_tokens))
    except Exception as exc:
        error = _log_failure(exc)
        yield sse_event(error.body())


async def file_chunks(data: bytes, size: int, faults: RequestFaults) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        if faults.cut_now():
            yield CUT
            return
        if faults.deltas_sent:
            await faults.before_delta()
        yield data[start : start + size]
        faults.deltas_sent += 1
