"""OpenAI's official SDK against the local server, in OpenAI's dialect (PROTOCOL.md section 7).

The SDK takes ``server.base_url`` (with ``/v1``), as it does the hosted API. Requests use
OpenAI's model ids and voices, aliased to eSpeak by the server.
"""

from __future__ import annotations

import asyncio
import base64
import json

import openai
import pytest

from ttskit import audio

from .conftest import TEXT, assert_speech

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def client(compat_server):
    return openai.OpenAI(api_key="unused", base_url=compat_server.base_url, max_retries=0)


@pytest.fixture
def async_client(compat_server):
    return openai.AsyncOpenAI(api_key="unused", base_url=compat_server.base_url, max_retries=0)


def _decode(data: bytes, format: str):
    if format == "pcm":
        return audio.decode_pcm(data, encoding="pcm_s16le"), 24000
    return audio.decode_file(data)


@pytest.mark.parametrize("format", ["mp3", "opus", "wav", "flac", "pcm"])
def test_create_every_format(client, format):
    response = client.audio.speech.create(
        model="gpt-4o-mini-tts",
        input=TEXT,
        voice="alloy",
        response_format=format,
        instructions="Speak in a cheerful tone.",
    )
    assert_speech(*_decode(response.content, format))


def test_aac_is_refused_naming_the_formats_that_work(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.audio.speech.create(model="tts-1", input=TEXT, voice="alloy", response_format="aac")
    assert raised.value.code == "unsupported_format"
    assert "opus" in raised.value.message and "mp3" in raised.value.message


@pytest.mark.parametrize("format", ["pcm", "mp3", "opus", "wav"])
def test_streaming_response_audio(client, format):
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", input=TEXT, voice="echo", response_format=format, stream_format="audio"
    ) as response:
        assert "content-length" not in response.headers
        pieces = [piece for piece in response.iter_bytes() if piece]
    assert_speech(*_decode(b"".join(pieces), format))


@pytest.mark.parametrize("format", ["pcm", "mp3"])
def test_streaming_response_sse(client, format):
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts",
        input=TEXT,
        voice={"id": "coral"},
        response_format=format,
        stream_format="sse",
    ) as response:
        events = [
            json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")
        ]
    assert [event["type"] for event in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1)
    assert events[-1]["type"] == "speech.audio.done"
    usage = events[-1]["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
    data = b"".join(base64.b64decode(event["audio"]) for event in events[:-1])
    assert_speech(*_decode(data, format))


def test_async_create_and_stream(async_client):
    async def run():
        response = await async_client.audio.speech.create(
            model="tts-1", input=TEXT, voice="alloy", response_format="wav"
        )
        async with async_client.audio.speech.with_streaming_response.create(
            model="tts-1", input=TEXT, voice="alloy", response_format="pcm", stream_format="audio"
        ) as streamed:
            pcm = b"".join([piece async for piece in streamed.iter_bytes()])
        async with async_client.audio.speech.with_streaming_response.create(
            model="tts-1", input=TEXT, voice="alloy", stream_format="sse"
        ) as streamed:
            lines = [line async for line in streamed.iter_lines()]
        return response.content, pcm, lines

    wav, pcm, lines = asyncio.run(run())
    assert_speech(*audio.decode_file(wav))
    assert_speech(audio.decode_pcm(pcm, encoding="pcm_s16le"), 24000)
    events = [json.loads(line[5:]) for line in lines if line.startswith("data:")]
    # Without response_format, an OpenAI stream is 16-bit PCM.
    sse_pcm = b"".join(base64.b64decode(e["audio"]) for e in events if "audio" in e)
    assert_speech(audio.decode_pcm(sse_pcm, encoding="pcm_s16le"), 24000)


def test_speed(client):
    slow, fast = (
        client.audio.speech.create(
            model="tts-1", input=TEXT, voice="alloy", response_format="pcm", speed=speed
        ).content
        for speed in (0.5, 2.0)
    )
    assert len(slow) > 2.5 * len(fast)


def test_models(client):
    ids = [model.id for model in client.models.list()]
    assert {"tts-1", "tts-1-hd", "gpt-4o-mini-tts"} <= set(ids)
    model = client.models.retrieve("gpt-4o-mini-tts")
    assert model.id == "gpt-4o-mini-tts" and model.object == "model"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_error(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.audio.speech.create(model="tts-1", input=" ", voice="alloy")
    assert raised.value.code == "empty_input"


def test_quickstart_stream_to_file_writes_an_mp3(client, tmp_path):
    """OpenAI's quickstart, with only the base URL changed: no response_format."""
    path = tmp_path / "speech.mp3"
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="coral", input=TEXT, instructions="Speak cheerfully."
    ) as response:
        assert response.headers["content-type"] == "audio/mpeg"
        response.stream_to_file(path)
    data = path.read_bytes()
    assert data[:3] == b"ID3" or data[0] == 0xFF  # an mp3's tag or frame sync
    assert_speech(*audio.decode_file(data))
