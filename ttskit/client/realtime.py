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

A call's ``timeout`` is a deadline for the whole call, however many events arrive meanwhile
(another context's audio, ``session.updated``), and a context holds at most
``max_audio_s`` seconds of audio. The session is a thin shell over ``realtime_core``,
which the asynchronous session (``ttskit.client.async_realtime``) shares.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

from ..errors import ProtocolError, ReadError, TimeoutError
from ..protocol import DEFAULT_CONTEXT
from ..results import Speech
from .endpoint import Endpoint
from .events import RealtimeEvent
from .realtime_core import (
    DEFAULT_MAX_AUDIO_S,
    DEFAULT_SETTLE_S,
    Deadline,
    RealtimeCore,
    SessionView,
    realtime_url,
)
from .websocket import Closed, WebSocket

__all__ = ["DEFAULT_MAX_AUDIO_S", "DEFAULT_SETTLE_S", "RealtimeSession"]


class RealtimeSession(SessionView):
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
        Seconds to open the session, and the default deadline of a :meth:`collect` or
        :meth:`speak_iter` as a whole.
    settle_s : float
        On servers that do not send ``context.done``: after a commit, how long a context
        must stay quiet, with every item it started done, before it counts as finished.
    max_audio_s : float
        Seconds of audio one utterance of a context may hold (an hour by default); a
        server that sends more gets a ``ProtocolError`` (in a collect, ``StreamInterrupted``
        with what arrived).
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
        max_audio_s: float = DEFAULT_MAX_AUDIO_S,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = 0,
        max_retry_wait: float = 60.0,
    ) -> None:
        if not isinstance(endpoint, Endpoint):
            endpoint = Endpoint(str(endpoint).rstrip("/"))
        self.url = realtime_url(endpoint, params)
        self._abandoned = False  # a call failed: close without waiting for the server
        self._core = core = RealtimeCore(
            endpoint=endpoint.base_url,
            params=params,
            sample_rate=sample_rate,
            timeout=timeout,
            settle_s=settle_s,
            max_audio_s=max_audio_s,
            clock=clock,
        )
        opening = core.deadline(timeout, f"opening {self.url.split('?')[0]}")
        self._socket = WebSocket.open(
            self.url,
            headers=headers,
            api_key=api_key or endpoint.api_key,
            timeout=timeout,
            sleep=sleep,
            max_retries=max_retries,
            max_retry_wait=max_retry_wait,
        )
        try:
            core.start(self._socket.receive(opening.left(clock)))
        except Closed as exc:
            self._socket.close()
            raise ReadError("the server closed the WebSocket before session.created") from exc
        except BaseException:
            self._socket.close()
            raise

    # --- plumbing ---------------------------------------------------------------------------

    def __enter__(self) -> RealtimeSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._abandoned = self._abandoned or exc is not None
        self.close()

    def close(self) -> None:
        """Close the socket (at once, without the closing handshake, after a call failed:
        a server that misbehaves does not hold the caller)."""
        self._socket.close(abort=self._abandoned)

    # --- sending ----------------------------------------------------------------------------

    def append(self, text: str, *, context_id: str | None = None) -> None:
        """Add ``text`` to the context's buffer (synthesized as the session's ``segment`` says)."""
        self._socket.send(self._core.append(text, context_id))

    def commit(self, *, context_id: str | None = None) -> None:
        """Synthesize everything buffered in the context now."""
        self._socket.send(self._core.commit(context_id))

    def clear(self, *, context_id: str | None = None) -> None:
        """Drop the context's buffered text that has not been synthesized yet."""
        self._socket.send(self._core.clear(context_id))

    def update(self, *, context_id: str | None = None, **session: Any) -> None:
        """Change session settings, e.g. ``update(voice="leo")``.

        ``voice`` and ``session`` change once the server confirms with ``session.updated``;
        a refusal is raised by the next :meth:`collect`. The sample rate cannot change:
        audio already under way would arrive at the old rate without saying so.
        """
        self._socket.send(self._core.update(context_id, session))

    def cancel(self, context_id: str = DEFAULT_CONTEXT) -> None:
        """Stop a context: drop its buffer and the audio not yet sent."""
        self._socket.send(self._core.cancel(context_id))

    # --- receiving --------------------------------------------------------------------------

    def recv(self, timeout: float | None = None) -> RealtimeEvent | None:
        """The next event, or None once the server has closed the session.

        Raises ``ttskit.errors.TimeoutError`` if no event comes within ``timeout`` seconds,
        however many messages without one (of other sessions' contexts) arrive meanwhile.
        """
        deadline = None if timeout is None else self._core.deadline(timeout, "waiting for an event")
        while True:
            wait = None if deadline is None else deadline.left(self._core.clock)
            try:
                payload = self._socket.receive(wait)
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
        return self._core.interpret(payload)

    # --- collecting -------------------------------------------------------------------------

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
            If the context is not finished within ``timeout`` seconds (the session's by
            default), whatever else the server sends meanwhile.
        ttskit.errors.APIError
            If the server reported a failure for this context, or for the session since
            the last collect (e.g. a refused ``update``).
        ttskit.errors.StreamInterrupted
            If the connection broke first, or the server sent more than ``max_audio_s``;
            ``partial`` holds what had arrived.
        """
        deadline = self._core.deadline(timeout, f"collecting context {context_id!r}")
        return self._collect(context_id, deadline, settle_s)

    def _collect(self, context_id: str, deadline: Deadline, settle_s: float | None) -> Speech:
        core = self._core
        settle_s = core.settle_s if settle_s is None else settle_s
        context = core.context(context_id)
        try:
            while True:
                core.raise_session_error()
                context = core.contexts[context_id]
                if core.finished(context, settle_s):
                    break
                wait = core.poll(settle_s, deadline)
                try:
                    event = self.recv(timeout=wait)
                except TimeoutError:
                    continue  # the next poll raises once the deadline has passed
                if event is None:
                    raise ReadError("the server closed the session before the context finished")
        except (ReadError, ProtocolError) as exc:
            self._abandoned = True
            raise core.interrupted(context_id, exc) from exc
        except TimeoutError:
            self._abandoned = True
            raise
        finally:
            context.collected = True
        return core.result(context_id)

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
        while later pieces are still being produced. ``timeout`` bounds the whole call,
        the pieces' production included; ``settle_s`` is that of :meth:`collect`.
        """
        deadline = self._core.deadline(timeout, f"speaking into context {context_id!r}")
        return self._speak_iter(pieces, context_id, deadline, settle_s)

    def _speak_iter(
        self,
        pieces: Iterable[str],
        context_id: str,
        deadline: Deadline,
        settle_s: float | None,
    ) -> Speech:
        failure: list[BaseException] = []
        sent = threading.Event()
        stop = threading.Event()

        def send_all() -> None:
            try:
                for piece in pieces:
                    if stop.is_set():
                        return
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
                    wait = deadline.left(self._core.clock, 0.05)
                except TimeoutError:
                    self._abandoned = True
                    raise
                try:
                    event = self.recv(timeout=wait)
                except TimeoutError:
                    continue
                if event is None:
                    break
        finally:
            # A sender still inside the caller's iterator stops at its next piece; nothing
            # waits for it past this call's deadline.
            stop.set()
            if sent.is_set():
                sender.join()
        if failure:
            raise failure[0]
        return self._collect(context_id, deadline, settle_s)
