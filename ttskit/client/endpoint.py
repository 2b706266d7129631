"""Which server a client talks to, with which key: chosen once, shown without secrets.

The rule, in order:

1. an explicit ``base_url`` (``Client("http://127.0.0.1:8000/v1")``);
2. else ``$TTSKIT_BASE_URL``;
3. else ttskit's embedded local server, started in this process on first use.

The hosted API is an explicit choice: ``Client("together")``, its URL
``https://api.together.ai/v1``, or ``TTSKIT_BASE_URL=together``. ``$TOGETHER_API_KEY`` is
the key only for Together's hosts, so that it is never sent to another server; an explicit
``api_key`` always wins. A URL's userinfo (``http://user:secret@host/v1``) is taken out of
the URL and sent as HTTP basic auth, so that it never shows in a repr, an error or a log.

``Endpoint`` is the result: a frozen, picklable value that a worker process turns into
its own client with ``Client(endpoint)`` (a client holds a connection pool and does not
pickle).

This module also holds what ttskit knows about the hosted models (default voices, models
that send one raw format whatever is asked), and the one door from the client to the
embedded server (:func:`embedded_server`), opened only when no endpoint is given.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from ..errors import ConfigurationError, redact
from ..protocol import (
    DEFAULT_ENCODING,
    DEFAULT_SAMPLE_RATE,
    HOSTED_BASE_URL,
    HOSTED_DOMAINS,
    HOSTED_SHORTHAND,
)

if TYPE_CHECKING:
    from ..server.background import LocalServer

__all__ = [
    "DEFAULT_VOICES",
    "FIXED_OUTPUT",
    "HOSTED_DEFAULT_MODEL",
    "Endpoint",
    "choose_endpoint",
    "embedded_server",
    "raw_format",
]

HOSTED_DEFAULT_MODEL = "canopylabs/orpheus-3b-0.1-ft"

#: Hosted models that send one raw format whatever is asked: model -> (sample rate, encoding).
#: A rate of None means the model honours ``sample_rate`` but not ``response_encoding``.
FIXED_OUTPUT: dict[str, tuple[int | None, str]] = {
    "canopylabs/orpheus-3b-0.1-ft": (24000, "pcm_s16le"),
    "hexgrad/kokoro-82m": (24000, "pcm_s16le"),
    "minimax/speech-2.6-turbo": (None, "pcm_s16le"),
}

#: A voice that each well-known model has, used when none is given.
DEFAULT_VOICES = {
    "canopylabs/orpheus-3b-0.1-ft": "tara",
    "hexgrad/kokoro-82m": "af_heart",
    "piper": "joe",
    "espeak": "en-us",
}


@dataclass(frozen=True)
class Endpoint:
    """Where requests go and how they authenticate; its repr never shows a secret.

    Attributes
    ----------
    base_url : str
        API root including ``/v1``, without userinfo or a trailing slash.
    source : str
        What chose it: ``"base_url"``, ``"TTSKIT_BASE_URL"`` or ``"local server"``.
    api_key : str or None
        Sent as ``Authorization: Bearer``.
    auth : (str, str) or None
        HTTP basic auth from the URL's userinfo.

    Examples
    --------
    >>> Endpoint("http://127.0.0.1:8000/v1", api_key="sk-secret")
    Endpoint(base_url='http://127.0.0.1:8000/v1', source='base_url', api_key='***')
    """

    base_url: str
    source: str = "base_url"
    api_key: str | None = field(default=None, repr=False)
    auth: tuple[str, str] | None = field(default=None, repr=False)

    @property
    def hosted(self) -> bool:
        """Whether this is Together's hosted API."""
        return is_hosted(self.base_url)

    def __repr__(self) -> str:
        key = "'***'" if self.api_key else "None"
        return f"Endpoint(base_url={self.base_url!r}, source={self.source!r}, api_key={key})"


def is_hosted(base_url: str) -> bool:
    """Whether ``base_url`` is on one of Together's hosts."""
    host = (urlsplit(base_url).hostname or "").lower()
    return any(host == d or host.endswith("." + d) for d in HOSTED_DOMAINS)


def clean_key(api_key: str | None) -> str | None:
    """The key without surrounding whitespace (a pasted key often ends in a newline).

    A key with whitespace or control characters inside cannot go in a header; the error
    says so without quoting it.
    """
    if api_key is None:
        return None
    if not isinstance(api_key, str):
        raise ConfigurationError(f"api_key must be a str, got {type(api_key).__name__}")
    api_key = api_key.strip()
    if any(c.isspace() or not c.isprintable() or not c.isascii() for c in api_key):
        raise ConfigurationError(
            "api_key contains whitespace, control or non-ASCII characters; check how it was copied"
        )
    return api_key or None


def embedded_server(engine: str = "auto", **options: Any) -> LocalServer:
    """The embedded local server: the process's shared one, or a new one with ``options``.

    The only place where the client layer reaches the server layer, and only when called:
    importing ttskit never imports FastAPI or uvicorn.
    """
    import atexit

    from ..server.background import default_server, start_server

    if engine == "auto" and not options:
        return default_server()
    server = start_server(engine, **options)
    atexit.register(server.stop)
    return server


def choose_endpoint(
    base_url: str | Endpoint | None = None,
    api_key: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Endpoint:
    """The endpoint a client of these arguments talks to (see the module docstring).

    Raises
    ------
    ConfigurationError
        For a URL that is not http(s), a hosted URL without https or without a key, or a
        key that cannot be sent.
    """
    environ = os.environ if environ is None else environ
    if isinstance(base_url, Endpoint):
        if api_key is None:
            return base_url
        return Endpoint(base_url.base_url, base_url.source, clean_key(api_key), base_url.auth)
    if base_url:
        source = "base_url"
    elif environ.get("TTSKIT_BASE_URL"):
        base_url, source = environ["TTSKIT_BASE_URL"], "TTSKIT_BASE_URL"
    else:
        base_url, source = embedded_server().base_url, "local server"
    if not isinstance(base_url, str):
        raise ConfigurationError(f"base_url must be a str, got {type(base_url).__name__}")
    if base_url.strip().lower() == HOSTED_SHORTHAND:
        base_url = HOSTED_BASE_URL
    parts = urlsplit(base_url.strip())
    shown = redact(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"base_url={shown!r} ({source}) is not an http(s) URL such as "
            f"'http://127.0.0.1:8000/v1', nor {HOSTED_SHORTHAND!r} for the hosted API"
        )
    auth = None
    if parts.username is not None or parts.password is not None:
        auth = (unquote(parts.username or ""), unquote(parts.password or ""))
    netloc = parts.netloc.rpartition("@")[2]
    url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), parts.query, ""))
    hosted = is_hosted(url)
    if hosted and parts.scheme != "https":
        raise ConfigurationError(
            f"base_url={shown!r} ({source}) would send the API key in cleartext; use https://"
        )
    if api_key is None and hosted:
        api_key = environ.get("TOGETHER_API_KEY") or None
    api_key = clean_key(api_key)
    if hosted and not api_key:
        raise ConfigurationError(f"{url} needs an API key: set TOGETHER_API_KEY or pass api_key=")
    return Endpoint(url, source, api_key, auth)


def raw_format(
    model: str, encoding: str | None, sample_rate: int | None, *, hosted: bool
) -> tuple[str, int]:
    """The encoding and rate raw audio will arrive in, warning when a hosted model ignores
    the ones asked for."""
    fixed = FIXED_OUTPUT.get(model.lower()) if hosted else None
    if fixed is None:
        return encoding or DEFAULT_ENCODING, sample_rate or DEFAULT_SAMPLE_RATE
    fixed_rate, fixed_encoding = fixed
    asked_rate = sample_rate or fixed_rate or DEFAULT_SAMPLE_RATE
    rate = fixed_rate or asked_rate
    if (encoding not in (None, fixed_encoding)) or rate != asked_rate:
        warnings.warn(
            f"{model} always sends {fixed_encoding}"
            + (f" at {fixed_rate} Hz" if fixed_rate else "")
            + f"; decoding it as such instead of {encoding or fixed_encoding} at {asked_rate} Hz",
            UserWarning,
            stacklevel=5,
        )
    return fixed_encoding, rate
