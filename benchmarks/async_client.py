"""Which async HTTP library AsyncClient reads with: harness CPU per request, in one run.

A loop of SSE requests (``stream: true``, a short sentence) at concurrency 8 against the
local eSpeak server, which runs in a child process so that only this process's CPU is
counted (``time.process_time``). Each library sends the same body and feeds the same
``AnswerDecoder`` and ``Recorder`` as ttskit does, so the difference is the library's:
aiohttp against httpx; ``ttskit.AsyncClient`` (on aiohttp, read with ``drain``) shows what
the client adds to its library, and the sync ``ttskit.Client`` on 8 threads is for
reference. The floor is aiohttp reading the same answers and dropping the bytes: no
decoding, no recording, what the transport alone costs.

Run: ``python benchmarks/async_client.py [--requests 160]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from ttskit.client import AsyncClient, Client
from ttskit.client.decoding import AnswerDecoder
from ttskit.client.recording import Recorder

CONCURRENCY = 8
TEXT = "Hello there, how are you today?"
BODY = {
    "model": "espeak",
    "voice": "en-us",
    "input": TEXT,
    "stream": True,
    "response_format": "raw",
    "response_encoding": "pcm_s16le",
    "sample_rate": 24000,
}


def start_server() -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-c",
        "import sys; from ttskit.cli import main; sys.exit(main())",
        "serve",
        "--engine",
        "espeak",
        "--port",
        str(port),
    ]
    server = subprocess.Popen(
        [*command, "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return server, base_url
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the local server did not start")


async def run_httpx(base_url: str, n: int) -> None:
    import httpx

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CONCURRENCY)) as client:

        async def one() -> None:
            async with client.stream("POST", f"{base_url}/audio/speech", json=BODY) as answer:
                recorder = Recorder(24000)
                decoder = AnswerDecoder(
                    answer.headers["content-type"], encoding="pcm_s16le", recorder=recorder
                )
                async for data in answer.aiter_raw():
                    decoder.decode(data, time.perf_counter())
                decoder.flush(time.perf_counter())

        await _loop(one, n)


async def run_aiohttp(base_url: str, n: int) -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            async with session.post(f"{base_url}/audio/speech", json=BODY) as answer:
                recorder = Recorder(24000)
                decoder = AnswerDecoder(
                    answer.headers["content-type"], encoding="pcm_s16le", recorder=recorder
                )
                async for data in answer.content.iter_any():
                    decoder.decode(data, time.perf_counter())
                decoder.flush(time.perf_counter())

        await _loop(one, n)


async def run_aiohttp_floor(base_url: str, n: int) -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            async with session.post(f"{base_url}/audio/speech", json=BODY) as answer:
                async for _ in answer.content.iter_any():
                    pass

        await _loop(one, n)


async def _loop(one, n: int) -> None:
    remaining = iter(range(n))

    async def worker() -> None:
        for _ in remaining:
            await one()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def run_ttskit_async(base_url: str, n: int) -> None:
    async with AsyncClient(base_url, model="espeak", voice="en-us") as client:

        async def one() -> None:
            async with client.stream(TEXT, sample_rate=24000) as stream:
                await stream.drain()

        await _loop(one, n)


def run_sync(base_url: str, n: int) -> None:
    client = Client(base_url, model="espeak", voice="en-us")

    def one(_: int) -> None:
        with client.stream(TEXT, sample_rate=24000) as stream:
            stream.speech()

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(one, range(n)))
    client.close()


def measure(name: str, run, base_url: str, n: int) -> float:
    run(base_url, 8)  # warm up: connections, imports, the engine
    cpu, wall = time.process_time(), time.perf_counter()
    run(base_url, n)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    per_request_ms = cpu / n * 1000
    print(f"{name:<28} {per_request_ms:6.2f} ms CPU/request   ({n} requests in {wall:.1f} s)")
    return per_request_ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=160)
    n = parser.parse_args().requests
    os.environ.pop("TTSKIT_BASE_URL", None)
    server, base_url = start_server()
    try:
        print(f"SSE requests at concurrency {CONCURRENCY}, harness CPU (time.process_time)")
        figures = {
            "aiohttp, bytes dropped": measure(
                "aiohttp, bytes dropped",
                lambda u, k: asyncio.run(run_aiohttp_floor(u, k)),
                base_url,
                n,
            ),
            "httpx.AsyncClient": measure(
                "httpx.AsyncClient", lambda u, k: asyncio.run(run_httpx(u, k)), base_url, n
            ),
            "aiohttp.ClientSession": measure(
                "aiohttp.ClientSession", lambda u, k: asyncio.run(run_aiohttp(u, k)), base_url, n
            ),
            "ttskit.AsyncClient": measure(
                "ttskit.AsyncClient",
                lambda u, k: asyncio.run(run_ttskit_async(u, k)),
                base_url,
                n,
            ),
            "ttskit.Client (8 threads)": measure(
                "ttskit.Client (8 threads)", run_sync, base_url, n
            ),
        }
        ratio = figures["httpx.AsyncClient"] / figures["aiohttp.ClientSession"]
        print(f"httpx / aiohttp CPU per request: {ratio:.2f}x")
        floor = figures["aiohttp, bytes dropped"]
        print(
            f"ttskit.AsyncClient / the transport's floor: "
            f"{figures['ttskit.AsyncClient'] / floor:.2f}x "
            f"(+{figures['ttskit.AsyncClient'] - floor:.2f} ms per request)"
        )
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
