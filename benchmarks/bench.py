"""Figures of the latency harness (ttskit.bench), as ratios measured in one run.

1. Injected delay: against the local server with ``first_audio_delay`` D injected per
   request (SSE, a short text), the harness's first audio against the same requests timed
   on the loopback wire by the kernel (``wire.py``: a raw packet socket in a process of
   its own, so no scheduling or interpreter lock touches its clock; requests on a kept-alive
   connection, as the wire times from the request's first segment): the medians within
   1 ms and the p95s within 3 ms, and each request's own difference; and the first audio
   minus D, read at D = 0.1 s and D = 0.3 s in alternating blocks, moving no more in the
   harness than on the wire. At concurrency 1, 16 and 64; at 16 the server keeps both
   cores busy, so a third run gives it a nice of 10, as if it had cores of its own, and
   so does the run at 64.
2. The harness is not the bottleneck: requests per second against espeak with the
   built-in short texts over REST and SSE (target >= 200), and the harness's own CPU per
   request, for the threaded executor (``harness="threads"``, ``ttskit.Client``) and the
   event loop (``harness="asyncio"``, ``ttskit.AsyncClient``) side by side; the same
   against a canned server that answers at once (a WAV, or the local server's SSE
   events), which shows the harness's own ceiling.
3. Stall counts equal a direct millisecond-by-millisecond simulation of a player on
   random hand-built arrival schedules (target: all equal).
4. Open loop: one request in flight at a time (a server of capacity 1 / service time),
   Poisson arrivals above that capacity; the reported latencies against a direct
   calculation of the queue (Lindley's recursion with the service time measured at low
   load), and with each request's own service time. Target: the ratio of their means
   within 0.95 to 1.05, and latency growing with the queue.
5. Requests per second against the canned server with the plan sharded over 1, 2 and 4
   processes (``bench.run(processes=N)``), side by side.
6. Across machines: the same plan against the same server (eSpeak NG with a first audio
   delay injected) run in this process and on a Dask ``LocalCluster`` of two worker
   processes (``bench.run(executor=client)``), in alternating rounds; their medians of
   first audio and their bootstrap intervals, and ``bench.compare``'s interval of the
   difference. Target: the intervals overlap.

Servers run in child processes, so that the harness's CPU is its own.
Run: ``python benchmarks/bench.py`` (``--only delay`` and so on for one part;
``--harness threads`` for parts 1, 4, 5 and 6 on the threaded executor)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np
import pandas as pd
from wire import Capture

from ttskit import bench
from ttskit.bench.execute import DEFAULT_HARNESS, HARNESSES

TEXT = "Hello there."
#: The executor of parts 1, 4, 5 and 6 (``--harness``); part 2 runs both side by side.
HARNESS = DEFAULT_HARNESS
SHORT = ["Hi.", "Yes.", "Okay.", "No."]
#: Part 1's runs: (concurrency, requests, the server's nice).
DELAY_RUNS = ((1, 200, 0), (16, 800, 0), (16, 800, 10), (64, 1280, 10))
#: The concurrencies of part 1 to run (``--concurrency``); None: all.
LEVELS: list[int] | None = None


def start_child(code: str) -> tuple[subprocess.Popen, str]:
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    return child, child.stdout.readline().strip()


def espeak_server(workers: int, nice: int = 0) -> tuple[subprocess.Popen, str]:
    return start_child(
        f"import os, sys, ttskit; os.nice({nice}); "
        f"c = ttskit.local('espeak', workers={workers}, queue=512); "
        "print(c.base_url, flush=True); sys.stdin.read()"
    )


CANNED = r"""
import asyncio, base64, sys
from ttskit import audio
tone = audio.sine(440.0, duration=0.5, sample_rate=24000)
wav = audio.wav_bytes(tone, sample_rate=24000)
rest = b"HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\nContent-Length: %d\r\n\r\n" % len(wav)
rest += wav
# The local server's SSE answer: one event per HTTP chunk, 0.1 s of PCM in each.
pcm = (tone * 32767).astype("<i2").tobytes()
events = [
    b'data: {"type":"conversation.item.audio_output.delta","item_id":"tts_1","delta":"%s"}\n\n'
    % base64.b64encode(pcm[i : i + 4800])
    for i in range(0, len(pcm), 4800)
] + [b"data: [DONE]\n\n"]
sse = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
sse += b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"
async def serve(reader, writer):
    try:
        while True:
            headers = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in headers.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = await reader.readexactly(length)
            writer.write(sse if b'"stream": true' in body else rest)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())
"""


def stop(child: subprocess.Popen) -> None:
    child.stdin.close()
    child.wait(10)


# --- 1. injected delay ---------------------------------------------------------------------------


def percentiles(values: np.ndarray) -> tuple[float, float]:
    return float(np.median(values)), float(np.percentile(values, 95))


def bench_injected_delay() -> None:
    if not Capture.available():
        print("[1] skipped: capturing the loopback wire needs CAP_NET_RAW (run as root)")
        return
    # The server shares the machine's two cores with the harness. At concurrency 16 it keeps
    # both busy, and the scheduler then delays whichever process wakes: the third run gives
    # the server a nice of 10, as if it had cores of its own, to show the harness alone.
    for concurrency, n, nice in DELAY_RUNS:
        if LEVELS is None or concurrency in LEVELS:
            injected_delay(concurrency, n, nice)


def injected_delay(concurrency: int, n: int, nice: int) -> None:
    child, url = espeak_server(workers=16, nice=nice)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    label = f"c={concurrency:2d}" + (f", server at nice {nice}" if nice else "")
    try:
        rows: dict[float, list] = {0.1: [], 0.3: []}
        dropped = opened = 0
        # The two delays in alternating blocks, so that both see the same machine.
        for _ in range(10):
            for delay in (0.1, 0.3):
                target = bench.Target(
                    url,
                    "espeak",
                    "en-us",
                    headers={"x-ttskit-faults": f"first_audio_delay={delay}"},
                )
                with Capture(port) as capture:
                    df = bench.run(
                        target,
                        [TEXT],
                        repeats=n // 10,
                        transports=["sse"],
                        concurrency=concurrency,
                        warmup=concurrency,
                        harness=HARNESS,
                        progress=False,
                    )
                dropped += capture.dropped
                df = df[~df["warmup"] & df["ok"]]
                # The wire times a request from its first segment, after any connection was
                # opened: it is compared with the requests whose connection was kept alive
                # (start_policy excludes connect), as the harness times those from the same
                # moment.
                kept = df["connection_reused"].astype("boolean").fillna(False).to_numpy(bool)
                opened += int((~kept).sum())
                df = df[kept]
                for request, first_audio in zip(df["request_id"], df["first_audio_s"], strict=True):
                    wire = capture.requests.get(request)
                    if wire is not None and wire.first_audio_s is not None:
                        rows[delay].append((first_audio, wire.first_audio_s))
        offsets = {}
        for delay in (0.1, 0.3):
            pairs = np.asarray(rows[delay])
            ours, wire = pairs[:, 0], pairs[:, 1]
            offsets[delay] = (ours - delay, wire - delay)
            for name, values in (("harness", ours), ("wire", wire)):
                median, p95 = percentiles(values)
                print(
                    f"[1] {label} D={delay:.1f}s {name:7s}: first audio median "
                    f"{median * 1000:7.2f} ms, p95 {p95 * 1000:7.2f} ms ({len(values)} "
                    "requests)"
                )
            (m1, p1), (m2, p2) = percentiles(ours), percentiles(wire)
            late_median, late_p95 = percentiles(ours - wire)
            print(
                f"[1] {label} D={delay:.1f}s harness - wire: median "
                f"{(m1 - m2) * 1000:+.2f} ms (target within 1 ms), p95 "
                f"{(p1 - p2) * 1000:+.2f} ms (target within 3 ms); per request: median "
                f"{late_median * 1000:+.2f} ms, p95 {late_p95 * 1000:+.2f} ms"
            )
        for name, k in (("harness", 0), ("wire", 1)):
            (m1, p1), (m2, p2) = percentiles(offsets[0.3][k]), percentiles(offsets[0.1][k])
            print(
                f"[1] {label} {name:7s} first audio - D, D=0.3 s against "
                f"D=0.1 s: median {(m1 - m2) * 1000:+.2f} ms (target within 1 ms), p95 "
                f"{(p1 - p2) * 1000:+.2f} ms (target within 3 ms)"
            )
        print(
            f"[1] {label}: segments the capture dropped: {dropped}; requests left out as "
            f"they opened a connection: {opened}"
        )
    finally:
        stop(child)


# --- 2. throughput -------------------------------------------------------------------------------


def bench_throughput() -> None:
    texts = bench.builtin_texts(["short"])
    for name, (child, url) in (
        ("espeak, short texts", espeak_server(workers=2)),
        ("canned server", start_child(CANNED)),
    ):
        try:
            best = None
            for transport in ("rest", "sse"):
                for concurrency in (4, 16):
                    cpus = {}
                    # The two executors of a process side by side: a thread per request on
                    # ttskit.Client, and one event loop on ttskit.AsyncClient.
                    for harness in ("threads", "asyncio"):
                        df = bench.run(
                            (url, "espeak", "en-us"),
                            texts,
                            repeats=100,
                            transports=[transport],
                            concurrency=concurrency,
                            processes=1,
                            harness=harness,
                            progress=False,
                        )
                        rows = df[~df["warmup"]]
                        ends = rows["scheduled_s"] + rows["done_s"]
                        rate = len(rows) / (ends.max() - rows["scheduled_s"].min())
                        cpu = cpus[harness] = df.attrs["bench"]["harness_cpu_per_request_s"]
                        print(
                            f"[2] {name}, {transport.upper()}, c={concurrency:2d}, {harness:7s}: "
                            f"{rate:6.0f} requests/s, {rows['ok'].mean():.0%} ok, harness CPU "
                            f"{cpu * 1000:.2f} ms per request (ceiling {1 / cpu:.0f} "
                            "requests/s per core)"
                        )
                        best = max(best or 0, rate)
                    print(
                        f"[2] {name}, {transport.upper()}, c={concurrency:2d}: harness CPU per "
                        f"request threads {cpus['threads'] * 1000:.2f} ms, asyncio "
                        f"{cpus['asyncio'] * 1000:.2f} ms (ratio "
                        f"{cpus['asyncio'] / cpus['threads']:.2f}; target <= 0.5 ms)"
                    )
            print(f"[2] {name}: best {best:.0f} requests/s (target >= 200)")
        finally:
            stop(child)


# --- 3. stalls -----------------------------------------------------------------------------------


def simulate(arrival_ms: list[int], length_ms: list[int], buffer_ms: int) -> tuple[int, int]:
    total, received, played, tick = sum(length_ms), 0, 0, 0
    playing = stalled = False
    stalls = stall_ms = 0
    pending = sorted(zip(arrival_ms, length_ms, strict=True))
    while played < total:
        while pending and pending[0][0] <= tick:
            received += pending.pop(0)[1]
        if not playing and (received >= max(buffer_ms, 1) or received == total):
            playing = True
        if playing:
            if received > played:
                played, stalled = played + 1, False
            else:
                stall_ms += 1
                stalls += not stalled
                stalled = True
        tick += 1
    return stalls, stall_ms


def bench_stalls() -> None:
    rng = np.random.default_rng(0)
    equal = total = 0
    for _ in range(500):
        n = int(rng.integers(1, 15))
        lengths = rng.integers(5, 200, size=n).tolist()
        arrivals = np.sort(rng.integers(0, 1500, size=n)).tolist()
        for buffer_ms in bench.stats.STALL_BUFFERS_MS:
            count, seconds = bench.stall_count(
                [a / 1000 for a in arrivals],
                lengths,
                sample_rate=1000,
                start_buffer_s=buffer_ms / 1000,
            )
            expected = simulate(arrivals, lengths, buffer_ms)
            equal += (count, round(seconds * 1000)) == expected
            total += 1
    print(f"[3] stall counts and durations equal to the simulation: {equal}/{total} (target all)")


# --- 4. open loop --------------------------------------------------------------------------------


def bench_open_loop() -> None:
    child, url = espeak_server(workers=1)
    delay = 0.05
    target = bench.Target(
        url, "espeak", "en-us", headers={"x-ttskit-faults": f"first_audio_delay={delay}"}
    )
    try:
        calm = bench.run(
            target, SHORT[:1], repeats=20, transports=["rest"], harness=HARNESS, progress=False
        )
        service = float(calm.loc[~calm["warmup"], "done_s"].median())
        rate = 1.5 / service
        df = bench.run(
            target,
            SHORT[:1],
            rate=rate,
            duration=3.0,
            seed=1,
            warmup=0,
            max_in_flight=1,
            transports=["rest"],
            harness=HARNESS,
            progress=False,
        )
        df = df.sort_values("scheduled_s")
        arrivals = df["scheduled_s"].to_numpy()
        reported = df["done_s"].to_numpy()
        # Each request's own service: from when it went out to its last byte.
        own = (df["done_s"] - df["late_s"]).to_numpy()
        for name, services in (("calm median", np.full(len(df), service)), ("its own", own)):
            finish, predicted = arrivals[0], []
            for arrival, s in zip(arrivals, services, strict=True):
                finish = max(arrival, finish) + s
                predicted.append(finish - arrival)
            predicted = np.asarray(predicted)
            correlation = np.corrcoef(predicted, reported)[0, 1]
            print(
                f"[4] service {name}: mean latency reported / predicted "
                f"{reported.mean() / predicted.mean():.3f} (target 0.95 to 1.05); correlation "
                f"{correlation:.3f}; last reported {reported[-1]:.2f} s, predicted "
                f"{predicted[-1]:.2f} s"
            )
        # A queued request starts when the one before it ended plus the harness's hand-off
        # (the next request prepared, until its first byte goes out), which no service
        # time measured from the first byte holds.
        ends = (df["started_s"] + df["done_s"] - df["late_s"]).to_numpy()
        queued = df["late_s"].to_numpy()[1:] > 0.005
        handoff = (df["started_s"].to_numpy()[1:] - ends[:-1])[queued]
        if handoff.size:
            print(
                f"[4] hand-off between queued requests: median {np.median(handoff) * 1000:.2f} "
                f"ms, {handoff.sum() / max(own.sum(), 1e-9):.1%} of the service time"
            )
        print(
            f"[4] service {service * 1000:.1f} ms calm (capacity {1 / service:.1f}/s), "
            f"{np.median(own) * 1000:.1f} ms median under the queue; arrivals {rate:.1f}/s for "
            f"3 s: {len(df)} requests; mean late start {df['late_s'].mean():.2f} s"
        )
    finally:
        stop(child)


# --- 5. processes --------------------------------------------------------------------------------


def bench_processes() -> None:
    """Requests per second against the canned server as the plan is sharded over processes,
    side by side in one run."""
    child, url = start_child(CANNED)
    texts = bench.builtin_texts(["short"])
    try:
        for processes in (1, 2, 4):
            df = bench.run(
                (url, "espeak", "en-us"),
                texts,
                repeats=60,
                transports=["sse"],
                concurrency=16,
                processes=processes,
                harness=HARNESS,
                progress=False,
            )
            rows = df[~df["warmup"]]
            span = (rows["scheduled_s"] + rows["done_s"]).max() - rows["scheduled_s"].min()
            cpu = df.attrs["bench"]["harness_cpu_per_request_s"]
            print(
                f"[5] canned server, SSE, c=16, processes={processes}: "
                f"{len(rows) / span:6.0f} requests/s, {rows['ok'].mean():.0%} ok, harness CPU "
                f"{cpu * 1000:.2f} ms per request ({os.cpu_count()} cores)"
            )
    finally:
        stop(child)


# --- 6. Dask ------------------------------------------------------------------------------------


def bench_dask() -> None:
    """One process and two Dask workers, the same plan against the same server."""
    import warnings

    from distributed import Client, LocalCluster

    child, url = espeak_server(workers=2, nice=10)
    target = bench.Target(
        url, "espeak", "en-us", headers={"x-ttskit-faults": "first_audio_delay=0.05"}
    )
    plan = dict(repeats=40, transports=["sse"], concurrency=2, harness=HARNESS, progress=False)
    runs: dict[str, list] = {"one process": [], "dask, 2 workers": []}
    try:
        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            for _ in range(2):  # alternating, so that a drift of the machine falls on both
                runs["one process"].append(bench.run(target, SHORT, **plan))
                runs["dask, 2 workers"].append(bench.run(target, SHORT, executor=client, **plan))
    finally:
        stop(child)
    frames = {name: pd.concat(parts, ignore_index=True) for name, parts in runs.items()}
    bounds = []
    for name, df in frames.items():
        row = bench.summary(df, columns=["first_audio_s"], percentiles=[50]).iloc[0]
        bounds.append((row["first_audio_p50_lo"], row["first_audio_p50_hi"]))
        print(
            f"[6] {name}: {int(row['requests'])} requests, {int(row['errors'])} errors, first "
            f"audio median {row['first_audio_p50'] * 1000:.2f} ms "
            f"[{bounds[-1][0] * 1000:.2f}, {bounds[-1][1] * 1000:.2f}], clock uncertainty up "
            f"to {df['clock_uncertainty_s'].max() * 1000:.3f} ms"
        )
    a, b = frames.values()
    (lo_a, hi_a), (lo_b, hi_b) = bounds
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        diff = bench.compare(a, b, percentiles=[50]).iloc[0]
    print(
        f"[6] dask minus one process at the median: {diff['diff_p50'] * 1000:+.2f} ms "
        f"[{diff['diff_p50_lo'] * 1000:+.2f}, {diff['diff_p50_hi'] * 1000:+.2f}]; intervals "
        f"{'overlap' if max(lo_a, lo_b) <= min(hi_a, hi_b) else 'do not overlap'} "
        f"(target overlap)"
    )
    for warning in caught:
        print(f"[6] bench.compare: {warning.message}")


PARTS = {
    "stalls": lambda: bench_stalls(),
    "delay": lambda: bench_injected_delay(),
    "throughput": lambda: bench_throughput(),
    "open-loop": lambda: bench_open_loop(),
    "processes": lambda: bench_processes(),
    "dask": lambda: bench_dask(),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=list(PARTS), action="append", help="run only these")
    parser.add_argument(
        "--harness",
        choices=HARNESSES,
        default=DEFAULT_HARNESS,
        help=f"the executor of parts 1, 4, 5, 6 (part 2 runs both; default: {DEFAULT_HARNESS})",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        action="append",
        help="part 1 at these concurrencies only (1, 16, 64)",
    )
    args = parser.parse_args()
    global HARNESS, LEVELS
    HARNESS, LEVELS = args.harness, args.concurrency
    for name in args.only or PARTS:
        PARTS[name]()


if __name__ == "__main__":
    main()
