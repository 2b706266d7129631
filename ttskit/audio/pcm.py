"""Raw PCM in the speech API's encodings (s16le, f32le, G.711 mu-law and A-law) and WAV
headers, including streamed WAV whose sizes are unknown."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidArgument

__all__ = [
    "ENCODINGS",
    "WavHeader",
    "bytes_per_sample",
    "decode_pcm",
    "encode_pcm",
    "parse_wav_header",
    "wav_header",
]

#: Raw PCM encodings of the speech API (``response_encoding``).
ENCODINGS = ("pcm_f32le", "pcm_s16le", "pcm_mulaw", "pcm_alaw")
_BYTES_PER_SAMPLE = {"pcm_f32le": 4, "pcm_s16le": 2, "pcm_mulaw": 1, "pcm_alaw": 1}


def _check_encoding(encoding: str) -> None:
    if encoding not in _BYTES_PER_SAMPLE:
        raise InvalidArgument(f"unknown PCM encoding {encoding!r}; expected one of {ENCODINGS}")


def bytes_per_sample(encoding: str) -> int:
    """Bytes one mono sample takes in ``encoding`` (``pcm_s16le`` -> 2)."""
    _check_encoding(encoding)
    return _BYTES_PER_SAMPLE[encoding]


# --- G.711 mu-law and A-law --------------------------------------------------------------
# Decoding goes through 256-entry tables built once from the ITU-T G.711 definitions;
# encoding is vectorised with the same segment arithmetic.


def _mulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1)
    )
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


_MULAW_DECODE = _mulaw_table()
_ALAW_DECODE = _alaw_table()


_MULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _mulaw_encode(pcm16: np.ndarray) -> np.ndarray:
    x = pcm16.astype(np.int32) >> 2  # G.711 mu-law works on 14-bit samples
    mask = np.where(x < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(x), 8159) + 33
    segment = np.searchsorted(_MULAW_SEGMENT_ENDS, magnitude)
    code = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    return ((np.where(segment >= 8, 0x7F, code) ^ mask) & 0xFF).astype(np.uint8)


def _alaw_encode(pcm16: np.ndarray) -> np.ndarray:
    x = pcm16.astype(np.int32) >> 3  # G.711 A-law works on 13-bit samples
    mask = np.where(x >= 0, 0xD5, 0x55)
    magnitude = np.where(x >= 0, x, -x - 1)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, magnitude)
    shift = np.where(segment < 2, 1, segment)
    code = (segment << 4) | ((magnitude >> shift) & 0x0F)
    return ((np.where(segment >= 8, 0x7F, code) ^ mask) & 0xFF).astype(np.uint8)


# --- raw PCM -------------------------------------------------------------------------------


def _to_pcm16(audio: np.ndarray) -> np.ndarray:
    # Scale by 32768 like decode_pcm, so decoding then re-encoding gives the same samples.
    scaled = np.round(np.asarray(audio, dtype=np.float32) * np.float32(32768.0))
    return np.clip(scaled, -32768, 32767).astype("<i2")


def encode_pcm(audio: np.ndarray, *, encoding: str = "pcm_s16le") -> bytes:
    """Encode float audio as headerless mono PCM.

    Parameters
    ----------
    audio : np.ndarray, shape (n,)
        Float samples in [-1, 1]; values outside are clipped.
    encoding : {"pcm_f32le", "pcm_s16le", "pcm_mulaw", "pcm_alaw"}

    Returns
    -------
    bytes
        ``n * bytes_per_sample(encoding)`` bytes.
    """
    _check_encoding(encoding)
    if encoding == "pcm_f32le":
        return np.clip(np.asarray(audio, dtype="<f4"), -1.0, 1.0).tobytes()
    pcm16 = _to_pcm16(audio)
    if encoding == "pcm_s16le":
        return pcm16.tobytes()
    if encoding == "pcm_mulaw":
        return _mulaw_encode(pcm16).tobytes()
    return _alaw_encode(pcm16).tobytes()


def decode_pcm(data: bytes | bytearray | memoryview, *, encoding: str = "pcm_s16le") -> np.ndarray:
    """Decode headerless mono PCM to float32 in [-1, 1].

    Parameters
    ----------
    data : bytes
        A whole number of samples; a trailing partial sample raises ``ValueError``.
    encoding : {"pcm_f32le", "pcm_s16le", "pcm_mulaw", "pcm_alaw"}

    Returns
    -------
    np.ndarray, shape (n,), float32
    """
    width = bytes_per_sample(encoding)
    if len(data) % width:
        raise InvalidArgument(
            f"{len(data)} bytes is not a whole number of {encoding} samples ({width} bytes each)"
        )
    if encoding == "pcm_f32le":
        return np.frombuffer(data, dtype="<f4").astype(np.float32, copy=True)
    if encoding == "pcm_s16le":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) * np.float32(1 / 32768)
    codes = np.frombuffer(data, dtype=np.uint8)
    table = _MULAW_DECODE if encoding == "pcm_mulaw" else _ALAW_DECODE
    return table[codes].astype(np.float32) * np.float32(1 / 32768)


# --- WAV headers (including streamed WAV with unknown sizes) ------------------------------


@dataclass(frozen=True)
class WavHeader:
    """What a RIFF/WAVE header says about the PCM that follows it."""

    header_size: int  #: bytes before the first sample
    sample_rate: int
    channels: int
    encoding: str  #: one of ENCODINGS
    data_size: int | None  #: None when the stream did not know it (0 or 0xFFFFFFFF)


_WAV_FORMATS = {(1, 16): "pcm_s16le", (3, 32): "pcm_f32le", (7, 8): "pcm_mulaw", (6, 8): "pcm_alaw"}


def parse_wav_header(data: bytes) -> WavHeader | None:
    """Parse a WAV header from the first bytes of a file or stream.

    Returns ``None`` while ``data`` is too short to hold the whole header, so a streaming
    reader can call it again with more bytes. Sizes of 0 or 0xFFFFFFFF (streamed WAV) are
    reported as an unknown ``data_size``.

    Raises
    ------
    ValueError
        If the bytes are not a WAV file, or hold a sample format this module cannot decode.
    """
    if len(data) < 12:
        return None
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise InvalidArgument(f"not a WAV stream (starts with {bytes(data[:12])!r})")
    offset = 12
    fmt: tuple[int, int, int, int] | None = None
    while True:
        if len(data) < offset + 8:
            return None
        chunk_id = bytes(data[offset : offset + 4])
        (chunk_size,) = struct.unpack("<I", data[offset + 4 : offset + 8])
        body = offset + 8
        if chunk_id == b"data":
            if fmt is None:
                raise InvalidArgument("WAV stream has a data chunk before its fmt chunk")
            audio_format, channels, sample_rate, bits = fmt
            encoding = _WAV_FORMATS.get((audio_format, bits))
            if encoding is None:
                raise InvalidArgument(
                    f"unsupported WAV sample format {audio_format} at {bits} bits"
                )
            unknown = chunk_size in (0, 0xFFFFFFFF)
            return WavHeader(body, sample_rate, channels, encoding, None if unknown else chunk_size)
        if len(data) < body + chunk_size:
            return None
        if chunk_id == b"fmt ":
            audio_format, channels, sample_rate = struct.unpack("<HHI", data[body : body + 8])
            (bits,) = struct.unpack("<H", data[body + 14 : body + 16])
            if audio_format == 0xFFFE and chunk_size >= 40:  # WAVE_FORMAT_EXTENSIBLE
                (audio_format,) = struct.unpack("<H", data[body + 24 : body + 26])
            fmt = (audio_format, channels, sample_rate, bits)
        offset = body + chunk_size + (chunk_size & 1)


def wav_header(
    *, sample_rate: int, encoding: str = "pcm_s16le", data_size: int | None = None
) -> bytes:
    """The 44-byte header of a mono WAV file holding ``data_size`` bytes of PCM.

    With ``data_size=None`` both size fields are 0xFFFFFFFF, the convention for a WAV
    streamed before its length is known.
    """
    formats = {encoding: (tag, bits) for (tag, bits), encoding in _WAV_FORMATS.items()}
    _check_encoding(encoding)
    tag, bits = formats[encoding]
    width = bits // 8
    unknown = 0xFFFFFFFF
    riff_size = unknown if data_size is None else 36 + data_size
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        riff_size,
        b"WAVE",
        b"fmt ",
        16,
        tag,
        1,
        int(sample_rate),
        int(sample_rate) * width,
        width,
        bits,
        b"data",
        unknown if data_size is None else data_size,
    )
