"""A realtime session without its socket: messages out, events in, contexts, deadlines.

``RealtimeCore`` is what the synchronous ``RealtimeSession`` and the asynchronous
``AsyncRealtimeSession`` share. Each shell only moves JSON messages over its socket; the
core builds the messages it sends, turns each payload it receives into an event (recorded
in its context's ``Recorder``), says when a context is finished, how long to wait next, and
what a collect returns or raises. It reads an injectable clock and does no I/O.

What a server can make the client do is bounded here: a call's ``timeout`` is a deadline
for the whole call, whatever events keep arriving (``Deadline``); a context holds at most
``max_audio_s`` seconds of audio; events of contexts this session never sent text to are
ignored rather than kept.

>>> core = RealtimeCore(endpoint="http://h/v1", params={"model": "m"}, sample_rate=24000)
>>> core.start({"type": "session.created", "session": {"voice": "v", "context_done": True}})
>>> core.append("Hello.", None)
{'type': 'input_text_buffer.append', 'text': 'Hello.'}
>>> event = core.interpret({"type": "conversation.item.audio_output.delta", "delta": "AAA="})
>>> event.audio.shape, core.speech().text
((1,), 'Hello.')
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..errors import (
    APIError,
    InvalidArgument,
    NoSuchItem,
    ProtocolError,
    StreamInterrupted,
    TimeoutError,
)
from ..protocol import DEFAULT_CONTEXT
from ..results import Speech
from .contexts import Context, context_of
from .decoding import DEFAULT_MAX_AUDIO_S
from .endpoint import Endpoint
from .events import RealtimeEvent, SessionUpdated, TTSFailed
from .recording import Recorder
from .wire import error_from_payload

__all__ = [
    "DEFAULT_MAX_AUDIO_S",
    "DEFAULT_SETTLE_S",
    "Deadline",
    "RealtimeCore",
    "SessionView",
    "realtime_url",
]

logger = logging.getLogger("ttskit.realtime")

#: Seconds a context must stay quiet to count as finished, on servers without context.done.
DEFAULT_SETTLE_S = 2.0


def realtime_url(endpoint: Endpoint, params: dict[str, Any]) -> str:
    """The WebSocket URL of the API root ``endpoint`` (http -> ws, https -> wss)."""
    parts = urlsplit(endpoint.base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = parts.path.rstrip("/") + "/audio/speech/websocket"
    return urlunsplit((scheme, parts.netloc, path, urlencode(params), ""))


@dataclass(frozen=True)
class Deadline:
    """When a call must be over (a clock reading), and what to say if it is not."""

    at: float
    seconds: float
    what: str

    def left(self, clock: Callable[[], float], poll: float | None = None) -> float:
        """Seconds to wait for the next message (at most ``poll``); ``TimeoutError`` once
        the deadline has passed, however many events arrived meanwhile."""
        left = self.at - clock()
        if left <= 0:
            raise TimeoutError(
                f"{self.what} did not finish within timeout={self.seconds:g}s; pass a "
                "larger timeout if the server is slow, or check that it ever finishes"
            )
        return left if poll is None else min(poll, left)


class RealtimeCore:
    """The state of one realtime session: its settings, contexts and errors.

    Parameters
    ----------
    endpoint : str
        The API root recorded in each ``Speech``.
    params : dict
        The session's query (model, voice, ...): what was asked, until the server says.
    sample_rate : int
        Rate of the PCM s16le audio the server sends.
    timeout : float
        Default seconds of a ``collect`` or ``speak_iter`` as a whole.
    settle_s : float
        See ``RealtimeSession``.
    max_audio_s : float
        Seconds of audio one utterance of a context may hold; more is a ``ProtocolError``.
    clock : callable
        ``time.perf_counter`` unless a test injects another.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        params: dict[str, Any],
        sample_rate: int,
        timeout: float = 60.0,
        settle_s: float = DEFAULT_SETTLE_S,
        max_audio_s: float = DEFAULT_MAX_AUDIO_S,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not max_audio_s > 0:
            raise InvalidArgument(f"max_audio_s={max_audio_s!r} must be a positive number")
        self.endpoint = endpoint
        self.sample_rate = int(sample_rate)
        self.model = str(params.get("model", ""))
        self.voice = str(params.get("voice", ""))
        self.timeout = timeout
        self.settle_s = settle_s
        self.max_audio_s = float(max_audio_s)
        self.clock = clock
        self.opened = clock()
        #: What the server said about the session, kept up to date by ``session.updated``.
        self.session: dict = {}
        #: Whether the server ends each commit with ``context.done`` (else ``settle_s``).
        self.sends_context_done = False
        self.contexts: dict[str, Context] = {}
        self.item_context: dict[str, str] = {}
        self.session_error: APIError | None = None  # a failure not tied to a context
        # The sync shell sends from one thread while it receives on another.
        self.lock = threading.Lock()

    def start(self, first: dict) -> None:
        """Take the server's first message, which must be ``session.created``."""
        if first.get("type") == "conversation.item.tts.failed":
            raise error_from_payload(first.get("error"))
        if first.get("type") != "session.created":
            raise ProtocolError(f"expected session.created first, got {str(first)[:200]!r}")
        self.opened = self.clock()
        self.session = first.get("session") or {}
        self.model = self.session.get("model", self.model)
        self.voice = self.session.get("voice", self.voice)
        self.sends_context_done = self.session.get("context_done") is True

    def deadline(self, timeout: float | None, what: str) -> Deadline:
        """The deadline of a call that starts now (the session's ``timeout`` when None)."""
        seconds = self.timeout if timeout is None else timeout
        return Deadline(self.clock() + seconds, seconds, what)

    # --- contexts ------------------------------------------------------------------------

    def _new_context(self, stale_commits: int = 0) -> Context:
        return Context(self.clock(), Recorder(self.sample_rate), stale_commits=stale_commits)

    def context(self, context_id: str) -> Context:
        """The context's current utterance, made if there is none yet."""
        with self.lock:
            context = self.contexts.get(context_id)
            if context is None:
                context = self.contexts[context_id] = self._new_context()
            return context

    def _utterance(self, context_id: str) -> Context:
        """The utterance that text sent now belongs to: a new one after a collect."""
        context = self.contexts.get(context_id)
        if context is None or context.collected or context.cancelled:
            stale = 0
            if context is not None and self.sends_context_done:
                stale = context.stale_commits + context.pending_commits
            context = self.contexts[context_id] = self._new_context(stale)
        return context

    # --- messages out --------------------------------------------------------------------

    def append(self, text: str, context_id: str | None) -> dict:
        with self.lock:
            self._utterance(context_id or DEFAULT_CONTEXT).text.append(text)
        return _message("input_text_buffer.append", context_id, text=text)

    def commit(self, context_id: str | None) -> dict:
        with self.lock:
            context = self._utterance(context_id or DEFAULT_CONTEXT)
            context.committed = True
            context.pending_commits += 1
            context.last_event = self.clock()
        return _message("input_text_buffer.commit", context_id)

    @staticmethod
    def clear(context_id: str | None) -> dict:
        return _message("input_text_buffer.clear", context_id)

    @staticmethod
    def update(context_id: str | None, session: dict[str, Any]) -> dict:
        if "sample_rate" in session:
            raise InvalidArgument(
                f"sample_rate={session['sample_rate']!r} cannot change during a session; "
                "open a new one with realtime(sample_rate=...)"
            )
        return _message("tts_session.updated", context_id, session=session)

    @staticmethod
    def cancel(context_id: str) -> dict:
        return _message("context.cancel", context_id)

    # --- events in -----------------------------------------------------------------------

    def interpret(self, payload: dict) -> RealtimeEvent | None:
        """The event a payload stands for, recorded; None for one to ignore."""
        now = self.clock()
        kind = payload.get("type")
        failed = kind == "conversation.item.tts.failed" or "error" in payload
        with self.lock:
            if kind in ("session.updated", "tts_session.updated"):
                settings = payload.get("session")
                settings = settings if isinstance(settings, dict) else {}
                self.session = {**self.session, **settings}
                self.voice = self.session.get("voice", self.voice)
                return SessionUpdated(settings, now - self.opened)
            context_id = context_of(payload, self.item_context)
            if context_id is None:
                if failed:
                    error = error_from_payload(payload.get("error", payload))
                    self.session_error = error
                    return TTSFailed(error, None, now - self.opened)
            elif context_id in self.contexts or context_id == DEFAULT_CONTEXT:
                context = self.contexts.get(context_id)
                if context is None:
                    context = self.contexts[context_id] = self._new_context()
                self._check_room(context, context_id, payload)
                event = context.receive(payload, now, context_id, self.item_context)
                if event is not None:
                    return event
        logger.debug("ignoring a %r event", kind)
        return None

    def _check_room(self, context: Context, context_id: str, payload: dict) -> None:
        """A ``ProtocolError`` for audio past ``max_audio_s`` (nothing of it is kept)."""
        if payload.get("type") != "conversation.item.audio_output.delta":
            return
        delta = payload.get("delta")
        samples = len(delta) * 3 // 8 if isinstance(delta, str) else 0  # base64 -> s16le
        if len(context.recorder) + samples > self.max_audio_s * self.sample_rate:
            raise ProtocolError(
                f"the server sent more than max_audio_s={self.max_audio_s:g} seconds of audio "
                f"for context {context_id!r} without finishing it; pass a larger max_audio_s "
                "to realtime() for longer answers"
            )

    # --- collecting ----------------------------------------------------------------------

    def finished(self, context: Context, settle_s: float | None = None) -> bool:
        """Whether nothing more will come for ``context`` (see ``RealtimeSession.collect``)."""
        settle_s = self.settle_s if settle_s is None else settle_s
        return context.finished(settle_s, self.clock(), context_done=self.sends_context_done)

    def poll(self, settle_s: float, deadline: Deadline) -> float:
        """How long a collect waits for the next message: without ``context.done`` it wakes
        up to see whether the context has settled."""
        return deadline.left(self.clock, None if self.sends_context_done else settle_s)

    def raise_session_error(self) -> None:
        with self.lock:
            error, self.session_error = self.session_error, None
        if error is not None:
            raise error

    def interrupted(self, context_id: str, exc: BaseException) -> StreamInterrupted:
        partial = self.speech(context_id)
        return StreamInterrupted(
            f"context {context_id!r} was cut after {partial.duration:.2f}s of audio: {exc}",
            partial=partial,
        )

    def result(self, context_id: str) -> Speech:
        """The collected ``Speech``, or the error the server reported for the context."""
        context = self.contexts[context_id]
        if context.error is not None:
            raise context.error
        return self.speech(context_id)

    def speech(self, context_id: str = DEFAULT_CONTEXT, *, item_id: str | None = None) -> Speech:
        context = self.contexts.get(context_id)
        if context is None:
            raise NoSuchItem(
                f"no context {context_id!r} in this session; known: {list(self.contexts)}"
            )
        return context.speech(
            model=self.model,
            voice=self.voice,
            endpoint=self.endpoint,
            item_id=item_id,
            partial=context.error is not None or not self.finished(context),
        )

    def items(self, context_id: str = DEFAULT_CONTEXT) -> list[str]:
        context = self.contexts.get(context_id)
        return list(context.item_starts) if context else []


class SessionView:
    """What both realtime shells say of their session, read from their ``_core``."""

    _core: RealtimeCore
    url: str

    sample_rate = property(lambda self: self._core.sample_rate, doc="Rate of the audio.")
    endpoint = property(lambda self: self._core.endpoint, doc="The API root.")
    model = property(lambda self: self._core.model, doc="The session's model.")
    voice = property(lambda self: self._core.voice, doc="The voice, as the server last said.")
    session = property(
        lambda self: self._core.session,
        doc="What the server said about the session (id, model, voice, ...), kept up to "
        "date by ``session.updated``.",
    )
    sends_context_done = property(
        lambda self: self._core.sends_context_done,
        doc="Whether the server ends each commit with ``context.done`` (else ``settle_s``).",
    )
    timeout = property(lambda self: self._core.timeout, doc="Default seconds of a call.")
    settle_s = property(lambda self: self._core.settle_s, doc="See the class.")
    max_audio_s = property(lambda self: self._core.max_audio_s, doc="See the class.")
    _contexts = property(lambda self: self._core.contexts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(url={self.url.split('?')[0]!r}, model={self.model!r}, "
            f"voice={self.voice!r}, contexts={list(self._core.contexts)})"
        )

    def finished(self, context_id: str = DEFAULT_CONTEXT) -> bool:
        """Whether the context's current utterance is finished, as ``collect`` decides,
        without waiting (False for a context that has received nothing yet)."""
        context = self._core.contexts.get(context_id)
        return context is not None and self._core.finished(context)

    def speech(self, context_id: str = DEFAULT_CONTEXT, *, item_id: str | None = None) -> Speech:
        """What was received so far for a context (or one of its items), without waiting."""
        return self._core.speech(context_id, item_id=item_id)

    def items(self, context_id: str = DEFAULT_CONTEXT) -> list[str]:
        """Ids of the items received for a context, in order."""
        return self._core.items(context_id)


def _message(kind: str, context_id: str | None, **fields: Any) -> dict:
    message = {"type": kind, **fields}
    if context_id is not None:
        message["context_id"] = context_id
    return message
