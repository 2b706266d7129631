"""Planning a latency experiment: its arguments checked, then every request laid out.

``make_plan`` checks every argument of ``bench.run`` before a request is sent, asks each
target for its model and voice if not given, and lays out the trials: per transport and
level, targets x voices x texts x repetitions in a seeded shuffled order (closed loop),
or at the times of a seeded Poisson schedule (open loop); the warm-up requests first.
``runner`` sends them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidArgument
from .rows import Trial
from .targets import complete, resolve_targets
from .texts import builtin_texts, read_texts, text_frame
from .transports import TRANSPORTS, Target

__all__ = ["Block", "Plan", "Shard", "make_plan", "poisson_schedule", "split"]

#: One transport at one level: its trials, each with its scheduled time (open loop) or None.
Block = tuple[str, float, list[tuple[float | None, Trial]]]


def poisson_schedule(rate: float, duration: float, rng: np.random.Generator) -> np.ndarray:
    """Arrival times in ``[0, duration)`` of a Poisson process at ``rate`` per second.

    Examples
    --------
    >>> times = poisson_schedule(100.0, 10.0, np.random.default_rng(0))
    >>> bool(900 < len(times) < 1100 and times.min() >= 0 and times.max() < 10)
    True
    """
    expected = rate * duration
    gaps = rng.exponential(1.0 / rate, size=int(expected + 10 * math.sqrt(expected) + 10))
    times = np.cumsum(gaps)
    while times[-1] < duration:  # vanishingly rare: draw more
        times = np.r_[times, times[-1] + np.cumsum(rng.exponential(1.0 / rate, size=len(gaps)))]
    return times[times < duration]


# --- checking the arguments -------------------------------------------------------------------


def _levels(name: str, values: Any, kind: type) -> list:
    items = (
        list(values) if isinstance(values, Iterable) and not isinstance(values, str) else [values]
    )
    if not items:
        raise InvalidArgument(f"{name} must name at least one level, got {values!r}")
    for value in items:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidArgument(f"{name} must be numbers, got {value!r}")
        if kind is int and (value != int(value) or value < 1):
            raise InvalidArgument(f"{name} must be whole numbers >= 1, got {value!r}")
        if not (math.isfinite(value) and value > 0):
            raise InvalidArgument(f"{name} must be > 0, got {value!r}")
    return [kind(v) for v in items]


def _texts(texts: Any) -> pd.DataFrame:
    if texts is None:
        return builtin_texts()
    if isinstance(texts, str | Path) and (isinstance(texts, Path) or "\n" not in texts):
        path = Path(texts)
        if path.suffix or path.exists():
            return read_texts(path)
        raise InvalidArgument(
            f"texts={texts!r} is no file; pass a list of texts, or the path of a file with one "
            "text per line"
        )
    return text_frame(texts)


# --- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Everything a run will send, in order.

    Attributes
    ----------
    targets : list of Target
        With their models and voices known.
    loop : {"closed", "open"}
    levels : list
        Concurrencies (closed loop) or rates (open loop).
    blocks : list of Block
        ``(transport, level, [(scheduled time or None, trial), ...])`` in the order run.
    warmups : list of (transport, Trial)
        Sent first, one at a time.
    arguments : dict
        The run's arguments as saved with its results (never a key).
    """

    targets: list[Target]
    loop: str
    levels: list
    blocks: list[Block]
    warmups: list[tuple[str, Trial]]
    arguments: dict[str, Any]

    @property
    def total(self) -> int:
        """Requests the run will send, warm-ups included."""
        return len(self.warmups) + sum(len(trials) for _, _, trials in self.blocks)


@dataclass(frozen=True)
class Shard:
    """The part of a plan one process (or Dask worker) sends.

    Attributes
    ----------
    index : int
        Its place among the shards.
    blocks : list
        Per block of the plan, in the plan's order: ``(transport, level, workers,
        trials)``, where ``workers`` is this shard's share of the concurrency (closed
        loop) or of ``max_in_flight`` (open loop), and ``trials`` its share of the
        block's ``(scheduled time or None, trial)``, scheduled times unchanged.
    warmups : list of (transport, Trial)
        Every shard warms up its own connections with the plan's warm-ups.
    """

    index: int
    blocks: list[tuple[str, float, int, list[tuple[float | None, Trial]]]]
    warmups: list[tuple[str, Trial]]


def _share(total: int, n: int, index: int) -> int:
    return total // n + (index < total % n)


def split(plan: Plan, n: int, max_in_flight: int) -> list[Shard]:
    """The plan in ``n`` shards that together send every request once.

    Closed loop: a level of concurrency C gives each shard C // n workers (the first
    C % n one more), and deals the block's trials in turn to the shards that have
    workers. Open loop: arrivals are dealt in turn, each keeping its scheduled time, and
    ``max_in_flight`` is shared out likewise (at least one per shard).

    Examples
    --------
    >>> _share(16, 3, 0), _share(16, 3, 1), _share(16, 3, 2)
    (6, 5, 5)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidArgument(f"processes must be a whole number >= 1, got {n!r}")
    shards: list[list] = [[] for _ in range(n)]
    for transport, level, trials in plan.blocks:
        if plan.loop == "closed":
            workers = [_share(int(level), n, i) for i in range(n)]
        else:
            workers = [max(_share(max_in_flight, n, i), 1) for i in range(n)]
        busy = [i for i in range(n) if workers[i]]
        dealt: list[list] = [[] for _ in range(n)]
        for j, item in enumerate(trials):
            dealt[busy[j % len(busy)]].append(item)
        for i in range(n):
            shards[i].append((transport, level, workers[i], dealt[i]))
    return [Shard(i, blocks, list(plan.warmups)) for i, blocks in enumerate(shards)]


def make_plan(
    targets: Any,
    texts: Any,
    voices: Sequence[str] | None,
    *,
    repeats: int,
    transports: Sequence[str],
    concurrency: int | Sequence[int],
    rate: float | Sequence[float] | None,
    duration: float | None,
    warmup: int,
    connection: str,
    timeout: float,
    seed: int,
    api_key: str | None,
    headers: dict[str, str] | None,
    max_in_flight: int,
) -> Plan:
    """Check ``bench.run``'s arguments and lay out its requests (see ``run`` for them).

    Raises
    ------
    ttskit.errors.InvalidArgument
        For a bad argument, before any request is sent.
    """
    transports = [transports] if isinstance(transports, str) else list(transports)
    bad = [t for t in transports if t not in TRANSPORTS]
    if bad or not transports:
        raise InvalidArgument(f"unknown transport {bad[0] if bad else None!r}; use {TRANSPORTS}")
    if connection not in ("warm", "cold"):
        raise InvalidArgument(f"connection must be 'warm' or 'cold', got {connection!r}")
    if connection == "cold" and "ws-keep" in transports:
        raise InvalidArgument("transport 'ws-keep' keeps its socket open: it cannot be cold")
    for name, value in (("repeats", repeats), ("max_in_flight", max_in_flight)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgument(f"{name} must be a whole number >= 1, got {value!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise InvalidArgument(f"warmup must be a whole number >= 0, got {warmup!r}")
    if not (isinstance(timeout, int | float) and timeout > 0):
        raise InvalidArgument(f"timeout must be > 0 seconds, got {timeout!r}")
    if rate is not None:
        levels = _levels("rate", rate, float)
        loop = "open"
        if duration is None or not (isinstance(duration, int | float) and duration > 0):
            raise InvalidArgument(
                f"an open-loop run (rate={rate!r}) needs duration= seconds > 0, got {duration!r}"
            )
    else:
        levels = _levels("concurrency", concurrency, int)
        loop = "closed"
    if voices is not None:
        voices = [voices] if isinstance(voices, str) else list(voices)
        if not voices or not all(isinstance(v, str) and v for v in voices):
            raise InvalidArgument(f"voices must be non-empty names, got {voices!r}")
    table = _texts(texts)
    resolved = [
        complete(t, timeout) for t in resolve_targets(targets, api_key=api_key, headers=headers)
    ]
    pairs = [(i, v) for i, t in enumerate(resolved) for v in (voices or [t.voice])]
    rng = np.random.default_rng(seed)
    text_rows = list(table.itertuples(index=False))
    base = [
        Trial(i, v, r.text_id, r.kind, r.text, rep)
        for rep in range(repeats if loop == "closed" else 1)
        for i, v in pairs
        for r in text_rows
    ]
    blocks: list[Block] = []
    for transport in transports:
        for level in levels:
            if loop == "closed":
                order = rng.permutation(len(base))
                blocks.append((transport, level, [(None, base[j]) for j in order]))
            else:
                times = poisson_schedule(level, float(duration), rng)
                order = rng.permutation(len(base))
                trials = [
                    (float(t), replace(base[order[k % len(base)]], repetition=k // len(base)))
                    for k, t in enumerate(times)
                ]
                blocks.append((transport, level, trials))
    warmups = [
        (transport, Trial(i, voices[0] if voices else resolved[i].voice, *table.iloc[0], 0))
        for transport in transports
        for i in range(len(resolved))
        for _ in range(warmup)
    ]
    arguments = {
        "targets": [t.label for t in resolved],
        "models": [t.model for t in resolved],
        "voices": voices,
        "texts": table["text_id"].tolist(),
        "repeats": repeats,
        "transports": transports,
        "concurrency": levels if loop == "closed" else None,
        "rate": levels if loop == "open" else None,
        "duration": duration,
        "warmup": warmup,
        "connection": connection,
        "timeout": timeout,
        "seed": seed,
        "max_in_flight": max_in_flight,
        "header_names": sorted({k for t in resolved for k in t.headers}),
    }
    return Plan(resolved, loop, levels, blocks, warmups, arguments)
