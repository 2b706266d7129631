"""Nothing lost: a generating process killed with SIGKILL at random moments, or stopped
with Ctrl-C, and started again, ends with every item exactly once and no stray file.

The child process reports each file it renames into place on stdout (by wrapping
``os.replace``, which only observes); the test kills it after a random number of them,
so that the kill lands anywhere in the write path: mid-file, between a rename and its
journal line, mid-line.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import soundfile as sf

from ttskit import dataset

VOICES = ["en-us", "en-us+f2"]
TEXTS = [f"Sentence number {i} is here to be spoken aloud." for i in range(20)]

REPORTING = textwrap.dedent(
    """
    import os, sys

    _replace = os.replace

    def replace(src, dst, *args, **kwargs):
        _replace(src, dst, *args, **kwargs)
        print("renamed", dst, flush=True)

    os.replace = replace
    """
)

GENERATE = REPORTING + textwrap.dedent(
    """
    import json
    import ttskit
    from ttskit import dataset

    base_url, out, texts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    client = ttskit.Client(base_url, model="espeak")
    dataset.generate(texts, ["en-us", "en-us+f2"], out, client=client, workers=2, progress=False)
    print("finished", flush=True)
    """
)

COMMAND = REPORTING + textwrap.dedent(
    """
    from ttskit.cli import main

    sys.exit(main(["dataset", *sys.argv[1:]]))
    """
)


def start(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def interrupt_after(process: subprocess.Popen, renames: int, signum: int) -> None:
    """Send ``signum`` once the child has renamed ``renames`` files (or has ended)."""
    seen = 0
    for line in process.stdout:
        seen += line.startswith("renamed")
        if seen >= renames:
            process.send_signal(signum)
            break


def assert_consistent(out: Path, expected: int | None = None) -> list[dict]:
    """Every item once; every file named by a record and every record's file there."""
    assert not [p for p in out.rglob("*") if p.name.endswith(".partial")]
    journal = (out / ".ttskit" / "journal").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in journal]
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))
    on_disk = {p.relative_to(out).as_posix() for p in (out / "data").glob("*.flac")}
    assert on_disk == {r["file_name"] for r in records}
    metadata = out / "data" / "metadata.jsonl"
    if metadata.exists():
        rows = [json.loads(line) for line in metadata.read_text(encoding="utf-8").splitlines()]
        assert {r["id"] for r in rows} <= set(ids)
    if expected is not None:
        assert len(records) == expected
        assert sorted(r["id"] for r in rows) == sorted(ids)
    return records


def test_sigkill_at_random_moments_then_resume(espeak_server, tmp_path):
    out = tmp_path / "ds"
    rng = random.Random(20261129)
    args = (espeak_server.base_url, str(out), json.dumps(TEXTS))
    progress = []
    for _ in range(5):
        process = start(GENERATE, *args)
        # Two renames (settings, journal) come before the first item's.
        interrupt_after(process, rng.randint(3, 12), signal.SIGKILL)
        process.communicate(timeout=120)
        if process.returncode == -signal.SIGKILL:
            progress.append(len(dataset.load(out)))
    assert len(progress) >= 3, "the child finished before it could be killed"
    assert progress[-1] < len(TEXTS) * len(VOICES)

    process = start(GENERATE, *args)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert "finished" in stdout

    records = assert_consistent(out, expected=len(TEXTS) * len(VOICES))
    assert {(r["text"], r["voice"]) for r in records} == {(t, v) for t in TEXTS for v in VOICES}
    for record in records:
        info = sf.info(out / record["file_name"])
        assert info.frames == round(record["duration"] * info.samplerate)


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(espeak_server, tmp_path):
    out = tmp_path / "ds"
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS), encoding="utf-8")
    command = (
        str(texts),
        str(out),
        "--base-url",
        espeak_server.base_url,
        "--model",
        "espeak",
        "--voice",
        "en-us,en-us+f2",
        "--no-progress",
        "--workers",
        "2",
    )
    process = start(COMMAND, *command)
    interrupt_after(process, 6, signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "run the same" in stderr and "to resume" in stderr and "Traceback" not in stderr
    done = assert_consistent(out)
    assert 0 < len(done) < len(TEXTS) * len(VOICES)

    process = start(COMMAND, *command)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert f"{len(TEXTS) * 2} of {len(TEXTS) * 2} items done" in stdout
    assert f"{len(done)} already there" in stdout
    assert_consistent(out, expected=len(TEXTS) * len(VOICES))
