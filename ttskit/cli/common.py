"""What the subcommands share: exit statuses, argument types, the endpoint arguments and
the client they build, and how a handler's end (Ctrl-C, a reader gone away) is reported."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_PARTIAL",
    "FORMATTER",
    "add_endpoint_arguments",
    "client",
    "complain",
    "non_negative",
    "positive_seconds",
    "run_handler",
]

#: The command failed; nothing was written.
EXIT_ERROR = 1
#: ``say`` wrote the audio that arrived before the stream was cut: the file is incomplete.
#: Distinct from 1 so that a script can tell "no file" from "a partial file" (as curl has
#: its own status for a partial transfer), and from argparse's 2 for bad usage.
EXIT_PARTIAL = 3
#: 128 + SIGINT, what a shell reports for a command ended by Ctrl-C.
EXIT_INTERRUPTED = 130

#: Help texts are plain text, shown as written.
FORMATTER = argparse.RawDescriptionHelpFormatter


def complain(command: str, message: object) -> None:
    """Tell standard error what went wrong, as ``ttskit COMMAND: message``."""
    print(f"ttskit {command}: {message}", file=sys.stderr)


def non_negative(kind: type) -> Callable[[str], float | int]:
    """An argument type: a number of ``kind`` that is 0 or more."""

    def parse(value: str) -> float | int:
        number = kind(value)
        if number < 0:
            raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value!r}")
        return number

    parse.__name__ = kind.__name__
    return parse


def positive_seconds(value: str) -> float:
    """An argument type: a finite number of seconds above 0."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {value!r}")
    return seconds


def add_endpoint_arguments(parser: argparse.ArgumentParser) -> None:
    """``--base-url``, ``--model`` and ``--api-key``: which server a client command talks to."""
    parser.add_argument(
        "--base-url",
        default=None,
        help="API root such as http://127.0.0.1:8000/v1, or 'together' for the hosted API "
        "(default: $TTSKIT_BASE_URL, else an embedded local server)",
    )
    parser.add_argument("--model", default=None, help="model id (default: the endpoint's first)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("TTSKIT_API_KEY"),
        help="key for a server started with --api-key (default: $TTSKIT_API_KEY; the hosted "
        "API reads $TOGETHER_API_KEY)",
    )


def client(args: argparse.Namespace) -> Any:
    """The ``Client`` of the endpoint arguments (and ``--voice``, when the command has it)."""
    from ..client import Client

    return Client(
        base_url=args.base_url,
        api_key=args.api_key or None,
        model=args.model,
        voice=getattr(args, "voice", None),
    )


def run_handler(args: argparse.Namespace) -> int:
    """Run the parsed command's handler; Ctrl-C and a closed output end it quietly."""
    try:
        status = args.handler(args)
        # Flush here, so that a reader that has gone away shows up below, not at exit.
        sys.stdout.flush()
    except KeyboardInterrupt:
        complain(args.command, "interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output has gone (``ttskit voices | head -5``). As the signal
        # module's documentation recommends: send the rest of the output to devnull, so
        # that the interpreter's own flush at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    return status
