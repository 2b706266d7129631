"""The one recorder behind every ``Speech``: samples, arrivals and words in; ``Timing`` and
``Speech`` out.

A ``Recorder`` is fed audio as it arrives (decoded samples and the time they came off the
network) and word tables (already in seconds of its audio). SSE streams, chunked bodies,
WebSocket contexts and the notebook player each keep one, so that a ``Speech`` and its
``Timing`` mean the same whichever way the audio came.

>>> recorder = Recorder(sample_rate=4)
>>> recorder.add(np.ones(4, np.float32), arrival_s=0.5)
4
>>> recorder.speech().duration, recorder.timing().first_audio_s
(1.0, 0.5)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..results import WORD_COLUMNS, Speech, Timing, empty_words

__all__ = ["SILENCE_DB", "Recorder", "SampleBuffer"]

#: Level (dBFS) a chunk must rise above to count as audible for ``first_audible_s``.
SILENCE_DB = -40.0


def _audible(samples: np.ndarray, rate: int) -> bool:
    """Whether ``audio.first_audible`` finds a loud frame in ``samples``, looking at a
    growing prefix first: speech is loud early, and a whole answer is long.

    Its frames and threshold, computed for a yes or no (one small product per frame, no
    padded copy): this runs on the first chunks of every answer.
    """
    frame = max(1, int(round(0.01 * rate)))
    threshold = frame * 10.0 ** (SILENCE_DB / 10.0)
    start, size = 0, 8 * frame
    while start < len(samples):
        part = samples[start : start + size]
        whole = len(part) - len(part) % frame
        if whole:
            frames = part[:whole].reshape(-1, frame).astype(np.float64)
            if (np.einsum("ij,ij->i", frames, frames) > threshold).any():
                return True
        if whole < len(part):  # the last frame, short (as if padded with silence)
            tail = part[whole:].astype(np.float64)
            if float(tail @ tail) > threshold:
                return True
        start, size = start + size, size * 4
    return False


class SampleBuffer:
    """Float32 samples appended chunk by chunk, without a second full-size copy.

    The array grows in place (``ndarray.resize`` reallocates, and large reallocations
    remap pages instead of copying), so collecting n samples peaks near ``1.25 * n``
    rather than the ``2 * n`` of concatenating a list of chunks.
    """

    def __init__(self) -> None:
        self._data = np.empty(0, dtype=np.float32)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, samples: np.ndarray) -> None:
        self.reserve(len(samples))[:] = samples
        self._size += len(samples)

    def reserve(self, n: int) -> np.ndarray:
        """A view of the next ``n`` free samples, to decode into; ``commit(n)`` keeps them.

        The view is valid until the next ``reserve``, which may move the data.
        """
        end = self._size + n
        if end > len(self._data):
            self._data.resize(max(end, len(self._data) * 5 // 4 + 8192), refcheck=False)
        return self._data[self._size : end]

    def commit(self, n: int) -> None:
        self._size += n

    def last(self, n: int) -> np.ndarray:
        """A view of the last ``n`` samples (valid until the next ``reserve``)."""
        return self._data[self._size - n : self._size]

    def snapshot(self) -> np.ndarray:
        """A copy of the samples so far; the buffer may keep growing."""
        return self._data[: self._size].copy()

    def array(self) -> np.ndarray:
        """The samples; the buffer is trimmed to size and should not grow afterwards."""
        if len(self._data) != self._size:
            self._data.resize(self._size, refcheck=False)
        return self._data


class Recorder:
    """Audio and words as they arrive, and when; times are seconds from the request.

    Parameters
    ----------
    sample_rate : int, optional
        Rate of the audio; may be set later (a WAV header says it), before audio is added.

    Attributes
    ----------
    headers_s, first_byte_s, done_s : float or None
        Set by whoever reads the network; ``first_audio_s`` and ``first_audible_s`` are
        set here, from the chunks added.
    """

    def __init__(self, sample_rate: int | None = None) -> None:
        self.sample_rate = sample_rate
        self.samples = SampleBuffer()
        self.headers_s: float | None = None
        self.first_byte_s: float | None = None
        self.first_audio_s: float | None = None
        self.first_audible_s: float | None = None
        self.done_s: float | None = None
        self.attempts = 1
        self._arrivals: list[float] = []
        self._lengths: list[int] = []
        self._starts: list[float] = []
        self._words: list[pd.DataFrame] = []

    def __len__(self) -> int:
        """Samples recorded so far."""
        return len(self.samples)

    @property
    def n_chunks(self) -> int:
        return len(self._lengths)

    @property
    def duration(self) -> float:
        """Seconds of audio recorded so far."""
        return len(self.samples) / (self.sample_rate or 1)

    def arrived(self, arrival_s: float) -> None:
        """Note that bytes arrived (the first call sets ``first_byte_s``)."""
        if self.first_byte_s is None:
            self.first_byte_s = arrival_s

    def add(self, samples: np.ndarray, arrival_s: float) -> int:
        """Record decoded ``samples`` that arrived at ``arrival_s``; returns how many."""
        self.samples.append(samples)
        return self.booked(len(samples), arrival_s)

    def booked(self, n: int, arrival_s: float) -> int:
        """Record the ``n`` samples just decoded onto ``samples`` as one chunk."""
        if not n:
            return 0
        rate = self.sample_rate
        if not rate:
            raise AssertionError("a Recorder needs its sample rate before audio")
        self._starts.append((len(self.samples) - n) / rate)
        self._arrivals.append(arrival_s)
        self._lengths.append(n)
        if self.first_audio_s is None:
            self.first_audio_s = arrival_s
        if self.first_audible_s is None and _audible(self.samples.last(n), rate):
            self.first_audible_s = arrival_s
        return n

    def last_chunk(self) -> tuple[np.ndarray, float]:
        """A copy of the last chunk's samples (the buffer may move) and its audio start."""
        return self.samples.last(self._lengths[-1]).copy(), self._starts[-1]

    def add_words(self, words: pd.DataFrame, *, offset_s: float = 0.0) -> pd.DataFrame:
        """Record a word table, shifted by ``offset_s`` seconds; returns it as recorded."""
        if offset_s:
            words = words.assign(start=words["start"] + offset_s, end=words["end"] + offset_s)
        self._words.append(words)
        return words

    def words(self, *, until_s: float | None = None) -> pd.DataFrame:
        """All words recorded; with ``until_s``, only those that end by then."""
        tables = [w[WORD_COLUMNS] for w in self._words if not w.empty]
        if not tables:
            return empty_words()
        table = pd.concat(tables, ignore_index=True)
        if until_s is not None:
            table = table[table["end"] <= until_s + 1e-9].reset_index(drop=True)
        return table

    def timing(self) -> Timing:
        """When each part arrived so far (its ``chunks`` table is made when first read)."""
        return Timing.from_lists(
            self._arrivals[:],
            self._lengths[:],
            self._starts[:],
            headers_s=self.headers_s,
            first_byte_s=self.first_byte_s,
            first_audio_s=self.first_audio_s,
            first_audible_s=self.first_audible_s,
            done_s=self.done_s,
            sample_rate=self.sample_rate or 0,
            attempts=self.attempts,
        )

    def speech(
        self,
        *,
        text: str = "",
        model: str = "",
        voice: str = "",
        endpoint: str = "",
        final: bool = False,
        partial: bool = False,
    ) -> Speech:
        """The ``Speech`` recorded so far.

        ``final`` hands over the samples without a copy (nothing may be added afterwards).
        ``partial`` keeps only the words that end within the audio received, as a stream
        cut short has words whose audio never came.
        """
        audio = self.samples.array() if final else self.samples.snapshot()
        rate = self.sample_rate or 1
        return Speech(
            audio=audio,
            sample_rate=rate,
            words=self.words(until_s=len(audio) / rate if partial else None),
            text=text,
            model=model,
            voice=voice,
            endpoint=endpoint,
            timing=self.timing(),
        )
