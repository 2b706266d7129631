"""``audio.StreamEncoder``: files written piece by piece, readable as they grow."""

from __future__ import annotations

import numpy as np
import pytest

from ttskit import audio

RATE = 24000
TONE = audio.sine(440.0, duration=2.0, sample_rate=RATE)


def _pieces(format: str, *, sample_rate: int = RATE, samples: np.ndarray = TONE) -> list[bytes]:
    encoder = audio.StreamEncoder(sample_rate=sample_rate, format=format)
    step = sample_rate // 10
    pieces = [encoder.encode(samples[i : i + step]) for i in range(0, len(samples), step)]
    return [*pieces, encoder.close()]


@pytest.mark.parametrize("format", ["mp3", "opus", "wav"])
def test_pieces_join_into_a_file_of_the_same_audio(format):
    pieces = _pieces(format)
    # Bytes come out as the audio goes in, not only when the file is closed.
    assert sum(1 for piece in pieces[: len(pieces) // 2] if piece) >= 3
    samples, rate = audio.decode_file(b"".join(pieces))
    assert rate == RATE
    assert 0 <= samples.size / RATE - 2.0 < 0.12  # mp3 adds its encoder delay and padding
    assert abs(audio.rms_dbfs(samples) - audio.rms_dbfs(TONE)) < 1.0


def test_streamed_wav_says_its_sizes_are_unknown():
    data = b"".join(_pieces("wav"))
    header = audio.parse_wav_header(data)
    assert header.data_size is None and header.header_size == 44
    assert np.array_equal(
        audio.decode_pcm(data[44:], encoding="pcm_s16le"),
        audio.decode_pcm(audio.encode_pcm(TONE), encoding="pcm_s16le"),
    )


def test_a_reader_can_decode_what_has_come_so_far():
    pieces = _pieces("mp3")
    samples, rate = audio.decode_file(b"".join(pieces[:11]))  # about the first second
    assert rate == RATE and 0.7 < samples.size / RATE < 1.2


@pytest.mark.parametrize(
    "format, asked, sent",
    [
        ("mp3", 23638, 24000),
        ("mp3", 11025, 11025),
        ("opus", 22050, 24000),
        ("opus", 44100, 48000),
        ("opus", 10000, 12000),
        ("wav", 23638, 23638),
        ("flac", 9000, 9000),
    ],
)
def test_nearest_encoder_rate(format, asked, sent):
    assert audio.nearest_encoder_rate(asked, format=format) == sent


def test_bad_arguments_quote_the_value():
    with pytest.raises(ValueError, match="23638"):
        audio.StreamEncoder(sample_rate=23638, format="mp3")
    with pytest.raises(ValueError, match="'flac'"):
        audio.StreamEncoder(sample_rate=RATE, format="flac")


def test_wav_header_with_known_size_is_a_whole_file():
    pcm = audio.encode_pcm(TONE)
    data = audio.wav_header(sample_rate=RATE, data_size=len(pcm)) + pcm
    samples, rate = audio.decode_file(data)
    assert rate == RATE and samples.size == TONE.size
