"""Audio helpers shared by both sides of the wire.

Plain numpy functions: data first, options keyword-only, the sample rate always explicit.
Arrays are float32 mono in [-1, 1] unless a name says otherwise (``pcm16``). This package
imports nothing from ttskit but its errors, so the client and the server can both use it.

>>> import numpy as np
>>> from ttskit import audio
>>> tone = audio.sine(440.0, duration=0.1, sample_rate=8000)
>>> data = audio.encode_pcm(tone, encoding="pcm_s16le")
>>> audio.decode_pcm(data, encoding="pcm_s16le").shape
(800,)
"""

from .files import (
    ENCODER_SAMPLE_RATES,
    FILE_FORMATS,
    StreamEncoder,
    decode_file,
    encode_file,
    nearest_encoder_rate,
    wav_bytes,
)
from .pcm import (
    ENCODINGS,
    WavHeader,
    bytes_per_sample,
    decode_pcm,
    encode_pcm,
    parse_wav_header,
    wav_header,
)
from .signal import first_audible, resample, rms_dbfs, sine, to_mono

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
