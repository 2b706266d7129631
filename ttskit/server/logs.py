"""Repeated log records summarized: one line per kind and interval, with a count.

A server under a flood of failures (descriptors exhausted, clients gone by the
thousand) would otherwise write a line, often a traceback, per failure, and fill the
disk before anyone reads the first. ``server_config`` (``ttskit.server.http``) puts a
``SummarizingFilter`` on the loggers that repeat while ttskit serves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

__all__ = ["SUMMARIZED_LOGGERS", "SummarizingFilter", "summarize_repeated_logs"]


class SummarizingFilter(logging.Filter):
    """Lets the first record of a kind through per ``interval``; counts the rest.

    Records below ``level`` pass as they come.
    A kind is the logger, the level, the message's template and the exception's type. The
    first record of a kind after an interval in which more were held back says how many
    (``(and 1234 more like it in the last 10 s)``), without their tracebacks.

    Parameters
    ----------
    interval : float
        Seconds.
    level : int
        The lowest level summarized.
    clock : callable
        Seconds, monotonic; injectable for tests.
    """

    def __init__(
        self,
        interval: float = 10.0,
        *,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.level = level
        self._clock = clock
        self._kinds: dict[tuple[Any, ...], list[float]] = {}  # kind -> [since, held back]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level:
            return True
        exc_type = record.exc_info[0] if record.exc_info else None
        kind = (record.name, record.levelno, str(record.msg), exc_type)
        now = self._clock()
        seen = self._kinds.get(kind)
        if seen is None or now - seen[0] >= self.interval:
            held = int(seen[1]) if seen else 0
            self._kinds[kind] = [now, 0]
            if held:
                record.msg = f"{record.msg} (and {held} more like it in the last %.0f s)"
                record.args = (*_as_tuple(record.args), now - seen[0])
                record.exc_info = None
                record.exc_text = None
            if len(self._kinds) > 1000:  # kinds are few; a flood of new ones is not kept
                self._kinds = {kind: self._kinds[kind]}
            return True
        seen[1] += 1
        return False


def _as_tuple(args: Any) -> tuple[Any, ...]:
    if args is None:
        return ()
    return args if isinstance(args, tuple) else (args,)


#: the loggers whose repeated records are summarized while ttskit serves, from which level:
#: uvicorn's own lines of every connection (opened, accepted, closed) at every level
SUMMARIZED_LOGGERS = {
    "asyncio": logging.WARNING,
    "uvicorn.error": logging.DEBUG,
    "uvicorn.access": logging.WARNING,
    "ttskit.server": logging.WARNING,
}


def summarize_repeated_logs(interval: float = 10.0) -> None:
    """Put one ``SummarizingFilter`` on each of ``SUMMARIZED_LOGGERS`` (once)."""
    for name, level in SUMMARIZED_LOGGERS.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, SummarizingFilter) for f in logger.filters):
            logger.addFilter(SummarizingFilter(interval, level=level))
