"""ttskit: explore text-to-speech APIs in Jupyter.

Audio comes back as numpy arrays and word timestamps as pandas DataFrames, from Together's
speech API or any server that speaks it, including ttskit's own offline server.

>>> import ttskit
>>> client = ttskit.Client()  # doctest: +SKIP
>>> speech = client.speak("Hello there.", alignment="word")  # doctest: +SKIP

Plots live in ``ttskit.plot`` (matplotlib) and widgets in ``ttskit.widgets`` (anywidget);
neither is imported by ``import ttskit``.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._version import __version__
from .errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConnectError,
    InternalServerError,
    InvalidArgument,
    NotFoundError,
    PaymentRequiredError,
    ProtocolError,
    RateLimitError,
    ReadError,
    ServiceUnavailableError,
    StreamConsumedError,
    StreamInterrupted,
    TimeoutError,
    TransportError,
    TTSKitError,
)

if _TYPE_CHECKING:
    from .client import (
        AsyncClient,
        Client,
        ContextCancelled,
        ContextDone,
        ItemDone,
        RealtimeSession,
        SessionUpdated,
        SpeechStream,
        TextReceived,
        TTSFailed,
        default_client,
        local,
        speak,
        stream,
    )
    from .results import AudioChunk, Speech, Timing, WordTimestamps

# The client and the results (requests, numpy, pandas) load on first use of one of their
# names, so that ``import ttskit.server`` or ``ttskit.engines`` does not load them.
_CLIENT_NAMES = frozenset(
    {
        "AsyncClient",
        "Client",
        "ContextCancelled",
        "ContextDone",
        "ItemDone",
        "RealtimeSession",
        "SessionUpdated",
        "SpeechStream",
        "TTSFailed",
        "TextReceived",
        "default_client",
        "local",
        "speak",
        "stream",
    }
)
_RESULTS_NAMES = frozenset({"AudioChunk", "Speech", "Timing", "WordTimestamps"})


def __getattr__(name: str) -> object:
    if name in _CLIENT_NAMES:
        from . import client as module
    elif name in _RESULTS_NAMES:
        from . import results as module
    else:
        raise AttributeError(f"module 'ttskit' has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "APIError",
    "AsyncClient",
    "AudioChunk",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConfigurationError",
    "ConnectError",
    "ContextCancelled",
    "ContextDone",
    "InternalServerError",
    "InvalidArgument",
    "ItemDone",
    "NotFoundError",
    "PaymentRequiredError",
    "ProtocolError",
    "RateLimitError",
    "ReadError",
    "RealtimeSession",
    "ServiceUnavailableError",
    "SessionUpdated",
    "Speech",
    "SpeechStream",
    "StreamConsumedError",
    "StreamInterrupted",
    "TTSFailed",
    "TTSKitError",
    "TextReceived",
    "TimeoutError",
    "Timing",
    "TransportError",
    "WordTimestamps",
    "__version__",
    "default_client",
    "local",
    "speak",
    "stream",
]
