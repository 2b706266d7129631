"""Audio helpers shared by both sides of the wire.

Plain numpy functions: data first, options keyword-only, the sample rate always explicit.
Arrays are float32 mono in [-1, 1] unless a name says otherwise (``pcm16``). This module
imports nothing from ttskit but its errors, so the client and the server can both use it.

>>> import numpy as np
>>> from ttskit import audio
>>> tone = audio.sine(440.0, duration=0.1, sample_rate=8000)
>>> data = audio.encode_pcm(tone, encoding="pcm_s16le")
>>> audio.decode_pcm(data, encoding="pcm_s16le").shape
(800,)
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np

from .errors import InvalidArgument, MissingExtra

__all__ = [
    "ENCODINGS",
    "ENCODER_SAMPLE_RATES",
    "FILE_FORMATS",
    "StreamEncoder",
    "WavHeader",
    "bytes_per_sample",
    "decode_file",
    "decode_pcm",
    "encode_file",
    "encode_pcm",
    "first_audible",
    "nearest_encoder_rate",
    "parse_wav_header",
    "resample",
    "rms_dbfs",
    "sine",
    "to_mono",
    "wav_bytes",
    "wav_header",
]

#: Raw PCM encodings of the speech API (``response_encoding``).
ENCODINGS = ("pcm_f32le", "pcm_s16le", "pcm_mulaw", "pcm_alaw")
#: Container formats written through soundfile, by ``response_format`` / file suffix.
FILE_FORMATS = {"wav": "WAV", "flac": "FLAC", "mp3": "MP3", "ogg": "OGG"}
#: The only sample rates some encoders take; the others take any rate.
ENCODER_SAMPLE_RATES = {
    "mp3": (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
    "opus": (8000, 12000, 16000, 24000, 48000),
}

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


# --- files -------------------------------------------------------------------------------


def encode_file(
    audio: np.ndarray, *, sample_rate: int, format: str = "wav", subtype: str | None = None
) -> bytes:
    """Encode audio as a wav, flac, mp3 or ogg file's bytes through soundfile.

    ``subtype`` is soundfile's (``"PCM_16"``, ``"FLOAT"``, ...); each format's default
    is used when it is None (16-bit PCM for wav and flac).
    """
    key = format.lower().lstrip(".")
    if key not in FILE_FORMATS:
        raise InvalidArgument(
            f"unknown audio file format {format!r}; expected one of {list(FILE_FORMATS)}"
        )
    import soundfile as sf

    buffer = io.BytesIO()
    if subtype is None and key in ("wav", "flac"):
        subtype = "PCM_16"
    samples = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    sf.write(buffer, samples, int(sample_rate), format=FILE_FORMATS[key], subtype=subtype)
    return buffer.getvalue()


def nearest_encoder_rate(sample_rate: int, *, format: str) -> int:
    """The rate closest to ``sample_rate`` that the ``format`` encoder takes.

    >>> nearest_encoder_rate(23638, format="mp3"), nearest_encoder_rate(22050, format="opus")
    (24000, 24000)
    """
    rates = ENCODER_SAMPLE_RATES.get(format.lower().lstrip("."))
    if rates is None:
        return int(sample_rate)
    return min(rates, key=lambda rate: (abs(rate - sample_rate), -rate))


class _DrainedSink:
    """A file for soundfile's virtual I/O whose bytes are taken away as they are written.

    Encoders that fix up a header when they close (LAME's VBR tag, libFLAC's STREAMINFO)
    seek back over bytes already taken; those rewrites are dropped, which leaves the
    stream as a reader that started early saw it.
    """

    def __init__(self) -> None:
        self._taken = 0
        self._pending = bytearray()
        self._position = 0

    def write(self, data: bytes) -> int:
        data = bytes(data)
        written = len(data)
        start = self._position - self._taken
        if start < 0:  # a rewrite of bytes already taken: only its tail, if any, is new
            data, start = data[-start:], 0
        if start > len(self._pending):
            self._pending.extend(bytes(start - len(self._pending)))
        self._pending[start : start + len(data)] = data
        self._position += written
        return written

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        size = self._taken + len(self._pending)
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: size}[whence]
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        return b""

    def take(self) -> bytes:
        data = bytes(self._pending)
        self._taken += len(data)
        self._pending.clear()
        return data


# libsndfile's SFC_SET_OGG_PAGE_LATENCY_MS, which soundfile does not wrap.
_SFC_SET_OGG_PAGE_LATENCY_MS = 0x1302


def _set_ogg_page_latency(file: object, *, seconds: float) -> None:
    # An Ogg page goes out when it holds this much audio; libsndfile's default (a second)
    # would hold the first sentence back until a page fills.
    import soundfile as sf

    try:
        value = sf._ffi.new("double*", seconds * 1000.0)
        sf._snd.sf_command(
            file._file, _SFC_SET_OGG_PAGE_LATENCY_MS, value, sf._ffi.sizeof("double")
        )
    except AttributeError:  # pragma: no cover - a soundfile without its cffi handles
        pass


class StreamEncoder:
    """Encode mono audio to a file's bytes piece by piece, for answers sent as they are made.

    ``encode`` takes the next samples and returns the bytes the encoder has finished so
    far (possibly none); ``close`` returns the rest. Joined, the pieces are a file that
    any reader decodes: mp3 at a constant bit rate (its length is known from its size
    without the tag LAME writes last), Ogg/Opus, or WAV with unknown sizes (0xFFFFFFFF).

    Parameters
    ----------
    sample_rate : int
        Rate of the samples; mp3 and opus take only ``ENCODER_SAMPLE_RATES``.
    format : {"mp3", "opus", "wav"}

    Examples
    --------
    >>> encoder = StreamEncoder(sample_rate=24000, format="mp3")
    >>> data = encoder.encode(sine(440.0, duration=1.0, sample_rate=24000)) + encoder.close()
    >>> decode_file(data)[1]
    24000
    """

    #: formats, with what soundfile calls them
    FORMATS = {"mp3": ("MP3", None), "opus": ("OGG", "OPUS"), "wav": ("WAV", "PCM_16")}

    def __init__(self, *, sample_rate: int, format: str) -> None:
        if format not in self.FORMATS:
            raise InvalidArgument(
                f"cannot stream {format!r} audio; expected one of {list(self.FORMATS)}"
            )
        rates = ENCODER_SAMPLE_RATES.get(format)
        if rates is not None and sample_rate not in rates:
            raise InvalidArgument(f"{format} takes sample rates {rates}, got {sample_rate!r}")
        self.sample_rate = int(sample_rate)
        self.format = format
        self._header = b""
        self._file = None
        if format == "wav":
            # libsndfile would write sizes of 0 and fix them on close; a stream says
            # "unknown" (0xFFFFFFFF) from the start, as PROTOCOL.md's readers expect.
            self._header = wav_header(sample_rate=self.sample_rate)
            return
        import soundfile as sf

        self._sink = _DrainedSink()
        container, subtype = self.FORMATS[format]
        options = {"bitrate_mode": "CONSTANT", "compression_level": 0.5} if format == "mp3" else {}
        self._file = sf.SoundFile(
            self._sink,
            "w",
            samplerate=self.sample_rate,
            channels=1,
            format=container,
            subtype=subtype,
            **options,
        )
        if format == "opus":
            _set_ogg_page_latency(self._file, seconds=0.1)

    def encode(self, audio: np.ndarray) -> bytes:
        """Encode ``audio`` (float32, shape (n,)); the bytes finished so far."""
        samples = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
        if self._file is None:
            header, self._header = self._header, b""
            return header + encode_pcm(samples, encoding="pcm_s16le")
        if samples.size:
            self._file.write(samples)
        return self._sink.take()

    def close(self) -> bytes:
        """Finish the file; its last bytes."""
        if self._file is None:
            header, self._header = self._header, b""
            return header
        self._file.close()
        return self._sink.take()


def wav_bytes(audio: np.ndarray, *, sample_rate: int, subtype: str = "PCM_16") -> bytes:
    """A complete WAV file's bytes (16-bit PCM unless ``subtype`` says otherwise)."""
    return encode_file(audio, sample_rate=sample_rate, format="wav", subtype=subtype)


def decode_file(data: bytes) -> tuple[np.ndarray, int]:
    """Decode a wav, flac, mp3 or ogg file's bytes to float32 mono and its sample rate.

    Streamed WAV whose size fields are 0 or 0xFFFFFFFF, which libsndfile refuses, is decoded
    from its header. Multichannel audio is averaged to mono.
    """
    raw = bytes(data)
    if raw[:4] == b"RIFF":
        header = parse_wav_header(raw)
        if header is None:
            raise InvalidArgument(f"truncated WAV header ({len(raw)} bytes)")
        if header.data_size is None or header.header_size + header.data_size > len(raw):
            body = raw[header.header_size :]
            width = bytes_per_sample(header.encoding) * header.channels
            body = body[: len(body) - len(body) % width]
            samples = decode_pcm(body, encoding=header.encoding)
            return to_mono(samples.reshape(-1, header.channels)), header.sample_rate
    import soundfile as sf

    samples, sample_rate = sf.read(io.BytesIO(raw), dtype="float32", always_2d=True)
    return to_mono(samples), int(sample_rate)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average a (n, channels) array to float32 mono; a mono array passes through."""
    array = np.asarray(audio, dtype=np.float32)
    if array.ndim == 1:
        return array
    if array.ndim != 2:
        raise InvalidArgument(f"expected audio of shape (n,) or (n, channels), got {array.shape}")
    return array[:, 0].copy() if array.shape[1] == 1 else array.mean(axis=1, dtype=np.float32)


# --- resampling and levels -------------------------------------------------------------------


def resample(audio: np.ndarray, *, orig_sr: int, target_sr: int, quality: str = "HQ") -> np.ndarray:
    """Resample mono float audio with soxr (``pip install soxr``)."""
    if orig_sr <= 0 or target_sr <= 0:
        raise InvalidArgument(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    samples = np.asarray(audio, dtype=np.float32)
    if orig_sr == target_sr or samples.size == 0:
        return samples
    try:
        import soxr
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtra("resampling needs soxr: pip install 'ttskit[server]'") from exc
    return soxr.resample(samples, orig_sr, target_sr, quality=quality).astype(
        np.float32, copy=False
    )


def rms_dbfs(audio: np.ndarray) -> float:
    """Root-mean-square level in dB relative to full scale (-inf for silence)."""
    samples = np.asarray(audio, dtype=np.float64)
    if samples.size == 0:
        return float("-inf")
    power = float(np.mean(samples * samples))
    return 10.0 * np.log10(power) if power > 0 else float("-inf")


def first_audible(
    audio: np.ndarray, *, sample_rate: int, threshold_db: float = -40.0, frame_s: float = 0.01
) -> int | None:
    """Index of the first sample of the first frame louder than ``threshold_db`` dBFS.

    Frames are ``frame_s`` long; returns None if no frame rises above the threshold.
    """
    samples = np.asarray(audio, dtype=np.float32)
    frame = max(1, int(round(frame_s * sample_rate)))
    n_frames = -(-samples.size // frame)
    if n_frames == 0:
        return None
    padded = np.zeros(n_frames * frame, dtype=np.float32)
    padded[: samples.size] = samples
    power = np.mean(padded.reshape(n_frames, frame).astype(np.float64) ** 2, axis=1)
    loud = np.flatnonzero(power > 10.0 ** (threshold_db / 10.0))
    return int(loud[0] * frame) if loud.size else None


def sine(
    frequency: float, *, duration: float, sample_rate: int, amplitude: float = 0.5
) -> np.ndarray:
    """A float32 sine tone, for examples and tests."""
    t = np.arange(int(round(duration * sample_rate)), dtype=np.float64) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
