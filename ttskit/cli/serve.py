"""``ttskit serve``: the speech API over local engines, with deadlines and fault injection."""

from __future__ import annotations

import argparse
import sys

from .common import (
    EXIT_USAGE,
    FORMATTER,
    add_key_arguments,
    api_key,
    complain,
    non_negative,
    positive_seconds,
)

__all__ = ["add_serve"]

# flag, Limits field, help, default (the server's Limits() defaults; checked by a test)
_DEADLINE_FLAGS = [
    ("--header-timeout", "header_timeout", "seconds for a request's line and headers", 10.0),
    ("--body-timeout", "body_timeout", "seconds for a request's body", 20.0),
    ("--queue-timeout", "queue_timeout", "seconds a request may wait for a slot", 30.0),
    ("--synthesis-timeout", "synthesis_timeout", "seconds a request may hold a slot", 120.0),
    ("--write-timeout", "write_timeout", "seconds a client may take no data", 10.0),
    ("--ws-idle-timeout", "ws_idle_timeout", "seconds a WebSocket session may send nothing", 300.0),
]

# flag, help: the delays of fault injection, in seconds >= 0
_DELAY_FLAGS = [
    ("--first-audio-delay", "seconds before the first audio"),
    ("--delta-delay", "seconds between audio deltas"),
    ("--jitter", "up to this many random seconds added to each delay"),
]


def _alias(value: str) -> tuple[str, str]:
    hosted, equals, local = value.partition("=")
    if not equals or not hosted or not local:
        raise argparse.ArgumentTypeError(f"expected HOSTED=LOCAL, got {value!r}")
    return hosted, local


def _share(value: str) -> float:
    try:
        share = float(value)
    except ValueError:
        share = float("nan")
    if not 0 < share <= 1:
        raise argparse.ArgumentTypeError(
            f"expected a fraction in (0, 1] (1 for no bound), got {value!r}"
        )
    return share


def add_serve(subparsers: argparse._SubParsersAction) -> None:
    """``ttskit serve``: the speech API over local engines."""
    parser = subparsers.add_parser(
        "serve",
        help="serve the speech API over offline engines",
        description="Serve the speech API (REST, SSE and WebSocket) over offline engines.\n\n"
        "The endpoints, request fields, stream events and error bodies are described in\n"
        "docs/protocol.md of the ttskit repository; clients of Together's /v1/audio/speech\n"
        "work against this server unchanged.",
        epilog="example:\n  ttskit serve --engine piper --port 8000\n"
        "  ttskit say 'Hello.' --base-url http://127.0.0.1:8000/v1",
        formatter_class=FORMATTER,
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
    add_key_arguments(parser, what="the key requests must bring as 'Authorization: Bearer <key>'")
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a web page origin that may call the server, e.g. http://localhost:8888 "
        "(repeatable; pages of other origins are refused)",
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
        "--client-share",
        type=_share,
        default=None,
        metavar="F",
        help="fraction of a model's slots and queue one client (peer address) may hold; "
        "beyond it, 429 while others are served; 1 for no bound (default: 0.5, or no bound "
        "when --host is a loopback address, where every local process is one client)",
    )
    parser.add_argument(
        "--log-level", default="info", help="uvicorn's log level (default: %(default)s)"
    )

    limits = parser.add_argument_group("deadlines", "so that no client can hold the server")
    for flag, field, what, default in _DEADLINE_FLAGS:
        limits.add_argument(
            flag,
            dest=field,
            type=positive_seconds,
            default=None,
            metavar="S",
            help=f"{what} (default: {default:g})",
        )
    _add_fault_arguments(parser)
    parser.set_defaults(handler=_serve)


def _add_fault_arguments(parser: argparse.ArgumentParser) -> None:
    faults = parser.add_argument_group("fault injection", "misbehave on purpose, to test clients")
    for flag, what in _DELAY_FLAGS:
        faults.add_argument(flag, type=non_negative(float), default=0.0, metavar="S", help=what)
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
        type=non_negative(float),
        default=1.0,
        metavar="S",
        help="Retry-After of refused requests (default: %(default)s)",
    )
    faults.add_argument(
        "--cut-after",
        type=non_negative(int),
        default=None,
        metavar="N",
        help="close the connection after N audio deltas",
    )
    faults.add_argument(
        "--fault-seed", type=int, default=None, metavar="N", help="seed of random faults"
    )
    faults.add_argument(
        "--allow-fault-header",
        action="store_true",
        help="let each request bring its own faults in an x-ttskit-faults header",
    )


def _serve(args: argparse.Namespace) -> int:
    from ..errors import TTSKitError

    try:
        from ..server import Faults, build_app, serve
        from ..server.limits import Limits

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
            api_key=api_key(args),
            aliases=dict(args.alias),
            max_input_chars=args.max_input_chars,
            queue=args.queue,
            **({} if args.client_share is None else {"client_share": args.client_share}),
            faults=faults,
            allow_fault_header=args.allow_fault_header,
            cors_origins=args.cors_origin,
            limits=Limits(
                **{
                    field: getattr(args, field)
                    for _, field, _, _ in _DEADLINE_FLAGS
                    if getattr(args, field) is not None
                }
            ),
        )
    except TTSKitError as exc:
        complain("serve", exc)
        return EXIT_USAGE
    models = ", ".join(app.state.ttskit.registry.ids())
    print(f"ttskit serve: {models} on http://{args.host}:{args.port}/v1", file=sys.stderr)
    if faults.active:
        print(f"ttskit serve: injecting faults {faults}", file=sys.stderr)
    serve(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
