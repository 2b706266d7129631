"""uvicorn as ttskit runs it: header deadlines, error bodies for bad HTTP, clean cuts.

uvicorn's HTTP protocol waits as long as a client likes for the request line and
headers, answers malformed HTTP with a plain-text 400, and has no way for an app to end
a connection on purpose (an unfinished response is logged as an error). ttskit's server
serves its app with the protocol classes here, through ``server_config``:

- the request line and headers must arrive within ``header_timeout`` seconds of the
  connection's start (or of the previous response's end, on a kept-alive connection);
  a client that sent part of a request then gets 408 with the wire's error body, one that
  sent nothing is closed quietly;
- malformed HTTP gets 400 with the wire's error body;
- the app can end a connection at once, without a log line, through the scope extension
  ``CONNECTION_EXTENSION`` (see ``abort_connection``): injected cuts and clients that
  stopped reading use it.

Deadlines on the body and on writes are the app's, in ``ttskit.server.limits``, because
only the app knows when it reads and writes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from .errors import error_body

__all__ = [
    "CONNECTION_EXTENSION",
    "DEFAULT_HEADER_TIMEOUT",
    "abort_connection",
    "server_config",
]

_LOGGER = logging.getLogger("ttskit.server")

#: scope extension carrying ``{"abort": callable}``, which closes the connection at once
CONNECTION_EXTENSION = "ttskit.connection"
#: seconds a client has to send the request line and headers
DEFAULT_HEADER_TIMEOUT = 10.0


def abort_connection(scope: Scope) -> bool:
    """End the connection of ``scope`` at once, unsent data and all.

    Returns False when the server offers no way to (another ASGI server); the caller
    then simply returns, and the server closes the connection its own way.
    """
    abort = scope.get("extensions", {}).get(CONNECTION_EXTENSION, {}).get("abort")
    if abort is None:
        return False
    abort()
    return True


def _raw_error(status: int, reason: str, message: str, code: str) -> bytes:
    body = json.dumps(error_body(message, type="invalid_request_error", code=code)).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _AbortableApp:
    """The app, called with ``CONNECTION_EXTENSION`` in its scope."""

    def __init__(self, app: ASGIApp, abort: Callable[[Scope], None]) -> None:
        self.app = app
        self._abort = abort

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        extensions = scope.setdefault("extensions", {})
        extensions[CONNECTION_EXTENSION] = {"abort": lambda: self._abort(scope)}
        await self.app(scope, receive, send)


class TTSKitHTTPProtocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline, JSON error bodies and aborts."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app = _AbortableApp(self.app, self._abort)
        self._header_timer: asyncio.TimerHandle | None = None
        self._bytes_waiting = 0
        self._scope_seen: Any = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._wait_for_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._bytes_waiting += len(data)
        super().data_received(data)
        self._follow_requests()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._follow_requests()

    def send_400_response(self, msg: str) -> None:
        self._stop_header_timer()
        self.transport.write(
            _raw_error(400, "Bad Request", f"malformed HTTP request: {msg}", "invalid_http")
        )
        self.transport.close()

    # --- the header deadline ------------------------------------------------------------

    def _follow_requests(self) -> None:
        """Stop the header clock when a request's headers are in; restart it after."""
        if self.scope is not None and self.scope is not self._scope_seen:
            self._scope_seen = self.scope
            self._stop_header_timer()
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return  # closed, or handed over to the WebSocket protocol
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and self._header_timer is None:
            self._wait_for_headers()

    def _wait_for_headers(self) -> None:
        self._bytes_waiting = 0
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self._bytes_waiting or self.conn.trailing_data[0]:
            _LOGGER.info(
                "closing a connection whose request headers took over %s s", self.header_timeout
            )
            message = f"the request line and headers did not arrive within {self.header_timeout} s"
            self.transport.write(_raw_error(408, "Request Timeout", message, "request_timeout"))
            self.transport.close()
        else:
            # An idle connection: nothing to answer, and a 408 here could be taken for
            # the answer to the client's next request.
            self.transport.close()

    # --- aborts -----------------------------------------------------------------------------

    def _abort(self, scope: Scope) -> None:
        if self.cycle is not None and self.cycle.scope is scope:
            # The app returns next; uvicorn then sees a client gone, not a broken app.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self._stop_header_timer()
        self.transport.abort()


class TTSKitWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets protocol, with aborts for clients that stop reading, and one
    warning line (no traceback) for a text frame that is not UTF-8."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app = _AbortableApp(self.app, self._abort)

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and not self.close_sent:
            data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
            try:
                data.decode()
            except UnicodeDecodeError as exc:
                self.frames = []
                _LOGGER.warning("closing a WebSocket whose text frame is not UTF-8: %s", exc)
                self.conn.send_close(1007)
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

    def _abort(self, scope: Scope) -> None:
        self.transport.abort()


def server_config(app: Any, **options: Any) -> uvicorn.Config:
    """The ``uvicorn.Config`` that ttskit serves ``app`` with.

    The header deadline and the largest WebSocket message come from the app's limits
    when it is a ttskit app (``create_app``).

    Parameters
    ----------
    app : ASGI app
    **options
        Other ``uvicorn.Config`` options (``host``, ``port``, ``log_level``, ...).

    Returns
    -------
    uvicorn.Config
    """
    state = getattr(getattr(app, "state", None), "ttskit", None)
    header_timeout = DEFAULT_HEADER_TIMEOUT
    if state is not None:
        header_timeout = state.limits.header_timeout
        # A frame past what a request body may carry is answered with an error event by
        # the app; only one far beyond it closes the connection (1009).
        options.setdefault("ws_max_size", max(16 * state.max_body_bytes, 2**20))
        # Deflate costs more CPU than it saves bytes on the audio the server sends.
        options.setdefault("ws_per_message_deflate", False)
    protocol = type("TTSKitHTTPProtocol", (TTSKitHTTPProtocol,), {"header_timeout": header_timeout})
    return uvicorn.Config(app, http=protocol, ws=TTSKitWebSocketProtocol, **options)
