"""Results every layer shares: ``Speech`` and its ``Timing``.

A ``Speech`` is audio (float32 mono in [-1, 1]) with its sample rate, word timestamps as a
DataFrame, what was asked for, which endpoint answered, and when each part arrived.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import audio as _audio
from .errors import InvalidArgument, NoSuchItem

__all__ = [
    "CHUNK_COLUMNS",
    "WORD_COLUMNS",
    "AudioChunk",
    "Speech",
    "Timing",
    "WordTimestamps",
    "empty_words",
    "words_frame",
]

WORD_COLUMNS = ["word", "start", "end"]
CHUNK_COLUMNS = ["arrival_s", "n_samples", "audio_start_s"]


_EMPTY_WORDS = pd.DataFrame(
    {
        "word": pd.Series([], dtype=object),
        "start": pd.Series([], dtype=float),
        "end": pd.Series([], dtype=float),
    }
)


def empty_words() -> pd.DataFrame:
    """An empty word table with the standard columns and dtypes."""
    return _EMPTY_WORDS.copy()  # copying a template is ten times cheaper than building one


def words_frame(
    words: Sequence[str], starts: Sequence[float], ends: Sequence[float], *, offset: float = 0.0
) -> pd.DataFrame:
    """Word table from parallel lists, shifted by ``offset`` seconds."""
    if not (len(words) == len(starts) == len(ends)):
        raise InvalidArgument(
            f"word timestamps disagree in length: {len(words)} words, "
            f"{len(starts)} starts, {len(ends)} ends"
        )
    if not len(words):
        return empty_words()
    return pd.DataFrame(
        {
            "word": pd.Series(list(words), dtype=object),
            "start": np.asarray(starts, dtype=float) + offset,
            "end": np.asarray(ends, dtype=float) + offset,
        }
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _empty_chunks() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "arrival_s": pd.Series([], dtype=float),
            "n_samples": pd.Series([], dtype="int64"),
            "audio_start_s": pd.Series([], dtype=float),
        }
    )


@dataclass
class Timing:
    """When each part of an answer arrived, in seconds since the request was started.

    Attributes
    ----------
    headers_s : float or None
        Response headers received.
    first_byte_s : float or None
        First byte of the body received.
    first_audio_s : float or None
        First audio sample decoded: "TTFB" as TTS users mean it.
    first_audible_s : float or None
        Arrival of the first chunk whose audio rises above the silence threshold.
    done_s : float or None
        The answer was complete.
    chunks : pandas.DataFrame
        One row per audio chunk: ``arrival_s``, ``n_samples``, ``audio_start_s`` (empty
        when None is given). A ``Timing`` made by ``from_lists`` builds it when first read.
    sample_rate : int
        Sample rate of the chunks' audio, to turn samples into seconds.
    attempts : int
        HTTP requests the answer took: 1, plus the client's retries of refused requests
        (the times count from the first). 1 for a WebSocket context.
    """

    headers_s: float | None = None
    first_byte_s: float | None = None
    first_audio_s: float | None = None
    first_audible_s: float | None = None
    done_s: float | None = None
    chunks: pd.DataFrame = None  # type: ignore[assignment]  # a property, set below the class
    sample_rate: int = 0
    attempts: int = 1

    @classmethod
    def from_lists(
        cls,
        arrival_s: list[float],
        n_samples: list[int],
        audio_start_s: list[float],
        **times: Any,
    ) -> Timing:
        """A ``Timing`` whose chunks are the three lists (owned from now on), made into the
        ``chunks`` DataFrame only when it is read: a recorder makes one per answer, and most
        readers want only the times or ``chunk_lists``.

        >>> Timing.from_lists([0.5], [4], [0.0], first_audio_s=0.5, sample_rate=4).chunks
           arrival_s  n_samples  audio_start_s
        0        0.5          4            0.0
        """
        timing = cls(**times)
        timing._chunks = (arrival_s, n_samples, audio_start_s)
        return timing

    def chunk_lists(self) -> tuple[list[float], list[int], list[float]]:
        """The ``chunks`` columns as lists (``arrival_s``, ``n_samples``, ``audio_start_s``),
        without making the DataFrame when it was not made yet."""
        chunks = self._chunks
        if isinstance(chunks, tuple):
            return list(chunks[0]), list(chunks[1]), list(chunks[2])
        if chunks is None:
            return [], [], []
        return (
            chunks["arrival_s"].tolist(),
            chunks["n_samples"].tolist(),
            chunks["audio_start_s"].tolist(),
        )

    @property
    def ttfb(self) -> float | None:
        """Alias of ``first_audio_s``."""
        return self.first_audio_s

    @property
    def audio_duration_s(self) -> float:
        """Seconds of audio received."""
        if not self.sample_rate or self.chunks.empty:
            return 0.0
        return float(self.chunks["n_samples"].sum()) / self.sample_rate

    @property
    def real_time_factor(self) -> float:
        """Wall time to produce the audio divided by its duration (below 1: faster than real time)."""
        duration = self.audio_duration_s
        if not duration or self.done_s is None:
            return math.nan
        return self.done_s / duration

    @property
    def audio_per_second(self) -> float:
        """Audio seconds delivered per wall-clock second (the inverse of the real-time factor)."""
        rtf = self.real_time_factor
        return math.nan if not rtf or math.isnan(rtf) else 1.0 / rtf

    def _first_playable(self, start_buffer_s: float) -> int:
        # Index of the first chunk by whose arrival ``start_buffer_s`` of audio is buffered
        # (the last chunk when the whole answer is shorter than that).
        start = self.chunks["audio_start_s"].to_numpy(dtype=float)
        length = self.chunks["n_samples"].to_numpy(dtype=float) / self.sample_rate
        ready = np.flatnonzero(start + length >= start_buffer_s - 1e-9)
        return int(ready[0]) if ready.size else len(start) - 1

    def playback_start(self, start_buffer_s: float = 0.0) -> float | None:
        """Wall time a player starts: when ``start_buffer_s`` seconds of audio have arrived
        (or the stream ended). None when no audio arrived."""
        if self.chunks.empty or not self.sample_rate:
            return None
        return float(self.chunks["arrival_s"].iat[self._first_playable(start_buffer_s)])

    def stalls(self, start_buffer_s: float = 0.0) -> pd.DataFrame:
        """The underruns a player would hit.

        The player starts at ``playback_start(start_buffer_s)`` and plays in real time;
        whenever the next chunk arrives after the moment it was due, playback stalls until
        it arrives.

        Returns
        -------
        pandas.DataFrame
            One row per stall: ``at_s`` (wall time the player ran dry), ``duration_s``,
            ``audio_s`` (position in the audio where it happened). Empty when playback is
            smooth.
        """
        columns = ["at_s", "duration_s", "audio_s"]
        if self.chunks.empty or not self.sample_rate:
            return pd.DataFrame({c: pd.Series([], dtype=float) for c in columns})
        arrival = self.chunks["arrival_s"].to_numpy(dtype=float)
        start = self.chunks["audio_start_s"].to_numpy(dtype=float)
        first = self._first_playable(start_buffer_s)
        play_start = arrival[first]
        rows = []
        delay = 0.0  # stall time accumulated so far
        for i in range(first + 1, len(arrival)):
            due = play_start + start[i] + delay
            if arrival[i] > due + 1e-9:
                rows.append((due, arrival[i] - due, start[i]))
                delay += arrival[i] - due
        return pd.DataFrame(rows, columns=columns).astype(float)

    def summary(self) -> dict[str, float | None]:
        """The headline numbers as a flat dict (for DataFrames of many requests)."""
        return {
            "headers_s": self.headers_s,
            "first_byte_s": self.first_byte_s,
            "first_audio_s": self.first_audio_s,
            "first_audible_s": self.first_audible_s,
            "done_s": self.done_s,
            "audio_s": self.audio_duration_s,
            "real_time_factor": self.real_time_factor,
            "n_chunks": len(self.chunks),
        }

    def __repr__(self) -> str:
        def fmt(value: float | None) -> str:
            return "None" if value is None else f"{value * 1000:.1f}ms"

        return (
            f"Timing(first_audio={fmt(self.first_audio_s)}, done={fmt(self.done_s)}, "
            f"chunks={len(self.chunks)}, audio={self.audio_duration_s:.2f}s)"
        )


def _get_chunks(self: Timing) -> pd.DataFrame:
    chunks = self._chunks
    if chunks is None:
        chunks = self._chunks = _empty_chunks()
    elif isinstance(chunks, tuple):
        arrivals, lengths, starts = chunks
        # In CHUNK_COLUMNS order; naming the columns again would double the frame's cost.
        chunks = self._chunks = pd.DataFrame(
            {
                "arrival_s": np.asarray(arrivals, dtype=float),
                "n_samples": np.asarray(lengths, dtype="int64"),
                "audio_start_s": np.asarray(starts, dtype=float),
            }
        )
    return chunks


def _set_chunks(self: Timing, chunks: pd.DataFrame | None) -> None:
    self._chunks = chunks


Timing.chunks = property(_get_chunks, _set_chunks, doc="One row per audio chunk.")  # type: ignore[assignment,method-assign]


@dataclass
class Speech:
    """Synthesized speech: audio, its word timestamps, and how it was made.

    Attributes
    ----------
    audio : np.ndarray, shape (n,), float32
        Mono samples in [-1, 1].
    sample_rate : int
    words : pandas.DataFrame
        Columns ``word``, ``start``, ``end`` in seconds; empty with those columns when the
        answer had no alignment.
    text : str
        What was said.
    model, voice : str
        What the server says it used (its ``x-ttskit-model`` / ``x-ttskit-voice``
        headers, or a WebSocket session's settings); what was asked when it says nothing.
    requested_model, requested_voice : str
        What the request asked for: an alias, or a voice the server replaced.
    endpoint : str
        Base URL of the server that answered.
    timing : Timing
    """

    audio: np.ndarray
    sample_rate: int
    words: pd.DataFrame = field(default_factory=empty_words)
    text: str = ""
    model: str = ""
    voice: str = ""
    endpoint: str = ""
    timing: Timing = field(default_factory=Timing)
    requested_model: str = ""
    requested_voice: str = ""

    def __post_init__(self) -> None:
        self.audio = np.asarray(self.audio, dtype=np.float32)
        if self.audio.ndim != 1:
            raise InvalidArgument(
                f"Speech audio must be mono with shape (n,), got {self.audio.shape}"
            )
        if int(self.sample_rate) <= 0:
            raise InvalidArgument(f"sample_rate must be positive, got {self.sample_rate!r}")
        self.sample_rate = int(self.sample_rate)
        if self.words is None:
            self.words = empty_words()
        self.requested_model = self.requested_model or self.model
        self.requested_voice = self.requested_voice or self.voice

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return len(self.audio) / self.sample_rate

    # --- slicing --------------------------------------------------------------------------

    def segment(self, start: float, end: float | None = None) -> Speech:
        """The audio between ``start`` and ``end`` seconds, with the words inside it.

        Word times in the result are relative to ``start``.
        """
        end = self.duration if end is None else end
        if not 0 <= start <= end:
            raise InvalidArgument(
                f"segment needs 0 <= start <= end, got start={start!r}, end={end!r}"
            )
        first = int(round(start * self.sample_rate))
        last = int(round(min(end, self.duration) * self.sample_rate))
        inside = self.words[
            (self.words["start"] >= start - 1e-9) & (self.words["end"] <= end + 1e-9)
        ]
        words = inside.assign(start=inside["start"] - start, end=inside["end"] - start)
        return replace(
            self,
            audio=self.audio[first:last].copy(),
            words=words.reset_index(drop=True),
            text=" ".join(words["word"]),
            timing=Timing(sample_rate=self.sample_rate),
        )

    def word(self, key: int | str) -> Speech:
        """The audio of one word, by position in ``words`` or by its text (first match)."""
        if self.words.empty:
            raise NoSuchItem("this Speech has no word timestamps; request it with alignment='word'")
        if isinstance(key, str):
            matches = np.flatnonzero(self.words["word"].str.casefold() == key.casefold())
            if not matches.size:
                raise NoSuchItem(f"word {key!r} is not in this Speech; speech.words lists them")
            index = int(matches[0])
        else:
            index = int(key)
        row = self.words.iloc[index]
        return self.segment(float(row["start"]), float(row["end"]))

    # --- files ----------------------------------------------------------------------------

    def to_wav_bytes(self, *, subtype: str = "PCM_16") -> bytes:
        """The audio as a complete WAV file's bytes."""
        return _audio.wav_bytes(self.audio, sample_rate=self.sample_rate, subtype=subtype)

    def save(self, path: str | Path) -> Path:
        """Write the audio to ``path``; the suffix picks the format (wav, flac, mp3, ogg)."""
        target = Path(path)
        suffix = target.suffix.lower().lstrip(".")
        if suffix not in _audio.FILE_FORMATS:
            raise InvalidArgument(
                f"cannot tell the audio format of {str(target)!r}: use one of "
                + ", ".join(f".{s}" for s in _audio.FILE_FORMATS)
            )
        data = _audio.encode_file(self.audio, sample_rate=self.sample_rate, format=suffix)
        target.write_bytes(data)
        return target

    # --- display --------------------------------------------------------------------------

    def __repr__(self) -> str:
        ttfb = self.timing.first_audio_s
        parts = [
            f"{self.duration:.2f}s @ {self.sample_rate} Hz",
            _count(len(self.words), "word"),
        ]
        if self.voice:
            parts.append(f"voice={self.voice!r}")
        if self.model:
            parts.append(f"model={self.model!r}")
        if ttfb is not None:
            parts.append(f"ttfb={ttfb * 1000:.0f}ms")
        return f"Speech({', '.join(parts)})"

    def _repr_html_(self) -> str:
        from .display import speech_html

        return speech_html(self)

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Speech):
            return NotImplemented
        return (
            self.sample_rate == other.sample_rate
            and np.array_equal(self.audio, other.audio)
            and self.words.equals(other.words)
            and (self.text, self.model, self.voice) == (other.text, other.model, other.voice)
        )

    __hash__ = None  # type: ignore[assignment]


# --- stream events ------------------------------------------------------------------------


@dataclass(frozen=True)
class AudioChunk:
    """A piece of streamed audio as it arrived.

    ``audio`` is float32 mono at ``sample_rate``; ``arrival_s`` is seconds since the
    request started (when its bytes were read off the socket, before decoding);
    ``audio_start_s`` is where the chunk starts within the whole answer's audio.
    ``item_id`` names the synthesized item it belongs to, when the server said so, and
    ``context_id`` the WebSocket context (times then count from that context's start).
    """

    audio: np.ndarray
    sample_rate: int
    arrival_s: float
    audio_start_s: float
    item_id: str | None = None
    context_id: str | None = None

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate

    def __repr__(self) -> str:
        return (
            f"AudioChunk({self.duration * 1000:.0f}ms at {self.audio_start_s:.3f}s, "
            f"arrived {self.arrival_s * 1000:.1f}ms)"
        )


@dataclass(frozen=True)
class WordTimestamps:
    """Word timestamps as they arrived; ``words`` times are seconds from the start of the
    whole answer's (or WebSocket context's) audio (columns ``word``, ``start``, ``end``)."""

    words: pd.DataFrame
    arrival_s: float
    item_id: str | None = None
    context_id: str | None = None

    def __repr__(self) -> str:
        return f"WordTimestamps({_count(len(self.words), 'word')}, arrived {self.arrival_s * 1000:.1f}ms)"
