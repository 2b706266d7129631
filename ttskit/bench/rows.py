"""One row per request: what a run's frame holds, built from a transport's ``Outcome``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import redact
from .stats import STALL_BUFFERS_MS, stall_count
from .transports import Outcome, Target

__all__ = ["COLUMNS", "Trial", "frame", "row"]

#: The columns of a run's frame, in order.
COLUMNS = [
    "target",
    "endpoint",
    "model",
    "voice",
    "text_id",
    "text_kind",
    "characters",
    "words",
    "transport",
    "connection",
    "loop",
    "concurrency",
    "rate",
    "repetition",
    "warmup",
    "connection_reused",
    "scheduled_s",
    "started_s",
    "late_s",
    "headers_s",
    "first_byte_s",
    "first_audio_s",
    "first_audible_s",
    "done_s",
    "audio_s",
    "real_time_factor",
    "chunks",
    "max_gap_s",
    *[f"{kind}_{ms}ms" for ms in STALL_BUFFERS_MS for kind in ("stalls", "stall_s")],
    "silent",
    "ok",
    "error",
    "error_message",
    "status",
    "request_id",
    "retry_after_s",
    "sample_rate",
    "chunk_arrival_s",
    "chunk_samples",
]


@dataclass(frozen=True)
class Trial:
    target: int
    voice: str
    text_id: str
    text_kind: str
    text: str
    repetition: int


def _plus(value: float | None, offset: float) -> float:
    return np.nan if value is None else value + offset


def row(
    outcome: Outcome,
    trial: Trial,
    target: Target,
    *,
    transport: str,
    connection: str,
    loop: str,
    level: float,
    scheduled: float,
    origin: float,
    warmup: bool,
) -> dict[str, Any]:
    late = outcome.started - scheduled
    rate = outcome.sample_rate
    audio_s = sum(outcome.lengths) / rate if rate else 0.0
    arrivals = [a + late for a in outcome.arrivals]
    done_s = _plus(outcome.done_s, late)
    error = outcome.error
    silent = error is None and (audio_s == 0.0 or outcome.first_audible_s is None)
    result: dict[str, Any] = {
        "target": target.label,
        "endpoint": target.base_url,
        "model": target.model,
        "voice": trial.voice,
        "text_id": trial.text_id,
        "text_kind": trial.text_kind,
        "characters": len(trial.text),
        "words": len(trial.text.split()),
        "transport": transport,
        "connection": connection,
        "loop": loop,
        "concurrency": int(level) if loop == "closed" else pd.NA,
        "rate": float(level) if loop == "open" else np.nan,
        "repetition": trial.repetition,
        "warmup": warmup,
        "connection_reused": outcome.connection_reused,
        "scheduled_s": scheduled - origin,
        "started_s": outcome.started - origin,
        "late_s": late,
        "headers_s": _plus(outcome.headers_s, late),
        "first_byte_s": _plus(outcome.first_byte_s, late),
        "first_audio_s": _plus(outcome.first_audio_s, late),
        "first_audible_s": _plus(outcome.first_audible_s, late),
        "done_s": done_s,
        "audio_s": audio_s,
        "real_time_factor": done_s / audio_s if audio_s else np.nan,
        "chunks": len(arrivals),
        "max_gap_s": float(np.max(np.diff(arrivals))) if len(arrivals) > 1 else np.nan,
    }
    for ms in STALL_BUFFERS_MS:
        count, total = stall_count(
            arrivals, outcome.lengths, sample_rate=rate, start_buffer_s=ms / 1000
        )
        result[f"stalls_{ms}ms"], result[f"stall_s_{ms}ms"] = count, total
    result.update(
        silent=silent,
        ok=error is None and not silent,
        error=None if error is None else type(error).__name__,
        error_message=None
        if error is None
        else redact(str(error), target.api_key or getattr(target.endpoint, "api_key", None)),
        status=outcome.status,
        request_id=outcome.request_id,
        retry_after_s=np.nan if outcome.retry_after_s is None else outcome.retry_after_s,
        sample_rate=rate,
        chunk_arrival_s=arrivals,
        chunk_samples=list(outcome.lengths),
    )
    return result


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a DataFrame with :data:`COLUMNS`, in order of scheduled start."""
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in COLUMNS})
    table = pd.DataFrame(rows, columns=COLUMNS)
    table = table.sort_values("scheduled_s", kind="stable").reset_index(drop=True)
    table["concurrency"] = table["concurrency"].astype("Int64")
    table["status"] = table["status"].astype("Int64")
    table["connection_reused"] = table["connection_reused"].astype("boolean")
    return table
