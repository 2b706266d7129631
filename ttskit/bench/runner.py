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
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import InvalidArgument
from . import transports as _transports
from .rows import COLUMNS, Trial, frame, row
from .targets import complete, resolve_targets
from .texts import builtin_texts, read_texts, text_frame
from .transports import TRANSPORTS, Outcome, WorkerState

__all__ = ["COLUMNS", "poisson_schedule", "resolve_targets", "run"]

#: Longest wait a 429 can impose on a worker.
MAX_BACKOFF_S = 60.0
#: The interpreter's thread switch interval during a run (Python's default is 5 ms).
SWITCH_INTERVAL_S = 0.0002


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


# --- running ----------------------------------------------------------------------------------


class _Recorder:
    """Rows collected from every worker, a progress bar, and the stop signal."""

    def __init__(self, total: int, progress: bool) -> None:
        from tqdm.auto import tqdm

        self.rows: list[dict[str, Any]] = []
        self.cpu_s = 0.0  # CPU seconds of the workers' threads, spent on the requests
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.bar = tqdm(total=total, disable=not progress, unit="req", desc="ttskit bench")

    def add(self, row: dict[str, Any], cpu_s: float) -> None:
        with self.lock:
            self.rows.append(row)
            self.cpu_s += cpu_s
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
        Key for the targets (``$TOGETHER_API_KEY`` for the hosted API when None); a
        ``Client`` target sends its own key unless this is given. Never written to the
        frame or its metadata.
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

    resolved = [complete(t, timeout) for t in resolved]
    pairs = [(i, v) for i, t in enumerate(resolved) for v in (voices or [t.voice])]
    rng = np.random.default_rng(seed)
    text_rows = list(table.itertuples(index=False))
    base = [
        Trial(i, v, r.text_id, r.kind, r.text, rep)
        for rep in range(repeats if loop == "closed" else 1)
        for i, v in pairs
        for r in text_rows
    ]
    plan: list[tuple[str, float, list[tuple[float | None, Trial]]]] = []
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
        (transport, Trial(i, voices[0] if voices else resolved[i].voice, *table.iloc[0], 0))
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
    local = threading.local()  # each worker thread's connections, closed when the run ends
    states: list[WorkerState] = []
    cold = connection == "cold"
    servers: set[str] = set()
    origin = clock()
    dispatcher_cpu0 = time.thread_time()
    interrupted = False

    def one(
        transport: str, level: float, trial: Trial, scheduled: float | None, warm: bool
    ) -> float | None:
        cpu0 = time.thread_time()
        target = resolved[trial.target]
        state = getattr(local, "state", None)
        if state is None:
            state = local.state = WorkerState()
            with recorder.lock:
                states.append(state)
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
            row(
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
            ),
            time.thread_time() - cpu0,
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
    # A worker whose answer arrives must get the interpreter back quickly to read the clock:
    # at the default 5 ms switch interval, a busy neighbour thread delays its readings by
    # up to that much. Python's own setting, restored when the run ends.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(min(switch_interval, SWITCH_INTERVAL_S))
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
        sys.setswitchinterval(switch_interval)
        executor.shutdown(wait=not interrupted, cancel_futures=True)
        recorder.bar.close()
        for state in states:
            state.close()
    # The harness's own CPU: its threads' only, not an embedded server's in this process.
    cpu = recorder.cpu_s + time.thread_time() - dispatcher_cpu0
    wall = clock() - origin
    with recorder.lock:
        rows = list(recorder.rows)
    result = frame(rows)
    result.attrs["bench"] = {
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
    return result
