"""Exports of a dataset folder to the layouts that TTS training recipes read.

- LJSpeech: ``wavs/<id>.wav`` (22050 Hz, 16-bit PCM, mono) and a header-less,
  pipe-separated ``metadata.csv`` of ``id|text|normalized text``.
- Piper (``piper_train.preprocess``, multi-speaker): the same ``wavs/`` and a
  ``metadata.csv`` of ``file|speaker|text``.

Audio is resampled with soxr; every file is written under a temporary name and renamed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .. import audio as _audio
from ..errors import InvalidArgument
from .layout import write_atomic
from .manifest import load

__all__ = ["export_ljspeech", "export_piper"]

EXPORT_SAMPLE_RATE = 22050


def _field(value: object) -> str:
    """A metadata field: one line, no pipe (the separator)."""
    return " ".join(str(value).replace("|", " ").split())


def _select(
    out: str | os.PathLike[str], *, voice: str | None, include_suspicious: bool
) -> pd.DataFrame:
    table = load(out)
    if voice is not None:
        if voice not in set(table["voice"]):
            raise InvalidArgument(
                f"voice={voice!r} is not in {str(out)!r}; it has {sorted(set(table['voice']))}"
            )
        table = table[table["voice"] == voice]
    if not include_suspicious:
        table = table[~table["suspicious"].astype(bool)]
    return table.reset_index(drop=True)


def _write_wavs(table: pd.DataFrame, dest: Path, *, sample_rate: int, desc: str) -> None:
    from tqdm.auto import tqdm

    wavs = dest / "wavs"
    wavs.mkdir(parents=True, exist_ok=True)
    for item, path in tqdm(
        zip(table["id"], table["path"], strict=True), total=len(table), desc=desc, unit="file"
    ):
        samples, rate = _audio.decode_file(Path(path).read_bytes())
        samples = _audio.resample(samples, orig_sr=rate, target_sr=sample_rate)
        data = _audio.encode_file(samples, sample_rate=sample_rate, format="wav", subtype="PCM_16")
        write_atomic(wavs / f"{item}.wav", data)


def export_ljspeech(
    out: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    voice: str | None = None,
    sample_rate: int = EXPORT_SAMPLE_RATE,
    normalized_column: str | None = "normalized_text",
    include_suspicious: bool = False,
) -> Path:
    """Write the dataset at ``out`` as an LJSpeech folder at ``dest``.

    Parameters
    ----------
    out : path
        A folder made by ``generate``.
    dest : path
        Gets ``wavs/`` and ``metadata.csv`` (``id|text|normalized text``, no header).
    voice : str, optional
        LJSpeech has one speaker: the voice to export; required when ``out`` has several.
    sample_rate : int
        Of the exported WAV files (16-bit PCM, mono).
    normalized_column : str, optional
        A carried input column with the normalized text (numbers and abbreviations
        spelled out); the text itself where it is missing.
    include_suspicious : bool
        Also export items flagged ``suspicious``.

    Returns
    -------
    pathlib.Path
        ``dest``.
    """
    table = _select(out, voice=voice, include_suspicious=include_suspicious)
    voices = sorted(set(table["voice"]))
    if len(voices) > 1:
        raise InvalidArgument(
            f"LJSpeech holds one speaker and {str(out)!r} has {len(voices)} voices {voices}; "
            "pass voice=, or use export_piper for several speakers"
        )
    target = Path(dest)
    _write_wavs(table, target, sample_rate=sample_rate, desc="ljspeech")
    if normalized_column and normalized_column in table.columns:
        normalized = table[normalized_column].where(table[normalized_column].notna(), table["text"])
    else:
        normalized = table["text"]
    lines = [
        f"{item}|{_field(text)}|{_field(norm)}\n"
        for item, text, norm in zip(table["id"], table["text"], normalized, strict=True)
    ]
    write_atomic(target / "metadata.csv", "".join(lines).encode("utf-8"))
    return target


def export_piper(
    out: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    sample_rate: int = EXPORT_SAMPLE_RATE,
    include_suspicious: bool = False,
) -> Path:
    """Write the dataset at ``out`` for Piper's trainer at ``dest``.

    ``dest/metadata.csv`` has one ``file|speaker|text`` line per item (``file`` is the
    name under ``dest/wavs/``, ``speaker`` the voice), the multi-speaker input of
    ``python -m piper_train.preprocess --dataset-format ljspeech --multi-speaker``.

    Returns
    -------
    pathlib.Path
        ``dest``.
    """
    table = _select(out, voice=None, include_suspicious=include_suspicious)
    target = Path(dest)
    _write_wavs(table, target, sample_rate=sample_rate, desc="piper")
    lines = [
        f"{item}.wav|{_field(voice)}|{_field(text)}\n"
        for item, voice, text in zip(table["id"], table["voice"], table["text"], strict=True)
    ]
    write_atomic(target / "metadata.csv", "".join(lines).encode("utf-8"))
    return target
