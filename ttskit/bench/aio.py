"""Sending a shard of a plan on one asyncio event loop, on ``ttskit.AsyncClient``.

``AsyncLoop`` is the other executor of one process, beside ``execute.Threads``, with the
same steps (``warm``, ``block``, ``close``) and the same rows: one event loop, one
``AsyncClient`` per target (its kept-alive connections shared by every request), and per
request ``async_transports.async_send``: the client's public API as ``transports`` uses the
sync one (``build_request`` then ``send`` with ``max_retries=0``; ``realtime`` for the
WebSocket). Closed loop: ``workers`` coroutines send back to back from one queue. Open
loop: each arrival becomes a task at its scheduled time and waits for one of ``workers``
slots; its latency counts from that time.

The loop runs on a thread of its own (so that a caller with a loop of its own, a notebook,
can use it too), the only thread that sends: the harness's CPU is that thread's time, and
the interpreter's lock is never passed between request threads.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from typing import Any

from ..client import AsyncClient, SpeechRequest
from .async_transports import Slot, async_send, build_request
from .execute import Recorder, Settings, Stop, backoff_after
from .outcome import Outcome
from .rows import Trial

__all__ = ["AsyncLoop", "new_loop"]


def new_loop() -> asyncio.AbstractEventLoop:
    """An event loop for the harness: uvloop's when it is installed (it reads and writes
    sockets for less CPU than asyncio's own loop), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class AsyncLoop:
    """The executor of one process on one asyncio event loop (see the module)."""

    def __init__(self, settings: Settings, workers: int, stop: Stop) -> None:
        self.settings = settings
        self.stop = stop
        self.loop = new_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="bench-asyncio", daemon=True
        )
        self.thread.start()
        self.clients: dict[int, AsyncClient] = {}
        self.slots: list[Slot] = []
        # The HTTP library loads now, not inside the first request's clock.
        import aiohttp  # noqa: F401

    def _client(self, index: int) -> AsyncClient:
        if index not in self.clients:
            target = self.settings.targets[index]
            self.clients[index] = target.client(
                timeout=self.settings.timeout, clock=self.settings.clock, asynchronous=True
            )
        return self.clients[index]

    def _slot(self) -> Slot:
        slot = Slot()
        self.slots.append(slot)
        return slot

    async def _sleep(self, seconds: float) -> None:
        sleep = self.settings.sleep
        if sleep is time.sleep:
            await asyncio.sleep(seconds)
        else:  # an injected sleep (a test's clock)
            sleep(seconds)
            await asyncio.sleep(0)

    async def _until(self, due: float) -> None:
        clock = self.settings.clock
        while (left := due - clock()) > 0 and not self.stop.is_set():
            await self._sleep(left)

    async def _one(
        self,
        slot: Slot,
        recorder: Recorder,
        transport: str,
        level: float,
        trial: Trial,
        scheduled: float | None,
        warmup: bool,
        request: SpeechRequest | None = None,
    ) -> float | None:
        settings = self.settings
        target = settings.targets[trial.target]
        try:
            outcome = await async_send(
                slot,
                self._client(trial.target),
                trial.target,
                target.model,
                trial.voice,
                trial.text,
                transport,
                request=request,
                **settings.send_options(warmup),
            )
        except Exception as exc:  # a row, not a crash
            outcome = Outcome(started=settings.clock(), error=exc)
        # The loop's CPU is its thread's, measured per block (``_run``).
        recorder.add(
            outcome,
            trial,
            transport=transport,
            level=level,
            scheduled=scheduled,
            warmup=warmup,
            cpu_s=0.0,
        )
        return backoff_after(outcome)

    def _run(self, work: Any, recorder: Recorder) -> None:
        """Run ``work`` on the loop's thread until it is done, adding that thread's CPU."""

        failed: list[BaseException] = []

        async def timed() -> None:
            cpu0 = time.thread_time()
            try:
                await work
            except (KeyboardInterrupt, SystemExit) as exc:  # would stop the loop's thread
                failed.append(exc)
            finally:
                with recorder.lock:
                    recorder.timed.cpu_s += time.thread_time() - cpu0

        asyncio.run_coroutine_threadsafe(timed(), self.loop).result()
        if failed:
            raise failed[0]

    def warm(self, recorder: Recorder, warmups: list[tuple[str, Trial]], level: float) -> None:
        slot = self._slot()

        async def go() -> None:
            for transport, trial in warmups:
                if self.stop.is_set():
                    return
                await self._one(slot, recorder, transport, level, trial, None, True)

        try:
            self._run(go(), recorder)
        finally:
            recorder.flush()

    def block(
        self,
        recorder: Recorder,
        transport: str,
        level: float,
        workers: int,
        trials: list[tuple[float | None, Trial]],
        start_at: float | None = None,
    ) -> None:
        """Send one block, as ``Threads.block`` does, on the event loop."""
        if not trials or self.stop.is_set():
            return
        try:
            self._run(self._block(recorder, transport, level, workers, trials, start_at), recorder)
        finally:
            recorder.flush()

    async def _block(
        self,
        recorder: Recorder,
        transport: str,
        level: float,
        workers: int,
        trials: list[tuple[float | None, Trial]],
        start_at: float | None,
    ) -> None:
        if start_at is not None:
            await self._until(start_at)
        slots = self.slots[:workers] + [self._slot() for _ in range(workers - len(self.slots))]
        if self.settings.loop == "closed":
            work = collections.deque(trial for _, trial in trials)

            async def worker(slot: Slot) -> None:
                while work and not self.stop.is_set():
                    trial = work.popleft()
                    backoff = await self._one(slot, recorder, transport, level, trial, None, False)
                    if backoff:
                        await self._sleep(backoff)

            await asyncio.gather(*(worker(slot) for slot in slots))
            return
        free: asyncio.Queue[Slot] = asyncio.Queue()
        for slot in slots:
            free.put_nowait(slot)

        async def held(trial: Trial, due: float) -> None:
            # The request is made while it waits for a slot, so that a queued one goes out
            # as soon as the one before it ends.
            request = None
            if not transport.startswith("ws"):
                target = self.settings.targets[trial.target]
                try:
                    request = await build_request(
                        self._client(trial.target),
                        target.model,
                        trial.voice,
                        trial.text,
                        transport,
                        cold=self.settings.connection == "cold",
                    )
                except Exception:  # made again, and its error recorded, in the slot
                    request = None
            slot = await free.get()
            try:
                await self._one(slot, recorder, transport, level, trial, due, False, request)
            finally:
                free.put_nowait(slot)

        start = self.settings.clock() if start_at is None else start_at
        tasks = []
        for at, trial in trials:
            due = start + at
            await self._until(due)
            if self.stop.is_set():
                break
            tasks.append(asyncio.ensure_future(held(trial, due)))
        await asyncio.gather(*tasks)

    def close(self, *, wait: bool = True) -> None:
        loop = self.loop
        if loop.is_closed():
            return

        async def closing() -> None:
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for slot in self.slots:
                await slot.aclose()
            for client in self.clients.values():
                await client.aclose()

        try:
            asyncio.run_coroutine_threadsafe(closing(), loop).result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            self.thread.join()
            self.slots.clear()
            self.clients.clear()
            loop.close()
