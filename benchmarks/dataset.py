"""Dataset generation figures, as ratios measured in one run.

The server runs as its own process (``python -m ttskit.cli serve``) and ``generate``
reaches it over HTTP on loopback, as it would the hosted API.

1. Throughput: 200 sentences with piper through ``generate`` (threads), audio seconds per
   wall second, over the best the engine does in-process on the same sentences (two
   processes of one onnxruntime thread each, or one process using every core).
   Target >= 0.85.
2. The same run through a Dask ``LocalCluster`` (two worker processes) over the same
   in-process best. Target >= 0.8.
3. Memory: 10,000 short espeak items; this process's peak resident memory during the run
   over its resident memory after a warm-up run. Target <= +50 MB. The server's memory
   is its own process's and is not counted (checked: no server runs in this process).

Run ``python benchmarks/dataset.py`` (a few minutes), ``--quick``, or ``--only memory``
(``--items N`` for another count).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import threading
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from server import ServerProcess, in_process_throughput  # noqa: E402

import ttskit  # noqa: E402
from ttskit import dataset  # noqa: E402

SUBJECTS = ["The old sailor", "A quiet student", "My neighbour", "The tired doctor", "Our guide"]
VERBS = ["carried", "painted", "found", "described", "remembered"]
OBJECTS = [
    "a small wooden boat",
    "the map of the harbour",
    "seven letters from home",
    "the last train of the night",
    "a basket of ripe apples",
    "the garden behind the school",
    "a song about the winter",
    "the key to the blue door",
]


def sentences(n: int) -> list[str]:
    """``n`` (up to 200) distinct sentences of six to nine words."""
    made = [f"{s} {v} {o}." for o in OBJECTS for v in VERBS for s in SUBJECTS]
    if n > len(made):
        raise ValueError(f"at most {len(made)} sentences")
    return made[:n]


# --- 1 and 2 -----------------------------------------------------------------------------


def generated_throughput(table) -> float:
    summary = table.attrs["summary"]
    return summary.audio_seconds / summary.elapsed_s


def throughput(server: ServerProcess, n_sentences: int, trials: int, workdir: Path) -> None:
    texts = sentences(n_sentences)
    client = ttskit.Client(f"{server.url}/v1", model="piper")
    # Warm the server's engines up, as the in-process runs warm theirs.
    dataset.generate(texts[:4], ["joe"], workdir / "warm", client=client, progress=False)

    two_processes, generated = [], []
    for trial in range(trials):  # alternated, so that drift on a shared machine hits both
        two_processes.append(in_process_throughput([texts[0::2], texts[1::2]], 1))
        run = dataset.generate(
            texts, ["joe"], workdir / f"threads-{trial}", client=client, progress=False
        )
        generated.append(generated_throughput(run))
    best_one = in_process_throughput([texts], None)
    best_two = statistics.median(two_processes)
    threads = statistics.median(generated)
    best = max(best_two, best_one)
    print(
        f"1. throughput, piper, {n_sentences} sentences through generate (threads): "
        f"{threads:.1f} audio s/s; best in-process {best:.1f} (2 processes x 1 thread "
        f"{best_two:.1f}, 1 process x all cores {best_one:.1f}) -> ratio {threads / best:.2f} "
        "(target >= 0.85)",
        flush=True,
    )

    from distributed import Client as DaskClient
    from distributed import LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=2, dashboard_address=None) as cluster,
        DaskClient(cluster) as dask,
    ):
        executor = dask.get_executor()
        dataset.generate(
            texts[:4],
            ["joe"],
            workdir / "warm-dask",
            client=client,
            executor=executor,
            progress=False,
        )
        on_dask = generated_throughput(
            dataset.generate(
                texts,
                ["joe"],
                workdir / "dask",
                client=client,
                executor=executor,
                progress=False,
            )
        )
    print(
        f"2. throughput, piper, {n_sentences} sentences through a Dask LocalCluster "
        f"(2 workers): {on_dask:.1f} audio s/s -> ratio {on_dask / best:.2f} over the same "
        "in-process best (target >= 0.8)",
        flush=True,
    )


# --- 3 -----------------------------------------------------------------------------------


class PeakRSS:
    """Samples this process's resident memory on a thread; ``peak_mb`` is the highest."""

    def __init__(self, interval_s: float = 0.05) -> None:
        self._process = psutil.Process()
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.peak_mb = self.now_mb()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now_mb(self) -> float:
        return self._process.memory_info().rss / 2**20

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.peak_mb = max(self.peak_mb, self.now_mb())

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self.now_mb())


def memory(server: ServerProcess, n_items: int, workdir: Path) -> None:
    # The server is a child process: nothing of it may run (and be counted) in this one.
    assert "ttskit.server.background" not in sys.modules, "a server runs in this process"
    client = ttskit.Client(f"{server.url}/v1", model="espeak")
    short = [f"Item {i}." for i in range(n_items)]
    dataset.generate(
        [f"Warm up {i}." for i in range(300)],
        ["en-us"],
        workdir / "warm-espeak",
        client=client,
        progress=False,
    )
    with PeakRSS() as rss:
        start_mb = rss.now_mb()
        table = dataset.generate(
            short, ["en-us"], workdir / "espeak", client=client, progress=False
        )
        end_mb = rss.now_mb()
    summary = table.attrs["summary"]
    print(
        f"3. memory, {summary.made} short espeak items in {summary.elapsed_s:.0f} s "
        f"({summary.made / summary.elapsed_s:.0f} items/s): RSS after warm-up {start_mb:.1f} MB, "
        f"peak during the run {rss.peak_mb:.1f} MB, at the end {end_mb:.1f} MB -> "
        f"{rss.peak_mb - start_mb:+.1f} MB (target <= +50 MB)",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sentences and items")
    parser.add_argument("--only", choices=["throughput", "memory"], help="one part alone")
    parser.add_argument("--items", type=int, help="short espeak items for the memory figure")
    args = parser.parse_args(argv)
    has_piper = importlib.util.find_spec("piper") is not None
    print(f"ttskit dataset benchmark on {os.cpu_count()} cores{' (quick)' if args.quick else ''}")
    server = ServerProcess("--engine", "auto" if has_piper else "espeak", "--workers", "2")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            if args.only == "memory":
                pass
            elif has_piper:
                throughput(server, 40 if args.quick else 200, 1 if args.quick else 2, workdir)
            else:
                print("1, 2. skipped: piper is not installed")
            if args.only != "throughput":
                items = args.items or (1000 if args.quick else 10_000)
                memory(server, items, workdir)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
