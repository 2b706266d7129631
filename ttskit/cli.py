"""The ``ttskit`` command: ``serve``, ``say``, ``voices``, ``bench``, ``dataset`` and ``demo``.

Each subcommand is a function ``add_<name>(subparsers)`` that adds its parser and sets
``handler`` to a function taking the parsed arguments and returning the exit status.
Heavy imports happen inside the handlers, so ``ttskit --help`` stays fast. Help texts are
plain text, shown as written (``RawDescriptionHelpFormatter``).

Exit statuses: 0 done, 1 failed, 2 bad usage (argparse), 3 ``say`` wrote partial audio
(the stream was cut), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_PARTIAL", "build_parser", "main"]

#: The command failed; nothing was written.
EXIT_ERROR = 1
#: ``say`` wrote the audio that arrived before the stream was cut: the file is incomplete.
#: Distinct from 1 so that a script can tell "no file" from "a partial file" (as curl has
#: its own status for a partial transfer), and from argparse's 2 for bad usage.
EXIT_PARTIAL = 3
#: 128 + SIGINT, what a shell reports for a command ended by Ctrl-C.
EXIT_INTERRUPTED = 130

_FORMATTER = argparse.RawDescriptionHelpFormatter


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
        description="Serve the speech API (REST, SSE and WebSocket) over offline engines.\n\n"
        "The endpoints, request fields, stream events and error bodies are described in\n"
        "docs/protocol.md of the ttskit repository; clients of Together's /v1/audio/speech\n"
        "work against this server unchanged.",
        epilog="example:\n  ttskit serve --engine piper --port 8000\n"
        "  ttskit say 'Hello.' --base-url http://127.0.0.1:8000/v1",
        formatter_class=_FORMATTER,
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
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument(
        "--api-key-file",
        default=None,
        metavar="PATH",
        help="require the key in this file as 'Authorization: Bearer <key>' "
        "(default: $TTSKIT_API_KEY)",
    )
    keys.add_argument(
        "--api-key",
        default=None,
        help="the key itself; other users of this machine can read it in the process list, "
        "so prefer --api-key-file or $TTSKIT_API_KEY",
    )
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
        "--log-level", default="info", help="uvicorn's log level (default: %(default)s)"
    )

    limits = parser.add_argument_group("deadlines", "so that no client can hold the server")
    for flag, field, what, default in _DEADLINE_FLAGS:
        limits.add_argument(
            flag,
            dest=field,
            type=_positive_seconds,
            default=None,
            metavar="S",
            help=f"{what} (default: {default:g})",
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
    faults.add_argument(
        "--allow-fault-header",
        action="store_true",
        help="let each request bring its own faults in an x-ttskit-faults header",
    )
    parser.set_defaults(handler=_serve)


# flag, Limits field, help, default (the server's Limits() defaults; checked by a test)
_DEADLINE_FLAGS = [
    ("--header-timeout", "header_timeout", "seconds for a request's line and headers", 10.0),
    ("--body-timeout", "body_timeout", "seconds for a request's body", 20.0),
    ("--queue-timeout", "queue_timeout", "seconds a request may wait for a slot", 30.0),
    ("--synthesis-timeout", "synthesis_timeout", "seconds a request may hold a slot", 120.0),
    ("--write-timeout", "write_timeout", "seconds a client may take no data", 10.0),
]


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {value!r}")
    return seconds


def _api_key(args: argparse.Namespace) -> str | None:
    """The key from --api-key-file, --api-key (with a warning) or $TTSKIT_API_KEY."""
    if args.api_key_file:
        try:
            key = Path(args.api_key_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read the API key file {args.api_key_file!r}: {exc}") from exc
        if not key or "\n" in key:
            raise ValueError(
                f"the API key file {args.api_key_file!r} must hold the key on one line"
            )
        return key
    if args.api_key:
        print(
            "ttskit serve: warning: a key given as --api-key shows in the process list; "
            "use --api-key-file PATH or $TTSKIT_API_KEY",
            file=sys.stderr,
        )
        return args.api_key
    return os.environ.get("TTSKIT_API_KEY") or None


def _serve(args: argparse.Namespace) -> int:
    try:
        from .server import Faults, build_app, serve
        from .server.limits import Limits

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
            api_key=_api_key(args),
            aliases=dict(args.alias),
            max_input_chars=args.max_input_chars,
            queue=args.queue,
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


def _client(args: argparse.Namespace) -> Any:
    from .client import Client

    return Client(
        base_url=args.base_url,
        api_key=args.api_key or None,
        model=args.model,
        voice=getattr(args, "voice", None),
    )


def _formats() -> list[str]:
    """The audio file suffixes ``say`` writes: the one list that help and errors quote."""
    from .audio import FILE_FORMATS

    return [f".{name}" for name in FILE_FORMATS]


def _audio_path(value: str) -> str:
    suffix = os.path.splitext(value)[1].lower()
    if suffix not in _formats():
        raise argparse.ArgumentTypeError(
            f"cannot write {value!r}: its suffix picks the audio format, one of "
            f"{', '.join(_formats())}"
        )
    return value


def add_say(subparsers: argparse._SubParsersAction) -> None:
    """``ttskit say``: one request, its audio written to a file, its timing printed."""
    parser = subparsers.add_parser(
        "say",
        help="synthesize a text to an audio file",
        description="Synthesize a text with one request, write the audio to a file and print\n"
        "its timing. The answer is streamed with word timestamps unless --no-stream.",
        epilog="examples:\n"
        "  ttskit say 'Hello there.' -o hello.wav\n"
        "  ttskit say - -o chapter.flac --voice en-us+f2 < chapter.txt\n\n"
        "exit status:\n"
        "  0    the whole answer was written\n"
        f"  {EXIT_ERROR}    failed; no file was written\n"
        "  2    bad usage\n"
        f"  {EXIT_PARTIAL}    the stream was cut: the audio that arrived was written, and a\n"
        "       warning says so\n"
        f"  {EXIT_INTERRUPTED}  interrupted (Ctrl-C): the audio that had arrived was written",
        formatter_class=_FORMATTER,
    )
    parser.add_argument("text", help="what to say ('-' reads standard input)")
    parser.add_argument(
        "-o",
        "--output",
        type=_audio_path,
        default="speech.wav",
        help=f"audio file; its suffix picks the format: {', '.join(_formats())} "
        "(default: %(default)s)",
    )
    parser.add_argument("--voice", default=None, help="voice name (default: the model's first)")
    parser.add_argument("--speed", type=float, default=None, help="speaking rate, 1.0 is normal")
    parser.add_argument(
        "--no-stream", action="store_true", help="ask for the whole file instead of a stream"
    )
    _add_endpoint_arguments(parser)
    parser.set_defaults(handler=_say)


def _receive(stream: Any) -> tuple[Any, bool]:
    """Read ``stream`` to its end, with a progress bar on a terminal.

    Returns the Speech and whether Ctrl-C stopped the reading (the Speech then holds what
    had arrived). A stream cut by the server raises ``StreamInterrupted``.
    """
    from tqdm.auto import tqdm

    from . import AudioChunk

    with (
        stream,
        tqdm(
            desc="receiving",
            unit="s",
            bar_format="{desc}: {n:.1f} s of audio [{elapsed}]",
            file=sys.stderr,
            leave=False,
            disable=None,  # only on a terminal
        ) as progress,
    ):
        try:
            for event in stream:
                if isinstance(event, AudioChunk):
                    progress.update(event.duration)
        except KeyboardInterrupt:
            stream.close()
            return stream.speech(allow_partial=True), True
        return stream.speech(), False


def _say(args: argparse.Namespace) -> int:
    from . import StreamInterrupted, TTSKitError

    text = sys.stdin.read() if args.text == "-" else args.text
    options: dict[str, Any] = {}
    if args.speed is not None:
        options["speed"] = args.speed
    endpoint = args.base_url or "the endpoint"
    interrupted, problem = False, None
    try:
        with _client(args) as client:
            endpoint = client.base_url
            if args.no_stream:
                speech = client.speak(text, stream=False, **options)
            else:
                speech, interrupted = _receive(client.stream(text, alignment="word", **options))
    except KeyboardInterrupt:
        # Streams keep what arrived (``_receive``); this is before one began, or --no-stream.
        before = "the whole file arrived" if args.no_stream else "any audio arrived"
        print(f"ttskit say: interrupted before {before}; no file written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except StreamInterrupted as exc:
        speech, problem = exc.partial, _cut_message(exc, endpoint)
    except (TTSKitError, ValueError) as exc:
        print(f"ttskit say: {_error_message(exc, endpoint)}", file=sys.stderr)
        return EXIT_ERROR

    if speech is None or not speech.audio.size:
        what = "interrupted" if interrupted else problem
        print(f"ttskit say: {what}, before any audio arrived; no file written", file=sys.stderr)
        return EXIT_INTERRUPTED if interrupted else EXIT_ERROR
    try:
        path = speech.save(args.output)
    except (TTSKitError, OSError) as exc:
        print(f"ttskit say: cannot write {args.output}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if interrupted:
        print(
            f"ttskit say: interrupted; wrote the {speech.duration:.2f} s of audio that had "
            f"arrived to {path}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if problem is not None:
        print(
            f"ttskit say: warning: {problem}; {path} holds only the {speech.duration:.2f} s "
            "of audio that arrived",
            file=sys.stderr,
        )
    print(_speech_summary(speech, path))
    return EXIT_PARTIAL if problem is not None else 0


def _cut_message(exc: Exception, endpoint: str) -> str:
    """Why a stream ended early, in words (the cause's text quotes urllib3's internals)."""
    from . import ReadError

    if isinstance(exc.__cause__, ReadError):
        return f"the connection to {endpoint} closed before the answer was complete"
    return f"the answer from {endpoint} ended early: {exc.__cause__ or exc}"


def _error_message(exc: Exception, endpoint: str) -> str:
    from . import ReadError

    if isinstance(exc, ReadError):
        return f"the connection to {endpoint} broke while the answer was being read"
    return str(exc)


def _speech_summary(speech: Any, path: Any) -> str:
    timing = speech.timing
    ttfb = "n/a" if timing.first_audio_s is None else f"{timing.first_audio_s * 1000:.0f} ms"
    n_words = len(speech.words)
    return (
        f"wrote {path}: {speech.duration:.2f} s of audio at {speech.sample_rate} Hz, "
        f"{n_words} {'word' if n_words == 1 else 'words'}, voice {speech.voice!r} of "
        f"{speech.model!r} from {speech.endpoint}\n"
        f"time to first audio {ttfb}, real-time factor {timing.real_time_factor:.3f}"
    )


def add_voices(subparsers: argparse._SubParsersAction) -> None:
    """``ttskit voices``: the voices an endpoint offers."""
    parser = subparsers.add_parser(
        "voices",
        help="list the voices of an endpoint",
        description="List the voices an endpoint offers, one line each, with their model.",
        epilog="example:\n  ttskit voices --model espeak | grep en-",
        formatter_class=_FORMATTER,
    )
    _add_endpoint_arguments(parser)
    parser.set_defaults(handler=_voices)


def _voices(args: argparse.Namespace) -> int:
    from . import TTSKitError

    try:
        with _client(args) as client:
            table = client.voices(model=args.model)
    except TTSKitError as exc:
        print(f"ttskit voices: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(table.to_string(index=False))
    return 0


def add_demo(subparsers: argparse._SubParsersAction) -> None:
    """``ttskit demo``: ttskit's three jobs in small, into one report page."""
    parser = subparsers.add_parser(
        "demo",
        help="speak, measure latency and build a small dataset; write a report page",
        description="On the embedded local server (or --base-url): speak a few sentences with\n"
        "word timestamps, run a short latency experiment (eSpeak NG and Piper; REST, SSE and\n"
        "WebSocket; concurrency 1, 2 and 4) and generate a small dataset, then write\n"
        "OUTPUT/report.html with players, plots and tables, and the files beside it.",
        formatter_class=_FORMATTER,
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
    from .demo import DEMO_TEXT, run_demo
    from .errors import TTSKitError

    try:
        client = None
        if args.base_url is not None:
            from .client import Client

            client = Client(base_url=args.base_url)
        result = run_demo(args.output, client=client, text=args.text or DEMO_TEXT)
    except TTSKitError as exc:
        print(f"ttskit demo: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        # run_demo's message says which files it kept.
        print(f"ttskit demo: {exc or 'interrupted'}", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(result.summary())
    return 0


def add_bench(subparsers: argparse._SubParsersAction) -> None:
    """``ttskit bench`` and ``ttskit bench report`` (see ``ttskit.bench.cli``)."""
    from .bench.cli import add_bench as add

    add(subparsers)


def add_dataset(subparsers: argparse._SubParsersAction) -> None:
    """``ttskit dataset`` and its exports (see ``ttskit.dataset.cli``)."""
    from .dataset.cli import add_dataset as add

    add(subparsers)


def build_parser() -> argparse.ArgumentParser:
    """The ``ttskit`` argument parser with every subcommand."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="ttskit",
        description="Explore text-to-speech APIs: serve, listen, measure.",
        epilog="Run 'ttskit COMMAND --help' for a command's options.",
        formatter_class=_FORMATTER,
    )
    parser.add_argument("--version", action="version", version=f"ttskit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for add in (add_serve, add_say, add_voices, add_bench, add_dataset, add_demo):
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ttskit`` command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        status = args.handler(args)
        # Flush here, so that a reader that has gone away shows up below, not at exit.
        sys.stdout.flush()
    except KeyboardInterrupt:
        print(f"ttskit {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output has gone (``ttskit voices | head -5``). As the signal
        # module's documentation recommends: send the rest of the output to devnull, so
        # that the interpreter's own flush at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    return status


if __name__ == "__main__":
    sys.exit(main())
