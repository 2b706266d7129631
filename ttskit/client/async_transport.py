"""The boundary with aiohttp: body reads under a deadline, ttskit errors for what the
network says (chained with ``from exc``), and whether a connection was kept alive.

As ``transport`` is for requests: nothing it raises quotes an API key.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from ..errors import ConnectError, ReadError, TimeoutError, TransportError, redact
from .transport import os_reason

if TYPE_CHECKING:
    import aiohttp

__all__ = ["read_body", "reuse_trace", "translate"]


async def read_body(
    response: aiohttp.ClientResponse,
    what: str,
    secret: str | None,
    deadline: float,
    clock: Callable[[], float],
) -> AsyncIterator[bytes]:
    """The body as it arrives, under the request's deadline, with ttskit errors."""
    import aiohttp

    received = 0
    expected = response.content_length
    try:
        async for data in response.content.iter_any():
            if clock() > deadline:
                raise TimeoutError(
                    redact(f"{what} did not finish within the client's timeout", secret)
                )
            received += len(data)
            yield data
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


def reuse_trace() -> Any:
    """An aiohttp trace that says, per request, whether its connection was kept alive."""
    import aiohttp

    trace = aiohttp.TraceConfig()

    async def created(session: Any, context: Any, params: Any) -> None:
        if context.trace_request_ctx is not None:
            context.trace_request_ctx["reused"] = False

    async def reused(session: Any, context: Any, params: Any) -> None:
        if context.trace_request_ctx is not None:
            context.trace_request_ctx["reused"] = True

    trace.on_connection_create_end.append(created)
    trace.on_connection_reuseconn.append(reused)
    return trace
