"""ttskit: explore text-to-speech APIs in Jupyter.

Audio comes back as numpy arrays and word timestamps as pandas DataFrames, from Together's
speech API or any server that speaks it, including ttskit's own offline server.

>>> import ttskit
>>> client = ttskit.Client()  # doctest: +SKIP
>>> speech = client.speak("Hello there.", alignment="word")  # doctest: +SKIP

Plots live in ``ttskit.plot`` (matplotlib) and widgets in ``ttskit.widgets`` (anywidget);
neither is imported by ``import ttskit``.
"""

__version__ = "0.1.0"

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
from .results import AudioChunk, Speech, Timing, WordTimestamps

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
