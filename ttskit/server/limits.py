"""Deadlines that keep one client from holding what others need.

A synthesis slot is the scarce thing: the server has one engine per slot, and a request
holds its slot from its first segment to its last. Without deadlines, two clients that
ask for a long text and stop reading hold both slots of a default server for good. So:

- ``queue_timeout``: a request that waits this long for a slot is answered 503 with
  ``Retry-After`` (the pool, ``ttskit.server.pool``);
- ``synthesis_timeout``: a request holds its slot at most this long; then its synthesis
  stops and the stream ends with an error event (the worker, ``ttskit.server.worker``);
- ``write_timeout``: a client that takes no data for this long loses its connection and
  with it its slot (``DeadlineMiddleware``);
- ``body_timeout``: the request body must arrive this long after the headers, else 408
  (``DeadlineMiddleware``);
- ``header_timeout``: the request line and headers must arrive this long after the
  connection opens, else 408 (the protocol, ``ttskit.server.http``);
- ``ws_idle_timeout``: a WebSocket session that sends nothing for this long, with nothing
  in synthesis, is closed (the session, ``ttskit.server.websocket``).

With a queue deadline longer than the other two, a well-behaved request waits at most
for the slow clients ahead of it to lose their slots, plus one synthesis.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, fields

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import InvalidArgument
from .errors import WireError
from .http import CONNECTION_EXTENSION, DEFAULT_HEADER_TIMEOUT, abort_connection

__all__ = ["DeadlineMiddleware", "Limits"]

_LOGGER = logging.getLogger("ttskit.server")


@dataclass(frozen=True)
class Limits:
    """How long the server waits for clients, and how long a request may hold a slot.

    Parameters
    ----------
    header_timeout : float
        Seconds for the request line and headers.
    body_timeout : float
        Seconds for the whole request body, from the headers.
    queue_timeout : float
        Seconds a request may wait for a slot before 503 with ``Retry-After``.
    synthesis_timeout : float
        Seconds a request may hold a slot.
    write_timeout : float
        Seconds a client may take no data before its connection is closed.
    ws_idle_timeout : float
        Seconds a WebSocket session may send nothing, with nothing in synthesis, before
        it is closed (1000, "idle").

    Examples
    --------
    >>> Limits(queue_timeout=5.0).synthesis_timeout
    120.0
    """

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = 20.0
    queue_timeout: float = 30.0
    synthesis_timeout: float = 120.0
    write_timeout: float = 10.0
    ws_idle_timeout: float = 300.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise InvalidArgument(
                    f"{field.name} must be a number of seconds > 0, got {value!r}"
                )


class DeadlineMiddleware:
    """Bounds the time a request's body takes to arrive and a client takes to read.

    Writes are bounded only where the server can cut a connection (ttskit's protocols,
    ``ttskit.server.http``); a write that is still waiting after ``write_timeout`` cuts it,
    and the app sees the client as gone.
    """

    def __init__(self, app: ASGIApp, *, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http":
            receive = self._body_deadline(receive)
        if CONNECTION_EXTENSION in scope.get("extensions", {}):
            send = self._write_deadline(scope, send)
        await self.app(scope, receive, send)

    def _body_deadline(self, receive: Receive) -> Receive:
        timeout = self.limits.body_timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        body_done = False

        async def receive_body() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                body_done = True
                raise WireError(
                    408,
                    f"the request body did not arrive within {timeout} s",
                    code="request_timeout",
                    headers={"Connection": "close"},
                ) from None
            body_done = message["type"] != "http.request" or not message.get("more_body")
            return message

        return receive_body

    def _write_deadline(self, scope: Scope, send: Send) -> Send:
        timeout = self.limits.write_timeout
        stalled = False

        async def send_in_time(message: Message) -> None:
            nonlocal stalled
            if stalled:
                return
            try:
                async with asyncio.timeout(timeout):
                    await send(message)
            except TimeoutError:
                stalled = True
                _LOGGER.info("client took no data for %s s: closing its connection", timeout)
                abort_connection(scope)
                if scope["type"] == "websocket":
                    raise OSError("the client stopped reading") from None

        return send_in_time
