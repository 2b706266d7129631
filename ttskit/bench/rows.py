"""One row per request: what a run's frame holds, built from a transport's ``Outcome``.

A row says what was asked (``requested_model``, ``requested_voice``) and what was served
(``model`` and ``voice`` as the server named them, status, request id, audio, its
arrivals), how it was measured (the start-time policy, HTTP version, reused connection,
client library, the clock offset of the worker that sent it) and what a player would have
heard (underruns at a prebuffer, gaps between chunks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import redact
from .outcome import Outcome
from .stats import STALL_BUFFERS_MS, underruns
from .transports import Target

__all__ = [
    "COLUMNS",
    "DEFAULT_PREBUFFER_S",
    "Measurement",
    "Trial",
    "continuity",
    "frame",
    "prebuffer_columns",
    "row",
]

#: The player prebuffer of the continuity columns unless a run asks for others.
DEFAULT_PREBUFFER_S = 0.1
#: The clock starts before the connection is opened (a new connection's set-up is in the
#: latency) or as the request is sent on an open one.
INCLUDES_CONNECT, EXCLUDES_CONNECT = "includes_connect", "excludes_connect"

#: The columns of a run's frame, in order.
COLUMNS = [
    "target",
    "endpoint",
    "model",
    "voice",
    "requested_model",
    "requested_voice",
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
    "gap_p50_s",
    "gap_p99_s",
    "first_payload_bytes",
    "prebuffer_s",
    "underrun_count",
    "underrun_total_s",
    "underrun_max_s",
    *[f"{kind}_{ms}ms" for ms in STALL_BUFFERS_MS for kind in ("stalls", "stall_s")],
    "interrupt_after_s",
    "cancel_s",
    "stop_latency_s",
    "audio_after_cancel_s",
    "silent",
    "ok",
    "error",
    "error_message",
    "status",
    "request_id",
    "retry_after_s",
    "sample_rate",
    "start_policy",
    "http_version",
    "client_library",
    "client_version",
    "worker",
    "clock_offset_s",
    "clock_uncertainty_s",
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


@dataclass(frozen=True)
class Measurement:
    """How the rows of one worker are measured: where its clock stands against the
    coordinator's, and what a player is assumed to buffer.

    Attributes
    ----------
    prebuffers : tuple of float
        Player prebuffers in seconds; the first gives ``underrun_*``, the others
        ``underrun_*_<ms>ms`` columns.
    worker : str
        Who sent the requests (``"main"``, a process, a Dask worker's address).
    clock_offset_s, clock_uncertainty_s : float
        The worker's clock minus the coordinator's, and half the round trip it was
        measured in (0 in the coordinator itself).
    interrupt_after_s : float, optional
        WebSocket runs: each utterance cancelled this long after its first audio.
    """

    prebuffers: tuple[float, ...] = (DEFAULT_PREBUFFER_S,)
    worker: str = "main"
    clock_offset_s: float = 0.0
    clock_uncertainty_s: float = 0.0
    interrupt_after_s: float | None = None


def prebuffer_columns(prebuffers: tuple[float, ...]) -> list[str]:
    """Columns a run adds after :data:`COLUMNS` for its prebuffers beyond the first."""
    return [
        f"{name}_{round(p * 1000):g}ms"
        for p in prebuffers[1:]
        for name in ("underrun_count", "underrun_total_s", "underrun_max_s")
    ]


def _percentile(ordered: list[float], q: float) -> float:
    """``numpy.percentile(ordered, q)`` (linear) of a sorted short list, without numpy's
    overhead per call.

    >>> _percentile([0.1, 0.2, 0.4], 50), _percentile([0.1, 0.2, 0.4], 99)
    (0.2, 0.396)
    """
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def continuity(
    arrivals: list[float], lengths: list[int], sample_rate: int, prebuffers: tuple[float, ...]
) -> dict[str, Any]:
    """The continuity columns of one request: gaps between chunks, and underruns per
    prebuffer (see :func:`ttskit.bench.stats.underruns`)."""
    gaps = sorted(b - a for a, b in zip(arrivals, arrivals[1:], strict=False))
    result: dict[str, Any] = {
        "max_gap_s": gaps[-1] if gaps else np.nan,
        "gap_p50_s": _percentile(gaps, 50) if gaps else np.nan,
        "gap_p99_s": _percentile(gaps, 99) if gaps else np.nan,
        # 16-bit audio in the first payload: what a player has to start from.
        "first_payload_bytes": 2 * lengths[0] if lengths else 0,
        "prebuffer_s": prebuffers[0],
    }
    for k, prebuffer in enumerate(prebuffers):
        count, total, longest = underruns(
            arrivals, lengths, sample_rate=sample_rate, prebuffer_s=prebuffer
        )
        suffix = "" if k == 0 else f"_{round(prebuffer * 1000):g}ms"
        result[f"underrun_count{suffix}"] = count
        result[f"underrun_total_s{suffix}"] = total
        result[f"underrun_max_s{suffix}"] = longest
    for ms in STALL_BUFFERS_MS:
        count, total, _ = underruns(
            arrivals, lengths, sample_rate=sample_rate, prebuffer_s=ms / 1000
        )
        result[f"stalls_{ms}ms"], result[f"stall_s_{ms}ms"] = count, total
    return result


def _interruption(outcome: Outcome, arrivals: list[float], lengths: list[int], late: float):
    if outcome.cancel_s is None:
        return np.nan, np.nan, np.nan
    cancel = outcome.cancel_s + late
    after = [(a, n) for a, n in zip(arrivals, lengths, strict=True) if a > cancel]
    rate = outcome.sample_rate
    stop = max(a for a, _ in after) - cancel if after else 0.0
    return cancel, stop, sum(n for _, n in after) / rate if rate else 0.0


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
    measurement: Measurement = Measurement(),
) -> dict[str, Any]:
    """The row of one request; ``scheduled`` and ``origin`` are readings of the clock the
    outcome was measured with."""
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
        # What the server says it used (what was asked when it did not say), as
        # ``Speech.model`` and ``Speech.voice`` are; what was asked beside it.
        "model": outcome.served_model or outcome.requested_model or target.model,
        "voice": outcome.served_voice or outcome.requested_voice or trial.voice,
        "requested_model": outcome.requested_model or target.model,
        "requested_voice": outcome.requested_voice or trial.voice,
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
        **continuity(arrivals, outcome.lengths, rate, measurement.prebuffers),
    }
    cancel, stop, after = _interruption(outcome, arrivals, outcome.lengths, late)
    result.update(
        interrupt_after_s=np.nan
        if measurement.interrupt_after_s is None
        else measurement.interrupt_after_s,
        cancel_s=cancel,
        stop_latency_s=stop,
        audio_after_cancel_s=after,
    )
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
        start_policy=None
        if outcome.connection_reused is None
        else (EXCLUDES_CONNECT if outcome.connection_reused else INCLUDES_CONNECT),
        http_version=outcome.http_version,
        client_library=outcome.client_library,
        client_version=outcome.client_version,
        worker=measurement.worker,
        clock_offset_s=measurement.clock_offset_s,
        clock_uncertainty_s=measurement.clock_uncertainty_s,
        chunk_arrival_s=arrivals,
        chunk_samples=list(outcome.lengths),
    )
    if outcome.speech is not None:
        result["speech"] = outcome.speech  # kept for scoring after the run, never saved
    return result


def frame(rows: list[dict[str, Any]], extra: Sequence[str] = ()) -> pd.DataFrame:
    """The rows as a DataFrame with :data:`COLUMNS` (then ``extra``), in order of scheduled
    start."""
    columns = [*COLUMNS, *extra]
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    table = pd.DataFrame(rows, columns=columns)
    table = table.sort_values("scheduled_s", kind="stable").reset_index(drop=True)
    table["concurrency"] = table["concurrency"].astype("Int64")
    table["status"] = table["status"].astype("Int64")
    table["connection_reused"] = table["connection_reused"].astype("boolean")
    return table
