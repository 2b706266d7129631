"""Plain ipywidgets stand-ins for ``Player`` and ``SpeechView`` where anywidget is missing.

They show progress as text and the audio through ``IPython.display.Audio``: no live Web
Audio playback, no waveform, but the same Python API (``speech``, ``wait``, ``done``) and
the same text reprs.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterable
from typing import Any

import ipywidgets
from IPython.display import HTML, Audio

from ..results import Speech
from ._pump import PumpedPlayer, StreamPump

__all__ = ["FallbackPlayer", "FallbackSpeechView"]


def _words_html(speech: Speech) -> str:
    spans = [
        f'<span title="{start:.2f}-{end:.2f} s">{html.escape(str(word))}</span>'
        for word, start, end in zip(
            speech.words["word"], speech.words["start"], speech.words["end"], strict=True
        )
    ]
    return f"<div>{' '.join(spans)}</div>"


def _stats(speech: Speech) -> str:
    parts = [f"{speech.duration:.2f} s"]
    if speech.timing.first_audio_s is not None:
        parts.append(f"TTFB {speech.timing.first_audio_s * 1000:.0f} ms")
    return " · ".join(parts)


class FallbackPlayer(PumpedPlayer, ipywidgets.VBox):
    """Progress while the stream arrives, then the whole answer as an audio element.

    Parameters
    ----------
    stream : iterable of AudioChunk and WordTimestamps
        Consumed at once in a background thread; the constructor does not block.
    voice : str, optional
        Label; defaults to the stream's ``voice`` attribute.
    clock : callable
        Monotonic seconds, injectable for tests.
    """

    def __init__(
        self,
        stream: Iterable[Any],
        *,
        voice: str | None = None,
        clock: Callable[[], float] = time.perf_counter,
        **kwargs: Any,
    ) -> None:
        self.voice = voice if voice is not None else str(getattr(stream, "voice", "") or "")
        self._progress = ipywidgets.HTML()
        self._output = ipywidgets.Output()
        super().__init__([self._progress, self._output], **kwargs)
        self._pump = StreamPump(
            stream, on_chunk=self._show_progress, on_end=self._show_result, clock=clock
        )
        self._show_progress()
        self._pump.start()

    def _show_progress(self, *_: Any) -> None:
        self._progress.value = html.escape(repr(self))

    def _show_result(self) -> None:
        self._progress.value = html.escape(repr(self))
        if self._pump.exception is not None:
            error = self._pump.exception
            self._progress.value += (
                f"<br>{html.escape(type(error).__name__)}: {html.escape(str(error))}"
            )
        if self._pump.chunks:
            speech = self._pump.speech()
            self._output.append_display_data(Audio(speech.audio, rate=speech.sample_rate))
            self._output.append_display_data(HTML(_words_html(speech)))


class FallbackSpeechView(ipywidgets.VBox):
    """Heading with duration and TTFB, an audio element, and the words with their times.

    Parameters
    ----------
    speech : Speech
    title : str, optional
        Heading; defaults to the speech's voice or model.
    """

    def __init__(self, speech: Speech, *, title: str | None = None, **kwargs: Any) -> None:
        if not isinstance(speech, Speech):
            raise TypeError(f"SpeechView needs a Speech, got {type(speech).__name__}")
        self.speech = speech
        self.title = title if title is not None else (speech.voice or speech.model)
        heading = ipywidgets.HTML(f"<b>{html.escape(self.title)}</b> {_stats(speech)}")
        output = ipywidgets.Output()
        output.append_display_data(Audio(speech.audio, rate=speech.sample_rate))
        output.append_display_data(HTML(_words_html(speech)))
        super().__init__([heading, output], **kwargs)

    def __repr__(self) -> str:
        parts = [f"title={self.title!r}"] if self.title else []
        parts.append(f"{self.speech.duration:.2f} s")
        n_words = len(self.speech.words)
        parts.append(f"{n_words} word" if n_words == 1 else f"{n_words} words")
        return f"SpeechView({', '.join(parts)})"
