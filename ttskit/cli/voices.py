"""``ttskit voices``: the voices an endpoint offers, one line each."""

from __future__ import annotations

import argparse

from .common import EXIT_ERROR, FORMATTER, add_endpoint_arguments, client, complain

__all__ = ["add_voices"]


def add_voices(subparsers: argparse._SubParsersAction) -> None:
    """``ttskit voices``: the voices an endpoint offers."""
    parser = subparsers.add_parser(
        "voices",
        help="list the voices of an endpoint",
        description="List the voices an endpoint offers, one line each, with their model.",
        epilog="example:\n  ttskit voices --model espeak | grep en-",
        formatter_class=FORMATTER,
    )
    add_endpoint_arguments(parser)
    parser.set_defaults(handler=_voices)


def _voices(args: argparse.Namespace) -> int:
    from ..errors import TTSKitError

    try:
        with client(args) as lister:
            table = lister.voices(model=args.model)
    except TTSKitError as exc:
        complain("voices", exc)
        return EXIT_ERROR
    print(table.to_string(index=False))
    return 0
