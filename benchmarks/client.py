"""Client figures, as ratios measured in one run.

1. CPU time to receive a 60 s stream (24 kHz s16, 100 ms deltas): ttskit against the
   official ``together`` SDK consuming the same stream (target <= 0.5x), and audio
   seconds decoded per CPU second (target >= 3000). The stream is pre-generated and served
   by a replay server in a child process, so that only the client's CPU is counted.
2. ``first_audio_s`` against a raw-socket measurement of the same request to the local
   server with 50 ms of injected latency, medians over 50 requests (target within 1 ms).
3. Peak traced memory while collecting a 10-minute stream, against the size of its
   float32 audio (target <= 2x).

Run: ``python benchmarks/client.py``
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import socket
import statistics
import subprocess
import sys
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from ttskit import audio
from ttskit.client import Client

RATE = 24000
DELTA_S = 0.1


def sse_body(seconds: float, shape: int) -> bytes:
    """``seconds`` of a tone as SSE audio deltas of ``DELTA_S``, then [DONE]."""
    tone = audio.sine(220.0, duration=seconds, sample_rate=RATE, amplitude=0.3)
    pcm = audio.encode_pcm(tone, encoding="pcm_s16le")
    step = int(DELTA_S * RATE) * 2
    events = []
    for i in range(0, len(pcm), step):
        data = base64.b64encode(pcm[i : i + step]).decode()
        if shape == 1:
            payload = {
                "type": "conversation.item.audio_output.delta",
                "item_id": "tts_1",
                "delta": data,
            }
        else:
            payload = {"object": "audio.tts.chunk", "model": "replay", "b64": data}
        events.append(b"data: " + json.dumps(payload).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events


def serve_events(port_out, bodies: dict[str, list[bytes]]) -> None:
    """A child process answering POST /v1/<name>/audio/speech with ``bodies[name]``, one
    HTTP chunk per event, as the local server does."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            events = bodies[self.path.split("/")[2]]
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for event in events:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.write(b"0\r\n\r\n")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_out.put(server.server_address[1])
    server.serve_forever()


def cpu_of(*consumers, repeats: int = 15) -> list[float]:
    """Smallest CPU time of each consumer over ``repeats`` rounds, run in turn so that a
    busy moment of the machine weighs on all of them alike."""
    times: list[list[float]] = [[] for _ in consumers]
    for _ in range(repeats):
        for consume, spent in zip(consumers, times, strict=True):
            started = time.process_time()
            consume()
            spent.append(time.process_time() - started)
    return [min(spent) for spent in times]


def bench_cpu(base: str) -> None:
    client = Client(f"{base}/shape2", model="replay", voice="v")
    local_shape = Client(f"{base}/shape1", model="replay", voice="v")

    def with_ttskit() -> None:
        speech = client.speak("x", stream=True)
        assert abs(speech.duration - 60) < 0.01

    def with_ttskit_shape1() -> None:
        assert abs(local_shape.speak("x", stream=True).duration - 60) < 0.01

    from together import Together

    sdk = Together(api_key="unused", base_url=f"{base}/shape2", max_retries=0)

    def with_together() -> None:
        # The SDK yields base64 chunks; decoding them to float32 is what ttskit also does.
        parts = []
        stream = sdk.audio.speech.create(
            model="replay",
            input="x",
            voice="v",
            stream=True,
            response_format="raw",
            response_encoding="pcm_s16le",
        )
        for chunk in stream:
            parts.append(
                np.frombuffer(base64.b64decode(chunk.b64), dtype="<i2").astype(np.float32) / 32768
            )
        assert abs(len(np.concatenate(parts)) / RATE - 60) < 0.01

    with_ttskit(), with_together()  # warm up connections and imports
    ours, theirs, ours_shape1 = cpu_of(with_ttskit, with_together, with_ttskit_shape1)
    print(
        f"[1] 60 s stream, CPU: ttskit {ours * 1000:.1f} ms, together SDK {theirs * 1000:.1f} ms: "
        f"ratio {ours / theirs:.2f}x (target <= 0.5x)"
    )
    print(
        f"[1] audio decoded per CPU second: {60 / ours:.0f} s/s (target >= 3000); "
        f"with the local server's payload shape: {60 / ours_shape1:.0f} s/s"
    )


def first_audio_raw(host: str, port: int, body: bytes, headers: str) -> float:
    """Seconds from sending the request to reading the first complete audio delta."""
    request = (
        f"POST /v1/audio/speech HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{headers}Connection: close\r\n\r\n"
    ).encode() + body
    with socket.create_connection((host, port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        sock.sendall(request)
        received = b""
        while True:
            data = sock.recv(65536)
            if not data:
                raise RuntimeError("the stream ended before any audio")
            received += data
            at = received.find(b'"delta"')
            if at >= 0 and received.find(b"\n\n", at) >= 0:
                first_audio = time.perf_counter() - started
                while sock.recv(65536):  # read to the end, as a client that plays it would
                    pass
                return first_audio


def bench_first_audio() -> None:
    # The server runs in a child process, so that its work does not share this one's GIL.
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from ttskit.server.background import start_server; import sys, time; "
            "s = start_server('espeak', workers=1); print(s.port, flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(child.stdout.readline())
        fault = "first_audio_delay=0.05"
        client = Client(
            f"http://127.0.0.1:{port}/v1",
            model="espeak",
            voice="en-us",
            headers={"x-ttskit-faults": fault},
        )
        text = "Hello there, this is a latency test."
        body = json.dumps(
            {
                "model": "espeak",
                "input": text,
                "voice": "en-us",
                "stream": True,
                "response_format": "raw",
                "response_encoding": "pcm_s16le",
                "sample_rate": RATE,
            }
        ).encode()
        ours, raw = [], []
        client.speak(text, stream=True)  # warm up
        for _ in range(50):
            ours.append(client.speak(text, stream=True).timing.first_audio_s)
            raw.append(first_audio_raw("127.0.0.1", port, body, f"x-ttskit-faults: {fault}\r\n"))
        ours_ms, raw_ms = statistics.median(ours) * 1000, statistics.median(raw) * 1000
        print(
            f"[2] first_audio_s median {ours_ms:.2f} ms vs raw socket {raw_ms:.2f} ms: "
            f"difference {ours_ms - raw_ms:+.2f} ms (target within 1 ms)"
        )
    finally:
        child.stdin.close()
        child.wait(10)


def bench_memory(base: str) -> None:
    client = Client(f"{base}/long", model="replay", voice="v", timeout=120)
    tracemalloc.start()
    speech = client.speak("x", stream=True)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    size = speech.audio.nbytes
    print(
        f"[3] 10-minute stream: peak traced {peak / 2**20:.1f} MiB for {size / 2**20:.1f} MiB "
        f"of float32 audio: {peak / size:.2f}x (target <= 2x)"
    )


def main() -> None:
    bodies = {"shape1": sse_body(60, 1), "shape2": sse_body(60, 2), "long": sse_body(600, 1)}
    ports = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve_events, args=(ports, bodies), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{ports.get(timeout=60)}/v1"
    try:
        bench_cpu(base)
        bench_memory(base)
    finally:
        server.terminate()
        server.join()
    bench_first_audio()


if __name__ == "__main__":
    main()
