"""``ttskit bench``: run a latency experiment from the shell, and ``ttskit bench report``."""

from __future__ import annotations

import argparse
import os
from typing import Any

from .common import (
    EXIT_ERROR,
    EXIT_STATUS_HELP,
    FORMATTER,
    add_endpoint_arguments,
    api_key,
    client,
    complain,
    connect_dask,
)

__all__ = ["add_bench"]


def add_bench(subparsers: argparse._SubParsersAction) -> None:
    """``ttskit bench``: latency of voices x texts x transports x concurrency (or rate)."""
    parser = subparsers.add_parser(
        "bench",
        help="measure latency; 'ttskit bench report FILE' writes an HTML report",
        description="Latency of voices x texts x transports x concurrency (or rate), one row\n"
        "per request, written to a Parquet file; 'ttskit bench report FILE' makes its page.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=FORMATTER,
    )
    add_endpoint_arguments(parser)
    parser.add_argument(
        "--engine", default="espeak", help="engine of the embedded server (default: espeak)"
    )
    parser.add_argument("--voices", nargs="+", default=None, help="voice names to compare")
    parser.add_argument(
        "--texts", default=None, help="file with one text per line (default: the built-in set)"
    )
    parser.add_argument(
        "--transports",
        nargs="+",
        default=["sse"],
        help="rest, sse, chunked, openai-sse, ws, ws-keep (default: sse)",
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
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--processes",
        type=int,
        default=None,
        help="worker processes to shard the plan across (default: enough for the load)",
    )
    where.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run the shards on the workers of this Dask scheduler, such as "
        "tls://10.0.0.5:8786 (each worker's clock offset is measured first; needs dask and "
        "--base-url, which the workers send to with the key: prefer tls:// over tcp://)",
    )
    parser.add_argument(
        "--prebuffer",
        nargs="+",
        type=float,
        default=[0.1],
        help="player prebuffers in seconds of the continuity columns (default: 0.1)",
    )
    parser.add_argument(
        "--interrupt-after",
        type=float,
        default=None,
        help="WebSocket runs: cancel each utterance this many seconds after its first audio",
    )
    parser.add_argument(
        "--harness",
        choices=["asyncio", "threads"],
        default=None,
        help="each process sends on one event loop (ttskit.AsyncClient) or on threads "
        "(ttskit.Client) (default: that of ttskit.bench.run)",
    )
    parser.add_argument(
        "--quality",
        action="store_true",
        help="score every successful request after the run (WER, DNSMOS, onset; needs the "
        "quality extra)",
    )
    parser.add_argument("-o", "--output", default="bench.parquet", help="Parquet file of rows")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(handler=_bench, bench_command=None)

    actions = parser.add_subparsers(dest="bench_command", metavar="report")
    report = actions.add_parser(
        "report",
        help="write an HTML page of a results file",
        description="Write a self-contained HTML page (tables and plots) of a results file.",
    )
    report.add_argument("results", help="a Parquet file written by 'ttskit bench'")
    report.add_argument("-o", "--output", default=None, help="HTML file (default: beside it)")
    report.set_defaults(handler=_report)


def _endpoint_given(args: argparse.Namespace) -> bool:
    """Whether an endpoint was named; the embedded server is measured when not."""
    return bool(args.base_url or os.environ.get("TTSKIT_BASE_URL"))


def _target(args: argparse.Namespace) -> Any:
    from ..client import local

    if _endpoint_given(args):
        return client(args, max_retries=0)
    return local(args.engine, model=args.model)


def _bench(args: argparse.Namespace) -> int:
    """Run the experiment, print the summary, write the rows."""
    from ..bench import run, save, summary
    from ..bench.tables import text_table

    if args.scheduler and not _endpoint_given(args):
        from ..errors import ConfigurationError

        raise ConfigurationError(
            "--scheduler needs --base-url: the workers send to that endpoint, and the "
            "embedded server listens on this machine's loopback only (start one for them "
            "with 'ttskit serve --host 0.0.0.0')"
        )
    dask_client = None if args.scheduler is None else connect_dask(args.scheduler, "--scheduler")
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
            api_key=api_key(args),
            progress=not args.no_progress,
            processes=args.processes,
            executor=dask_client,
            prebuffer_s=args.prebuffer if len(args.prebuffer) > 1 else args.prebuffer[0],
            interrupt_after_s=args.interrupt_after,
            quality=args.quality,
            # None: bench.run's default harness, defined there only.
            **({} if args.harness is None else {"harness": args.harness}),
        )
        level = "rate" if args.rate else "concurrency"
        by = [c for c in ("voice", "transport") if df[c].nunique() > 1] + [level]
        table = summary(df, by=by, n_boot=500)
        path = save(df, args.output)
    except ValueError as exc:
        # A ValueError from pandas or pyarrow, raised by neither ttskit nor the user.
        complain("bench", exc)
        return EXIT_ERROR
    finally:
        if dask_client is not None:
            dask_client.close()
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

    from ..bench import report

    output = Path(args.output) if args.output else Path(args.results).with_suffix(".html")
    try:
        report(args.results, output)
    except ValueError as exc:
        complain("bench report", exc)
        return EXIT_ERROR
    print(f"wrote {output}")
    return 0
