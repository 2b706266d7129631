"""``ttskit serve``: flags, and a real server process started the way users start it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect

from ttskit.cli import build_parser, main

REPO = Path(__file__).resolve().parents[2]
SECRET = "cli-secret-5678"


def test_serve_flags():
    args = build_parser().parse_args(
        [
            "serve", "--host", "0.0.0.0", "--port", "9000", "--engine", "espeak",
            "--api-key", "k", "--alias", "a/b=espeak", "--alias", "c=espeak",
            "--max-input-chars", "500", "--workers", "3", "--queue", "4",
            "--first-audio-delay", "0.5", "--delta-delay", "0.1", "--jitter", "0.05",
            "--fail-rate", "0.25", "--fail-status", "429", "--retry-after", "3",
            "--cut-after", "7", "--fault-seed", "11", "--client-share", "0.25",
        ]
    )  # fmt: skip
    assert (args.host, args.port, args.engine, args.api_key) == ("0.0.0.0", 9000, "espeak", "k")
    assert args.alias == [("a/b", "espeak"), ("c", "espeak")]
    assert (args.max_input_chars, args.workers, args.queue) == (500, 3, 4)
    assert (args.first_audio_delay, args.delta_delay, args.jitter) == (0.5, 0.1, 0.05)
    assert (args.fail_rate, args.fail_status, args.retry_after) == (0.25, 429, 3.0)
    assert (args.cut_after, args.fault_seed, args.client_share) == (7, 11, 0.25)


def test_defaults_bind_loopback(monkeypatch):
    monkeypatch.delenv("TTSKIT_API_KEY", raising=False)
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.engine, args.api_key) == ("127.0.0.1", 8000, "auto", None)
    assert args.client_share is None  # chosen by the host: no bound on loopback


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--alias", "no-equals"],
        ["serve", "--fail-status", "404"],
        ["serve", "--jitter", "-1"],
        [],
    ],
)
def test_bad_flags_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2


def test_bad_values_exit_2(capsys):
    assert main(["serve", "--engine", "espeak", "--alias", "x=piperr"]) == 2
    assert "piperr" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_process():
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TTSKIT_API_KEY": SECRET}
    process = subprocess.Popen(
        [sys.executable, "-m", "ttskit.cli", "serve", "--engine", "espeak", "--port", str(port),
         "--alias", "hexgrad/Kokoro-82M=espeak", "--workers", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        assert requests.get(f"{base}/v1/models", timeout=5).status_code == 401
        models = requests.get(
            f"{base}/v1/models", headers={"Authorization": f"Bearer {SECRET}"}, timeout=5
        ).json()
        assert [model["id"] for model in models["data"]] == ["espeak", "hexgrad/Kokoro-82M"]
        with connect(f"ws://127.0.0.1:{port}/v1/audio/speech/websocket?api_key={SECRET}") as ws:
            assert "session.created" in ws.recv(timeout=10)
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "/v1/audio/speech/websocket" in output  # uvicorn logged the connection ...
    assert SECRET not in output  # ... without the key


def test_reliability_flags():
    args = build_parser().parse_args(
        ["serve", "--api-key-file", "/k", "--cors-origin", "http://localhost:8888",
         "--cors-origin", "https://lab.example", "--allow-fault-header",
         "--header-timeout", "2", "--body-timeout", "3", "--queue-timeout", "4",
         "--synthesis-timeout", "5", "--write-timeout", "6"]
    )  # fmt: skip
    assert args.api_key_file == "/k" and args.api_key is None
    assert args.cors_origin == ["http://localhost:8888", "https://lab.example"]
    assert args.allow_fault_header
    timeouts = ("header", "body", "queue", "synthesis", "write")
    assert [getattr(args, f"{name}_timeout") for name in timeouts] == [2, 3, 4, 5, 6]


def test_deadline_flag_defaults_are_the_servers():
    from ttskit.cli.serve import _DEADLINE_FLAGS
    from ttskit.server.limits import Limits

    assert {field: default for _, field, _, default in _DEADLINE_FLAGS} == vars(Limits())


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--queue-timeout", "0"],
        ["serve", "--write-timeout", "-1"],
        ["serve", "--header-timeout", "nan"],
        ["serve", "--api-key", "a", "--api-key-file", "b"],
    ],
)
def test_bad_reliability_flags_exit_2(argv):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2


def test_unreadable_or_empty_key_file(tmp_path, capsys):
    assert main(["serve", "--engine", "espeak", "--api-key-file", str(tmp_path / "no")]) == 2
    assert "cannot read the API key file" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert main(["serve", "--engine", "espeak", "--api-key-file", str(empty)]) == 2
    assert "one line" in capsys.readouterr().err


def test_bad_cors_origin_exits_2(capsys):
    assert main(["serve", "--engine", "espeak", "--cors-origin", "localhost:8888"]) == 2
    assert "origin" in capsys.readouterr().err


def _start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ttskit.cli", "serve", "--engine", "espeak", "--port", str(port),
         "--workers", "1", *args],
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{base}/health", timeout=1).ok:
                return process, base
        except requests.ConnectionError:
            pass
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    return output


@pytest.mark.parametrize("how", ["file", "argument"])
def test_key_from_a_file_or_the_command_line(tmp_path, how):
    env = {"TTSKIT_API_KEY": ""}
    if how == "file":
        key_file = tmp_path / "key"
        key_file.write_text(SECRET + "\n")
        args = ["--api-key-file", str(key_file)]
    else:
        args = ["--api-key", SECRET]
    process, base = _start(args, env)
    try:
        assert requests.get(f"{base}/v1/models", timeout=5).status_code == 401
        authorized = {"Authorization": f"Bearer {SECRET}"}
        assert requests.get(f"{base}/v1/models", headers=authorized, timeout=5).ok
        faulty = {**authorized, "x-ttskit-faults": "first_audio_delay=600"}
        refused = requests.post(
            f"{base}/v1/audio/speech",
            json={"model": "espeak", "voice": "en-us", "input": "Hi."},
            headers=faulty,
            timeout=10,
        )
        assert refused.json()["error"]["code"] == "faults_not_allowed"
    finally:
        output = _stop(process)
    warned = "shows in the process list" in output
    assert warned == (how == "argument")
    assert output.count(SECRET) == 0
