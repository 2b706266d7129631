"""The long reliability runs behind ``make soak``; prints one figure per line.

Each scenario runs against a real ``ttskit serve`` process (eSpeak, two slots):

- schemathesis on the published schema, positive and negative requests;
- 32 concurrent streams for 60 s: served, deliberate 429s, other errors, first audio;
- 5,000 requests in a row, with the server's RSS before and after;
- 200 streams dropped after their first event, and how soon the slot is free again;
- stalled clients (2 and 4) against a well-behaved request, with the deadlines it must meet;
- 200 half-sent requests, and how long the server keeps them;
- 1,100 idle WebSocket sessions and 100 silent sockets from 127.0.0.2 against a server
  allowed 1,024 descriptors, while 127.0.0.1 is served (``descriptors``).

Run ``python -m tests.reliability.soak [--quick]`` from the repository root.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import requests

from .clients import HalfSentRequest, StalledClient

REPO = Path(__file__).resolve().parents[2]
#: ERROR and traceback lines of every server's log
SERVER_ERRORS: list[str] = []
BODY = {"model": "espeak", "voice": "en-us", "input": "Hello world. This is a soak test."}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve(*flags: str) -> Iterator[tuple[str, psutil.Process]]:
    """``ttskit serve`` in a process of its own; yields its URL and process."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ttskit.cli", "serve", "--engine", "espeak", "--workers", "2",
         "--port", str(port), "--log-level", "warning", *flags],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if requests.get(f"{url}/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield url, psutil.Process(process.pid)
    finally:
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=30)
        SERVER_ERRORS.extend(
            line for line in errors.splitlines() if "ERROR" in line or "Traceback" in line
        )


def _busy(url: str) -> int:
    return requests.get(f"{url}/health", timeout=10).json()["models"]["espeak"]["busy"]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# --- scenarios --------------------------------------------------------------------------------


def schema_fuzz(examples: int) -> None:
    from schemathesis import GenerationMode

    from .fuzz import SPEECH, fuzz

    with serve() as (url, _):
        started = time.perf_counter()
        positive = fuzz(url, examples=examples, modes=(GenerationMode.POSITIVE,))
        negative = fuzz(url, examples=examples, modes=(GenerationMode.NEGATIVE,))
        seconds = time.perf_counter() - started
    total = positive.requests + negative.requests
    print(f"schemathesis: {total} requests in {seconds:.0f} s "
          f"({positive.requests} positive, {negative.requests} negative)")  # fmt: skip
    print(f"  5xx: {positive.server_errors + negative.server_errors}; "
          f"failed checks: {len(positive.failures) + len(negative.failures)}")  # fmt: skip
    print(f"  valid speech requests answered with audio: {positive.share(SPEECH, 200):.0%}")
    for failure in (positive.failures + negative.failures)[:5]:
        print(f"  failure: {failure[:300]}")


def concurrent_streams(streams: int, seconds: float) -> None:
    counts: Counter[str] = Counter()
    first_audio: list[float] = []
    lock = threading.Lock()
    with serve() as (url, _):
        end = time.monotonic() + seconds

        def client() -> None:
            session = requests.Session()
            while time.monotonic() < end:
                started = time.perf_counter()
                try:
                    with session.post(f"{url}/v1/audio/speech", json={**BODY, "stream": True},
                                      stream=True, timeout=60) as response:  # fmt: skip
                        if response.status_code == 429:
                            kind = (
                                "429 with Retry-After"
                                if "Retry-After" in response.headers
                                else "429 without"
                            )
                            with lock:
                                counts[kind] += 1
                            time.sleep(float(response.headers.get("Retry-After", 1)))
                            continue
                        first, done = None, False
                        for line in response.iter_lines():
                            if first is None and line.startswith(b"data: {"):
                                first = time.perf_counter() - started
                            done = done or line == b"data: [DONE]"
                        ok = response.status_code == 200 and done
                        with lock:
                            counts["served" if ok else f"error {response.status_code}"] += 1
                            if ok and first is not None:
                                first_audio.append(first)
                except requests.RequestException as exc:
                    with lock:
                        counts[type(exc).__name__] += 1

        threads = [threading.Thread(target=client) for _ in range(streams)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    print(
        f"{streams} streams for {seconds:.0f} s: "
        + ", ".join(f"{n} {k}" for k, n in counts.most_common())
    )
    print(f"  first audio p50 {1000 * _percentile(first_audio, 0.5):.0f} ms, "
          f"p99 {1000 * _percentile(first_audio, 0.99):.0f} ms")  # fmt: skip


def soak(total: int) -> None:
    statuses: Counter[int] = Counter()
    with serve() as (url, process):
        session = requests.Session()
        for _ in range(50):
            session.post(f"{url}/v1/audio/speech", json=BODY, timeout=60)
        before = process.memory_info().rss
        for n in range(total):
            body = {**BODY, "stream": n % 2 == 0, "input": f"Request number {n}. Hello."}
            statuses[session.post(f"{url}/v1/audio/speech", json=body, timeout=60).status_code] += 1
        after = process.memory_info().rss
    errors = sum(n for status, n in statuses.items() if status != 200)
    print(f"soak: {total} requests, {errors} errors; server RSS {before / 2**20:.1f} MB -> "
          f"{after / 2**20:.1f} MB ({(after - before) / 2**20:+.1f} MB)")  # fmt: skip


def disconnects(total: int) -> None:
    freed: list[float] = []
    with serve() as (url, _):
        long_text = " ".join(f"Sentence {n} of a long text to speak." for n in range(40))
        port = int(url.rsplit(":", 1)[1])
        body = {**BODY, "input": long_text, "stream": True}
        for _ in range(total):
            client = StalledClient(port, body)
            client.read_head()
            while b"data: {" not in client.head:
                client.head += client.sock.recv(4096)
            client.close()  # unread data: the connection is reset, as by a dropped client
            left = time.perf_counter()
            while _busy(url):
                time.sleep(0.001)
            freed.append(time.perf_counter() - left)
    print(
        f"{total} mid-stream disconnects: slot free again after "
        f"{1000 * statistics.median(freed):.0f} ms median, {1000 * max(freed):.0f} ms max"
    )


def stalled_clients(write_timeout: float, queue_timeout: float = 30.0) -> None:
    flags = ("--write-timeout", str(write_timeout), "--queue-timeout", str(queue_timeout))
    with serve(*flags) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        started = time.perf_counter()
        requests.post(f"{url}/v1/audio/speech", json=BODY, timeout=60)
        one_synthesis = time.perf_counter() - started
        for n_stalled in (2, 4):
            stalled = [StalledClient(port) for _ in range(n_stalled)]
            for client in stalled[:2]:
                client.read_head()
            while (
                requests.get(f"{url}/health", timeout=10).json()["models"]["espeak"]["queued"]
                < n_stalled - 2
            ):
                time.sleep(0.01)
            started = time.perf_counter()
            victim = requests.post(f"{url}/v1/audio/speech", json=BODY, timeout=120)
            waited = time.perf_counter() - started
            for client in stalled:
                client.close()
            print(
                f"{n_stalled} stalled clients: the well-behaved request got {victim.status_code} "
                f"after {waited:.2f} s; its deadline is {queue_timeout:.0f} s in the queue, one "
                f"synthesis {one_synthesis:.2f} s: "
                f"{'within' if waited <= queue_timeout + one_synthesis else 'BEYOND'} "
                f"(each stalled client is cut {write_timeout} s after its socket is full)"
            )


def slowloris(connections: int) -> None:
    with serve("--header-timeout", "10", "--body-timeout", "20") as (url, _):
        port = int(url.rsplit(":", 1)[1])
        heads = [HalfSentRequest(port, b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-")
                 for _ in range(connections // 2)]  # fmt: skip
        bodies = [HalfSentRequest(port, b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 99\r\n\r\n{\"mo")
                  for _ in range(connections - connections // 2)]  # fmt: skip
        started = time.perf_counter()
        closed_after: list[float] = []
        statuses: Counter[str] = Counter()
        for connection in heads + bodies:
            answer = connection.answer()
            closed_after.append(time.perf_counter() - started)
            statuses[answer[:12].decode(errors="replace") or "(closed)"] += 1
            connection.close()
        served = requests.post(f"{url}/v1/audio/speech", json=BODY, timeout=60).status_code
    print(
        f"slowloris: {connections} half-sent requests all closed within {max(closed_after):.1f} s "
        f"({', '.join(f'{n} {k}' for k, n in statuses.items())}); a request after: {served}"
    )


def descriptors(descriptors: int, sessions: int, sockets: int) -> None:
    from .descriptors import IDLE_ADDRESS, descriptor_case

    figures = descriptor_case(descriptors, sessions, sockets, probes=20)
    print(f"descriptors: {descriptors}; idle from {IDLE_ADDRESS}: {sessions} sessions "
          f"({', '.join(f'{n} {k}' for k, n in figures.held.sessions.items())}), "
          f"{figures.held.sockets} sockets")  # fmt: skip
    print(f"  from 127.0.0.1: speech p50 {statistics.median(figures.served_s):.3f} s, "
          f"max {max(figures.served_s):.3f} s; /health p50 "
          f"{statistics.median(figures.health_s):.3f} s, max {max(figures.health_s):.3f} s; "
          f"statuses {dict(Counter(figures.statuses))}")  # fmt: skip
    print(f"  server log: {figures.log_lines} lines")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small numbers, to try it out")
    parser.add_argument("--only", choices=SCENARIOS, action="append", help="run only these")
    args = parser.parse_args(argv)
    quick = args.quick
    runs = {
        "schema": lambda: schema_fuzz(examples=60 if quick else 700),
        "streams": lambda: concurrent_streams(streams=32, seconds=10 if quick else 60),
        "soak": lambda: soak(total=500 if quick else 5000),
        "disconnects": lambda: disconnects(total=20 if quick else 200),
        "stalled": lambda: (stalled_clients(write_timeout=2.0), stalled_clients(10.0)),
        "slowloris": lambda: slowloris(connections=20 if quick else 200),
        "descriptors": lambda: descriptors(256, 300, 50) if quick else descriptors(1024, 1100, 100),
    }
    for name in args.only or SCENARIOS:
        runs[name]()
    print(f"server logs: {len(SERVER_ERRORS)} error lines in all runs")
    for line in SERVER_ERRORS[:5]:
        print(f"  {line[:200]}")
    return 0


SCENARIOS = ["schema", "streams", "soak", "disconnects", "stalled", "slowloris", "descriptors"]


if __name__ == "__main__":
    sys.exit(main())
