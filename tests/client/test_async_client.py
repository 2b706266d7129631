"""AsyncClient against the real local server: the same results and errors as Client."""

from __future__ import annotations

import asyncio

import pytest

from ttskit import AsyncClient, Client
from ttskit.errors import BadRequestError, ConnectError

from ..conftest import HOSTED_MODEL


def test_speak_and_stream_give_what_client_gives(espeak_server) -> None:
    async def main():
        async with AsyncClient(espeak_server.base_url) as client:
            rest = await client.speak("Hello there.")
            async with client.stream("Hello.", model=HOSTED_MODEL, voice="tara") as stream:
                events = [event async for event in stream]
                speech = await stream.speech()
                head = (stream.status, stream.served_model, stream.request_id is not None)
            return rest, events, speech, head

    rest, events, speech, head = asyncio.run(main())
    sync = Client(espeak_server.base_url).speak("Hello there.")
    assert (rest.sample_rate, rest.model, rest.voice) == (sync.sample_rate, sync.model, sync.voice)
    assert rest.duration == pytest.approx(sync.duration, abs=0.05)
    assert events and head == (200, "espeak", True)
    assert (speech.model, speech.requested_voice) == ("espeak", "tara")


def test_errors_are_the_clients(espeak_server) -> None:
    async def bad_voice():
        async with AsyncClient(espeak_server.base_url, model="espeak") as client:
            await client.speak("Hi.", voice="no-such-voice")

    with pytest.raises(BadRequestError):
        asyncio.run(bad_voice())

    async def refused():
        async with AsyncClient("http://127.0.0.1:9/v1", model="m", voice="v", max_retries=0) as c:
            await c.speak("Hi.")

    with pytest.raises(ConnectError, match="could not connect for POST"):
        asyncio.run(refused())
