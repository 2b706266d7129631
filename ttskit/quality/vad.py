"""Where speech is: silero VAD's ONNX model with onnxruntime alone.

The model file is the silero VAD v6 that ``faster-whisper`` ships (its batched form, with
the LSTM state passed in and out), so neither torch nor the ``silero-vad`` package, which
declares torch, is needed.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._deps import SAMPLE_RATE, as_audio, provenance, require

__all__ = ["VAD"]

WINDOW = 512
CONTEXT = 64
#: Windows are scored at these offsets within a window, so times resolve to 8 ms, not 32.
PHASES = 4
#: The model's 32 ms windows put a boundary within a few windows of where it is; the
#: boundary is then looked for this far either side, in the audio's energy.
REFINE_S = 0.1
#: Energy frames of 2 ms.
FRAME = 32
#: A frame is sound when it is within this many dB of the speech's loud frames, and this
#: many dB above the quietest ones (the noise floor).
BELOW_SPEECH_DB = 40.0
ABOVE_FLOOR_DB = 10.0


class VAD:
    """Speech onset, speech ratio and the silences around speech, from silero VAD.

    Parameters
    ----------
    threshold : float
        A window is speech when its probability is at least this.
    min_gap_s : float
        Pauses shorter than this inside speech count as speech for ``speech_ratio``.

    Examples
    --------
    >>> vad = VAD()  # doctest: +SKIP
    >>> vad(speech.audio, speech.sample_rate)["speech_onset_s"]  # doctest: +SKIP
    0.06
    """

    columns = ("speech_onset_s", "speech_ratio", "leading_silence_s", "trailing_silence_s")

    def __init__(self, *, threshold: float = 0.5, min_gap_s: float = 0.1) -> None:
        ort = require("onnxruntime", purpose="voice activity detection")
        assets = require("faster_whisper.utils", package="faster-whisper", purpose="silero VAD")
        self.model_path = os.path.join(assets.get_assets_path(), "silero_vad_v6.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 4
        self._session = ort.InferenceSession(
            self.model_path, options, providers=["CPUExecutionProvider"]
        )
        self.threshold = threshold
        self.min_gap_s = min_gap_s
        self.provenance = {"vad": provenance("faster-whisper", self.model_path)}

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """Speech probability of each 32 ms window of 16 kHz ``audio``, shape (windows,)."""
        padded = np.pad(audio, (0, -len(audio) % WINDOW))
        batch = padded.reshape(-1, WINDOW)
        context = np.roll(batch[:, -CONTEXT:], 1, axis=0)
        context[0] = 0
        state = np.zeros((1, 1, 128), np.float32)
        probs, _, _ = self._session.run(
            None, {"input": np.concatenate([context, batch], axis=1), "h": state, "c": state}
        )
        return np.asarray(probs, dtype=np.float32).reshape(-1)

    def frames(self, audio: Any, sample_rate: int) -> tuple[np.ndarray, float]:
        """Whether each 8 ms step is speech, and the step in seconds."""
        audio = as_audio(audio, sample_rate)
        step = WINDOW // PHASES
        n = -(-len(audio) // step)
        speech = np.zeros(n, dtype=bool)
        for phase in range(PHASES):
            shift = phase * step
            probs = self.probabilities(np.concatenate([np.zeros(shift, np.float32), audio]))
            # Window k of this phase covers steps k*PHASES - phase ... + PHASES; its
            # verdict goes to the step at its centre.
            centres = np.arange(len(probs)) * PHASES - phase + PHASES // 2
            keep = (centres >= 0) & (centres < n)
            speech[centres[keep]] = probs[keep] >= self.threshold
        return speech, step / SAMPLE_RATE

    def __call__(self, audio: Any, sample_rate: int) -> dict[str, Any]:
        audio16 = as_audio(audio, sample_rate)
        duration = len(audio16) / SAMPLE_RATE
        speech, step = self.frames(audio16, SAMPLE_RATE)
        found = np.flatnonzero(speech)
        if not len(found):
            return {
                "speech_onset_s": float("nan"),
                "speech_ratio": 0.0,
                "leading_silence_s": duration,
                "trailing_silence_s": duration,
                "vad_reason": "no speech found",
            }
        # The centre of the first speech step is about half a window after speech begins.
        onset = max(0.0, found[0] * step - (WINDOW / 2 - step / 2) / SAMPLE_RATE)
        end = min(duration, (found[-1] + 1) * step + (WINDOW / 2 - step / 2) / SAMPLE_RATE)
        onset, end = _refine(audio16, onset, end)
        gaps = np.diff(found) - 1
        short = gaps[(gaps > 0) & (gaps * step < self.min_gap_s)].sum()
        return {
            "speech_onset_s": float(onset),
            "speech_ratio": float(min(1.0, (len(found) + short) * step / max(duration, 1e-9))),
            "leading_silence_s": float(onset),
            "trailing_silence_s": float(max(0.0, duration - end)),
            "vad_reason": "",
        }


def _refine(audio: np.ndarray, onset: float, end: float) -> tuple[float, float]:
    """Onset and end moved to where the sound starts and stops, near where the model put them.

    The model's verdict on a window that speech enters part-way swings with where the
    window falls, by up to a window or two; the energy of 2 ms frames does not. Each
    boundary moves to the first (last) frame within ``REFINE_S`` of it that is within
    ``BELOW_SPEECH_DB`` of the speech's loud frames and ``ABOVE_FLOOR_DB`` above the floor.
    """
    frames = len(audio) // FRAME
    if frames < 2:
        return onset, end
    power = np.square(audio[: frames * FRAME].reshape(frames, FRAME)).mean(axis=1)
    level = 10 * np.log10(np.maximum(power, 1e-12))
    first, last = int(onset * SAMPLE_RATE) // FRAME, -(-int(end * SAMPLE_RATE) // FRAME)
    speech = level[first : max(last, first + 1)]
    loud = float(np.percentile(speech, 90)) if len(speech) else float(level.max())
    floor = float(np.percentile(level, 5))
    threshold = max(loud - BELOW_SPEECH_DB, floor + ABOVE_FLOOR_DB)
    reach = int(REFINE_S * SAMPLE_RATE) // FRAME
    lo = max(0, first - reach)
    sound = np.flatnonzero(level[lo : min(frames, first + reach)] >= threshold)
    if len(sound):
        onset = (lo + sound[0]) * FRAME / SAMPLE_RATE
    hi = min(frames, last + reach)
    lo = max(0, last - reach)
    sound = np.flatnonzero(level[lo:hi] >= threshold)
    if len(sound):
        end = max(onset, (lo + sound[-1] + 1) * FRAME / SAMPLE_RATE)
    return onset, end
