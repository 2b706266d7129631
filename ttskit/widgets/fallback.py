"""Plain ipywidgets stand-ins for ``Player`` and ``SpeechView`` where anywidget is missing,
and the static view every ttskit widget keeps for places without a kernel.

The stand-ins show progress as text and the audio through ``IPython.display.Audio``: no
live Web Audio playback, no waveform, but the same Python API (``speech``, ``wait``,
``done``) and the same text reprs.

Every ttskit widget also puts the HTML view of its Speech (``Speech._repr_html_``: audio
player, waveform with words, timing) in its MIME bundle, beside the widget view. A live
notebook shows the widget; a notebook exported to HTML without its widget state (what
JupyterLab saves by default), GitHub and nbviewer show that static view instead of an
empty output area.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterable
from typing import Any

import ipywidgets
from IPython.display import HTML, Audio

from ..display import speech_html
from ..errors import InvalidType
from ..results import Speech
from ._pump import PumpedPlayer, StreamPump

__all__ = ["FallbackPlayer", "FallbackSpeechView", "with_static_view"]


def with_static_view(bundle: Any, player: Any) -> Any:
    """``bundle`` (a widget's MIME bundle: data, or data and metadata) with a ``text/html``
    view of ``player.speech``.

    ``player`` is a widget with a ``speech`` attribute, or a ``Player`` whose stream may
    still be arriving: then the static view says so, since the output is fixed when shown.
    """
    if bundle is None:  # a closed widget shows nothing
        return None
    pump = getattr(player, "_pump", None)
    if pump is None or pump.ended:
        html_view = speech_html(player.speech)
    else:
        html_view = (
            '<div class="ttskit-speech" style="font-family:sans-serif;font-size:12px">'
            f"{html.escape(repr(player))}: shown while streaming; the audio plays in a "
            "notebook with a running kernel (call <code>player.wait()</code> before showing "
            "it to keep the whole answer here).</div>"
        )
    if isinstance(bundle, tuple):
        data, metadata = bundle
        return {**data, "text/html": html_view}, metadata
    return {**bundle, "text/html": html_view}


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

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return with_static_view(super()._repr_mimebundle_(**kwargs), self)

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
            raise InvalidType(f"SpeechView needs a Speech, got {type(speech).__name__}")
        self.speech = speech
        self.title = title if title is not None else (speech.voice or speech.model)
        heading = ipywidgets.HTML(f"<b>{html.escape(self.title)}</b> {_stats(speech)}")
        output = ipywidgets.Output()
        output.append_display_data(Audio(speech.audio, rate=speech.sample_rate))
        output.append_display_data(HTML(_words_html(speech)))
        super().__init__([heading, output], **kwargs)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return with_static_view(super()._repr_mimebundle_(**kwargs), self)

    def __repr__(self) -> str:
        parts = [f"title={self.title!r}"] if self.title else []
        parts.append(f"{self.speech.duration:.2f} s")
        n_words = len(self.speech.words)
        parts.append(f"{n_words} word" if n_words == 1 else f"{n_words} words")
        return f"SpeechView({', '.join(parts)})"
