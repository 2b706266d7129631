"""Sending a shard of a plan on threads, in one process, and recording one row per request.

``Threads`` is the executor of one process: a pool of worker threads, each with its own
connections (kept between blocks, closed with the executor). ``block`` sends one block of
a shard: closed loop, ``workers`` threads send back to back from one queue; open loop, a
dispatcher submits each arrival at its scheduled time, and its latency counts from that
time. ``aio.AsyncLoop`` is the other executor, one asyncio event loop on
``ttskit.AsyncClient``; ``executor`` picks one by ``Settings.harness``. ``Recorder`` is the
record step: it turns each outcome into its row (``rows.row``) and keeps them, with the
harness's CPU and the servers seen.

Times cross processes as readings of the coordinator's clock: a worker whose clock is
``offset`` ahead reads ``start_at + offset`` as the coordinator's ``start_at``.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import transports as _transports
from .outcome import Outcome
from .rows import Measurement, Trial, row
from .transports import Target, WorkerState

__all__ = [
    "DEFAULT_HARNESS",
    "HARNESSES",
    "MAX_BACKOFF_S",
    "SWITCH_INTERVAL_S",
    "Recorder",
    "Settings",
    "Threads",
    "Timed",
    "executor",
]

#: Longest wait a 429 can impose on a worker.
MAX_BACKOFF_S = 60.0
#: The interpreter's thread switch interval during a run (Python's default is 5 ms).
SWITCH_INTERVAL_S = 0.001


class Stop(Protocol):
    def is_set(self) -> bool: ...


#: The executors a process can send its shard with.
HARNESSES = ("threads", "asyncio")
#: The harness of ``bench.run`` and ``ttskit bench`` when none is named.
DEFAULT_HARNESS = "asyncio"


def backoff_after(outcome: Outcome) -> float | None:
    """Seconds a worker waits after ``outcome`` before its next request: a 429's
    ``Retry-After`` (1 s when it says none), at most :data:`MAX_BACKOFF_S`."""
    if outcome.status == 429:
        return min(outcome.retry_after_s or 1.0, MAX_BACKOFF_S)
    return None


@dataclass(frozen=True)
class Settings:
    """What every worker of a run needs besides its trials; pickles when its clock and
    sleep do (``time.perf_counter`` and ``time.sleep`` do)."""

    targets: list[Target]
    loop: str
    connection: str = "warm"
    timeout: float = 60.0
    measurement: Measurement = Measurement()
    clock: Callable[[], float] = time.perf_counter
    sleep: Callable[[float], None] = time.sleep
    keep_audio: bool = False  # keep each successful request's Speech (to score it after)
    harness: str = DEFAULT_HARNESS  # the executor of each process (see executor)

    def send_options(self, warmup: bool) -> dict[str, Any]:
        """The options of ``transports.send`` (and ``async_send``) every request shares."""
        return {
            "cold": self.connection == "cold",
            "timeout": self.timeout,
            "clock": self.clock,
            "interrupt_after_s": self.measurement.interrupt_after_s,
            "keep_audio": self.keep_audio and not warmup,
        }


@dataclass
class Timed:
    """What a worker sent: its rows, its threads' CPU seconds, the servers it saw."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    cpu_s: float = 0.0
    servers: set[str] = field(default_factory=set)


class Recorder:
    """The record step: one row per outcome.

    A worker thread only hands its outcome over (``add``); the rows are built by
    ``flush``, which the executor calls once a block's requests are all done, so that
    building them never delays the next request of a queue.
    """

    def __init__(self, settings: Settings, origin: float, on_row: Callable | None = None):
        self.settings = settings
        self.origin = origin  # the coordinator's time zero, on this worker's clock
        self.timed = Timed()
        self.lock = threading.Lock()
        self.on_row = on_row
        self.pending: list[tuple] = []

    def add(
        self,
        outcome: Outcome,
        trial: Trial,
        *,
        transport: str,
        level: float,
        scheduled: float | None,
        warmup: bool,
        cpu_s: float,
    ) -> None:
        with self.lock:
            self.pending.append((outcome, trial, transport, level, scheduled, warmup))
            self.timed.cpu_s += cpu_s
        if self.on_row is not None:
            self.on_row(outcome)

    def flush(self) -> list[dict[str, Any]]:
        """Rows of the outcomes handed over since the last flush (which it returns)."""
        settings = self.settings
        with self.lock:
            pending, self.pending = self.pending, []
        made = []
        for outcome, trial, transport, level, scheduled, warmup in pending:
            made.append(
                row(
                    outcome,
                    trial,
                    settings.targets[trial.target],
                    transport=transport,
                    connection=settings.connection,
                    loop=settings.loop,
                    level=level,
                    scheduled=outcome.started if scheduled is None else scheduled,
                    origin=self.origin,
                    warmup=warmup,
                    measurement=settings.measurement,
                )
            )
            if outcome.server:
                self.timed.servers.add(outcome.server)
        self.timed.rows.extend(made)
        return made


class Threads:
    """The executor of one process: worker threads with their own connections."""

    def __init__(self, settings: Settings, workers: int, stop: Stop) -> None:
        self.settings = settings
        self.stop = stop
        self.pool = ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="bench")
        self.local = threading.local()
        self.states: list[WorkerState] = []
        self.lock = threading.Lock()

    # --- one request ------------------------------------------------------------------------

    def one(
        self,
        recorder: Recorder,
        transport: str,
        level: float,
        trial: Trial,
        scheduled: float | None,
        warmup: bool,
    ) -> float | None:
        """Send ``trial`` and record it; the backoff a 429 asks for, if any."""
        cpu0 = time.thread_time()
        settings = self.settings
        state = getattr(self.local, "state", None)
        if state is None:
            state = self.local.state = WorkerState()
            with self.lock:
                self.states.append(state)
        target = settings.targets[trial.target]
        try:
            outcome = _transports.send(
                state,
                target,
                trial.target,
                target.model,
                trial.voice,
                trial.text,
                transport,
                **settings.send_options(warmup),
            )
        except Exception as exc:  # a row, not a crash: the run goes on and keeps its rows
            outcome = Outcome(started=settings.clock(), error=exc)
        recorder.add(
            outcome,
            trial,
            transport=transport,
            level=level,
            scheduled=scheduled,
            warmup=warmup,
            cpu_s=time.thread_time() - cpu0,
        )
        return backoff_after(outcome)

    # --- blocks -----------------------------------------------------------------------------

    def warm(self, recorder: Recorder, warmups: list[tuple[str, Trial]], level: float) -> None:
        for transport, trial in warmups:
            if self.stop.is_set():
                return
            self.pool.submit(self.one, recorder, transport, level, trial, None, True).result()
        recorder.flush()

    def _closed_worker(
        self, recorder: Recorder, transport: str, level: float, work: queue.SimpleQueue
    ) -> None:
        while not self.stop.is_set():
            try:
                trial = work.get_nowait()
            except queue.Empty:
                return
            backoff = self.one(recorder, transport, level, trial, None, False)
            if backoff:
                self.settings.sleep(backoff)

    def _until(self, due: float) -> None:
        clock, sleep = self.settings.clock, self.settings.sleep
        while (left := due - clock()) > 0 and not self.stop.is_set():
            sleep(left)

    def block(
        self,
        recorder: Recorder,
        transport: str,
        level: float,
        workers: int,
        trials: list[tuple[float | None, Trial]],
        start_at: float | None = None,
    ) -> None:
        """Send one block: ``trials`` over ``workers`` threads from ``start_at`` (now when
        None), a reading of this worker's clock."""
        if not trials or self.stop.is_set():
            return
        if start_at is not None:
            self._until(start_at)
        if self.settings.loop == "closed":
            work: queue.SimpleQueue = queue.SimpleQueue()
            for _, trial in trials:
                work.put(trial)
            futures = [
                self.pool.submit(self._closed_worker, recorder, transport, level, work)
                for _ in range(workers)
            ]
        else:
            start = self.settings.clock() if start_at is None else start_at
            futures = []
            for at, trial in trials:
                due = start + at
                self._until(due)
                if self.stop.is_set():
                    break
                futures.append(
                    self.pool.submit(self.one, recorder, transport, level, trial, due, False)
                )
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:
                future.result()
        finally:
            recorder.flush()

    def close(self, *, wait: bool = True) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=True)
        for state in self.states:
            state.close()
        self.states.clear()


def executor(settings: Settings, workers: int, stop: Stop) -> Any:
    """The executor ``settings.harness`` names: ``Threads`` (a thread per request in
    flight, on ``ttskit.Client``) or ``aio.AsyncLoop`` (one event loop, on
    ``ttskit.AsyncClient``)."""
    if settings.harness == "asyncio":
        from .aio import AsyncLoop

        return AsyncLoop(settings, workers, stop)
    return Threads(settings, workers, stop)


class switch_interval:
    """The interpreter's switch interval lowered while a run sends, then restored.

    A worker whose answer arrives must get the interpreter back quickly to read the clock:
    at the default 5 ms switch interval, a busy neighbour thread delays its readings by up
    to that much. 1 ms rather than less: at 0.2 ms the harness spent half as much CPU again
    per request at concurrency 16. Runs that overlap in one process (Dask workers in the
    coordinator's) restore Python's setting when the last one ends.
    """

    _lock = threading.Lock()
    _runs = 0
    _before = 0.0

    def __enter__(self) -> None:
        cls = type(self)
        with cls._lock:
            if cls._runs == 0:
                cls._before = sys.getswitchinterval()
                sys.setswitchinterval(min(cls._before, SWITCH_INTERVAL_S))
            cls._runs += 1

    def __exit__(self, *exc: object) -> None:
        cls = type(self)
        with cls._lock:
            cls._runs -= 1
            if cls._runs == 0:
                sys.setswitchinterval(cls._before)
