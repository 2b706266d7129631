"""One request measured on ``ttskit.AsyncClient``: ``transports`` for the asyncio harness.

The same steps as ``transports.send`` on the sync client, through the client's public
API (``build_request`` then ``send`` with ``max_retries=0`` and ``drain``; ``realtime`` for
the WebSocket), into the same ``Outcome``. ``aio.AsyncLoop`` calls ``async_send`` for every
request of its shard.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from ..client import AsyncClient, AsyncRealtimeSession, SpeechRequest
from ..errors import APIError, InvalidArgument, StreamInterrupted, TTSKitError
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
from .transports import HTTP_OPTIONS, TRANSPORTS

__all__ = ["Slot", "async_send", "build_request"]

_AIOHTTP = version("aiohttp")


class Slot:
    """What one in-flight request slot keeps: its open WebSockets (``ws-keep``)."""

    def __init__(self) -> None:
        self.sockets: dict[tuple[int, str, str], Any] = {}
        self.contexts = 0

    async def aclose(self) -> None:
        for socket in self.sockets.values():
            await socket.aclose()
        self.sockets.clear()


async def _http(
    client: AsyncClient,
    model: str,
    voice: str,
    text: str,
    transport: str,
    *,
    cold: bool,
    clock: Callable[[], float],
    keep_audio: bool,
    request: SpeechRequest | None = None,
) -> Outcome:
    outcome = Outcome(
        started=clock(),
        requested_model=model,
        requested_voice=voice,
        client_library="aiohttp",
        client_version=_AIOHTTP,
    )
    try:
        if request is None:
            request = await build_request(client, model, voice, text, transport, cold=cold)
        # Latencies count as the client's own do: from the call that sends the request.
        outcome.started = clock()
        try:
            stream = await client.send(request)
        except APIError as exc:
            outcome.headers_s = outcome.done_s = clock() - outcome.started
            failed(outcome, exc)
            raise
        async with stream:
            take_head(outcome, stream)
            # Read to the end, recorded without making an event per chunk.
            try:
                await stream.drain()
            finally:
                take_timing(outcome, stream.timing)
            if keep_audio:
                outcome.speech = await stream.speech()
    except (TTSKitError, OSError) as exc:
        outcome.error = exc
    return outcome


async def build_request(
    client: AsyncClient, model: str, voice: str, text: str, transport: str, *, cold: bool
) -> SpeechRequest:
    """The HTTP request of one trial over ``transport``, as ``async_send`` makes it (built
    ahead by the open loop while the trial waits for its slot)."""
    return await client.build_request(
        text,
        model=model,
        voice=voice,
        max_retries=0,
        fresh_connection=cold,
        **HTTP_OPTIONS[transport],
    )


async def _ws(
    slot: Slot,
    client: AsyncClient,
    target_index: int,
    model: str,
    voice: str,
    text: str,
    transport: str,
    *,
    cold: bool,
    timeout: float,
    clock: Callable[[], float],
    keep_audio: bool,
    interrupt_after_s: float | None = None,
) -> Outcome:
    keep = transport == "ws-keep" and not cold
    started = clock()
    outcome = ws_outcome(started, model, voice)
    key = (target_index, model, voice)
    session = slot.sockets.get(key) if keep else None
    try:
        outcome.connection_reused = session is not None
        if session is None:
            session = await client.realtime(model, voice, timeout=timeout)
            if keep:
                slot.sockets[key] = session
        try:
            outcome.served_model, outcome.served_voice = session.model, session.voice
            slot.contexts += 1
            context = f"bench-{slot.contexts}"
            sent = clock()
            outcome.headers_s = sent - started
            await session.append(text, context_id=context)
            await session.commit(context_id=context)
            speech = None
            try:
                if interrupt_after_s is not None:
                    cancelled = await _interrupt(
                        session, context, interrupt_after_s, timeout, clock
                    )
                    if cancelled is not None:
                        outcome.cancel_s = cancelled - started
                speech = await session.collect(context)
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
                await session.aclose()
    except (TTSKitError, OSError) as exc:
        if ws_failed(outcome, exc) and keep and key in slot.sockets:
            await slot.sockets.pop(key).aclose()
    else:
        outcome.status = 101  # the WebSocket's handshake answer: the session was accepted
    return outcome


async def _interrupt(
    session: AsyncRealtimeSession,
    context: str,
    after_s: float,
    timeout: float,
    clock: Callable[[], float],
) -> float | None:
    """``transports._interrupt`` on an ``AsyncRealtimeSession``."""
    rule = Interruption(context, after_s, timeout, clock)
    while not session.finished(context):
        if rule.due():
            await session.cancel(context)
            return clock()
        try:
            event = await session.recv(timeout=rule.wait())
        except ReadTimeout:
            if rule.timed_out():
                raise
            continue
        if event is None:
            return None
        rule.heard(event)
    return None


async def async_send(
    slot: Slot,
    client: AsyncClient,
    target_index: int,
    model: str,
    voice: str,
    text: str,
    transport: str,
    *,
    cold: bool = False,
    timeout: float = 60.0,
    clock: Callable[[], float] = time.perf_counter,
    keep_audio: bool = False,
    request: SpeechRequest | None = None,
    interrupt_after_s: float | None = None,
) -> Outcome:
    """``transports.send`` on an ``AsyncClient``: one request measured, failures in
    ``Outcome.error``. ``request``: the HTTP request, built beforehand (from ``text``
    when None)."""
    if transport not in TRANSPORTS:
        raise InvalidArgument(f"unknown transport {transport!r}; use one of {TRANSPORTS}")
    if transport.startswith("ws"):
        return await _ws(
            slot,
            client,
            target_index,
            model,
            voice,
            text,
            transport,
            cold=cold,
            timeout=timeout,
            clock=clock,
            keep_audio=keep_audio,
            interrupt_after_s=interrupt_after_s,
        )
    return await _http(
        client,
        model,
        voice,
        text,
        transport,
        cold=cold,
        clock=clock,
        keep_audio=keep_audio,
        request=request,
    )
