"""``generate(quality=...)``: the scores of ``ttskit.quality`` for a dataset's items.

New items are scored on the worker that made them, right after their file is encoded
(``worker.make_item``); this module checks the request before anything is made, scores
the items a run finds done but unscored (made before without ``quality``), from their
files, and says what made the numbers (``.ttskit/quality.json``).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidType, TTSKitError
from .layout import Layout, write_atomic
from .manifest import ordered
from .quality import SCORED_AT, flag, missing_metrics, scored_now, scores_of

__all__ = [
    "PROVENANCE_FILE",
    "read_provenance",
    "score_missing",
    "scoring_attrs",
    "start_scoring",
    "write_provenance",
]

#: In ``.ttskit/``: the scorers' packages, versions and model hashes, and the limits.
PROVENANCE_FILE = "quality.json"


def start_scoring(metrics: tuple[str, ...], asr: Any, limits: Any) -> tuple[Any, dict]:
    """Check ``asr`` and ``limits``, and load this process's scorers now: a missing extra
    fails here, before any request, with what to install.

    Returns the limits (``quality.Limits()`` when None) and what the scorers are
    (``quality.score``'s ``attrs["quality"]``).
    """
    from ..quality import Limits, score

    if asr is not None and not isinstance(asr, str):
        raise InvalidType(
            f"asr must be a faster-whisper model name or folder, or a URL, so that workers "
            f"in other processes can load it; got {type(asr).__name__}"
        )
    if limits is None:
        limits = Limits()
    elif not isinstance(limits, Limits):
        raise InvalidType(f"quality_limits must be a ttskit.quality.Limits, not {limits!r}")
    # A tenth of a second of silence: loads every scorer of ``metrics`` in this process.
    probe = score(np.zeros(1600, np.float32), "", metrics=metrics, asr=asr, sample_rate=16000)
    return limits, dict(probe.attrs.get("quality", {}))


def scoring_attrs(scorers: dict, limits: Any) -> dict:
    """What made a run's scores, with the limits that flagged its items."""
    return {**scorers, "limits": dict(limits.__dict__)}


def write_provenance(layout: Layout, attrs: dict) -> None:
    """Keep ``attrs`` (``scoring_attrs``) in the folder, for ``load`` to hand back."""
    write_atomic(layout.state / PROVENANCE_FILE, json.dumps(attrs, indent=2).encode("utf-8"))


def read_provenance(layout: Layout) -> dict | None:
    """What made the folder's scores, or None for a folder never scored."""
    try:
        return json.loads((layout.state / PROVENANCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def score_missing(
    layout: Layout,
    ids: set[str],
    metrics: tuple[str, ...],
    *,
    asr: str | None,
    limits: Any,
    progress: bool,
) -> int:
    """Score, from their files, the done items of ``ids`` that lack a score of ``metrics``,
    and flag again by ``limits`` those scored before; each item changed is a new journal
    record. Returns how many items were scored."""
    from tqdm.auto import tqdm

    from ..quality import score_many

    todo = []
    for record in layout.journal.latest():
        if record["id"] not in ids or record.get("status") != "ok":
            continue
        if missing_metrics(record, metrics):
            if (layout.root / record["file_name"]).is_file():
                todo.append(record)
        elif SCORED_AT in record:
            # Scores are kept; the flags follow this run's limits.
            before = (record.get("issues"), record.get("suspicious"))
            if (flag(record, limits)["issues"], record["suspicious"]) != before:
                layout.journal.append(ordered(record, {}))
    failed = 0
    for record in tqdm(todo, desc="quality", unit="item", disable=not progress):
        missing = missing_metrics(record, metrics)
        item = pd.DataFrame(
            [
                {
                    "path": str(layout.root / record["file_name"]),
                    "text": record["text"],
                    "words": record.get("words") or "[]",
                }
            ]
        )
        try:
            scored = score_many(item, metrics=missing, asr=asr, progress=False).iloc[0]
        except (TTSKitError, OSError) as exc:
            # Left unscored, with the reason; the next run tries again.
            record["quality_reason"] = f"scoring failed: {type(exc).__name__}: {exc}"
            layout.journal.append(ordered(record, {}))
            failed += 1
            continue
        found = scores_of(scored, missing, when=scored_now())
        # Reasons of scores kept stay; a failed attempt's reason goes.
        before = record.get("quality_reason") if SCORED_AT in record else ""
        found["quality_reason"] = "; ".join(r for r in (before, found["quality_reason"]) if r)
        record.update(found)
        layout.journal.append(ordered(flag(record, limits), {}))
    return len(todo) - failed
