"""Running the shards of a plan on other processes or on Dask workers.

Each worker (a process of this machine, or a Dask worker anywhere) holds a ``Host``: the
run's executor (``aio.AsyncLoop`` or ``execute.Threads``) with its connections, kept from
the warm-ups to the last block. The coordinator first measures each worker's clock against
its own, as NTP does: it reads its clock, asks the worker for a reading, reads its clock
again, and keeps the round trip that came back fastest; the offset is the worker's reading
minus the middle of that round trip, and half the round trip bounds its error. Then, block
by block, it gives every worker the same start time (in the worker's own clock: the
coordinator's plus the offset), waits for all of them, and goes on to the next block. Every
row is in the coordinator's clock and records the offset and its uncertainty.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..errors import InvalidArgument
from .execute import Recorder, Settings, Timed, executor, switch_interval
from .plan import Shard

__all__ = ["Host", "Workers", "dask_workers", "measure_offset", "process_workers"]

#: Round trips per worker when its clock offset is measured.
CLOCK_ROUNDS = 16
#: How far ahead of now a block's start is set, so that every worker has it in time.
LEAD_S = {"process": 0.05, "dask": 0.25}


def measure_offset(
    ask: Callable[[], float], clock: Callable[[], float], rounds: int = CLOCK_ROUNDS
) -> tuple[float, float]:
    """A remote clock's offset to ``clock`` and its uncertainty, from ``rounds`` round trips.

    ``ask()`` returns a reading of the remote clock. The offset is that reading minus the
    middle of the fastest round trip; half that round trip bounds its error (the reading
    was taken somewhere within it).

    Examples
    --------
    >>> now = [0.0]
    >>> def clock():
    ...     now[0] += 0.001
    ...     return now[0]
    >>> measure_offset(lambda: clock() + 5.0, clock, rounds=3)
    (5.0, 0.001)
    """
    best: tuple[float, float] | None = None
    for _ in range(rounds):
        sent = clock()
        reading = ask()
        back = clock()
        trip = back - sent
        if best is None or trip < best[0]:
            best = (trip, reading - (sent + back) / 2)
    if best is None:
        raise InvalidArgument(f"rounds={rounds!r} must be 1 or more")
    return round(best[1], 12), round(best[0] / 2, 12)


class Host:
    """What a worker keeps for one run: its executor, its recorder and its stop signal."""

    def __init__(self, stop: Any = None) -> None:
        self.stop = stop if stop is not None else threading.Event()
        self.threads: Any = None  # execute.Threads or aio.AsyncLoop
        self.recorder: Recorder | None = None

    def clock(self, clock: Callable[[], float]) -> float:
        return clock()

    def start(self, settings: Settings, origin: float, workers: int) -> None:
        self.threads = executor(settings, workers, self.stop)
        self.recorder = Recorder(settings, origin)
        self.switch = switch_interval()
        self.switch.__enter__()

    def warm(self, warmups: list, level: float) -> int:
        return self._timed(lambda: self.threads.warm(self.recorder, warmups, level))

    def block(self, block: tuple, start_at: float) -> int:
        transport, level, workers, trials = block
        return self._timed(
            lambda: self.threads.block(self.recorder, transport, level, workers, trials, start_at)
        )

    def _timed(self, work: Callable[[], None]) -> int:
        before = len(self.recorder.timed.rows)
        cpu0 = time.thread_time()
        try:
            work()
        finally:
            self.recorder.timed.cpu_s += time.thread_time() - cpu0
        return len(self.recorder.timed.rows) - before

    def close(self) -> Timed:
        self.switch.__exit__()
        self.threads.close()
        self.recorder.flush()
        return self.recorder.timed


# --- processes of this machine ------------------------------------------------------------------


def _serve(connection: Any, stop: Any) -> None:
    """A worker process: answers the coordinator's calls on ``connection`` until closed."""
    # Ctrl-C reaches the whole process group: the coordinator alone handles it, and tells
    # the workers through ``stop``.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    host = Host(stop)
    while True:
        method, args = connection.recv()
        try:
            answer = getattr(host, method)(*args)
        except BaseException as exc:  # sent back and raised in the coordinator
            answer = exc
        connection.send(answer)
        if method == "close":
            return


class _Process:
    def __init__(self, index: int, context: Any, stop: Any) -> None:
        self.name = f"process-{index}"
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, stop), daemon=True)
        self.process.start()
        self.pending = False

    def send(self, method: str, *args: Any) -> None:
        self.connection.send((method, args))
        self.pending = True

    def result(self) -> Any:
        answer = self.connection.recv()
        self.pending = False
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def finish(self) -> None:
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()


# --- Dask workers -------------------------------------------------------------------------------

# Keyed by run and worker: the workers of a cluster made with processes=False share one.
_DASK_HOSTS: dict[tuple[str, str], Host] = {}
_DASK_LOCK = threading.Lock()


def _dask_call(run_id: str, address: str, method: str, args: tuple) -> Any:
    """On a Dask worker: the call of ``method`` on this worker's host of run ``run_id``."""
    with _DASK_LOCK:
        host = _DASK_HOSTS.setdefault((run_id, address), Host())
    try:
        return getattr(host, method)(*args)
    finally:
        if method == "close":
            with _DASK_LOCK:
                _DASK_HOSTS.pop((run_id, address), None)


class _DaskWorker:
    def __init__(self, client: Any, address: str, run_id: str) -> None:
        self.name, self.client, self.address, self.run_id = address, client, address, run_id
        self.future: Any = None
        self.pending = False

    def send(self, method: str, *args: Any) -> None:
        self.pending = True
        self.future = self.client.submit(
            _dask_call,
            self.run_id,
            self.address,
            method,
            args,
            workers=[self.address],
            allow_other_workers=False,
            pure=False,
        )

    def result(self) -> Any:
        answer = self.future.result()
        self.pending = False
        return answer

    def finish(self) -> None:
        self.future = None


# --- the coordinator ----------------------------------------------------------------------------


class Workers:
    """The workers of a run, as the coordinator sees them.

    Attributes
    ----------
    kind : {"process", "dask"}
    names : list of str
    offsets : dict
        Per worker name, ``(offset_s, uncertainty_s)`` of its clock to the coordinator's.
    """

    def __init__(self, kind: str, remotes: list, stop: Any) -> None:
        self.kind, self.remotes, self.stop = kind, remotes, stop
        self.names = [r.name for r in remotes]
        self.offsets: dict[str, tuple[float, float]] = {}

    def _all(self, method: str, per_worker: Callable[[int, Any], tuple]) -> list:
        for i, remote in enumerate(self.remotes):
            remote.send(method, *per_worker(i, remote))
        return [remote.result() for remote in self.remotes]

    def measure_clocks(self, clock: Callable[[], float]) -> None:
        for remote in self.remotes:

            def ask(remote: Any = remote) -> float:
                remote.send("clock", clock)
                return remote.result()

            self.offsets[remote.name] = measure_offset(ask, clock)

    def run(
        self,
        shards: list[Shard],
        settings: Settings,
        origin: float,
        *,
        on_rows: Callable[[int], None],
    ) -> tuple[list[Timed], bool]:
        """Send every shard (shard i on worker i) and collect what each sent.

        Returns the workers' rows and whether Ctrl-C cut the run short (the rows that
        arrived are kept).
        """
        clock = settings.clock
        interrupted = False

        def on_worker(i: int) -> tuple[Settings, float]:
            offset, uncertainty = self.offsets[self.names[i]]
            measurement = replace(
                settings.measurement,
                worker=self.names[i],
                clock_offset_s=offset,
                clock_uncertainty_s=uncertainty,
            )
            return replace(settings, measurement=measurement), offset

        def start(i: int, _: Any) -> tuple:
            mine, offset = on_worker(i)
            most = max([workers for _, _, workers, _ in shards[i].blocks] or [1])
            return mine, origin + offset, most

        try:
            self._all("start", start)
            level = shards[0].blocks[0][1] if shards[0].blocks else 1
            on_rows(sum(self._all("warm", lambda i, _: (shards[i].warmups, level))))
            for k in range(len(shards[0].blocks)):
                if self.stop is not None and self.stop.is_set():
                    break
                start_at = clock() + LEAD_S[self.kind]
                counts = self._all(
                    "block",
                    lambda i, _, k=k, at=start_at: (
                        shards[i].blocks[k],
                        at + self.offsets[self.names[i]][0],
                    ),
                )
                on_rows(sum(counts))
        except KeyboardInterrupt:
            interrupted = True
            if self.stop is not None:
                self.stop.set()
            for remote in self.remotes:  # the block under way ends soon after the stop
                if remote.pending:  # its rows stay on the worker, for "close", if this fails
                    with contextlib.suppress(Exception):
                        remote.result()
        timed = self._all("close", lambda i, _: ())
        for remote in self.remotes:
            remote.finish()
        return timed, interrupted


def process_workers(n: int) -> Workers:
    """``n`` fresh worker processes of this machine (spawned, so that no thread or socket
    of this one is copied into them)."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    return Workers("process", [_Process(i, context, stop) for i in range(n)], stop)


_RUNS = itertools.count()


def dask_workers(client: Any) -> Workers:
    """Every worker of a ``distributed.Client``'s cluster, one shard each."""
    addresses = sorted(client.scheduler_info()["workers"])
    if not addresses:
        from ..errors import InvalidArgument

        raise InvalidArgument("the Dask cluster has no workers")
    run_id = f"{os.getpid()}-{next(_RUNS)}-{time.time_ns()}"
    return Workers("dask", [_DaskWorker(client, a, run_id) for a in addresses], None)
