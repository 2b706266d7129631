"""``ttskit say``: one request, its audio written to a file, its timing printed.

A stream cut by the server or by Ctrl-C still writes the audio that arrived, and says so
(exit statuses ``EXIT_PARTIAL`` and ``EXIT_INTERRUPTED``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_PARTIAL,
    EXIT_USAGE,
    FORMATTER,
    add_endpoint_arguments,
    client,
    complain,
    failure_status,
)

__all__ = ["add_say"]


def _formats() -> list[str]:
    """The audio file suffixes ``say`` writes: the one list that help and errors quote."""
    from ..audio import FILE_FORMATS

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
        f"  {EXIT_USAGE}    bad usage\n"
        f"  {EXIT_PARTIAL}    the stream was cut: the audio that arrived was written, and a\n"
        "       warning says so\n"
        f"  {EXIT_INTERRUPTED}  interrupted (Ctrl-C): the audio that had arrived was written",
        formatter_class=FORMATTER,
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
    add_endpoint_arguments(parser)
    parser.set_defaults(handler=_say)


def _receive(stream: Any) -> tuple[Any, bool]:
    """Read ``stream`` to its end, with a progress bar on a terminal.

    Returns the Speech and whether Ctrl-C stopped the reading (the Speech then holds what
    had arrived). A stream cut by the server raises ``StreamInterrupted``.
    """
    from tqdm.auto import tqdm

    from .. import AudioChunk

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
    from .. import StreamInterrupted, TTSKitError

    text = sys.stdin.read() if args.text == "-" else args.text
    options: dict[str, Any] = {}
    if args.speed is not None:
        options["speed"] = args.speed
    endpoint = args.base_url or "the endpoint"
    interrupted, problem = False, None
    try:
        with client(args) as speaker:
            endpoint = speaker.base_url
            if args.no_stream:
                speech = speaker.speak(text, stream=False, **options)
            else:
                speech, interrupted = _receive(speaker.stream(text, alignment="word", **options))
    except KeyboardInterrupt:
        # Streams keep what arrived (``_receive``); this is before one began, or --no-stream.
        before = "the whole file arrived" if args.no_stream else "any audio arrived"
        complain("say", f"interrupted before {before}; no file written")
        return EXIT_INTERRUPTED
    except StreamInterrupted as exc:
        speech, problem = exc.partial, _cut_message(exc, endpoint)
    except TTSKitError as exc:
        complain("say", _error_message(exc, endpoint))
        return failure_status(exc)

    if speech is None or not speech.audio.size:
        what = "interrupted" if interrupted else problem
        complain("say", f"{what}, before any audio arrived; no file written")
        return EXIT_INTERRUPTED if interrupted else EXIT_ERROR
    try:
        path = speech.save(args.output)
    except (TTSKitError, OSError) as exc:
        complain("say", f"cannot write {args.output}: {exc}")
        return EXIT_ERROR
    if interrupted:
        complain(
            "say",
            f"interrupted; wrote the {speech.duration:.2f} s of audio that had arrived to {path}",
        )
        return EXIT_INTERRUPTED
    if problem is not None:
        complain(
            "say",
            f"warning: {problem}; {path} holds only the {speech.duration:.2f} s "
            "of audio that arrived",
        )
    print(_speech_summary(speech, path))
    return EXIT_PARTIAL if problem is not None else 0


def _cut_message(exc: Exception, endpoint: str) -> str:
    """Why a stream ended early, in words."""
    from .. import ReadError

    if isinstance(exc.__cause__, ReadError):
        return f"the connection to {endpoint} closed before the answer was complete"
    return f"the answer from {endpoint} ended early: {exc.__cause__ or exc}"


def _error_message(exc: Exception, endpoint: str) -> str:
    from .. import ReadError

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
