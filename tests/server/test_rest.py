"""POST /v1/audio/speech without streaming: formats, encodings, sample rates, options."""

from __future__ import annotations

import pytest

from ttskit import audio

from .helpers import TEXT, assert_same_speech, post_speech

ENCODINGS = ["pcm_f32le", "pcm_s16le", "pcm_mulaw", "pcm_alaw"]
SAMPLE_RATES = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000]


@pytest.fixture(scope="module")
def reference(espeak_server):
    """The default answer: a 16-bit WAV at 24 kHz."""
    response = post_speech(espeak_server)
    assert response.status_code == 200
    samples, rate = audio.decode_file(response.content)
    return samples, rate


def test_default_is_wav_at_24000(espeak_server, reference):
    response = post_speech(espeak_server)
    assert response.headers["content-type"] == "audio/wav"
    assert response.content[:4] == b"RIFF"
    samples, rate = reference
    assert rate == 24000
    # About three seconds of speech for two short sentences; loud enough to be speech.
    assert 1.5 < samples.size / rate < 8
    assert audio.rms_dbfs(samples) > -40


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_raw_encodings_decode_to_the_wav_audio(espeak_server, reference, encoding):
    response = post_speech(espeak_server, response_format="raw", response_encoding=encoding)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    samples = audio.decode_pcm(response.content, encoding=encoding)
    assert_same_speech(samples, 24000, *reference)


def test_raw_defaults_to_f32le(espeak_server, reference):
    response = post_speech(espeak_server, response_format="raw")
    samples = audio.decode_pcm(response.content, encoding="pcm_f32le")
    assert_same_speech(samples, 24000, *reference)


@pytest.mark.parametrize("format, media_type", [("mp3", "audio/mpeg"), ("flac", "audio/flac")])
def test_compressed_formats(espeak_server, reference, format, media_type):
    response = post_speech(espeak_server, response_format=format)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    samples, rate = audio.decode_file(response.content)
    assert rate == 24000
    assert_same_speech(samples, rate, *reference, slack=0.12 if format == "mp3" else 0.0)


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
def test_every_sample_rate(espeak_server, reference, sample_rate):
    response = post_speech(espeak_server, sample_rate=sample_rate)
    samples, rate = audio.decode_file(response.content)
    assert rate == sample_rate
    assert_same_speech(samples, rate, *reference)


@pytest.mark.parametrize("sample_rate", [8000, 48000])
def test_sample_rate_applies_to_raw(espeak_server, reference, sample_rate):
    response = post_speech(
        espeak_server, response_format="raw", response_encoding="pcm_s16le", sample_rate=sample_rate
    )
    samples = audio.decode_pcm(response.content, encoding="pcm_s16le")
    assert_same_speech(samples, sample_rate, *reference)


def test_speed_changes_duration(espeak_server):
    durations = {}
    for speed in (0.5, 1.0, 2.0):
        samples, rate = audio.decode_file(post_speech(espeak_server, speed=speed).content)
        durations[speed] = samples.size / rate
    assert durations[0.5] > 1.5 * durations[1.0] > 1.5 * 0.75 * durations[2.0]


def test_accepted_options_that_do_not_change_rest_audio(espeak_server, reference):
    response = post_speech(
        espeak_server, language="en", segment="never", alignment="word", stream=False
    )
    samples, rate = audio.decode_file(response.content)
    assert_same_speech(samples, rate, *reference)


def test_openai_pcm_is_raw_s16le(espeak_server, reference):
    response = post_speech(espeak_server, response_format="pcm")
    assert response.headers["content-type"] == "application/octet-stream"
    samples = audio.decode_pcm(response.content, encoding="pcm_s16le")
    assert_same_speech(samples, 24000, *reference)


def test_unknown_fields_are_ignored(espeak_server):
    response = post_speech(espeak_server, bit_rate=128000, instructions="cheerful", extra_params={})
    assert response.status_code == 200


def test_voice_variant_not_listed_is_spoken(espeak_server, reference):
    response = post_speech(espeak_server, voice="en-us+f4")
    assert response.status_code == 200
    assert response.headers["x-ttskit-voice"] == "en-us+f4"
    samples, _ = audio.decode_file(response.content)
    # The f4 variant is a woman's voice: same words, a different voice, a different length.
    assert audio.rms_dbfs(samples) > -40


def test_headers(espeak_server):
    first, second = post_speech(espeak_server), post_speech(espeak_server)
    ids = {first.headers["x-request-id"], second.headers["x-request-id"]}
    assert len(ids) == 2 and all(i.startswith("req_") for i in ids)
    assert int(first.headers["x-ratelimit-limit"]) == 2 + 16
    assert 0 <= int(first.headers["x-ratelimit-remaining"]) <= 18
    assert first.headers["x-ttskit-model"] == "espeak"


def test_hosted_alias_speaks_with_a_local_voice(espeak_server):
    response = post_speech(
        espeak_server, model="canopylabs/orpheus-3b-0.1-ft", voice="tara", input=TEXT
    )
    assert response.status_code == 200
    assert response.headers["x-ttskit-model"] == "espeak"
    assert response.headers["x-ttskit-voice"] == "en-us"


def test_curl_style_body_without_json_content_type_is_refused(espeak_server):
    # A form or text/plain POST is what a web page can send without a preflight.
    import json

    import requests

    response = requests.post(
        f"{espeak_server.base_url}/audio/speech",
        data=json.dumps({"model": "espeak", "input": "Hi there.", "voice": "en-us"}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    assert response.status_code == 415
    assert "Content-Type: application/json" in response.json()["error"]["message"]
