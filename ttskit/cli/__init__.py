"""The ``ttskit`` command: ``serve``, ``say``, ``voices``, ``bench``, ``dataset`` and ``demo``.

Each subcommand is a function ``add_<name>(subparsers)`` that adds its parser and sets
``handler`` to a function taking the parsed arguments and returning the exit status: one
module each here (``serve``, ``say``, ``voices``, ``bench``, ``dataset``, ``demo``);
``common`` holds what they share: the endpoint arguments, the exit statuses and how a
failure is told. Heavy imports happen inside the handlers, so ``ttskit --help`` stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_PARTIAL,
    EXIT_STATUS_HELP,
    EXIT_USAGE,
    FORMATTER,
    run_handler,
)

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "build_parser",
    "main",
]


def build_parser() -> argparse.ArgumentParser:
    """The ``ttskit`` argument parser with every subcommand."""
    from .._version import __version__
    from .bench import add_bench
    from .dataset import add_dataset
    from .demo import add_demo
    from .quality import add_quality
    from .say import add_say
    from .serve import add_serve
    from .voices import add_voices

    parser = argparse.ArgumentParser(
        prog="ttskit",
        description="Explore text-to-speech APIs: serve, listen, measure.",
        epilog="Run 'ttskit COMMAND --help' for a command's options.\n\n" + EXIT_STATUS_HELP,
        formatter_class=FORMATTER,
    )
    parser.add_argument("--version", action="version", version=f"ttskit {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of a failure, not one line"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for add in (add_serve, add_say, add_voices, add_bench, add_dataset, add_demo, add_quality):
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ttskit`` command line; returns the exit status."""
    return run_handler(build_parser().parse_args(argv))
