"""Keeping web pages of other origins away from a local server.

A browser lets any page send a "simple" cross-origin POST (``text/plain``, no preflight)
and open a WebSocket anywhere, so without a check any web site a user visits could make
a keyless server on their machine speak, or read its answers. Browsers name the page's
origin in the ``Origin`` header of both, so the server refuses:

- a WebSocket upgrade or a POST whose ``Origin`` is neither the server's own (the scheme
  and ``Host`` the request was sent to, when that is an address or ``localhost``) nor in
  the allow-list (``ttskit serve --cors-origin``); 403 with the wire's error body;
- a POST to the speech endpoint whose body is not declared JSON; 415.

Requests without ``Origin`` (every non-browser client) are not affected by the first rule.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import InvalidArgument
from .errors import WireError, error_response

__all__ = ["JSON_PATHS", "OriginMiddleware", "normalize_origin"]

#: paths whose POST body must be declared JSON
JSON_PATHS = frozenset({"/v1/audio/speech"})
_CHECKED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def normalize_origin(origin: str) -> str:
    """``scheme://host:port`` in lower case with the port spelled out.

    Raises
    ------
    InvalidArgument
        (a ``ValueError``) For anything that is not ``scheme://host[:port]``.
    """
    scheme, sep, rest = origin.strip().lower().partition("://")
    if not sep or scheme not in _DEFAULT_PORTS or not rest or "/" in rest.rstrip("/"):
        raise InvalidArgument(f"expected an origin such as http://localhost:8888, got {origin!r}")
    rest = rest.rstrip("/")
    host, port = rest, _DEFAULT_PORTS[scheme]
    if rest.startswith("["):  # IPv6: [::1]:8000
        end = rest.find("]")
        host, tail = rest[: end + 1], rest[end + 1 :]
        port = tail[1:] if tail.startswith(":") else port
    elif ":" in rest:
        host, _, port = rest.rpartition(":")
    return f"{scheme}://{host}:{port}"


def _own_origin(scope: Scope, headers: Headers) -> str | None:
    """The origin the request was sent to, if a page of it may call the server.

    Only addresses and ``localhost`` count: a page of any other name that equals the
    ``Host`` may be a DNS rebinding attack, a foreign site whose name now points here.
    Such names go in the allow-list.
    """
    host = headers.get("host")
    if not host:
        return None
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme"))
    try:
        origin = normalize_origin(f"{scheme}://{host}")
    except ValueError:
        return None
    name = origin.split("://", 1)[1].rsplit(":", 1)[0].strip("[]")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        if name != "localhost":
            return None
    return origin


def _json_declared(headers: Headers) -> bool:
    media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


class OriginMiddleware:
    """Refuses cross-origin WebSocket upgrades and POSTs, and non-JSON speech requests.

    Parameters
    ----------
    app : ASGI app
    allowed_origins : iterable of str
        Origins that may call the server besides its own, e.g. ``http://localhost:8888``;
        ``"*"`` allows every origin.
    """

    def __init__(self, app: ASGIApp, *, allowed_origins: Iterable[str] = ()) -> None:
        self.app = app
        origins = list(allowed_origins)
        self.allow_all = "*" in origins
        self.allowed = frozenset(normalize_origin(o) for o in origins if o != "*")

    def allows(self, origin: str, own: str | None) -> bool:
        """Whether a page of ``origin`` may call a server reached as ``own``."""
        if self.allow_all:
            return True
        try:
            normalized = normalize_origin(origin)
        except ValueError:
            return False  # "null" (sandboxed frames, files) and anything malformed
        return normalized == own or normalized in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        method = scope.get("method", "GET")
        error = None
        origin = headers.get("origin")
        checked = scope["type"] == "websocket" or method in _CHECKED_METHODS
        if checked and origin is not None and not self.allows(origin, _own_origin(scope, headers)):
            error = WireError(
                403,
                f"requests from the web page origin {origin[:100]!r} are not allowed; "
                "start the server with --cors-origin ORIGIN to allow it",
                param="origin",
                code="origin_not_allowed",
            )
        elif method == "POST" and scope["path"] in JSON_PATHS and not _json_declared(headers):
            declared = headers.get("content-type")
            error = WireError(
                415,
                f"the request body must be JSON, sent with 'Content-Type: application/json' "
                f"(got {declared[:100]!r})"
                if declared
                else "the request body must be JSON; send 'Content-Type: application/json'",
                param="content-type",
                code="unsupported_media_type",
            )
        if error is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "http" or "websocket.http.response" in scope.get("extensions", {}):
            await error_response(error)(scope, receive, send)
        else:
            await send({"type": "websocket.close", "code": 1008, "reason": "origin not allowed"})
