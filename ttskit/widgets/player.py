"""``Player``: play a speech stream live in the browser as its chunks arrive.

The kernel side iterates the stream in a background thread and sends every audio chunk to
the front end at once, as a custom widget message whose binary buffer is the chunk's
float32 PCM. The browser (``player.js``) schedules the chunks back to back on one Web Audio
``AudioContext``, so playback is gapless while chunks arrive in time; a chunk that arrives
after its slot restarts playback a few milliseconds ahead of ``currentTime`` and counts as a
stall. Words are highlighted by comparing the context's clock with their start and end.

When the stream ends the widget holds the whole answer (``wav`` and ``words`` traits), so the
front end can replay, seek and download it, and a notebook saved with its widget state keeps
it. Nothing waits for a browser: without one the pump still consumes the stream and
``player.speech`` has everything.

Autoplay: when the browser blocks audio (the context starts ``suspended``), the player shows
a button to enable sound. Chunks keep being scheduled on the suspended context, whose clock
stands still, so enabling sound plays the answer from its beginning, back to back, and the
rest of the stream follows live.
"""

from __future__ import annotations

import pathlib
import statistics
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import anywidget
import numpy as np
import traitlets

from ._pump import PumpedPlayer, StreamPump
from .fallback import with_static_view

__all__ = ["Player"]


class Player(PumpedPlayer, anywidget.AnyWidget):
    """Live player for a ``SpeechStream`` or any iterable of ``AudioChunk`` / ``WordTimestamps``.

    Parameters
    ----------
    stream : iterable of AudioChunk and WordTimestamps
        Consumed at once in a background thread; the constructor does not block.
    voice : str, optional
        Label shown by the player; defaults to the stream's ``voice`` attribute.
    clock : callable
        Monotonic seconds for the kernel-side latency figures, injectable for tests.

    Examples
    --------
    >>> stream = client.stream("Hello there.", voice="joe", alignment="word")  # doctest: +SKIP
    >>> Player(stream)  # doctest: +SKIP
    Player(voice='joe', 1.42 s received, 6 chunks, done)
    """

    _esm = pathlib.Path(__file__).with_name("player.js")
    _css = pathlib.Path(__file__).with_name("widgets.css")

    #: Tells this player's audio engine apart in the browser.
    _key = traitlets.Unicode().tag(sync=True)
    voice = traitlets.Unicode("").tag(sync=True)
    #: "streaming", "done" or "error".
    status = traitlets.Unicode("streaming").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    #: Set when the stream ends: chunks sent, seconds of audio, TTFB of the stream.
    chunks_sent = traitlets.Int(0).tag(sync=True)
    received_s = traitlets.Float(0.0).tag(sync=True)
    ttfb_s = traitlets.Float(None, allow_none=True).tag(sync=True)
    #: The whole answer once the stream has ended: 16-bit WAV bytes and ``[{word, start, end}]``.
    wav = traitlets.Bytes(b"").tag(sync=True)
    words = traitlets.List(traitlets.Dict()).tag(sync=True)
    #: Written by the browser when the stream ends: what it received and how fast it scheduled.
    frontend = traitlets.Dict().tag(sync=True)

    def __init__(
        self,
        stream: Iterable[Any],
        *,
        voice: str | None = None,
        clock: Callable[[], float] = time.perf_counter,
        **kwargs: Any,
    ) -> None:
        if voice is None:
            voice = str(getattr(stream, "voice", "") or "")
        super().__init__(voice=voice, _key=uuid.uuid4().hex, **kwargs)
        self._clock = clock
        self._kernel_ms: list[float] = []
        self._pump = StreamPump(
            stream,
            on_chunk=self._send_chunk,
            on_words=self._send_words,
            on_end=self._finish,
            clock=clock,
        )
        self._pump.start()

    # --- pump thread ---------------------------------------------------------------------------

    def _send_chunk(self, chunk: Any, got: float) -> None:
        pcm = np.ascontiguousarray(chunk.audio, dtype="<f4")
        seq = self._pump.n_chunks - 1
        content = {
            "type": "chunk",
            "seq": seq,
            "sample_rate": int(chunk.sample_rate),
            "n_samples": int(pcm.size),
            "audio_start_s": float(chunk.audio_start_s),
            "arrival_s": float(chunk.arrival_s),
            # Kernel time from the event leaving the iterator to this message being built,
            # and the wall clock at sending (comparable with the browser's only on one host).
            "kernel_ms": (self._clock() - got) * 1000.0,
            "sent_epoch_ms": time.time() * 1000.0,
        }
        self.send(content, buffers=[pcm.tobytes()])
        self._kernel_ms.append((self._clock() - got) * 1000.0)

    def _send_words(self, event: Any, got: float) -> None:
        self.send({"type": "words", "words": _word_records(event.words)})

    def _finish(self) -> None:
        pump = self._pump
        self.send({"type": "end", "n_chunks": pump.n_chunks})
        with self.hold_sync():
            self.chunks_sent = pump.n_chunks
            self.received_s = pump.received_s
            self.ttfb_s = pump.first_audio_s
            if pump.chunks:
                speech = pump.speech()
                self.words = _word_records(speech.words)
                self.wav = speech.to_wav_bytes()
            if pump.exception is not None:
                self.error = f"{type(pump.exception).__name__}: {pump.exception}"
                self.status = "error"
            else:
                self.status = "done"

    # --- public ------------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        # The widget, and the HTML view for exported notebooks (see ``widgets.fallback``).
        return with_static_view(super()._repr_mimebundle_(**kwargs), self)

    def latency(self) -> dict[str, float | int | None]:
        """Milliseconds the player adds, per chunk: kernel-side and (once reported) browser-side.

        ``kernel_*_ms`` run from a chunk leaving the stream's iterator to its message having
        been handed to the kernel's messaging (``kernel_first_ms`` for the first chunk, the
        one that decides when sound starts); ``browser_*_ms`` from the message reaching the
        widget in the browser to the chunk being scheduled on the ``AudioContext``;
        ``first_lead_ms`` is how far ahead of the context's clock the first chunk was
        scheduled. The two clocks are never subtracted from each other.
        """
        kernel = self._kernel_ms
        report = self.frontend
        return {
            "chunks": len(kernel),
            "kernel_first_ms": kernel[0] if kernel else None,
            "kernel_median_ms": statistics.median(kernel) if kernel else None,
            "kernel_max_ms": max(kernel) if kernel else None,
            "browser_median_ms": report.get("handling_median_ms"),
            "browser_max_ms": report.get("handling_max_ms"),
            "first_lead_ms": report.get("first_lead_ms"),
        }


def _word_records(words: Any) -> list[dict[str, Any]]:
    return [
        {"word": str(w), "start": float(s), "end": float(e)}
        for w, s, e in zip(words["word"], words["start"], words["end"], strict=True)
    ]
