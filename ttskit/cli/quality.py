"""``ttskit quality``: every item of a dataset, or audio files with their texts, scored."""

from __future__ import annotations

import argparse

from .common import EXIT_ERROR, FORMATTER, complain

__all__ = ["add_quality"]


def add_quality(subparsers: argparse._SubParsersAction) -> None:
    """``ttskit quality PATH``: scores to a Parquet or CSV file."""
    parser = subparsers.add_parser(
        "quality",
        help="score speech: WER, MOS, silences, word timestamps",
        description=(
            "Score a dataset folder made by 'ttskit dataset', or a CSV/Parquet table with a "
            "'path' column of audio files and a 'text' column (paths relative to the table). "
            "Needs pip install 'ttskit[quality]'."
        ),
        epilog=(
            "examples:\n  ttskit quality my_dataset -o scores.parquet\n"
            "  ttskit quality clips.csv --metrics wer,vad -o scores.csv"
        ),
        formatter_class=FORMATTER,
    )
    parser.add_argument("path", help="a dataset folder, or a .csv/.parquet table of audio files")
    parser.add_argument(
        "-o", "--output", default="quality.parquet", help="the scores: .parquet or .csv"
    )
    parser.add_argument(
        "--metrics",
        default="wer,mos,vad,timestamps",
        help="comma-separated: wer, mos, vad, timestamps",
    )
    parser.add_argument(
        "--asr", default=None, help="a faster-whisper model name or folder, or a /v1 URL"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=_quality)


def _table(path: str):
    import os

    import pandas as pd

    from ..dataset import load
    from ..errors import InvalidArgument

    if os.path.isdir(path):
        return load(path)
    if path.endswith(".parquet"):
        table = pd.read_parquet(path)
    elif path.endswith(".csv"):
        table = pd.read_csv(path)
    else:
        raise InvalidArgument(f"{path!r} is neither a dataset folder nor a .csv/.parquet table")
    if "path" not in table:
        raise InvalidArgument(f"{path!r} has no 'path' column of audio files")
    base = os.path.dirname(os.path.abspath(path))
    table["path"] = [os.path.join(base, p) if isinstance(p, str) else p for p in table["path"]]
    return table


def _quality(args: argparse.Namespace) -> int:
    from ..errors import TTSKitError

    try:
        from ..quality import score_many

        table = _table(args.path)
        scores = score_many(
            table,
            metrics=[m.strip() for m in args.metrics.split(",") if m.strip()],
            asr=args.asr,
            progress=not args.no_progress,
        )
        keys = [c for c in ("id", "file_name", "path", "text") if c in table]
        result = table[keys].join(scores)
        result.attrs = scores.attrs
        if args.output.endswith(".csv"):
            result.to_csv(args.output, index=False)
        else:
            _parquet(result, args.output)
    except TTSKitError as exc:
        complain("quality", exc)
        return EXIT_ERROR
    flagged = int(result["quality_flagged"].sum())
    print(f"{len(result)} scored, {flagged} flagged: {args.output}")
    return 0


def _parquet(frame, path: str) -> None:
    import json

    from ..errors import MissingExtra

    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingExtra("Parquet needs pyarrow: pip install 'ttskit[bench]'") from exc
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = {**(table.schema.metadata or {}), b"ttskit.quality": json.dumps(frame.attrs).encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)
