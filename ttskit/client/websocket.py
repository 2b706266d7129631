"""The WebSocket under a realtime session: handshake with retries, JSON messages, errors.

The handshake is retried like an HTTP request (429 and 5xx refusals, failed connections),
waiting what the server asks for in ``Retry-After``; a refusal that is not retried raises
the ``APIError`` for its status, with ``retry_after`` set. websockets' debug log, which
shows every handshake header, passes through ``errors.redact``.
"""

from __future__ import annotations

import asyncio
import builtins
import inspect
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from ..errors import (
    ConnectError,
    ProtocolError,
    RateLimitError,
    ReadError,
    ServiceUnavailableError,
    TimeoutError,
    api_error_for_status,
    redact,
)
from .session import backoff, retryable
from .transport import retry_after

__all__ = ["AsyncWebSocket", "Closed", "WebSocket"]

logger = logging.getLogger("ttskit.realtime")


class _RedactingLogger(logging.LoggerAdapter):
    """websockets logs every handshake header at DEBUG, Authorization included."""

    def __init__(self, target: logging.Logger, secret: str | None) -> None:
        super().__init__(target, {})
        self._secret = secret

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if args:
            args = tuple(
                redact(a.decode("utf-8", "replace") if isinstance(a, bytes) else a, self._secret)
                if isinstance(a, str | bytes)
                else a
                for a in args
            )
        super().log(level, msg, *args, **kwargs)


class Closed(Exception):
    """The server closed the session normally."""


class WebSocket:
    """A synchronous websockets connection speaking JSON, with ttskit errors."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket

    @classmethod
    def open(
        cls,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = 0,
        max_retry_wait: float = 60.0,
    ) -> WebSocket:
        """Connect, retrying refusals worth retrying; the key goes in a header only."""
        headers = _handshake_headers(headers, api_key)
        for attempt in range(max_retries + 1):
            try:
                return cls(cls._connect(url, headers, api_key, timeout))
            except (RateLimitError, ServiceUnavailableError, ConnectError) as error:
                wait = retry_wait(error, attempt, max_retries, max_retry_wait)
                if wait is None:
                    raise
                logger.debug("WebSocket %s: %s; retrying in %.2fs", url, error, wait)
                sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _connect(url: str, headers: dict[str, str], api_key: str | None, timeout: float) -> Any:
        """The open socket, or a ttskit error for a refused or failed handshake."""
        from websockets.exceptions import InvalidStatus, WebSocketException
        from websockets.sync.client import connect

        try:
            # Entered as a context manager, the form every websockets version accepts
            # without a warning; close() ends it.
            return connect(url, **_connect_options(headers, api_key, timeout)).__enter__()
        except InvalidStatus as exc:
            raise refused(exc, api_key) from exc
        except (OSError, WebSocketException) as exc:
            raise connect_failed(exc, url, api_key) from exc

    def send(self, message: dict) -> None:
        """Send one JSON message."""
        from websockets.exceptions import ConnectionClosed

        try:
            self._socket.send(json.dumps(message, ensure_ascii=False))
        except ConnectionClosed as exc:
            raise ReadError(f"the WebSocket is closed: {exc}") from exc

    def receive(self, timeout: float | None) -> dict:
        """The next JSON message; ``Closed`` once the server closed the socket normally."""
        from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

        try:
            message = self._socket.recv(timeout=timeout)
        except builtins.TimeoutError as exc:
            raise TimeoutError(f"no event from the server within {timeout}s") from exc
        except ConnectionClosedOK as exc:
            raise Closed() from exc
        except ConnectionClosed as exc:
            raise ReadError(f"the WebSocket was closed: {exc}") from exc
        return parse(message)

    def close(self, *, abort: bool = False) -> None:
        """Close the session; ``abort`` skips waiting for the server's answer to the close
        (a server that floods the socket would hold it for websockets' close timeout)."""
        if abort:
            self._socket.close_timeout = 0
        self._socket.close()


class AsyncWebSocket:
    """``WebSocket`` on websockets' asyncio client: the same messages and errors."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        sleep: Callable[[float], Any] = asyncio.sleep,
        max_retries: int = 0,
        max_retry_wait: float = 60.0,
    ) -> AsyncWebSocket:
        """Connect as ``WebSocket.open`` does; ``sleep`` may be a coroutine function."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus, WebSocketException

        headers = _handshake_headers(headers, api_key)
        for attempt in range(max_retries + 1):
            try:
                try:
                    socket = await connect(url, **_connect_options(headers, api_key, timeout))
                except InvalidStatus as exc:
                    raise refused(exc, api_key) from exc
                except (OSError, WebSocketException, builtins.TimeoutError) as exc:
                    raise connect_failed(exc, url, api_key) from exc
                return cls(socket)
            except (RateLimitError, ServiceUnavailableError, ConnectError) as error:
                wait = retry_wait(error, attempt, max_retries, max_retry_wait)
                if wait is None:
                    raise
                logger.debug("WebSocket %s: %s; retrying in %.2fs", url, error, wait)
                waited = sleep(wait)
                if inspect.isawaitable(waited):
                    await waited
        raise AssertionError("unreachable")  # pragma: no cover

    async def send(self, message: dict) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            await self._socket.send(json.dumps(message, ensure_ascii=False))
        except ConnectionClosed as exc:
            raise ReadError(f"the WebSocket is closed: {exc}") from exc

    async def receive(self, timeout: float | None) -> dict:
        """The next JSON message; ``Closed`` once the server closed the socket normally.

        Cancelling websockets' ``recv`` loses nothing, so a timeout leaves the socket usable.
        """
        from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

        try:
            message = await asyncio.wait_for(self._socket.recv(), timeout)
        except builtins.TimeoutError as exc:
            raise TimeoutError(f"no event from the server within {timeout}s") from exc
        except ConnectionClosedOK as exc:
            raise Closed() from exc
        except ConnectionClosed as exc:
            raise ReadError(f"the WebSocket was closed: {exc}") from exc
        return parse(message)

    async def close(self, *, abort: bool = False) -> None:
        if abort:
            self._socket.close_timeout = 0
        await self._socket.close()


def retry_wait(
    error: BaseException, attempt: int, max_retries: int, max_retry_wait: float
) -> float | None:
    """Seconds to wait before trying a refused handshake again (by the HTTP client's rule,
    ``session.retryable`` and ``session.backoff``); None to give up."""
    status = getattr(error, "status_code", None)  # None: the connection failed
    if attempt == max_retries or (status is not None and not retryable(status)):
        return None
    return backoff(attempt, getattr(error, "retry_after", None), max_retry_wait)


def _handshake_headers(headers: dict[str, str] | None, api_key: str | None) -> dict[str, str]:
    headers = dict(headers or {})
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def _connect_options(headers: dict[str, str], api_key: str | None, timeout: float) -> dict:
    """What both websockets clients connect with (frames up to 16 MiB; a redacted log)."""
    return {
        "additional_headers": headers,
        "open_timeout": timeout,
        "max_size": 2**24,
        "logger": _RedactingLogger(logging.getLogger("websockets.client"), api_key),
    }


def refused(exc: Any, api_key: str | None) -> Exception:
    """The ``APIError`` for a handshake the server answered with an HTTP error."""
    response = exc.response
    status = response.status_code
    body = response.body.decode("utf-8", "replace") if response.body else ""
    message = redact(_error_message(body) or f"WebSocket refused: HTTP {status}", api_key)
    return api_error_for_status(status)(
        message, status_code=status, retry_after=retry_after(response.headers)
    )


def connect_failed(exc: BaseException, url: str, api_key: str | None) -> ConnectError:
    message = f"could not open {url}: {type(exc).__name__}: {exc}"
    return ConnectError(redact(message, api_key))


def parse(message: str | bytes) -> dict:
    """A WebSocket message as a JSON object, or a ``ProtocolError``."""
    try:
        payload = json.loads(message)
    except ValueError as exc:
        raise ProtocolError(f"a WebSocket message is not JSON: {str(message)[:200]!r}") from exc
    if not isinstance(payload, dict):
        raise ProtocolError(f"a WebSocket message is not a JSON object: {str(message)[:200]!r}")
    return payload


def _error_message(body: str) -> str | None:
    try:
        error = json.loads(body).get("error", {})
    except (ValueError, AttributeError):
        return body[:300] or None
    return error.get("message") if isinstance(error, dict) else str(error)
