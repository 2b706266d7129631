"""pipecat's TTS services against the local server, in a minimal pipeline.

``TogetherTTSService`` speaks the WebSocket (it never sends ``sample_rate`` and assumes
24 kHz); ``OpenAITTSService`` reads a chunked pcm body. Each runs in a pipeline of the
service and a frame collector; the test decodes the frames the service pushed.

pipecat is a large install, so these run in their own environment: ``make test-compat``.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import requests

from ttskit import audio
from ttskit.server.background import start_server
from ttskit.server.faults import Faults

from ..conftest import HOSTED_MODEL
from .conftest import OPENAI_MODELS, assert_speech

pytest.importorskip("pipecat", reason="pipecat runs in its own environment: make test-compat")

from pipecat.frames.frames import (  # noqa: E402
    EndFrame,
    ErrorFrame,
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStoppedFrame,
)
from pipecat.pipeline.pipeline import Pipeline  # noqa: E402
from pipecat.pipeline.worker import PipelineWorker  # noqa: E402
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor  # noqa: E402
from pipecat.services.openai.tts import OpenAITTSService  # noqa: E402
from pipecat.services.together.tts import TogetherTTSService  # noqa: E402
from pipecat.workers.runner import WorkerRunner  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SENTENCE = "Hello from the local speech server, through a voice agent pipeline."
# A guard against a hang, far above the second or so the synthesis takes.
_GIVE_UP_S = 60
#: The shortest turn a user takes: end-of-turn detection alone waits longer.
_USER_TURN_S = 0.3


class FrameCollector(FrameProcessor):
    """Keeps the audio frames going downstream; ``stopped`` is set at the utterance's end."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[TTSAudioRawFrame] = []
        self.errors: list[ErrorFrame] = []
        self.stopped = asyncio.Event()
        #: set when the end of an LLM reply has passed, after all of its audio
        self.reply_ended = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            self.frames.append(frame)
        elif isinstance(frame, ErrorFrame):
            self.errors.append(frame)
            self.stopped.set()
        elif isinstance(frame, TTSStoppedFrame) and self.frames:
            self.stopped.set()
        elif isinstance(frame, LLMFullResponseEndFrame):
            self.reply_ended.set()
        await self.push_frame(frame, direction)


async def _speak(service: FrameProcessor, text: str) -> FrameCollector:
    collector = FrameCollector()
    worker = PipelineWorker(Pipeline([service, collector]), cancel_on_idle_timeout=False)
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)

    async def drive() -> None:
        await worker.queue_frames([TTSSpeakFrame(text)])
        await asyncio.wait_for(collector.stopped.wait(), _GIVE_UP_S)
        await worker.queue_frame(EndFrame())

    await asyncio.gather(runner.run(), drive())
    return collector


def _audio(collector: FrameCollector) -> tuple[np.ndarray, int]:
    assert not collector.errors, collector.errors
    assert collector.frames
    rates = {frame.sample_rate for frame in collector.frames}
    assert len(rates) == 1 and {frame.num_channels for frame in collector.frames} == {1}
    pcm = b"".join(frame.audio for frame in collector.frames)
    return audio.decode_pcm(pcm, encoding="pcm_s16le"), rates.pop()


def test_together_tts_service(compat_server):
    service = TogetherTTSService(
        api_key="unused",
        url=compat_server.websocket_url,
        settings=TogetherTTSService.Settings(model=HOSTED_MODEL, voice="tara"),
    )
    collector = asyncio.run(_speak(service, SENTENCE))
    assert_speech(*_audio(collector), text=SENTENCE)


def test_openai_tts_service(compat_server):
    service = OpenAITTSService(
        api_key="unused",
        base_url=compat_server.base_url,
        settings=OpenAITTSService.Settings(model="gpt-4o-mini-tts", voice="nova"),
    )
    collector = asyncio.run(_speak(service, SENTENCE))
    assert_speech(*_audio(collector), text=SENTENCE)


# --- interruptions and replies of several sentences ----------------------------------------

UTTERANCE = (
    "This is a long answer that the user will interrupt, with many words in it, so that "
    "its audio lasts for several seconds and the interruption lands well before its end"
)
REPLY = "Short reply."
REPLY_SENTENCES = ["Here is a reply.", "It has three sentences.", "Each one is spoken."]


@pytest.fixture(scope="module")
def paced_server():
    """eSpeak sending its audio 50 ms a delta (0.1 s), as a slower engine would, so that
    an interruption lands mid-utterance."""
    aliases = {HOSTED_MODEL: "espeak", **dict.fromkeys(OPENAI_MODELS, "espeak")}
    server = start_server(
        engine="espeak", workers=2, aliases=aliases, faults=Faults(delta_delay=0.05)
    )
    try:
        yield server
    finally:
        server.stop()


def _seconds_of(server, text: str) -> float:
    response = requests.post(
        f"{server.base_url}/audio/speech",
        json={"model": "espeak", "voice": "en-us", "input": text},
        timeout=60,
    )
    samples, rate = audio.decode_file(response.content)
    return samples.size / rate


class Phases(FrameProcessor):
    """Audio frames before and after an interruption passes, and the end of each."""

    def __init__(self) -> None:
        super().__init__()
        self.before: list[TTSAudioRawFrame] = []
        self.after: list[TTSAudioRawFrame] = []
        self.errors: list[ErrorFrame] = []
        self.interrupted = False
        self.first_audio = asyncio.Event()
        self.interruption_passed = asyncio.Event()
        self.reply_stopped = asyncio.Event()
        self.stops_after = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            (self.after if self.interrupted else self.before).append(frame)
            self.first_audio.set()
        elif isinstance(frame, InterruptionFrame):
            self.interrupted = True
            self.interruption_passed.set()
        elif isinstance(frame, ErrorFrame):
            self.errors.append(frame)
            self.reply_stopped.set()
        elif isinstance(frame, TTSStoppedFrame) and self.interrupted and self.after:
            self.reply_stopped.set()
        await self.push_frame(frame, direction)


def _pcm_seconds(frames: list[TTSAudioRawFrame]) -> float:
    return sum(len(frame.audio) for frame in frames) / 2 / frames[0].sample_rate


async def _interrupt(service: FrameProcessor) -> Phases:
    phases = Phases()
    worker = PipelineWorker(Pipeline([service, phases]), cancel_on_idle_timeout=False)
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)

    async def drive() -> None:
        await worker.queue_frames([TTSSpeakFrame(UTTERANCE)])
        await asyncio.wait_for(phases.first_audio.wait(), _GIVE_UP_S)
        await worker.queue_frame(InterruptionFrame())
        await asyncio.wait_for(phases.interruption_passed.wait(), _GIVE_UP_S)
        # The user's turn: a reply comes after the user has spoken, never within the
        # milliseconds the interrupted item's done takes to come back (the service ends
        # whichever context is active at any done, so a reply sent that soon could be
        # ended by it).
        await asyncio.sleep(_USER_TURN_S)
        await worker.queue_frames([TTSSpeakFrame(REPLY)])
        await asyncio.wait_for(phases.reply_stopped.wait(), _GIVE_UP_S)
        await worker.queue_frame(EndFrame())

    await asyncio.gather(runner.run(), drive())
    return phases


def _together(server) -> TogetherTTSService:
    return TogetherTTSService(
        api_key="unused",
        url=server.websocket_url,
        settings=TogetherTTSService.Settings(model=HOSTED_MODEL, voice="tara"),
    )


def _openai(server) -> OpenAITTSService:
    return OpenAITTSService(
        api_key="unused",
        base_url=server.base_url,
        settings=OpenAITTSService.Settings(model="gpt-4o-mini-tts", voice="nova"),
    )


@pytest.mark.parametrize("make_service", [_together, _openai], ids=["together", "openai"])
def test_an_interrupted_utterance_gives_way_to_the_reply(paced_server, make_service):
    phases = asyncio.run(_interrupt(make_service(paced_server)))
    assert not phases.errors, phases.errors
    utterance_s = _seconds_of(paced_server, UTTERANCE)
    assert _pcm_seconds(phases.before) < utterance_s / 2  # interrupted mid-utterance
    # What came after the interruption is the reply, whole, and nothing of the utterance.
    reply_s = _seconds_of(paced_server, REPLY)
    assert abs(_pcm_seconds(phases.after) - reply_s) < 0.15, (_pcm_seconds(phases.after), reply_s)


async def _reply(service: FrameProcessor, sentences: list[str]) -> FrameCollector:
    """A reply as an LLM gives it: a start, its text in tokens, an end."""
    collector = FrameCollector()
    worker = PipelineWorker(Pipeline([service, collector]), cancel_on_idle_timeout=False)
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)

    async def drive() -> None:
        tokens = [word + " " for word in " ".join(sentences).split()]
        frames = [LLMFullResponseStartFrame(), *(LLMTextFrame(t) for t in tokens)]
        await worker.queue_frames([*frames, LLMFullResponseEndFrame()])
        await asyncio.wait_for(collector.reply_ended.wait(), _GIVE_UP_S)
        await worker.queue_frame(EndFrame())

    await asyncio.gather(runner.run(), drive())
    return collector


@pytest.mark.parametrize("make_service", [_together, _openai], ids=["together", "openai"])
def test_a_reply_of_several_sentences_is_spoken_whole(compat_server, make_service):
    collector = asyncio.run(_reply(make_service(compat_server), REPLY_SENTENCES))
    samples, rate = _audio(collector)
    text = " ".join(REPLY_SENTENCES)
    assert_speech(samples, rate, text=text)
    expected = sum(_seconds_of(compat_server, sentence) for sentence in REPLY_SENTENCES)
    assert abs(samples.size / rate - expected) < 0.1 * expected
