"""Exceptions raised by ttskit.

Every error ttskit raises on purpose derives from ``TTSKitError``::

    TTSKitError
    ├── ConfigurationError      a missing key, a bad base URL, an extra not installed
    │   └── MissingExtra        (also ImportError) an optional extra is not installed
    ├── InvalidArgument         (also ValueError) a bad argument, caught before any request
    │   └── InvalidType         (also TypeError) an argument of the wrong type
    ├── NoSuchItem              (also KeyError) a word, context or item that is not there
    ├── FileError               (also OSError) a file or folder could not be written or read
    ├── TransportError          the request did not get an answer
    │   ├── ConnectError        could not connect
    │   ├── TimeoutError        connected, but no answer in time
    │   └── ReadError           the connection broke while the answer was being read
    ├── APIError                the server answered with an error body
    │   ├── BadRequestError         400
    │   ├── AuthenticationError     401
    │   ├── PaymentRequiredError    402
    │   ├── NotFoundError           404
    │   ├── RateLimitError          429
    │   ├── InternalServerError     500
    │   └── ServiceUnavailableError 503
    ├── ProtocolError           the answer did not follow the wire contract
    ├── StreamInterrupted       a stream ended early; ``.partial`` holds the Speech so far
    └── StreamConsumedError     a stream was read twice

Errors from requests, websockets and the OS are translated where ttskit calls them and
chained with ``raise ... from exc``. Messages never contain an API key.
"""

from __future__ import annotations

import errno as _errno
import re
from typing import Any

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConnectError",
    "FileError",
    "InternalServerError",
    "InvalidArgument",
    "InvalidType",
    "MissingExtra",
    "NoSuchItem",
    "NotFoundError",
    "PaymentRequiredError",
    "ProtocolError",
    "RateLimitError",
    "ReadError",
    "ServiceUnavailableError",
    "StreamConsumedError",
    "StreamInterrupted",
    "TTSKitError",
    "TimeoutError",
    "TransportError",
    "api_error_for_status",
    "check_encodable",
    "redact",
    "require_extra",
]


class TTSKitError(Exception):
    """Base of every error ttskit raises on purpose."""


class ConfigurationError(TTSKitError):
    """ttskit is not set up for what was asked (a key, an endpoint, an optional extra)."""


class MissingExtra(ConfigurationError, ImportError):
    """An optional extra is not installed; the message says what to ``pip install``."""


class InvalidArgument(TTSKitError, ValueError):
    """An argument is wrong; the message quotes it and says what is accepted."""


class InvalidType(InvalidArgument, TypeError):
    """An argument is of the wrong type; the message names the type it got."""


class NoSuchItem(TTSKitError, KeyError):
    """What was asked for (a word of a Speech, a context of a session) is not there."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# What to do about an OS error, by errno.
_FILE_ADVICE = {
    _errno.ENAMETOOLONG: "the name is too long for the file system: choose a shorter one",
    _errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    _errno.EEXIST: "it exists already: choose another path",
    _errno.EISDIR: "it is a folder: name a file",
    _errno.EACCES: "it is not writable: choose a folder you can write to",
    _errno.EPERM: "it is not writable: choose a folder you can write to",
    _errno.EROFS: "the file system is read-only: choose a folder you can write to",
    _errno.ENOSPC: "the disk is full: free some space and run it again",
    _errno.EDQUOT: "the disk quota is used up: free some space and run it again",
    _errno.ENOENT: "it does not exist: check the path",
}


class FileError(TTSKitError, OSError):
    """A file or folder could not be written or read; the message names the path and says
    what to do, ``filename`` and ``errno`` are the OS error's.

    >>> FileError.from_os_error(NotADirectoryError(20, "Not a directory", "notes.txt/ds"))
    FileError('notes.txt/ds: Not a directory; a part of the path is a file, not a folder: \
choose another path')
    """

    def __str__(self) -> str:
        return str(self.strerror)

    def __repr__(self) -> str:
        return f"FileError({self.strerror!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.errno, self.strerror, self.filename)

    @classmethod
    def from_os_error(cls, exc: OSError) -> FileError:
        """The ``FileError`` of an OS error, chained by the caller with ``from exc``."""
        if isinstance(exc, FileError):
            return exc
        where = exc.filename if exc.filename is not None else "a file"
        advice = _FILE_ADVICE.get(exc.errno or 0, "check the path and the disk")
        return cls(exc.errno, f"{where}: {exc.strerror or exc}; {advice}", exc.filename)


class TransportError(TTSKitError):
    """The request got no answer from the server."""


class ConnectError(TransportError):
    """Could not connect to the endpoint."""


class TimeoutError(TransportError):  # noqa: A001 - shadows the builtin inside ttskit.errors only
    """The server did not answer within the timeout."""


class ReadError(TransportError):
    """The connection broke, or the body was cut short, while the answer was being read."""


class ProtocolError(TTSKitError):
    """The server's answer did not follow the speech API's wire contract."""


class StreamConsumedError(TTSKitError):
    """A SpeechStream was iterated after it had been read or closed."""


class StreamInterrupted(TTSKitError):
    """A stream ended before it was complete.

    ``partial`` is the ``Speech`` assembled from everything received before the cut, and
    ``__cause__`` the underlying error.
    """

    def __init__(self, message: str, *, partial: Any = None) -> None:
        super().__init__(message)
        self.partial = partial


class APIError(TTSKitError):
    """The server answered with an error status and (usually) the error body.

    Attributes
    ----------
    status_code : int
    message : str
        The body's ``error.message``, or the response text when there is no JSON body.
    type, code, param : str or None
        The body's ``error.type``, ``error.code`` and ``error.param``.
    request_id : str or None
        The ``x-request-id`` (or similar) response header, for support requests.
    body : dict or None
        The parsed JSON error body.
    retry_after : float or None
        Seconds the server asked the client to wait, when it said so.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        body: dict | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.type = type
        self.code = code
        self.param = param
        self.request_id = request_id
        self.body = body
        self.retry_after = retry_after
        super().__init__(str(self))

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments: the default Exception pickling would call cls(message).
        return _rebuild_api_error, (type(self), self.message, self._fields())

    def _fields(self) -> dict[str, Any]:
        return {
            "status_code": self.status_code,
            "type": self.type,
            "code": self.code,
            "param": self.param,
            "request_id": self.request_id,
            "body": self.body,
            "retry_after": self.retry_after,
        }

    def __str__(self) -> str:
        details = [f"HTTP {self.status_code}"]
        if self.code:
            details.append(f"code={self.code}")
        if self.param:
            details.append(f"param={self.param}")
        if self.request_id:
            details.append(f"request_id={self.request_id}")
        return f"{self.message} ({', '.join(details)})"


def _rebuild_api_error(cls: type[APIError], message: str, fields: dict[str, Any]) -> APIError:
    return cls(message, **fields)


class BadRequestError(APIError):
    """400: the request was malformed or had an invalid value."""


class AuthenticationError(APIError):
    """401: the API key is missing or wrong."""


class PaymentRequiredError(APIError):
    """402: the account is out of credit."""


class NotFoundError(APIError):
    """404: unknown model or path."""


class RateLimitError(APIError):
    """429: too many requests; ``retry_after`` says how long to wait when known."""


class InternalServerError(APIError):
    """500: the server failed."""


class ServiceUnavailableError(APIError):
    """503: the server is overloaded or down for now."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    404: NotFoundError,
    429: RateLimitError,
    500: InternalServerError,
    503: ServiceUnavailableError,
}


# Secrets that travel inside text: a URL's userinfo (``http://user:key@host``) and a key
# given as a query parameter (``?api_key=...``).
_USERINFO = re.compile(r"(?<=://)[^/@\s\"']+@")
_KEY_PARAMETER = re.compile(r"((?:api_key|apikey|key)=)[^&\s\"']+", re.IGNORECASE)


def redact(text: str, secret: str | None = None) -> str:
    """``text`` without secrets: ``secret`` (stripped or not), URL userinfo and ``key=``
    query parameters become ``***``.

    The one redaction of ttskit: client errors and logs, the WebSocket handshake log and
    the server's access log all pass through it.

    >>> redact("GET http://me:sk-1@host/v1?api_key=sk-1 failed", "sk-1")
    'GET http://***@host/v1?api_key=*** failed'
    """
    if not text:
        return text
    if secret:
        for value in (secret, secret.strip()):
            if value:
                text = text.replace(value, "***")
    text = _USERINFO.sub("***@", text)
    return _KEY_PARAMETER.sub(r"\1***", text)


def check_encodable(column: str, values: Any) -> None:
    """Refuse a value UTF-8 cannot carry (a lone surrogate), naming its column and row.

    The one check of texts that go to a server or into a file (``bench`` and ``dataset``
    texts and their carried columns); values that are not strings pass.

    >>> check_encodable("text", ["Fine.", "Hi \\ud800"])
    Traceback (most recent call last):
    ...
    ttskit.errors.InvalidArgument: text 1 ('Hi \\ud800') holds a lone surrogate ('\\ud800' at character 3), which UTF-8 cannot carry to a server or into a file; fix or drop that text
    """
    for row, value in enumerate(values):
        if not isinstance(value, str):
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidArgument(
                f"{column} {row} ({value!r:.80}) holds a lone surrogate ({value[exc.start]!r} "
                f"at character {exc.start}), which UTF-8 cannot carry to a server or into a "
                "file; fix or drop that text"
            ) from None


def api_error_for_status(status_code: int) -> type[APIError]:
    """The APIError subclass for an HTTP status (APIError itself for others)."""
    if status_code in _BY_STATUS:
        return _BY_STATUS[status_code]
    return InternalServerError if status_code >= 500 else APIError


def require_extra(module: str, *, extra: str, purpose: str, package: str | None = None) -> Any:
    """Import ``module``, or raise ``MissingExtra`` saying which extra to install.

    >>> require_extra("no_such_module", extra="dask", purpose="--scheduler", package="dask")
    Traceback (most recent call last):
    ...
    ttskit.errors.MissingExtra: --scheduler needs dask: pip install 'ttskit[dask]'
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(
            f"{purpose} needs {package or module}: pip install 'ttskit[{extra}]'"
        ) from exc
