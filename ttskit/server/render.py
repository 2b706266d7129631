"""From engine segments to what goes on the wire: resampled audio, PCM deltas, events.

The payload shapes are PROTOCOL.md's, exactly; nothing else in the server builds them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import audio
from ..engines import Segment, Word

__all__ = [
    "DEFAULT_DELTA_SECONDS",
    "RenderedSegment",
    "audio_delta",
    "audio_done",
    "openai_audio_delta",
    "openai_audio_done",
    "pcm_deltas",
    "render_segment",
    "sse_event",
    "word_timestamps",
]

#: Audio per delta event. A tenth of a second is close to the chunks hosted TTS streams
#: send, fine enough for a player to start on the first delta and for injected
#: per-delta delays to act like a slow network, and still large enough that base64 and
#: JSON framing cost well under a millisecond per second of audio.
DEFAULT_DELTA_SECONDS = 0.1
#: The protocol's ceiling for one delta.
MAX_DELTA_SECONDS = 0.5


@dataclass(frozen=True)
class RenderedSegment:
    """A segment at the response's sample rate, encoded and cut into deltas.

    ``words`` are relative to the segment; ``deltas`` are PCM bytes in the response's
    encoding, together the whole segment.
    """

    text: str
    n_samples: int
    words: list[Word]
    deltas: list[bytes]
    audio: np.ndarray


def render_segment(
    segment: Segment, *, sample_rate: int, encoding: str | None, delta_seconds: float
) -> RenderedSegment:
    """Resample ``segment`` to ``sample_rate`` and encode it as ``encoding`` deltas.

    With ``encoding=None`` (audio that a file encoder takes as it goes) there are no
    deltas, only the resampled ``audio``.
    """
    samples = audio.resample(segment.audio, orig_sr=segment.sample_rate, target_sr=sample_rate)
    deltas = []
    if encoding is not None:
        pcm = audio.encode_pcm(samples, encoding=encoding)
        per_delta = max(1, int(delta_seconds * sample_rate)) * audio.bytes_per_sample(encoding)
        deltas = list(pcm_deltas(pcm, bytes_per_delta=per_delta))
    return RenderedSegment(
        text=segment.text,
        n_samples=len(samples),
        words=list(segment.words),
        deltas=deltas,
        audio=samples,
    )


def pcm_deltas(pcm: bytes, *, bytes_per_delta: int) -> Iterator[bytes]:
    """``pcm`` in pieces of ``bytes_per_delta`` (the last one shorter)."""
    for start in range(0, len(pcm), bytes_per_delta):
        yield pcm[start : start + bytes_per_delta]


# --- events ---------------------------------------------------------------------------------


def word_timestamps(
    item_id: str, words: list[Word], *, offset: float = 0.0, **extra: Any
) -> dict[str, Any]:
    """``conversation.item.word_timestamps``, times shifted by ``offset`` seconds."""
    return {
        "type": "conversation.item.word_timestamps",
        "item_id": item_id,
        **extra,
        "words": [word.text for word in words],
        "start_seconds": [round(offset + word.start, 4) for word in words],
        "end_seconds": [round(offset + word.end, 4) for word in words],
    }


def audio_delta(item_id: str, pcm: bytes, **extra: Any) -> dict[str, Any]:
    """``conversation.item.audio_output.delta`` carrying base64 ``pcm``."""
    return {
        "type": "conversation.item.audio_output.delta",
        "item_id": item_id,
        **extra,
        "delta": base64.b64encode(pcm).decode("ascii"),
    }


def audio_done(item_id: str, **extra: Any) -> dict[str, Any]:
    """``conversation.item.audio_output.done``."""
    return {"type": "conversation.item.audio_output.done", "item_id": item_id, **extra}


def openai_audio_delta(data: bytes) -> dict[str, Any]:
    """OpenAI's ``speech.audio.delta`` carrying base64 ``data``."""
    return {"type": "speech.audio.delta", "audio": base64.b64encode(data).decode("ascii")}


def openai_audio_done(*, input_tokens: int, output_tokens: int) -> dict[str, Any]:
    """OpenAI's ``speech.audio.done`` with its usage."""
    return {
        "type": "speech.audio.done",
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
    }


def sse_event(data: dict[str, Any] | str) -> bytes:
    """One Server-Sent Event: ``data: <json>`` and a blank line, no event name."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {text}\n\n".encode()
