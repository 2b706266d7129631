"""What the subcommands share: exit statuses, argument types, the endpoint arguments and
the client they build, and how a handler's end (a failure, Ctrl-C, a reader gone away) is
reported: one line on standard error and a documented status; the traceback only with
``ttskit --debug`` or for a bug."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_PARTIAL",
    "EXIT_STATUS_HELP",
    "EXIT_USAGE",
    "FORMATTER",
    "add_endpoint_arguments",
    "api_key",
    "client",
    "complain",
    "connect_dask",
    "non_negative",
    "positive_seconds",
    "run_handler",
]

#: The command failed (the endpoint, the network, the disk); the line says why.
EXIT_ERROR = 1
#: Bad usage: an argument, an option's value or the set-up is wrong (argparse's status).
EXIT_USAGE = 2
#: Part of the work was done: ``say`` wrote the audio that arrived before the stream was
#: cut, ``dataset`` has items that failed (a rerun retries them). Distinct from 1 so that a
#: script can tell "nothing" from "a part" (as curl has its own status for a partial
#: transfer).
EXIT_PARTIAL = 3
#: 128 + SIGINT, what a shell reports for a command ended by Ctrl-C.
EXIT_INTERRUPTED = 130

#: The statuses as ``ttskit --help`` shows them.
EXIT_STATUS_HELP = f"""exit status:
  0    done
  {EXIT_ERROR}    failed: the endpoint, the network or the disk; one line says why
  {EXIT_USAGE}    bad usage: an argument or the set-up is wrong; one line says which
  {EXIT_PARTIAL}    partial: say wrote the audio that arrived; dataset has failed items
       (rerun to retry them)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C); a dataset resumes when run again

ttskit --debug COMMAND ... shows the traceback of a failure.
API keys: use --api-key-file PATH or $TTSKIT_API_KEY; a key given as --api-key shows in
the process list."""

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


def add_key_arguments(parser: argparse.ArgumentParser, *, what: str) -> None:
    """``--api-key-file`` and ``--api-key`` (one of them): ``what`` the key is for."""
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument(
        "--api-key-file",
        default=None,
        metavar="PATH",
        help=f"a file holding {what} on one line (default: $TTSKIT_API_KEY)",
    )
    keys.add_argument(
        "--api-key",
        default=None,
        help="the key itself; other users of this machine can read it in the process list, "
        "so prefer --api-key-file or $TTSKIT_API_KEY",
    )


def add_endpoint_arguments(parser: argparse.ArgumentParser, *, model: bool = True) -> None:
    """``--base-url``, ``--model``, ``--api-key-file`` and ``--api-key``: which server a client
    command talks to, and with which key."""
    parser.add_argument(
        "--base-url",
        default=None,
        help="API root such as http://127.0.0.1:8000/v1, or 'together' for the hosted API "
        "(default: $TTSKIT_BASE_URL, else an embedded local server)",
    )
    if model:
        parser.add_argument(
            "--model", default=None, help="model id (default: the endpoint's first)"
        )
    add_key_arguments(
        parser,
        what="the key of a server started with --api-key (the hosted API reads $TOGETHER_API_KEY)",
    )


def api_key(args: argparse.Namespace) -> str | None:
    """The key from ``--api-key-file``, ``--api-key`` (with a warning) or ``$TTSKIT_API_KEY``.

    Raises
    ------
    InvalidArgument
        For a key file that cannot be read or does not hold one line.
    """
    from ..errors import InvalidArgument

    if args.api_key_file:
        try:
            key = Path(args.api_key_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidArgument(
                f"cannot read the API key file {args.api_key_file!r}: {exc}"
            ) from exc
        if not key or "\n" in key:
            raise InvalidArgument(
                f"the API key file {args.api_key_file!r} must hold the key on one line"
            )
        return key
    if args.api_key:
        complain(
            args.command,
            "warning: a key given as --api-key shows in the process list; "
            "use --api-key-file PATH or $TTSKIT_API_KEY",
        )
        return args.api_key
    return os.environ.get("TTSKIT_API_KEY") or None


def client(args: argparse.Namespace, **options: Any) -> Any:
    """The ``Client`` of the endpoint arguments (and ``--voice``, when the command has it);
    ``options`` are further ``Client`` arguments, or replace those."""
    from ..client import Client

    settings = {
        "base_url": args.base_url,
        "api_key": api_key(args),
        "model": getattr(args, "model", None),
        "voice": getattr(args, "voice", None),
    }
    return Client(**{**settings, **options})


def failure_status(exc: BaseException) -> int:
    """The exit status of a failure: bad usage for what the user asked wrong, else failed."""
    from ..errors import ConfigurationError, InvalidArgument

    return EXIT_USAGE if isinstance(exc, InvalidArgument | ConfigurationError) else EXIT_ERROR


def describe(exc: BaseException) -> str:
    """One line for an error: its message, and for an OS error its path and what to do."""
    from ..errors import FileError, TTSKitError

    if isinstance(exc, OSError) and not isinstance(exc, TTSKitError | ConnectionError):
        exc = FileError.from_os_error(exc)
    return " ".join(str(exc).split()) or type(exc).__name__


def run_handler(args: argparse.Namespace) -> int:
    """Run the parsed command's handler.

    A ttskit error or an OS error becomes one line and its status (the traceback with
    ``--debug``); Ctrl-C and a closed output end it quietly; anything else is a bug and
    shows its traceback.
    """
    from ..errors import TTSKitError

    try:
        status = args.handler(args)
        # Flush here, so that a reader that has gone away shows up below, not at exit.
        sys.stdout.flush()
    except KeyboardInterrupt as exc:
        complain(args.command, str(exc) or "interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output has gone (``ttskit voices | head -5``). As the signal
        # module's documentation recommends: send the rest of the output to devnull, so
        # that the interpreter's own flush at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    except (TTSKitError, OSError) as exc:
        if getattr(args, "debug", False):
            raise
        complain(args.command, describe(exc))
        return failure_status(exc)
    return status


def connect_dask(address: str, option: str) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address`` (given with ``option``),
    or a ttskit error that says what to do: no dask, not an address, no answer."""
    from ..errors import ConfigurationError, ConnectError, require_extra

    distributed = require_extra("distributed", extra="dask", purpose=option, package="dask")
    try:
        return distributed.Client(address, timeout=10)
    except ValueError as exc:  # not an address: no port, an unknown scheme
        raise ConfigurationError(
            f"{option} {address!r} is not a Dask scheduler's address ({exc}); give one "
            "such as tcp://10.0.0.5:8786"
        ) from exc
    except (OSError, TimeoutError) as exc:
        raise ConnectError(
            f"no Dask scheduler answered at {address!r} ({exc}); start one with "
            "'dask scheduler' and its workers with 'dask worker ADDRESS'"
        ) from exc
