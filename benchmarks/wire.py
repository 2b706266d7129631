"""Kernel timestamps of HTTP requests on the loopback wire, the reference of bench.py.

``Capture(port)`` records, in a process of its own, every TCP segment to and from
``port`` on ``lo`` through a raw ``AF_PACKET`` socket, each with the time the kernel
received it (``SO_TIMESTAMPNS``). When stopped it returns, per request id, when the
request's first segment went out and when the answer's first audio (the first complete
``"delta"`` event of an SSE body), first byte and end arrived: the same requests the
harness measured, timed where no user-space scheduling or interpreter lock can touch
them. Needs ``CAP_NET_RAW`` (root); ``Capture.available()`` says whether it can run.
"""

from __future__ import annotations

import bisect
import itertools
import multiprocessing
import re
import socket
import struct
import time
from collections import defaultdict
from dataclasses import dataclass

SO_TIMESTAMPNS = 35
ETH_P_ALL = 0x0003
PACKET_HOST = 0  # a segment as it is delivered, once (loopback also shows it outgoing)
PACKET_STATISTICS = 6
SOL_PACKET = 263
REQUEST_ID = re.compile(rb"\r\nx-request-id: *([^\r\n]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Timed:
    """One request's times in seconds since its first segment went out."""

    first_byte_s: float
    first_audio_s: float | None
    done_s: float | None


def _segments(port: int, ready, stop, out) -> None:
    """Child process: capture segments of ``port`` until ``stop`` is set."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 << 20)
    sock.bind(("lo", 0))
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.settimeout(0.1)
    ready.set()
    # (client port, to the server?, timestamp, payload), in the order the kernel saw them
    segments: list[tuple[int, bool, float, bytes]] = []
    until = None  # once stopped: a last half second for what the kernel still holds
    while until is None or time.monotonic() < until:
        if until is None and stop.is_set():
            until = time.monotonic() + 0.5
        try:
            data, ancillary, _, address = sock.recvmsg(1 << 17, 64)
        except TimeoutError:
            if until is not None:
                break
            continue
        if address[2] != PACKET_HOST or data[12:14] != b"\x08\x00":  # IPv4 only
            continue
        ip = data[14:]
        tcp = ip[(ip[0] & 15) * 4 :]
        if ip[9] != 6:
            continue
        source, destination = struct.unpack("!HH", tcp[:4])
        if port not in (source, destination):
            continue
        payload = tcp[(tcp[12] >> 4) * 4 :]
        if not payload:
            continue
        to_server = destination == port
        client = source if to_server else destination
        segments.append((client, to_server, _kernel_time(ancillary), payload))
    dropped = struct.unpack("II", sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))[1]
    out.send((dropped, _requests(segments)))


def _kernel_time(ancillary: list) -> float | None:
    """The ``SO_TIMESTAMPNS`` stamp among a segment's ancillary data, in seconds."""
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            seconds, nanoseconds = struct.unpack("qq", value[:16])
            return seconds + nanoseconds * 1e-9
    return None


def _requests(segments: list) -> dict[str, Timed]:
    """Pair each connection's requests with its answers (HTTP/1.1 without pipelining)."""
    sent: dict[int, list[float]] = defaultdict(list)
    received: dict[int, list[tuple[float, bytes]]] = defaultdict(list)
    for client, to_server, stamp, payload in segments:
        if to_server:
            if payload.startswith((b"POST ", b"GET ")):
                sent[client].append(stamp)
        else:
            received[client].append((stamp, payload))
    timed: dict[str, Timed] = {}
    for client, pieces in received.items():
        stream = b"".join(p for _, p in pieces)
        ends = list(itertools.accumulate(len(p) for _, p in pieces))
        stamps = [stamp for stamp, _ in pieces]

        starts = [m.start() for m in re.finditer(rb"HTTP/1\.1 \d{3} ", stream)]
        for number, begin in enumerate(starts):
            if number >= len(sent[client]):
                break
            end = starts[number + 1] if number + 1 < len(starts) else len(stream)
            answer = stream[begin:end]
            found = REQUEST_ID.search(answer)
            if found is None:
                continue
            origin = sent[client][number]
            delta = answer.find(b'"delta"')
            event_end = answer.find(b"\n\n", delta) if delta >= 0 else -1
            last = answer.rfind(b"0\r\n\r\n")
            timed[found.group(1).decode()] = Timed(
                first_byte_s=_stamp_at(ends, stamps, begin) - origin,
                first_audio_s=_stamp_at(ends, stamps, begin + event_end) - origin
                if event_end >= 0
                else None,
                done_s=_stamp_at(ends, stamps, begin + last + 4) - origin if last >= 0 else None,
            )
    return timed


def _stamp_at(ends: list[int], stamps: list[float], offset: int) -> float:
    """When the segment holding byte ``offset`` of a connection's stream arrived."""
    return stamps[bisect.bisect_right(ends, offset)]


class Capture:
    """Capture the loopback traffic of one server port in a child process.

    >>> with Capture(port) as capture:  # doctest: +SKIP
    ...     ...  # send requests
    >>> capture.requests["req_..."].first_audio_s  # doctest: +SKIP
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.requests: dict[str, Timed] = {}
        self.dropped = 0

    @staticmethod
    def available() -> bool:
        try:
            socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(ETH_P_ALL)).close()
        except (PermissionError, OSError, AttributeError):
            return False
        return True

    def __enter__(self) -> Capture:
        context = multiprocessing.get_context("spawn")
        self._ready, self._stop = context.Event(), context.Event()
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_segments, args=(self.port, self._ready, self._stop, send), daemon=True
        )
        self._process.start()
        if not self._ready.wait(30):
            raise RuntimeError("the capture process did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self.dropped, self.requests = self._receive.recv()
        self._process.join(10)
