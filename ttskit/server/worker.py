"""Engine work on a worker thread, read on the event loop as an async iterator.

An engine's ``synthesize`` is a plain generator that holds the CPU for as long as a
sentence takes, so it runs on a thread of the server's executor, one thread per slot.
The thread turns each segment into wire-ready audio (``render``) and hands it to the loop.
It stays at most ``lookahead`` segments ahead of the reader, so a slow client holds
little memory, and it stops, closing the engine's generator, as soon as the reader goes
away: when a client disconnects, the route's iterator is closed and sets ``stop``.
The slot goes back to the pool only when the thread has let go of the engine.

A request waits at most ``queue_timeout`` for a slot and holds it at most
``synthesis_timeout``: past that, the thread stops after the segment in progress and the
reader gets ``SynthesisTimeout`` (see ``ttskit.server.limits``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from typing import TypeVar

from ..engines import Engine, Segment
from ..engines.text import first_clause_end
from .pool import SlotPool

__all__ = ["ServerClosing", "SynthesisTimeout", "probe_voice", "synthesize"]

T = TypeVar("T")

# How often a thread blocked on a slow reader looks whether it should stop.
_POLL_S = 0.05


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


class SynthesisTimeout(Exception):
    """A request held its synthesis slot longer than the server allows."""


class ServerClosing(Exception):
    """The synthesis threads are gone: the process that runs the server is exiting."""


def _start(
    loop: asyncio.AbstractEventLoop,
    executor: Executor,
    pool: SlotPool,
    engine: Engine,
    work: Callable[[], None],
) -> asyncio.Future[None]:
    """Run ``work`` on ``executor``; the engine goes back to the pool when it ends."""
    try:
        future = loop.run_in_executor(executor, work)
    except RuntimeError as exc:  # "cannot schedule new futures after shutdown"
        pool.release(engine)
        raise ServerClosing("the server is shutting down; retry against a running one") from exc
    future.add_done_callback(lambda _: pool.release(engine))
    return future


async def synthesize(
    pool: SlotPool,
    executor: Executor,
    text: str,
    *,
    voice: str,
    speed: float,
    render: Callable[[Segment], T],
    lookahead: int = 4,
    queue_timeout: float | None = None,
    synthesis_timeout: float | None = None,
    client: str = "",
    first_clause: bool = False,
) -> AsyncIterator[T]:
    """Synthesize ``text`` with an engine of ``pool`` and yield ``render(segment)`` for each.

    Waits for a slot first, counted against ``client``'s share (``PoolFull`` when there is
    no room, ``QueueTimeout`` after ``queue_timeout`` seconds). Exceptions of the engine or
    of ``render`` are raised here, in the reader's task. Closing the iterator stops the
    synthesis after the segment in progress; so does ``synthesis_timeout`` seconds with the
    slot, which raises ``SynthesisTimeout``. With ``first_clause``, a long first sentence
    is synthesized in two parts, its first clause and the rest (``first_clause_end``), so
    that its audio starts sooner.
    """
    cut = first_clause_end(text) if first_clause else None
    pieces = [text] if cut is None else [text[:cut], text[cut:].lstrip()]
    engine = await pool.acquire(queue_timeout, client=client)
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    deadline = started + synthesis_timeout if synthesis_timeout is not None else None
    too_long = SynthesisTimeout(
        f"the synthesis held its slot for more than {synthesis_timeout} s and was stopped"
    )

    def overdue() -> bool:
        return deadline is not None and time.monotonic() > deadline

    results: asyncio.Queue[object] = asyncio.Queue()
    stop = threading.Event()
    room = threading.Semaphore(lookahead)

    def hand_over(item: object) -> None:
        try:
            loop.call_soon_threadsafe(results.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is reading any more
            stop.set()

    def wait_for_room() -> bool:
        while not room.acquire(timeout=_POLL_S):
            if stop.is_set() or overdue():
                return False
        return not stop.is_set()

    def speak(piece: str) -> bool:
        """Hand over the segments of ``piece``; False when the synthesis has to end."""
        if stop.is_set():
            return False
        try:
            segments = engine.synthesize(piece, voice=voice, speed=speed)
        except Exception as exc:
            hand_over(_Failure(exc))
            return False
        try:
            for segment in segments:
                if not wait_for_room():
                    if overdue():
                        hand_over(_Failure(too_long))
                    return False
                hand_over(render(segment))
                if overdue():
                    hand_over(_Failure(too_long))
                    return False
            return True
        except Exception as exc:
            hand_over(_Failure(exc))
            return False
        finally:
            close = getattr(segments, "close", None)
            if close is not None:
                close()

    def work() -> None:
        if all(speak(piece) for piece in pieces):
            hand_over(_DONE)

    _start(loop, executor, pool, engine, work)
    try:
        while True:
            try:
                async with asyncio.timeout_at(
                    None if deadline is None else _loop_time(loop, deadline)
                ):
                    item = await results.get()
            except TimeoutError:
                raise too_long from None
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            room.release()
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        room.release()  # wakes a thread waiting for room, so that it stops at once


def _loop_time(loop: asyncio.AbstractEventLoop, monotonic: float) -> float:
    """``monotonic`` (time.monotonic) on the loop's clock, with a little grace so that the
    thread, which ends the synthesis more cleanly, usually notices first."""
    return loop.time() + (monotonic - time.monotonic()) + 2 * _POLL_S


async def probe_voice(
    pool: SlotPool,
    executor: Executor,
    voice: str,
    *,
    queue_timeout: float | None = None,
    client: str = "",
) -> None:
    """Ask an engine of ``pool`` whether it speaks ``voice``, before there is text to speak.

    Engines check the voice when ``synthesize`` is called, before any synthesis, so the
    probe is cheap. Raises the engine's ``UnknownVoice`` for a voice it lacks.
    """

    def probe() -> None:
        segments = engine.synthesize("Hello.", voice=voice)
        close = getattr(segments, "close", None)
        if close is not None:
            close()

    engine = await pool.acquire(queue_timeout, client=client)
    future = _start(asyncio.get_running_loop(), executor, pool, engine, probe)
    # Shielded: cancelling the wait must not cancel the future, which would give the
    # engine back while the thread still uses it.
    await asyncio.shield(future)
