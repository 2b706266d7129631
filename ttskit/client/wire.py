"""The payloads of PROTOCOL.md, and the decoders that turn arriving bytes into audio.

Every shape a client must accept (section 2) is read here: the audio of a payload, its
word timestamps, an error sent on an open stream. ``PCMDecoder`` and ``WAVDecoder`` are
small ``decode(bytes)``/``flush()`` objects, like ``sse.SSEDecoder`` beside them: what they
produce does not depend on how the bytes were split across network reads.
"""

from __future__ import annotations

import binascii
import json
import math
import struct
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import audio as _audio
from ..errors import APIError, ProtocolError, api_error_for_status
from ..results import words_frame

if TYPE_CHECKING:
    from .recording import SampleBuffer

__all__ = [
    "DONE_TYPES",
    "RAW_TYPES",
    "WORDS_TYPE",
    "PCMDecoder",
    "SAMPLE_RATE_RANGE",
    "WAVDecoder",
    "audio_from_payload",
    "b64decode",
    "check_rate",
    "parse_content_type",
    "error_from_payload",
    "parse_payload",
    "sse_payload",
    "words_from_payload",
]

# Payload "type" values that carry audio, and the key holding the base64 PCM.
_AUDIO_TYPES = {
    "conversation.item.audio_output.delta": "delta",
    "delta": "audio",
    "speech.audio.delta": "audio",
}
DONE_TYPES = {"done", "speech.audio.done"}
WORDS_TYPE = "conversation.item.word_timestamps"
# Content types of headerless PCM bodies (a WAV header is recognised in any of them).
RAW_TYPES = {"application/octet-stream", "audio/pcm", "audio/l16", "audio/raw"}
# Error "type" values of mid-stream error payloads, mapped to the HTTP status they mean.
_STATUS_OF_ERROR_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "server_error": 500,
    "service_unavailable": 503,
}


#: Sample rates (Hz) a client accepts from a server: what the protocol's requests may ask
#: (``request.check_sample_rate``); a rate outside it is a broken or hostile answer.
SAMPLE_RATE_RANGE = (1_000, 384_000)
#: Bytes a WAV may carry past the data size its header gives (trailing chunks) before
#: the answer counts as broken rather than padded.
_WAV_TRAILER_BYTES = 2**20

_S16_SCALE = np.float32(1 / 32768)
# Where parse_payload looks for the audio key: the other fields come first in every shape.
_KEY_WINDOW = 512
# Audio events differ only in their audio: the rest of each is parsed once, and shared
# (read-only) between the events that repeat it.
_REST_CACHE: dict[str, dict] = {}


def check_rate(value: object, where: str) -> int:
    """A served sample rate as an int in ``SAMPLE_RATE_RANGE``, or ``ProtocolError``.

    >>> check_rate("24000", "the header")
    24000
    """
    low, high = SAMPLE_RATE_RANGE
    try:
        number = float(value) if isinstance(value, str | int | float) else math.nan
    except ValueError:
        number = math.nan
    if isinstance(value, bool) or not (number.is_integer() and low <= number <= high):
        raise ProtocolError(
            f"{where} gives a sample rate of {str(value)[:40]!r}, not a whole number of Hz "
            f"from {low} to {high}: the server's answer is broken"
        )
    return int(number)


class PCMDecoder:
    """Decodes headerless PCM arriving in arbitrary pieces, carrying a partial sample on.

    >>> decoder = PCMDecoder("pcm_s16le")
    >>> decoder.decode(b"\\x00\\x40\\x00"), decoder.flush()
    (array([0.5], dtype=float32), array([], dtype=float32))
    """

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        #: Bytes per sample.
        self.width = _audio.bytes_per_sample(encoding)
        self._carry = b""

    def _whole(self, data: bytes) -> tuple[bytes, int]:
        if self._carry:
            data = self._carry + data
        whole = len(data) - len(data) % self.width
        self._carry = data[whole:]
        return data, whole

    def decode(self, data: bytes) -> np.ndarray:
        """The float32 samples that ``data`` completes."""
        data, whole = self._whole(data)
        return _audio.decode_pcm(memoryview(data)[:whole], encoding=self.encoding)

    def decode_into(self, data: bytes, buffer: SampleBuffer) -> int:
        """Decode ``data`` onto the end of ``buffer``; returns how many samples it added."""
        data, whole = self._whole(data)
        n = whole // self.width
        out = buffer.reserve(n)
        if self.encoding == "pcm_s16le":
            # What audio.decode_pcm computes, without an intermediate array.
            np.multiply(np.frombuffer(data, dtype="<i2", count=n), _S16_SCALE, out=out)
        else:
            out[:] = _audio.decode_pcm(memoryview(data)[:whole], encoding=self.encoding)
        buffer.commit(n)
        return n

    def flush(self) -> np.ndarray:
        """End of the audio: a partial last sample is dropped (it cannot be played)."""
        self._carry = b""
        return np.zeros(0, dtype=np.float32)


class WAVDecoder:
    """Splits a streamed WAV into its header and its PCM bytes, however they arrive.

    ``decode`` returns the audio bytes that follow the header (none until the header is
    whole), stopping at the size the header gives unless the stream did not know it
    (0 or 0xFFFFFFFF). ``header`` is set once it has been read.

    >>> decoder = WAVDecoder()
    >>> wav = _audio.wav_bytes(np.zeros(3, np.float32), sample_rate=8000)
    >>> decoder.decode(wav[:30]), len(decoder.decode(wav[30:])), decoder.header.sample_rate
    (b'', 6, 8000)
    """

    def __init__(self) -> None:
        self.header: _audio.WavHeader | None = None
        self._head = b""
        self._remaining: int | None = None
        self._trailer = 0

    def decode(self, data: bytes) -> bytes:
        """The PCM bytes that ``data`` carries, past the header."""
        if self.header is None:
            self._head += data
            try:
                header = _audio.parse_wav_header(self._head)
            except (ValueError, struct.error) as exc:
                raise ProtocolError(f"cannot read the streamed WAV's header: {exc}") from exc
            if header is None:
                if len(self._head) > _WAV_TRAILER_BYTES:
                    raise ProtocolError(
                        f"the streamed WAV's header is not whole after {len(self._head)} bytes"
                    )
                return b""
            check_rate(header.sample_rate, "the WAV header")
            if header.channels != 1:
                raise ProtocolError(
                    f"expected mono audio, the WAV stream has {header.channels} channels"
                )
            self.header, self._remaining = header, header.data_size
            data, self._head = self._head[header.header_size :], b""
        if self._remaining is not None:
            if self._remaining == 0:
                self._trailer += len(data)
                if self._trailer > _WAV_TRAILER_BYTES:
                    raise ProtocolError(
                        f"the WAV goes on {self._trailer} bytes past the {self.header.data_size} "
                        "bytes of audio its header declares"
                    )
            data, self._remaining = (
                data[: self._remaining],
                self._remaining - min(self._remaining, len(data)),
            )
        return data

    def flush(self) -> bytes:
        """End of the stream; a header that never completed is an error."""
        if self.header is None and self._head:
            raise ProtocolError(
                f"the streamed WAV ended inside its header ({len(self._head)} bytes)"
            )
        return b""


def b64decode(b64: str) -> bytes:
    """The bytes of base64 audio; ``ProtocolError`` for anything but strict base64."""
    try:
        return binascii.a2b_base64(b64, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"an audio delta is not valid base64: {b64[:40]!r}") from exc


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """``'audio/L16; rate=24000'`` -> ``('audio/l16', {'rate': '24000'})``."""
    kind, *params = value.split(";")
    parsed = {}
    for param in params:
        name, _, val = param.partition("=")
        parsed[name.strip().lower()] = val.strip().strip('"')
    return kind.strip().lower(), parsed


def error_from_payload(error: Any) -> APIError:
    """An ``APIError`` for an error object sent on an open stream or socket.

    No HTTP status came with it, so ``status_code`` is the one its ``type`` stands for.
    """
    if not isinstance(error, dict):
        error = {"message": str(error)}
    message = error.get("message") or "the server reported an error"
    status_code = _STATUS_OF_ERROR_TYPE.get(str(error.get("type")), 500)
    cls = api_error_for_status(status_code)
    return cls(
        str(message),
        status_code=status_code,
        type=error.get("type"),
        code=error.get("code"),
        param=error.get("param"),
        body={"error": error},
    )


def words_from_payload(payload: dict) -> pd.DataFrame:
    """Word table from a word_timestamps payload (parallel lists, or a list of objects).

    Raises ``ProtocolError`` for a payload of neither shape.
    """
    words = payload.get("words") or []
    try:
        if not isinstance(words, list):
            raise TypeError(f"words is a {type(words).__name__}, not a list")
        if words and isinstance(words[0], dict):
            return words_frame(
                [w.get("word", w.get("text", "")) for w in words],
                [w.get("start", w.get("start_seconds", 0.0)) for w in words],
                [w.get("end", w.get("end_seconds", 0.0)) for w in words],
            )
        return words_frame(
            words, payload.get("start_seconds") or [], payload.get("end_seconds") or []
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise ProtocolError(f"bad word timestamps: {exc}: {str(payload)[:200]!r}") from exc


def _audio_key(payload: dict) -> str | None:
    key = _AUDIO_TYPES.get(payload.get("type"))  # type: ignore[arg-type]
    if key is None and payload.get("object") == "audio.tts.chunk":
        key = "b64"
    return key


def audio_from_payload(payload: dict) -> str | None:
    """The base64 audio of a payload of any known shape, or None if it carries none."""
    key = _audio_key(payload)
    value = payload.get(key) if key is not None else None
    return value if isinstance(value, str) else None


def parse_payload(data: str) -> tuple[Any, str | None]:
    """The JSON payload of an SSE event, and its base64 audio if it carries some.

    The audio string is nearly all of an audio event: it is cut out before the JSON
    parser reads the rest, so that its characters are scanned once (by the base64
    decoder) instead of twice. Anything unusual (escapes, nesting) takes the plain path.
    The payload returned may be shared between events: read it, do not change it.
    """
    for key in ('"delta":', '"b64":', '"audio":'):
        at = data.find(key, 0, _KEY_WINDOW)
        if at < 0:
            continue
        start = at + len(key)
        while data[start : start + 1] == " ":
            start += 1
        end = data.find('"', start + 1) if data[start : start + 1] == '"' else -1
        if end > 0 and data.find("\\", start, end) < 0:
            rest = data[: start + 1] + data[end:]
            payload = _REST_CACHE.get(rest)
            if payload is None:
                payload = json.loads(rest)
                name = key[1:-2]
                if not (
                    isinstance(payload, dict)
                    and payload.get(name) == ""
                    and _audio_key(payload) == name
                ):
                    break
                if len(_REST_CACHE) >= 256:
                    _REST_CACHE.clear()
                _REST_CACHE[rest] = payload
            return payload, data[start + 1 : end]
        break
    payload = json.loads(data)
    return payload, audio_from_payload(payload) if isinstance(payload, dict) else None


def sse_payload(name: str, data: str) -> tuple[dict, str | None]:
    """The payload of one SSE event and its base64 audio; raises for error events."""
    try:
        payload, b64 = parse_payload(data)
    except ValueError as exc:
        raise ProtocolError(f"an SSE event's data is not JSON: {data[:200]!r}") from exc
    if not isinstance(payload, dict):
        raise ProtocolError(f"an SSE event's data is not a JSON object: {data[:200]!r}")
    if payload.get("error") or name == "error" or payload.get("type") == "error":
        raise error_from_payload(payload.get("error", payload))
    return payload, b64
