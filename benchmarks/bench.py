"""Figures of the latency harness (ttskit.bench), as ratios measured in one run.

1. Injected delay: against the local server with ``first_audio_delay`` D injected per
   request (SSE, short text), the measured first audio minus D is a constant: its median
   moves by at most 1 ms and its p95 by at most 3 ms between D = 0.1 s and D = 0.3 s, at
   concurrency 1 and 16; and the harness agrees with a raw-socket client sending the same
   requests (medians within 1 ms, p95 within 3 ms), run side by side so that both see the
   same server and machine load: one worker each at concurrency 1, eight each at 16.
2. The harness is not the bottleneck: requests per second against espeak with the
   built-in short texts over REST and SSE (target >= 200), and the harness's own CPU per
   request; the same against a canned server that answers at once (a WAV, or the local
   server's SSE events), which shows the harness's own ceiling.
3. Stall counts equal a direct millisecond-by-millisecond simulation of a player on
   random hand-built arrival schedules (target: all equal).
4. Open loop: one request in flight at a time (a server of capacity 1 / service time),
   Poisson arrivals above that capacity; the reported latencies against a direct
   calculation of the queue (Lindley's recursion with the service time measured at low
   load). Target: the ratio of their means near 1, and latency growing with the queue.

Servers run in child processes, so that the harness's CPU is its own.
Run: ``python benchmarks/bench.py``
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ttskit import bench

TEXT = "Hello there, this is a latency test."
SHORT = ["Hi.", "Yes.", "Okay.", "No."]


def start_child(code: str) -> tuple[subprocess.Popen, str]:
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    return child, child.stdout.readline().strip()


def espeak_server(workers: int) -> tuple[subprocess.Popen, str]:
    return start_child(
        "import sys, ttskit; "
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


def raw_first_audio(port: int, body: bytes, fault: str, sock: socket.socket | None) -> tuple:
    """First audio of one SSE request over a kept-alive raw socket: seconds from sending
    to reading the first complete audio delta event."""
    if sock is None:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    request = (
        f"POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"x-ttskit-faults: {fault}\r\n\r\n"
    ).encode() + body
    started = time.perf_counter()
    sock.sendall(request)
    received = b""
    first = None
    while True:
        data = sock.recv(65536)
        if not data:
            raise RuntimeError("the server closed the connection")
        received += data
        if first is None:
            at = received.find(b'"delta"')
            if at >= 0 and received.find(b"\n\n", at) >= 0:
                first = time.perf_counter() - started
        if b"[DONE]" in received and received.endswith(b"0\r\n\r\n"):
            return first, sock


def raw_run(port: int, fault: str, concurrency: int, requests: int) -> np.ndarray:
    body = json.dumps(
        {
            "model": "espeak",
            "input": TEXT,
            "voice": "en-us",
            "stream": True,
            "response_format": "raw",
            "response_encoding": "pcm_s16le",
            "sample_rate": 24000,
        }
    ).encode()
    results: list[float] = []
    lock = threading.Lock()
    left = [requests]

    def worker() -> None:
        sock = None
        _, sock = raw_first_audio(port, body, fault, sock)  # warm the connection
        while True:
            with lock:
                if not left[0]:
                    break
                left[0] -= 1
            first, sock = raw_first_audio(port, body, fault, sock)
            with lock:
                results.append(first)
        sock.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return np.asarray(results)


def harness_block(target: bench.Target, concurrency: int, requests: int) -> np.ndarray:
    df = bench.run(
        target,
        [TEXT],
        repeats=requests,
        transports=["sse"],
        concurrency=concurrency,
        warmup=concurrency,
        progress=False,
    )
    return df.loc[~df["warmup"] & df["ok"], "first_audio_s"].to_numpy()


def bench_injected_delay() -> None:
    child, url = espeak_server(workers=16)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    try:
        for concurrency, n in ((1, 60), (16, 240)):
            offsets = {}
            for delay in (0.1, 0.3):
                fault = f"first_audio_delay={delay}"
                target = bench.Target(url, "espeak", "en-us", headers={"x-ttskit-faults": fault})
                ours, raw = [], []
                # Harness and raw-socket workers side by side (one each at concurrency 1, 8
                # each at 16): the same server and the same machine load for both.
                workers = max(1, concurrency // 2)
                for _ in range(10):
                    with ThreadPoolExecutor(1) as pool:
                        raw_future = pool.submit(raw_run, port, fault, workers, n // 10)
                        ours.append(harness_block(target, workers, max(1, n // 10 // workers)))
                        raw.append(raw_future.result())
                ours, raw = np.concatenate(ours), np.concatenate(raw)
                offsets[delay] = ours - delay
                for name, values in (("harness", ours), ("raw socket", raw)):
                    print(
                        f"[1] c={concurrency:2d} D={delay:.1f}s {name:10s}: first audio median "
                        f"{np.median(values) * 1000:7.2f} ms, p95 {np.percentile(values, 95) * 1000:7.2f} ms"
                    )
                print(
                    f"[1] c={concurrency:2d} D={delay:.1f}s harness - raw socket: median "
                    f"{(np.median(ours) - np.median(raw)) * 1000:+.2f} ms (target within 1 ms), "
                    f"p95 {(np.percentile(ours, 95) - np.percentile(raw, 95)) * 1000:+.2f} ms "
                    "(target within 3 ms)"
                )
            low, high = offsets[0.1], offsets[0.3]
            print(
                f"[1] c={concurrency:2d} first audio - D, D=0.3 s against D=0.1 s: median "
                f"{(np.median(high) - np.median(low)) * 1000:+.2f} ms (target within 1 ms), p95 "
                f"{(np.percentile(high, 95) - np.percentile(low, 95)) * 1000:+.2f} ms "
                "(target within 3 ms)"
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
                    df = bench.run(
                        (url, "espeak", "en-us"),
                        texts,
                        repeats=100,
                        transports=[transport],
                        concurrency=concurrency,
                        progress=False,
                    )
                    rows = df[~df["warmup"]]
                    span = (rows["scheduled_s"] + rows["done_s"]).max() - rows["scheduled_s"].min()
                    rate = len(rows) / span
                    cpu = df.attrs["bench"]["harness_cpu_per_request_s"]
                    print(
                        f"[2] {name}, {transport.upper()}, c={concurrency:2d}: {rate:6.0f} "
                        f"requests/s, {rows['ok'].mean():.0%} ok, harness CPU "
                        f"{cpu * 1000:.2f} ms per request (ceiling {1 / cpu:.0f} requests/s "
                        "per core)"
                    )
                    best = max(best or 0, rate)
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
        calm = bench.run(target, SHORT[:1], repeats=20, transports=["rest"], progress=False)
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
            progress=False,
        )
        df = df.sort_values("scheduled_s")
        arrivals = df["scheduled_s"].to_numpy()
        finish, predicted = arrivals[0], []
        for arrival in arrivals:
            finish = max(arrival, finish) + service
            predicted.append(finish - arrival)
        predicted = np.asarray(predicted)
        reported = df["done_s"].to_numpy()
        correlation = np.corrcoef(predicted, reported)[0, 1]
        print(
            f"[4] service {service * 1000:.1f} ms (capacity {1 / service:.1f}/s), arrivals "
            f"{rate:.1f}/s for 3 s: {len(df)} requests; last latency reported "
            f"{reported[-1]:.2f} s, predicted {predicted[-1]:.2f} s"
        )
        print(
            f"[4] mean latency reported / predicted: {reported.mean() / predicted.mean():.3f} "
            f"(target near 1); correlation {correlation:.3f}; mean late start "
            f"{df['late_s'].mean():.2f} s"
        )
    finally:
        stop(child)


def main() -> None:
    bench_stalls()
    bench_injected_delay()
    bench_throughput()
    bench_open_loop()


if __name__ == "__main__":
    main()
