"""The ``ttskit`` command: ``serve``, ``say``, ``voices``, ``dataset`` and ``demo``.

Each subcommand is a function ``add_<name>(subparsers)`` that adds its parser and sets
``handler`` to a function taking the parsed arguments and returning the exit status.
Heavy imports happen inside the handlers, so ``ttskit --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

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
    try:
        from .server import Faults, build_app, serve

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
    serve(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _add_endpoint_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base-url",
        default=None,
        help="API root such as http://127.0.0.1:8000/v1 (default: $TTSKIT_BASE_URL, else the "
        "hosted API when $TOGETHER_API_KEY is set, else an embedded local server)",
    )
    parser.add_argument("--model", default=None, help="model id (default: the endpoint's first)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("TTSKIT_API_KEY"),
        help="key for a server started with --api-key (default: $TTSKIT_API_KEY; the hosted "
        "API reads $TOGETHER_API_KEY)",
    )


def _client(args: argparse.Namespace) -> Any:
    from .client import Client

    return Client(
        base_url=args.base_url,
        api_key=args.api_key or None,
        model=args.model,
        voice=getattr(args, "voice", None),
    )


def add_say(subparsers: argparse._SubParsersAction) -> None:
    """``ttskit say``: one request, its audio written to a file, its timing printed."""
    parser = subparsers.add_parser(
        "say", help="synthesize a text to an audio file", description=add_say.__doc__
    )
    parser.add_argument("text", help="what to say ('-' reads standard input)")
    parser.add_argument("-o", "--output", default="speech.wav", help="wav, flac or mp3 file")
    parser.add_argument("--voice", default=None, help="voice name (default: the model's first)")
    parser.add_argument("--speed", type=float, default=None, help="speaking rate, 1.0 is normal")
    parser.add_argument(
        "--no-stream", action="store_true", help="ask for the whole file instead of a stream"
    )
    _add_endpoint_arguments(parser)
    parser.set_defaults(handler=_say)


def _say(args: argparse.Namespace) -> int:
    from .errors import TTSKitError

    text = sys.stdin.read() if args.text == "-" else args.text
    options: dict[str, Any] = {"stream": not args.no_stream}
    if args.speed is not None:
        options["speed"] = args.speed
    if not args.no_stream:
        options["alignment"] = "word"
    try:
        with _client(args) as client:
            speech = client.speak(text, **options)
            path = speech.save(args.output)
    except (TTSKitError, ValueError) as exc:
        print(f"ttskit say: {exc}", file=sys.stderr)
        return 1
    print(_speech_summary(speech, path))
    return 0


def _speech_summary(speech: Any, path: Any) -> str:
    timing = speech.timing
    ttfb = "n/a" if timing.first_audio_s is None else f"{timing.first_audio_s * 1000:.0f} ms"
    return (
        f"wrote {path}: {speech.duration:.2f} s of audio at {speech.sample_rate} Hz, "
        f"{len(speech.words)} words, voice {speech.voice!r} of {speech.model!r} "
        f"from {speech.endpoint}\n"
        f"time to first audio {ttfb}, real-time factor {timing.real_time_factor:.3f}"
    )


def add_voices(subparsers: argparse._SubParsersAction) -> None:
    """``ttskit voices``: the voices an endpoint offers."""
    parser = subparsers.add_parser(
        "voices", help="list the voices of an endpoint", description=add_voices.__doc__
    )
    _add_endpoint_arguments(parser)
    parser.set_defaults(handler=_voices)


def _voices(args: argparse.Namespace) -> int:
    from .errors import TTSKitError

    try:
        with _client(args) as client:
            table = client.voices(model=args.model)
    except TTSKitError as exc:
        print(f"ttskit voices: {exc}", file=sys.stderr)
        return 1
    print(table.to_string(index=False))
    return 0


DEMO_TEXT = (
    "Hello from ttskit. This sentence was synthesized offline, streamed to you as it was "
    "made, and timed word by word. The same code runs against the hosted API."
)


def add_demo(subparsers: argparse._SubParsersAction) -> None:
    """``ttskit demo``: stream a paragraph from the embedded server, save it, show its timing."""
    parser = subparsers.add_parser(
        "demo", help="stream a paragraph and show its timing", description=add_demo.__doc__
    )
    parser.add_argument("-o", "--output", default="demo.wav", help="where to write the audio")
    parser.add_argument("--text", default=DEMO_TEXT, help="what to say")
    _add_endpoint_arguments(parser)
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from .errors import TTSKitError
    from .results import WordTimestamps

    try:
        with _client(args) as client:
            print(f"endpoint: {client.base_url} ({client.source})")
            with client.stream(args.text, alignment="word") as stream:
                for event in stream:
                    # One line per sentence as it arrives, rather than one per audio delta.
                    if isinstance(event, WordTimestamps):
                        words = " ".join(event.words["word"])
                        print(f"  {event.arrival_s * 1000:7.1f} ms  {words}")
                speech = stream.speech()
            path = speech.save(args.output)
    except TTSKitError as exc:
        print(f"ttskit demo: {exc}", file=sys.stderr)
        return 1
    print(speech.words.head(8).to_string(index=False))
    print(_speech_summary(speech, path))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``ttskit`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="ttskit", description="Explore text-to-speech APIs: serve, listen, measure."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    from .dataset.cli import add_dataset

    for add in (add_serve, add_say, add_voices, add_dataset, add_demo):
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ttskit`` command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
