"""One call for every measure: ``score`` one speech, ``score_many`` a list or a table."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidArgument, InvalidType
from ..results import Speech, empty_words, words_frame

__all__ = ["COLUMNS", "METRICS", "Limits", "Scorer", "score", "score_many"]

#: What ``metrics=`` may name, and the columns each fills.
METRICS = {
    "wer": ("wer", "cer", "transcript"),
    "mos": ("mos_p808", "mos_sig", "mos_bak", "mos_ovrl"),
    "vad": ("speech_onset_s", "speech_ratio", "leading_silence_s", "trailing_silence_s"),
    "timestamps": ("timestamp_offset_p50_ms", "timestamp_offset_p95_ms", "timestamp_coverage"),
}
#: Every column a score has, in order.
COLUMNS = [
    *(column for columns in METRICS.values() for column in columns),
    "quality_flagged",
    "quality_issues",
    "quality_reason",
]


@dataclass(frozen=True)
class Limits:
    """What makes a speech flagged; each limit broken is named in ``quality_issues``."""

    max_wer: float = 0.1
    min_mos_ovrl: float = 2.0
    max_onset_s: float = 1.0
    max_trailing_silence_s: float = 1.5
    max_timestamp_offset_ms: float = 100.0
    min_timestamp_coverage: float = 0.8

    def issues(self, row: dict[str, Any]) -> list[str]:
        def above(name: str, limit: float) -> bool:
            value = row.get(name)
            return value is not None and not _nan(value) and value > limit

        def below(name: str, limit: float) -> bool:
            value = row.get(name)
            return value is not None and not _nan(value) and value < limit

        found = []
        if above("wer", self.max_wer):
            found.append(f"wer>{self.max_wer:g}")
        if below("mos_ovrl", self.min_mos_ovrl):
            found.append(f"mos_ovrl<{self.min_mos_ovrl:g}")
        if above("speech_onset_s", self.max_onset_s):
            found.append(f"onset>{self.max_onset_s:g}s")
        if row.get("speech_ratio") == 0.0:
            found.append("no speech")
        if above("trailing_silence_s", self.max_trailing_silence_s):
            found.append(f"trailing_silence>{self.max_trailing_silence_s:g}s")
        offset = row.get("timestamp_offset_p50_ms")
        if offset is not None and not _nan(offset) and abs(offset) > self.max_timestamp_offset_ms:
            found.append(f"timestamps off>{self.max_timestamp_offset_ms:g}ms")
        if below("timestamp_coverage", self.min_timestamp_coverage):
            found.append(f"timestamp_coverage<{self.min_timestamp_coverage:g}")
        return found


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _check_metrics(metrics: Iterable[str] | str | None) -> tuple[str, ...]:
    if metrics is None:
        return tuple(METRICS)
    if isinstance(metrics, str):
        metrics = [metrics]
    chosen = tuple(metrics)
    unknown = [m for m in chosen if m not in METRICS]
    if unknown or not chosen:
        raise InvalidArgument(
            f"metrics={list(chosen)!r} names {unknown or 'nothing'}; choose from {list(METRICS)}"
        )
    return chosen


class Scorer:
    """Every chosen measure, its models loaded once, called on many speeches.

    Parameters
    ----------
    metrics : sequence of {"wer", "mos", "vad", "timestamps"}, optional
        All when None.
    asr : str, transcriber or None
        The transcriber for ``wer``: None for the bundled Whisper tiny.en, a faster-whisper
        model name or folder, an ``http(s)://.../v1`` URL of an OpenAI-compatible
        transcription endpoint, or any callable ``(audio, sample_rate) -> Transcript``.
    limits : Limits, optional
        What flags a speech.

    Examples
    --------
    >>> scorer = Scorer(metrics=["wer", "vad"])  # doctest: +SKIP
    >>> scorer(speech)["wer"]  # doctest: +SKIP
    0.0
    """

    def __init__(
        self,
        metrics: Iterable[str] | str | None = None,
        *,
        asr: Any = None,
        limits: Limits | None = None,
    ) -> None:
        self.metrics = _check_metrics(metrics)
        self.limits = limits or Limits()
        self.provenance: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._asr = self._rate = self._mos = self._vad = self._align = None
        if "wer" in self.metrics:
            from .wer import ErrorRate

            self._asr = _transcriber(asr)
            self._rate = ErrorRate()
            self.provenance.update(self._asr.provenance, **self._rate.provenance)
        if "mos" in self.metrics:
            from .mos import DNSMOS

            self._mos = DNSMOS()
            self.provenance.update(self._mos.provenance)
        if "vad" in self.metrics:
            from .vad import VAD

            self._vad = VAD()
            self.provenance.update(self._vad.provenance)
        if "timestamps" in self.metrics:
            from .align import Aligner

            self._align = Aligner()
            self.provenance.update(self._align.provenance)

    @property
    def columns(self) -> list[str]:
        chosen = [c for m in self.metrics for c in METRICS[m]]
        return [c for c in COLUMNS if c in chosen or c.startswith("quality_")]

    def attrs(self) -> dict[str, Any]:
        """What the numbers came from, as kept in ``attrs["quality"]``."""
        from .._version import __version__

        return {
            "ttskit": __version__,
            "metrics": list(self.metrics),
            "limits": self.limits.__dict__.copy(),
            "scorers": json.loads(json.dumps(self.provenance)),
        }

    def __call__(
        self,
        speech: Speech | Any,
        text: str | None = None,
        *,
        sample_rate: int | None = None,
        words: Any = None,
    ) -> pd.Series:
        """Score one ``Speech`` (or an array with ``sample_rate``) against ``text``.

        ``text`` defaults to ``speech.text``, ``words`` to ``speech.words``.
        """
        audio, rate, text, words = _unpack(speech, text, sample_rate, words)
        row: dict[str, Any] = {}
        reasons: list[str] = []
        with self._lock:
            if self._asr is not None:
                english_only = getattr(self._asr, "english_only", False)
                from .wer import looks_english

                if text and english_only and not looks_english(text):
                    heard = self._asr(audio, rate)
                    row.update(wer=float("nan"), cer=float("nan"), transcript=heard.text)
                    reasons.append(
                        f"wer: the text is not English, and {self._asr.name} hears English only"
                    )
                else:
                    heard = self._asr(audio, rate)
                    rates = self._rate(text or "", heard.text)
                    row.update(wer=rates["wer"], cer=rates["cer"], transcript=heard.text)
                    if rates["wer_reason"]:
                        reasons.append(f"wer: {rates['wer_reason']}")
            if self._mos is not None:
                mos = self._mos(audio, rate)
                if mos.pop("mos_reason"):
                    reasons.append("mos: no audio to score")
                row.update(mos)
            if self._vad is not None:
                vad = self._vad(audio, rate)
                if vad.pop("vad_reason"):
                    reasons.append("vad: no speech found")
                row.update(vad)
            if self._align is not None:
                if words is None or len(words) == 0:
                    offsets = {"timestamp_reason": "no word timestamps to check"}
                elif not text:
                    offsets = {"timestamp_reason": "no text to align"}
                else:
                    from .align import timestamp_offsets

                    offsets = timestamp_offsets(words, self._align(audio, rate, text))
                reason = offsets.pop("timestamp_reason")
                if reason:
                    reasons.append(f"timestamps: {reason}")
                row.update(offsets)
        issues = self.limits.issues(row)
        row.update(
            quality_flagged=bool(issues),
            quality_issues=", ".join(issues),
            quality_reason="; ".join(reasons),
        )
        result = pd.Series({c: row.get(c, float("nan")) for c in self.columns}, dtype=object)
        result.attrs["quality"] = self.attrs()
        return result

    def many(
        self,
        items: Iterable[Speech] | pd.DataFrame,
        *,
        text: Sequence[str] | None = None,
        progress: bool = True,
    ) -> pd.DataFrame:
        """One row per item (the frame's index kept), as ``score_many``."""
        from tqdm.auto import tqdm

        jobs, index = _jobs(items, text)
        rows = [
            self(speech, text, sample_rate=rate, words=words)
            for speech, rate, text, words in tqdm(
                jobs, total=len(index), desc="quality", unit="item", disable=not progress
            )
        ]
        table = pd.DataFrame([r.to_dict() for r in rows], index=index, columns=self.columns)
        table = table.infer_objects()
        for name in ("transcript", "quality_issues", "quality_reason"):
            if name in table:
                table[name] = table[name].fillna("").astype(str)
        table.attrs["quality"] = self.attrs()
        return table


def _transcriber(asr: Any) -> Any:
    if callable(asr) and not isinstance(asr, str):
        return asr
    if asr is not None and not isinstance(asr, str):
        raise InvalidType(
            f"asr must be a model name, a folder, a URL or a transcriber, not {type(asr).__name__}"
        )
    if isinstance(asr, str) and asr.startswith(("http://", "https://")):
        from .asr import EndpointTranscriber

        return EndpointTranscriber(asr)
    from .asr import WhisperTranscriber

    return WhisperTranscriber(asr)


def _words(value: Any) -> pd.DataFrame | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.DataFrame):
        return value
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else []
    if isinstance(value, list | tuple):
        if not value:
            return empty_words()
        return words_frame(
            [w["word"] for w in value], [w["start"] for w in value], [w["end"] for w in value]
        )
    raise InvalidType(f"words must be a DataFrame or a JSON list, not {type(value).__name__}")


def _unpack(speech: Any, text: Any, sample_rate: Any, words: Any) -> tuple:
    if isinstance(speech, Speech):
        audio, rate = speech.audio, speech.sample_rate
        text = speech.text if text is None else text
        words = speech.words if words is None else words
    elif isinstance(speech, np.ndarray):
        if sample_rate is None:
            raise InvalidArgument("an audio array needs its sample_rate=")
        audio, rate = speech, sample_rate
    else:
        raise InvalidType(
            f"expected a ttskit.Speech or a numpy array of audio, not {type(speech).__name__}"
        )
    if text is not None and not isinstance(text, str):
        text = None if _nan(text) else str(text)
    return audio, int(rate), text, _words(words)


def _read(path: str) -> tuple[np.ndarray, int]:
    import soundfile

    from ..errors import NoSuchItem

    try:
        audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (OSError, RuntimeError) as exc:
        raise NoSuchItem(f"could not read audio {path!r}: {exc}") from exc
    return audio.mean(axis=1), int(rate)


def _jobs(items: Any, text: Sequence[str] | None) -> tuple[Iterable[tuple], pd.Index]:
    if isinstance(items, pd.DataFrame):
        frame = items
        if "speech" not in frame and "path" not in frame:
            raise InvalidArgument(
                "a frame to score needs a 'speech' column of ttskit.Speech or a 'path' "
                f"column of audio files; it has {list(frame.columns)}"
            )
        texts = frame["text"] if "text" in frame else [None] * len(frame)
        words = frame["words"] if "words" in frame else [None] * len(frame)

        def rows() -> Iterable[tuple]:
            for i, (t, w) in enumerate(zip(texts, words, strict=True)):
                if "speech" in frame and isinstance(frame["speech"].iloc[i], Speech):
                    yield frame["speech"].iloc[i], None, t, w
                else:
                    path = frame["path"].iloc[i]
                    if not isinstance(path, str):
                        raise InvalidArgument(f"row {frame.index[i]!r} has no audio path")
                    audio, rate = _read(path)
                    yield audio, rate, t, w

        return rows(), frame.index
    if isinstance(items, Speech):
        items = [items]
    speeches = list(items)
    if text is not None and len(text) != len(speeches):
        raise InvalidArgument(f"text= has {len(text)} texts for {len(speeches)} speeches")
    texts = list(text) if text is not None else [None] * len(speeches)
    return (
        ((s, None, t, None) for s, t in zip(speeches, texts, strict=True)),
        pd.RangeIndex(len(speeches)),
    )


_scorers: dict[tuple, Scorer] = {}
_scorers_lock = threading.Lock()


def _shared(metrics: Any, asr: Any) -> Scorer:
    key = (_check_metrics(metrics), asr if isinstance(asr, str | None) else id(asr))
    with _scorers_lock:
        if key not in _scorers:
            _scorers[key] = Scorer(key[0], asr=asr)
        return _scorers[key]


def score(
    speech: Speech | np.ndarray,
    text: str | None = None,
    *,
    metrics: Iterable[str] | str | None = None,
    asr: Any = None,
    sample_rate: int | None = None,
) -> pd.Series:
    """Score one speech: intelligibility, naturalness, silences, word timestamps.

    Parameters
    ----------
    speech : Speech or numpy.ndarray
        An array needs ``sample_rate``.
    text : str, optional
        What should have been said; ``speech.text`` when None.
    metrics : sequence of {"wer", "mos", "vad", "timestamps"}, optional
        All when None.
    asr : optional
        As ``Scorer``'s.

    Returns
    -------
    pandas.Series
        ``wer``, ``cer``, ``transcript``, ``mos_p808``, ``mos_sig``, ``mos_bak``,
        ``mos_ovrl``, ``speech_onset_s``, ``speech_ratio``, ``leading_silence_s``,
        ``trailing_silence_s``, ``timestamp_offset_p50_ms``, ``timestamp_offset_p95_ms``,
        ``timestamp_coverage``, ``quality_flagged``, ``quality_issues`` and
        ``quality_reason`` (why a value is NaN); ``attrs["quality"]`` names each scorer's
        package, version and model hash. The scorers are loaded once per process.

    Examples
    --------
    >>> import ttskit
    >>> from ttskit import quality
    >>> speech = ttskit.local("piper").speak("Hello there.", alignment="word")  # doctest: +SKIP
    >>> quality.score(speech)[["wer", "mos_ovrl", "speech_onset_s"]]  # doctest: +SKIP
    """
    return _shared(metrics, asr)(speech, text, sample_rate=sample_rate)


def score_many(
    speeches: Iterable[Speech] | pd.DataFrame,
    text: Sequence[str] | None = None,
    *,
    metrics: Iterable[str] | str | None = None,
    asr: Any = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Score many speeches: one row each, with ``score``'s columns.

    Parameters
    ----------
    speeches : iterable of Speech, or DataFrame
        A frame has a ``speech`` column (``Speech``) or a ``path`` column (audio files,
        as in a dataset's manifest), and may have ``text`` and ``words`` (a DataFrame or
        the manifest's JSON list); its index is kept.
    text : sequence of str, optional
        For a list of speeches, the texts they should say.

    Returns
    -------
    pandas.DataFrame
        With ``attrs["quality"]`` as ``score``'s.
    """
    return _shared(metrics, asr).many(speeches, text=text, progress=progress)
