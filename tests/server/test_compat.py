"""The official SDKs and Together's documented ``requests`` example, against the local server.

Together's SDK (v2+) takes the host as ``base_url`` and adds ``/v1`` to its paths, so it
gets ``server.url``; OpenAI's takes ``server.base_url`` (with ``/v1``), as the hosted APIs do.
"""

from __future__ import annotations

import base64

import numpy as np
import openai
import pytest
import requests
import together

from ttskit import audio

from ..conftest import API_KEY, HOSTED_MODEL
from .helpers import TEXT, assert_same_speech

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def reference(espeak_server):
    response = requests.post(
        f"{espeak_server.base_url}/audio/speech",
        json={"model": "espeak", "input": TEXT, "voice": "en-us"},
        timeout=30,
    )
    return audio.decode_file(response.content)


@pytest.fixture
def together_client(espeak_server):
    return together.Together(api_key="unused", base_url=espeak_server.url, max_retries=0)


@pytest.fixture
def openai_client(espeak_server):
    return openai.OpenAI(api_key="unused", base_url=espeak_server.base_url, max_retries=0)


@pytest.mark.parametrize("format", ["wav", "mp3"])
def test_together_files(together_client, reference, format):
    response = together_client.audio.speech.create(
        model="espeak", input=TEXT, voice="en-us", response_format=format
    )
    samples, rate = audio.decode_file(response.read())
    assert_same_speech(samples, rate, *reference)


@pytest.mark.parametrize("encoding", ["pcm_f32le", "pcm_s16le", "pcm_mulaw", "pcm_alaw"])
def test_together_raw(together_client, reference, encoding):
    response = together_client.audio.speech.create(
        model="espeak",
        input=TEXT,
        voice="en-us",
        response_format="raw",
        response_encoding=encoding,
        sample_rate=16000,
    )
    samples = audio.decode_pcm(response.read(), encoding=encoding)
    assert_same_speech(samples, 16000, *reference)


def test_together_stream(together_client, reference):
    stream = together_client.audio.speech.create(
        model="espeak",
        input=TEXT,
        voice="en-us",
        stream=True,
        response_format="raw",
        response_encoding="pcm_s16le",
    )
    pcm = b"".join(base64.b64decode(chunk.delta) for chunk in stream)
    samples = audio.decode_pcm(pcm, encoding="pcm_s16le")
    assert_same_speech(samples, 24000, *reference)


def test_together_hosted_model_id_runs_offline(together_client):
    response = together_client.audio.speech.create(
        model=HOSTED_MODEL, input="Hello from Orpheus.", voice="tara", response_format="wav"
    )
    samples, rate = audio.decode_file(response.read())
    assert rate == 24000 and audio.rms_dbfs(samples) > -40


def test_together_sees_the_error_body(together_client):
    with pytest.raises(together.BadRequestError) as raised:
        together_client.audio.speech.create(model="espeak", input=TEXT, voice="no-such-voice")
    assert raised.value.status_code == 400
    assert raised.value.body["error"]["code"] == "voice_not_found"
    with pytest.raises(together.NotFoundError):
        together_client.audio.speech.create(model="no/such", input=TEXT, voice="en-us")


def test_together_voices(together_client):
    listed = together_client.audio.voices.list()
    assert listed.data[0].model == "espeak"
    assert "en-us" in [voice.name for voice in listed.data[0].voices]


def test_together_with_api_key(auth_server):
    client = together.Together(api_key=API_KEY, base_url=auth_server.url, max_retries=0)
    response = client.audio.speech.create(model="espeak", input="Hi.", voice="en-us")
    assert response.read()[:4] == b"RIFF"
    wrong = together.Together(api_key="wrong", base_url=auth_server.url, max_retries=0)
    with pytest.raises(together.AuthenticationError):
        wrong.audio.speech.create(model="espeak", input="Hi.", voice="en-us")


@pytest.mark.parametrize("format", ["wav", "mp3", "flac"])
def test_openai_files(openai_client, reference, format):
    response = openai_client.audio.speech.create(
        model="espeak", input=TEXT, voice="en-us", response_format=format
    )
    samples, rate = audio.decode_file(response.content)
    assert_same_speech(samples, rate, *reference)


def test_openai_pcm_is_24khz_s16le(openai_client, reference):
    response = openai_client.audio.speech.create(
        model="espeak", input=TEXT, voice="en-us", response_format="pcm", speed=1.0
    )
    assert_same_speech(audio.decode_pcm(response.content, encoding="pcm_s16le"), 24000, *reference)


def test_openai_sse_stream(openai_client, reference):
    import json

    with openai_client.audio.speech.with_streaming_response.create(
        model="espeak", input=TEXT, voice="en-us", response_format="pcm", stream_format="sse"
    ) as response:
        events = [json.loads(line[6:]) for line in response.iter_lines() if line[6:7] == "{"]
    pcm = b"".join(base64.b64decode(event["delta"]) for event in events)
    assert_same_speech(audio.decode_pcm(pcm, encoding="pcm_s16le"), 24000, *reference)


def test_openai_error(openai_client):
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client.audio.speech.create(model="espeak", input=" ", voice="en-us")
    assert raised.value.code == "empty_input"


def test_together_docs_requests_example(espeak_server, tmp_path):
    """The plain ``requests`` example of Together's docs, with only the URL changed."""
    url = f"{espeak_server.base_url}/audio/speech"
    headers = {"Authorization": "Bearer unused"}
    data = {
        "input": "This is a test of the text to speech API.",
        "voice": "tara",
        "response_format": "raw",
        "response_encoding": "pcm_s16le",
        "sample_rate": 24000,
        "stream": False,
        "model": HOSTED_MODEL,
    }
    response = requests.post(url, headers=headers, json=data, timeout=30)
    path = tmp_path / "output.pcm"
    path.write_bytes(response.content)

    pcm = path.read_bytes()
    assert response.status_code == 200 and len(pcm) % 2 == 0
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    assert 1.0 < samples.size / 24000 < 6
    assert audio.rms_dbfs(samples) > -40
