"""The ``ttskit`` command: ``serve``, ``say``, ``voices``, ``bench``, ``dataset`` and ``demo``.

Each subcommand is a function ``add_<name>(subparsers)`` that adds its parser and sets
``handler`` to a function taking the parsed arguments and returning the exit status: one
module each here (``serve``, ``say``, ``voices``, ``demo``), beside ``ttskit.bench.cli`` and
``ttskit.dataset.cli``; ``common`` holds what they share. Heavy imports happen inside the
handlers, so ``ttskit --help`` stays fast.

Exit statuses: 0 done, 1 failed, 2 bad usage (argparse), 3 ``say`` wrote partial audio
(the stream was cut), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_PARTIAL, FORMATTER, run_handler

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_PARTIAL", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``ttskit`` argument parser with every subcommand."""
    from .._version import __version__
    from ..bench.cli import add_bench
    from ..dataset.cli import add_dataset
    from .demo import add_demo
    from .say import add_say
    from .serve import add_serve
    from .voices import add_voices

    parser = argparse.ArgumentParser(
        prog="ttskit",
        description="Explore text-to-speech APIs: serve, listen, measure.",
        epilog="Run 'ttskit COMMAND --help' for a command's options.",
        formatter_class=FORMATTER,
    )
    parser.add_argument("--version", action="version", version=f"ttskit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for add in (add_serve, add_say, add_voices, add_bench, add_dataset, add_demo):
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ttskit`` command line; returns the exit status."""
    return run_handler(build_parser().parse_args(argv))
