"""One speech request as a value: the options a caller gave, checked once, and its body.

``Client.speak`` and ``Client.stream`` check their arguments here before anything goes on
the wire, resolve the model and voice, and hand one ``SpeechRequest`` down to the stream
that reads the answer; the ``Speech`` that comes back is stamped from it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
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
from .decoding import DEFAULT_MAX_AUDIO_S
from .endpoint import Endpoint, raw_format

__all__ = [
    "DIALECTS",
    "SpeechRequest",
    "check_retries",
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


#: The dialects of ``POST /v1/audio/speech`` a client speaks (docs/protocol.md).
DIALECTS = ("together", "openai")
#: Rate and encoding of OpenAI's ``pcm``: 24 kHz 16-bit mono, whatever is asked.
_OPENAI_PCM = ("pcm_s16le", DEFAULT_SAMPLE_RATE)


def check_retries(max_retries: Any) -> int:
    """``max_retries`` as an int, or ``InvalidArgument`` for a negative or non-integer one."""
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise InvalidArgument(f"max_retries={max_retries!r} must be an int, 0 or more")
    return max_retries


@dataclass(frozen=True)
class SpeechRequest:
    """One request of ``POST /v1/audio/speech``: a checked value, built by
    ``Client.build_request`` and sent by ``Client.send`` (or ``AsyncClient.send``).

    It carries everything that goes on the wire (the endpoint, the dialect, the body, the
    client's extra headers), how it is sent (``timeout``, ``max_retries``,
    ``fresh_connection``) and how much audio its answer may hold (``max_audio_s``); nothing
    is added behind it. It pickles, and its repr shows no key (the endpoint's repr hides
    it). ``encoding`` and ``sample_rate_out`` are the raw format the answer is decoded as
    (None when the answer says, as a WAV header does).

    >>> request = SpeechRequest("Hi.", "espeak", "en-us", "raw", stream=True)
    >>> request.body()["stream"], request.dialect
    (True, 'together')
    """

    text: str
    model: str
    voice: str
    response_format: str
    stream: bool = False
    response_encoding: str | None = None
    sample_rate: int | None = None
    language: str | None = None
    alignment: str | None = None
    segment: str | None = None
    speed: float | None = None
    encoding: str | None = None
    sample_rate_out: int | None = None
    dialect: str = "together"
    stream_format: str | None = None
    endpoint: Endpoint | None = field(default=None, compare=False)
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 60.0
    max_retries: int = 0
    fresh_connection: bool = False
    max_audio_s: float = DEFAULT_MAX_AUDIO_S

    @property
    def url(self) -> str:
        """Where the request goes."""
        base = self.endpoint.base_url if self.endpoint is not None else ""
        return f"{base}/audio/speech"

    @property
    def what(self) -> str:
        """``POST <url>``, as errors name the call."""
        return f"POST {self.url}"

    def replace(self, **changes: Any) -> SpeechRequest:
        """A copy with ``changes`` (e.g. ``max_retries=0``), checked like the original."""
        if "max_retries" in changes:
            check_retries(changes["max_retries"])
        return dataclasses.replace(self, **changes)

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
        dialect: str = "together",
        stream_format: str | None = None,
        **_: Any,
    ) -> None:
        """Raise ``InvalidArgument`` for options no server would accept."""
        if not isinstance(text, str):
            raise InvalidArgument(f"text must be a str, got {type(text).__name__} {text!r:.80}")
        if not text.strip():
            raise InvalidArgument(f"text={text!r} is empty; there is nothing to say")
        check_choice("dialect", dialect, DIALECTS)
        check_choice("response_format", response_format, RESPONSE_FORMATS)
        check_choice("stream_format", stream_format, _STREAM_FORMATS)
        if dialect == "openai":
            _check_openai(stream, response_format, response_encoding, sample_rate, alignment)
        elif stream_format is not None:
            raise InvalidArgument(
                f"stream_format={stream_format!r} is OpenAI's; use dialect='openai' with it"
            )
        elif stream and response_format not in (("raw",) if hosted else STREAM_FORMATS):
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
        if request.dialect == "openai":
            if fmt in ("raw", "pcm"):
                encoding, rate = _OPENAI_PCM
            else:
                encoding, rate = None, None
        elif fmt == "raw":
            encoding, rate = raw_format(model, request.response_encoding, rate, hosted=hosted)
        elif fmt == "mulaw":  # headerless G.711 mu-law bytes at the rate asked for
            encoding, rate = "pcm_mulaw", rate or DEFAULT_SAMPLE_RATE
        else:
            encoding, rate = None, None
        return dataclasses.replace(request, encoding=encoding, sample_rate_out=rate)

    def body(self) -> dict[str, Any]:
        """The JSON body; raw audio always says what it expects, so nothing is guessed."""
        if self.dialect == "openai":
            return self._openai_body()
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

    def _openai_body(self) -> dict[str, Any]:
        """OpenAI's fields only: its API refuses Together's (``stream``, ``sample_rate``)."""
        fmt = "pcm" if self.response_format == "raw" else self.response_format
        body: dict[str, Any] = {
            "model": self.model,
            "input": self.text,
            "voice": self.voice,
            "response_format": fmt,
        }
        if self.speed is not None:
            body["speed"] = self.speed
        if self.stream:
            body["stream_format"] = self.stream_format or "sse"
        return body


_STREAM_FORMATS = ("sse", "audio")


def _check_openai(
    stream: bool,
    response_format: str,
    response_encoding: str | None,
    sample_rate: int | None,
    alignment: str | None,
) -> None:
    """What OpenAI's dialect cannot say: its ``pcm`` is 16-bit at 24 kHz, it has no words."""
    if response_format in ("mulaw",):
        raise InvalidArgument(
            f"response_format={response_format!r} is not in OpenAI's dialect; use 'pcm' or 'wav'"
        )
    encoding, rate = _OPENAI_PCM
    if response_encoding not in (None, encoding):
        raise InvalidArgument(
            f"response_encoding={response_encoding!r} cannot be asked in OpenAI's dialect, "
            f"whose pcm is {encoding}; leave it out or use dialect='together'"
        )
    if sample_rate not in (None, rate):
        raise InvalidArgument(
            f"sample_rate={sample_rate!r} cannot be asked in OpenAI's dialect, whose pcm is "
            f"{rate} Hz; leave it out or use dialect='together'"
        )
    if alignment == "word":
        raise InvalidArgument(
            "alignment='word' is not in OpenAI's dialect (it sends no word timestamps); "
            "use dialect='together'"
        )
    if stream and response_format not in ("raw", "pcm", "wav", "mp3", "opus", "flac", "aac"):
        raise InvalidArgument(f"response_format={response_format!r} cannot be streamed")


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


def speech_options(
    text: Any,
    *,
    hosted: bool,
    dialect: str,
    stream: bool | None = None,
    response_format: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The checked options of one speech request, before its model and voice are known.

    ``stream`` defaults to whether word timestamps are asked for, ``response_format`` to
    ``"raw"`` streamed and ``"wav"`` otherwise. Shared by ``Client`` and ``AsyncClient``.
    """
    streaming = options.get("alignment") == "word" if stream is None else bool(stream)
    options = {
        **options,
        "stream": streaming,
        "dialect": dialect,
        "response_format": response_format or ("raw" if streaming else "wav"),
    }
    SpeechRequest.check(text, hosted=hosted, **options)
    return options


def make_request(
    text: str,
    options: dict[str, Any],
    *,
    model: str,
    voice: str,
    endpoint: Endpoint,
    headers: dict[str, str],
    timeout: float,
    max_retries: int,
    fresh_connection: bool = False,
    max_audio_s: float = DEFAULT_MAX_AUDIO_S,
) -> SpeechRequest:
    """The ``SpeechRequest`` of checked ``options`` (``speech_options``) for a client."""
    return SpeechRequest.build(
        text,
        model=model,
        voice=voice,
        hosted=endpoint.hosted,
        endpoint=endpoint,
        headers=tuple(headers.items()),
        timeout=float(timeout),
        max_retries=check_retries(max_retries),
        fresh_connection=bool(fresh_connection),
        max_audio_s=float(max_audio_s),
        **options,
    )
