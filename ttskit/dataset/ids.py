"""Deterministic names: item ids from what makes the audio, splits from the text alone.

An item id is a hash of the text, voice, model and every parameter that changes the
result, so a rerun recognizes what it already made and a changed parameter makes a new
item. A split is chosen from a hash of the text only, so that every voice of a text, in
every run, lands in the same split: no text is in two splits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidArgument

__all__ = ["check_splits", "item_id", "split_of", "text_key"]

#: Hex digits of an item id: 64 bits, no collision in any dataset that fits on a disk.
ID_LENGTH = 16


def text_key(text: str) -> str:
    """The text as compared for duplicates and splits: case and spacing do not count."""
    return " ".join(text.split()).casefold()


def item_id(text: str, voice: str, model: str, params: Mapping[str, Any]) -> str:
    """A stable id for one (text, voice, model, parameters) item.

    Parameters
    ----------
    text, voice, model : str
    params : mapping
        JSON-serializable parameters that change the audio or its row (sample rate,
        format, alignment, loudness target, ...). Keys with value None are left out, so
        that adding a new parameter later does not rename existing items.

    Returns
    -------
    str
        ``ID_LENGTH`` lowercase hex digits.

    Examples
    --------
    >>> a = item_id("Hello.", "en-us", "espeak", {"format": "flac"})
    >>> a == item_id("Hello.", "en-us", "espeak", {"format": "flac", "speed": None})
    True
    >>> a == item_id("Hello.", "en-us", "espeak", {"format": "wav"})
    False
    """
    described = {
        "text": text,
        "voice": voice,
        "model": model,
        "params": {k: v for k, v in sorted(params.items()) if v is not None},
    }
    canonical = json.dumps(described, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:ID_LENGTH]


def check_splits(splits: Mapping[str, float] | None) -> dict[str, float] | None:
    """Validate ``splits`` (names to fractions summing to 1) and return it as a dict."""
    if splits is None:
        return None
    if not isinstance(splits, Mapping) or not splits:
        raise InvalidArgument(
            f"splits={splits!r} must be a dict of split names to fractions, "
            "e.g. {'train': 0.9, 'test': 0.1}"
        )
    checked: dict[str, float] = {}
    for name, fraction in splits.items():
        if not isinstance(name, str) or not name.isidentifier() or name == "data":
            raise InvalidArgument(
                f"split name {name!r} must be a plain word such as 'train' (and not 'data')"
            )
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, int | float)
            or not 0 <= fraction <= 1
        ):
            raise InvalidArgument(f"splits[{name!r}]={fraction!r} must be a fraction from 0 to 1")
        checked[name] = float(fraction)
    total = sum(checked.values())
    if abs(total - 1.0) > 1e-6:
        raise InvalidArgument(f"splits={splits!r} add up to {total:g}; they must add up to 1")
    return checked


def split_of(text: str, splits: Mapping[str, float]) -> str:
    """The split of ``text``: its hash, read as a number in [0, 1), picks a bin.

    The choice depends on the text alone (see ``text_key``), so it never changes between
    runs, voices or datasets; proportions are met on average, not exactly.
    """
    digest = hashlib.sha256(("split:" + text_key(text)).encode("utf-8")).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    cumulative = 0.0
    names = list(splits)
    for name in names:
        cumulative += splits[name]
        if position < cumulative:
            return name
    return next(name for name in reversed(names) if splits[name] > 0)
