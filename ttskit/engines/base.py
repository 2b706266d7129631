"""The protocol every offline speech engine keeps, and the values it yields."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import InvalidArgument, TTSKitError
from ..protocol import SPEED_RANGE

__all__ = [
    "Engine",
    "EngineArgumentError",
    "EngineError",
    "Segment",
    "UnknownVoice",
    "Voice",
    "Word",
    "check_speed",
]


class EngineError(TTSKitError):
    """An engine could not synthesize (bad text, engine failure).

    The server maps engine errors onto the wire's error body in one place
    (``ttskit.server.errors.wire_error_for``).
    """


class EngineArgumentError(EngineError, InvalidArgument):
    """An argument an engine cannot take (a speed outside the protocol's range, ...); also a
    ``ValueError``, through ``InvalidArgument``."""


def check_speed(speed: float) -> float:
    """``speed`` as a float, if the protocol accepts it (``ttskit.protocol.SPEED_RANGE``).

    Raises
    ------
    EngineArgumentError
        For anything else; each engine maps an accepted speed onto what it can do.
    """
    low, high = SPEED_RANGE
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not low <= speed <= high:
        raise EngineArgumentError(f"speed must be within {low}..{high}, got {speed!r}")
    return float(speed)


class UnknownVoice(EngineError, LookupError):
    """The engine has no such voice; ``voice`` holds the name asked for."""

    def __init__(self, voice: str, *, hint: str = "") -> None:
        self.voice = voice
        super().__init__(f"unknown voice {voice!r}" + (f"; {hint}" if hint else ""))


@dataclass(frozen=True)
class Voice:
    """A voice an engine offers. ``name`` is what goes in the API's ``voice`` field."""

    name: str
    language: str = ""
    gender: str = ""
    description: str = ""


@dataclass(frozen=True)
class Word:
    """A word of the input text and its span in seconds, relative to its segment."""

    text: str
    start: float
    end: float


@dataclass
class Segment:
    """One sentence or clause of synthesized speech.

    ``audio`` is float32 mono in [-1, 1] at the engine's native ``sample_rate``; ``words``
    cover every word of ``text`` in order, with times that never go backwards and stay
    within ``[0, len(audio) / sample_rate]``.
    """

    text: str
    audio: np.ndarray
    sample_rate: int
    words: list[Word] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


@runtime_checkable
class Engine(Protocol):
    """An offline speech engine. Engines are not assumed thread-safe."""

    model: str  #: model id the server serves it under
    sample_rate: int  #: native sample rate of the audio it yields

    def voices(self) -> list[Voice]:
        """Every voice this engine can speak with."""
        ...

    def synthesize(self, text: str, *, voice: str, speed: float = 1.0) -> Iterator[Segment]:
        """Yield one Segment per sentence (or clause) as soon as each is ready.

        Raises ``UnknownVoice`` for a voice it lacks, before yielding anything.
        """
        ...
