"""How one benchmark request goes over the wire, for every transport the harness speaks.

The harness talks to an endpoint with the client's own parts: each request is a
``SpeechRequest`` sent by the client's ``HTTPSession`` (without retries: a 429 must be a
row) and read by ``SpeechStream``, the recorder behind ``Client.stream``; the WebSocket is
the client's ``RealtimeSession``. It holds the sessions itself rather than calling
``Client.stream`` because a benchmark needs what a call does not say: a new connection
for a cold request, whether a warm one was reused, the status, request id and server of
every answer, and OpenAI's chunked ``stream_format: "audio"`` body.

Transports: ``rest`` (a WAV body, not streamed), ``sse`` (``stream: true``), ``chunked``
(OpenAI's ``stream_format: "audio"`` with 16-bit PCM, read as it arrives), ``openai-sse``
(OpenAI's ``stream_format: "sse"``: the same PCM in ``speech.audio.delta`` events), ``ws`` (one
WebSocket session per request) and ``ws-keep`` (one session per worker, kept open, one
context per request).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

from .._version import __version__
from ..client.endpoint import Endpoint, choose_endpoint, is_hosted
from ..client.request import SpeechRequest
from ..client.session import HTTPSession
from ..client.streaming import SpeechStream
from ..client.transport import iter_body, request_id
from ..errors import (
    APIError,
    InvalidArgument,
    StreamInterrupted,
    TransportError,
    TTSKitError,
)
from ..errors import TimeoutError as ReadTimeout
from ..results import AudioChunk

__all__ = ["TRANSPORTS", "Outcome", "Target", "WorkerState", "client_for", "send"]

TRANSPORTS = ("rest", "sse", "chunked", "openai-sse", "ws", "ws-keep")
HOSTED_DEFAULT = ("canopylabs/orpheus-3b-0.1-ft", "tara")
STREAM_RATE = 24000  # what the SSE and chunked requests ask for, and OpenAI's pcm is


@dataclass(frozen=True)
class Target:
    """One endpoint, model and voice to benchmark.

    Parameters
    ----------
    base_url : str
        API root including ``/v1``.
    model, voice : str, optional
        Asked of the server (``/v1/models``, ``/v1/voices``) when None.
    api_key : str, optional
        Sent as ``Authorization: Bearer``; never shown in a repr, a row or a saved file.
    headers : dict, optional
        Extra headers of every request, e.g. the local server's ``x-ttskit-faults``.
    name : str, optional
        Label in the ``target`` column (the base URL when None).
    endpoint : ttskit.client.Endpoint, optional
        A client's endpoint: its key (unless ``api_key`` is given) and URL credentials go
        with each request as the client sends them, and are never read into a row.
    """

    base_url: str
    model: str | None = None
    voice: str | None = None
    api_key: str | None = field(default=None, repr=False, compare=False)
    headers: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None
    endpoint: Endpoint | None = field(default=None, repr=False, compare=False)

    @property
    def label(self) -> str:
        return self.name or self.base_url

    @property
    def hosted(self) -> bool:
        return is_hosted(self.base_url)

    def connect_to(self) -> Endpoint:
        """The endpoint requests go to, with the key they carry."""
        return choose_endpoint(self.endpoint or self.base_url, self.api_key)


@dataclass
class Outcome:
    """What one request measured; times are seconds since ``started`` (a clock reading)."""

    started: float
    headers_s: float | None = None
    first_byte_s: float | None = None
    first_audio_s: float | None = None
    first_audible_s: float | None = None
    done_s: float | None = None
    arrivals: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    sample_rate: int = 0
    status: int | None = None
    request_id: str | None = None
    connection_reused: bool | None = None
    retry_after_s: float | None = None
    server: str | None = None
    error: BaseException | None = None
    http_version: str | None = None
    client_library: str | None = None
    client_version: str | None = None
    cancel_s: float | None = None  # when the cancel was sent (interrupted utterances)


class WorkerState:
    """What one worker thread keeps between requests: its HTTP sessions and open WebSockets."""

    def __init__(self) -> None:
        self.sessions: dict[int, HTTPSession] = {}
        self.sockets: dict[tuple[int, str, str], Any] = {}
        self.contexts = 0

    def http(
        self, index: int, target: Target, timeout: float, clock: Callable[[], float]
    ) -> HTTPSession:
        """The kept-alive session of the worker for target ``index``."""
        if index not in self.sessions:
            self.sessions[index] = _http_session(target, timeout, clock, cold=False)
        return self.sessions[index]

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()
        self.sessions.clear()
        for socket in self.sockets.values():
            socket.close()
        self.sockets.clear()


# --- HTTP -----------------------------------------------------------------------------------

_HTTP_VERSIONS = {10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2"}
_REQUESTS = version("requests")
_WEBSOCKETS = version("websockets")


def _http_request(transport: str, model: str, voice: str, text: str, hosted: bool) -> tuple:
    """The checked request, its JSON body, and the raw format its audio comes in."""
    if transport == "rest":
        request = SpeechRequest.build(
            text, model=model, voice=voice, hosted=hosted, response_format="wav", stream=False
        )
        return request, request.body(), None, None
    request = SpeechRequest.build(
        text,
        model=model,
        voice=voice,
        hosted=hosted,
        response_format="raw",
        response_encoding="pcm_s16le",
        sample_rate=STREAM_RATE,
        stream=True,
    )
    body = request.body()
    if transport in ("chunked", "openai-sse"):
        # OpenAI's dialect: 16-bit PCM at 24 kHz, as it is made: the bytes themselves, or
        # base64 in ``speech.audio.delta`` events.
        body = {"model": model, "input": text, "voice": voice}
        body.update(
            response_format="pcm", stream_format="audio" if transport == "chunked" else "sse"
        )
    return request, body, "pcm_s16le", STREAM_RATE


def _http_session(
    target: Target, timeout: float, clock: Callable[[], float], *, cold: bool
) -> HTTPSession:
    """The client's HTTP session for ``target``, without retries: a 429 must be a row."""
    headers = {"User-Agent": f"ttskit/{__version__} bench", **target.headers}
    if cold:
        headers["Connection"] = "close"
    return HTTPSession(
        target.connect_to(),
        timeout=timeout,
        max_retries=0,
        max_retry_wait=0.0,
        clock=clock,
        headers=headers,
    )


def _http(
    state: WorkerState,
    target: Target,
    target_index: int,
    model: str,
    voice: str,
    text: str,
    transport: str,
    *,
    cold: bool,
    timeout: float,
    clock: Callable[[], float],
) -> Outcome:
    request, body, encoding, rate = _http_request(transport, model, voice, text, target.hosted)
    outcome = Outcome(started=clock(), client_library="requests", client_version=_REQUESTS)

    def sending() -> None:
        outcome.started = clock()  # latencies count from when the request went on the wire

    http = None
    try:
        if cold:
            http = _http_session(target, timeout, clock, cold=True)
        session = http or state.http(target_index, target, timeout, clock)
        opened = session.connections_opened
        try:
            response = session.send(
                "POST", "/audio/speech", json=body, stream=True, on_send=sending
            )
        except APIError as exc:
            outcome.headers_s = outcome.done_s = clock() - outcome.started
            outcome.status, outcome.request_id = exc.status_code, exc.request_id
            outcome.retry_after_s = exc.retry_after
            raise
        outcome.headers_s = clock() - outcome.started
        outcome.connection_reused = not cold and session.connections_opened == opened
        outcome.status = response.status_code
        outcome.request_id = request_id(response.headers)
        outcome.server = response.headers.get("server")
        outcome.http_version = _HTTP_VERSIONS.get(getattr(response.raw, "version", None))
        what = f"POST {target.base_url}/audio/speech"
        stream = SpeechStream(
            iter_body(
                response,
                what,
                session.endpoint.api_key,
                deadline=outcome.started + timeout,
                clock=clock,
            ),
            content_type=response.headers.get("Content-Type", ""),
            request=request,
            encoding=encoding,
            sample_rate=rate,
            started=outcome.started,
            headers_s=outcome.headers_s,
            clock=clock,
            close=response.close,
            endpoint=target.base_url,
        )
        # Arrivals come from the events, so that no table of chunks is built per request.
        arrivals, lengths = outcome.arrivals, outcome.lengths
        with stream:
            try:
                for event in stream:
                    if isinstance(event, AudioChunk):
                        arrivals.append(event.arrival_s)
                        lengths.append(len(event.audio))
            finally:
                _take_timing(outcome, stream.timing, chunks=False)
    except (TTSKitError, OSError) as exc:
        outcome.error = exc
    finally:
        if http is not None:
            http.close()
    return outcome


def _take_timing(outcome: Outcome, timing: Any, *, chunks: bool = True) -> None:
    outcome.headers_s = timing.headers_s if timing.headers_s is not None else outcome.headers_s
    outcome.first_byte_s = timing.first_byte_s
    outcome.first_audio_s = timing.first_audio_s
    outcome.first_audible_s = timing.first_audible_s
    outcome.done_s = timing.done_s if timing.done_s is not None else outcome.done_s
    if chunks:
        outcome.arrivals = timing.chunks["arrival_s"].tolist()
        outcome.lengths = timing.chunks["n_samples"].tolist()
    outcome.sample_rate = int(timing.sample_rate or 0)


# --- WebSocket ------------------------------------------------------------------------------


def client_for(target: Target, timeout: float, clock: Callable[[], float]) -> Any:
    from .. import Client

    return Client(
        target.connect_to(),
        timeout=timeout,
        max_retries=0,
        clock=clock,
        headers=dict(target.headers),
    )


def _ws(
    state: WorkerState,
    target: Target,
    target_index: int,
    model: str,
    voice: str,
    text: str,
    transport: str,
    *,
    cold: bool,
    timeout: float,
    clock: Callable[[], float],
    interrupt_after_s: float | None = None,
) -> Outcome:
    keep = transport == "ws-keep" and not cold
    started = clock()
    outcome = Outcome(
        started=started,
        http_version="HTTP/1.1",  # the WebSocket's upgrade
        client_library="websockets",
        client_version=_WEBSOCKETS,
    )
    key = (target_index, model, voice)
    session = state.sockets.get(key) if keep else None
    try:
        outcome.connection_reused = session is not None
        if session is None:
            session = client_for(target, timeout, clock).realtime(model, voice, timeout=timeout)
            if keep:
                state.sockets[key] = session
        try:
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
                    _take_timing(outcome, _shifted(speech.timing, sent - started))
        finally:
            if not keep:
                session.close()
    except (TTSKitError, OSError) as exc:
        if keep and key in state.sockets and isinstance(exc, TransportError | StreamInterrupted):
            state.sockets.pop(key).close()
        if isinstance(exc, APIError):
            outcome.status = exc.status_code
            outcome.retry_after_s = exc.retry_after
            outcome.request_id = exc.request_id
        outcome.error = exc
    else:
        outcome.status = 101  # the WebSocket's handshake answer: the session was accepted
    return outcome


def _interrupt(
    session: Any, context: str, after_s: float, timeout: float, clock: Callable[[], float]
) -> float | None:
    """Receive until ``after_s`` past the context's first audio, then cancel it; the clock
    reading as the cancel was sent, or None if the utterance ended first."""
    first: float | None = None
    waited = clock()
    while True:
        state = session._contexts.get(context)
        if state is not None and session._finished(state, session.settle_s):
            return None
        now = clock()
        if first is not None and now >= first + after_s:
            session.cancel(context)
            return clock()
        wait = timeout if first is None else first + after_s - now
        try:
            event = session.recv(timeout=max(wait, 1e-3))
        except ReadTimeout:
            if first is None and clock() - waited >= timeout:
                raise
            continue
        if event is None:
            return None
        waited = clock()
        if first is None and isinstance(event, AudioChunk) and event.context_id == context:
            first = waited


def _shifted(timing: Any, offset: float) -> Any:
    """``timing`` with every time moved ``offset`` later (context times start at its append)."""
    from dataclasses import replace

    def move(value: float | None) -> float | None:
        return None if value is None else value + offset

    chunks = timing.chunks.assign(arrival_s=timing.chunks["arrival_s"] + offset)
    return replace(
        timing,
        headers_s=move(timing.headers_s),
        first_byte_s=move(timing.first_byte_s),
        first_audio_s=move(timing.first_audio_s),
        first_audible_s=move(timing.first_audible_s),
        done_s=move(timing.done_s),
        chunks=chunks,
    )


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
) -> Outcome:
    """Send one request and measure it; failures are in ``Outcome.error``, never raised.

    ``interrupt_after_s`` (WebSocket only) cancels the utterance that long after its first
    audio, and ``Outcome.cancel_s`` says when the cancel went out.
    """
    if transport not in TRANSPORTS:
        raise InvalidArgument(f"unknown transport {transport!r}; use one of {TRANSPORTS}")
    if transport.startswith("ws"):
        return _ws(
            state,
            target,
            target_index,
            model,
            voice,
            text,
            transport,
            cold=cold,
            timeout=timeout,
            clock=clock,
            interrupt_after_s=interrupt_after_s,
        )
    return _http(
        state,
        target,
        target_index,
        model,
        voice,
        text,
        transport,
        cold=cold,
        timeout=timeout,
        clock=clock,
    )
