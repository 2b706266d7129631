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
  descriptor limit, overall and per peer address (``ConnectionBudget``): a connection
  beyond its bound may only ask for ``/health``; anything else gets 503 with
  ``Retry-After``, and one that sends nothing is closed after a second. Far beyond the
  bound a connection is closed as it opens, so the server never runs out of descriptors
  to accept with;
- errors of one kind (a failed ``accept``, clients gone) are logged once per interval
  with a count (``SummarizingFilter``), never once per failure.

Deadlines on the body and on writes are the app's, in ``ttskit.server.limits``, because
only the app knows when it reads and writes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from ..errors import InvalidArgument
from .errors import error_body

__all__ = [
    "CONNECTION_EXTENSION",
    "DEFAULT_HEADER_TIMEOUT",
    "ConnectionBudget",
    "SummarizingFilter",
    "abort_connection",
    "raise_open_file_limit",
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


def raise_open_file_limit() -> int:
    """Raise the soft limit of open descriptors to the hard one where allowed; the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass  # some systems cap the soft limit below an infinite hard one
    return soft


class ConnectionBudget:
    """How many connections the server holds, overall and per peer address.

    A connection within both bounds is served. One beyond either is *over*: it may ask
    for ``/health`` and gets 503 for anything else. One that would take the count past
    ``limit + spare`` is closed as it opens: the spare descriptors are what keeps
    ``/health`` and the 503s answerable while the server is full.

    Parameters
    ----------
    limit : int
        Connections served at once.
    per_client : int, optional
        Connections served at once from one peer address; by default half of ``limit``.
    spare : int, optional
        Connections kept open beyond ``limit`` to answer them; by default an eighth of
        ``limit``, at least 8.

    Examples
    --------
    >>> budget = ConnectionBudget(2, per_client=1, spare=1)
    >>> [budget.admit(key, "127.0.0.2") for key in range(4)]
    ['served', 'over', 'over', 'closed']
    >>> budget.admit(9, "127.0.0.1")
    'closed'
    >>> budget.release(1)
    >>> budget.admit(9, "127.0.0.1")
    'served'
    """

    def __init__(self, limit: int, *, per_client: int | None = None, spare: int | None = None):
        if limit < 1:
            raise InvalidArgument(f"limit must be >= 1, got {limit!r}")
        self.limit = limit
        self.per_client = max(1, limit // 2) if per_client is None else per_client
        self.spare = max(8, limit // 8) if spare is None else spare
        self._peer_of: dict[object, str] = {}
        self._served: dict[object, bool] = {}
        self._served_per_peer: Counter[str] = Counter()

    @classmethod
    def for_descriptors(cls, descriptors: int) -> ConnectionBudget:
        """The budget for a process allowed ``descriptors`` open files.

        A quarter of them (at least 32) stays for engines, logs and the spare, and the
        rest is the bound.
        """
        reserve = max(32, descriptors // 4)
        limit = max(1, descriptors - reserve)
        return cls(limit, spare=max(8, reserve // 2))

    @property
    def open(self) -> int:
        """Connections held, over ones included."""
        return len(self._peer_of)

    @property
    def served(self) -> int:
        """Connections within their bounds."""
        return sum(self._served.values())

    def admit(self, key: object, peer: str) -> str:
        """``"served"``, ``"over"`` or ``"closed"`` for a new connection ``key`` from ``peer``."""
        if key in self._peer_of:
            return "served" if self._served[key] else "over"
        if self.open >= self.limit + self.spare:
            return "closed"
        served = self.served < self.limit and self._served_per_peer[peer] < self.per_client
        self._peer_of[key] = peer
        self._served[key] = served
        if served:
            self._served_per_peer[peer] += 1
        return "served" if served else "over"

    def release(self, key: object) -> None:
        """Forget connection ``key`` (closed)."""
        peer = self._peer_of.pop(key, None)
        if peer is not None and self._served.pop(key):
            self._served_per_peer[peer] -= 1
            if not self._served_per_peer[peer]:
                del self._served_per_peer[peer]


class SummarizingFilter(logging.Filter):
    """Lets the first record of a kind through per ``interval``; counts the rest.

    Records below ``level`` pass as they come.
    A kind is the logger, the level, the message's template and the exception's type. The
    first record of a kind after an interval in which more were held back says how many
    (``(and 1234 more like it in the last 10 s)``), without their tracebacks.

    Parameters
    ----------
    interval : float
        Seconds.
    level : int
        The lowest level summarized.
    clock : callable
        Seconds, monotonic; injectable for tests.
    """

    def __init__(
        self,
        interval: float = 10.0,
        *,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.level = level
        self._clock = clock
        self._kinds: dict[tuple[Any, ...], list[float]] = {}  # kind -> [since, held back]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level:
            return True
        exc_type = record.exc_info[0] if record.exc_info else None
        kind = (record.name, record.levelno, str(record.msg), exc_type)
        now = self._clock()
        seen = self._kinds.get(kind)
        if seen is None or now - seen[0] >= self.interval:
            held = int(seen[1]) if seen else 0
            self._kinds[kind] = [now, 0]
            if held:
                record.msg = f"{record.msg} (and {held} more like it in the last %.0f s)"
                record.args = (*_as_tuple(record.args), now - seen[0])
                record.exc_info = None
                record.exc_text = None
            if len(self._kinds) > 1000:  # kinds are few; a flood of new ones is not kept
                self._kinds = {kind: self._kinds[kind]}
            return True
        seen[1] += 1
        return False


def _as_tuple(args: Any) -> tuple[Any, ...]:
    if args is None:
        return ()
    return args if isinstance(args, tuple) else (args,)


#: the loggers whose repeated records are summarized while ttskit serves, from which level:
#: uvicorn's own lines of every connection (opened, accepted, closed) at every level
SUMMARIZED_LOGGERS = {
    "asyncio": logging.WARNING,
    "uvicorn.error": logging.DEBUG,
    "uvicorn.access": logging.WARNING,
    "ttskit.server": logging.WARNING,
}


def summarize_repeated_logs(interval: float = 10.0) -> None:
    """Put one ``SummarizingFilter`` on each of ``SUMMARIZED_LOGGERS`` (once)."""
    for name, level in SUMMARIZED_LOGGERS.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, SummarizingFilter) for f in logger.filters):
            logger.addFilter(SummarizingFilter(interval, level=level))


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)


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
            admitted = self.budget.admit(transport, _peer(transport))
            if admitted == "closed":
                # Not even the spare is left: the descriptor goes back at once.
                self.transport = transport
                self._refused = True
                transport.abort()
                return
            self._over = admitted == "over"
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
    when it is a ttskit app (``create_app``). The soft limit of open descriptors is
    raised to the hard one, and connections are bounded below it
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
