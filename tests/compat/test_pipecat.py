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

from ttskit import audio

from ..conftest import HOSTED_MODEL
from .conftest import assert_speech

pytest.importorskip("pipecat", reason="pipecat runs in its own environment: make test-compat")

from pipecat.frames.frames import (  # noqa: E402
    EndFrame,
    ErrorFrame,
    Frame,
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


class FrameCollector(FrameProcessor):
    """Keeps the audio frames going downstream; ``stopped`` is set at the utterance's end."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[TTSAudioRawFrame] = []
        self.errors: list[ErrorFrame] = []
        self.stopped = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            self.frames.append(frame)
        elif isinstance(frame, ErrorFrame):
            self.errors.append(frame)
            self.stopped.set()
        elif isinstance(frame, TTSStoppedFrame) and self.frames:
            self.stopped.set()
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
