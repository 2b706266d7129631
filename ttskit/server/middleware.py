"""Around every request: a request id, the API key check, one answer for unexpected
errors, and keys kept out of logs."""

from __future__ import annotations

import hmac
import logging
import uuid
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import redact
from .errors import WireError, error_response, wire_error_for
from .http import abort_connection

__all__ = ["OPEN_PATHS", "RedactKeys", "ServerMiddleware", "redact_keys_in_logs"]

_LOGGER = logging.getLogger("ttskit.server")
_STARTS = frozenset({"http.response.start", "websocket.accept", "websocket.close",
                     "websocket.http.response.start"})  # fmt: skip

#: paths that answer without a key, so that a supervisor can probe the server
OPEN_PATHS = frozenset({"/health"})


def _offered_key(scope: Scope) -> str | None:
    authorization = Headers(scope=scope).get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    if scope["type"] == "websocket":
        # Browsers cannot set headers on a WebSocket, hence the query parameter.
        keys = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("api_key")
        if keys:
            return keys[0]
    return None


class ServerMiddleware:
    """Gives each HTTP answer an ``x-request-id``, refuses requests without the key,
    answers an exception that nothing else handled with a 500 error body and one log
    record, and cuts the connection of a response the app left unfinished.

    Parameters
    ----------
    app : ASGI app
    api_key : str, optional
        When set, every path but ``OPEN_PATHS`` needs ``Authorization: Bearer <key>``
        (or, on the WebSocket, ``?api_key=``); keys are compared in constant time.
    """

    def __init__(self, app: ASGIApp, *, api_key: str | None = None) -> None:
        self.app = app
        self._key = api_key.encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http":
            send = _with_request_id(send, f"req_{uuid.uuid4().hex}")
        if self._key is not None and scope["path"] not in OPEN_PATHS:
            offered = _offered_key(scope)
            if offered is None or not hmac.compare_digest(offered.encode(), self._key):
                await self._refuse(scope, receive, send, missing=offered is None)
                return
        await self._answer_errors(scope, receive, send)

    async def _answer_errors(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = completed = False

        async def send_tracked(message: Message) -> None:
            nonlocal started, completed
            started = started or message["type"] in _STARTS
            if message["type"] == "http.response.body" and not message.get("more_body"):
                completed = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
            if scope["type"] == "http" and started and not completed:
                # A response left unfinished on purpose (an injected cut, a client that
                # stopped reading): end the connection as a dropped network would.
                abort_connection(scope)
        except Exception as exc:
            _LOGGER.error(
                "%s %s failed", scope.get("method", "WebSocket"), scope["path"], exc_info=exc
            )
            if started:
                # Too late for an error status: end the connection as a network failure would.
                abort_connection(scope)
            elif scope["type"] == "http":
                await error_response(wire_error_for(exc))(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1011})

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, *, missing: bool) -> None:
        how = "send it as 'Authorization: Bearer <key>'"
        if scope["type"] == "websocket":
            how += " or the api_key query parameter"
        message = f"missing API key; {how}" if missing else "invalid API key"
        response = error_response(WireError(401, message))
        if scope["type"] == "http" or "websocket.http.response" in scope.get("extensions", {}):
            await response(scope, receive, send)
        else:
            await send({"type": "websocket.close", "code": 1008, "reason": "unauthorized"})


def _with_request_id(send: Send, request_id: str) -> Send:
    async def send_with_id(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [
                *message.get("headers", []),
                (b"x-request-id", request_id.encode()),
            ]
        await send(message)

    return send_with_id


class RedactKeys(logging.Filter):
    """Replaces ``api_key=...`` in a log record's message and arguments with ``***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


class DropDenialNoise(logging.Filter):
    """Drops uvicorn's false ERROR after a WebSocket denial response.

    uvicorn's websockets-sansio protocol logs "ASGI callable returned without completing
    handshake" after every denial response (a 401 for a wrong key, an injected 429), though
    the handshake was answered as the ASGI spec allows. ttskit's app always accepts,
    closes or denies, so the message carries no information here.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("ASGI callable returned without completing handshake")


def redact_keys_in_logs() -> None:
    """Keep API keys given as query parameters out of uvicorn's access and error logs,
    and uvicorn's false alarm about WebSocket denials out of its error log."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactKeys) for existing in logger.filters):
            logger.addFilter(RedactKeys())
    error_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(existing, DropDenialNoise) for existing in error_log.filters):
        error_log.addFilter(DropDenialNoise())
