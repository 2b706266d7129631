"""What the speech endpoints accept, as pydantic models (PROTOCOL.md sections 1, 3 and 7).

``POST /v1/audio/speech`` takes both dialects of the body: Together's and OpenAI's. Fields
the APIs define but ttskit ignores (``bit_rate``, ``extra_params``; ``instructions``,
which no local engine can follow) are accepted and dropped, so that the official SDKs
work unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from ..protocol import (
    DEFAULT_MAX_PARTIAL_LENGTH,
    DEFAULT_SAMPLE_RATE,
    SAMPLE_RATE_RANGE,
    SERVED_FORMATS,
    SPEED_RANGE,
)

#: ``response_format`` values the local server answers with audio (``pcm`` is OpenAI's ``raw``)
RESPONSE_FORMATS = SERVED_FORMATS

__all__ = [
    "DEFAULT_SAMPLE_RATE",
    "RESPONSE_FORMATS",
    "SAMPLE_RATE_RANGE",
    "SPEED_RANGE",
    "SessionSettings",
    "SpeechRequest",
]

# The limits are the protocol's (ttskit.protocol); each engine maps any speed in
# SPEED_RANGE onto what it can do.

SampleRate = Annotated[int, Field(ge=SAMPLE_RATE_RANGE[0], le=SAMPLE_RATE_RANGE[1])]
Speed = Annotated[float, Field(ge=SPEED_RANGE[0], le=SPEED_RANGE[1])]
Encoding = Literal["pcm_f32le", "pcm_s16le", "pcm_mulaw", "pcm_alaw"]
Alignment = Literal["none", "word"]
SegmentPolicy = Literal["sentence", "immediate", "never"]
ResponseFormat = Literal["wav", "mp3", "flac", "raw", "pcm", "opus", "aac"]


class SpeechRequest(BaseModel):
    """The JSON body of ``POST /v1/audio/speech``.

    Types are strict (``"24000"`` is no sample rate) because a client that sends a string
    has a bug worth hearing about; a number is a number, so ``24000.0`` is the integer
    JSON Schema says it is. ``None`` stands for "the default" in optional fields.
    """

    model_config = ConfigDict(strict=True, extra="ignore")

    model: str
    input: str
    #: a voice name, or OpenAI's ``{"id": name}``
    voice: str | dict[str, Any] = Field(
        json_schema_extra={
            "anyOf": [
                {"type": "string"},
                {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
            ]
        }
    )
    response_format: ResponseFormat | None = None
    response_encoding: Encoding | None = None
    sample_rate: SampleRate | None = None
    stream: bool | None = None
    #: OpenAI's switch: "sse" streams ``speech.audio.delta`` events, "audio" the file
    stream_format: Literal["sse", "audio"] | None = None
    #: OpenAI's style hints; accepted, and ignored by engines that cannot follow them
    instructions: str | None = None
    language: str | None = None
    alignment: Alignment | None = None
    segment: SegmentPolicy | None = None
    speed: Speed | None = None

    @field_validator("voice", mode="before")
    @classmethod
    def _name_or_id(cls, value: object) -> object:
        # One clear message instead of one per member of the union.
        if isinstance(value, str) or (isinstance(value, dict) and isinstance(value.get("id"), str)):
            return value
        raise PydanticCustomError(
            "voice_type", 'voice must be a voice name or {"id": "<voice name>"}'
        )

    @field_validator("sample_rate", mode="before")
    @classmethod
    def _integral(cls, value: object) -> object:
        # JSON has one kind of number: 13527.0 is an integer, as the published schema says.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    @property
    def voice_name(self) -> str:
        """``voice``, whether it came as a name or as ``{"id": name}``."""
        return self.voice if isinstance(self.voice, str) else self.voice["id"]

    @property
    def dialect(self) -> Literal["together", "openai"]:
        """``"openai"`` for a body with ``stream_format`` and no ``stream``.

        Bodies with neither read the same in both dialects; they count as Together's.
        """
        return "openai" if self.stream_format is not None and self.stream is None else "together"

    @property
    def streaming(self) -> bool:
        """Whether the answer is Server-Sent Events (of the request's dialect)."""
        if self.dialect == "openai":
            return self.stream_format == "sse"
        return bool(self.stream)

    @property
    def format(self) -> str:
        """``response_format`` with its default; OpenAI's ``pcm`` is ``raw``.

        The default is ``raw`` for a stream of events, else ``wav`` in Together's dialect
        and ``mp3`` (OpenAI's default) for ``stream_format: "audio"``.
        """
        if self.response_format is None:
            if self.streaming:
                return "raw"
            return "mp3" if self.dialect == "openai" else "wav"
        return "raw" if self.response_format == "pcm" else self.response_format

    @property
    def encoding(self) -> str:
        """``response_encoding`` with its default: ``pcm_f32le``, else 16-bit PCM for
        OpenAI's ``pcm`` and for every request in OpenAI's dialect."""
        if self.response_encoding is not None:
            return self.response_encoding
        if self.response_format == "pcm" or self.dialect == "openai":
            return "pcm_s16le"
        return "pcm_f32le"


class SessionSettings(BaseModel):
    """Settings of a WebSocket session: query parameters, then ``tts_session.updated``.

    Values are converted from strings, since query parameters are strings.
    """

    model_config = ConfigDict(extra="ignore")

    voice: str
    response_format: Literal["pcm", "raw"] = "pcm"
    sample_rate: SampleRate = DEFAULT_SAMPLE_RATE
    speed: Speed = 1.0
    language: str | None = None
    alignment: Alignment = "none"
    segment: SegmentPolicy = "sentence"
    max_partial_length: Annotated[int, Field(ge=1, le=10_000)] = DEFAULT_MAX_PARTIAL_LENGTH
