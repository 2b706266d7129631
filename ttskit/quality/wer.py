"""Word and character error rates (jiwer) after Whisper's English normalizer.

The normalizer spells numbers, currencies and contractions one way, so that "$42.50" and
"forty two dollars fifty" are the same words.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any

from ._deps import provenance, require

__all__ = ["ErrorRate", "looks_english"]


def looks_english(text: str) -> bool:
    """Whether most of the letters of ``text`` are Latin ones."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return True
    latin = sum("LATIN" in unicodedata.name(c, "") for c in letters)
    return latin / len(letters) >= 0.8


class ErrorRate:
    """``wer`` and ``cer`` of a transcript against the text that was spoken.

    Examples
    --------
    >>> rate = ErrorRate()  # doctest: +SKIP
    >>> rate("It costs $42.50.", "it costs forty two dollars fifty")["wer"]  # doctest: +SKIP
    0.0
    """

    normalization = "whisper_normalizer.english.EnglishTextNormalizer"

    def __init__(self) -> None:
        self._jiwer = require("jiwer", purpose="WER and CER")
        english = require(
            "whisper_normalizer.english", package="whisper-normalizer", purpose="WER's normalizer"
        )
        self.normalize = english.EnglishTextNormalizer()
        self.provenance = {
            "wer": {**provenance("jiwer", ""), "normalizer": self.normalization},
            "normalizer": provenance("whisper-normalizer", ""),
        }

    def __call__(self, reference: str, hypothesis: str) -> dict[str, Any]:
        nan = float("nan")
        if not isinstance(reference, str) or not reference.strip():
            return {"wer": nan, "cer": nan, "wer_reason": "no text to compare with"}
        truth = " ".join(self.normalize(reference).split())
        heard = " ".join(self.normalize(hypothesis or "").split())
        if not truth:
            return {"wer": nan, "cer": nan, "wer_reason": "the text has no words once normalized"}
        wer = self._jiwer.wer(truth, heard) if heard else 1.0
        cer = self._jiwer.cer(truth, heard) if heard else 1.0
        return {
            "wer": float(wer) if math.isfinite(wer) else nan,
            "cer": float(cer) if math.isfinite(cer) else nan,
            "wer_reason": "",
        }
