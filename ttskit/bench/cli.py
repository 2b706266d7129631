"""``ttskit bench``: run a latency experiment from the shell, and ``ttskit bench report``.

API keys come from the environment only (``$TOGETHER_API_KEY`` for the hosted API,
``$TTSKIT_API_KEY`` for another server), never from the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = ["add_bench"]


def add_bench(subparsers: argparse._SubParsersAction) -> None:
    """``ttskit bench``: latency of voices x texts x transports x concurrency (or rate)."""
    parser = subparsers.add_parser(
        "bench",
        help="measure latency; 'ttskit bench report FILE' writes an HTML report",
        description=add_bench.__doc__,
    )
    parser.add_argument(
        "--base-url",
        default=None,
        help="API root such as http://127.0.0.1:8000/v1, or 'together' for the hosted API "
        "(default: $TTSKIT_BASE_URL, else an embedded local server)",
    )
    parser.add_argument(
        "--engine", default="espeak", help="engine of the embedded server (default: espeak)"
    )
    parser.add_argument("--model", default=None, help="model id (default: the endpoint's first)")
    parser.add_argument("--voices", nargs="+", default=None, help="voice names to compare")
    parser.add_argument(
        "--texts", default=None, help="file with one text per line (default: the built-in set)"
    )
    parser.add_argument(
        "--transports",
        nargs="+",
        default=["sse"],
        help="rest, sse, chunked, ws, ws-keep (default: sse)",
    )
    load = parser.add_mutually_exclusive_group()
    load.add_argument("--concurrency", nargs="+", type=int, default=None, help="closed-loop levels")
    load.add_argument(
        "--rate", nargs="+", type=float, default=None, help="open-loop arrivals per second"
    )
    parser.add_argument("--duration", type=float, default=None, help="seconds per rate level")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions per text and voice")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up requests per transport")
    parser.add_argument("--connection", choices=["warm", "cold"], default="warm")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", default="bench.parquet", help="Parquet file of rows")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(handler=_bench, bench_command=None)

    actions = parser.add_subparsers(dest="bench_command", metavar="report")
    report = actions.add_parser(
        "report", help="write an HTML page of a results file", description=_report.__doc__
    )
    report.add_argument("results", help="a Parquet file written by 'ttskit bench'")
    report.add_argument("-o", "--output", default=None, help="HTML file (default: beside it)")
    report.set_defaults(handler=_report)


def _target(args: argparse.Namespace) -> Any:
    from .. import Client, local

    if args.base_url or os.environ.get("TTSKIT_BASE_URL"):
        return Client(base_url=args.base_url, model=args.model, max_retries=0)
    return local(args.engine, model=args.model)


def _bench(args: argparse.Namespace) -> int:
    """Run the experiment, print the summary, write the rows."""
    from ..errors import TTSKitError
    from . import run, save, summary
    from .tables import text_table

    try:
        target = _target(args)
        df = run(
            target,
            args.texts,
            args.voices,
            repeats=args.repeats,
            transports=args.transports,
            concurrency=args.concurrency or (1,),
            rate=args.rate,
            duration=args.duration,
            warmup=args.warmup,
            connection=args.connection,
            timeout=args.timeout,
            seed=args.seed,
            api_key=os.environ.get("TTSKIT_API_KEY") or None,
            progress=not args.no_progress,
        )
        level = "rate" if args.rate else "concurrency"
        by = [c for c in ("voice", "transport") if df[c].nunique() > 1] + [level]
        table = summary(df, by=by, n_boot=500)
        path = save(df, args.output)
    except (TTSKitError, ValueError) as exc:
        print(f"ttskit bench: {exc}", file=sys.stderr)
        return 1
    print(text_table(table))
    info = df.attrs["bench"]
    cpu = info.get("harness_cpu_per_request_s")
    print(
        f"wrote {len(df)} rows to {path}; harness CPU "
        + ("n/a" if cpu is None else f"{cpu * 1000:.2f} ms")
        + " per request"
    )
    return 0


def _report(args: argparse.Namespace) -> int:
    """Write a self-contained HTML page (tables and plots) of a ``ttskit bench`` results file."""
    from pathlib import Path

    from ..errors import TTSKitError
    from . import report

    output = Path(args.output) if args.output else Path(args.results).with_suffix(".html")
    try:
        report(args.results, output)
    except (TTSKitError, ValueError, OSError) as exc:
        print(f"ttskit bench report: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {output}")
    return 0
