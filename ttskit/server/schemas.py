"""What the speech endpoints accept, as pydantic models (PROTOCOL.md sections 1 and 3).

Fields the API defines but ttskit ignores (``bit_rate``, ``instructions``,
``extra_params``) are accepted and dropped, so that the official SDKs work unchanged.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..protocol import (
    DEFAULT_MAX_PARTIAL_LENGTH,
    DEFAULT_SAMPLE_RATE,
    SAMPLE_RATE_RANGE,
    SPEED_RANGE,
)

__all__ = [
    "DEFAULT_SAMPLE_RATE",
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


class SpeechRequest(BaseModel):
    """The JSON body of ``POST /v1/audio/speech``.

    Types are strict (``"24000"`` is no sample rate) because a client that sends a string
    has a bug worth hearing about. ``None`` stands for "the default" in optional fields.
    """

    model_config = ConfigDict(strict=True, extra="ignore")

    model: str
    input: str
    voice: str
    response_format: Literal["wav", "mp3", "flac", "raw", "pcm"] | None = None
    response_encoding: Encoding | None = None
    sample_rate: SampleRate | None = None
    stream: bool | None = None
    #: OpenAI's switch: "sse" streams events like ``stream: true``
    stream_format: Literal["sse", "audio"] | None = None
    language: str | None = None
    alignment: Alignment | None = None
    segment: SegmentPolicy | None = None
    speed: Speed | None = None

    @property
    def streaming(self) -> bool:
        return bool(self.stream) or self.stream_format == "sse"

    @property
    def format(self) -> str:
        """``response_format`` with its default: ``raw`` when streaming, else ``wav``.

        OpenAI's ``pcm`` is raw PCM too.
        """
        if self.response_format is None:
            return "raw" if self.streaming else "wav"
        return "raw" if self.response_format == "pcm" else self.response_format

    @property
    def encoding(self) -> str:
        """``response_encoding`` with its default: ``pcm_f32le``, or s16le for OpenAI's pcm."""
        if self.response_encoding is not None:
            return self.response_encoding
        return "pcm_s16le" if self.response_format == "pcm" else "pcm_f32le"


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
