"""Synthesis slots: the engines of one model, each used by one thread at a time.

Engines are not thread-safe, so the server owns concurrency: a request takes an engine
(a slot) for the whole of its synthesis and gives it back when the worker thread is done
with it. Requests that find every slot taken wait in a bounded queue, in order; one that
finds the queue full too is refused at once (``PoolFull``, answered 429) rather than left
to time out.

Every method runs on the event loop, so plain attributes need no lock.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

from ..engines import Engine

__all__ = ["PoolFull", "SlotPool"]


class PoolFull(Exception):
    """Every slot is busy and the wait queue is full."""


class SlotPool:
    """The engines of one model, handed out one request at a time.

    Parameters
    ----------
    engines : sequence of Engine
        One per slot; at least one.
    queue_size : int
        How many requests may wait for a slot before more are refused.

    Examples
    --------
    >>> pool = SlotPool([engine], queue_size=4)  # doctest: +SKIP
    >>> engine = await pool.acquire()  # doctest: +SKIP
    >>> pool.release(engine)  # doctest: +SKIP
    """

    def __init__(self, engines: Sequence[Engine], *, queue_size: int) -> None:
        if not engines:
            raise ValueError("a pool needs at least one engine")
        if queue_size < 0:
            raise ValueError(f"queue_size must be >= 0, got {queue_size!r}")
        self.engines: tuple[Engine, ...] = tuple(engines)
        self.queue_size = queue_size
        self._free: list[Engine] = list(engines)
        self._waiters: deque[asyncio.Future[Engine]] = deque()

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

    async def acquire(self) -> Engine:
        """Take a free engine, waiting in the queue for one if need be.

        Raises
        ------
        PoolFull
            When every slot is busy and the queue is full.
        """
        if self._free and not self._waiters:
            return self._free.pop()
        if len(self._waiters) >= self.queue_size:
            raise PoolFull(f"all {self.size} slots busy and {self.queue_size} requests queued")
        waiter: asyncio.Future[Engine] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # The engine was handed over just as the waiter gave up: pass it on.
                self.release(waiter.result())
            else:
                self._waiters.remove(waiter)
            raise

    def release(self, engine: Engine) -> None:
        """Give ``engine`` back: to the first waiter, or to the free list."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(engine)
                return
        self._free.append(engine)
