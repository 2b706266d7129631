"""``ttskit dataset``: ``generate`` from the command line, with a summary at the end.

Exit status (``common``): 0 when every item is done, 3 when some failed (rerun to retry
them), 1 when the endpoint or the disk failed, 2 for bad arguments, 130 when interrupted
(rerun to resume).
"""

from __future__ import annotations

import argparse
from typing import Any

from .common import (
    EXIT_PARTIAL,
    EXIT_STATUS_HELP,
    FORMATTER,
    add_endpoint_arguments,
    client,
    connect_dask,
)

__all__ = ["add_dataset", "run"]


def _split(value: str) -> tuple[str, float]:
    name, equals, fraction = value.partition("=")
    try:
        return name, float(fraction if equals else "")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=FRACTION, got {value!r}") from None


def add_dataset(subparsers: argparse._SubParsersAction) -> None:
    """``ttskit dataset``: texts x voices into a Hugging Face audiofolder dataset."""
    parser = subparsers.add_parser(
        "dataset",
        help="generate a speech dataset from texts and voices",
        description="Synthesize every text with every voice into a dataset folder that\n"
        "Hugging Face datasets loads (audiofolder), with quality columns; --quality also\n"
        "scores every item (WER, DNSMOS, speech onset and silences, word timestamps) and\n"
        "flags the ones out of limits. Rerun to resume.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=FORMATTER,
    )
    parser.add_argument("texts", help="a .txt (one text per line), .csv or .jsonl file")
    parser.add_argument("out", help="the dataset folder")
    parser.add_argument(
        "--voice",
        action="append",
        default=[],
        help="a voice (repeatable, or comma-separated; default: the model's first)",
    )
    add_endpoint_arguments(parser)
    parser.add_argument("--format", default="flac", choices=["flac", "wav", "ogg", "mp3"])
    parser.add_argument("--sample-rate", type=int, default=None, help="Hz (default: the server's)")
    parser.add_argument(
        "--no-alignment", action="store_true", help="do not ask for word timestamps"
    )
    parser.add_argument(
        "--loudness", type=float, default=None, metavar="LUFS", help="normalize to this loudness"
    )
    parser.add_argument("--speed", type=float, default=None, help="speaking rate, 1.0 is normal")
    parser.add_argument("--language", default=None, help="language code, e.g. en")
    parser.add_argument(
        "--split",
        type=_split,
        action="append",
        default=[],
        metavar="NAME=FRACTION",
        help="a split by text, e.g. --split train=0.9 --split test=0.1",
    )
    parser.add_argument("--workers", type=int, default=4, help="requests at once (default: 4)")
    parser.add_argument(
        "--executor",
        choices=["threads", "processes", "dask"],
        default="threads",
        help="where items are made (default: threads of this process)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="with --executor dask: a scheduler such as tcp://10.0.0.5:8786 "
        "(default: a local cluster of --workers processes)",
    )
    parser.add_argument("--retries", type=int, default=3, help="further attempts per item")
    parser.add_argument(
        "--retry-backoff", type=float, default=1.0, help="seconds before the first retry"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete the dataset in the folder first (only one ttskit made, holding nothing else)",
    )
    parser.add_argument(
        "--quality",
        action="store_true",
        help="score every item (WER, DNSMOS, speech onset and silences, word timestamps) "
        "and flag the ones out of limits; needs pip install 'ttskit[quality]'",
    )
    parser.add_argument(
        "--max-wer",
        type=float,
        default=None,
        metavar="RATE",
        help="with --quality: flag items whose word error rate is above this (default: 0.1)",
    )
    parser.add_argument(
        "--asr",
        default=None,
        help="with --quality: a faster-whisper model name or folder, or a /v1 URL "
        "(default: the bundled Whisper tiny.en)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--ljspeech", metavar="DEST", help="also export LJSpeech to DEST")
    parser.add_argument("--piper", metavar="DEST", help="also export Piper training data to DEST")
    parser.set_defaults(handler=run)


def _executor(args: argparse.Namespace) -> tuple[Any, Any]:
    """The executor for ``--executor``, and a function that closes it after the run."""
    if args.executor == "threads":
        return None, None
    if args.executor == "processes":
        from ..dataset.runner import process_pool

        # Spawned workers that end with this process, even when it is killed.
        pool = process_pool(args.workers)
        return pool, pool.shutdown
    from ..errors import require_extra

    distributed = require_extra(
        "distributed", extra="dask", purpose="--executor dask", package="dask"
    )
    if args.scheduler:
        dask_client = connect_dask(args.scheduler, "--scheduler")
        return dask_client.get_executor(), dask_client.close
    cluster = distributed.LocalCluster(
        n_workers=args.workers, threads_per_worker=1, dashboard_address=None
    )
    dask_client = distributed.Client(cluster)

    def close() -> None:
        dask_client.close()
        cluster.close()

    return dask_client.get_executor(), close


def run(args: argparse.Namespace) -> int:
    """Run ``ttskit dataset`` with parsed arguments; returns the exit status.

    Errors (ttskit's and the OS's) go up to ``common.run_handler``, which tells them in one
    line with their status.
    """
    from ..dataset import export_ljspeech, export_piper, generate

    voices = [v.strip() for value in args.voice for v in value.split(",") if v.strip()]
    splits = dict(args.split) or None
    if not args.quality and (args.max_wer is not None or args.asr is not None):
        from ..errors import InvalidArgument

        raise InvalidArgument("--max-wer and --asr are options of --quality; add --quality")
    limits = None
    if args.max_wer is not None:
        from ..quality import Limits

        limits = Limits(max_wer=args.max_wer)
    closer = None
    try:
        speaker = client(args, voice=None)  # the voices are generate's
        executor, closer = _executor(args)
        manifest = generate(
            args.texts,
            voices or None,
            args.out,
            client=speaker,
            model=args.model,
            format=args.format,
            sample_rate=args.sample_rate,
            alignment=not args.no_alignment,
            loudness=args.loudness,
            speed=args.speed,
            language=args.language,
            workers=args.workers,
            executor=executor,
            retries=args.retries,
            retry_backoff=args.retry_backoff,
            splits=splits,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            quality=args.quality,
            quality_limits=limits,
            asr=args.asr,
        )
    finally:
        if closer is not None:
            closer()
    summary = manifest.attrs["summary"]
    print(summary)
    if args.ljspeech:
        print(f"LJSpeech: {export_ljspeech(args.out, args.ljspeech)}")
    if args.piper:
        print(f"Piper: {export_piper(args.out, args.piper)}")
    return EXIT_PARTIAL if summary.failed else 0
