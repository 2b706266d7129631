"""Signal helpers: mono, resampling (soxr), levels, the first audible sample, test tones."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgument, MissingExtra

__all__ = ["first_audible", "resample", "rms_dbfs", "sine", "to_mono"]


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average a (n, channels) array to float32 mono; a mono array passes through."""
    array = np.asarray(audio, dtype=np.float32)
    if array.ndim == 1:
        return array
    if array.ndim != 2:
        raise InvalidArgument(f"expected audio of shape (n,) or (n, channels), got {array.shape}")
    return array[:, 0].copy() if array.shape[1] == 1 else array.mean(axis=1, dtype=np.float32)


# --- resampling and levels -------------------------------------------------------------------


def resample(audio: np.ndarray, *, orig_sr: int, target_sr: int, quality: str = "HQ") -> np.ndarray:
    """Resample mono float audio with soxr (``pip install soxr``)."""
    if orig_sr <= 0 or target_sr <= 0:
        raise InvalidArgument(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    samples = np.asarray(audio, dtype=np.float32)
    if orig_sr == target_sr or samples.size == 0:
        return samples
    try:
        import soxr
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtra("resampling needs soxr: pip install 'ttskit[server]'") from exc
    return soxr.resample(samples, orig_sr, target_sr, quality=quality).astype(
        np.float32, copy=False
    )


def rms_dbfs(audio: np.ndarray) -> float:
    """Root-mean-square level in dB relative to full scale (-inf for silence)."""
    samples = np.asarray(audio, dtype=np.float64)
    if samples.size == 0:
        return float("-inf")
    power = float(np.mean(samples * samples))
    return 10.0 * np.log10(power) if power > 0 else float("-inf")


def first_audible(
    audio: np.ndarray, *, sample_rate: int, threshold_db: float = -40.0, frame_s: float = 0.01
) -> int | None:
    """Index of the first sample of the first frame louder than ``threshold_db`` dBFS.

    Frames are ``frame_s`` long; returns None if no frame rises above the threshold.
    """
    samples = np.asarray(audio, dtype=np.float32)
    frame = max(1, int(round(frame_s * sample_rate)))
    n_frames = -(-samples.size // frame)
    if n_frames == 0:
        return None
    padded = np.zeros(n_frames * frame, dtype=np.float32)
    padded[: samples.size] = samples
    power = np.mean(padded.reshape(n_frames, frame).astype(np.float64) ** 2, axis=1)
    loud = np.flatnonzero(power > 10.0 ** (threshold_db / 10.0))
    return int(loud[0] * frame) if loud.size else None


def sine(
    frequency: float, *, duration: float, sample_rate: int, amplitude: float = 0.5
) -> np.ndarray:
    """A float32 sine tone, for examples and tests."""
    t = np.arange(int(round(duration * sample_rate)), dtype=np.float64) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
