"""DNSMOS P.808 and P.835: naturalness from Microsoft's ONNX models, without a reference.

The model files come from the ``speechmos`` package; the P.808 model's mel spectrogram is
computed here with numpy (the same numbers as librosa's, which speechmos would import), so
that scoring needs onnxruntime alone.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np

from ._deps import SAMPLE_RATE, as_audio, provenance, require

__all__ = ["DNSMOS", "mel_db"]

#: Each model hears 9.01 s windows, one second apart; shorter audio is repeated to fill one.
WINDOW_S = 9.01
HOP_S = 1.0
N_FFT = 321
HOP_LENGTH = 160
N_MELS = 120
# P.835's raw outputs mapped onto the MOS scale, as the DNS Challenge's script does.
SIG_POLY = np.poly1d([-0.08397278, 1.22083953, 0.0052439])
BAK_POLY = np.poly1d([-0.13166888, 1.60915514, -0.39604546])
OVRL_POLY = np.poly1d([-0.06766283, 1.11546468, 0.04602535])


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    # Slaney's scale: linear below 1 kHz, logarithmic above.
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log = hz >= 1000.0
    return np.where(log, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27), mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27) * (mel - 15.0)), mel * 200 / 3)


@functools.lru_cache(maxsize=2)
def _mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    fft_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    mel_hz = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2))
    spacing = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / spacing[:-1, None]
    upper = ramps[2:] / spacing[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]
    return weights.astype(np.float32)


def mel_db(audio: np.ndarray, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The P.808 model's input: a 120-band mel spectrogram in dB scaled to about [0, 1].

    Parameters
    ----------
    audio : numpy.ndarray, shape (n,)
        float32 mono.

    Returns
    -------
    numpy.ndarray, shape (frames, 120)
        Frames of 20 ms every 10 ms, centred, as ``librosa.feature.melspectrogram`` with
        ``n_fft=321, hop_length=160`` and ``(power_to_db(ref=max) + 40) / 40``.
    """
    audio = np.asarray(audio, dtype=np.float32)
    padded = np.pad(audio, N_FFT // 2)
    frames = 1 + (len(padded) - N_FFT) // HOP_LENGTH
    index = np.arange(N_FFT)[None, :] + HOP_LENGTH * np.arange(frames)[:, None]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    power = np.abs(np.fft.rfft(padded[index] * window, axis=1)) ** 2
    # einsum, not a matrix product: BLAS's threads would spin on through the models' work.
    mel = np.einsum("tf,mf->tm", power.astype(np.float32), _mel_filters(sample_rate, N_FFT, N_MELS))
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    db -= 10.0 * np.log10(max(float(mel.max(initial=0.0)), 1e-10))
    db = np.maximum(db, db.max(initial=0.0) - 80.0)
    return ((db + 40.0) / 40.0).astype(np.float32)


class DNSMOS:
    """DNSMOS P.808 (``mos_p808``) and P.835 (``mos_sig``, ``mos_bak``, ``mos_ovrl``).

    Loaded once, called on many clips; scores are on the 1 to 5 scale.

    Parameters
    ----------
    threads : int
        onnxruntime's threads per model.

    Examples
    --------
    >>> mos = DNSMOS()  # doctest: +SKIP
    >>> mos(speech.audio, speech.sample_rate)["mos_ovrl"]  # doctest: +SKIP
    3.1
    """

    columns = ("mos_p808", "mos_sig", "mos_bak", "mos_ovrl")

    def __init__(self, *, threads: int = 1) -> None:
        ort = require("onnxruntime", purpose="DNSMOS")
        speechmos = require("speechmos", purpose="DNSMOS's model files")
        folder = os.path.join(os.path.dirname(speechmos.__file__), "dnsmos_models")
        self.p808_path = os.path.join(folder, "model_v8.onnx")
        self.p835_path = os.path.join(folder, "sig_bak_ovr.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        self._p808 = ort.InferenceSession(self.p808_path, options, providers=providers)
        self._p835 = ort.InferenceSession(self.p835_path, options, providers=providers)
        self.provenance = {
            "mos_p808": provenance("speechmos", self.p808_path),
            "mos_p835": provenance("speechmos", self.p835_path),
        }

    def __call__(self, audio: Any, sample_rate: int) -> dict[str, float]:
        audio = as_audio(audio, sample_rate)
        nan = dict.fromkeys(self.columns, float("nan"))
        if len(audio) < SAMPLE_RATE // 10 or not np.any(audio):
            return {**nan, "mos_reason": "no audio to score"}
        length = int(WINDOW_S * SAMPLE_RATE)
        while len(audio) < length:  # doubled, as the DNS Challenge's script does
            audio = np.concatenate([audio, audio])
        hops = int(np.floor(len(audio) / SAMPLE_RATE) - WINDOW_S) + 1
        scores = []
        for hop in range(hops):
            start = int(hop * HOP_S * SAMPLE_RATE)
            window = audio[start : start + length]
            if len(window) < length:
                continue
            p808 = self._p808.run(None, {"input_1": mel_db(window[:-HOP_LENGTH])[None]})[0]
            sig, bak, ovrl = self._p835.run(None, {"input_1": window[None]})[0][0]
            scores.append((float(p808[0][0]), SIG_POLY(sig), BAK_POLY(bak), OVRL_POLY(ovrl)))
        mean = np.mean(np.asarray(scores, dtype=np.float64), axis=0)
        return {**dict(zip(self.columns, map(float, mean), strict=True)), "mos_reason": ""}
