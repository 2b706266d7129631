"""The boundary with aiohttp: body reads under a deadline, ttskit errors for what the
network says (chained with ``from exc``), and whether a connection was kept alive.

As ``transport`` is for requests: nothing it raises quotes an API key.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from ..errors import ConnectError, ReadError, TimeoutError, TransportError, redact
from .transport import os_reason

if TYPE_CHECKING:
    import aiohttp

__all__ = ["read_body", "reuse_trace", "timed_connector", "translate"]


async def read_body(
    response: aiohttp.ClientResponse,
    what: str,
    secret: str | None,
    deadline: float,
    clock: Callable[[], float],
) -> AsyncIterator[tuple[bytes, float]]:
    """The body as it arrives, under the request's deadline, with ttskit errors: each read
    with the clock reading of when its first bytes came off the socket.

    On a connection of ``timed_connector`` that is the reading its protocol took as the
    bytes were handed over, before any other task ran; the loop may wake this reader only
    later (every stream of the loop that had bytes in the same turn goes before it). On any
    other connection it is the reading as the read returns.
    """
    import aiohttp

    received = 0
    expected = response.content_length
    connection = response.connection
    arrivals = getattr(connection.protocol if connection else None, "arrivals", None)
    if arrivals is not None and arrivals:
        # The readings since the request went out: only the last can have brought body bytes
        # (the head came before it); none did when no body byte was fed yet.
        del arrivals[: -1 if response.content.total_bytes else None]
    try:
        async for data in response.content.iter_any():
            now = clock()
            if now > deadline:
                raise TimeoutError(
                    redact(f"{what} did not finish within the client's timeout", secret)
                )
            received += len(data)
            if arrivals:
                at = arrivals[0]
                arrivals.clear()
            else:
                at = now
            yield data, at
    except (aiohttp.ClientError, builtins.TimeoutError, OSError) as exc:
        raise translate(exc, what, secret, received=received, expected=expected) from exc
    if expected is not None and received < expected:
        of = f" of {expected}"
        raise ReadError(
            redact(
                f"the server closed the connection after {received}{of} bytes of the "
                f"answer to {what}",
                secret,
            )
        )


_TIMED_PROTOCOL: Any = None


def timed_connector(clock: Callable[[], float], **options: Any) -> aiohttp.TCPConnector:
    """An aiohttp ``TCPConnector`` whose connections read ``clock`` as bytes arrive.

    Its protocol keeps one reading per ``data_received`` in ``arrivals`` (``read_body``
    takes them): the time the event loop handed the bytes over, not the time the task
    reading them was woken. Without the connector's protocol factory (an aiohttp that
    changed it), connections are plain and ``read_body`` reads the clock itself.
    """
    import aiohttp

    global _TIMED_PROTOCOL
    connector = aiohttp.TCPConnector(**options)
    factory = getattr(connector, "_factory", None)
    if not isinstance(factory, functools.partial):
        return connector
    if _TIMED_PROTOCOL is None:
        from aiohttp.client_proto import ResponseHandler

        class TimedResponseHandler(ResponseHandler):
            __slots__ = ("arrivals", "clock")

            def data_received(self, data: bytes) -> None:
                if data:
                    self.arrivals.append(self.clock())
                super().data_received(data)

        _TIMED_PROTOCOL = TimedResponseHandler

    def protocol(*args: Any, **kwargs: Any) -> Any:
        handler = _TIMED_PROTOCOL(*args, **kwargs)
        handler.arrivals, handler.clock = [], clock
        return handler

    connector._factory = functools.partial(protocol, *factory.args, **factory.keywords)
    return connector


def translate(
    exc: BaseException,
    what: str,
    secret: str | None,
    *,
    received: int | None = None,
    expected: int | None = None,
) -> TransportError:
    """A ttskit error for what aiohttp raised while doing ``what`` (as ``transport.translate``
    does for requests)."""
    import aiohttp

    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ClientConnectionResetError) and (
        received is None
    ):
        cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
        message = f"could not connect for {what}: {os_reason(cause)}"
        return ConnectError(redact(message, secret))
    if isinstance(exc, builtins.TimeoutError | aiohttp.ServerTimeoutError):
        return TimeoutError(redact(f"no answer in time for {what}", secret))
    if received is None and isinstance(exc, aiohttp.ServerDisconnectedError | OSError):
        return ConnectError(redact(f"could not connect for {what}: {os_reason(exc)}", secret))
    if received is not None:
        of = "" if expected is None else f" of {expected}"
        message = (
            f"the server closed the connection after {received}{of} bytes of the answer to {what}"
        )
        return ReadError(redact(message, secret))
    return ReadError(
        redact(f"the connection broke during {what}: {type(exc).__name__}: {exc}", secret)
    )


def reuse_trace(clock: Callable[[], float]) -> Any:
    """An aiohttp trace that says, per request, whether its connection was kept alive
    (``reused``) and when its first bytes were handed to the socket (``sent``, a reading of
    ``clock``: aiohttp writes the request on a task of its own, which a busy loop runs
    later than the call)."""
    import aiohttp

    trace = aiohttp.TraceConfig()

    async def created(session: Any, context: Any, params: Any) -> None:
        if context.trace_request_ctx is not None:
            context.trace_request_ctx["reused"] = False

    async def reused(session: Any, context: Any, params: Any) -> None:
        if context.trace_request_ctx is not None:
            context.trace_request_ctx["reused"] = True

    async def sent(session: Any, context: Any, params: Any) -> None:
        # Called just before the headers and the body's first chunk are written.
        if context.trace_request_ctx is not None:
            context.trace_request_ctx.setdefault("sent", clock())

    trace.on_connection_create_end.append(created)
    trace.on_connection_reuseconn.append(reused)
    trace.on_request_chunk_sent.append(sent)
    return trace
