"""The ttskit command line against a real local server."""

import subprocess
import sys

import soundfile as sf


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


def test_demo_streams_from_the_embedded_server(tmp_path):
    done = run("demo", "-o", "demo.wav", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "(local server)" in done.stdout and "time to first audio" in done.stdout
    audio, _ = sf.read(tmp_path / "demo.wav")
    assert len(audio) > 0


def test_say_sends_the_key_a_protected_server_wants(auth_server, tmp_path):
    from tests.conftest import API_KEY

    args = ["say", "Hi.", "-o", str(tmp_path / "x.wav"), "--base-url", auth_server.base_url]
    refused = run(*args)
    assert refused.returncode == 1 and "401" in refused.stderr
    accepted = run(*args, "--api-key", API_KEY)
    assert accepted.returncode == 0, accepted.stderr
    assert API_KEY not in accepted.stdout + accepted.stderr + refused.stderr
