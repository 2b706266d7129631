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

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..errors import (
    APIError,
    InvalidArgument,
    NoSuchItem,
    ProtocolError,
    ReadError,
    StreamInterrupted,
    TimeoutError,
)
from ..protocol import DEFAULT_CONTEXT
from ..results import Speech
from .contexts import Context, context_of
from .endpoint import Endpoint
from .events import (
    RealtimeEvent,
    SessionUpdated,
    TTSFailed,
)
from .recording import Recorder
from .websocket import Closed, WebSocket
from .wire import error_from_payload

__all__ = ["DEFAULT_SETTLE_S", "RealtimeSession"]

logger = logging.getLogger("ttskit.realtime")

#: Seconds a context must stay quiet to count as finished, on servers without context.done.
DEFAULT_SETTLE_S = 2.0


class RealtimeSession:
    """One WebSocket session with the speech API.

    Made by ``Client.realtime()``; use it as a context manager, which closes the socket.

    Parameters
    ----------
    endpoint : Endpoint or str
        The HTTP API root (``http(s)://host/v1``) and its key; the scheme becomes ws(s).
    params : dict
        Query parameters of the connection: model, voice, sample_rate, ...
    api_key : str, optional
        Sent in the Authorization header, never in the URL (the endpoint's by default).
    headers : dict, optional
        Extra handshake headers.
    sample_rate : int
        Rate of the PCM s16le audio the server sends.
    timeout : float
        Seconds to wait for the connection and for each event collected.
    settle_s : float
        On servers that do not send ``context.done``: after a commit, how long a context
        must stay quiet, with every item it started done, before it counts as finished.
    clock, sleep : callable
        ``time.perf_counter`` and ``time.sleep`` unless a test injects others.
    max_retries, max_retry_wait
        A refused handshake (429, 5xx) or a failed connection is tried again as the HTTP
        client does, waiting what the server asks for (``Retry-After``), at most
        ``max_retry_wait`` seconds.
    """

    def __init__(
        self,
        endpoint: Endpoint | str,
        params: dict[str, Any],
        *,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        sample_rate: int,
        timeout: float = 60.0,
        settle_s: float = DEFAULT_SETTLE_S,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = 0,
        max_retry_wait: float = 60.0,
    ) -> None:
        if not isinstance(endpoint, Endpoint):
            endpoint = Endpoint(str(endpoint).rstrip("/"))
        api_key = api_key or endpoint.api_key
        parts = urlsplit(endpoint.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        path = parts.path.rstrip("/") + "/audio/speech/websocket"
        self.url = urlunsplit((scheme, parts.netloc, path, urlencode(params), ""))
        self.sample_rate = int(sample_rate)
        self.model = str(params.get("model", ""))
        self.voice = str(params.get("voice", ""))
        self.endpoint = endpoint.base_url
        self.timeout = timeout
        self.settle_s = settle_s
        self._clock = clock
        self._contexts: dict[str, Context] = {}
        self._item_context: dict[str, str] = {}
        self._session_error: APIError | None = None  # a failure not tied to a context
        self._lock = threading.Lock()
        self._socket = WebSocket.open(
            self.url,
            headers=headers,
            api_key=api_key,
            timeout=timeout,
            sleep=sleep,
            max_retries=max_retries,
            max_retry_wait=max_retry_wait,
        )
        self._opened = clock()
        try:
            first = self._socket.receive(timeout)
            if first.get("type") == "conversation.item.tts.failed":
                raise error_from_payload(first.get("error"))
            if first.get("type") != "session.created":
                raise ProtocolError(f"expected session.created first, got {str(first)[:200]!r}")
        except Closed as exc:
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

    def _context(self, context_id: str) -> Context:
        """The context's current utterance (call with the lock held)."""
        context = self._contexts.get(context_id)
        if context is None:
            context = self._contexts[context_id] = self._new_context()
        return context

    def _new_context(self, stale_commits: int = 0) -> Context:
        return Context(self._clock(), Recorder(self.sample_rate), stale_commits=stale_commits)

    def _utterance(self, context_id: str) -> Context:
        """The context's utterance that text sent now belongs to: a new one after a collect."""
        context = self._contexts.get(context_id)
        if context is None or context.collected or context.cancelled:
            stale = 0
            if context is not None and self.sends_context_done:
                stale = context.stale_commits + context.pending_commits
            context = self._contexts[context_id] = self._new_context(stale)
        return context

    # --- sending ----------------------------------------------------------------------------

    def append(self, text: str, *, context_id: str | None = None) -> None:
        """Add ``text`` to the context's buffer (synthesized as the session's ``segment`` says)."""
        with self._lock:
            self._utterance(context_id or DEFAULT_CONTEXT).text.append(text)
        self._socket.send(_message("input_text_buffer.append", context_id, text=text))

    def commit(self, *, context_id: str | None = None) -> None:
        """Synthesize everything buffered in the context now."""
        with self._lock:
            context = self._utterance(context_id or DEFAULT_CONTEXT)
            context.committed = True
            context.pending_commits += 1
            context.last_event = self._clock()
        self._socket.send(_message("input_text_buffer.commit", context_id))

    def clear(self, *, context_id: str | None = None) -> None:
        """Drop the context's buffered text that has not been synthesized yet."""
        self._socket.send(_message("input_text_buffer.clear", context_id))

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
        self._socket.send(_message("tts_session.updated", context_id, session=session))

    def cancel(self, context_id: str = DEFAULT_CONTEXT) -> None:
        """Stop a context: drop its buffer and the audio not yet sent."""
        self._socket.send(_message("context.cancel", context_id))

    # --- receiving --------------------------------------------------------------------------

    def recv(self, timeout: float | None = None) -> RealtimeEvent | None:
        """The next event, or None once the server has closed the session.

        Raises ``ttskit.errors.TimeoutError`` if nothing arrives within ``timeout`` seconds.
        """
        while True:
            try:
                payload = self._socket.receive(timeout)
            except Closed:
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
            context_id = context_of(payload, self._item_context)
            if context_id is None:
                if failed:
                    error = error_from_payload(payload.get("error", payload))
                    self._session_error = error
                    return TTSFailed(error, None, now - self._opened)
                logger.debug("ignoring a %r event", kind)
                return None
            context = self._context(context_id)
            event = context.receive(payload, now, context_id, self._item_context)
            if event is not None:
                return event
        logger.debug("ignoring a %r event", kind)
        return None

    # --- collecting -------------------------------------------------------------------------

    def _finished(self, context: Context, settle_s: float) -> bool:
        return context.finished(settle_s, self._clock(), context_done=self.sends_context_done)

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
            raise NoSuchItem(
                f"no context {context_id!r} in this session; known: {list(self._contexts)}"
            )
        return context.speech(
            model=self.model,
            voice=self.voice,
            endpoint=self.endpoint,
            item_id=item_id,
            partial=context.error is not None or not self._finished(context, self.settle_s),
        )

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


def _message(kind: str, context_id: str | None, **fields: Any) -> dict:
    message = {"type": kind, **fields}
    if context_id is not None:
        message["context_id"] = context_id
    return message
