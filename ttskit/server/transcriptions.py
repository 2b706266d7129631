"""``POST /v1/audio/transcriptions``: speech back to text, as OpenAI's endpoint answers it.

The form is OpenAI's (``multipart/form-data``): ``file`` (wav, flac, mp3 or ogg), ``model``,
``response_format`` (``json``, ``text`` or ``verbose_json``), ``language`` and
``timestamp_granularities[]``. Whatever Whisper ``model`` names (``whisper-1``,
``openai/whisper-large-v3``, ``tiny.en``), the quality extra's bundled Whisper tiny.en
(``ttskit.quality.asr``) transcribes, and the ``x-ttskit-model`` header says so: a round trip
(speech out, text back) goes over the same wire offline as to a hosted transcription
endpoint.

The model is loaded on the first request and kept for the app. It runs on a thread of its
own, one transcription at a time on one core, so that transcriptions never take the
synthesis slots' threads; a request waits for it in a bounded queue (429 beyond it, 503
after the queue timeout), as a speech request waits for a slot. Without the quality extra
the route answers 501 saying what to install.
"""

from __future__ import annotations

import asyncio
import copy
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from .. import audio
from ..errors import MissingExtra
from .errors import WireError, bad_request
from .payload import read_body
from .state import ServerState

__all__ = [
    "MAX_AUDIO_BYTES",
    "MODEL_NAMES",
    "RESPONSE_FORMATS",
    "TRANSCRIPTIONS_PATH",
    "Transcriptions",
    "router",
]

TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"
#: the largest audio file taken, OpenAI's own bound
MAX_AUDIO_BYTES = 25 * 1024 * 1024
#: room for the form's other fields and its boundaries
_FORM_SLACK_BYTES = 65_536
RESPONSE_FORMATS = ("json", "text", "verbose_json")
#: what ``model`` may name: OpenAI's and Together's Whisper ids, and the bundled model's
MODEL_NAMES = (
    "whisper-1",
    "openai/whisper-large-v3",
    "whisper-large-v3",
    "tiny.en",
    "whisper-tiny.en",
)
_GRANULARITIES = ("word", "segment")
_ENGLISH = ("en", "english")
# A segment of a verbose answer ends with a word that ends a sentence.
_SENTENCE_END = re.compile(r"[.!?]['\")\]]*$")

router = APIRouter()


@dataclass
class Transcriptions:
    """The one Whisper of an app, loaded on its first request, one transcription at a time.

    Parameters
    ----------
    queue : int
        Requests that may wait for the model; more are answered 429.
    max_bytes : int
        The largest audio file taken.
    """

    queue: int
    max_bytes: int = MAX_AUDIO_BYTES
    #: the name of the model that transcribes, once loaded
    name: str | None = field(default=None, init=False)
    _plain: Any = field(default=None, init=False, repr=False)
    _timed: Any = field(default=None, init=False, repr=False)
    _waiting: int = field(default=0, init=False, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)
    _executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="ttskit-asr"),
        init=False,
        repr=False,
    )

    async def transcribe(
        self, samples: np.ndarray, sample_rate: int, *, words: bool, queue_timeout: float
    ) -> Any:
        """``samples`` as a ``ttskit.quality.asr.Transcript``, with word times if ``words``."""
        if self._lock.locked() and self._waiting >= self.queue:
            raise WireError(
                429,
                f"the server is busy ({self._waiting} transcriptions waiting); retry shortly",
                headers={"Retry-After": "1", "retry-after-ms": "1000"},
            )
        self._waiting += 1
        try:
            await asyncio.wait_for(self._lock.acquire(), queue_timeout)
        except TimeoutError:
            seconds = max(1, int(queue_timeout))
            raise WireError(
                503,
                f"the server is busy (no transcription finished in {queue_timeout:g} s); "
                f"retry in {seconds} s",
                headers={"Retry-After": str(seconds), "retry-after-ms": str(seconds * 1000)},
            ) from None
        finally:
            self._waiting -= 1
        loop = asyncio.get_running_loop()
        try:
            work = loop.run_in_executor(self._executor, self._run, samples, sample_rate, words)
        except BaseException:
            self._lock.release()
            raise
        # The lock is held until the thread is done, even if this request is given up.
        work.add_done_callback(lambda _: self._lock.release())
        return await asyncio.shield(work)

    def _run(self, samples: np.ndarray, sample_rate: int, words: bool) -> Any:
        if self._plain is None:
            from ..quality.asr import WhisperTranscriber

            # One thread: the model's work stays on one core, beside the synthesis slots.
            self._plain = WhisperTranscriber(threads=1)
            # The same loaded model, heard with word times: a second view, not a second model.
            self._timed = copy.copy(self._plain)
            self._timed.word_timestamps = True
            self.name = self._plain.name
        transcriber = self._timed if words else self._plain
        return transcriber(samples, sample_rate)

    def close(self) -> None:
        """Stop the model's thread once what it runs is done."""
        self._executor.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class _Form:
    """The fields of a transcription request, checked."""

    audio: bytes
    response_format: str
    words: bool


_REQUEST_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "model"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "model": {"type": "string", "enum": list(MODEL_NAMES)},
                        "response_format": {"type": "string", "enum": list(RESPONSE_FORMATS)},
                        "language": {"type": "string", "enum": list(_ENGLISH)},
                        "timestamp_granularities[]": {
                            "type": "array",
                            "items": {"type": "string", "enum": list(_GRANULARITIES)},
                        },
                    },
                }
            }
        },
    }
}


@router.post(TRANSCRIPTIONS_PATH, openapi_extra=_REQUEST_SCHEMA)
async def create_transcription(request: Request) -> Response:
    """The text of ``file``: ``{"text"}``, the text alone, or with its segments and words."""
    state: ServerState = request.app.state.ttskit
    service: Transcriptions = request.app.state.transcriptions
    fields = await _parse_form(
        await _read_body(request, service.max_bytes + _FORM_SLACK_BYTES), request.headers
    )
    form = _check_form(fields, max_bytes=service.max_bytes)
    samples, sample_rate = await run_in_threadpool(_decode, form.audio)
    timed = form.response_format == "verbose_json"
    try:
        heard = await service.transcribe(
            samples, sample_rate, words=timed, queue_timeout=state.limits.queue_timeout
        )
    except MissingExtra as exc:
        raise WireError(501, str(exc), code="missing_extra") from exc
    headers = {"x-ttskit-model": service.name or "whisper"}
    if form.response_format == "text":
        return PlainTextResponse(heard.text, headers=headers)
    if form.response_format == "json":
        return JSONResponse({"text": heard.text}, headers=headers)
    duration = len(samples) / sample_rate
    words = [
        {"word": str(word), "start": round(float(start), 3), "end": round(float(end), 3)}
        for word, start, end in heard.words[["word", "start", "end"]].itertuples(index=False)
    ]
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": heard.language,
        "duration": round(duration, 3),
        "text": heard.text,
        "segments": _segments(words, heard.text, duration),
    }
    if form.words:
        body["words"] = words
    return JSONResponse(body, headers=headers)


def _segments(words: list[dict[str, Any]], text: str, duration: float) -> list[dict[str, Any]]:
    """One segment per sentence, timed by its words; the whole clip when no word was timed."""
    if not words:
        return [_segment(0, 0.0, round(duration, 3), text)] if text else []
    segments: list[dict[str, Any]] = []
    sentence: list[dict[str, Any]] = []
    for word in words:
        sentence.append(word)
        if _SENTENCE_END.search(word["word"]) or word is words[-1]:
            spoken = " ".join(w["word"] for w in sentence)
            segments.append(
                _segment(len(segments), sentence[0]["start"], sentence[-1]["end"], spoken)
            )
            sentence = []
    return segments


def _segment(index: int, start: float, end: float, text: str) -> dict[str, Any]:
    return {"id": index, "seek": 0, "start": start, "end": end, "text": text}


# --- the form ------------------------------------------------------------------------------


async def _read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused past ``limit`` bytes."""
    too_large = WireError(
        413, f"the request body is larger than {limit} bytes; send a shorter audio file"
    )
    return await read_body(request, limit, too_large)


async def _parse_form(body: bytes, headers: Any) -> dict[str, list[bytes]]:
    """The values of each field of a ``multipart/form-data`` body (RFC 7578), in order,
    parsed by starlette's multipart parser (python-multipart)."""
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    declared = Message()
    declared["content-type"] = headers.get("content-type", "")
    if declared.get_content_type() == "application/x-www-form-urlencoded":
        raise bad_request(
            "missing required field 'file': a urlencoded form carries no file; send "
            "multipart/form-data with the audio as 'file'",
            param="file",
            code="missing",
        )
    if declared.get_content_type() != "multipart/form-data" or not declared.get_boundary():
        raise WireError(
            415,
            f"the request body must be multipart/form-data with a boundary, not "
            f"{headers.get('content-type', '')[:80]!r}; send the audio as the form's 'file'",
        )

    async def stream() -> Any:
        yield body
        yield b""

    try:
        form = await MultiPartParser(headers, stream(), max_part_size=len(body) + 1).parse()
    except MultiPartException as exc:
        raise bad_request(
            f"the multipart body is malformed: {exc.message}", param=None, code="invalid_form"
        ) from exc
    fields: dict[str, list[bytes]] = {}
    try:
        for name, value in form.multi_items():
            data = await value.read() if isinstance(value, UploadFile) else value.encode("utf-8")
            fields.setdefault(name, []).append(data)
    finally:
        await form.close()
    return fields


def _text(fields: dict[str, list[bytes]], *names: str) -> list[str]:
    """The values of the fields named ``names``, as text."""
    values = []
    for name in names:
        for value in fields.get(name, ()):
            try:
                values.append(value.decode("utf-8").strip())
            except UnicodeDecodeError:
                raise bad_request(
                    f"{name} is not UTF-8 text", param=name, code="invalid_value"
                ) from None
    return values


def _one(fields: dict[str, list[bytes]], name: str, default: str | None = None) -> str | None:
    values = _text(fields, name)
    return values[-1] if values else default


def _check_form(fields: dict[str, list[bytes]], *, max_bytes: int) -> _Form:
    files = fields.get("file")
    if not files:
        raise bad_request(
            "missing required field 'file'; send the audio as the form's file",
            param="file",
            code="missing",
        )
    if len(files[0]) > max_bytes:
        raise WireError(
            413, f"file is larger than {max_bytes} bytes; send a shorter audio file", param="file"
        )
    model = _one(fields, "model")
    if not model:
        raise bad_request(
            f"missing required field 'model'; one of {list(MODEL_NAMES)}",
            param="model",
            code="missing",
        )
    if model not in MODEL_NAMES:
        raise WireError(
            404,
            f"model {model!r} not found; this server transcribes with {list(MODEL_NAMES)} "
            "(all heard by the bundled Whisper tiny.en)",
            param="model",
            code="model_not_found",
        )
    response_format = _one(fields, "response_format", "json")
    if response_format not in RESPONSE_FORMATS:
        raise bad_request(
            f"response_format must be one of {list(RESPONSE_FORMATS)}, got {response_format!r}",
            param="response_format",
            code="unsupported_format",
        )
    language = _one(fields, "language")
    if language and language.lower().split("-")[0] not in _ENGLISH:
        raise bad_request(
            f"language {language!r} is not heard here: the bundled Whisper tiny.en hears "
            "English only; send 'en' or no language",
            param="language",
            code="unsupported_language",
        )
    granularities = _text(fields, "timestamp_granularities[]", "timestamp_granularities")
    for granularity in granularities:
        if granularity not in _GRANULARITIES:
            raise bad_request(
                f"timestamp_granularities[] must be among {list(_GRANULARITIES)}, "
                f"got {granularity!r}",
                param="timestamp_granularities[]",
                code="invalid_value",
            )
    if granularities and response_format != "verbose_json":
        raise bad_request(
            "timestamp_granularities[] needs response_format 'verbose_json'",
            param="timestamp_granularities[]",
            code="invalid_value",
        )
    if (_one(fields, "stream") or "false").lower() == "true":
        raise bad_request(
            "stream is not available for Whisper transcriptions; send stream=false",
            param="stream",
            code="invalid_value",
        )
    return _Form(
        audio=files[0],
        response_format=response_format,
        words="word" in granularities,
    )


def _decode(data: bytes) -> tuple[np.ndarray, int]:
    """The file's audio, float32 mono, and its rate; a 400 for what is not audio."""
    if not data:
        raise bad_request(
            "file is empty; send a wav, flac, mp3 or ogg file", param="file", code="empty_audio"
        )
    try:
        samples, sample_rate = audio.decode_file(data)
    except Exception as exc:  # libsndfile's errors, a truncated header: all say "not audio"
        raise bad_request(
            f"file is not audio this server can read ({type(exc).__name__}); "
            "send a wav, flac, mp3 or ogg file",
            param="file",
            code="invalid_audio",
        ) from exc
    if not len(samples) or sample_rate <= 0:
        raise bad_request(
            "file holds no audio samples; send speech to transcribe",
            param="file",
            code="empty_audio",
        )
    return samples, sample_rate
