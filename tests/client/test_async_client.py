"""AsyncClient against the real local server, used as coroutines (the behaviour it shares
with Client is tested once for both in test_both_clients.py)."""

from __future__ import annotations

import asyncio

import pytest

from ttskit import AsyncClient, Client
from ttskit.client import AsyncRealtimeSession, ContextDone, ItemDone
from ttskit.results import AudioChunk, WordTimestamps

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


def test_a_realtime_session_as_coroutines(espeak_server) -> None:
    async def tokens():
        for piece in ["Hi ", "there."]:
            yield piece

    async def main():
        async with AsyncClient(espeak_server.base_url) as client:
            async with client.realtime(alignment="word") as session:
                assert isinstance(session, AsyncRealtimeSession)
                await session.append("Hello.", context_id="a")
                await session.commit(context_id="a")
                kinds = set()
                async for event in session:
                    kinds.add(type(event))
                    if isinstance(event, ContextDone):
                        break
                first = session.speech("a")
                second = await session.speak_iter(tokens(), context_id="b")
            return kinds, first, second

    kinds, first, second = asyncio.run(main())
    assert {AudioChunk, WordTimestamps, ItemDone, ContextDone} <= kinds
    assert first.words["word"].tolist() == ["Hello"]
    assert second.words["word"].tolist() == ["Hi", "there"] and second.text == "Hi there."
