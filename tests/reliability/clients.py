"""Badly behaved clients on raw sockets, for the reliability tests and the soak script."""

from __future__ import annotations

import json
import socket
from typing import Any

LONG_TEXT = " ".join(f"This is sentence number {n} of a long text." for n in range(60))


def speech_request(
    port: int, body: dict[str, Any], *, headers: dict[str, str] | None = None
) -> bytes:
    """The bytes of a ``POST /v1/audio/speech`` with ``body`` as JSON."""
    payload = json.dumps(body).encode()
    head = [
        "POST /v1/audio/speech HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


class StalledClient:
    """Asks for a long stream, reads its status line and headers, then stops reading.

    Its receive buffer is small, so the server soon has nothing it can write. ``source``
    is the loopback address it connects from (another client than 127.0.0.1's).
    """

    def __init__(
        self, port: int, body: dict[str, Any] | None = None, *, source: str = "127.0.0.1"
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(60)
        self.sock.bind((source, 0))
        self.sock.connect(("127.0.0.1", port))
        body = body or {"model": "espeak", "voice": "en-us", "input": LONG_TEXT, "stream": True}
        self.sock.sendall(speech_request(port, body))
        self.head = b""

    def read_head(self) -> bytes:
        """Reads up to the end of the response headers (blocks until the slot is held)."""
        while b"\r\n\r\n" not in self.head:
            chunk = self.sock.recv(1)
            if not chunk:
                break
            self.head += chunk
        return self.head

    def drain(self) -> tuple[bytes, bool]:
        """Everything the server still sends, and whether it closed the connection."""
        received = []
        try:
            while chunk := self.sock.recv(1 << 20):
                received.append(chunk)
        except ConnectionResetError:
            pass
        except TimeoutError:
            return b"".join(received), False
        return b"".join(received), True

    def close(self) -> None:
        self.sock.close()


class HalfSentRequest:
    """A connection that sends part of a request and then nothing (slowloris)."""

    def __init__(self, port: int, part: bytes) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.sendall(part)

    def answer(self) -> bytes:
        """What the server sends before it closes the connection."""
        received = []
        try:
            while chunk := self.sock.recv(65536):
                received.append(chunk)
        except ConnectionResetError:
            pass
        return b"".join(received)

    def close(self) -> None:
        self.sock.close()
