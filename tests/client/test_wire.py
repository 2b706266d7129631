"""The PCM and WAV decoders, fed their input whole, byte by byte and split at every byte
boundary (the SSE decoder has the same treatment in test_sse.py); and the payload shapes."""

from __future__ import annotations

import numpy as np
import pytest

from ttskit import audio
from ttskit.client.recording import SampleBuffer
from ttskit.client.wire import (
    PCMDecoder,
    WAVDecoder,
    b64decode,
    error_from_payload,
    parse_payload,
    words_from_payload,
)
from ttskit.errors import ProtocolError, RateLimitError

RATE = 8000
SAMPLES = audio.sine(440, duration=0.01, sample_rate=RATE)  # 80 samples


def splits(data: bytes):
    """``data`` whole, byte by byte, and in two pieces at every boundary."""
    yield [data]
    yield [data[i : i + 1] for i in range(len(data))]
    for i in range(len(data) + 1):
        yield [data[:i], data[i:]]


@pytest.mark.parametrize("encoding", audio.ENCODINGS)
def test_pcm_decoder_at_every_boundary(encoding: str) -> None:
    data = audio.encode_pcm(SAMPLES, encoding=encoding)
    expected = audio.decode_pcm(data, encoding=encoding)
    for pieces in splits(data):
        decoder = PCMDecoder(encoding)
        decoded = np.concatenate([decoder.decode(p) for p in pieces] + [decoder.flush()])
        np.testing.assert_array_equal(decoded, expected)
        buffer, into = SampleBuffer(), PCMDecoder(encoding)
        assert sum(into.decode_into(p, buffer) for p in pieces) == len(expected)
        np.testing.assert_array_equal(buffer.array(), expected)


def test_pcm_decoder_drops_a_partial_last_sample() -> None:
    decoder = PCMDecoder("pcm_s16le")
    assert len(decoder.decode(b"\x00\x40\x00")) == 1
    assert len(decoder.flush()) == 0 and len(decoder.decode(b"\x00\x40")) == 1


@pytest.mark.parametrize("size_known", [True, False])
def test_wav_decoder_at_every_boundary(size_known: bool) -> None:
    wav = audio.wav_bytes(SAMPLES, sample_rate=RATE)
    pcm = wav[44:]
    if not size_known:  # a streamed WAV says 0xFFFFFFFF where the sizes go
        wav = wav[:4] + b"\xff\xff\xff\xff" + wav[8:40] + b"\xff\xff\xff\xff" + pcm
    trailer = b"LIST\x04\x00\x00\x00junk"  # after the data chunk: not audio
    for pieces in splits(wav + (trailer if size_known else b"")):
        decoder = WAVDecoder()
        out = b"".join(decoder.decode(p) for p in pieces) + decoder.flush()
        assert out == pcm
        assert (decoder.header.sample_rate, decoder.header.encoding) == (RATE, "pcm_s16le")


def test_wav_decoder_errors() -> None:
    cut = WAVDecoder()
    cut.decode(audio.wav_bytes(SAMPLES, sample_rate=RATE)[:30])
    with pytest.raises(ProtocolError, match="inside its header"):
        cut.flush()
    with pytest.raises(ProtocolError, match="not a WAV"):
        WAVDecoder().decode(b"RIFX" + b"\x00" * 40)
    stereo = audio.wav_bytes(SAMPLES, sample_rate=RATE)
    stereo = stereo[:22] + b"\x02\x00" + stereo[24:]
    with pytest.raises(ProtocolError, match="2 channels"):
        WAVDecoder().decode(stereo)


@pytest.mark.parametrize(
    "data",
    [
        '{"type":"conversation.item.audio_output.delta","item_id":"tts_1","delta":"AAAA"}',
        '{"object":"audio.tts.chunk","model":"m","b64":"AAAA"}',
        '{"type":"delta","audio":"AAAA"}',
        '{"type":"speech.audio.delta","audio": "AAAA"}',
        '{"type":"speech.audio.delta","audio":"AA\\u0041A"}',  # escapes take the plain path
    ],
)
def test_every_audio_payload_shape(data: str) -> None:
    payload, b64 = parse_payload(data)
    assert b64decode(b64) == b"\x00\x00\x00"
    assert isinstance(payload, dict)


def test_bad_payloads() -> None:
    with pytest.raises(ProtocolError, match="base64"):
        b64decode("not base64!")
    with pytest.raises(ProtocolError, match="bad word timestamps"):
        words_from_payload({"words": "Hello"})
    words = words_from_payload({"words": [{"word": "Hi", "start": 0.0, "end": 0.2}]})
    assert words.to_dict("records") == [{"word": "Hi", "start": 0.0, "end": 0.2}]
    error = error_from_payload({"message": "slow down", "type": "rate_limit_error"})
    assert isinstance(error, RateLimitError) and error.status_code == 429


@pytest.mark.parametrize("rate", ["4294967296", "1e11", "0", "abc"])
def test_a_served_rate_outside_the_range_is_a_protocol_error(rate) -> None:
    from ttskit.client.decoding import AnswerDecoder
    from ttskit.client.recording import Recorder

    with pytest.raises(ProtocolError, match="sample rate"):
        AnswerDecoder(f"audio/L16; rate={rate}", encoding=None, recorder=Recorder())


def test_a_four_byte_fmt_chunk_is_a_protocol_error() -> None:
    import struct

    wav = b"RIFF" + struct.pack("<I", 40) + b"WAVE" + b"fmt " + struct.pack("<I", 4) + b"\0" * 4
    wav += b"data" + struct.pack("<I", 0)
    with pytest.raises(ProtocolError, match="WAV"):
        WAVDecoder().decode(wav)


def test_an_sse_line_without_end_is_bounded() -> None:
    from ttskit.client.sse import SSEDecoder

    decoder = SSEDecoder(max_line=1000)
    decoder.decode(b"data: " + b"x" * 900)
    with pytest.raises(ProtocolError, match="over 1000 bytes"):
        decoder.decode(b"x" * 200)
