"""Latency experiments against any endpoint that speaks the speech API.

``run`` sends voices x texts x repetitions per transport (REST, SSE, OpenAI-style chunked,
WebSocket) at fixed concurrencies (closed loop) or Poisson arrival rates (open loop) and
returns one row per request, errors included, with what a player would have heard
(underruns at a prebuffer) and how it was measured; ``processes=`` shards the plan across
processes and ``executor=`` across Dask workers. ``summary``, ``compare`` and ``knee`` read
the rows; ``save``/``load`` keep them as Parquet with the run's metadata; ``report`` writes
a self-contained HTML page; plots are in ``ttskit.plot``.

>>> import ttskit, ttskit.bench as bench  # doctest: +SKIP
>>> df = bench.run(ttskit.local("espeak"), transports=["rest", "sse"], concurrency=[1, 4])  # doctest: +SKIP
>>> bench.summary(df, by=["transport", "concurrency"])  # doctest: +SKIP
"""

from .plan import poisson_schedule
from .report import report
from .runner import COLUMNS, run
from .stats import Objective, UnfairComparison, compare, knee, stall_count, summary, underruns
from .store import load, save
from .texts import TEXTS, builtin_texts, read_texts
from .transports import TRANSPORTS, Target

__all__ = [
    "COLUMNS",
    "Objective",
    "TEXTS",
    "TRANSPORTS",
    "Target",
    "UnfairComparison",
    "builtin_texts",
    "compare",
    "knee",
    "load",
    "poisson_schedule",
    "read_texts",
    "report",
    "run",
    "save",
    "stall_count",
    "summary",
    "underruns",
]
