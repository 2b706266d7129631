"""A real HTTP server on loopback that replays canned answers, for the shapes, faults and
timings the local server does not produce (other SSE payload shapes, binary bodies,
429 with Retry-After, bodies cut mid-chunk, chosen chunking and delays)."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from ttskit import audio


@dataclass
class Answer:
    """One canned answer.

    ``pieces`` are written one by one (each an HTTP chunk unless ``chunked`` is False),
    with ``piece_delay_s`` before each; ``cut`` closes the connection after the pieces
    without ending the body; ``hold`` keeps the body open after the pieces until the client
    hangs up; ``headers_delay_s`` delays the status line. ``before``, when
    given, is called on the server's thread before the status line (with -1) and before
    each piece (with its index): a test's hook to move an injected clock, or to hold a
    piece until the client has read the one before.
    """

    pieces: Sequence[bytes] = ()
    status: int = 200
    content_type: str = "text/event-stream"
    headers: dict[str, str] = field(default_factory=dict)
    headers_delay_s: float = 0.0
    piece_delay_s: float = 0.0
    chunked: bool = True
    cut: bool = False
    hold: bool = False
    before: Callable[[int], None] | None = None


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: dict | None


class _Server(ThreadingHTTPServer):
    # Tests open dozens of connections at once (an open-loop burst): a backlog of 5, the
    # default, would leave some waiting a second for the kernel to retry their handshake.
    request_queue_size = 128


class ReplayServer:
    """Answers ``POST /v1/audio/speech`` with the queued answers in order (the last one
    again once the queue is down to it), and ``GET /v1/models`` / ``/v1/voices`` with
    small listings. Every request is recorded in ``received``; when a client hangs up
    before its answer ended, how many pieces had been written goes in ``hangups`` (and
    ``hung_up`` is set)."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self.received: list[Received] = []
        self.ports: list[int] = []  # client port of each speech request: same port, same connection
        self.hangups: list[int] = []
        self.hung_up = threading.Event()
        self.models = {"data": [{"id": "replay", "object": "model"}]}
        self.voices = {"data": [{"model": "replay", "voices": [{"id": "v1", "name": "alice"}]}]}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # each piece leaves at once, as from a real server

            def log_message(self, *args: object) -> None:
                pass

            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                server.received.append(
                    Received(
                        self.command,
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        json.loads(raw) if raw else None,
                    )
                )

            def handle_one_request(self) -> None:
                try:
                    super().handle_one_request()
                except ConnectionResetError:  # the client dropped a kept-alive connection
                    self.close_connection = True

            def do_GET(self) -> None:
                self._record()
                path = self.path.split("?")[0]
                listing = {"/v1/models": server.models, "/v1/voices": server.voices}.get(path)
                if listing is None:
                    server.write(
                        self,
                        Answer(
                            [b'{"error":{"message":"no such path"}}'],
                            404,
                            "application/json",
                            chunked=False,
                        ),
                    )
                else:
                    server.write(
                        self,
                        Answer(
                            [json.dumps(listing).encode()], 200, "application/json", chunked=False
                        ),
                    )

            def do_POST(self) -> None:
                self._record()
                server.ports.append(self.client_address[1])
                with server._lock:
                    answer = server.answers.pop(0) if len(server.answers) > 1 else server.answers[0]
                server.write(self, answer)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def speech_requests(self) -> list[Received]:
        return [r for r in self.received if r.method == "POST"]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _hangup(self, handler: BaseHTTPRequestHandler, written: int) -> None:
        handler.close_connection = True
        self.hangups.append(written)
        self.hung_up.set()

    def write(self, handler: BaseHTTPRequestHandler, answer: Answer) -> None:
        if answer.headers_delay_s:
            time.sleep(answer.headers_delay_s)
        if answer.before is not None:
            answer.before(-1)
        handler.send_response(answer.status)
        handler.send_header("Content-Type", answer.content_type)
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        if answer.chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            # A cut body promises more than it sends.
            length = sum(len(p) for p in answer.pieces) + (1000 if answer.cut else 0)
            handler.send_header("Content-Length", str(length))
        handler.end_headers()
        handler.wfile.flush()
        written = 0
        try:
            for index, piece in enumerate(answer.pieces):
                if answer.piece_delay_s:
                    time.sleep(answer.piece_delay_s)
                if answer.before is not None:
                    answer.before(index)
                if answer.chunked:
                    handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                else:
                    handler.wfile.write(piece)
                handler.wfile.flush()
                written += 1
            if answer.hold:
                while handler.connection.recv(65536):  # until the client hangs up
                    pass
                self._hangup(handler, written)
                return
            if answer.cut:
                handler.close_connection = True
                handler.connection.shutdown(socket.SHUT_RDWR)
                return
            if answer.chunked:
                handler.wfile.write(b"0\r\n\r\n")
                handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self._hangup(handler, written)


# --- canned bodies -------------------------------------------------------------------------


def tone(seconds: float = 0.3, sample_rate: int = 24000) -> np.ndarray:
    """A test signal: a 440 Hz tone after 50 ms of silence."""
    silence = np.zeros(int(0.05 * sample_rate), dtype=np.float32)
    return np.concatenate([silence, audio.sine(440.0, duration=seconds, sample_rate=sample_rate)])


def b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode("ascii")


def split_pcm(pcm: bytes, n: int, width: int) -> list[bytes]:
    """``pcm`` in ``n`` pieces of whole samples."""
    samples = len(pcm) // width
    edges = [round(i * samples / n) * width for i in range(n + 1)]
    return [pcm[a:b] for a, b in zip(edges, edges[1:], strict=False)]


def sse(*payloads: dict | str, done: bool = True, newline: bytes = b"\n") -> bytes:
    """An event stream of JSON payloads (strings are sent as they are), then [DONE]."""
    lines = [
        b"data: " + (p if isinstance(p, str) else json.dumps(p)).encode() + newline + newline
        for p in payloads
    ]
    if done:
        lines.append(b"data: [DONE]" + newline + newline)
    return b"".join(lines)


def shape_payloads(shape: int, pieces: list[bytes]) -> list[dict]:
    """Audio payloads in the numbered shapes of PROTOCOL.md section 2, with end markers."""
    if shape == 1:
        return [
            {"type": "conversation.item.audio_output.delta", "item_id": "tts_1", "delta": b64(p)}
            for p in pieces
        ]
    if shape == 2:
        return [{"object": "audio.tts.chunk", "model": "replay", "b64": b64(p)} for p in pieces]
    if shape == 3:
        return [{"type": "delta", "audio": b64(p)} for p in pieces] + [{"type": "done"}]
    if shape == 4:
        return [{"type": "speech.audio.delta", "audio": b64(p)} for p in pieces] + [
            {"type": "speech.audio.done", "usage": {"input_tokens": 3}}
        ]
    raise ValueError(shape)


def streamed_wav_header(sample_rate: int, encoding: str = "pcm_s16le") -> bytes:
    """A WAV header whose sizes are 0xFFFFFFFF, as servers send before they know the length."""
    fmt_code, bits = {
        "pcm_s16le": (1, 16),
        "pcm_f32le": (3, 32),
        "pcm_mulaw": (7, 8),
        "pcm_alaw": (6, 8),
    }[encoding]
    block = bits // 8
    fmt = (
        fmt_code.to_bytes(2, "little")
        + (1).to_bytes(2, "little")
        + sample_rate.to_bytes(4, "little")
        + (sample_rate * block).to_bytes(4, "little")
        + block.to_bytes(2, "little")
        + bits.to_bytes(2, "little")
    )
    return (
        b"RIFF"
        + b"\xff\xff\xff\xff"
        + b"WAVE"
        + b"fmt "
        + len(fmt).to_bytes(4, "little")
        + fmt
        + b"data"
        + b"\xff\xff\xff\xff"
    )
