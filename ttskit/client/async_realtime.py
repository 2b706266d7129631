"""``AsyncRealtimeSession``: the WebSocket speech API as coroutines.

The same session as ``RealtimeSession`` (``ttskit.client.realtime``), on websockets'
asyncio client: the messages, events, contexts, deadlines and errors all come from the
same ``RealtimeCore``; only the socket and the waiting differ.

>>> async with ttskit.AsyncClient() as client:  # doctest: +SKIP
...     async with client.realtime() as session:
...         await session.append("Hello there.")
...         await session.commit()
...         speech = await session.collect()
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
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
from .websocket import AsyncWebSocket, Closed

__all__ = ["AsyncRealtimeSession"]


class AsyncRealtimeSession(SessionView):
    """One WebSocket session with the speech API, as coroutines.

    Made by ``AsyncClient.realtime()`` (``async with client.realtime() as session``); the
    parameters and behaviour are ``RealtimeSession``'s. ``async for event in session``
    gives events until the server closes the session.
    """

    def __init__(self, socket: AsyncWebSocket, core: RealtimeCore, url: str) -> None:
        self._socket = socket
        self._core = core
        self.url = url
        self._abandoned = False  # a call failed: close without waiting for the server

    @classmethod
    async def open(
        cls,
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
        sleep: Callable[[float], Any] = asyncio.sleep,
        max_retries: int = 0,
        max_retry_wait: float = 60.0,
    ) -> AsyncRealtimeSession:
        """Connect and wait for ``session.created`` (see ``RealtimeSession``)."""
        if not isinstance(endpoint, Endpoint):
            endpoint = Endpoint(str(endpoint).rstrip("/"))
        url = realtime_url(endpoint, params)
        core = RealtimeCore(
            endpoint=endpoint.base_url,
            params=params,
            sample_rate=sample_rate,
            timeout=timeout,
            settle_s=settle_s,
            max_audio_s=max_audio_s,
            clock=clock,
        )
        opening = core.deadline(timeout, f"opening {url.split('?')[0]}")
        socket = await AsyncWebSocket.open(
            url,
            headers=headers,
            api_key=api_key or endpoint.api_key,
            timeout=timeout,
            sleep=sleep,
            max_retries=max_retries,
            max_retry_wait=max_retry_wait,
        )
        try:
            core.start(await socket.receive(opening.left(clock)))
        except Closed as exc:
            await socket.close(abort=True)
            raise ReadError("the server closed the WebSocket before session.created") from exc
        except BaseException:
            await socket.close(abort=True)
            raise
        return cls(socket, core, url)

    # --- plumbing ---------------------------------------------------------------------------

    async def __aenter__(self) -> AsyncRealtimeSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._abandoned = self._abandoned or exc is not None
        await self.aclose()

    async def aclose(self) -> None:
        """Close the socket (at once after a call failed, as ``RealtimeSession.close``)."""
        await self._socket.close(abort=self._abandoned)

    # --- sending ----------------------------------------------------------------------------

    async def append(self, text: str, *, context_id: str | None = None) -> None:
        """Add ``text`` to the context's buffer."""
        await self._socket.send(self._core.append(text, context_id))

    async def commit(self, *, context_id: str | None = None) -> None:
        """Synthesize everything buffered in the context now."""
        await self._socket.send(self._core.commit(context_id))

    async def clear(self, *, context_id: str | None = None) -> None:
        """Drop the context's buffered text that has not been synthesized yet."""
        await self._socket.send(self._core.clear(context_id))

    async def update(self, *, context_id: str | None = None, **session: Any) -> None:
        """Change session settings (see ``RealtimeSession.update``)."""
        await self._socket.send(self._core.update(context_id, session))

    async def cancel(self, context_id: str = DEFAULT_CONTEXT) -> None:
        """Stop a context: drop its buffer and the audio not yet sent."""
        await self._socket.send(self._core.cancel(context_id))

    # --- receiving --------------------------------------------------------------------------

    async def recv(self, timeout: float | None = None) -> RealtimeEvent | None:
        """The next event, or None once the server has closed the session
        (see ``RealtimeSession.recv``)."""
        core = self._core
        deadline = None if timeout is None else core.deadline(timeout, "waiting for an event")
        while True:
            wait = None if deadline is None else deadline.left(core.clock)
            try:
                payload = await self._socket.receive(wait)
            except Closed:
                return None
            event = core.interpret(payload)
            if event is not None:
                return event

    async def __aiter__(self) -> AsyncIterator[RealtimeEvent]:
        """Events as they arrive, until the server closes the session."""
        while (event := await self.recv()) is not None:
            yield event

    # --- collecting -------------------------------------------------------------------------

    async def collect(
        self,
        context_id: str = DEFAULT_CONTEXT,
        *,
        timeout: float | None = None,
        settle_s: float | None = None,
    ) -> Speech:
        """Receive until the context is finished and return its ``Speech``
        (see ``RealtimeSession.collect``: the same deadline, results and errors)."""
        deadline = self._core.deadline(timeout, f"collecting context {context_id!r}")
        return await self._collect(context_id, deadline, settle_s)

    async def _collect(self, context_id: str, deadline: Deadline, settle_s: float | None) -> Speech:
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
                    event = await self.recv(timeout=wait)
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

    async def speak_iter(
        self,
        pieces: Iterable[str] | AsyncIterable[str],
        *,
        context_id: str = DEFAULT_CONTEXT,
        timeout: float | None = None,
        settle_s: float | None = None,
    ) -> Speech:
        """Send text pieces as they come (an iterable or an async iterable, e.g. an LLM's
        tokens), commit, and collect the audio; ``timeout`` bounds the whole call."""
        deadline = self._core.deadline(timeout, f"speaking into context {context_id!r}")
        return await self._speak_iter(pieces, context_id, deadline, settle_s)

    async def _speak_iter(
        self,
        pieces: Iterable[str] | AsyncIterable[str],
        context_id: str,
        deadline: Deadline,
        settle_s: float | None,
    ) -> Speech:
        async def send_all() -> None:
            async for piece in _aiter(pieces):
                if piece:
                    await self.append(piece, context_id=context_id)
            await self.commit(context_id=context_id)

        sender = asyncio.ensure_future(send_all())
        try:
            while not sender.done():
                try:
                    wait = deadline.left(self._core.clock, 0.05)
                except TimeoutError:
                    self._abandoned = True
                    raise
                try:
                    event = await self.recv(timeout=wait)
                except TimeoutError:
                    continue
                if event is None:
                    break
        finally:
            if not sender.done():
                sender.cancel()
        if sender.done() and not sender.cancelled() and sender.exception() is not None:
            raise sender.exception()  # type: ignore[misc]
        return await self._collect(context_id, deadline, settle_s)


async def _aiter(pieces: Iterable[str] | AsyncIterable[str]) -> AsyncIterator[str]:
    """The pieces; those of a plain iterator (a generator that may block, as an LLM's
    tokens do) are taken on a thread, so that audio keeps arriving meanwhile."""
    if isinstance(pieces, AsyncIterable):
        async for piece in pieces:
            yield piece
    elif isinstance(pieces, list | tuple):
        for piece in pieces:
            yield piece
    else:
        iterator = iter(pieces)
        end = object()
        while (piece := await asyncio.to_thread(next, iterator, end)) is not end:
            yield piece  # type: ignore[misc]
