"""Word timestamps checked against forced alignment (pocketsphinx, CMU's US English model).

The text is aligned to the audio, and each word a vendor timed is compared with the same
word where the aligner put it: the signed offset of its start, and how many words were
found at all.
"""

from __future__ import annotations

import difflib
import os
import re
from typing import Any

import numpy as np
import pandas as pd

from ..results import empty_words, words_frame
from ._deps import SAMPLE_RATE, as_audio, provenance, require

__all__ = ["Aligner", "timestamp_offsets"]

_TOKEN = re.compile(r"[a-z']+")


def _tokens(word: str) -> list[str]:
    return _TOKEN.findall(str(word).lower().replace("\u2019", "'"))


class Aligner:
    """Forced alignment of a text to its audio, in 10 ms frames.

    Words the model's dictionary does not hold (numbers as digits, rare names) are left
    out of the alignment, and so count against ``timestamp_coverage``.
    """

    def __init__(self) -> None:
        pocketsphinx = require("pocketsphinx", purpose="forced alignment")
        self._decoder = pocketsphinx.Decoder(bestpath=False, loglevel="FATAL")
        self._frame_s = 1.0 / float(self._decoder.config["frate"])
        # A frame's features describe its window's centre, half a window after it starts.
        self._centre_s = float(self._decoder.config["wlen"]) / 2
        self.model_path = os.path.join(pocketsphinx.get_model_path(), "en-us", "en-us")
        self.provenance = {"align": provenance("pocketsphinx", self.model_path)}

    def __call__(self, audio: Any, sample_rate: int, text: str) -> pd.DataFrame:
        """Words of ``text`` with their aligned ``start`` and ``end`` in seconds."""
        audio = as_audio(audio, sample_rate)
        words = [t for t in _tokens(text) if self._decoder.lookup_word(t) is not None]
        if not words or len(audio) < SAMPLE_RATE // 10:
            return empty_words()
        pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
        try:
            self._decoder.set_align_text(" ".join(words))
            self._decoder.start_utt()
            self._decoder.process_raw(pcm, full_utt=True)
            self._decoder.end_utt()
        except RuntimeError:
            return empty_words()
        found = [
            (
                seg.word,
                seg.start_frame * self._frame_s + self._centre_s,
                (seg.end_frame + 1) * self._frame_s + self._centre_s,
            )
            for seg in self._decoder.seg() or ()
            if _tokens(seg.word) and not seg.word.startswith(("<", "["))
        ]
        if not found:
            return empty_words()
        names, starts, ends = zip(*found, strict=True)
        return words_frame([re.sub(r"\(\d+\)$", "", n) for n in names], starts, ends)


def timestamp_offsets(claimed: pd.DataFrame, aligned: pd.DataFrame) -> dict[str, Any]:
    """How far ``claimed`` word starts are from the ``aligned`` ones.

    Returns
    -------
    dict
        ``timestamp_offset_p50_ms`` (signed median: positive when the claimed times are
        late), ``timestamp_offset_p95_ms`` (95th percentile of the absolute offset) and
        ``timestamp_coverage`` (the share of claimed words the aligner found).
    """
    nan = float("nan")
    if claimed is None or len(claimed) == 0:
        return {
            "timestamp_offset_p50_ms": nan,
            "timestamp_offset_p95_ms": nan,
            "timestamp_coverage": nan,
            "timestamp_reason": "no word timestamps",
        }
    left = [
        (" ".join(_tokens(w)), float(s))
        for w, s in zip(claimed["word"], claimed["start"], strict=True)
    ]
    right = [
        (" ".join(_tokens(w)), float(s))
        for w, s in zip(aligned["word"], aligned["start"], strict=True)
    ]
    matcher = difflib.SequenceMatcher(
        a=[w for w, _ in left], b=[w for w, _ in right], autojunk=False
    )
    offsets = [
        (left[block.a + k][1] - right[block.b + k][1]) * 1000.0
        for block in matcher.get_matching_blocks()
        for k in range(block.size)
        if left[block.a + k][0]
    ]
    counted = sum(1 for w, _ in left if w)
    if not offsets:
        return {
            "timestamp_offset_p50_ms": nan,
            "timestamp_offset_p95_ms": nan,
            "timestamp_coverage": 0.0,
            "timestamp_reason": "the aligner found none of the timed words",
        }
    values = np.asarray(offsets)
    return {
        "timestamp_offset_p50_ms": float(np.median(values)),
        "timestamp_offset_p95_ms": float(np.percentile(np.abs(values), 95)),
        "timestamp_coverage": len(offsets) / max(counted, 1),
        "timestamp_reason": "",
    }
