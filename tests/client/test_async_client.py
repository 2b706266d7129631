"""AsyncClient against the real local server, used as coroutines (the behaviour it shares
with Client is tested once for both in test_both_clients.py)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from ttskit import AsyncClient, Client, audio
from ttskit.client import AsyncRealtimeSession, ContextDone, ItemDone
from ttskit.results import AudioChunk, WordTimestamps

from ..conftest import HOSTED_MODEL
from .replay_server import Answer, b64, sse


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


def test_a_cancelled_task_keeps_what_arrived_and_hangs_up(replay) -> None:
    tone = audio.sine(440, duration=0.1, sample_rate=8000)
    delta = {"type": "conversation.item.audio_output.delta", "delta": b64(audio.encode_pcm(tone))}
    replay.answers.append(Answer([sse(delta, done=False)], hold=True))  # then nothing, open

    async def main():
        async with AsyncClient(replay.base_url, model="replay", voice="alice") as client:
            stream = await client.stream("Hi.", sample_rate=8000)
            first_audio = asyncio.Event()

            async def listen():
                async with stream:
                    async for _ in stream:
                        first_audio.set()

            task = asyncio.create_task(listen())
            await first_audio.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # Closed by the stream itself, while the client is still open.
            hung_up = await asyncio.to_thread(replay.hung_up.wait, 10)
            return await stream.speech(allow_partial=True), hung_up

    partial, hung_up = asyncio.run(main())
    np.testing.assert_array_equal(partial.audio, audio.decode_pcm(audio.encode_pcm(tone)))
    assert hung_up and replay.hangups == [1]
