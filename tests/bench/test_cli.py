"""``ttskit bench`` and ``ttskit bench report`` against a real local server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from ttskit import bench
from ttskit.bench.execute import DEFAULT_HARNESS


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ttskit.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_bench_prints_a_summary_writes_parquet_and_a_report(espeak_server, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("Hello there.\nA second line.\n", encoding="utf-8")
    results = tmp_path / "results.parquet"
    done = run(
        "bench",
        "--base-url",
        espeak_server.base_url,
        "--model",
        "espeak",
        "--voices",
        "en-us",
        "en-gb",
        "--texts",
        str(texts),
        "--transports",
        "rest",
        "sse",
        "--concurrency",
        "1",
        "2",
        "--repeats",
        "2",
        "--no-progress",
        "-o",
        str(results),
    )
    assert done.returncode == 0, done.stderr
    assert "first audio p50 (ms)" in done.stdout and "goodput (%)" in done.stdout
    assert "harness CPU" in done.stdout
    df = bench.load(results)
    # warm-ups, then transports x levels x voices x texts x repeats
    assert len(df) == 2 + 2 * 2 * 2 * 2 * 2
    assert set(df["voice"]) == {"en-us", "en-gb"}
    assert df["ok"].all(), df["error_message"].dropna().unique()
    # No --harness: bench.run's default.
    assert df.attrs["bench"]["arguments"]["harness"] == DEFAULT_HARNESS

    report = run("bench", "report", str(results))
    assert report.returncode == 0, report.stderr
    page = results.with_suffix(".html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") >= 3
    assert "<table" in page and "first audio p50 (ms)" in page


def test_bench_rejects_a_bad_transport_without_a_traceback(espeak_server):
    done = run("bench", "--base-url", espeak_server.base_url, "--transports", "pigeon")
    assert done.returncode == 1
    assert "unknown transport 'pigeon'" in done.stderr and "Traceback" not in done.stderr


def test_bench_takes_the_harness_processes_and_prebuffers(espeak_server, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("Hello there.\n", encoding="utf-8")
    results = tmp_path / "results.parquet"
    done = run(
        "bench",
        "--base-url",
        espeak_server.base_url,
        "--model",
        "espeak",
        "--texts",
        str(texts),
        "--transports",
        "openai-sse",
        "--repeats",
        "2",
        "--processes",
        "1",
        "--harness",
        "threads",
        "--prebuffer",
        "0.05",
        "0.5",
        "--no-progress",
        "-o",
        str(results),
    )
    assert done.returncode == 0, done.stderr
    df = bench.load(results)
    assert df["ok"].all(), df["error_message"].dropna().unique()
    assert set(df["client_library"]) == {"requests"}
    assert "underrun_count_500ms" in df.columns
    arguments = df.attrs["bench"]["arguments"]
    assert arguments["harness"] == "threads" and arguments["processes"] == 1
    assert arguments["prebuffer_s"] == [0.05, 0.5]


def test_bench_runs_its_shards_on_a_dask_scheduler(espeak_server, tmp_path):
    distributed = pytest.importorskip("distributed")
    results = tmp_path / "results.parquet"
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",  # reached from the command's own process
        dashboard_address=None,
    ) as cluster:
        done = run(
            "bench",
            "--base-url",
            espeak_server.base_url,
            "--model",
            "espeak",
            "--voices",
            "en-us",
            "--transports",
            "sse",
            "--concurrency",
            "2",
            "--repeats",
            "2",
            "--scheduler",
            cluster.scheduler_address,
            "--no-progress",
            "-o",
            str(results),
        )
        workers = set(cluster.scheduler_info["workers"])
    assert done.returncode == 0, done.stderr
    df = bench.load(results)
    assert df["ok"].all(), df["error_message"].dropna().unique()
    assert set(df["worker"]) == workers
    assert df["clock_uncertainty_s"].notna().all()


def test_bench_says_when_no_scheduler_answers(tmp_path):
    pytest.importorskip("distributed")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    url = "http://127.0.0.1:9/v1"
    done = run("bench", "--base-url", url, "--scheduler", address, "-o", str(tmp_path / "r.pq"))
    assert done.returncode == 1  # the network failed, as for an endpoint that does not answer
    assert "no Dask scheduler answered" in done.stderr and "dask scheduler" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "r.pq").exists()


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--base-url", "http://127.0.0.1:9/v1", "--scheduler", "nowhere"], "not a Dask"),
        (["--base-url", "http://127.0.0.1:9/v1", "--scheduler", "http://h:1"], "not a Dask"),
        (["--scheduler", "tcp://127.0.0.1:8786"], "--scheduler needs --base-url"),
        (["--scheduler", "tcp://127.0.0.1:8786", "--processes", "2"], "not allowed with"),
    ],
)
def test_bench_refuses_a_scheduler_it_cannot_use(tmp_path, arguments, said):
    pytest.importorskip("distributed")
    env = {k: v for k, v in os.environ.items() if k != "TTSKIT_BASE_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "ttskit.cli", "bench", *arguments, "-o", str(tmp_path / "r.pq")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    assert said in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "r.pq").exists()
