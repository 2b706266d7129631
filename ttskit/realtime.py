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

When is a context finished? ttskit's local server says so: after a commit has been spoken
to its end it sends ``{"type": "context.done", "context_id": ...}``, and it advertises this
with ``"context_done": true`` in ``session.created``. Other servers (the hosted API) have no
such event, so a context counts as finished once it was committed, every item it started
is done, and nothing more arrived for ``settle_s`` seconds: a guess, which a server that
pauses longer than that between two sentences defeats. Raise ``settle_s`` for such servers.
"""

from __future__ import annotations

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
    InvalidArgument,
    ProtocolError,
    ReadError,
    StreamInterrupted,
    TimeoutError,
    _redact,
    api_error_for_status,
)
from .results import AudioChunk, Speech, Timing, WordTimestamps, empty_words
from .streaming import (
    SILENCE_DB,
    _SampleBuffer,
    b64decode,
    error_from_payload,
    words_from_payload,
)

__all__ = [
    "ContextCancelled",
    "ContextDone",
    "ItemDone",
    "RealtimeSession",
    "SessionUpdated",
    "TextReceived",
    "TTSFailed",
]

logger = logging.getLogger("ttskit.realtime")

DEFAULT_CONTEXT = "default"
#: Seconds a context must stay quiet to count as finished, on servers without context.done.
DEFAULT_SETTLE_S = 2.0


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
class ContextDone:
    """Everything committed to the context so far has been spoken (local server only)."""

    context_id: str
    arrival_s: float


@dataclass(frozen=True)
class SessionUpdated:
    """The server applied new session settings; ``session`` is what it reports.

    ``arrival_s`` counts from the opening of the session, not from a context's text.
    """

    session: dict
    arrival_s: float


@dataclass(frozen=True)
class ContextCancelled:
    """A context was stopped; audio for it no longer comes."""

    context_id: str
    arrival_s: float


@dataclass(frozen=True)
class TTSFailed:
    """The server could not synthesize; ``error`` is the ``APIError`` it reported.

    ``context_id`` is None for a failure of the session rather than of a context (a bad
    message or setting); ``arrival_s`` then counts from the opening of the session.
    """

    error: APIError
    context_id: str | None
    arrival_s: float


RealtimeEvent = (
    AudioChunk
    | WordTimestamps
    | TextReceived
    | ItemDone
    | ContextDone
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
    """What one utterance of a context has received; a new one starts with the first text
    sent after a ``collect``."""

    started: float  # clock reading when text was first sent for this utterance
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
    collected: bool = False
    pending_commits: int = 0  # commits of this utterance not yet answered by context.done
    # Commits of earlier utterances still unanswered, when a collect ended early (on an
    # error or a timeout): what arrives before their context.done is theirs, not ours.
    stale_commits: int = 0
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
        On servers that do not send ``context.done``: after a commit, how long a context
        must stay quiet, with every item it started done, before it counts as finished.
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
        settle_s: float = DEFAULT_SETTLE_S,
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
        self._session_error: APIError | None = None  # a failure not tied to a context
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
            message = f"could not open {self.url}: {type(exc).__name__}: {exc}"
            raise ConnectError(_redact(message, api_key)) from exc
        self._opened = clock()
        try:
            first = self._receive_json(timeout)
            if first.get("type") == "conversation.item.tts.failed":
                raise error_from_payload(first.get("error"))
            if first.get("type") != "session.created":
                raise ProtocolError(f"expected session.created first, got {str(first)[:200]!r}")
        except _Closed as exc:
            self._socket.close()
            raise ReadError("the server closed the WebSocket before session.created") from exc
        except BaseException:
            self._socket.close()
            raise
        #: What the server said about the session (id, model, voice, ...), kept up to date
        #: by ``session.updated``.
        self.session: dict = first.get("session") or {}
        self.model = self.session.get("model", self.model)
        self.voice = self.session.get("voice", self.voice)
        #: Whether the server ends each commit with ``context.done`` (else ``settle_s``).
        self.sends_context_done = self.session.get("context_done") is True

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
        """The context's current utterance (call with the lock held)."""
        context = self._contexts.get(context_id)
        if context is None:
            context = self._contexts[context_id] = _Context(started=self._clock())
        return context

    def _utterance(self, context_id: str) -> _Context:
        """The context's utterance that text sent now belongs to: a new one after a collect."""
        context = self._contexts.get(context_id)
        if context is None or context.collected or context.cancelled:
            stale = 0
            if context is not None and self.sends_context_done:
                stale = context.stale_commits + context.pending_commits
            context = self._contexts[context_id] = _Context(
                started=self._clock(), stale_commits=stale
            )
        return context

    # --- sending ----------------------------------------------------------------------------

    def append(self, text: str, *, context_id: str | None = None) -> None:
        """Add ``text`` to the context's buffer (synthesized as the session's ``segment`` says)."""
        with self._lock:
            self._utterance(context_id or DEFAULT_CONTEXT).text.append(text)
        self._send(_message("input_text_buffer.append", context_id, text=text))

    def commit(self, *, context_id: str | None = None) -> None:
        """Synthesize everything buffered in the context now."""
        with self._lock:
            context = self._utterance(context_id or DEFAULT_CONTEXT)
            context.committed = True
            context.pending_commits += 1
            context.last_event = self._clock()
        self._send(_message("input_text_buffer.commit", context_id))

    def clear(self, *, context_id: str | None = None) -> None:
        """Drop the context's buffered text that has not been synthesized yet."""
        self._send(_message("input_text_buffer.clear", context_id))

    def update(self, *, context_id: str | None = None, **session: Any) -> None:
        """Change session settings, e.g. ``update(voice="leo")``.

        ``voice`` and ``session`` change once the server confirms with ``session.updated``;
        a refusal is raised by the next :meth:`collect`. The sample rate cannot change:
        audio already under way would arrive at the old rate without saying so.
        """
        if "sample_rate" in session:
            raise InvalidArgument(
                f"sample_rate={session['sample_rate']!r} cannot change during a session; "
                "open a new one with Client.realtime(sample_rate=...)"
            )
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
        failed = kind == "conversation.item.tts.failed" or "error" in payload
        with self._lock:
            if kind in ("session.updated", "tts_session.updated"):
                settings = payload.get("session") or {}
                self.session = {**self.session, **settings}
                self.voice = self.session.get("voice", self.voice)
                return SessionUpdated(settings, now - self._opened)
            context_id = self._context_id(payload)
            if context_id is None:
                if failed:
                    error = error_from_payload(payload.get("error", payload))
                    self._session_error = error
                    return TTSFailed(error, None, now - self._opened)
                logger.debug("ignoring a %r event", kind)
                return None
            context = self._context(context_id)
            arrival = now - context.started
            if kind == "context.cancelled":
                context.cancelled = True
                # No context.done comes for a cancelled context.
                context.pending_commits = context.stale_commits = 0
                return ContextCancelled(context_id, arrival)
            if context.stale_commits:
                if kind == "context.done":
                    context.stale_commits -= 1
                logger.debug("dropping a %r event of an utterance already collected", kind)
                return None
            context.last_event = now
            if context.first_byte_s is None:
                context.first_byte_s = arrival
            item_id = payload.get("item_id")
            if item_id is not None:
                self._item_context.setdefault(item_id, context_id)
                context.item_starts.setdefault(item_id, len(context.samples))
            if kind == "conversation.item.audio_output.delta":
                pcm = b64decode(payload.get("delta") or "")
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
            if kind == "context.done":
                context.pending_commits = max(0, context.pending_commits - 1)
                return ContextDone(context_id, arrival)
            if failed:
                error = error_from_payload(payload.get("error", payload))
                context.error = error
                return TTSFailed(error, context_id, arrival)
        logger.debug("ignoring a %r event", kind)
        return None

    def _context_id(self, payload: dict) -> str | None:
        """The context an event belongs to; None for an event of the whole session."""
        context_id = payload.get("context_id")
        if context_id:
            return str(context_id)
        item_id = payload.get("item_id")
        if item_id is not None:
            return self._item_context.get(item_id, DEFAULT_CONTEXT)
        # Servers that do not name contexts speak in the default one.
        return DEFAULT_CONTEXT if payload.get("type") in _CONTEXT_EVENTS else None

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

    def _finished(self, context: _Context, settle_s: float) -> bool:
        if context.cancelled or context.error is not None:
            return True
        if not context.committed:
            return False
        if self.sends_context_done:
            return context.pending_commits == 0
        return (
            bool(context.item_ends)
            and not context.open_items
            and self._clock() - context.last_event >= settle_s
        )

    def collect(
        self,
        context_id: str = DEFAULT_CONTEXT,
        *,
        timeout: float | None = None,
        settle_s: float | None = None,
    ) -> Speech:
        """Receive until the context is finished and return its ``Speech``.

        A context is finished once the server said ``context.done`` for its last commit;
        on servers that do not say it, once it was committed, every item it started is done
        and nothing more arrived for ``settle_s`` seconds (the session's by default). A
        cancelled context is finished too. Events of other contexts received meanwhile are
        kept for them. Text sent to the context afterwards starts a new utterance.

        Raises
        ------
        ttskit.errors.TimeoutError
            If the server sends nothing for ``timeout`` seconds (the session's by default).
        ttskit.errors.APIError
            If the server reported a failure for this context, or for the session since
            the last collect (e.g. a refused ``update``).
        ttskit.errors.StreamInterrupted
            If the connection broke first; ``partial`` holds what had arrived.
        """
        timeout = self.timeout if timeout is None else timeout
        settle_s = self.settle_s if settle_s is None else settle_s
        # Without context.done, wake up to see whether the context has settled.
        poll = timeout if self.sends_context_done else min(settle_s, timeout)
        with self._lock:
            context = self._context(context_id)
        waited_since = self._clock()
        try:
            while not self._finished(context := self._contexts[context_id], settle_s):
                self._raise_session_error()
                try:
                    event = self.recv(timeout=poll or None)
                except TimeoutError:
                    if self._clock() - waited_since >= timeout:
                        raise
                    continue
                if event is None:
                    raise ReadError("the server closed the session before the context finished")
                waited_since = self._clock()
            self._raise_session_error()
        except (ReadError, ProtocolError) as exc:
            partial = self.speech(context_id)
            raise StreamInterrupted(
                f"context {context_id!r} was cut after {partial.duration:.2f}s of audio: {exc}",
                partial=partial,
            ) from exc
        finally:
            context.collected = True
        if context.error is not None:
            raise context.error
        return self.speech(context_id)

    def _raise_session_error(self) -> None:
        with self._lock:
            error, self._session_error = self._session_error, None
        if error is not None:
            raise error

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
        settle_s: float | None = None,
    ) -> Speech:
        """Send text pieces as they come (e.g. an LLM's tokens), commit, and collect the audio.

        A thread sends while this one receives, so audio for the first sentences arrives
        while later pieces are still being produced. ``timeout`` and ``settle_s`` are
        those of :meth:`collect`.
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
        return self.collect(context_id, timeout=timeout, settle_s=settle_s)


class _Closed(Exception):
    """The server closed the session normally."""


# Events that belong to a context even when the server does not name one.
_CONTEXT_EVENTS = frozenset(
    {
        "conversation.item.audio_output.delta",
        "conversation.item.word_timestamps",
        "conversation.item.audio_output.done",
        "conversation.item.input_text.received",
        "context.done",
        "context.cancelled",
    }
)


def _message(kind: str, context_id: str | None, **fields: Any) -> dict:
    message = {"type": kind, **fields}
    if context_id is not None:
        message["context_id"] = context_id
    return message


def _decode_s16(pcm: bytes) -> np.ndarray:
    return _audio.decode_pcm(pcm[: len(pcm) - len(pcm) % 2], encoding="pcm_s16le")


def _error_message(body: str) -> str | None:
    try:
        error = json.loads(body).get("error", {})
    except (ValueError, AttributeError):
        return body[:300] or None
    return error.get("message") if isinstance(error, dict) else str(error)
