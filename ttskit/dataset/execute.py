"""A run's items on any ``concurrent.futures`` executor: handed out a window at a time,
outcomes collected as they finish, Ctrl-C turned into a clean stop.

``execute`` knows nothing of the folder: each outcome goes to the ``commit`` it is given
(``record.Writer.commit`` in ``generate``). ``process_pool`` makes a pool of processes
that end with this one.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import functools
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .plan import Plan
from .worker import Outcome, make_item

__all__ = ["RELEASE_EVERY", "Stopped", "die_with_parent", "execute", "process_pool"]


class Stopped(Exception):
    """An interrupted run's retry that is not made."""


#: Seconds the run's loop waits for an item before it looks whether Ctrl-C stopped it.
POLL_S = 0.2


@contextlib.contextmanager
def _ctrl_c_sets(stopped: threading.Event) -> Iterator[None]:
    """Ctrl-C sets ``stopped``, which the run's loop reads, instead of raising
    ``KeyboardInterrupt`` wherever the main thread happens to be.

    An exception raised by the signal can land inside ``concurrent.futures``' own locks,
    between a lock's acquire and the ``with`` that releases it; the interpreter's exit
    then waits on that lock for ever. Only the main thread can set a handler, and one a
    host application installed is left alone: then Ctrl-C raises as before.
    """
    in_main = threading.current_thread() is threading.main_thread()
    if not in_main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: stopped.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


#: Items between two returns of freed memory to the OS (see ``_release_memory``).
RELEASE_EVERY = 256


def _malloc_trim() -> Callable[[], Any] | None:
    """glibc's ``malloc_trim``, or None on another C library."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return functools.partial(libc.malloc_trim, 0)
    except (OSError, AttributeError):
        return None


_release_memory = _malloc_trim()


def release_memory() -> None:
    """Hand memory freed by worker threads back to the OS (glibc only; else nothing).

    Each item's audio, answer and file pass through malloc in worker threads; glibc keeps
    what they free in its per-thread arenas and only trims the main one, so a long run's
    resident memory would grow by kilobytes per item without this.
    """
    if _release_memory is not None:
        _release_memory()


#: Seconds between two looks of a worker at whether its parent is still there.
PARENT_POLL_S = 0.5
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """End this process when the process ``parent_pid`` (its parent) ends.

    The initializer of ``process_pool``'s workers: a killed parent never runs the pool's
    shutdown, and workers left waiting for work would run on. On Linux the kernel sends
    SIGKILL when the parent goes (``prctl(PR_SET_PDEATHSIG)``); everywhere a daemon
    thread also exits the process once its parent is gone. A worker only ever hands
    bytes back, so nothing is lost with it.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    # The parent may have gone before the line above took effect.
    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=watch, name="ttskit-parent-watch", daemon=True).start()


def process_pool(workers: int) -> cf.ProcessPoolExecutor:
    """A pool of ``workers`` processes for ``generate(executor=...)`` that end with this
    process, however it ends.

    Workers are spawned, not forked (this process may run threads, such as the embedded
    server's). On Linux a worker's end is tied to the thread that started it, so submit
    to the pool from the thread that lives as long as the pool (``generate`` does).
    """
    return cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )


def execute(
    plans: Iterable[Plan],
    source: Any,
    commit: Callable[[Plan, Outcome], None],
    *,
    executor: cf.Executor | None = None,
    workers: int = 4,
    progress: bool = True,
    describe: Callable[[], str] | None = None,
    total: int | None = None,
) -> bool:
    """Make every planned item with ``make_item`` and hand each outcome to ``commit``.

    Parameters
    ----------
    plans : iterable of Plan
        Read as the window moves: at most ``2 * workers`` items are in flight.
    source : ttskit.Client or ClientSpec
        What ``make_item`` makes requests with (a ``ClientSpec`` for other processes).
    commit : callable
        Called in this thread with each ``(plan, outcome)`` as it finishes; an executor's
        failure (not the item's) is an outcome with its ``error``.
    executor : concurrent.futures.Executor, optional
        Not shut down here; a thread pool of ``workers`` is made (and shut down) when None.
    progress : bool
        Show a ``tqdm`` bar; ``describe()``, if given, is its postfix after each item.
    total : int, optional
        The number of plans, for the bar.

    Returns
    -------
    bool
        Whether the run was interrupted (Ctrl-C): then the items in flight are dropped,
        waits between retries of this process's threads end at once, and what was
        committed stays committed.
    """
    from tqdm.auto import tqdm

    own_executor = executor is None
    pool: cf.Executor = executor or cf.ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix="ttskit-dataset"
    )
    stopped = threading.Event()

    def pause(seconds: float) -> None:
        # A retry's wait ends at once when the run is interrupted, so that the threads of
        # an interrupted run finish their request in flight and stop, and the process
        # can exit (the item is left for the next run).
        if stopped.wait(seconds):
            raise Stopped("the run was interrupted")

    # Threads of this process share the stop; other processes' workers retry on their own.
    options = {"sleep": pause} if own_executor else {}
    bar = tqdm(total=total, unit="item", desc="dataset", disable=not progress, smoothing=0.05)
    queue = iter(plans)
    futures: dict[cf.Future, Plan] = {}
    committed = 0
    try:
        with _ctrl_c_sets(stopped):
            while _fill(
                futures,
                queue,
                2 * workers,
                lambda p: pool.submit(make_item, source, p.job, **options),
            ):
                finished, _ = cf.wait(futures, timeout=POLL_S, return_when=cf.FIRST_COMPLETED)
                if stopped.is_set():  # Ctrl-C, read here
                    break
                for future in finished:
                    plan = futures.pop(future)
                    commit(plan, _outcome(plan, future))
                    committed += 1
                    if committed % RELEASE_EVERY == 0:
                        release_memory()
                    bar.update(1)
                    if describe is not None:
                        bar.set_postfix_str(describe(), refresh=False)
    except KeyboardInterrupt:
        stopped.set()
    finally:
        if stopped.is_set():
            for future in futures:
                future.cancel()
        bar.close()
        if own_executor:
            pool.shutdown(wait=not stopped.is_set(), cancel_futures=True)
        release_memory()
    return stopped.is_set()


def _fill(
    futures: dict[cf.Future, Plan],
    queue: Any,
    window: int,
    submit: Callable[[Plan], cf.Future],
) -> bool:
    """Submit plans from ``queue`` until ``window`` are in flight; whether any are."""
    while len(futures) < window:
        plan = next(queue, None)
        if plan is None:
            break
        futures[submit(plan)] = plan
    return bool(futures)


def _outcome(plan: Plan, future: cf.Future) -> Outcome:
    """The future's outcome, or the executor's failure (not the item's) as one."""
    try:
        return future.result()
    except Exception as exc:
        return Outcome(plan.job.item_id, row={}, error=f"{type(exc).__name__}: {exc}")
