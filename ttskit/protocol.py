"""The speech API's limits and defaults (PROTOCOL.md), in one place.

The client checks arguments against these values, the local server's request schema
accepts them, and each engine maps them onto what it can do (a speed of 4.0 is eSpeak's
fastest rate, a length scale for piper). Nothing here imports anything of ttskit.
"""

from __future__ import annotations

__all__ = [
    "ALIGNMENTS",
    "DEFAULT_CONTEXT",
    "DEFAULT_ENCODING",
    "DEFAULT_MAX_PARTIAL_LENGTH",
    "DEFAULT_SAMPLE_RATE",
    "HOSTED_BASE_URL",
    "HOSTED_DOMAINS",
    "HOSTED_SHORTHAND",
    "RESPONSE_FORMATS",
    "SAMPLE_RATE_RANGE",
    "SEGMENTS",
    "SERVED_FORMATS",
    "SPEED_RANGE",
    "STREAM_FORMATS",
    "lone_surrogate",
]

#: Root of Together's hosted API.
HOSTED_BASE_URL = "https://api.together.ai/v1"
#: What ``Client("together")`` and ``TTSKIT_BASE_URL=together`` stand for.
HOSTED_SHORTHAND = "together"
#: Hosts of the hosted API (and their subdomains); only they get ``$TOGETHER_API_KEY``.
HOSTED_DOMAINS = ("together.ai", "together.xyz")

#: Rate of raw audio when a request names none (what hosted Orpheus and Kokoro send).
DEFAULT_SAMPLE_RATE = 24_000
#: Rates the local server produces; the client accepts any positive rate for other servers.
SAMPLE_RATE_RANGE = (8_000, 48_000)
#: PCM encoding the client asks for when the caller names none (what most models send);
#: ``ttskit.audio.ENCODINGS`` lists them all.
DEFAULT_ENCODING = "pcm_s16le"
#: ``response_format`` values of a whole answer.
RESPONSE_FORMATS = ("wav", "mp3", "raw", "pcm", "flac", "mulaw", "opus", "aac")
#: ``response_format`` values the local server answers with (``pcm`` is OpenAI's ``raw``).
SERVED_FORMATS = ("wav", "mp3", "opus", "flac", "pcm", "raw")
#: Formats of a streamed answer: the protocol streams raw PCM; some OpenAI-compatible
#: servers stream a WAV whose sizes are unknown, which the client reads as it comes.
STREAM_FORMATS = ("raw", "wav")
ALIGNMENTS = ("none", "word")
SEGMENTS = ("sentence", "immediate", "never")
#: Speeds accepted, as the hosted API and OpenAI accept them; engines map them to theirs.
SPEED_RANGE = (0.25, 4.0)

#: The WebSocket context of messages that name none.
DEFAULT_CONTEXT = "default"
#: Characters of unterminated text after which ``segment=sentence`` synthesizes anyway.
DEFAULT_MAX_PARTIAL_LENGTH = 250


def lone_surrogate(text: str) -> int | None:
    """Where ``text`` holds a character that UTF-8, the wire's and ttskit's files'
    encoding, cannot carry (a lone surrogate, such as ``"\\ud800"``), or None.

    >>> lone_surrogate("Hello."), lone_surrogate("Hi \\ud800")
    (None, 3)
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None
