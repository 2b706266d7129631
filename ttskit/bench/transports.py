"""How one benchmark request goes over the wire, for every transport the harness speaks.

Every request is one that the target's ``ttskit.Client`` sends, through its public API: an
HTTP request is ``client.build_request(...)`` then ``client.send(request)``, with retries
off on the request itself (``max_retries=0``: a 429 must be a row) and, for a cold
request, a connection of its own (``fresh_connection=True``); the answer's
``SpeechStream`` says the status, the request id, the model and voice the server used,
the HTTP version and whether the connection was reused. A WebSocket request is a context
of ``client.realtime(...)``. The client is made from the target's endpoint (which pickles)
and headers, so that a worker process or a Dask worker sends what the user's own client
sends, headers and dialect included.

Transports: ``rest`` (a WAV body, not streamed), ``sse`` (a streamed answer in the
client's dialect: Together's ``stream: true``, or OpenAI's ``stream_format: "sse"`` for a
client with ``dialect="openai"``), ``chunked`` (OpenAI's ``stream_format: "audio"``: raw
PCM read as it arrives), ``openai-sse`` (OpenAI's ``stream_format: "sse"``: the same PCM in
``speech.audio.delta`` events), ``ws`` (one WebSocket session per request) and ``ws-keep``
(one session per worker, kept open, one context per request).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

from ..client import AsyncClient, Client, Endpoint, RealtimeSession
from ..errors import (
    APIError,
    InvalidArgument,
    StreamInterrupted,
    TTSKitError,
)
from ..errors import TimeoutError as ReadTimeout
from .outcome import (
    Interruption,
    Outcome,
    failed,
    shifted,
    take_head,
    take_timing,
    ws_failed,
    ws_outcome,
)

__all__ = ["HTTP_OPTIONS", "TRANSPORTS", "Target", "WorkerState", "send"]

TRANSPORTS = ("rest", "sse", "chunked", "openai-sse", "ws", "ws-keep")

#: What each HTTP transport asks ``Client.build_request`` for, beyond the text, model and
#: voice; every other option is the client's.
HTTP_OPTIONS: dict[str, dict[str, Any]] = {
    "rest": {"stream": False, "response_format": "wav"},
    "sse": {"stream": True},
    "chunked": {"stream_format": "audio"},
    "openai-sse": {"stream_format": "sse"},
}


@dataclass(frozen=True)
class Target:
    """One endpoint, model and voice to benchmark.

    Parameters
    ----------
    base_url : str
        API root including ``/v1``.
    model, voice : str, optional
        Asked of the server (``/v1/models``, ``/v1/voices``) when None, by the client's
        own rule (``ttskit.client.resolve_defaults``).
    api_key : str, optional
        Sent as ``Authorization: Bearer``; never shown in a repr, a row or a saved file.
    headers : dict, optional
        Extra headers of every request, e.g. the local server's ``x-ttskit-faults``.
    name : str, optional
        Label in the ``target`` column (the base URL when None).
    endpoint : ttskit.client.Endpoint, optional
        A client's endpoint: its key (unless ``api_key`` is given) and URL credentials go
        with each request as the client sends them, and are never read into a row.
    dialect : {"together", "openai"}
        The dialect of the client's requests (see ``ttskit.Client``).
    """

    base_url: str
    model: str | None = None
    voice: str | None = None
    api_key: str | None = field(default=None, repr=False, compare=False)
    headers: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None
    endpoint: Endpoint | None = field(default=None, repr=False, compare=False)
    dialect: str = "together"

    @property
    def label(self) -> str:
        return self.name or self.base_url

    @property
    def hosted(self) -> bool:
        return Endpoint(self.base_url).hosted

    def client(
        self,
        *,
        timeout: float = 60.0,
        clock: Callable[[], float] = time.perf_counter,
        asynchronous: bool = False,
    ) -> Client | AsyncClient:
        """The ``ttskit.Client`` (``AsyncClient`` when ``asynchronous``) that sends this
        target's requests: its endpoint, key, headers, dialect, model and voice, with
        retries off (a refused request is a row, not a wait). Making it sends nothing; a
        bad URL or a missing key raises here."""
        return (AsyncClient if asynchronous else Client)(
            self.endpoint or self.base_url,
            self.api_key,
            self.model,
            self.voice,
            timeout=timeout,
            max_retries=0,
            clock=clock,
            headers=dict(self.headers),
            dialect=self.dialect,
        )


class WorkerState:
    """What one worker keeps between requests: a client per target, and open WebSockets."""

    def __init__(self) -> None:
        self.clients: dict[int, Client] = {}
        self.sockets: dict[tuple[int, str, str], RealtimeSession] = {}
        self.contexts = 0

    def client(
        self, index: int, target: Target, timeout: float, clock: Callable[[], float]
    ) -> Client:
        """The worker's client of target ``index`` (its connections are kept alive)."""
        if index not in self.clients:
            self.clients[index] = target.client(timeout=timeout, clock=clock)
        return self.clients[index]

    def close(self) -> None:
        for socket in self.sockets.values():
            socket.close()
        self.sockets.clear()
        for client in self.clients.values():
            client.close()
        self.clients.clear()


_REQUESTS = version("requests")


# --- HTTP -----------------------------------------------------------------------------------


def _http(
    client: Client,
    model: str,
    voice: str,
    text: str,
    transport: str,
    *,
    cold: bool,
    clock: Callable[[], float],
    keep_audio: bool,
) -> Outcome:
    outcome = Outcome(
        started=clock(),
        requested_model=model,
        requested_voice=voice,
        client_library="requests",
        client_version=_REQUESTS,
    )
    try:
        request = client.build_request(
            text,
            model=model,
            voice=voice,
            max_retries=0,
            fresh_connection=cold,
            **HTTP_OPTIONS[transport],
        )
        # Latencies count as the client's own do: from the call that sends the request.
        outcome.started = clock()
        try:
            stream = client.send(request)
        except APIError as exc:
            outcome.headers_s = outcome.done_s = clock() - outcome.started
            failed(outcome, exc)
            raise
        with stream:
            take_head(outcome, stream)
            # Read to the end, recorded without making an event per chunk.
            try:
                stream.drain()
            finally:
                take_timing(outcome, stream.timing)
            if keep_audio:
                outcome.speech = stream.speech()
    except (TTSKitError, OSError) as exc:
        outcome.error = exc
    return outcome


# --- WebSocket ------------------------------------------------------------------------------


def _ws(
    state: WorkerState,
    client: Client,
    target_index: int,
    model: str,
    voice: str,
    text: str,
    transport: str,
    *,
    cold: bool,
    timeout: float,
    clock: Callable[[], float],
    interrupt_after_s: float | None,
    keep_audio: bool,
) -> Outcome:
    keep = transport == "ws-keep" and not cold
    started = clock()
    outcome = ws_outcome(started, model, voice)
    key = (target_index, model, voice)
    session = state.sockets.get(key) if keep else None
    try:
        outcome.connection_reused = session is not None
        if session is None:
            session = client.realtime(model, voice, timeout=timeout)
            if keep:
                state.sockets[key] = session
        try:
            outcome.served_model, outcome.served_voice = session.model, session.voice
            state.contexts += 1
            context = f"bench-{state.contexts}"
            sent = clock()
            outcome.headers_s = sent - started
            session.append(text, context_id=context)
            session.commit(context_id=context)
            speech = None
            try:
                if interrupt_after_s is not None:
                    cancelled = _interrupt(session, context, interrupt_after_s, timeout, clock)
                    if cancelled is not None:
                        outcome.cancel_s = cancelled - started
                speech = session.collect(context)
            except StreamInterrupted as exc:
                speech = exc.partial
                raise
            finally:
                if speech is not None:
                    take_timing(outcome, shifted(speech.timing, sent - started))
            if keep_audio:
                speech.requested_model, speech.requested_voice = model, voice
                outcome.speech = speech
        finally:
            if not keep:
                session.close()
    except (TTSKitError, OSError) as exc:
        if ws_failed(outcome, exc) and keep and key in state.sockets:
            state.sockets.pop(key).close()
    else:
        outcome.status = 101  # the WebSocket's handshake answer: the session was accepted
    return outcome


def _interrupt(
    session: RealtimeSession,
    context: str,
    after_s: float,
    timeout: float,
    clock: Callable[[], float],
) -> float | None:
    """Receive until ``after_s`` past the context's first audio, then cancel it; the clock
    reading as the cancel was sent, or None if the utterance ended first."""
    rule = Interruption(context, after_s, timeout, clock)
    while not session.finished(context):
        if rule.due():
            session.cancel(context)
            return clock()
        try:
            event = session.recv(timeout=rule.wait())
        except ReadTimeout:
            if rule.timed_out():
                raise
            continue
        if event is None:
            return None
        rule.heard(event)
    return None


# --- one request ----------------------------------------------------------------------------


def send(
    state: WorkerState,
    target: Target,
    target_index: int,
    model: str,
    voice: str,
    text: str,
    transport: str,
    *,
    cold: bool = False,
    timeout: float = 60.0,
    clock: Callable[[], float] = time.perf_counter,
    interrupt_after_s: float | None = None,
    keep_audio: bool = False,
) -> Outcome:
    """Send one request and measure it; failures are in ``Outcome.error``, never raised.

    ``interrupt_after_s`` (WebSocket only) cancels the utterance that long after its first
    audio, and ``Outcome.cancel_s`` says when the cancel went out. ``keep_audio`` keeps the
    ``Speech`` of a successful request in ``Outcome.speech``.
    """
    if transport not in TRANSPORTS:
        raise InvalidArgument(f"unknown transport {transport!r}; use one of {TRANSPORTS}")
    client = state.client(target_index, target, timeout, clock)
    if transport.startswith("ws"):
        return _ws(
            state,
            client,
            target_index,
            model,
            voice,
            text,
            transport,
            cold=cold,
            timeout=timeout,
            clock=clock,
            interrupt_after_s=interrupt_after_s,
            keep_audio=keep_audio,
        )
    return _http(
        client, model, voice, text, transport, cold=cold, clock=clock, keep_audio=keep_audio
    )
