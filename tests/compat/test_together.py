"""Together's official SDK, and the ``requests`` example of its docs, against the local server.

Together's SDK (v2+) takes the host as ``base_url`` and adds ``/v1`` to its paths, so it
gets ``server.url``. Its typed stream chunk declares ``b64``; the server sends the
current guide's ``delta`` (PROTOCOL.md section 2), which the chunk keeps as an extra
field: ``chunk.to_dict()["delta"]``.
"""

from __future__ import annotations

import asyncio
import base64

import numpy as np
import pytest
import requests
import together

from ttskit import audio

from ..conftest import API_KEY, HOSTED_MODEL
from .conftest import TEXT, assert_speech

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def client(compat_server):
    return together.Together(api_key="unused", base_url=compat_server.url, max_retries=0)


@pytest.fixture
def async_client(compat_server):
    return together.AsyncTogether(api_key="unused", base_url=compat_server.url, max_retries=0)


@pytest.mark.parametrize("format", ["wav", "mp3"])
def test_create_files(client, format):
    response = client.audio.speech.create(
        model=HOSTED_MODEL, input=TEXT, voice="tara", response_format=format
    )
    assert_speech(*audio.decode_file(response.read()))


@pytest.mark.parametrize("encoding", ["pcm_f32le", "pcm_s16le", "pcm_mulaw", "pcm_alaw"])
def test_create_raw(client, encoding):
    response = client.audio.speech.create(
        model="espeak",
        input=TEXT,
        voice="en-us",
        response_format="raw",
        response_encoding=encoding,
        sample_rate=16000,
    )
    samples = audio.decode_pcm(response.read(), encoding=encoding)
    assert_speech(samples, 16000, expected_rate=16000)


def test_stream_true(client):
    stream = client.audio.speech.create(
        model=HOSTED_MODEL,
        input=TEXT,
        voice="tara",
        stream=True,
        response_format="raw",
        response_encoding="pcm_s16le",
    )
    chunks = list(stream)
    assert len(chunks) > 5
    pcm = b"".join(base64.b64decode(chunk.to_dict()["delta"]) for chunk in chunks)
    assert_speech(audio.decode_pcm(pcm, encoding="pcm_s16le"), 24000)


def test_with_streaming_response(client):
    with client.audio.speech.with_streaming_response.create(
        model=HOSTED_MODEL,
        input=TEXT,
        voice="tara",
        response_format="raw",
        response_encoding="pcm_s16le",
    ) as response:
        pieces = list(response.iter_bytes())
    assert_speech(audio.decode_pcm(b"".join(pieces), encoding="pcm_s16le"), 24000)


def test_async_create_and_stream(async_client):
    async def run():
        response = await async_client.audio.speech.create(
            model=HOSTED_MODEL, input=TEXT, voice="tara", response_format="wav"
        )
        whole = await response.read()
        stream = await async_client.audio.speech.create(
            model=HOSTED_MODEL, input=TEXT, voice="tara", stream=True, response_format="raw"
        )
        deltas = [base64.b64decode(chunk.to_dict()["delta"]) async for chunk in stream]
        async with async_client.audio.speech.with_streaming_response.create(
            model=HOSTED_MODEL, input=TEXT, voice="tara", response_format="mp3"
        ) as response:
            mp3 = b"".join([piece async for piece in response.iter_bytes()])
        return whole, b"".join(deltas), mp3

    whole, pcm, mp3 = asyncio.run(run())
    assert_speech(*audio.decode_file(whole))
    assert_speech(audio.decode_pcm(pcm, encoding="pcm_f32le"), 24000)
    assert_speech(*audio.decode_file(mp3))


def test_sees_the_error_body(client):
    with pytest.raises(together.BadRequestError) as raised:
        client.audio.speech.create(model="espeak", input=TEXT, voice="no-such-voice")
    assert raised.value.status_code == 400
    assert raised.value.body["error"]["code"] == "voice_not_found"
    with pytest.raises(together.NotFoundError):
        client.audio.speech.create(model="no/such", input=TEXT, voice="en-us")


def test_voices(client):
    listed = client.audio.voices.list()
    assert listed.data[0].model == "espeak"
    assert "en-us" in [voice.name for voice in listed.data[0].voices]


def test_with_api_key(auth_server):
    client = together.Together(api_key=API_KEY, base_url=auth_server.url, max_retries=0)
    response = client.audio.speech.create(model="espeak", input=TEXT, voice="en-us")
    assert_speech(*audio.decode_file(response.read()))
    wrong = together.Together(api_key="wrong", base_url=auth_server.url, max_retries=0)
    with pytest.raises(together.AuthenticationError):
        wrong.audio.speech.create(model="espeak", input="Hi.", voice="en-us")


def test_docs_requests_example(compat_server, tmp_path):
    """The plain ``requests`` example of Together's docs, with only the URL changed."""
    url = f"{compat_server.base_url}/audio/speech"
    headers = {"Authorization": "Bearer unused"}
    data = {
        "input": TEXT,
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
    assert_speech(np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768, 24000)


def test_models_list(compat_server):
    # SDK 3.x lists a project's custom models; the local server has none to list.
    client = together.Together(
        api_key="unused", base_url=compat_server.url, project_id="local", max_retries=0
    )
    assert list(client.models.list()) == []
