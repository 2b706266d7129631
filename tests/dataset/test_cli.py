"""``ttskit dataset`` from the command line, against the real eSpeak server."""

from __future__ import annotations

import subprocess
import sys

from ttskit import dataset


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ttskit.cli", "dataset", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_generates_exports_and_summarizes(espeak_server, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("Hello there.\n\nHow are you?\nHello there.\n", encoding="utf-8")
    out = tmp_path / "ds"
    done = run(
        str(texts),
        str(out),
        "--base-url",
        espeak_server.base_url,
        "--model",
        "espeak",
        "--voice",
        "en-us",
        "--voice",
        "en-us+f2",
        "--format",
        "wav",
        "--split",
        "train=0.5",
        "--split",
        "test=0.5",
        "--no-progress",
        "--piper",
        str(tmp_path / "piper"),
    )
    assert done.returncode == 0, done.stderr
    assert "4 of 4 items done (2 texts x 2 voices)" in done.stdout
    assert "1 empty skipped, 1 duplicates made once" in done.stdout
    assert "Piper:" in done.stdout
    table = dataset.load(out)
    assert len(table) == 4 and set(table["format"]) == {"wav"}
    assert len((tmp_path / "piper" / "metadata.csv").read_text().splitlines()) == 4


def test_bad_voice_and_bad_split_exit_2_without_a_traceback(espeak_server, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("Hello.\n", encoding="utf-8")
    common = (
        str(texts),
        str(tmp_path / "ds"),
        "--base-url",
        espeak_server.base_url,
        "--model",
        "espeak",
    )
    bad_voice = run(*common, "--voice", "no-such-voice")
    assert bad_voice.returncode == 2 and "no-such-voice" in bad_voice.stderr
    bad_split = run(*common, "--split", "train=0.5")
    assert bad_split.returncode == 2 and "add up to 0.5" in bad_split.stderr
    assert "Traceback" not in bad_voice.stderr + bad_split.stderr
