"""POST /v1/audio/speech in OpenAI's dialect, and bodies sent as they are made.

A body with ``stream_format`` (and no ``stream``) is in OpenAI's dialect: ``sse`` answers
``speech.audio.delta`` / ``speech.audio.done`` events, ``audio`` the file's bytes. Every
format that can be written as it is made goes out chunked from the first sentence on.
"""

from __future__ import annotations

import base64
import struct
import threading

import pytest
import requests

from ttskit import audio
from ttskit.engines import EngineError, load_engine
from ttskit.server import create_app
from ttskit.server.background import LocalServer

from ..conftest import HOSTED_MODEL
from .helpers import (
    assert_error,
    assert_same_speech,
    post_speech,
    speech_body,
    sse_payloads,
    wait_until_idle,
)

PARAGRAPH = (
    "The quick brown fox jumps over the lazy dog. It was a bright cold day in April. "
    "Clocks were striking thirteen! Did anyone notice? Nobody did."
)
MP3_SLACK = 0.12  # LAME's delay and padding, which a streamed mp3 has no tag to trim


@pytest.fixture(scope="module")
def reference(espeak_server):
    return audio.decode_file(post_speech(espeak_server).content)


def _decode(data: bytes, format: str, *, encoding: str = "pcm_s16le", rate: int = 24000):
    if format in ("pcm", "raw"):
        return audio.decode_pcm(data, encoding=encoding), rate
    return audio.decode_file(data)


# --- OpenAI's events ------------------------------------------------------------------------


def test_sse_event_shapes_and_no_done_marker(espeak_server, reference):
    response = post_speech(espeak_server, stream_format="sse")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    payloads = sse_payloads(response)
    assert "[DONE]" not in payloads
    *deltas, done = payloads
    assert deltas and all(set(p) == {"type", "audio"} for p in deltas)
    assert {p["type"] for p in deltas} == {"speech.audio.delta"}
    assert set(done) == {"type", "usage"} and done["type"] == "speech.audio.done"
    usage = done["usage"]
    assert set(usage) == {"input_tokens", "output_tokens", "total_tokens"}
    assert usage["input_tokens"] == 10  # the input's words
    pcm = b"".join(base64.b64decode(p["audio"]) for p in deltas)
    # Without response_format, OpenAI's stream is 16-bit PCM at 24 kHz.
    samples = audio.decode_pcm(pcm, encoding="pcm_s16le")
    assert_same_speech(samples, 24000, *reference)
    assert usage["output_tokens"] == pytest.approx(samples.size / 24000 / 0.02, abs=1)


@pytest.mark.parametrize("format", ["mp3", "opus", "wav", "pcm"])
def test_sse_carries_the_requested_format(espeak_server, reference, format):
    payloads = sse_payloads(post_speech(espeak_server, stream_format="sse", response_format=format))
    data = b"".join(base64.b64decode(p["audio"]) for p in payloads[:-1])
    samples, rate = _decode(data, format)
    assert rate == 24000
    assert_same_speech(samples, rate, *reference, slack=MP3_SLACK if format == "mp3" else 0.0)


def test_sse_refuses_flac_and_aac_is_refused_everywhere(espeak_server):
    response = post_speech(espeak_server, stream_format="sse", response_format="flac")
    assert_error(response, 400, param="response_format", code="unsupported_format")
    for fields in ({}, {"stream_format": "audio"}, {"stream_format": "sse"}):
        error = assert_error(
            post_speech(espeak_server, response_format="aac", **fields),
            400,
            param="response_format",
            code="unsupported_format",
        )
        assert "mp3" in error["message"] and "opus" in error["message"]


def test_stream_field_makes_it_together_dialect(espeak_server):
    payloads = sse_payloads(post_speech(espeak_server, stream=True, stream_format="sse"))
    assert payloads[-1] == "[DONE]"
    assert payloads[0]["type"] == "conversation.item.audio_output.delta"


# --- bodies sent as they are made -------------------------------------------------------


@pytest.mark.parametrize(
    "format, media_type",
    [("pcm", "application/octet-stream"), ("mp3", "audio/mpeg"), ("opus", "audio/ogg")],
)
@pytest.mark.parametrize("stream_format", [None, "audio"])
def test_progressive_formats_are_chunked(
    espeak_server, reference, format, media_type, stream_format
):
    response = post_speech(espeak_server, response_format=format, stream_format=stream_format)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert "content-length" not in response.headers
    assert response.headers["transfer-encoding"] == "chunked"
    samples, rate = _decode(response.content, format)
    assert rate == 24000
    assert_same_speech(samples, rate, *reference, slack=MP3_SLACK if format == "mp3" else 0.0)


def test_streamed_wav_has_unknown_sizes(espeak_server, reference):
    response = post_speech(espeak_server, response_format="wav", stream_format="audio")
    assert "content-length" not in response.headers
    (riff_size,) = struct.unpack("<I", response.content[4:8])
    (data_size,) = struct.unpack("<I", response.content[40:44])
    assert riff_size == data_size == 0xFFFFFFFF
    header = audio.parse_wav_header(response.content)
    assert header.data_size is None
    assert (header.sample_rate, header.encoding) == (24000, "pcm_s16le")
    assert_same_speech(*audio.decode_file(response.content), *reference)


def test_wav_without_streaming_keeps_exact_sizes(espeak_server):
    response = post_speech(espeak_server, response_format="wav")
    header = audio.parse_wav_header(response.content)
    assert int(response.headers["content-length"]) == len(response.content)
    assert header.header_size + header.data_size == len(response.content)


def test_default_format_of_openai_audio_stream_is_mp3(espeak_server, reference):
    response = post_speech(espeak_server, stream_format="audio")
    assert response.headers["content-type"] == "audio/mpeg"
    assert_same_speech(*audio.decode_file(response.content), *reference, slack=MP3_SLACK)


@pytest.mark.parametrize("format", ["mp3", "opus", "wav", "flac", "pcm"])
@pytest.mark.parametrize("sample_rate", [8000, 11025, 23638, 44100, 48000])
def test_every_sample_rate_with_every_format(espeak_server, format, sample_rate):
    response = post_speech(espeak_server, response_format=format, sample_rate=sample_rate)
    assert response.status_code == 200, response.text
    sent = audio.nearest_encoder_rate(sample_rate, format=format)
    assert int(response.headers["x-ttskit-sample-rate"]) == sent
    samples, rate = _decode(response.content, format, rate=sent)
    assert rate == sent
    assert 1.5 < samples.size / rate < 8 and audio.rms_dbfs(samples) > -40


# --- OpenAI's values ------------------------------------------------------------------------


def test_voice_as_an_object_and_instructions(espeak_server, reference):
    response = post_speech(espeak_server, voice={"id": "en-us"}, instructions="Whisper.")
    assert response.status_code == 200
    assert response.headers["x-ttskit-voice"] == "en-us"
    assert_same_speech(*audio.decode_file(response.content), *reference, slack=MP3_SLACK)


@pytest.fixture(scope="module")
def openai_ids_server():
    from ttskit.server.background import start_server

    aliases = dict.fromkeys(["tts-1", "tts-1-hd", "gpt-4o-mini-tts"], "espeak")
    server = start_server(engine="espeak", workers=1, aliases=aliases)
    yield server
    server.stop()


@pytest.mark.parametrize(
    "fields, content_type",
    [
        ({"model": "gpt-4o-mini-tts", "voice": "coral"}, "audio/mpeg"),
        ({"model": "tts-1", "voice": "alloy"}, "audio/mpeg"),
        ({"model": "tts-1-hd", "voice": "alloy"}, "audio/mpeg"),
        ({"instructions": "Speak calmly."}, "audio/mpeg"),
        # Together's own field makes it Together's body, whatever the model.
        ({"model": "tts-1", "voice": "alloy", "stream": False}, "audio/wav"),
        ({"model": "tts-1", "voice": "alloy", "response_format": "wav"}, "audio/wav"),
        ({}, "audio/wav"),
    ],
)
def test_openai_model_ids_and_fields_get_openai_defaults(
    openai_ids_server, reference, fields, content_type
):
    response = post_speech(openai_ids_server, **fields)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == content_type
    slack = MP3_SLACK if content_type == "audio/mpeg" else 0.0
    assert_same_speech(*audio.decode_file(response.content), *reference, slack=slack)


def test_openai_model_raw_is_16_bit(openai_ids_server, reference):
    response = post_speech(openai_ids_server, model="tts-1", voice="alloy", response_format="raw")
    samples = audio.decode_pcm(response.content, encoding="pcm_s16le")
    assert_same_speech(samples, 24000, *reference)


def test_openai_voices_speak_on_aliased_ids(espeak_server):
    for voice in ("alloy", "nova", {"id": "onyx"}):
        response = post_speech(espeak_server, model=HOSTED_MODEL, voice=voice)
        assert response.status_code == 200
        assert response.headers["x-ttskit-voice"] == "en-us"


def test_bad_voice_values(espeak_server):
    assert_error(post_speech(espeak_server, voice={"name": "en-us"}), 400, param="voice")
    assert_error(post_speech(espeak_server, voice={"id": "no-such-voice"}), 400, param="voice")


# --- made as it is sent: first bytes before the synthesis ends ----------------------------


class GatedEspeak:
    """eSpeak that holds its second sentence until ``release`` is set.

    It makes "the first bytes left before the last sentence was made" a fact a test can
    check without a clock: the body's first bytes arrive while the engine waits.
    """

    def __init__(self, *, fail_after_gate: bool = False) -> None:
        self._engine = load_engine("espeak")
        self.model = "gated"
        self.sample_rate = self._engine.sample_rate
        self.release = threading.Event()
        self.segments_made = 0
        self._fail = fail_after_gate

    def voices(self):
        return self._engine.voices()

    def synthesize(self, text, *, voice, speed=1.0):
        for index, segment in enumerate(self._engine.synthesize(text, voice=voice, speed=speed)):
            if index == 1:
                assert self.release.wait(30), "the test never released the engine"
                if self._fail:
                    raise EngineError("the engine broke down")
            self.segments_made += 1
            yield segment


@pytest.fixture
def gated():
    engine = GatedEspeak()
    with LocalServer(create_app({"gated": [engine]})) as server:
        yield engine, server
        engine.release.set()


def _open(server: LocalServer, **fields) -> requests.Response:
    body = speech_body(model="gated", input=PARAGRAPH, **fields)
    response = requests.post(f"{server.base_url}/audio/speech", json=body, stream=True, timeout=20)
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize(
    "fields",
    [
        {"response_format": "pcm"},
        {"response_format": "mp3"},
        {"response_format": "opus"},
        {"response_format": "wav", "stream_format": "audio"},
        {"response_format": "mp3", "stream_format": "sse"},
    ],
    ids=["pcm", "mp3", "opus", "wav", "sse-mp3"],
)
def test_first_bytes_leave_after_the_first_sentence(gated, fields):
    engine, server = gated
    with _open(server, **fields) as response:
        pieces = response.iter_content(chunk_size=None)
        first = next(pieces)
        assert first and engine.segments_made == 1  # the rest waits behind the gate
        engine.release.set()
        data = first + b"".join(pieces)
    assert engine.segments_made == 5
    if fields.get("stream_format") == "sse":
        assert data.endswith(b"\n\n") and b"speech.audio.done" in data
    else:
        samples, _ = _decode(data, fields["response_format"])
        assert 3 < samples.size / 24000 < 12


def test_a_client_that_leaves_stops_the_synthesis(gated):
    engine, server = gated
    engine.release.set()
    body = speech_body(model="gated", input=" ".join([PARAGRAPH] * 3), response_format="mp3")
    # The server holds every delta after the first for 30 s, so the body cannot end
    # before the client leaves; only noticing the disconnect frees the slot sooner.
    headers = {"x-ttskit-faults": "delta_delay=30"}
    response = requests.post(
        f"{server.base_url}/audio/speech", json=body, headers=headers, stream=True, timeout=20
    )
    assert next(response.iter_content(chunk_size=None))
    response.close()
    wait_until_idle(server, "gated", timeout=5.0)
    # Stopped within the few segments a synthesis may run ahead of its reader.
    assert engine.segments_made < 15


def test_failure_after_the_first_bytes_cuts_the_body():
    engine = GatedEspeak(fail_after_gate=True)
    engine.release.set()
    with LocalServer(create_app({"gated": [engine]})) as server:
        with (
            _open(server, response_format="pcm") as response,
            pytest.raises(requests.exceptions.ChunkedEncodingError),
        ):
            b"".join(response.iter_content(chunk_size=None))
        wait_until_idle(server, "gated", timeout=5.0)
        assert post_speech(server, model="gated", input="One sentence.").status_code == 200
