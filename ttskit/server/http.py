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
  stopped reading use it;
- open connections (WebSocket sessions included) are bounded below the process's
  descriptor limit, overall and per client (``ConnectionBudget``, in
  ``ttskit.server.connections``): a connection beyond its bound may only ask for
  ``/health``; anything else gets 503 with ``Retry-After``, and one that sends nothing
  is closed after a second. Far beyond the bound a connection is closed as it opens, so
  the server never runs out of descriptors to accept with;
- errors of one kind (a failed ``accept``, clients gone) are logged once per interval
  with a count (``ttskit.server.logs``), never once per failure.

Deadlines on the body and on writes are the app's, in ``ttskit.server.limits``, because
only the app knows when it reads and writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from .connections import (
    ConnectionBudget,
    client_share_for,
    peer_of,
    raise_open_file_limit,
)
from .errors import error_body
from .logs import summarize_repeated_logs

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
#: seconds a connection beyond its bound has to send its request line and headers
OVER_BOUND_HEADER_TIMEOUT = 1.0
#: the path a connection beyond its bound may still ask for
HEALTH_PATH = "/health"


_RETRY_AFTER_OVER_BOUND = 1


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


def _over_bound_error() -> bytes:
    body = json.dumps(
        error_body(
            "the server holds as many connections as it can; retry later",
            type="server_error",
            code="too_many_connections",
        )
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        f"retry-after: {_RETRY_AFTER_OVER_BOUND}\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _AbortableApp:
    """The app, called with ``CONNECTION_EXTENSION`` in its scope.

    ``over`` says whether the connection is beyond its bound: then only ``/health`` is
    served, and other requests get 503 with ``Retry-After``.
    """

    def __init__(
        self,
        app: ASGIApp,
        abort: Callable[[Scope], None],
        over: Callable[[], bool] = lambda: False,
    ) -> None:
        self.app = app
        self._abort = abort
        self._over = over

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._over() and scope.get("path") != HEALTH_PATH:
            await _refuse(send)
            return
        extensions = scope.setdefault("extensions", {})
        extensions[CONNECTION_EXTENSION] = {"abort": lambda: self._abort(scope)}
        await self.app(scope, receive, send)


async def _refuse(send: Send) -> None:
    head, _, body = _over_bound_error().partition(b"\r\n\r\n")
    headers = [
        tuple(part.strip() for part in line.split(b":", 1)) for line in head.split(b"\r\n")[1:]
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _send_without_delay(transport: asyncio.BaseTransport) -> None:
    """Turn off Nagle's algorithm on a TCP connection.

    asyncio does so only for sockets that say they are TCP (``proto`` 6); a socket made
    as ``socket.socket(AF_INET, SOCK_STREAM)``, as uvicorn binds for ``workers`` and
    ``LocalServer`` did, says 0, and its accepted connections keep Nagle on. Then an
    answer's body, written after its head, waits for the client's delayed ACK of the
    head: 40 ms added to every request but a connection's first.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class TTSKitHTTPProtocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline, JSON error bodies and aborts."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    budget: ConnectionBudget | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app = _AbortableApp(self.app, self._abort, lambda: self._over)
        self._header_timer: asyncio.TimerHandle | None = None
        self._bytes_waiting = 0
        self._scope_seen: Any = None
        self._over = False
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if self.budget is not None:
            admitted = self.budget.admit(transport, peer_of(transport))
            if admitted == "closed":
                # Not even the spare is left: the descriptor goes back at once.
                self.transport = transport
                self._refused = True
                transport.abort()
                return
            self._over = admitted == "over"
        _send_without_delay(transport)
        super().connection_made(transport)
        self._wait_for_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.budget is not None:
            self.budget.release(self.transport)
        if self._refused:
            return
        self._stop_header_timer()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self, event: Any) -> None:
        if self._over:
            self._stop_header_timer()
            self.transport.write(_over_bound_error())
            self.transport.close()
            return
        super().handle_websocket_upgrade(event)

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
        timeout = OVER_BOUND_HEADER_TIMEOUT if self._over else self.header_timeout
        self._header_timer = self.loop.call_later(timeout, self._headers_late)

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

    budget: ConnectionBudget | None = None

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

    def connection_lost(self, exc: Exception | None) -> None:
        if self.budget is not None:
            self.budget.release(self.transport)
        super().connection_lost(exc)

    def _abort(self, scope: Scope) -> None:
        self.transport.abort()


def server_config(
    app: Any, *, budget: ConnectionBudget | None = None, **options: Any
) -> uvicorn.Config:
    """The ``uvicorn.Config`` that ttskit serves ``app`` with.

    The header deadline and the largest WebSocket message come from the app's limits
    when it is a ttskit app (``create_app``); one client's share of the slots, unless the
    app names one, from the address served on (``client_share_for``). The soft limit of
    open descriptors is raised to the hard one, and connections are bounded below it
    (``ConnectionBudget.for_descriptors``) unless ``budget`` says otherwise; repeated
    log records are summarized (``summarize_repeated_logs``).

    Parameters
    ----------
    app : ASGI app
    budget : ConnectionBudget, optional
        The bound on connections.
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
        if state.client_share is None:
            # A Unix socket's clients are the machine's own processes, as on loopback.
            local = "uds" in options or "fd" in options
            host = None if local else options.get("host", "127.0.0.1")
            state.share_slots(client_share_for(host))
    if budget is None:
        budget = ConnectionBudget.for_descriptors(raise_open_file_limit())
    http = type(
        "TTSKitHTTPProtocol",
        (TTSKitHTTPProtocol,),
        {"header_timeout": header_timeout, "budget": budget},
    )
    ws = type("TTSKitWebSocketProtocol", (TTSKitWebSocketProtocol,), {"budget": budget})
    config = uvicorn.Config(app, http=http, ws=ws, **options)
    # uvicorn configures its loggers when the config is made; the filters go on after.
    summarize_repeated_logs()
    return config
