"""Audio files through soundfile: whole files (wav, flac, mp3, ogg) and files written as the
audio is made (``StreamEncoder``), and decoding any of them back to float32 mono."""

from __future__ import annotations

import io

import numpy as np

from ..errors import InvalidArgument
from .pcm import bytes_per_sample, decode_pcm, encode_pcm, parse_wav_header, wav_header
from .signal import to_mono

__all__ = [
    "ENCODER_SAMPLE_RATES",
    "FILE_FORMATS",
    "StreamEncoder",
    "decode_file",
    "encode_file",
    "nearest_encoder_rate",
    "wav_bytes",
]

#: Container formats written through soundfile, by ``response_format`` / file suffix.
FILE_FORMATS = {"wav": "WAV", "flac": "FLAC", "mp3": "MP3", "ogg": "OGG"}
#: The only sample rates some encoders take; the others take any rate.
ENCODER_SAMPLE_RATES = {
    "mp3": (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
    "opus": (8000, 12000, 16000, 24000, 48000),
}


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
    >>> from ttskit.audio import sine
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
    """A complete WAV file's bytes (16-bit PCM unless ``subtype`` says otherwise).

    Mono 16-bit PCM, what the server answers most, is a 44-byte header and the samples as
    ``encode_pcm`` writes them (a fraction of soundfile's cost for short answers); other
    subtypes and multichannel audio go through soundfile.
    """
    samples = np.asarray(audio, dtype=np.float32)
    if subtype.upper() == "PCM_16" and samples.ndim == 1:
        pcm = encode_pcm(samples)
        return wav_header(sample_rate=sample_rate, data_size=len(pcm)) + pcm
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
