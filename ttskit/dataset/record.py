"""A run's record: each outcome into the journal and its file, then the folder's metadata,
the manifest and the ``Summary``.

Only this process writes the folder (``layout``); workers hand back bytes. A ``Writer``
is made once the folder is prepared, says which planned items are still to make
(``pending``), takes each outcome as it comes (``commit``), and ``close`` leaves the
folder consistent however the run ended.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .layout import Layout, write_atomic
from .manifest import frame, ordered
from .plan import Plan, RunPlan
from .quality import SCORED_AT, flag
from .scoring import score_missing, scoring_attrs, write_provenance
from .worker import Outcome

__all__ = ["Summary", "Writer"]


@dataclass
class Summary:
    """What a run did; ``generate`` puts it in ``manifest.attrs["summary"]``."""

    out: str
    texts: int = 0
    empty: int = 0
    duplicates: int = 0
    voices: int = 0
    items: int = 0
    done_before: int = 0
    made: int = 0
    failed: int = 0
    audio_seconds: float = 0.0
    elapsed_s: float = 0.0
    interrupted: bool = False
    failures: dict[str, int] = field(default_factory=dict)
    #: Items scored by ``ttskit.quality`` this run, and items flagged (with ``quality``).
    scored: int = 0
    flagged: int | None = None

    @property
    def done(self) -> int:
        return self.done_before + self.made

    def __str__(self) -> str:
        lines = [
            f"dataset {self.out}: {self.done} of {self.items} items done "
            f"({self.texts - self.empty - self.duplicates} texts x {self.voices} voices)",
            f"  this run: {self.made} made ({self.audio_seconds / 3600:.3f} h of audio) in "
            f"{self.elapsed_s:.1f} s, {self.failed} failed, {self.done_before} already there",
            f"  input: {self.texts} texts, {self.empty} empty skipped, "
            f"{self.duplicates} duplicates made once",
        ]
        if self.flagged is not None:
            lines.append(
                f"  quality: {self.scored} items scored this run, {self.flagged} of the "
                f"{self.done} flagged (see the issues column)"
            )
        for error, count in sorted(self.failures.items(), key=lambda kv: -kv[1])[:5]:
            lines.append(f"  failed x{count}: {error}")
        if self.interrupted or self.failed:
            lines.append("  run the same command again to resume: finished items are kept")
        return "\n".join(lines)


class Writer:
    """The record of one run into a prepared dataset folder.

    Parameters
    ----------
    layout : Layout
        The folder, already ``prepare``d.
    run : RunPlan
        The run's plan: its items, and its scorers and limits (with ``quality=``).
    out : str, optional
        The folder as the caller named it, for the summary.
    """

    def __init__(self, layout: Layout, run: RunPlan, *, out: str | None = None) -> None:
        self.layout = layout
        self.run = run
        given = run.given
        self.summary = Summary(
            out=str(layout.root) if out is None else out,
            texts=given.n_given,
            empty=given.n_empty,
            duplicates=given.n_duplicate,
            voices=len(run.voices),
            items=len(run.plans),
        )
        self._offsets: dict[str, int] | None = None

    def pending(self) -> list[Plan]:
        """The planned items not done yet, once the folder is recovered from a crash;
        counts the others as ``done_before``."""
        records = self.layout.recover()
        pending = [
            p for p in self.run.plans if records.get(p.job.item_id, {}).get("status") != "ok"
        ]
        self.summary.done_before = len(self.run.plans) - len(pending)
        return pending

    def describe(self) -> str:
        """The progress bar's postfix: hours of audio made this run."""
        return f"{self.summary.audio_seconds / 3600:.3f} h audio"

    def commit(self, plan: Plan, outcome: Outcome) -> None:
        """Record ``outcome``: its file renamed into place, then its journal line."""
        job, summary = plan.job, self.summary
        record: dict[str, Any] = {
            "file_name": None,
            "id": job.item_id,
            "text_id": plan.text_id,
            "text": job.text,
            "voice": job.voice,
            "model": job.model,
            "requested_voice": job.voice,
            "requested_model": job.model,
        }
        if outcome.ok:
            file_name = self.layout.file_name(job.item_id, job.format, plan.split)
            path = self.layout.root / file_name
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, outcome.data or b"")
            record["file_name"] = file_name
            record.update(outcome.row)
            record.update(format=job.format, split=plan.split, status="ok")
            summary.made += 1
            summary.audio_seconds += outcome.row.get("duration") or 0.0
        else:
            record.update(split=plan.split, status="failed", error=outcome.error)
            summary.failed += 1
            reason = (outcome.error or "").split(":", 1)[0]
            summary.failures[reason] = summary.failures.get(reason, 0) + 1
        record["attempts"] = outcome.attempts
        if self.run.metrics and outcome.ok:
            flag(record, self.run.limits)
            summary.scored += SCORED_AT in record
        self.layout.journal.append(ordered(record, plan.carried))

    def score_rest(self, *, progress: bool) -> None:
        """With ``quality=``: say what made the scores, and score the done items that have
        none (made before without ``quality``, or whose worker could not score them)."""
        run = self.run
        if not run.metrics:
            return
        write_provenance(self.layout, scoring_attrs(run.scorers, run.limits))
        ids = {p.job.item_id for p in run.plans}
        self.summary.scored += score_missing(
            self.layout, ids, run.metrics, asr=run.asr, limits=run.limits, progress=progress
        )

    def close(self, *, interrupted: bool) -> None:
        """Leave the folder consistent: the journal closed and the metadata rebuilt."""
        self.summary.interrupted = interrupted
        self.layout.journal.close()
        if interrupted:
            # A file may have been cut between its rename and its journal line.
            self.layout.write_metadata(self.layout.recover().values())
            return
        # Streamed from the journal, one record at a time: a large run's records are
        # never all in memory as dicts.
        self._offsets = self.layout.journal.offsets()
        self.layout.write_metadata(self.layout.journal.latest(self._offsets))

    def manifest(self) -> pd.DataFrame:
        """The manifest of this run's items, made now or before, in plan order, with the
        ``Summary`` (and, with ``quality=``, what made the scores) in its ``attrs``."""
        offsets = self._offsets if self._offsets is not None else self.layout.journal.offsets()
        manifest = frame(self._records(offsets), self.layout.root)
        if self.run.metrics:
            flagged = manifest["suspicious"].fillna(False).astype(bool).sum()
            self.summary.flagged = int(flagged)
            manifest.attrs["quality"] = scoring_attrs(self.run.scorers, self.run.limits)
        manifest.attrs["summary"] = self.summary
        return manifest

    def _records(self, offsets: dict[str, int]) -> Iterator[dict[str, Any]]:
        ids = (p.job.item_id for p in self.run.plans)
        return self.layout.journal.at(offsets[i] for i in ids if i in offsets)
