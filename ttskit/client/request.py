"""One speech request as a value: the options a caller gave, checked once, and its body.

``Client.speak`` and ``Client.stream`` check their arguments here before anything goes on
the wire, resolve the model and voice, and hand one ``SpeechRequest`` down to the stream
that reads the answer; the ``Speech`` that comes back is stamped from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .. import audio as _audio
from ..errors import InvalidArgument
from ..protocol import (
    ALIGNMENTS,
    DEFAULT_SAMPLE_RATE,
    RESPONSE_FORMATS,
    SEGMENTS,
    SPEED_RANGE,
    STREAM_FORMATS,
)
from .endpoint import raw_format

__all__ = [
    "SpeechRequest",
    "check_choice",
    "check_sample_rate",
    "check_speed",
    "realtime_params",
]


def check_choice(name: str, value: Any, accepted: Iterable[str]) -> None:
    """Raise ``InvalidArgument`` unless ``value`` is one of ``accepted`` (None passes)."""
    accepted = tuple(accepted)
    if value is not None and value not in accepted:
        raise InvalidArgument(f"{name}={value!r} is not accepted; use one of {accepted}")


def check_sample_rate(sample_rate: Any) -> None:
    """Raise ``InvalidArgument`` unless ``sample_rate`` is None or a positive int of Hz."""
    if sample_rate is not None and (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, int)
        or not 0 < sample_rate <= 384000
    ):
        raise InvalidArgument(
            f"sample_rate={sample_rate!r} is not a rate in Hz (an int, e.g. 24000)"
        )


def check_speed(speed: Any) -> None:
    """Raise ``InvalidArgument`` unless ``speed`` is None or in the protocol's range."""
    low, high = SPEED_RANGE
    if speed is not None and (
        isinstance(speed, bool) or not isinstance(speed, int | float) or not low <= speed <= high
    ):
        raise InvalidArgument(f"speed={speed!r} is out of range; use a number from {low} to {high}")


@dataclass(frozen=True)
class SpeechRequest:
    """A checked request of ``POST /v1/audio/speech`` and how its audio will arrive.

    ``encoding`` and ``sample_rate_out`` are the raw format the answer is decoded as (None
    when the answer says, as a WAV header does).
    """

    text: str
    model: str
    voice: str
    response_format: str
    stream: bool
    response_encoding: str | None = None
    sample_rate: int | None = None
    language: str | None = None
    alignment: str | None = None
    segment: str | None = None
    speed: float | None = None
    encoding: str | None = None
    sample_rate_out: int | None = None

    @staticmethod
    def check(
        text: Any,
        *,
        stream: bool,
        hosted: bool,
        response_format: str,
        response_encoding: str | None = None,
        sample_rate: int | None = None,
        alignment: str | None = None,
        segment: str | None = None,
        speed: float | None = None,
        **_: Any,
    ) -> None:
        """Raise ``InvalidArgument`` for options no server would accept."""
        if not isinstance(text, str):
            raise InvalidArgument(f"text must be a str, got {type(text).__name__} {text!r:.80}")
        if not text.strip():
            raise InvalidArgument(f"text={text!r} is empty; there is nothing to say")
        check_choice("response_format", response_format, RESPONSE_FORMATS)
        if stream and response_format not in (("raw",) if hosted else STREAM_FORMATS):
            raise InvalidArgument(
                f"response_format={response_format!r} cannot be streamed: streamed answers are "
                + (
                    "raw PCM only on the hosted API; use 'raw'"
                    if hosted
                    else f"raw PCM (or a WAV from some servers); use one of {STREAM_FORMATS}"
                )
            )
        check_choice("response_encoding", response_encoding, _audio.ENCODINGS)
        check_sample_rate(sample_rate)
        check_choice("alignment", alignment, ALIGNMENTS)
        if alignment == "word" and not stream:
            raise InvalidArgument(
                "alignment='word' needs stream=True: word timestamps come only with streamed answers"
            )
        check_choice("segment", segment, SEGMENTS)
        check_speed(speed)

    @classmethod
    def build(
        cls, text: str, *, model: str, voice: str, hosted: bool, **options: Any
    ) -> SpeechRequest:
        """The request for checked options, with the raw format its audio will come in."""
        request = cls(text, model, voice, **options)
        fmt, rate = request.response_format, request.sample_rate
        if fmt == "raw":
            encoding, rate = raw_format(model, request.response_encoding, rate, hosted=hosted)
        elif fmt == "mulaw":  # headerless G.711 mu-law bytes at the rate asked for
            encoding, rate = "pcm_mulaw", rate or DEFAULT_SAMPLE_RATE
        else:
            encoding, rate = None, None
        return cls(**{**request.__dict__, "encoding": encoding, "sample_rate_out": rate})

    def body(self) -> dict[str, Any]:
        """The JSON body; raw audio always says what it expects, so nothing is guessed."""
        body: dict[str, Any] = {
            "model": self.model,
            "input": self.text,
            "voice": self.voice,
            "response_format": self.response_format,
            "stream": self.stream,
        }
        if self.response_format == "raw":
            body["response_encoding"] = self.response_encoding or self.encoding
            body["sample_rate"] = self.sample_rate or self.sample_rate_out
        elif self.response_format == "mulaw" or self.sample_rate is not None:
            body["sample_rate"] = self.sample_rate_out or self.sample_rate
        options = {
            "language": self.language,
            "alignment": self.alignment,
            "segment": self.segment,
            "speed": self.speed,
        }
        body.update({k: v for k, v in options.items() if v is not None})
        return body


def realtime_params(
    model: str,
    voice: str,
    *,
    sample_rate: int,
    speed: float | None = None,
    language: str | None = None,
    alignment: str | None = None,
    segment: str | None = None,
    max_partial_length: int | None = None,
) -> dict[str, Any]:
    """The checked query parameters of a WebSocket session (PROTOCOL.md section 3)."""
    check_choice("alignment", alignment, ALIGNMENTS)
    check_choice("segment", segment, SEGMENTS)
    check_speed(speed)
    check_sample_rate(sample_rate)
    params = {
        "model": model,
        "voice": voice,
        "response_format": "pcm",
        "sample_rate": sample_rate,
        "speed": speed,
        "language": language,
        "alignment": alignment,
        "segment": segment,
        "max_partial_length": max_partial_length,
    }
    return {k: v for k, v in params.items() if v is not None}
