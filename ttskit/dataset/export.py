"""Exports of a dataset folder to the layouts that TTS training recipes read.

- LJSpeech: ``wavs/<id>.wav`` (22050 Hz, 16-bit PCM, mono) and a header-less,
  pipe-separated ``metadata.csv`` of ``id|text|normalized text``.
- Piper (``piper_train.preprocess``, multi-speaker): the same ``wavs/`` and a
  ``metadata.csv`` of ``file|speaker|text``.

Audio is resampled with soxr. An export is written whole into a hidden folder beside
``dest`` and renamed into place, so ``dest`` holds one export, complete, or what it held
before; ``dest`` must be new, empty, or an export ttskit made (its marker file says so),
and outside the dataset folder, which a new run of ``generate`` may empty.

Texts are written as they are in the columns recipes read (the LJSpeech third column,
the normalized text that the usual LJSpeech readers train on, and Piper's text). The
LJSpeech second column, the raw transcript, is guarded against spreadsheets as OWASP
advises for CSV: a text that starts with ``=``, ``+``, ``-`` or ``@`` gets a leading
``'`` there.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from .. import audio as _audio
from ..errors import InvalidArgument
from .layout import listing, made_by, mark, write_atomic
from .manifest import load

__all__ = ["export_ljspeech", "export_piper"]

EXPORT_SAMPLE_RATE = 22050


#: What the marker file of an export folder says.
MADE_BY = "ttskit.dataset export"
#: First characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@")


def _field(value: object) -> str:
    """A metadata field: one line, no pipe (the separator)."""
    return " ".join(str(value).replace("|", " ").split())


def _inert(field: str) -> str:
    """``field`` as a spreadsheet shows it rather than computes it."""
    return "'" + field if field.startswith(FORMULA_STARTS) else field


def _destination(out: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """``dest``, checked: outside the dataset, and new, empty or an export of ttskit's."""
    dataset, target = Path(out).resolve(), Path(dest).resolve()
    if target == dataset or dataset in target.parents:
        raise InvalidArgument(
            f"dest={str(dest)!r} is inside the dataset folder {str(out)!r}, which generating "
            "the dataset again may empty; export to a folder outside it"
        )
    if target in dataset.parents:
        raise InvalidArgument(
            f"dest={str(dest)!r} holds the dataset {str(out)!r}; export to a folder of its own"
        )
    if target.exists() and not target.is_dir():
        raise InvalidArgument(f"dest={str(dest)!r} is a file, not a folder; export to a folder")
    if target.is_dir() and made_by(target) != MADE_BY:
        inside = list(target.iterdir())
        if inside:
            raise InvalidArgument(
                f"dest={str(dest)!r} holds files ttskit did not export "
                f"({listing(inside, target)}); export to a new or empty folder"
            )
    return target


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux's ``renameat2``); False where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_cwd, rename_exchange = -100, 2
    return renameat2(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), rename_exchange) == 0


def _write_export(target: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(folder)`` on a hidden folder beside ``target``, then put it in place."""
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}."
    # Folders of exports that were killed before their rename.
    for leftover in parent.glob(f"{glob.escape(prefix)}*.partial"):
        if leftover.is_dir() and made_by(leftover) == MADE_BY:
            shutil.rmtree(leftover, ignore_errors=True)
    temp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".partial", dir=parent))
    try:
        mark(temp, MADE_BY)
        write(temp)
        if target.is_dir() and any(target.iterdir()):
            if not _exchange(temp, target):
                old = temp.with_name(temp.name.removesuffix(".partial") + "-old.partial")
                os.replace(target, old)
                os.replace(temp, target)
                temp = old
        else:
            with contextlib.suppress(FileNotFoundError):
                target.rmdir()
            os.replace(temp, target)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


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
    wavs.mkdir()
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
        Gets ``wavs/`` and ``metadata.csv`` (``id|text|normalized text``, no header),
        replacing what is there in one step. New, empty, or an earlier export; outside
        ``out``.
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

    Raises
    ------
    InvalidArgument
        For a ``dest`` inside ``out``, a file, or a folder holding files ttskit did not
        export.
    """
    table = _select(out, voice=voice, include_suspicious=include_suspicious)
    voices = sorted(set(table["voice"]))
    if len(voices) > 1:
        raise InvalidArgument(
            f"LJSpeech holds one speaker and {str(out)!r} has {len(voices)} voices {voices}; "
            "pass voice=, or use export_piper for several speakers"
        )
    target = _destination(out, dest)
    if normalized_column and normalized_column in table.columns:
        normalized = table[normalized_column].where(table[normalized_column].notna(), table["text"])
    else:
        normalized = table["text"]
    lines = [
        f"{item}|{_inert(_field(text))}|{_field(norm)}\n"
        for item, text, norm in zip(table["id"], table["text"], normalized, strict=True)
    ]

    def write(folder: Path) -> None:
        _write_wavs(table, folder, sample_rate=sample_rate, desc="ljspeech")
        write_atomic(folder / "metadata.csv", "".join(lines).encode("utf-8"))

    _write_export(target, write)
    return Path(dest)


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
    ``dest`` is replaced in one step, as in :func:`export_ljspeech`.

    Returns
    -------
    pathlib.Path
        ``dest``.
    """
    table = _select(out, voice=None, include_suspicious=include_suspicious)
    target = _destination(out, dest)
    lines = [
        f"{item}.wav|{_field(voice)}|{_field(text)}\n"
        for item, voice, text in zip(table["id"], table["voice"], table["text"], strict=True)
    ]

    def write(folder: Path) -> None:
        _write_wavs(table, folder, sample_rate=sample_rate, desc="piper")
        write_atomic(folder / "metadata.csv", "".join(lines).encode("utf-8"))

    _write_export(target, write)
    return Path(dest)
