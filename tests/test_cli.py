"""The ttskit command line against a real local server."""

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios

import pytest
import soundfile as sf

import ttskit
from ttskit.audio import FILE_FORMATS
from ttskit.cli import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_PARTIAL


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ttskit.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_say_writes_the_file_and_prints_its_timing(espeak_server, tmp_path):
    out = tmp_path / "hello.flac"
    done = run(
        "say",
        "Hello there. General greetings.",
        "-o",
        str(out),
        "--base-url",
        espeak_server.base_url,
        "--model",
        "espeak",
        "--voice",
        "en-us+f2",
    )
    assert done.returncode == 0, done.stderr
    audio, rate = sf.read(out)
    assert rate == 24000 and len(audio) > rate // 2
    assert "4 words" in done.stdout and "time to first audio" in done.stdout


def test_say_reports_a_bad_voice_without_a_traceback(espeak_server, tmp_path):
    done = run(
        "say",
        "Hello.",
        "-o",
        str(tmp_path / "x.wav"),
        "--base-url",
        espeak_server.base_url,
        "--model",
        "espeak",
        "--voice",
        "no-such-voice",
    )
    assert done.returncode == 1
    assert "no-such-voice" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.wav").exists()


def test_voices_lists_the_models_voices(espeak_server):
    done = run("voices", "--base-url", espeak_server.base_url, "--model", "espeak")
    assert done.returncode == 0, done.stderr
    assert "en-us+f2" in done.stdout.split()


def test_say_sends_the_key_a_protected_server_wants(auth_server, tmp_path):
    from tests.conftest import API_KEY

    args = ["say", "Hi.", "-o", str(tmp_path / "x.wav"), "--base-url", auth_server.base_url]
    refused = run(*args)
    assert refused.returncode == 1 and "401" in refused.stderr
    accepted = run(*args, "--api-key", API_KEY)
    assert accepted.returncode == 0, accepted.stderr
    assert API_KEY not in accepted.stdout + accepted.stderr + refused.stderr


LONG_TEXT = " ".join(f"This is sentence number {i}, spoken slowly." for i in range(1, 31))


def say_args(server, out, *extra: str, text: str = "Hello there. How are you today?") -> list:
    return ["say", text, "-o", str(out), "--base-url", server.base_url, *extra]


@pytest.fixture
def cutting_server(make_server):
    """eSpeak that closes every answer after three audio deltas (``serve --cut-after 3``)."""
    from ttskit.server import Faults

    return make_server(faults=Faults(cut_after=3))


@pytest.mark.parametrize("mode", [[], ["--no-stream"]], ids=["stream", "no-stream"])
def test_a_cut_answer_keeps_the_audio_that_arrived(cutting_server, tmp_path, mode):
    out = tmp_path / "cut.wav"
    done = run(*say_args(cutting_server, out, *mode, text=LONG_TEXT))
    assert done.returncode == EXIT_PARTIAL, done.stderr
    audio, rate = sf.read(out)
    assert 0 < len(audio) / rate < 2.0
    (warning,) = done.stderr.splitlines()
    assert warning.startswith("ttskit say: warning:") and "closed before the answer" in warning
    assert f"holds only the {len(audio) / rate:.2f} s of audio" in warning
    assert "IncompleteRead" not in warning and "Traceback" not in warning
    assert done.stdout.startswith(f"wrote {out}")


def test_an_answer_cut_before_any_audio_writes_nothing(make_server, tmp_path):
    from ttskit.server import Faults

    server = make_server(faults=Faults(cut_after=0))
    out = tmp_path / "none.wav"
    done = run(*say_args(server, out, "--no-stream"))
    assert done.returncode == EXIT_ERROR
    (line,) = done.stderr.splitlines()
    assert line.startswith("ttskit say: ") and "no file written" in line
    assert "IncompleteRead" not in line and "(" not in line
    assert not out.exists()


def _read_until(fd: int, pattern: re.Pattern, seen: bytearray) -> re.Match | None:
    """Read the terminal's output into ``seen`` until ``pattern`` matches or it closes."""
    while not (found := pattern.search(seen.decode(errors="replace"))):
        ready, _, _ = select.select([fd], [], [], 60)
        assert ready, f"no output for 60 s; so far: {seen.decode(errors='replace')!r}"
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the other side closed
            return None
        if not data:
            return None
        seen += data
    return found


def test_ctrl_c_writes_what_arrived_in_one_line(make_server, espeak_server, tmp_path):
    from ttskit import Client
    from ttskit.server import Faults

    # Slow deltas: the interrupt lands while the answer is still arriving.
    server = make_server(faults=Faults(delta_delay=0.2))
    out = tmp_path / "interrupted.wav"
    # Standard error is a terminal, as for a person at a shell: the progress bar shows what
    # has arrived, and the test interrupts once it shows audio.
    terminal, child_side = pty.openpty()
    fcntl.ioctl(child_side, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "ttskit.cli", *say_args(server, out, text=LONG_TEXT)],
        stdout=subprocess.PIPE,
        stderr=child_side,
        stdin=subprocess.DEVNULL,
    )
    os.close(child_side)
    seen = bytearray()
    try:
        assert _read_until(terminal, re.compile(r"receiving: (?!0\.0 )\d+\.\d s of audio"), seen)
        process.send_signal(signal.SIGINT)
        _read_until(terminal, re.compile(r"(?!)"), seen)  # everything, until it closes
        stdout, _ = process.communicate(timeout=60)
    finally:
        process.kill()
        os.close(terminal)
    assert process.returncode == EXIT_INTERRUPTED
    assert stdout == b""
    text = seen.decode()
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    lines = [line for line in text.replace("\r", "\n").splitlines() if "ttskit say" in line]
    assert len(lines) == 1, text
    audio, rate = sf.read(out)
    assert f"interrupted; wrote the {len(audio) / rate:.2f} s of audio" in lines[0]
    whole = Client(base_url=espeak_server.base_url, model="espeak").speak(LONG_TEXT)
    assert 0 < len(audio) < len(whole.audio) * rate / whole.sample_rate


def test_voices_into_a_closed_pipe_ends_quietly(espeak_server):
    reader, writer = os.pipe()
    os.close(reader)  # as `head` does once it has its lines
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ttskit.cli", "voices", "--base-url", espeak_server.base_url],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(writer)
    assert done.stderr == ""
    assert done.returncode == EXIT_ERROR


def test_version():
    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"ttskit {ttskit.__version__}"


@pytest.mark.parametrize(
    "command", [[], ["serve"], ["say"], ["voices"], ["demo"], ["bench"], ["dataset"]]
)
def test_help_is_plain_text(command):
    done = run(*command, "--help")
    assert done.returncode == 0
    assert "``" not in done.stdout and ":func:" not in done.stdout
    assert done.stdout.startswith(f"usage: ttskit {' '.join(command)}".rstrip())


def test_serve_help_points_to_the_protocol():
    assert "docs/protocol.md" in run("serve", "--help").stdout


def test_say_help_and_its_error_name_the_same_formats(tmp_path):
    formats = ", ".join(f".{name}" for name in FILE_FORMATS)
    help_text = " ".join(run("say", "--help").stdout.split())
    assert f"its suffix picks the format: {formats}" in help_text
    refused = run("say", "Hi.", "-o", str(tmp_path / "x.ogx"))
    assert refused.returncode == 2
    assert f"one of {formats}" in refused.stderr
    assert not (tmp_path / "x.ogx").exists()


def test_say_reads_the_key_from_a_file_and_warns_of_one_on_the_command_line(auth_server, tmp_path):
    from tests.conftest import API_KEY

    key_file = tmp_path / "key"
    key_file.write_text(API_KEY + "\n")
    args = ["say", "Hi.", "-o", str(tmp_path / "x.wav"), "--base-url", auth_server.base_url]
    from_file = run(*args, "--api-key-file", str(key_file))
    assert from_file.returncode == 0, from_file.stderr
    assert "warning" not in from_file.stderr
    on_line = run(*args, "--api-key", API_KEY)
    assert on_line.returncode == 0 and "--api-key-file" in on_line.stderr
    missing = run(*args, "--api-key-file", str(tmp_path / "absent"))
    assert missing.returncode == 2 and "cannot read the API key file" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    assert API_KEY not in from_file.stdout + from_file.stderr + on_line.stdout + missing.stderr


@pytest.mark.parametrize("command", ["say", "voices", "bench", "dataset"])
def test_every_client_command_has_the_same_endpoint_arguments(command):
    help_text = run(command, "--help").stdout
    for flag in ("--base-url", "--api-key-file", "--api-key"):
        assert flag in help_text, (command, flag)
    assert "process list" in help_text


def test_the_exit_statuses_are_documented_once_for_every_command():
    from ttskit.cli import common

    help_text = run("--help").stdout
    for status in (
        common.EXIT_ERROR,
        common.EXIT_USAGE,
        common.EXIT_PARTIAL,
        common.EXIT_INTERRUPTED,
    ):
        assert re.search(rf"^  {status} ", help_text, re.MULTILINE), status
    assert "--debug" in help_text


def test_bench_report_of_a_missing_file_is_one_line(tmp_path):
    done = run("bench", "report", str(tmp_path / "absent.parquet"))
    assert done.returncode in (EXIT_ERROR, 2), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert "absent.parquet" in done.stderr
