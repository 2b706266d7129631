"""ttskit.audio: PCM encodings, G.711, WAV headers, files and levels."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from ttskit import audio

RATE = 8000
TONE = audio.sine(440.0, duration=0.25, sample_rate=RATE, amplitude=0.8)


@pytest.mark.parametrize(
    ("encoding", "tolerance"),
    # s16 encodes with 32767 and decodes with 1/32768: up to two steps apart at full scale.
    [("pcm_f32le", 0.0), ("pcm_s16le", 2 / 32767), ("pcm_mulaw", 0.032), ("pcm_alaw", 0.032)],
)
def test_round_trip_each_encoding(encoding: str, tolerance: float) -> None:
    data = audio.encode_pcm(TONE, encoding=encoding)
    assert len(data) == len(TONE) * audio.bytes_per_sample(encoding)
    decoded = audio.decode_pcm(data, encoding=encoding)
    assert decoded.dtype == np.float32 and decoded.shape == TONE.shape
    assert np.max(np.abs(decoded - TONE)) <= tolerance
    assert audio.encode_pcm(decoded, encoding=encoding) == data  # exact on the grid


def test_s16_re_encoding_is_lossless() -> None:
    data = audio.encode_pcm(TONE, encoding="pcm_s16le")
    assert audio.encode_pcm(audio.decode_pcm(data), encoding="pcm_s16le") == data


def test_encoding_clips_out_of_range_audio() -> None:
    loud = np.array([-2.0, -1.0, 0.0, 1.0, 2.0], dtype=np.float32)
    assert audio.decode_pcm(
        audio.encode_pcm(loud, encoding="pcm_f32le"), encoding="pcm_f32le"
    ).tolist() == [-1, -1, 0, 1, 1]
    assert struct.unpack("<5h", audio.encode_pcm(loud)) == (-32768, -32768, 0, 32767, 32767)


# Values from the ITU-T G.711 tables.
MULAW = {0x00: -32124, 0x7F: 0, 0x80: 32124, 0xFF: 0, 0x70: -120, 0xF0: 120, 0x0F: -16764}
ALAW = {0xD5: 8, 0x55: -8, 0xAA: 32256, 0x2A: -32256, 0xD4: 24, 0x80: 5504}


@pytest.mark.parametrize(("encoding", "table"), [("pcm_mulaw", MULAW), ("pcm_alaw", ALAW)])
def test_g711_decoding_matches_the_standard(encoding: str, table: dict[int, int]) -> None:
    decoded = audio.decode_pcm(bytes(table), encoding=encoding) * 32768
    assert decoded.round().astype(int).tolist() == list(table.values())


@pytest.mark.parametrize(
    ("encoding", "codes"),
    [("pcm_mulaw", [0xFF, 0x80, 0x00]), ("pcm_alaw", [0xD5, 0xAA, 0x2A])],
)
def test_g711_encoding_of_silence_and_full_scale(encoding: str, codes: list[int]) -> None:
    samples = np.array([0.0, 1.0, -1.0], dtype=np.float32)
    assert list(audio.encode_pcm(samples, encoding=encoding)) == codes


@pytest.mark.filterwarnings("ignore:'audioop' is deprecated:DeprecationWarning")
def test_g711_against_audioop_on_every_16_bit_value() -> None:
    audioop = pytest.importorskip("audioop")
    pcm16 = np.arange(-32768, 32768, dtype="<i2").tobytes()
    floats = np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768
    assert audio.encode_pcm(floats, encoding="pcm_mulaw") == audioop.lin2ulaw(pcm16, 2)
    assert audio.encode_pcm(floats, encoding="pcm_alaw") == audioop.lin2alaw(pcm16, 2)
    codes = bytes(range(256))
    for encoding, reference in (("pcm_mulaw", audioop.ulaw2lin), ("pcm_alaw", audioop.alaw2lin)):
        expected = np.frombuffer(reference(codes, 2), dtype="<i2")
        decoded = audio.decode_pcm(codes, encoding=encoding) * 32768
        assert np.array_equal(decoded.astype(np.int32), expected.astype(np.int32))


def test_a_partial_sample_is_an_error() -> None:
    with pytest.raises(ValueError, match="3 bytes is not a whole number of pcm_s16le samples"):
        audio.decode_pcm(b"abc", encoding="pcm_s16le")


def test_an_unknown_encoding_is_named() -> None:
    with pytest.raises(ValueError, match="'pcm_u8'"):
        audio.bytes_per_sample("pcm_u8")


def streamed_header(rate: int, fmt: int, bits: int, size: int = 0xFFFFFFFF) -> bytes:
    block = bits // 8
    return (
        b"RIFF"
        + struct.pack("<I", size)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, fmt, 1, rate, rate * block, block, bits)
        + b"LIST"
        + struct.pack("<I", 4)
        + b"INFO"  # a chunk to skip before the data
        + b"data"
        + struct.pack("<I", size)
    )


def test_a_streamed_wav_header_is_parsed_as_it_grows() -> None:
    header = streamed_header(24000, 1, 16)
    for cut in range(len(header)):
        assert audio.parse_wav_header(header[:cut]) is None
    parsed = audio.parse_wav_header(header + b"\x00\x00")
    assert parsed == audio.WavHeader(len(header), 24000, 1, "pcm_s16le", None)


@pytest.mark.parametrize(
    ("fmt", "bits", "encoding"),
    [(1, 16, "pcm_s16le"), (3, 32, "pcm_f32le"), (7, 8, "pcm_mulaw"), (6, 8, "pcm_alaw")],
)
def test_decode_file_reads_streamed_wav(fmt: int, bits: int, encoding: str) -> None:
    pcm = audio.encode_pcm(TONE, encoding=encoding)
    samples, rate = audio.decode_file(streamed_header(16000, fmt, bits) + pcm)
    assert rate == 16000 and np.array_equal(samples, audio.decode_pcm(pcm, encoding=encoding))


def test_not_a_wav() -> None:
    with pytest.raises(ValueError, match="not a WAV stream"):
        audio.parse_wav_header(b"OggS" + b"\x00" * 20)


@pytest.mark.parametrize("format", ["wav", "flac", "ogg"])
def test_file_round_trip(format: str) -> None:
    data = audio.encode_file(TONE, sample_rate=RATE, format=format)
    samples, rate = audio.decode_file(data)
    assert rate == RATE and abs(len(samples) - len(TONE)) < 0.01 * RATE


def test_a_16_bit_wav_is_what_soundfile_reads_and_writes() -> None:
    import io

    import soundfile as sf

    data = audio.wav_bytes(TONE, sample_rate=RATE)
    samples, rate = sf.read(io.BytesIO(data), dtype="int16")
    assert rate == RATE and sf.info(io.BytesIO(data)).subtype == "PCM_16"
    assert samples.tobytes() == audio.encode_pcm(TONE, encoding="pcm_s16le")
    decoded, _ = audio.decode_file(data)
    assert audio.wav_bytes(decoded, sample_rate=RATE) == data  # lossless on the 16-bit grid
    theirs = audio.encode_file(TONE, sample_rate=RATE, format="wav", subtype="PCM_16")
    assert len(theirs) == len(data) and theirs[:44] == data[:44]  # the same file layout


def test_a_multichannel_wav_keeps_its_channels() -> None:
    import io

    import soundfile as sf

    stereo = np.stack([TONE, -TONE], axis=1)
    info = sf.info(io.BytesIO(audio.wav_bytes(stereo, sample_rate=RATE)))
    assert (info.channels, info.frames) == (2, len(TONE))


def test_mp3_round_trip() -> None:
    tone = audio.sine(440.0, duration=0.5, sample_rate=24000)
    samples, rate = audio.decode_file(audio.encode_file(tone, sample_rate=24000, format="mp3"))
    assert rate == 24000 and abs(len(samples) / rate - 0.5) < 0.1
    assert abs(audio.rms_dbfs(samples) - audio.rms_dbfs(tone)) < 1.0


def test_first_audible_finds_the_first_loud_frame() -> None:
    silence = np.zeros(RATE // 4, dtype=np.float32)
    quiet = np.full(RATE // 10, 0.001, dtype=np.float32)  # -60 dBFS
    signal = np.concatenate([silence, quiet, TONE])
    assert audio.first_audible(signal, sample_rate=RATE) == len(silence) + len(quiet)
    assert audio.first_audible(signal, sample_rate=RATE, threshold_db=-70) == len(silence)
    assert audio.first_audible(silence, sample_rate=RATE) is None
    assert audio.first_audible(np.zeros(0, dtype=np.float32), sample_rate=RATE) is None


def test_rms_dbfs() -> None:
    assert audio.rms_dbfs(np.ones(100, dtype=np.float32)) == pytest.approx(0.0)
    assert audio.rms_dbfs(
        audio.sine(100, duration=1, sample_rate=RATE, amplitude=1.0)
    ) == pytest.approx(-3.01, abs=0.01)
    assert audio.rms_dbfs(np.zeros(10)) == float("-inf")


def test_to_mono_averages_channels() -> None:
    stereo = np.stack([np.ones(4), -np.ones(4) * 0.5], axis=1)
    assert audio.to_mono(stereo).tolist() == [0.25] * 4
