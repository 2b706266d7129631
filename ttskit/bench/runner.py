"""Running a latency experiment: targets x voices x texts x repetitions, per transport and
per concurrency (closed loop) or arrival rate (open loop), one row per request.

Closed loop: ``concurrency`` workers each send a request as soon as their previous one is
done. Open loop: every arrival is scheduled in advance (Poisson, at ``rate`` per second for
``duration`` seconds) and sent at its time whether or not earlier ones are done; latencies
count from the scheduled time, so a server (or a harness) that falls behind shows its queue
in the numbers instead of hiding it (no coordinated omission). ``late_s`` says how late
each request actually started.
"""

from __future__ import annotations

import math
import os
import platform
import queue
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import ConfigurationError, InvalidArgument
from . import transports as _transports
from .stats import STALL_BUFFERS_MS, stall_count
from .texts import builtin_texts, read_texts, text_frame
from .transports import TRANSPORTS, Outcome, Target

__all__ = ["COLUMNS", "poisson_schedule", "resolve_targets", "run"]

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

#: Longest wait a 429 can impose on a worker.
MAX_BACKOFF_S = 60.0


def poisson_schedule(rate: float, duration: float, rng: np.random.Generator) -> np.ndarray:
    """Arrival times in ``[0, duration)`` of a Poisson process at ``rate`` per second.

    Examples
    --------
    >>> times = poisson_schedule(100.0, 10.0, np.random.default_rng(0))
    >>> bool(900 < len(times) < 1100 and times.min() >= 0 and times.max() < 10)
    True
    """
    expected = rate * duration
    gaps = rng.exponential(1.0 / rate, size=int(expected + 10 * math.sqrt(expected) + 10))
    times = np.cumsum(gaps)
    while times[-1] < duration:  # vanishingly rare: draw more
        times = np.r_[times, times[-1] + np.cumsum(rng.exponential(1.0 / rate, size=len(gaps)))]
    return times[times < duration]


# --- arguments --------------------------------------------------------------------------------


def _levels(name: str, values: Any, kind: type) -> list:
    items = (
        list(values) if isinstance(values, Iterable) and not isinstance(values, str) else [values]
    )
    if not items:
        raise InvalidArgument(f"{name} must name at least one level, got {values!r}")
    for value in items:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidArgument(f"{name} must be numbers, got {value!r}")
        if kind is int and (value != int(value) or value < 1):
            raise InvalidArgument(f"{name} must be whole numbers >= 1, got {value!r}")
        if not (math.isfinite(value) and value > 0):
            raise InvalidArgument(f"{name} must be > 0, got {value!r}")
    return [kind(v) for v in items]


def _texts(texts: Any) -> pd.DataFrame:
    if texts is None:
        return builtin_texts()
    if isinstance(texts, str | Path) and (isinstance(texts, Path) or "\n" not in texts):
        path = Path(texts)
        if path.suffix or path.exists():
            return read_texts(path)
        raise InvalidArgument(
            f"texts={texts!r} is no file; pass a list of texts, or the path of a file with one "
            "text per line"
        )
    return text_frame(texts)


def _one_target(item: Any, api_key: str | None, headers: dict[str, str]) -> Target:
    model = voice = None
    if isinstance(item, tuple):
        if len(item) != 3:
            raise InvalidArgument(f"a target tuple is (client or URL, model, voice), got {item!r}")
        item, model, voice = item
    if isinstance(item, Target):
        target = item
    elif isinstance(item, str):
        target = Target(item.rstrip("/"))
    elif hasattr(item, "base_url") and hasattr(item, "speak"):  # a ttskit.Client
        target = Target(item.base_url, getattr(item, "model", None), getattr(item, "voice", None))
    else:
        raise InvalidArgument(
            f"a target is a ttskit.Client, a base URL, a (client, model, voice) tuple or a "
            f"ttskit.bench.Target; got {type(item).__name__}"
        )
    if not target.base_url.startswith(("http://", "https://")):
        raise InvalidArgument(
            f"target base URL {target.base_url!r} is not http(s), e.g. 'http://127.0.0.1:8000/v1'"
        )
    key = target.api_key or api_key or _transports.default_api_key(target.base_url)
    if target.hosted and not target.base_url.startswith("https://"):
        raise InvalidArgument(f"{target.base_url} would send the API key in cleartext; use https")
    return replace(
        target,
        model=model or target.model,
        voice=voice or target.voice,
        api_key=key,
        headers={**headers, **dict(target.headers)},
    )


def resolve_targets(
    targets: Any, *, api_key: str | None = None, headers: dict[str, str] | None = None
) -> list[Target]:
    """``targets`` as a list of :class:`Target` (no request sent).

    A ``Client`` does not hand out its key: give ``api_key=`` (``$TOGETHER_API_KEY`` is
    used for the hosted API).
    """
    items = targets if isinstance(targets, list) else [targets]
    if not items:
        raise InvalidArgument("targets is empty; give a Client, a base URL or a list of them")
    return [_one_target(item, api_key, dict(headers or {})) for item in items]


def _complete(target: Target, timeout: float) -> Target:
    """The target with its model and voice, asking the server for what is missing."""
    if target.model and target.voice:
        return target
    if target.hosted:
        return replace(
            target,
            model=target.model or _transports.HOSTED_DEFAULT[0],
            voice=target.voice or _transports.HOSTED_DEFAULT[1],
        )
    client = _transports._client(target, timeout, time.perf_counter)
    try:
        model = target.model
        if not model:
            models = client.models()
            if models.empty:
                raise ConfigurationError(f"{target.base_url} lists no models; give a model")
            model = str(models["id"].iloc[0])
        voice = target.voice
        if not voice:
            voices = client.voices(model)
            if voices.empty:
                raise ConfigurationError(f"{target.base_url} lists no voices for {model!r}")
            voice = str(voices["name"].iloc[0])
    finally:
        client.close()
    return replace(target, model=model, voice=voice)


# --- rows -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Trial:
    target: int
    voice: str
    text_id: str
    text_kind: str
    text: str
    repetition: int


def _plus(value: float | None, offset: float) -> float:
    return np.nan if value is None else value + offset


def _row(
    outcome: Outcome,
    trial: _Trial,
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
    row: dict[str, Any] = {
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
        row[f"stalls_{ms}ms"], row[f"stall_s_{ms}ms"] = count, total
    row.update(
        silent=silent,
        ok=error is None and not silent,
        error=None if error is None else type(error).__name__,
        error_message=None if error is None else _transports._redact(str(error), target.api_key),
        status=outcome.status,
        request_id=outcome.request_id,
        retry_after_s=np.nan if outcome.retry_after_s is None else outcome.retry_after_s,
        sample_rate=rate,
        chunk_arrival_s=arrivals,
        chunk_samples=list(outcome.lengths),
    )
    return row


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in COLUMNS})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame = frame.sort_values("scheduled_s", kind="stable").reset_index(drop=True)
    frame["concurrency"] = frame["concurrency"].astype("Int64")
    frame["status"] = frame["status"].astype("Int64")
    frame["connection_reused"] = frame["connection_reused"].astype("boolean")
    return frame


# --- running ----------------------------------------------------------------------------------


class _Recorder:
    """Rows collected from every worker, a progress bar, and the stop signal."""

    def __init__(self, total: int, progress: bool) -> None:
        from tqdm.auto import tqdm

        self.rows: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.bar = tqdm(total=total, disable=not progress, unit="req", desc="ttskit bench")

    def add(self, row: dict[str, Any]) -> None:
        with self.lock:
            self.rows.append(row)
            self.bar.update(1)
            if not row["ok"]:
                errors = sum(1 for r in self.rows if not r["ok"])
                self.bar.set_postfix(failed=errors, refresh=False)


def run(
    targets: Any,
    texts: Any = None,
    voices: Sequence[str] | None = None,
    *,
    repeats: int = 3,
    transports: Sequence[str] = ("sse",),
    concurrency: int | Sequence[int] = (1,),
    rate: float | Sequence[float] | None = None,
    duration: float | None = None,
    warmup: int = 1,
    connection: str = "warm",
    timeout: float = 60.0,
    seed: int = 0,
    api_key: str | None = None,
    headers: dict[str, str] | None = None,
    max_in_flight: int = 64,
    progress: bool = True,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> pd.DataFrame:
    """Run a latency experiment and return one row per request (errors included).

    Parameters
    ----------
    targets : Client, str, tuple, Target, or a list of them
        What to measure: clients, base URLs, ``(client or URL, model, voice)`` tuples, or
        :class:`Target` (which can carry headers such as ``x-ttskit-faults``).
    texts : list of str, DataFrame, or path, optional
        The texts; a path reads one text per line; the built-in set when None.
    voices : list of str, optional
        Voices to try on every target (each target's own voice when None).
    repeats : int
        Times each (target, voice, text) is sent per transport and level (closed loop).
    transports : sequence of {"rest", "sse", "chunked", "ws", "ws-keep"}
        ``chunked`` is OpenAI's ``stream_format: "audio"``; ``ws`` opens a WebSocket per
        request and ``ws-keep`` keeps one open per worker.
    concurrency : int or sequence of int
        Closed-loop levels: workers sending back to back.
    rate : float or sequence of float, optional
        Open-loop levels (requests per second, Poisson arrivals), instead of concurrency.
        Needs ``duration``. Arrivals cycle through the targets x voices x texts.
    duration : float, optional
        Seconds of arrivals per open-loop level.
    warmup : int
        Requests sent first to each target over each transport, kept as rows flagged
        ``warmup`` (and left out of summaries).
    connection : {"warm", "cold"}
        ``warm`` reuses each worker's connection pool (and WebSocket for ``ws-keep``);
        ``cold`` opens a new TCP (and TLS) connection per request.
    timeout : float
        Seconds to connect and between two reads; a request that times out is a row.
    seed : int
        Seed of the shuffled order and of the arrival schedules.
    api_key : str, optional
        Key for the targets (``$TOGETHER_API_KEY`` for the hosted API when None). Never
        written to the frame or its metadata.
    headers : dict, optional
        Extra headers of every request.
    max_in_flight : int
        Open loop: most requests in flight at once (later arrivals wait, and it shows).
    progress : bool
        Show a ``tqdm`` progress bar.
    clock, sleep : callable
        ``time.perf_counter`` and ``time.sleep`` unless a test injects others.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`; ``df.attrs["bench"]`` holds the run's metadata (versions,
        arguments, machine, date, the harness's CPU seconds per request). After Ctrl-C the
        rows so far, with ``df.attrs["bench"]["interrupted"]`` True.

    Raises
    ------
    ttskit.errors.InvalidArgument
        For bad arguments, before any request is sent.
    """
    transports = [transports] if isinstance(transports, str) else list(transports)
    bad = [t for t in transports if t not in TRANSPORTS]
    if bad or not transports:
        raise InvalidArgument(f"unknown transport {bad[0] if bad else None!r}; use {TRANSPORTS}")
    if connection not in ("warm", "cold"):
        raise InvalidArgument(f"connection must be 'warm' or 'cold', got {connection!r}")
    if connection == "cold" and "ws-keep" in transports:
        raise InvalidArgument("transport 'ws-keep' keeps its socket open: it cannot be cold")
    for name, value in (("repeats", repeats), ("max_in_flight", max_in_flight)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgument(f"{name} must be a whole number >= 1, got {value!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise InvalidArgument(f"warmup must be a whole number >= 0, got {warmup!r}")
    if not (isinstance(timeout, int | float) and timeout > 0):
        raise InvalidArgument(f"timeout must be > 0 seconds, got {timeout!r}")
    if rate is not None:
        levels = _levels("rate", rate, float)
        loop = "open"
        if duration is None or not (isinstance(duration, int | float) and duration > 0):
            raise InvalidArgument(
                f"an open-loop run (rate={rate!r}) needs duration= seconds > 0, got {duration!r}"
            )
    else:
        levels = _levels("concurrency", concurrency, int)
        loop = "closed"
    if voices is not None:
        voices = [voices] if isinstance(voices, str) else list(voices)
        if not voices or not all(isinstance(v, str) and v for v in voices):
            raise InvalidArgument(f"voices must be non-empty names, got {voices!r}")
    table = _texts(texts)
    resolved = resolve_targets(targets, api_key=api_key, headers=headers)

    resolved = [_complete(t, timeout) for t in resolved]
    pairs = [(i, v) for i, t in enumerate(resolved) for v in (voices or [t.voice])]
    rng = np.random.default_rng(seed)
    text_rows = list(table.itertuples(index=False))
    base = [
        _Trial(i, v, r.text_id, r.kind, r.text, rep)
        for rep in range(repeats if loop == "closed" else 1)
        for i, v in pairs
        for r in text_rows
    ]
    plan: list[tuple[str, float, list[tuple[float | None, _Trial]]]] = []
    for transport in transports:
        for level in levels:
            if loop == "closed":
                order = rng.permutation(len(base))
                plan.append((transport, level, [(None, base[j]) for j in order]))
            else:
                times = poisson_schedule(level, float(duration), rng)
                order = rng.permutation(len(base))
                trials = [
                    (float(t), replace(base[order[k % len(base)]], repetition=k // len(base)))
                    for k, t in enumerate(times)
                ]
                plan.append((transport, level, trials))
    warmups = [
        (transport, _Trial(i, voices[0] if voices else resolved[i].voice, *table.iloc[0], 0))
        for transport in transports
        for i in range(len(resolved))
        for _ in range(warmup)
    ]
    total = len(warmups) + sum(len(trials) for _, _, trials in plan)
    arguments = {
        "targets": [t.label for t in resolved],
        "models": [t.model for t in resolved],
        "voices": voices,
        "texts": table["text_id"].tolist(),
        "repeats": repeats,
        "transports": transports,
        "concurrency": levels if loop == "closed" else None,
        "rate": levels if loop == "open" else None,
        "duration": duration,
        "warmup": warmup,
        "connection": connection,
        "timeout": timeout,
        "seed": seed,
        "max_in_flight": max_in_flight,
        "header_names": sorted({k for t in resolved for k in t.headers}),
    }

    recorder = _Recorder(total, progress)
    run_id = id(recorder)
    cold = connection == "cold"
    servers: set[str] = set()
    origin = clock()
    cpu0 = time.process_time()
    interrupted = False

    def one(
        transport: str, level: float, trial: _Trial, scheduled: float | None, warm: bool
    ) -> float | None:
        target = resolved[trial.target]
        state = _transports.worker_state(run_id)
        try:
            outcome = _transports.send(
                state,
                target,
                trial.target,
                target.model,
                trial.voice,
                trial.text,
                transport,
                cold=cold,
                timeout=timeout,
                clock=clock,
            )
        except Exception as exc:  # a row, not a crash: the run goes on and keeps its rows
            outcome = Outcome(started=clock(), error=exc)
        if outcome.server:
            servers.add(outcome.server)
        recorder.add(
            _row(
                outcome,
                trial,
                target,
                transport=transport,
                connection=connection,
                loop=loop,
                level=level,
                scheduled=outcome.started if scheduled is None else scheduled,
                origin=origin,
                warmup=warm,
            )
        )
        if outcome.status == 429:
            return min(outcome.retry_after_s or 1.0, MAX_BACKOFF_S)
        return None

    def closed_worker(transport: str, level: float, work: queue.SimpleQueue) -> None:
        while not recorder.stop.is_set():
            try:
                trial = work.get_nowait()
            except queue.Empty:
                return
            backoff = one(transport, level, trial, None, False)
            if backoff:
                sleep(backoff)

    workers = max(max(levels) if loop == "closed" else max_in_flight, 1)
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ttskit-bench")
    try:
        for transport, trial in warmups:
            executor.submit(one, transport, levels[0], trial, None, True).result()
        for transport, level, trials in plan:
            if recorder.stop.is_set():
                break
            if loop == "closed":
                work: queue.SimpleQueue = queue.SimpleQueue()
                for _, trial in trials:
                    work.put(trial)
                futures = [
                    executor.submit(closed_worker, transport, level, work)
                    for _ in range(int(level))
                ]
            else:
                futures = []
                start = clock()
                for at, trial in trials:
                    due = start + at
                    while (left := due - clock()) > 0:
                        sleep(left)
                    futures.append(executor.submit(one, transport, level, trial, due, False))
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:
                future.result()
    except KeyboardInterrupt:
        interrupted = True
        recorder.stop.set()
        warnings.warn(
            "interrupted: returning the rows measured so far", RuntimeWarning, stacklevel=2
        )
    finally:
        executor.shutdown(wait=not interrupted, cancel_futures=True)
        recorder.bar.close()
    cpu = time.process_time() - cpu0
    wall = clock() - origin
    with recorder.lock:
        rows = list(recorder.rows)
    frame = _frame(rows)
    frame.attrs["bench"] = {
        "ttskit_version": __version__,
        "server_versions": sorted(servers),
        "endpoints": sorted({t.base_url for t in resolved}),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "node": platform.node(),
        },
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "arguments": arguments,
        "loop": loop,
        "wall_s": wall,
        "harness_cpu_s": cpu,
        "harness_cpu_per_request_s": cpu / len(rows) if rows else None,
        "interrupted": interrupted,
    }
    return frame
