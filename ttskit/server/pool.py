"""Synthesis slots: the engines of one model, each used by one thread at a time.

Engines are not thread-safe, so the server owns concurrency: a request takes an engine
(a slot) for the whole of its synthesis and gives it back when the worker thread is done
with it. Requests that find every slot taken wait in a bounded queue, in order; one that
finds the queue full too is refused at once (``PoolFull``, answered 429) rather than left
to time out, and one that waits longer than its deadline gives up (``QueueTimeout``,
answered 503 with ``Retry-After``). The pool knows until when each slot may be held
(``ttskit.server.limits``), so that ``Retry-After`` says when a slot will be free at the
latest.

Each request comes from a client (its peer address, ``ttskit.server.connections``), and a
client may hold at most its share of the slots and of the queue (``client_share``): one
client's slow readers then leave the rest to others, and a request beyond its client's
share is refused (``PoolFull``) while other clients are served. A slot that comes free
goes to the first waiter whose client is below its share of slots.

Every method runs on the event loop, so plain attributes need no lock.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..engines import Engine
from ..errors import InvalidArgument

__all__ = ["NO_SHARE", "PoolFull", "QueueTimeout", "SlotPool", "check_client_share"]

#: the ``client_share`` that lets one client hold every slot and the whole queue
NO_SHARE = 1.0


class PoolFull(Exception):
    """Every slot is busy and the wait queue is full, or the client has its share of both.

    ``over_share`` says which: True when other clients could still be served.
    """

    def __init__(self, message: str, *, over_share: bool = False) -> None:
        super().__init__(message)
        self.over_share = over_share


class QueueTimeout(Exception):
    """A request waited for a slot longer than its deadline.

    ``retry_after`` is the number of seconds until a slot is free at the latest.
    """

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def check_client_share(share: float) -> float:
    """``share`` as a fraction of slots and queue one client may hold, in (0, 1].

    Raises
    ------
    InvalidArgument
        For anything but a number in (0, 1].
    """
    if (
        isinstance(share, bool)
        or not isinstance(share, int | float)
        or not math.isfinite(share)
        or not 0 < share <= 1
    ):
        raise InvalidArgument(
            f"client_share must be a fraction in (0, 1] of the slots and queue one client "
            f"may hold (1 for no bound), got {share!r}"
        )
    return float(share)


@dataclass(eq=False)
class _Waiter:
    future: asyncio.Future[Engine]
    client: str


class SlotPool:
    """The engines of one model, handed out one request at a time.

    Parameters
    ----------
    engines : sequence of Engine
        One per slot; at least one.
    queue_size : int
        How many requests may wait for a slot before more are refused.
    client_share : float
        The fraction of the slots and of the queue one client may hold: at most
        ``max(1, floor(client_share * slots))`` slots and ``max(1, floor(client_share *
        queue_size))`` places in the queue (none when the queue has none). 1 is no bound.
    hold_seconds : float, optional
        How long a request may hold a slot (its synthesis deadline); only used to say
        when a slot will be free.
    clock : callable
        Seconds, monotonic; injectable for tests.

    Examples
    --------
    >>> pool = SlotPool([engine], queue_size=4)  # doctest: +SKIP
    >>> engine = await pool.acquire(client="127.0.0.1")  # doctest: +SKIP
    >>> pool.release(engine)  # doctest: +SKIP
    """

    def __init__(
        self,
        engines: Sequence[Engine],
        *,
        queue_size: int,
        client_share: float = NO_SHARE,
        hold_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not engines:
            raise InvalidArgument("a pool needs at least one engine")
        if queue_size < 0:
            raise InvalidArgument(f"queue_size must be >= 0, got {queue_size!r}")
        self.engines: tuple[Engine, ...] = tuple(engines)
        self.queue_size = queue_size
        self.client_share = check_client_share(client_share)
        self._free: list[Engine] = list(engines)
        self._waiters: deque[_Waiter] = deque()
        self.hold_seconds = hold_seconds
        self._clock = clock
        self._taken_at: dict[int, float] = {}
        self._holder: dict[int, str] = {}  # id(engine) -> the client holding it
        self._held: Counter[str] = Counter()  # client -> slots held
        self._queued: Counter[str] = Counter()  # client -> requests waiting

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

    @property
    def client_slots(self) -> int:
        """Slots one client may hold at once."""
        return max(1, math.floor(self.client_share * self.size + 1e-9))

    @property
    def client_queue(self) -> int:
        """Places in the queue one client may hold at once."""
        if not self.queue_size:
            return 0
        return max(1, math.floor(self.client_share * self.queue_size + 1e-9))

    def client_capacity(self) -> int:
        """Requests the pool takes at once from one client."""
        return self.client_slots + self.client_queue

    def remaining_for(self, client: str) -> int:
        """Requests it would still take now from ``client``."""
        own = self.client_slots - self._held[client] + self.client_queue - self._queued[client]
        return max(0, min(self.remaining, own))

    def retry_after(self) -> float:
        """Seconds until a slot is free at the latest (1 when nothing says otherwise)."""
        if self.hold_seconds is None or not self._taken_at:
            return 1.0
        first_free = min(self._taken_at.values()) + self.hold_seconds
        return max(1.0, math.ceil(first_free - self._clock()))

    async def acquire(self, timeout: float | None = None, *, client: str = "") -> Engine:
        """Take a free engine for ``client``, waiting in the queue for one if need be.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait in the queue at most.
        client : str
            Who asks (a peer address); its requests count against its share.

        Raises
        ------
        PoolFull
            When every slot is busy and the queue is full, or when ``client`` holds its
            share of the slots and of the queue.
        QueueTimeout
            When no slot came free within ``timeout``.
        """
        if self._free and self._held[client] < self.client_slots:
            return self._take(self._free.pop(), client)
        queue_full = len(self._waiters) >= self.queue_size
        own_queue_full = self._queued[client] >= self.client_queue
        # Beyond its share while others could still be served: a slot free for them, or
        # places left in the queue.
        if self.client_share < NO_SHARE and (self._free if queue_full else own_queue_full):
            raise PoolFull(
                f"this client holds its share of the server: {self._held[client]} of "
                f"{self.size} slots and {self._queued[client]} of {self.queue_size} places "
                "in the queue",
                over_share=True,
            )
        if queue_full or own_queue_full:
            raise PoolFull(f"all {self.size} slots busy and {self.queued} requests queued")
        waiter = _Waiter(asyncio.get_running_loop().create_future(), client)
        self._waiters.append(waiter)
        self._queued[client] += 1
        try:
            async with asyncio.timeout(timeout):
                return await waiter.future
        except (asyncio.CancelledError, TimeoutError) as exc:
            if waiter.future.done() and not waiter.future.cancelled():
                # The engine was handed over just as the waiter gave up: pass it on.
                self.release(waiter.future.result())
            else:
                self._waiters.remove(waiter)
                self._forget_waiter(client)
            if isinstance(exc, TimeoutError):
                raise QueueTimeout(
                    f"no synthesis slot came free within {timeout} s "
                    f"({self.size} slots, {self.queued} requests queued)",
                    retry_after=self.retry_after(),
                ) from None
            raise

    def _take(self, engine: Engine, client: str) -> Engine:
        self._taken_at[id(engine)] = self._clock()
        self._holder[id(engine)] = client
        self._held[client] += 1
        return engine

    def _forget_waiter(self, client: str) -> None:
        self._queued[client] -= 1
        if not self._queued[client]:
            del self._queued[client]

    def release(self, engine: Engine) -> None:
        """Give ``engine`` back: to the first waiter whose client is below its share of
        slots, or to the free list."""
        self._taken_at.pop(id(engine), None)
        client = self._holder.pop(id(engine), None)
        if client is not None:
            self._held[client] -= 1
            if not self._held[client]:
                del self._held[client]
        for waiter in self._waiters:
            if waiter.future.done() or self._held[waiter.client] >= self.client_slots:
                continue
            self._waiters.remove(waiter)
            self._forget_waiter(waiter.client)
            waiter.future.set_result(self._take(engine, waiter.client))
            return
        self._free.append(engine)
