"""``ttskit dataset`` from the command line, against the real eSpeak server."""

from __future__ import annotations

import subprocess
import sys

import pytest

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


def _dataset_into(server, tmp_path, out, *extra: str) -> subprocess.CompletedProcess:
    texts = tmp_path / "texts.txt"
    texts.write_text("Hello.\n", encoding="utf-8")
    return run(
        str(texts),
        str(out),
        "--base-url",
        server.base_url,
        "--model",
        "espeak",
        "--format",
        "wav",
        "--no-progress",
        *extra,
    )


def _one_line_failure(done: subprocess.CompletedProcess, *says: str) -> None:
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ttskit dataset: "), done.stderr
    assert "Traceback" not in done.stderr
    for words in says:
        assert words in lines[0], lines[0]


def test_an_output_name_too_long_is_one_line(espeak_server, tmp_path):
    out = tmp_path / ("x" * 300)
    _one_line_failure(_dataset_into(espeak_server, tmp_path, out), "x" * 300, "too long")


def test_an_output_below_a_file_is_one_line(espeak_server, tmp_path):
    (tmp_path / "afile").write_text("mine\n")
    done = _dataset_into(espeak_server, tmp_path, tmp_path / "afile" / "ds")
    _one_line_failure(done, "afile", "is a file, not a folder")
    assert (tmp_path / "afile").read_text() == "mine\n"


def test_an_export_onto_a_file_is_one_line(espeak_server, tmp_path):
    (tmp_path / "afile").write_text("mine\n")
    done = _dataset_into(
        espeak_server, tmp_path, tmp_path / "ds", "--ljspeech", str(tmp_path / "afile")
    )
    assert done.returncode in (1, 2), done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "afile" in lines[0] and "Traceback" not in done.stderr
    assert (tmp_path / "afile").read_text() == "mine\n"


def test_a_read_only_folder_is_one_line(espeak_server, tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        done = _dataset_into(espeak_server, tmp_path, folder / "ds")
    finally:
        folder.chmod(0o700)
    _one_line_failure(done, "ro", "not writable")


def test_a_full_disk_is_one_line(espeak_server, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs is not permitted here")
    try:
        (disk / "filler").write_bytes(b"\0" * (60 * 1024))
        done = _dataset_into(espeak_server, tmp_path, disk / "ds")
    finally:
        subprocess.run(["umount", str(disk)], check=True)
    _one_line_failure(done, "disk is full")


def test_debug_shows_the_traceback(espeak_server, tmp_path):
    (tmp_path / "afile").write_text("mine\n")
    texts = tmp_path / "texts.txt"
    texts.write_text("Hello.\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "ttskit.cli", "--debug", "dataset", str(texts)]
        + [str(tmp_path / "afile" / "ds"), "--base-url", espeak_server.base_url, "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1 and "Traceback" in done.stderr


def test_from_python_the_same_failure_is_a_file_error_that_names_the_path(espeak_server, tmp_path):
    import ttskit
    from ttskit.errors import FileError

    (tmp_path / "afile").write_text("mine\n")
    client = ttskit.Client(espeak_server.base_url, model="espeak")
    with pytest.raises(FileError, match="afile.*is a file, not a folder") as caught:
        dataset.generate(["Hello."], None, tmp_path / "afile" / "ds", client=client, progress=False)
    assert isinstance(caught.value, ttskit.TTSKitError) and isinstance(caught.value, OSError)
    assert caught.value.filename is not None and "afile" in str(caught.value.filename)
