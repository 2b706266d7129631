"""What one benchmark request measured, filled in the same way by both harnesses.

``Outcome`` is a request's record before it becomes a row (``rows.row``). The functions
here fill it from what either client returned: the answer's head (``take_head``), its
``Timing`` (``take_timing``, with ``shifted`` for a WebSocket context's times), an API
error (``failed``), a WebSocket request's start and failure (``ws_outcome``,
``ws_failed``). ``Interruption`` is when an interrupted utterance is cancelled. The
sync requests are in ``transports``, the asyncio ones in ``async_transports``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

from ..errors import APIError, StreamInterrupted, TransportError
from ..results import AudioChunk, Speech, Timing

__all__ = [
    "Interruption",
    "Outcome",
    "failed",
    "shifted",
    "take_head",
    "take_timing",
    "ws_failed",
    "ws_outcome",
]

WEBSOCKETS = version("websockets")


@dataclass
class Outcome:
    """What one request measured; times are seconds since ``started`` (a clock reading)."""

    started: float
    headers_s: float | None = None
    first_byte_s: float | None = None
    first_audio_s: float | None = None
    first_audible_s: float | None = None
    done_s: float | None = None
    arrivals: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    sample_rate: int = 0
    status: int | None = None
    request_id: str | None = None
    connection_reused: bool | None = None
    retry_after_s: float | None = None
    server: str | None = None
    error: BaseException | None = None
    http_version: str | None = None
    client_library: str | None = None
    client_version: str | None = None
    cancel_s: float | None = None  # when the cancel was sent (interrupted utterances)
    requested_model: str | None = None
    requested_voice: str | None = None
    served_model: str | None = None  # what the server says it used (None: it did not say)
    served_voice: str | None = None
    speech: Speech | None = None  # the audio, kept only when asked (for scoring afterwards)


def failed(outcome: Outcome, exc: APIError) -> None:
    outcome.status, outcome.request_id = exc.status_code, exc.request_id
    outcome.retry_after_s = exc.retry_after


def take_head(outcome: Outcome, stream: Any) -> None:
    """What the answer's head says (either client's stream): status, ids, what was served."""
    outcome.started = stream.started  # the client's own start: before it is late
    outcome.status = stream.status
    outcome.request_id = stream.request_id
    outcome.served_model = stream.served_model
    outcome.served_voice = stream.served_voice
    outcome.http_version = stream.http_version
    outcome.connection_reused = stream.connection_reused
    outcome.server = stream.server


def ws_outcome(started: float, model: str, voice: str) -> Outcome:
    """The outcome of a WebSocket request, before anything is sent."""
    return Outcome(
        started=started,
        requested_model=model,
        requested_voice=voice,
        http_version="HTTP/1.1",  # the WebSocket's upgrade
        client_library="websockets",
        client_version=WEBSOCKETS,
    )


def take_timing(outcome: Outcome, timing: Timing) -> None:
    outcome.headers_s = timing.headers_s if timing.headers_s is not None else outcome.headers_s
    outcome.first_byte_s = timing.first_byte_s
    outcome.first_audio_s = timing.first_audio_s
    outcome.first_audible_s = timing.first_audible_s
    outcome.done_s = timing.done_s if timing.done_s is not None else outcome.done_s
    # From the recorder's lists: no chunk table is made per request.
    outcome.arrivals, outcome.lengths, _ = timing.chunk_lists()
    outcome.sample_rate = int(timing.sample_rate or 0)


def ws_failed(outcome: Outcome, exc: BaseException) -> bool:
    """Record a WebSocket request's failure in ``outcome``; whether its session is broken
    (a kept one is then dropped)."""
    if isinstance(exc, APIError):
        failed(outcome, exc)
    outcome.error = exc
    return isinstance(exc, TransportError | StreamInterrupted)


def shifted(timing: Timing, offset: float) -> Timing:
    """``timing`` with every time moved ``offset`` later (context times start at its append)."""

    def move(value: float | None) -> float | None:
        return None if value is None else value + offset

    arrivals, lengths, starts = timing.chunk_lists()
    return Timing.from_lists(
        [arrival + offset for arrival in arrivals],
        lengths,
        starts,
        headers_s=move(timing.headers_s),
        first_byte_s=move(timing.first_byte_s),
        first_audio_s=move(timing.first_audio_s),
        first_audible_s=move(timing.first_audible_s),
        done_s=move(timing.done_s),
        sample_rate=timing.sample_rate,
        attempts=timing.attempts,
    )


class Interruption:
    """When to cancel an utterance ``after_s`` past its context's first audio: the rule of
    both harnesses' receive loops (``_interrupt`` in ``transports`` and ``async_transports``)."""

    def __init__(
        self, context: str, after_s: float, timeout: float, clock: Callable[[], float]
    ) -> None:
        self.context, self.after_s, self.timeout, self.clock = context, after_s, timeout, clock
        self.first: float | None = None
        self.waited = clock()

    def due(self) -> bool:
        return self.first is not None and self.clock() >= self.first + self.after_s

    def wait(self) -> float:
        """Seconds to wait for the next event."""
        if self.first is None:
            return max(self.timeout, 1e-3)
        return max(self.first + self.after_s - self.clock(), 1e-3)

    def timed_out(self) -> bool:
        """After a receive timed out, before the first audio: whether no event at all came
        for ``timeout`` seconds."""
        return self.first is None and self.clock() - self.waited >= self.timeout

    def heard(self, event: Any) -> None:
        self.waited = self.clock()
        ours = isinstance(event, AudioChunk) and event.context_id == self.context
        if self.first is None and ours:
            self.first = self.waited
