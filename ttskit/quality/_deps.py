"""What every scorer shares: the extra it needs, and where its numbers come from."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
from typing import Any

import numpy as np

from ..errors import InvalidArgument, InvalidType, require_extra

__all__ = ["SAMPLE_RATE", "as_audio", "file_sha256", "provenance", "require"]

#: Every model here listens at 16 kHz.
SAMPLE_RATE = 16000


def require(module: str, *, package: str | None = None, purpose: str) -> Any:
    """Import ``module``, or raise ``MissingExtra`` saying to install the quality extra."""
    return require_extra(module, extra="quality", purpose=purpose, package=package)


@functools.lru_cache(maxsize=64)
def file_sha256(path: str) -> str:
    """The SHA-256 of a model file, or of a model folder's files in name order."""
    digest = hashlib.sha256()
    paths = (
        [os.path.join(root, name) for root, _, names in os.walk(path) for name in names]
        if os.path.isdir(path)
        else [path]
    )
    for name in sorted(paths):
        if os.path.isdir(path):
            digest.update(os.path.relpath(name, path).encode())
        with open(name, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def provenance(package: str, model: str, *, hash_file: bool = True) -> dict[str, str]:
    """What made a number: the scorer's package and version, its model and the model's hash."""
    try:
        version = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    sha = file_sha256(model) if hash_file and os.path.exists(model) else ""
    return {"package": package, "version": version, "model": str(model), "sha256": sha}


def as_audio(audio: Any, sample_rate: Any) -> np.ndarray:
    """``audio`` as float32 mono at 16 kHz, checked."""
    if not isinstance(sample_rate, int | np.integer) or isinstance(sample_rate, bool):
        raise InvalidType(f"sample_rate must be an int in Hz, not {sample_rate!r}")
    if sample_rate <= 0:
        raise InvalidArgument(f"sample_rate must be positive, not {sample_rate!r}")
    array = np.asarray(audio, dtype=np.float32)
    if array.ndim == 2:
        array = array.mean(axis=1 if array.shape[1] < array.shape[0] else 0)
    if array.ndim != 1:
        raise InvalidArgument(
            f"audio must be mono of shape (n,) or (n, channels), not of shape {array.shape}"
        )
    if sample_rate != SAMPLE_RATE and len(array):
        from ..audio import resample

        array = resample(array, orig_sr=int(sample_rate), target_sr=SAMPLE_RATE)
    return np.ascontiguousarray(np.clip(array, -1.0, 1.0), dtype=np.float32)
