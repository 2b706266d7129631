"""The WebSocket speech API: text in as it is written, audio out as it is made.

``RealtimeSession`` wraps one connection to ``/v1/audio/speech/websocket``. Send text with
:meth:`~RealtimeSession.append` and :meth:`~RealtimeSession.commit`, read events by
iterating the session, and collect a context (or one item) into a ``Speech``. Text that
arrives in pieces, such as an LLM's tokens, is spoken in one call with
:meth:`~RealtimeSession.speak_iter`, which sends from a thread while it receives.

>>> with client.realtime() as session:  # doctest: +SKIP
...     speech = session.speak_iter(["Hello ", "there. ", "How are ", "you?"])

Every message may name a ``context_id``; the server keeps one text buffer per context, and
the session collects audio and words per context. Word times in the results are seconds
from the start of their context's audio (the server sends them relative to each item).
"""

from __future__ import annotations

import binascii
import builtins
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import numpy as np
import pandas as pd

from . import audio as _audio
from .errors import (
    APIError,
    ConnectError,
    ProtocolError,
    ReadError,
    StreamInterrupted,
    TimeoutError,
    api_error_for_status,
)
from .results import AudioChunk, Speech, Timing, WordTimestamps, empty_words
from .streaming import SILENCE_DB, _SampleBuffer, error_from_payload, words_from_payload

__all__ = [
    "ContextCancelled",
    "ItemDone",
    "RealtimeSession",
    "SessionUpdated",
    "TextReceived",
    "TTSFailed",
]

logger = logging.getLogger("ttskit.realtime")

DEFAULT_CONTEXT = "default"


# --- events besides AudioChunk and WordTimestamps -------------------------------------------


@dataclass(frozen=True)
class TextReceived:
    """The server acknowledged appended text."""

    text: str
    context_id: str
    arrival_s: float


@dataclass(frozen=True)
class ItemDone:
    """All audio of one item (one synthesized segment) has been sent."""

    item_id: str
    context_id: str
    arrival_s: float


@dataclass(frozen=True)
class SessionUpdated:
    """The server applied new session settings; ``session`` is what it reports."""

    session: dict
    arrival_s: float


@dataclass(frozen=True)
class ContextCancelled:
    """A context was stopped; audio for it no longer comes."""

    context_id: str
    arrival_s: float


@dataclass(frozen=True)
class TTSFailed:
    """The server could not synthesize; ``error`` is the ``APIError`` it reported."""

    error: APIError
    context_id: str
    arrival_s: float


RealtimeEvent = (
    AudioChunk
    | WordTimestamps
    | TextReceived
    | ItemDone
    | SessionUpdated
    | ContextCancelled
    | TTSFailed
)


# --- keeping the key out of websockets' debug log --------------------------------------------


class _RedactingLogger(logging.LoggerAdapter):
    """websockets logs every handshake header at DEBUG, Authorization included."""

    def __init__(self, target: logging.Logger, secret: str | None) -> None:
        super().__init__(target, {})
        self._secret = secret

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if self._secret and args:
            args = tuple(
                str(a).replace(self._secret, "***") if isinstance(a, str | bytes) else a
                for a in args
            )
        super().log(level, msg, *args, **kwargs)


# --- per-context bookkeeping ------------------------------------------------------------------


@dataclass
class _Context:
    started: float  # clock reading when text was first sent for this context
    samples: _SampleBuffer = field(default_factory=_SampleBuffer)
    words: list[pd.DataFrame] = field(default_factory=list)
    item_starts: dict[str, int] = field(default_factory=dict)  # item id -> first sample
    item_ends: dict[str, int] = field(default_factory=dict)
    arrivals: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    first_byte_s: float | None = None
    first_audio_s: float | None = None
    first_audible_s: float | None = None
    last_event: float = 0.0  # clock reading of the last event for this context
    committed: bool = False
    cancelled: bool = False
    text: list[str] = field(default_factory=list)
    error: APIError | None = None

    @property
    def open_items(self) -> set[str]:
        return set(self.item_starts) - set(self.item_ends)


class RealtimeSession:
    """One WebSocket session with the speech API.

    Made by ``Client.realtime()``; use it as a context manager, which closes the socket.

    Parameters
    ----------
    base_url : str
        The HTTP API root (``http(s)://host/v1``); the scheme becomes ws(s).
    params : dict
        Query parameters of the connection: model, voice, sample_rate, ...
    api_key : str, optional
        Sent in the Authorization header, never in the URL.
    headers : dict, optional
        Extra handshake headers.
    sample_rate : int
        Rate of the PCM s16le audio the server sends.
    timeout : float
        Seconds to wait for the connection and for each event collected.
    settle_s : float
        After a commit, how long a context must stay quiet, with every item it started
        done, before it counts as finished (the protocol has no end-of-context event).
    clock : callable
        ``time.perf_counter`` unless a test injects another.
    """

    def __init__(
        self,
        base_url: str,
        params: dict[str, Any],
        *,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        sample_rate: int,
        timeout: float = 60.0,
        settle_s: float = 0.5,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        from websockets.exceptions import InvalidStatus, WebSocketException
        from websockets.sync.client import connect

        parts = urlsplit(base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        path = parts.path.rstrip("/") + "/audio/speech/websocket"
        self.url = urlunsplit((scheme, parts.netloc, path, urlencode(params), ""))
        self.sample_rate = int(sample_rate)
        self.model = str(params.get("model", ""))
        self.voice = str(params.get("voice", ""))
        self.endpoint = base_url
        self.timeout = timeout
        self.settle_s = settle_s
        self._clock = clock
        self._contexts: dict[str, _Context] = {}
        self._item_context: dict[str, str] = {}
        self._lock = threading.Lock()
        headers = dict(headers or {})
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        try:
            # Entered as a context manager, the form every websockets version accepts
            # without a warning; close() ends it.
            self._socket = connect(
                self.url,
                additional_headers=headers,
                open_timeout=timeout,
                max_size=2**24,
                logger=_RedactingLogger(logging.getLogger("websockets.client"), api_key),
            ).__enter__()
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = exc.response.body.decode("utf-8", "replace") if exc.response.body else ""
            message = _redact(_error_message(body) or f"WebSocket refused: HTTP {status}", api_key)
            raise api_error_for_status(status)(message, status_code=status) from exc
        except (OSError, WebSocketException) as exc:
            raise ConnectError(f"could not open {self.url}: {type(exc).__name__}: {exc}") from exc
        first = self._receive_json(timeout)
        if first.get("type") == "conversation.item.tts.failed":
            self._socket.close()
            raise error_from_payload(first.get("error"))
        if first.get("type") != "session.created":
            self._socket.close()
            raise ProtocolError(f"expected session.created first, got {str(first)[:200]!r}")
        #: What the server said about the session (id, model, voice, ...).
        self.session: dict = first.get("session") or {}
        self.model = self.session.get("model", self.model)
        self.voice = self.session.get("voice", self.voice)

    # --- plumbing ---------------------------------------------------------------------------

    def __enter__(self) -> RealtimeSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the socket."""
        self._socket.close()

    def __repr__(self) -> str:
        return (
            f"RealtimeSession(url={self.url.split('?')[0]!r}, model={self.model!r}, "
            f"voice={self.voice!r}, contexts={list(self._contexts)})"
        )

    def _send(self, message: dict) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            self._socket.send(json.dumps(message))
        except ConnectionClosed as exc:
            raise ReadError(f"the WebSocket is closed: {exc}") from exc

    def _receive_json(self, timeout: float | None) -> dict:
        from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

        try:
            message = self._socket.recv(timeout=timeout)
        except builtins.TimeoutError as exc:
            raise TimeoutError(f"no event from the server within {timeout}s") from exc
        except ConnectionClosedOK as exc:
            raise _Closed() from exc
        except ConnectionClosed as exc:
            raise ReadError(f"the WebSocket was closed: {exc}") from exc
        try:
            payload = json.loads(message)
        except ValueError as exc:
            raise ProtocolError(f"a WebSocket message is not JSON: {str(message)[:200]!r}") from exc
        if not isinstance(payload, dict):
            raise ProtocolError(f"a WebSocket message is not a JSON object: {str(message)[:200]!r}")
        return payload

    def _context(self, context_id: str) -> _Context:
        context = self._contexts.get(context_id)
        if context is None:
            context = self._contexts[context_id] = _Context(started=self._clock())
        return context

    # --- sending ----------------------------------------------------------------------------

    def append(self, text: str, *, context_id: str | None = None) -> None:
        """Add ``text`` to the context's buffer (synthesized as the session's ``segment`` says)."""
        with self._lock:
            self._context(context_id or DEFAULT_CONTEXT).text.append(text)
        self._send(_message("input_text_buffer.append", context_id, text=text))

    def commit(self, *, context_id: str | None = None) -> None:
        """Synthesize everything buffered in the context now."""
        with self._lock:
            context = self._context(context_id or DEFAULT_CONTEXT)
            context.committed = True
            context.last_event = self._clock()
        self._send(_message("input_text_buffer.commit", context_id))

    def clear(self, *, context_id: str | None = None) -> None:
        """Drop the context's buffered text that has not been synthesized yet."""
        self._send(_message("input_text_buffer.clear", context_id))

    def update(self, *, context_id: str | None = None, **session: Any) -> None:
        """Change session settings, e.g. ``update(voice="leo")`` (all contexts unless one is named)."""
        if "voice" in session and context_id is None:
            self.voice = session["voice"]
        self._send(_message("tts_session.updated", context_id, session=session))

    def cancel(self, context_id: str = DEFAULT_CONTEXT) -> None:
        """Stop a context: drop its buffer and the audio not yet sent."""
        self._send(_message("context.cancel", context_id))

    # --- receiving --------------------------------------------------------------------------

    def recv(self, timeout: float | None = None) -> RealtimeEvent | None:
        """The next event, or None once the server has closed the session.

        Raises ``ttskit.errors.TimeoutError`` if nothing arrives within ``timeout`` seconds.
        """
        while True:
            try:
                payload = self._receive_json(timeout)
            except _Closed:
                return None
            event = self._interpret(payload)
            if event is not None:
                return event

    def __iter__(self) -> Iterator[RealtimeEvent]:
        """Events as they arrive, until the server closes the session."""
        while (event := self.recv()) is not None:
            yield event

    def _interpret(self, payload: dict) -> RealtimeEvent | None:
        now = self._clock()
        kind = payload.get("type")
        context_id = str(payload.get("context_id") or "")
        item_id = payload.get("item_id")
        if not context_id:
            context_id = (
                self._item_context.get(item_id, DEFAULT_CONTEXT) if item_id else DEFAULT_CONTEXT
            )
        with self._lock:
            context = self._context(context_id)
            context.last_event = now
            if context.first_byte_s is None:
                context.first_byte_s = now - context.started
            arrival = now - context.started
            if item_id is not None:
                self._item_context.setdefault(item_id, context_id)
                context.item_starts.setdefault(item_id, len(context.samples))
            if kind == "conversation.item.audio_output.delta":
                try:
                    pcm = binascii.a2b_base64(payload.get("delta") or "")
                except (binascii.Error, ValueError) as exc:
                    raise ProtocolError("an audio delta is not valid base64") from exc
                return self._record(context, _decode_s16(pcm), arrival, item_id, context_id)
            if kind == "conversation.item.word_timestamps":
                start_s = context.item_starts.get(item_id, len(context.samples)) / self.sample_rate
                words = words_from_payload(payload)
                words = words.assign(start=words["start"] + start_s, end=words["end"] + start_s)
                context.words.append(words)
                return WordTimestamps(words, arrival, item_id, context_id)
            if kind == "conversation.item.audio_output.done":
                context.item_ends[item_id or ""] = len(context.samples)
                return ItemDone(str(item_id), context_id, arrival)
            if kind == "conversation.item.input_text.received":
                return TextReceived(str(payload.get("text", "")), context_id, arrival)
            if kind in ("session.updated", "tts_session.updated"):
                return SessionUpdated(payload.get("session") or {}, arrival)
            if kind == "context.cancelled":
                context.cancelled = True
                return ContextCancelled(context_id, arrival)
            if kind == "conversation.item.tts.failed" or "error" in payload:
                error = error_from_payload(payload.get("error", payload))
                context.error = error
                return TTSFailed(error, context_id, arrival)
        logger.debug("ignoring a %r event", kind)
        return None

    def _record(
        self,
        context: _Context,
        samples: np.ndarray,
        arrival_s: float,
        item_id: str | None,
        context_id: str,
    ) -> AudioChunk:
        start_s = len(context.samples) / self.sample_rate
        if context.first_audio_s is None:
            context.first_audio_s = arrival_s
        if (
            context.first_audible_s is None
            and _audio.first_audible(samples, sample_rate=self.sample_rate, threshold_db=SILENCE_DB)
            is not None
        ):
            context.first_audible_s = arrival_s
        context.samples.append(samples)
        context.arrivals.append(arrival_s)
        context.lengths.append(len(samples))
        return AudioChunk(samples, self.sample_rate, arrival_s, start_s, item_id, context_id)

    # --- collecting -------------------------------------------------------------------------

    def _finished(self, context: _Context, now: float) -> bool:
        if context.cancelled or context.error is not None:
            return True
        return (
            context.committed
            and bool(context.item_ends)
            and not context.open_items
            and now - context.last_event >= self.settle_s
        )

    def collect(self, context_id: str = DEFAULT_CONTEXT, *, timeout: float | None = None) -> Speech:
        """Receive until the context is finished and return its ``Speech``.

        A context is finished once it was committed, every item it started is done and
        nothing more arrived for ``settle_s`` seconds; or once it was cancelled. Events of
        other contexts received meanwhile are kept for them.

        Raises
        ------
        ttskit.errors.TimeoutError
            If the server sends nothing for ``timeout`` seconds (the session's by default).
        ttskit.errors.APIError
            If the server reported a failure for this context.
        ttskit.errors.StreamInterrupted
            If the connection broke first; ``partial`` holds what had arrived.
        """
        timeout = self.timeout if timeout is None else timeout
        context = self._context(context_id)
        waited_since = self._clock()
        try:
            while not self._finished(context, self._clock()):
                try:
                    event = self.recv(timeout=min(self.settle_s, timeout) or None)
                except TimeoutError:
                    if self._clock() - waited_since >= timeout:
                        raise
                    continue
                if event is None:
                    raise ReadError("the server closed the session before the context finished")
                waited_since = self._clock()
        except (ReadError, ProtocolError) as exc:
            partial = self.speech(context_id)
            raise StreamInterrupted(
                f"context {context_id!r} was cut after {partial.duration:.2f}s of audio: {exc}",
                partial=partial,
            ) from exc
        if context.error is not None:
            raise context.error
        return self.speech(context_id)

    def speech(self, context_id: str = DEFAULT_CONTEXT, *, item_id: str | None = None) -> Speech:
        """What was received so far for a context (or one of its items), without waiting."""
        context = self._contexts.get(context_id)
        if context is None:
            raise KeyError(
                f"no context {context_id!r} in this session; known: {list(self._contexts)}"
            )
        audio = context.samples.snapshot()
        words = [w for w in context.words if not w.empty]
        table = pd.concat(words, ignore_index=True) if words else empty_words()
        rows = pd.DataFrame(
            {
                "arrival_s": np.asarray(context.arrivals, dtype=float),
                "n_samples": np.asarray(context.lengths, dtype="int64"),
                "audio_start_s": np.cumsum([0, *context.lengths[:-1]]) / self.sample_rate
                if context.lengths
                else np.zeros(0),
            }
        )
        timing = Timing(
            first_byte_s=context.first_byte_s,
            first_audio_s=context.first_audio_s,
            first_audible_s=context.first_audible_s,
            done_s=context.last_event - context.started,
            chunks=rows,
            sample_rate=self.sample_rate,
        )
        speech = Speech(
            audio=audio,
            sample_rate=self.sample_rate,
            words=table,
            text="".join(context.text),
            model=self.model,
            voice=self.voice,
            endpoint=self.endpoint,
            timing=timing,
        )
        if item_id is None:
            return speech
        if item_id not in context.item_starts:
            raise KeyError(f"no item {item_id!r} in context {context_id!r}")
        start = context.item_starts[item_id] / self.sample_rate
        end = context.item_ends.get(item_id, len(context.samples)) / self.sample_rate
        return speech.segment(start, end)

    def items(self, context_id: str = DEFAULT_CONTEXT) -> list[str]:
        """Ids of the items received for a context, in order."""
        context = self._contexts.get(context_id)
        return list(context.item_starts) if context else []

    def speak_iter(
        self,
        pieces: Iterable[str],
        *,
        context_id: str = DEFAULT_CONTEXT,
        timeout: float | None = None,
    ) -> Speech:
        """Send text pieces as they come (e.g. an LLM's tokens), commit, and collect the audio.

        A thread sends while this one receives, so audio for the first sentences arrives
        while later pieces are still being produced.
        """
        failure: list[BaseException] = []
        sent = threading.Event()

        def send_all() -> None:
            try:
                for piece in pieces:
                    if piece:
                        self.append(piece, context_id=context_id)
                self.commit(context_id=context_id)
            except BaseException as exc:  # re-raised in the receiving thread
                failure.append(exc)
            finally:
                sent.set()

        self._context(context_id)
        sender = threading.Thread(target=send_all, name="ttskit-realtime-sender", daemon=True)
        sender.start()
        try:
            while not sent.is_set():
                try:
                    event = self.recv(timeout=0.05)
                except TimeoutError:
                    continue
                if event is None:
                    break
        finally:
            sent.wait()
            sender.join()
        if failure:
            raise failure[0]
        return self.collect(context_id, timeout=timeout)


class _Closed(Exception):
    """The server closed the session normally."""


builtins_timeout = (
    __builtins__["TimeoutError"] if isinstance(__builtins__, dict) else __builtins__.TimeoutError
)  # type: ignore[index]


def _message(kind: str, context_id: str | None, **fields: Any) -> dict:
    message = {"type": kind, **fields}
    if context_id is not None:
        message["context_id"] = context_id
    return message


def _decode_s16(pcm: bytes) -> np.ndarray:
    return _audio.decode_pcm(pcm[: len(pcm) - len(pcm) % 2], encoding="pcm_s16le")


def _redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def _error_message(body: str) -> str | None:
    try:
        error = json.loads(body).get("error", {})
    except (ValueError, AttributeError):
        return body[:300] or None
    return error.get("message") if isinstance(error, dict) else str(error)
