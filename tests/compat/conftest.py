"""A server set up the way people point their existing clients at it.

``ttskit serve --alias tts-1=espeak --alias gpt-4o-mini-tts=espeak ...``: OpenAI's and
Together's model ids aliased to eSpeak, so that code written for the hosted APIs runs
unchanged. Each test decodes what its client got and checks that it is speech of the
right rate and length, not only that the call returned.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from ttskit import audio
from ttskit.engines.text import split_words
from ttskit.server.background import LocalServer, start_server

from ..conftest import HOSTED_MODEL

TEXT = "Hello world. This is a test of the speech server, spoken by a client people use."
OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")


@pytest.fixture(scope="session")
def compat_server() -> Iterator[LocalServer]:
    aliases = {HOSTED_MODEL: "espeak", **dict.fromkeys(OPENAI_MODELS, "espeak")}
    server = start_server(engine="espeak", workers=2, aliases=aliases)
    try:
        yield server
    finally:
        server.stop()


def assert_speech(
    samples: np.ndarray, rate: int, *, text: str = TEXT, expected_rate: int = 24000
) -> None:
    """``samples`` are speech of ``text`` at ``expected_rate``.

    eSpeak speaks about 2.5 to 3.5 words a second at its default speed; the bounds are
    wide enough for any voice and tight enough that a truncated stream, a wrong rate
    or a wrong sample width (half or double the length) fails.
    """
    assert rate == expected_rate
    seconds = samples.size / rate
    words = len(split_words(text))
    assert words / 5.0 < seconds < words / 1.5 + 0.5, (seconds, words)
    assert audio.rms_dbfs(samples) > -35, audio.rms_dbfs(samples)
    assert np.abs(samples).max() <= 1.0
