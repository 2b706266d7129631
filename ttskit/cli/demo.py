"""``ttskit demo``: the command of ``ttskit.demo``, ttskit's four jobs in small."""

from __future__ import annotations

import argparse

from .common import EXIT_ERROR, EXIT_INTERRUPTED, FORMATTER, complain

__all__ = ["add_demo"]


def add_demo(subparsers: argparse._SubParsersAction) -> None:
    """``ttskit demo``: ttskit's four jobs in small, into one report page."""
    parser = subparsers.add_parser(
        "demo",
        help="speak, measure latency, build a small dataset and check its quality; write a "
        "report page",
        description="On the embedded local server (or --base-url): speak a few sentences with\n"
        "word timestamps, run a short latency experiment (eSpeak NG and Piper; REST, SSE and\n"
        "WebSocket; concurrency 1, 2 and 4), generate a small dataset, and check the speech\n"
        "and the dataset (WER through Whisper, DNSMOS, onset, word timestamps; filtered on\n"
        "them), then write OUTPUT/report.html with players, plots and tables, and the files\n"
        "beside it.",
        formatter_class=FORMATTER,
    )
    parser.add_argument(
        "-o", "--output", default="demo-output", help="folder for the report and its files"
    )
    parser.add_argument("--text", default=None, help="what the first step says")
    parser.add_argument(
        "--base-url",
        default=None,
        help="another endpoint, e.g. 'together' (default: the embedded local server, "
        "whatever $TTSKIT_BASE_URL says)",
    )
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from ..demo import DEMO_TEXT, run_demo
    from ..errors import TTSKitError

    try:
        client = None
        if args.base_url is not None:
            from ..client import Client

            client = Client(base_url=args.base_url)
        result = run_demo(args.output, client=client, text=args.text or DEMO_TEXT)
    except TTSKitError as exc:
        complain("demo", exc)
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        # run_demo's message says which files it kept.
        complain("demo", str(exc) or "interrupted")
        return EXIT_INTERRUPTED
    print(result.summary())
    return 0
