"""Idle sessions and sockets against a server with few descriptors.

``held_open`` starts ``ttskit serve`` with its open-file limit set (soft and hard), opens
idle WebSocket sessions and idle sockets to it from one loopback address, and keeps them
open while the caller, from another address, is served. ``descriptor_case`` measures
that: how long a speech request and ``/health`` take, and how many lines the server
logged. ``make soak`` runs it at 1,024 descriptors; ``test_descriptors`` at 256.
"""

from __future__ import annotations

import asyncio
import base64
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
#: where the idle clients come from; the well-behaved one comes from 127.0.0.1
IDLE_ADDRESS = "127.0.0.2"
BODY = {"model": "espeak", "voice": "en-us", "input": "I am served.", "response_format": "wav"}


@dataclass
class Held:
    """What the idle clients got: a count per outcome (``"101"``, ``"503"``, ``"closed"``)."""

    sessions: Counter[str] = field(default_factory=Counter)
    sockets: int = 0


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _limit_descriptors(descriptors: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (descriptors, descriptors))


@contextmanager
def limited_server(descriptors: int, *flags: str) -> Iterator[Server]:
    """``ttskit serve`` (eSpeak, two slots) allowed ``descriptors`` open files."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ttskit.cli", "serve", "--engine", "espeak", "--workers", "2",
         "--port", str(port), *flags],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: _limit_descriptors(descriptors),
    )  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}", process)
    reader = threading.Thread(target=lambda: server.log.extend(process.stderr), daemon=True)
    reader.start()
    try:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(f"the server exited: {''.join(server.log)[-2000:]}")
            try:
                if requests.get(f"{server.url}/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield server
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        finally:
            process.kill()
            reader.join(timeout=10)


async def _open_session(port: int, path: str) -> tuple[str, asyncio.StreamWriter | None]:
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=(IDLE_ADDRESS, 0)
        )
    except OSError:
        return "refused", None
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
        writer.close()
        return "closed", None
    status = head.split(b" ", 2)[1].decode()
    if status != "101":
        writer.close()
        return status, None
    return status, writer


async def _open_socket(port: int) -> asyncio.StreamWriter | None:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(IDLE_ADDRESS, 0))
    except OSError:
        return None
    return writer


@contextmanager
def held_open(port: int, sessions: int, sockets: int) -> Iterator[Held]:
    """``sessions`` idle WebSocket sessions and ``sockets`` silent sockets, held open."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * (sessions + sockets) + 256
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))
    loop = asyncio.new_event_loop()
    writers: list[asyncio.StreamWriter] = []
    held = Held()

    async def open_all() -> None:
        path = "/v1/audio/speech/websocket?model=espeak"
        for start in range(0, sessions, 100):
            batch = [_open_session(port, path) for _ in range(min(100, sessions - start))]
            for status, writer in await asyncio.gather(*batch):
                held.sessions[status] += 1
                if writer is not None:
                    writers.append(writer)
        for writer in await asyncio.gather(*(_open_socket(port) for _ in range(sockets))):
            if writer is not None:
                held.sockets += 1
                writers.append(writer)

    async def close_all() -> None:
        for writer in writers:
            writer.transport.abort()
        await asyncio.sleep(0)

    try:
        loop.run_until_complete(open_all())
        yield held
    finally:
        loop.run_until_complete(close_all())
        loop.close()


@dataclass
class Figures:
    held: Held
    served_s: list[float]
    health_s: list[float]
    statuses: list[int]
    log_lines: int


def descriptor_case(descriptors: int, sessions: int, sockets: int, probes: int = 5) -> Figures:
    """The well-behaved client's times while idle clients hold what they can."""
    served: list[float] = []
    health: list[float] = []
    statuses: list[int] = []
    with limited_server(descriptors) as server:
        port = int(server.url.rsplit(":", 1)[1])
        with held_open(port, sessions, sockets) as held:
            for _ in range(probes):
                started = time.perf_counter()
                answer = requests.get(f"{server.url}/health", timeout=30)
                health.append(time.perf_counter() - started)
                statuses.append(answer.status_code)
                started = time.perf_counter()
                answer = requests.post(f"{server.url}/v1/audio/speech", json=BODY, timeout=30)
                served.append(time.perf_counter() - started)
                statuses.append(answer.status_code)
                if answer.status_code == 200 and not answer.content.startswith(b"RIFF"):
                    statuses[-1] = -1  # 200 without audio
    return Figures(held, served, health, statuses, len(server.log))


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--descriptors", type=int, default=1024)
    parser.add_argument("--sessions", type=int, default=1100)
    parser.add_argument("--sockets", type=int, default=100)
    args = parser.parse_args()
    figures = descriptor_case(args.descriptors, args.sessions, args.sockets)
    print(f"descriptors: {args.descriptors}; idle from {IDLE_ADDRESS}: {args.sessions} "
          f"sessions ({dict(figures.held.sessions)}), {figures.held.sockets} sockets")  # fmt: skip
    print(f"  speech from 127.0.0.1: max {max(figures.served_s):.3f} s; "
          f"/health: max {max(figures.health_s):.3f} s; statuses {Counter(figures.statuses)}")  # fmt: skip
    print(f"  server log: {figures.log_lines} lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
