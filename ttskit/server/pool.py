"""Synthesis slots: the engines of one model, each used by one thread at a time.

Engines are not thread-safe, so the server owns concurrency: a request takes an engine
(a slot) for the whole of its synthesis and gives it back when the worker thread is done
with it. Requests that find every slot taken wait in a bounded queue, in order; one that
finds the queue full too is refused at once (``PoolFull``, answered 429) rather than left
to time out, and one that waits longer than its deadline gives up (``QueueTimeout``,
answered 503 with ``Retry-After``). The pool knows until when each slot may be held
(``ttskit.server.limits``), so that ``Retry-After`` says when a slot will be free at the
latest.

Every method runs on the event loop, so plain attributes need no lock.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Sequence

from ..engines import Engine
from ..errors import InvalidArgument

__all__ = ["PoolFull", "QueueTimeout", "SlotPool"]


class PoolFull(Exception):
    """Every slot is busy and the wait queue is full."""


class QueueTimeout(Exception):
    """A request waited for a slot longer than its deadline.

    ``retry_after`` is the number of seconds until a slot is free at the latest.
    """

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SlotPool:
    """The engines of one model, handed out one request at a time.

    Parameters
    ----------
    engines : sequence of Engine
        One per slot; at least one.
    queue_size : int
        How many requests may wait for a slot before more are refused.
    hold_seconds : float, optional
        How long a request may hold a slot (its synthesis deadline); only used to say
        when a slot will be free.
    clock : callable
        Seconds, monotonic; injectable for tests.

    Examples
    --------
    >>> pool = SlotPool([engine], queue_size=4)  # doctest: +SKIP
    >>> engine = await pool.acquire()  # doctest: +SKIP
    >>> pool.release(engine)  # doctest: +SKIP
    """

    def __init__(
        self,
        engines: Sequence[Engine],
        *,
        queue_size: int,
        hold_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not engines:
            raise InvalidArgument("a pool needs at least one engine")
        if queue_size < 0:
            raise InvalidArgument(f"queue_size must be >= 0, got {queue_size!r}")
        self.engines: tuple[Engine, ...] = tuple(engines)
        self.queue_size = queue_size
        self._free: list[Engine] = list(engines)
        self._waiters: deque[asyncio.Future[Engine]] = deque()
        self.hold_seconds = hold_seconds
        self._clock = clock
        self._taken_at: dict[int, float] = {}

    @property
    def size(self) -> int:
        """Number of slots."""
        return len(self.engines)

    @property
    def busy(self) -> int:
        """Slots in use."""
        return len(self.engines) - len(self._free)

    @property
    def queued(self) -> int:
        """Requests waiting for a slot."""
        return len(self._waiters)

    @property
    def capacity(self) -> int:
        """Requests the pool takes at once: slots plus queue."""
        return self.size + self.queue_size

    @property
    def remaining(self) -> int:
        """Requests it would still take now."""
        return max(0, self.capacity - self.busy - self.queued)

    def retry_after(self) -> float:
        """Seconds until a slot is free at the latest (1 when nothing says otherwise)."""
        if self.hold_seconds is None or not self._taken_at:
            return 1.0
        first_free = min(self._taken_at.values()) + self.hold_seconds
        return max(1.0, math.ceil(first_free - self._clock()))

    async def acquire(self, timeout: float | None = None) -> Engine:
        """Take a free engine, waiting in the queue for one if need be.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait in the queue at most.

        Raises
        ------
        PoolFull
            When every slot is busy and the queue is full.
        QueueTimeout
            When no slot came free within ``timeout``.
        """
        if self._free and not self._waiters:
            return self._take(self._free.pop())
        if len(self._waiters) >= self.queue_size:
            raise PoolFull(f"all {self.size} slots busy and {self.queue_size} requests queued")
        waiter: asyncio.Future[Engine] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return self._take(await waiter)
        except (asyncio.CancelledError, TimeoutError) as exc:
            if waiter.done() and not waiter.cancelled():
                # The engine was handed over just as the waiter gave up: pass it on.
                self.release(waiter.result())
            else:
                self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise QueueTimeout(
                    f"no synthesis slot came free within {timeout} s "
                    f"({self.size} slots, {self.queued} requests queued)",
                    retry_after=self.retry_after(),
                ) from None
            raise

    def _take(self, engine: Engine) -> Engine:
        self._taken_at[id(engine)] = self._clock()
        return engine

    def release(self, engine: Engine) -> None:
        """Give ``engine`` back: to the first waiter, or to the free list."""
        self._taken_at.pop(id(engine), None)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(engine)
                return
        self._free.append(engine)
