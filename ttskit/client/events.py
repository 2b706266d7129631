"""Events of a WebSocket session besides ``AudioChunk`` and ``WordTimestamps``.

Times (``arrival_s``) count from when text was first sent to the event's context, or,
for events of the whole session, from when the session opened.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import APIError
from ..results import AudioChunk, WordTimestamps

__all__ = [
    "ContextCancelled",
    "ContextDone",
    "ItemDone",
    "RealtimeEvent",
    "SessionUpdated",
    "TTSFailed",
    "TextReceived",
]


@dataclass(frozen=True)
class TextReceived:
    """The server acknowledged appended text."""

    text: str
    context_id: str
    arrival_s: float


@dataclass(frozen=True)
class ItemDone:
    """All audio of one item (one synthesized segment) has been sent."""

    item_id: str
    context_id: str
    arrival_s: float


@dataclass(frozen=True)
class ContextDone:
    """Everything committed to the context so far has been spoken (local server only)."""

    context_id: str
    arrival_s: float


@dataclass(frozen=True)
class SessionUpdated:
    """The server applied new session settings; ``session`` is what it reports.

    ``arrival_s`` counts from the opening of the session, not from a context's text.
    """

    session: dict
    arrival_s: float


@dataclass(frozen=True)
class ContextCancelled:
    """A context was stopped; audio for it no longer comes."""

    context_id: str
    arrival_s: float


@dataclass(frozen=True)
class TTSFailed:
    """The server could not synthesize; ``error`` is the ``APIError`` it reported.

    ``context_id`` is None for a failure of the session rather than of a context (a bad
    message or setting); ``arrival_s`` then counts from the opening of the session.
    """

    error: APIError
    context_id: str | None
    arrival_s: float


RealtimeEvent = (
    AudioChunk
    | WordTimestamps
    | TextReceived
    | ItemDone
    | ContextDone
    | SessionUpdated
    | ContextCancelled
    | TTSFailed
)
