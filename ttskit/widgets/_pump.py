"""Consume a stream of speech events in a background thread and collect them into a Speech.

Both players (the anywidget one and the plain ipywidgets fallback) share this: the pump
iterates any iterable of ``AudioChunk``-like and ``WordTimestamps``-like events (duck-typed:
an event with ``audio`` and ``sample_rate`` is a chunk, one with ``words`` is a word table),
hands each to a callback, and records everything with the client's ``Recorder`` (the one
behind every ``Speech``) so that the whole ``Speech`` is available once the stream ends,
whether or not a browser is listening.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ..client.recording import Recorder
from ..errors import StreamInterrupted, TimeoutError
from ..results import Speech, Timing

__all__ = ["PumpedPlayer", "StreamPump"]


def is_chunk(event: Any) -> bool:
    """Whether ``event`` looks like an ``AudioChunk``."""
    return hasattr(event, "audio") and hasattr(event, "sample_rate")


def is_words(event: Any) -> bool:
    """Whether ``event`` looks like a ``WordTimestamps``."""
    return isinstance(getattr(event, "words", None), pd.DataFrame)


class StreamPump:
    """Iterate ``source`` in a daemon thread, collecting chunks and words.

    Parameters
    ----------
    source : iterable of AudioChunk and WordTimestamps
        A ``SpeechStream`` or any iterable of such events.
    on_chunk, on_words : callable, optional
        Called in the pump thread with each event and the ``clock()`` reading taken when
        the event came out of the iterator.
    on_end : callable, optional
        Called in the pump thread once the stream is exhausted or failed.
    clock : callable
        Monotonic seconds, injectable for tests.
    """

    def __init__(
        self,
        source: Iterable[Any],
        *,
        on_chunk: Callable[[Any, float], None] | None = None,
        on_words: Callable[[Any, float], None] | None = None,
        on_end: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.source = source
        self.clock = clock
        self.chunks: list[Any] = []
        self.recorder = Recorder()
        self.exception: BaseException | None = None
        #: The source is exhausted (or failed); set just before ``on_end`` is called.
        self.ended = False
        self._on_chunk = on_chunk
        self._on_words = on_words
        self._on_end = on_end
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="ttskit-pump", daemon=True)

    def start(self) -> StreamPump:
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        """The stream is exhausted (or failed) and everything has been handed on."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the stream ends; re-raise its exception if it failed.

        Raises
        ------
        ttskit.errors.TimeoutError
            When the stream has not ended after ``timeout`` seconds.
        """
        if not self._done.wait(timeout):
            raise TimeoutError(f"the stream has not ended after {timeout} s")
        if self.exception is not None:
            raise self.exception

    def _run(self) -> None:
        try:
            for event in self.source:
                got = self.clock()
                if is_chunk(event):
                    with self._lock:
                        self.chunks.append(event)
                        if self.recorder.sample_rate is None:
                            self.recorder.sample_rate = int(event.sample_rate)
                        self.recorder.add(
                            np.asarray(event.audio, dtype=np.float32), float(event.arrival_s)
                        )
                    if self._on_chunk is not None:
                        self._on_chunk(event, got)
                elif is_words(event):
                    with self._lock:
                        self.recorder.add_words(event.words)
                    if self._on_words is not None:
                        self._on_words(event, got)
        except Exception as exc:
            self.exception = exc
        finally:
            close = getattr(self.source, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:
                    self.exception = self.exception or exc
            self.ended = True
            try:
                if self._on_end is not None:
                    self._on_end()
            except Exception as exc:
                self.exception = self.exception or exc
            finally:
                self._done.set()

    # --- what has arrived --------------------------------------------------------------------

    @property
    def n_chunks(self) -> int:
        return len(self.chunks)

    @property
    def sample_rate(self) -> int:
        return int(self.recorder.sample_rate or 0)

    @property
    def received_s(self) -> float:
        """Seconds of audio received so far."""
        with self._lock:
            return self.recorder.duration

    @property
    def first_audio_s(self) -> float | None:
        """``arrival_s`` of the first chunk: the stream's TTFB."""
        return self.recorder.first_audio_s

    def words(self) -> pd.DataFrame:
        """All word timestamps received so far, in seconds from the start of the audio."""
        with self._lock:
            return self.recorder.words()

    def speech(self) -> Speech:
        """The audio and words received so far (all of it once ``done``) as a ``Speech``.

        Raises
        ------
        ttskit.errors.StreamInterrupted
            When no audio has arrived yet.
        """
        source = self.source
        with self._lock:
            if not self.recorder.n_chunks:
                raise StreamInterrupted("no audio has been received yet; wait() for it")
            speech = self.recorder.speech(
                text=str(getattr(source, "text", "") or ""),
                model=str(getattr(source, "model", "") or ""),
                voice=str(getattr(source, "voice", "") or ""),
                endpoint=str(getattr(source, "endpoint", "") or ""),
                partial=not self.done or self.exception is not None,
            )
        # A SpeechStream knows more (when headers and the first byte came): keep its timing.
        timing = getattr(source, "timing", None)
        if isinstance(timing, Timing) and len(timing.chunks) == len(speech.timing.chunks):
            speech = replace(speech, timing=timing)
        return speech


class PumpedPlayer:
    """What every player offers on top of its ``StreamPump`` (held as ``self._pump``)."""

    _pump: StreamPump
    voice: str

    @property
    def done(self) -> bool:
        """The stream has ended and the whole answer is held."""
        return self._pump.done

    @property
    def speech(self) -> Speech:
        """The audio and words received so far; the whole ``Speech`` once ``done``."""
        speech = self._pump.speech()
        return replace(speech, voice=speech.voice or self.voice)

    def wait(self, timeout: float | None = None) -> PumpedPlayer:
        """Block until the stream has ended; re-raise the stream's error if it failed.

        Raises
        ------
        ttskit.errors.TimeoutError
            When the stream has not ended after ``timeout`` seconds.
        """
        self._pump.wait(timeout)
        return self

    def __repr__(self) -> str:
        pump = self._pump
        parts = [f"voice={self.voice!r}"] if self.voice else []
        parts.append(f"{pump.received_s:.2f} s received")
        parts.append(f"{pump.n_chunks} chunks")
        if pump.ended:
            parts.append("failed" if pump.exception is not None else "done")
        else:
            parts.append("streaming")
        return f"Player({', '.join(parts)})"
