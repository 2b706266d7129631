"""Running a latency experiment: the plan's requests sent per transport and per
concurrency (closed loop) or arrival rate (open loop), one row per request.

Closed loop: ``concurrency`` workers each send a request as soon as their previous one is
done. Open loop: every arrival is scheduled in advance (Poisson, at ``rate`` per second for
``duration`` seconds) and sent at its time whether or not earlier ones are done; latencies
count from the scheduled time, so a server (or a harness) that falls behind shows its queue
in the numbers instead of hiding it (no coordinated omission). ``late_s`` says how late
each request actually started.
"""

from __future__ import annotations

import os
import platform
import queue
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from .._version import __version__
from . import transports as _transports
from .plan import make_plan
from .rows import COLUMNS, Trial, frame, row
from .transports import Outcome, WorkerState

__all__ = ["COLUMNS", "run"]

#: Longest wait a 429 can impose on a worker.
MAX_BACKOFF_S = 60.0
#: The interpreter's thread switch interval during a run (Python's default is 5 ms).
SWITCH_INTERVAL_S = 0.001


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
    plan = make_plan(
        targets,
        texts,
        voices,
        repeats=repeats,
        transports=transports,
        concurrency=concurrency,
        rate=rate,
        duration=duration,
        warmup=warmup,
        connection=connection,
        timeout=timeout,
        seed=seed,
        api_key=api_key,
        headers=headers,
        max_in_flight=max_in_flight,
    )
    resolved, loop, levels = plan.targets, plan.loop, plan.levels
    recorder = _Recorder(plan.total, progress)
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
    # up to that much. 1 ms rather than less: at 0.2 ms the harness spent half as much CPU
    # again per request at concurrency 16. Python's own setting, restored when the run ends.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(min(switch_interval, SWITCH_INTERVAL_S))
    try:
        for transport, trial in plan.warmups:
            executor.submit(one, transport, levels[0], trial, None, True).result()
        for transport, level, trials in plan.blocks:
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
        "arguments": plan.arguments,
        "loop": loop,
        "wall_s": wall,
        "harness_cpu_s": cpu,
        "harness_cpu_per_request_s": cpu / len(rows) if rows else None,
        "interrupted": interrupted,
    }
    return result
