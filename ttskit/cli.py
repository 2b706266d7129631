"""The ``ttskit`` command: ``ttskit serve`` (more subcommands register the same way).

Each subcommand is a function ``add_<name>(subparsers)`` that adds its parser and sets
``handler`` to a function taking the parsed arguments and returning the exit status.
Heavy imports happen inside the handlers, so ``ttskit --help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def _alias(value: str) -> tuple[str, str]:
    hosted, equals, local = value.partition("=")
    if not equals or not hosted or not local:
        raise argparse.ArgumentTypeError(f"expected HOSTED=LOCAL, got {value!r}")
    return hosted, local


def _non_negative(kind: type) -> object:
    def parse(value: str) -> float | int:
        number = kind(value)
        if number < 0:
            raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value!r}")
        return number

    parse.__name__ = kind.__name__
    return parse


def add_serve(subparsers: argparse._SubParsersAction) -> None:
    """``ttskit serve``: the speech API over local engines."""
    parser = subparsers.add_parser(
        "serve",
        help="serve the speech API over offline engines",
        description="Serve PROTOCOL.md's speech API (REST, SSE, WebSocket) over local engines.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    parser.add_argument(
        "--engine",
        choices=["auto", "espeak", "piper"],
        default="auto",
        help="engine to serve; auto serves every installed one (default: %(default)s)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("TTSKIT_API_KEY"),
        help="require this key as 'Authorization: Bearer <key>' (default: $TTSKIT_API_KEY)",
    )
    parser.add_argument(
        "--alias",
        type=_alias,
        action="append",
        default=[],
        metavar="HOSTED=LOCAL",
        help="serve a hosted model id with a local engine, e.g. "
        "canopylabs/orpheus-3b-0.1-ft=piper (repeatable)",
    )
    parser.add_argument(
        "--max-input-chars",
        type=int,
        default=10_000,
        help="longest input accepted (default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="synthesis slots per engine (default: one per core)",
    )
    parser.add_argument(
        "--queue",
        type=int,
        default=16,
        help="requests waiting per model before 429 (default: %(default)s)",
    )
    parser.add_argument(
        "--log-level", default="info", help="uvicorn's log level (default: %(default)s)"
    )

    faults = parser.add_argument_group("fault injection", "misbehave on purpose, to test clients")
    faults.add_argument(
        "--first-audio-delay",
        type=_non_negative(float),
        default=0.0,
        metavar="S",
        help="seconds before the first audio",
    )
    faults.add_argument(
        "--delta-delay",
        type=_non_negative(float),
        default=0.0,
        metavar="S",
        help="seconds between audio deltas",
    )
    faults.add_argument(
        "--jitter",
        type=_non_negative(float),
        default=0.0,
        metavar="S",
        help="up to this many random seconds added to each delay",
    )
    faults.add_argument(
        "--fail-rate",
        type=float,
        default=0.0,
        metavar="F",
        help="fraction of requests refused (0..1)",
    )
    faults.add_argument(
        "--fail-status",
        type=int,
        choices=[429, 500, 503],
        default=503,
        help="status of refused requests (default: %(default)s)",
    )
    faults.add_argument(
        "--retry-after",
        type=_non_negative(float),
        default=1.0,
        metavar="S",
        help="Retry-After of refused requests (default: %(default)s)",
    )
    faults.add_argument(
        "--cut-after",
        type=_non_negative(int),
        default=None,
        metavar="N",
        help="close the connection after N audio deltas",
    )
    faults.add_argument(
        "--fault-seed", type=int, default=None, metavar="N", help="seed of random faults"
    )
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .server import Faults, build_app
    from .server.middleware import redact_keys_in_logs

    try:
        faults = Faults(
            first_audio_delay=args.first_audio_delay,
            delta_delay=args.delta_delay,
            jitter=args.jitter,
            error_rate=args.fail_rate,
            error_status=args.fail_status,
            retry_after=args.retry_after,
            cut_after=args.cut_after,
            seed=args.fault_seed,
        )
        app = build_app(
            args.engine,
            workers=args.workers,
            api_key=args.api_key or None,
            aliases=dict(args.alias),
            max_input_chars=args.max_input_chars,
            queue=args.queue,
            faults=faults,
        )
    except (ValueError, ImportError) as exc:
        print(f"ttskit serve: {exc}", file=sys.stderr)
        return 2
    models = ", ".join(app.state.ttskit.registry.ids())
    print(f"ttskit serve: {models} on http://{args.host}:{args.port}/v1", file=sys.stderr)
    if faults.active:
        print(f"ttskit serve: injecting faults {faults}", file=sys.stderr)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level)
    server = uvicorn.Server(config)
    # uvicorn configures its loggers when the config is made; the filter goes on after.
    redact_keys_in_logs()
    # uvicorn shuts down gracefully on Ctrl-C, then raises it again for the caller.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``ttskit`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="ttskit", description="Explore text-to-speech APIs: serve, listen, measure."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    add_serve(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ttskit`` command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
