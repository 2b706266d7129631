"""The wire's error body, and the one place where exceptions become it.

Routes raise ``WireError`` (or let FastAPI, Starlette or an engine raise theirs); the
handlers that ``install_error_handlers`` adds turn every one of them into::

    {"error": {"message": "...", "type": "invalid_request_error", "param": "voice",
               "code": "voice_not_found"}}

with the status the protocol gives it, so that no request is answered with FastAPI's
422 shape or a bare 500. Messages quote bad values in short (``reprlib``) and are cut at
``MAX_MESSAGE_CHARS``, so that an error never echoes a large input back.
"""

from __future__ import annotations

import logging
import reprlib
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from ..engines import EngineArgumentError, EngineError, UnknownVoice
from .pool import PoolFull, QueueTimeout
from .worker import ServerClosing, SynthesisTimeout

__all__ = [
    "MAX_MESSAGE_CHARS",
    "WireError",
    "bad_request",
    "error_body",
    "error_response",
    "from_validation_errors",
    "install_error_handlers",
    "wire_error_for",
]

_LOGGER = logging.getLogger("ttskit.server")

#: longest error message sent; longer ones are cut
MAX_MESSAGE_CHARS = 1000

_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
}

_CODES = {
    400: "invalid_value",
    401: "invalid_api_key",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "rate_limit_exceeded",
    500: "internal_error",
    503: "overloaded",
}


class WireError(HTTPException):
    """An error answer of the speech API: a status and the fields of the error body.

    It derives from Starlette's ``HTTPException`` so that FastAPI lets it pass through
    its own body handling unchanged.

    Parameters
    ----------
    status_code : int
    message : str
        Says what was wrong, quoting the bad value.
    param : str, optional
        The request field at fault (``"voice"``, ``"sample_rate"``).
    code : str, optional
        Machine-readable reason; a default per status when omitted.
    type : str, optional
        The error's ``type``; ``invalid_request_error`` for 4xx, ``server_error`` for 5xx.
    headers : dict, optional
        Extra response headers (``Retry-After``).
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 1] + "\u2026"
        super().__init__(status_code, message, headers)
        self.message = message
        self.param = param
        self.code = code or _CODES.get(status_code)
        default_type = "server_error" if status_code >= 500 else "invalid_request_error"
        self.type = type or _TYPES.get(status_code, default_type)

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


def bad_request(message: str, *, param: str | None, code: str = "invalid_value") -> WireError:
    """A 400 about one request field."""
    return WireError(400, message, param=param, code=code)


def error_body(
    message: str, *, type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_response(error: WireError) -> JSONResponse:
    """The HTTP response carrying ``error``."""
    return JSONResponse(error.body(), status_code=error.status_code, headers=error.headers)


# --- validation errors ---------------------------------------------------------------------

_TYPE_ERRORS = ("_type", "_parsing")


def from_validation_errors(errors: list[Any]) -> WireError:
    """A 400 naming the first field pydantic (or FastAPI) found at fault.

    ``errors`` are pydantic's error dicts; locations such as ``("body", "speed")`` or
    ``("query", "model")`` name the field without their first part.
    """
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query")]
    param = ".".join(location) or None
    kind = str(first.get("type", ""))
    if kind == "missing":
        return bad_request(f"missing required field {param!r}", param=param, code="missing")
    is_type_error = kind.endswith(_TYPE_ERRORS) or kind == "model_type"
    message = str(first.get("msg", "invalid value"))
    if "input" in first and kind != "model_type":
        message += f", got {reprlib.repr(first['input'])}"
    where = f"{param}: " if param else "request body: "
    return bad_request(
        where + message, param=param, code="invalid_type" if is_type_error else "invalid_value"
    )


# --- exceptions of the layers below ---------------------------------------------------------


def wire_error_for(exc: BaseException) -> WireError:
    """The error answer for any exception a request ran into.

    This is the one mapping from exceptions to the wire: the HTTP handlers, the error
    event that ends a broken stream and the WebSocket's ``tts.failed`` all use it.
    """
    if isinstance(exc, WireError):
        return exc
    if isinstance(exc, UnknownVoice):
        return WireError(400, str(exc), param="voice", code="voice_not_found")
    if isinstance(exc, PoolFull):
        retry = {"Retry-After": "1", "retry-after-ms": "1000", "x-ratelimit-reset": "1"}
        if exc.over_share:
            return WireError(
                429,
                f"{exc}; retry once one of them is done",
                code="client_share_exceeded",
                headers=retry,
            )
        return WireError(429, f"the server is busy ({exc}); retry shortly", headers=retry)
    if isinstance(exc, QueueTimeout):
        seconds = int(exc.retry_after)
        return WireError(
            503,
            f"the server is busy ({exc}); retry in {seconds} s",
            headers={
                "Retry-After": str(seconds),
                "retry-after-ms": str(seconds * 1000),
                "x-ratelimit-reset": str(seconds),
            },
        )
    if isinstance(exc, SynthesisTimeout):
        return WireError(503, str(exc), code="synthesis_timeout")
    if isinstance(exc, ServerClosing):
        return WireError(503, str(exc), code="server_closing")
    if isinstance(exc, ValidationError):
        return from_validation_errors(exc.errors())
    if isinstance(exc, EngineArgumentError):
        return WireError(400, str(exc), code="invalid_value")
    if isinstance(exc, EngineError):
        return WireError(500, f"the engine failed: {exc}", code="engine_error")
    return WireError(500, f"internal server error ({type(exc).__name__})")


# --- handlers -------------------------------------------------------------------------------


async def _known_error(request: Request, exc: Exception) -> JSONResponse:
    error = wire_error_for(exc)
    if error.status_code == 500:
        _LOGGER.error("%s %s failed: %s", request.method, request.url.path, exc, exc_info=exc)
    elif error.status_code > 500:  # overloaded: one line, no traceback
        _LOGGER.warning("%s %s: %s", request.method, request.url.path, error.message)
    return error_response(error)


async def _http_exception(request: Request, exc: HTTPException) -> JSONResponse:
    if exc.status_code == 404:
        message = f"no such path: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    return error_response(WireError(exc.status_code, message, headers=exc.headers))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return error_response(from_validation_errors(list(exc.errors())))


def install_error_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` answer with the wire's error body.

    Exceptions no handler knows are answered by ``ServerMiddleware`` (one log record
    each), not by a handler here: Starlette re-raises after such a handler, and uvicorn
    would log the same traceback a second time.
    """
    known = (WireError, UnknownVoice, PoolFull, QueueTimeout, SynthesisTimeout, EngineError)
    for kind in (*known, ValidationError):
        app.add_exception_handler(kind, _known_error)
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
