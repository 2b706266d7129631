"""Running a latency experiment: plan, execute, record.

``run`` makes the plan (``plan.make_plan``: every argument checked, every request laid
out, the open loop's arrival times drawn, all before a request is sent), executes it
(``execute.Threads`` or ``aio.AsyncLoop`` in this process, or its shards on worker
processes or Dask workers, ``shards``), records one row per request (``rows.row``), merged
in the plan's order, and with ``quality=`` scores their speech afterwards (``scores``).

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
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from .._version import __version__
from ..errors import InvalidArgument
from .execute import (
    DEFAULT_HARNESS,
    HARNESSES,
    MAX_BACKOFF_S,
    SWITCH_INTERVAL_S,
    Recorder,
    Settings,
    Timed,
    executor,
)
from .execute import switch_interval as _switch_interval
from .plan import Plan, make_plan, split
from .rows import COLUMNS, DEFAULT_PREBUFFER_S, Measurement, frame, prebuffer_columns
from .scores import add_scores, quality_metrics

__all__ = ["COLUMNS", "MAX_BACKOFF_S", "SWITCH_INTERVAL_S", "default_processes", "run"]

#: What one process is asked to carry at most when ``processes`` is left to the run:
#: requests in flight (closed loop), or arrivals per second (open loop).
PER_PROCESS = {"closed": 32, "open": 200.0}
#: A worker whose clock offset is uncertain beyond this (seconds) is named in the result.
CLOCK_BOUND_S = 0.001


def default_processes(plan: Plan, cpus: int | None = None) -> int:
    """Processes enough for the load a plan asks: its highest concurrency over 32, or its
    highest rate over 200 per second, rounded up, and no more than the machine's cores.

    Examples
    --------
    >>> from types import SimpleNamespace as Plan
    >>> default_processes(Plan(loop="closed", levels=[1, 16, 64]), cpus=8)
    2
    >>> default_processes(Plan(loop="open", levels=[1000.0]), cpus=2)
    2
    """
    needed = math.ceil(max(plan.levels) / PER_PROCESS[plan.loop])
    return max(1, min(needed, cpus or os.cpu_count() or 1))


def _prebuffers(prebuffer_s: float | Sequence[float]) -> tuple[float, ...]:
    values = [prebuffer_s] if isinstance(prebuffer_s, int | float) else list(prebuffer_s)
    if not values or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
        for v in values
    ):
        raise InvalidArgument(f"prebuffer_s must be seconds >= 0 (or a list), got {prebuffer_s!r}")
    if len({round(v * 1000) for v in values}) != len(values):
        raise InvalidArgument(f"prebuffer_s repeats a value to the millisecond: {prebuffer_s!r}")
    return tuple(float(v) for v in values)


def _check_interrupt(interrupt_after_s: float | None, transports: Sequence[str]) -> None:
    if interrupt_after_s is None:
        return
    if not (
        isinstance(interrupt_after_s, int | float)
        and not isinstance(interrupt_after_s, bool)
        and math.isfinite(interrupt_after_s)
        and interrupt_after_s >= 0
    ):
        raise InvalidArgument(f"interrupt_after_s must be seconds >= 0, got {interrupt_after_s!r}")
    names = [transports] if isinstance(transports, str) else list(transports)
    other = [t for t in names if not t.startswith("ws")]
    if other:
        raise InvalidArgument(
            f"interrupt_after_s cancels WebSocket utterances; transport {other[0]!r} has none"
        )


def _in_process(
    plan: Plan, settings: Settings, origin: float, workers: int, progress_bar: Any
) -> tuple[Timed, bool]:
    """Execute the whole plan on threads of this process."""
    stop = threading.Event()
    recorder = Recorder(settings, origin, on_row=lambda _: progress_bar.update(1))
    threads = executor(settings, workers, stop)
    dispatcher_cpu0 = time.thread_time()
    interrupted = False
    try:
        with _switch_interval():
            threads.warm(recorder, plan.warmups, plan.levels[0])
            for transport, level, trials in plan.blocks:
                # Closed loop: the level's workers; open loop: at most max_in_flight at once.
                in_flight = int(level) if plan.loop == "closed" else workers
                threads.block(recorder, transport, level, in_flight, trials)
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
    finally:
        threads.close(wait=not interrupted)
        recorder.flush()
    recorder.timed.cpu_s += time.thread_time() - dispatcher_cpu0
    return recorder.timed, interrupted


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
    processes: int | None = None,
    executor: Any = None,
    prebuffer_s: float | Sequence[float] = DEFAULT_PREBUFFER_S,
    interrupt_after_s: float | None = None,
    clock_bound_s: float = CLOCK_BOUND_S,
    quality: bool | Sequence[str] = False,
    harness: str = DEFAULT_HARNESS,
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
    transports : sequence of {"rest", "sse", "chunked", "openai-sse", "ws", "ws-keep"}
        ``chunked`` is OpenAI's ``stream_format: "audio"`` and ``openai-sse`` its
        ``stream_format: "sse"``; ``ws`` opens a WebSocket per
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
        ``time.perf_counter`` and ``time.sleep`` unless a test injects others; with more
        than one process they must pickle.
    processes : int, optional
        Worker processes the plan is sharded across (:func:`default_processes` when None:
        one per 32 requests in flight or 200 arrivals per second, up to the cores). With
        1, the run's threads are in this process. The schedule is made once, here, before
        any request; each process sends its share at the times of that schedule.
    executor : distributed.Client, optional
        Run one shard on each of the cluster's Dask workers instead of processes here.
        Each worker's clock offset to this one is measured first and recorded per row
        (``clock_offset_s``, ``clock_uncertainty_s``, ``worker``).
    prebuffer_s : float or list of float
        The player prebuffer of the continuity columns (``underrun_count``,
        ``underrun_total_s``, ``underrun_max_s``); each further one adds the same columns
        suffixed ``_<ms>ms``.
    interrupt_after_s : float, optional
        WebSocket transports only: cancel each utterance (``context.cancel``) this long
        after its first audio, and record ``stop_latency_s`` (the cancel to the last audio
        received) and ``audio_after_cancel_s``. Both harnesses measure it.
    clock_bound_s : float
        A worker whose clock offset is uncertain beyond this is named in
        ``df.attrs["bench"]["uncertain_clocks"]``.
    quality : bool or list of {"wer", "mos", "vad", "timestamps"}
        Score every successful request (``ttskit.quality``; all metrics for True) after
        the last one is timed, in other processes, and add the quality columns (``wer``,
        ``cer``, ``transcript``, ``mos_*``, ``speech_onset_s``, ...) to its row. The audio
        of each successful request is kept until then (only when asked: it is memory).
        Needs the ``quality`` extra; ``df.attrs["bench"]["quality"]`` says what scored.
    harness : {"asyncio", "threads"}
        How each process sends its share: ``"asyncio"`` (the default), one event loop on
        ``ttskit.AsyncClient`` (aiohttp, websockets' asyncio client), which spends less CPU
        per request and adds less to each latency; ``"threads"``, a thread per request in
        flight on ``ttskit.Client`` (requests, websockets' sync client).
        ``df.attrs["bench"]["arguments"]["harness"]`` records the harness used.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS` (then those of further prebuffers, then the quality
        columns of a run with ``quality``), in the order the plan
        scheduled the requests; ``df.attrs["bench"]`` holds the run's metadata (versions,
        arguments, machine, date, workers and their clock offsets, the harness's CPU
        seconds per request). After Ctrl-C the rows so far, with
        ``df.attrs["bench"]["interrupted"]`` True.

    Raises
    ------
    ttskit.errors.InvalidArgument
        For bad arguments, before any request is sent.
    """
    prebuffers = _prebuffers(prebuffer_s)
    metrics = quality_metrics(quality)
    if harness not in HARNESSES:
        raise InvalidArgument(f"harness must be one of {HARNESSES}, got {harness!r}")
    _check_interrupt(interrupt_after_s, transports)
    if executor is not None and processes is not None:
        raise InvalidArgument("give processes= or executor=, not both")
    if not (isinstance(clock_bound_s, int | float) and clock_bound_s >= 0):
        raise InvalidArgument(f"clock_bound_s must be seconds >= 0, got {clock_bound_s!r}")
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
    if processes is None and executor is None:
        processes = default_processes(plan)
    settings = Settings(
        targets=plan.targets,
        loop=plan.loop,
        connection=connection,
        timeout=timeout,
        measurement=Measurement(prebuffers=prebuffers, interrupt_after_s=interrupt_after_s),
        clock=clock,
        sleep=sleep,
        keep_audio=metrics is not None,
        harness=harness,
    )
    from tqdm.auto import tqdm

    bar = tqdm(total=plan.total, disable=not progress, unit="req", desc="ttskit bench")
    origin = clock()
    workers_seen: dict[str, dict[str, float]] = {}
    try:
        if executor is None and processes == 1:
            workers = max(max(plan.levels) if plan.loop == "closed" else max_in_flight, 1)
            timed, interrupted = _in_process(plan, settings, origin, workers, bar)
            parts = [timed]
        else:
            from .shards import dask_workers, process_workers

            pool = dask_workers(executor) if executor is not None else process_workers(processes)
            dispatcher_cpu0 = time.thread_time()
            pool.measure_clocks(clock)
            workers_seen = {
                name: {"clock_offset_s": o, "clock_uncertainty_s": u}
                for name, (o, u) in pool.offsets.items()
            }
            shards = split(plan, len(pool.names), max_in_flight)
            parts, interrupted = pool.run(shards, settings, origin, on_rows=bar.update)
            parts.append(Timed(cpu_s=time.thread_time() - dispatcher_cpu0))
    finally:
        bar.close()
    if interrupted:
        warnings.warn(
            "interrupted: returning the rows measured so far", RuntimeWarning, stacklevel=2
        )
    wall = clock() - origin
    rows = [r for part in parts for r in part.rows]
    servers = set().union(*(part.servers for part in parts))
    # The harness's own CPU: its threads' only, not an embedded server's in this process.
    cpu = sum(part.cpu_s for part in parts)
    extra = prebuffer_columns(prebuffers)
    result = frame(rows, [*extra, "speech"] if metrics is not None else extra)
    uncertain = sorted(
        name for name, w in workers_seen.items() if w["clock_uncertainty_s"] > clock_bound_s
    )
    result.attrs["bench"] = {
        "ttskit_version": __version__,
        "server_versions": sorted(servers),
        "endpoints": sorted({t.base_url for t in plan.targets}),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "node": platform.node(),
        },
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "arguments": {
            **plan.arguments,
            "processes": processes,
            "executor": None if executor is None else type(executor).__name__,
            "prebuffer_s": list(prebuffers),
            "interrupt_after_s": interrupt_after_s,
            "quality": None if metrics is None else list(metrics),
            "harness": harness,
        },
        "loop": plan.loop,
        "workers": workers_seen or {"main": {"clock_offset_s": 0.0, "clock_uncertainty_s": 0.0}},
        "clock_bound_s": clock_bound_s,
        "uncertain_clocks": uncertain,
        "wall_s": wall,
        "harness_cpu_s": cpu,
        "harness_cpu_per_request_s": cpu / len(rows) if rows else None,
        "interrupted": interrupted,
    }
    if metrics is not None and interrupted:
        result = result.drop(columns="speech")
        result.attrs["bench"]["quality"] = {"error": "interrupted before scoring"}
    elif metrics is not None:
        # After every request was timed, and in other processes: scoring touches no latency.
        result = add_scores(result, metrics, processes=processes or 1, progress=progress)
    if uncertain:
        warnings.warn(
            f"clock offsets uncertain beyond {clock_bound_s * 1000:g} ms on {uncertain}: "
            "their latencies are right, their scheduled starts less so",
            RuntimeWarning,
            stacklevel=2,
        )
    return result
