"""The boundary with requests and urllib3: body reads under a deadline, and ttskit errors
for what the network and the server say (translated here, chained with ``from exc``).

Nothing it raises quotes an API key: every message passes through ``errors.redact``.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests

from ..errors import (
    APIError,
    ConfigurationError,
    ConnectError,
    ProtocolError,
    ReadError,
    TimeoutError,
    TransportError,
    api_error_for_status,
    redact,
)

__all__ = [
    "api_error",
    "error_of_answer",
    "iter_body",
    "json_of_answer",
    "os_reason",
    "request_id",
    "retry_after",
    "translate",
]

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-together-request-id", "cf-ray")
# "[Errno 111] Connection refused" inside urllib3's messages, the reason a person needs.
_ERRNO_REASON = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def os_reason(exc: BaseException) -> str:
    """The operating system's words for a failed connection ("connection refused"), or the
    exception's type when it gave none."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror.lower()
        seen = seen.__cause__ or seen.__context__
    match = _ERRNO_REASON.search(str(exc))
    if match:
        return match.group(1).strip().lower()
    if "Name or service not known" in str(exc) or "nodename nor servname" in str(exc):
        return "the host name is not known"
    return type(exc).__name__


def _incomplete_read(exc: BaseException) -> tuple[int, int | None] | None:
    """``(bytes read, bytes expected in all)`` when ``exc`` is, or wraps, an incomplete read.

    urllib3 wraps its ``IncompleteRead(read, more)`` in a ``ProtocolError``'s args, and
    requests wraps that again; http.client's has the bytes read and those still expected.
    """
    import http.client

    import urllib3.exceptions as u3

    seen: list[BaseException] = [exc]
    while seen:
        current = seen.pop()
        if isinstance(current, u3.IncompleteRead):
            return current.partial, current.partial + current.expected
        if isinstance(current, http.client.IncompleteRead):
            read = len(current.partial)
            return read, None if current.expected is None else read + current.expected
        seen.extend(arg for arg in current.args if isinstance(arg, BaseException))
        seen.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return None


def _cut_message(exc: Exception, what: str, received: int | None, expected: int | None) -> str:
    """Why a body ended early, in bytes when they are known, without urllib3's reprs."""
    counts = _incomplete_read(exc)
    if counts is not None:
        received, expected = counts
    if received is None:
        return f"the server closed the connection before the answer to {what} was complete"
    of = "" if expected is None else f" of {expected}"
    return f"the server closed the connection after {received}{of} bytes of the answer to {what}"


def translate(
    exc: Exception,
    what: str,
    secret: str | None = None,
    *,
    received: int | None = None,
    expected: int | None = None,
) -> TransportError | ConfigurationError:
    """A ttskit error for an exception raised by requests or urllib3 while doing ``what``.

    ``received`` and ``expected`` (bytes of the body read so far, and its Content-Length)
    let a body cut short say how much of it came.
    """
    import urllib3.exceptions as u3

    if isinstance(exc, requests.exceptions.InvalidHeader):
        # Its text quotes the header value, which may be the Authorization header.
        return ConfigurationError(
            f"a request header is not valid for {what}: "
            "check headers= for whitespace or control characters"
        )
    cls: type[TransportError | ConfigurationError]
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        cls, message = ConfigurationError, f"bad URL for {what}: {exc}"
    elif isinstance(exc, requests.exceptions.ConnectTimeout):
        cls, message = ConnectError, f"timed out connecting for {what}"
    elif isinstance(exc, requests.exceptions.ReadTimeout | u3.ReadTimeoutError):
        cls, message = TimeoutError, f"no answer in time for {what}"
    elif isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(
        exc.args[0] if exc.args else None, u3.ProtocolError
    ):
        cls, message = ConnectError, f"could not connect for {what}: {os_reason(exc)}"
    elif isinstance(exc, requests.exceptions.ChunkedEncodingError | u3.ProtocolError) or (
        _incomplete_read(exc) is not None
    ):
        cls, message = ReadError, _cut_message(exc, what, received, expected)
    else:
        cls, message = ReadError, f"the connection broke during {what}: {type(exc).__name__}: {exc}"
    return cls(redact(message, secret))


def iter_body(
    response: requests.Response,
    what: str,
    secret: str | None,
    *,
    deadline: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
    size: int = 65536,
) -> Iterator[bytes]:
    """The body as it comes off the socket: each read returns what has arrived.

    ``deadline`` (a ``clock()`` reading) bounds the whole read: a server that keeps
    sending a little (SSE comments, slow deltas) cannot hold the call past it.
    """
    import http.client

    import urllib3.exceptions as u3

    raw = response.raw
    received = 0
    length = response.headers.get("Content-Length", "")
    expected = int(length) if length.isdigit() else None

    def reads() -> Iterator[bytes]:
        read1 = getattr(raw, "read1", None)
        if getattr(raw, "chunked", False) and raw.supports_chunked_reads():
            # Chunked bodies (what streaming servers send) come one HTTP chunk per read.
            yield from raw.read_chunked(None, decode_content=True)
        elif read1 is None:  # urllib3 1.x
            yield from response.iter_content(chunk_size=None)
        else:
            # read1 returns whatever has arrived instead of waiting for ``size``.
            while data := read1(size, decode_content=True):
                yield data
            release = getattr(raw, "release_conn", None)
            if release is not None:  # the whole body was read: the connection is reusable
                release()

    try:
        for data in reads():
            if deadline is not None and clock() > deadline:
                raise TimeoutError(
                    redact(f"{what} did not finish within the client's timeout", secret)
                )
            received += len(data)
            yield data
    except (
        requests.exceptions.RequestException,
        u3.HTTPError,
        http.client.HTTPException,
        OSError,
    ) as exc:
        raise translate(exc, what, secret, received=received, expected=expected) from exc
    finally:
        response.close()


def api_error(response: requests.Response, secret: str | None, hint: str = "") -> APIError:
    """The ``APIError`` for an error response, with the key scrubbed from what it quotes."""
    return error_of_answer(
        response.status_code, response.headers, response.text, response.reason, secret, hint
    )


def error_of_answer(
    status_code: int,
    headers: Any,
    text: str,
    reason: str | None,
    secret: str | None,
    hint: str = "",
) -> APIError:
    """The ``APIError`` for an error answer's status, headers and body text, whichever
    library read it; the key is scrubbed from what it quotes."""
    body: dict | None = None
    details: dict[str, Any] = {}
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        body = parsed
        error = parsed.get("error", parsed.get("detail", parsed))
        details = error if isinstance(error, dict) else {"message": str(error)}
    message = str(details.get("message") or text[:500] or reason or "")
    if body is not None:
        body = json.loads(redact(json.dumps(body), secret))

    def field(name: str) -> str | None:
        value = details.get(name)
        return None if value is None else redact(str(value), secret)

    cls = api_error_for_status(status_code)
    return cls(
        (redact(message, secret) or f"HTTP {status_code}") + hint,
        status_code=status_code,
        type=field("type"),
        code=field("code"),
        param=field("param"),
        request_id=request_id(headers),
        body=body,
        retry_after=retry_after(headers),
    )


def json_of_answer(text: str, what: str) -> Any:
    """The JSON an answer to ``what`` holds, or ``ProtocolError`` quoting what it held."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ProtocolError(f"{what} did not answer JSON: {text[:200]!r}") from exc


def request_id(headers: Any) -> str | None:
    """The request id a server or its proxy gave the answer, if any."""
    return next((headers[h] for h in _REQUEST_ID_HEADERS if h in headers), None)


def _seconds(value: str) -> float | None:
    value = value.strip().lower()
    try:
        if value.endswith("ms"):
            return float(value[:-2]) / 1000
        return float(value.removesuffix("s"))
    except ValueError:
        return None


def retry_after(headers: Any, now: Callable[[], float] = time.time) -> float | None:
    """Seconds the server asked to wait: ``retry-after-ms``, ``Retry-After`` (seconds or an
    HTTP date), then ``x-ratelimit-reset`` (seconds, or a Unix time); None if none says."""
    if (value := headers.get("retry-after-ms")) is not None and (ms := _seconds(value)) is not None:
        return max(0.0, ms / 1000)
    if (value := headers.get("retry-after")) is not None:
        if (seconds := _seconds(value)) is not None:
            return max(0.0, seconds)
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now())
        except (TypeError, ValueError):
            pass
    if (value := headers.get("x-ratelimit-reset")) is not None and (
        seconds := _seconds(value)
    ) is not None:
        # Large values are an absolute Unix time, small ones a delay.
        return max(0.0, seconds - now() if seconds > 1e9 else seconds)
    return None
