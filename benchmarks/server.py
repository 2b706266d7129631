"""How much the speech server adds to its engines: latency, throughput, overhead, memory.

Each figure is a ratio of two measurements taken side by side in this one run, because
absolute times drift on a shared machine. The server runs as its own process, started the
way users start it (``python -m ttskit.cli serve``), and is reached over HTTP on loopback.

1. Time to first audio: streaming a 100-word, 7-sentence paragraph with piper, the
   median time to the first audio delta, over the engine's own time to synthesize the
   first sentence in this process, in its default configuration (every core).
   Target <= 1.05. The same over the engine on one thread, a slot's share of the cores
   when every slot is busy, is printed too. Then (1b) a paragraph whose first sentence is
   long with clauses, streamed with ``segment: "sentence"`` (target <= 1.05) and
   ``"immediate"``, which starts on the first clause (target < 1.0), over the engine's own
   first sentence.
2. Throughput: two concurrent streams, audio seconds per wall second, over the best the
   engine does in-process on this machine (two processes of one onnxruntime thread each,
   or one process using every core). Target >= 0.9.
3. Overhead: a short sentence with eSpeak, not streamed, over one kept-alive connection:
   median request time minus the engine's median time. Target <= 5 ms.
4. Memory: the server's resident memory after 1,000 requests over that after the first
   10. Target <= +30 MB.
5. First byte of a plain body: a 12-sentence paragraph with piper asked for as OpenAI's
   clients do (``stream_format: "audio"``), the median time to the body's first byte,
   over the median time to the first audio event of the same request as SSE. Targets:
   pcm <= 1.2, mp3 <= 1.3.

6. Stopping: a WebSocket session speaks a long text (``segment=never``); a clear is sent
   once its first audio has arrived. The stop latency is the time from the clear to the
   last audio of the interrupted item received (on loopback, the server's clear read to
   its last audio sent, plus the crossing), p50 and p95 per engine, with the audio
   received after the clear. Target p95 <= 50 ms. Then the issue's repro, with piper:
   append and commit a long sentence, clear 0.05 s later, append and commit "Short
   reply.": the audio of the first item after the clear (target < 0.2 s) and the reply's
   item against the same text over REST.
7. Another client during a WebSocket flood: one session sends 3,000 appends of 9,000
   characters (``segment=immediate``) as fast as it can while another client asks for
   "Hello." over REST, each second; the slowest of those answers against the same request
   on an idle server (target: about 1 s at most).
8. Compression: the bytes and the time of one WebSocket item of the paragraph, with and
   without permessage-deflate.
9. A client's share (``--client-share``), at 0.5 and 1 (no bound), two slots and a queue of
   16: one client sending slots + queue = 18 requests at once (a two-sentence text, a 429
   retried after its Retry-After), in audio seconds per wall second with its 429s; then
   18 slow readers from 127.0.0.2 and a request from 127.0.0.1: its status and time.
10. ``ttskit.local``'s server (``LocalServer``, in a process of its own): "Hi." with
    eSpeak NG (an answer smaller than one loopback segment), the median request on one
    kept-alive connection over the median on a new connection each time. Target <= 1.0: a
    kept-alive connection saves the handshake and adds nothing (with Nagle's algorithm left
    on, each answer's body waited 40 ms for the client's delayed ACK of its head).

Run ``python benchmarks/server.py`` (about two minutes), ``--quick``, or ``--only
first-byte``, ``--only first-audio``, ``--only stop``, ``--only flood``, ``--only
compression``, ``--only share`` or ``--only local`` for one figure alone.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ttskit.engines import load_engine  # noqa: E402
from ttskit.engines.text import split_sentences, split_words  # noqa: E402

PARAGRAPH = (
    "The morning train pulled slowly into the crowded central station just a few minutes "
    "after seven o'clock. Passengers stepped down onto the cold platform, carrying heavy "
    "bags, umbrellas and paper cups of coffee. A tired conductor called out the next "
    "departure in a calm and remarkably steady voice. Outside, the old city was slowly "
    "waking up under a pale gray sky. Delivery vans lined the narrow streets near the "
    "market, their engines still running. Somewhere in the distance a dog barked twice, "
    "and then everything was quiet again. It was going to be a long, ordinary and "
    "wonderful day."
)
# A paragraph whose first sentence is long and has clauses, for the first-clause start.
CLAUSE_PARAGRAPH = (
    "When the morning train finally pulled into the crowded central station, a few minutes "
    "after seven o'clock, the passengers stepped down onto the cold platform with their "
    "heavy bags. A tired conductor called out the next departure in a calm voice. Outside, "
    "the old city was slowly waking up under a pale gray sky."
)
SHORT = "The quick brown fox jumps over the lazy dog."
STREAM_RATE = 24_000  # the server's default; streamed audio is f32le at this rate
DELTA_PREFIX = b'data: {"type":"conversation.item.audio_output.delta"'


# --- the server process ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """``ttskit serve`` in a child process, with its URL and pid."""

    def __init__(self, *args: str, code: Path = REPO) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONPATH": str(code)}
        command = [sys.executable, "-m", "ttskit.cli", "serve", "--port", str(port), *args]
        self.process = subprocess.Popen(
            # From inside ``code``: ``python -m`` puts the working directory first on the path.
            [*command, "--log-level", "warning"],
            env=env,
            cwd=code,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{self.url}/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.1)

    def rss_mb(self) -> float:
        return psutil.Process(self.process.pid).memory_info().rss / 2**20

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def _stream(session: requests.Session, url: str, body: dict) -> tuple[float, float]:
    """Seconds to the first audio delta, and seconds of audio received, for one stream."""
    started = time.perf_counter()
    first = None
    n_bytes = 0
    with session.post(f"{url}/v1/audio/speech", json=body, stream=True, timeout=300) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith(DELTA_PREFIX):
                if first is None:
                    first = time.perf_counter() - started
                # base64 of f32le: 3 bytes per 4 characters, 4 bytes per sample
                payload = line[line.index(b'"delta":"') + 9 : -2]
                n_bytes += len(payload) * 3 // 4 - payload.count(b"=")
    return first or float("nan"), n_bytes / 4 / STREAM_RATE


# --- 1. time to first audio ----------------------------------------------------------------


def first_audio(server: ServerProcess, repeats: int) -> None:
    engine = load_engine("piper")  # its default: every core
    engine_one_thread = load_engine("piper", threads=1)  # a slot's share when all are busy
    in_process, one_thread, served = [], [], []
    session = requests.Session()
    body = {"model": "piper", "voice": "joe", "input": PARAGRAPH, "stream": True}
    for _ in range(repeats + 1):  # the first round warms up both sides
        for timed, times in ((engine, in_process), (engine_one_thread, one_thread)):
            started = time.perf_counter()
            segments = timed.synthesize(PARAGRAPH, voice="joe")
            next(segments)
            times.append(time.perf_counter() - started)
            segments.close()
        served.append(_stream(session, server.url, body)[0])
    engine_s = statistics.median(in_process[1:])
    one_thread_s = statistics.median(one_thread[1:])
    served_s = statistics.median(served[1:])
    print(
        f"1. first audio, piper, {len(split_words(PARAGRAPH))} words in "
        f"{len(split_sentences(PARAGRAPH))} sentences: server {served_s * 1000:.0f} ms, engine "
        f"(in-process default, all cores) {engine_s * 1000:.0f} ms -> ratio "
        f"{served_s / engine_s:.2f} (target <= 1.05); engine on 1 thread "
        f"{one_thread_s * 1000:.0f} ms -> ratio {served_s / one_thread_s:.2f}"
    )
    first_clause_audio(server, engine, repeats)


def first_clause_audio(server: ServerProcess, engine, repeats: int) -> None:
    """A long first sentence with clauses: the engine's own first sentence, and the server's
    first audio with ``segment: "sentence"`` (the default) and ``"immediate"``, which
    starts on the first clause."""
    session = requests.Session()
    times: dict[str, list[float]] = {"engine": [], "sentence": [], "immediate": []}
    for _ in range(repeats + 1):  # the first round warms up
        started = time.perf_counter()
        segments = engine.synthesize(CLAUSE_PARAGRAPH, voice="joe")
        next(segments)
        times["engine"].append(time.perf_counter() - started)
        segments.close()
        for policy in ("sentence", "immediate"):
            body = {
                "model": "piper",
                "voice": "joe",
                "input": CLAUSE_PARAGRAPH,
                "stream": True,
                "segment": policy,
            }
            times[policy].append(_stream(session, server.url, body)[0])
    engine_s, sentence_s, immediate_s = (statistics.median(times[k][1:]) for k in times)
    first = split_sentences(CLAUSE_PARAGRAPH)[0]
    print(
        f"1b. first audio, piper, a first sentence of {len(split_words(first))} words with "
        f"clauses: engine's own first sentence {engine_s * 1000:.0f} ms; server with "
        f"segment=sentence {sentence_s * 1000:.0f} ms -> ratio {sentence_s / engine_s:.2f} "
        f"(target <= 1.05), with segment=immediate (first clause) {immediate_s * 1000:.0f} ms "
        f"-> ratio {immediate_s / engine_s:.2f} (target < 1.0)"
    )


# --- 2. throughput -------------------------------------------------------------------------


def _synthesize(texts: list[str], threads: int | None, barrier, results) -> None:
    engine = load_engine("piper", threads=threads)
    list(engine.synthesize("Warm up.", voice="joe"))
    barrier.wait()
    started = time.perf_counter()
    seconds = sum(
        segment.duration for text in texts for segment in engine.synthesize(text, voice="joe")
    )
    results.put((seconds, started, time.perf_counter()))


def in_process_throughput(shares: list[list[str]], threads: int | None) -> float:
    """Audio seconds per wall second of one Piper engine per share of the texts, each in a
    process of its own and started together (``threads`` each; all cores when None)."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(shares))
    results = context.Queue()
    workers = [
        context.Process(target=_synthesize, args=(share, threads, barrier, results))
        for share in shares
    ]
    for worker in workers:
        worker.start()
    finished = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    wall = max(end for _, _, end in finished) - min(start for _, start, _ in finished)
    return sum(seconds for seconds, _, _ in finished) / wall


def _served_throughput(server: ServerProcess, rounds: int) -> float:
    body = {"model": "piper", "voice": "joe", "input": PARAGRAPH, "stream": True}
    totals = [0.0, 0.0]

    def client(index: int) -> None:
        session = requests.Session()
        for _ in range(rounds):
            totals[index] += _stream(session, server.url, body)[1]

    _stream(requests.Session(), server.url, body)  # warm up
    clients = [threading.Thread(target=client, args=(index,)) for index in range(2)]
    started = time.perf_counter()
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    return sum(totals) / (time.perf_counter() - started)


def throughput(server: ServerProcess, rounds: int, trials: int) -> None:
    two_processes, served = [], []
    for _ in range(trials):  # alternated, so that drift hits both sides alike
        two_processes.append(in_process_throughput([[PARAGRAPH] * rounds] * 2, 1))
        served.append(_served_throughput(server, rounds))
    one_process = in_process_throughput([[PARAGRAPH] * (2 * rounds)], None)
    two_processes_s = statistics.median(two_processes)
    served_s = statistics.median(served)
    best = max(two_processes_s, one_process)
    print(
        f"2. throughput, piper, two concurrent streams: server {served_s:.1f} audio s/s, best "
        f"in-process {best:.1f} (2 processes x 1 thread {two_processes_s:.1f}, 1 process x "
        f"all cores {one_process:.1f}) -> ratio {served_s / best:.2f} (target >= 0.9)"
    )


# --- 3. overhead ---------------------------------------------------------------------------


def overhead(server: ServerProcess, repeats: int) -> None:
    engine = load_engine("espeak")
    session = requests.Session()
    body = {"model": "espeak", "voice": "en-us", "input": SHORT}
    engine_times, request_times = [], []
    for _ in range(10):  # warm up the connection and both sides
        session.post(f"{server.url}/v1/audio/speech", json=body, timeout=30).raise_for_status()
    for _ in range(repeats):
        started = time.perf_counter()
        list(engine.synthesize(SHORT, voice="en-us"))
        engine_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        response = session.post(f"{server.url}/v1/audio/speech", json=body, timeout=30)
        response.raise_for_status()
        request_times.append(time.perf_counter() - started)
    engine_s = statistics.median(engine_times)
    request_s = statistics.median(request_times)
    print(
        f"3. overhead, espeak, {len(split_words(SHORT))}-word sentence as wav, kept-alive "
        f"connection: request {request_s * 1000:.1f} ms, engine {engine_s * 1000:.1f} ms -> "
        f"server overhead {(request_s - engine_s) * 1000:.1f} ms (target <= 5 ms)"
    )


# --- 10. ttskit.local -----------------------------------------------------------------------

LOCAL_SERVER = (
    "import sys, ttskit; c = ttskit.local('espeak', workers=1); "
    "print(c.base_url, flush=True); sys.stdin.read()"
)


def local_kept_alive(repeats: int) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", LOCAL_SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = child.stdout.readline().strip() + "/audio/speech"
        body = {"model": "espeak", "voice": "en-us", "input": "Hi."}
        kept, new = [], []
        with requests.Session() as session:
            for _ in range(10):
                session.post(url, json=body, timeout=30).raise_for_status()
            for _ in range(repeats):  # alternating, so that a drift falls on both
                started = time.perf_counter()
                session.post(url, json=body, timeout=30).raise_for_status()
                kept.append(time.perf_counter() - started)
                started = time.perf_counter()
                requests.post(url, json=body, timeout=30).raise_for_status()
                new.append(time.perf_counter() - started)
        kept_s, new_s = statistics.median(kept), statistics.median(new)
        print(
            f"10. ttskit.local, espeak, 'Hi.' as wav: kept-alive connection "
            f"{kept_s * 1000:.1f} ms, new connection {new_s * 1000:.1f} ms -> "
            f"{kept_s / new_s:.2f} (target <= 1.0)"
        )
    finally:
        child.stdin.close()
        child.wait(30)


# --- 4. memory ----------------------------------------------------------------------------


def memory(server: ServerProcess, n_requests: int) -> None:
    session = requests.Session()
    url = f"{server.url}/v1/audio/speech"
    bodies = [
        {"model": "espeak", "voice": "en-us", "input": SHORT},
        {"model": "espeak", "voice": "en-us", "input": PARAGRAPH, "stream": True},
        {"model": "espeak", "voice": "en-us+f2", "input": SHORT, "response_format": "mp3"},
        {"model": "espeak", "voice": "en-us", "input": SHORT, "response_format": "raw"},
    ]
    after_10 = None
    for number in range(n_requests):
        body = bodies[number % len(bodies)]
        response = session.post(url, json=body, timeout=60)
        response.raise_for_status()
        if number == 9:
            after_10 = server.rss_mb()
    after_all = server.rss_mb()
    print(
        f"4. memory, espeak, {n_requests} requests (wav, SSE, mp3, raw): RSS after 10 "
        f"{after_10:.1f} MB, after {n_requests} {after_all:.1f} MB -> "
        f"{after_all - after_10:+.1f} MB (target <= +30 MB)"
    )


# --- 5. first byte of a plain body --------------------------------------------------------

TWELVE_SENTENCES = PARAGRAPH + (
    " The bakery on the corner opened its doors. A boy on a bicycle rushed past. "
    "Two old friends shook hands by the fountain. Nobody noticed the clock had stopped. "
    "Then the rain began."
)


def _first_body_byte(session: requests.Session, url: str, body: dict) -> float:
    started = time.perf_counter()
    first = float("nan")
    with session.post(f"{url}/v1/audio/speech", json=body, stream=True, timeout=300) as response:
        response.raise_for_status()
        # Read to the end, so that the next request starts on an idle server.
        for piece in response.iter_content(chunk_size=None):
            if piece and first != first:
                first = time.perf_counter() - started
    return first


def _first_event_audio(session: requests.Session, url: str, body: dict) -> float:
    started = time.perf_counter()
    first = float("nan")
    with session.post(f"{url}/v1/audio/speech", json=body, stream=True, timeout=300) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if first != first and (b'"delta"' in line or b'"audio"' in line):
                first = time.perf_counter() - started
    return first


def first_byte(server: ServerProcess, repeats: int) -> None:
    session = requests.Session()
    base = {"model": "piper", "voice": "joe", "input": TWELVE_SENTENCES}
    sse = {**base, "stream": True, "response_format": "raw", "response_encoding": "pcm_s16le"}
    plain = {
        "pcm": {**base, "response_format": "pcm", "stream_format": "audio"},
        "mp3": {**base, "response_format": "mp3", "stream_format": "audio"},
    }
    times: dict[str, list[float]] = {"sse": [], "pcm": [], "mp3": []}
    for number in range(repeats + 1):  # the first round warms up
        rounds = {
            "sse": _first_event_audio(session, server.url, sse),
            "pcm": _first_body_byte(session, server.url, plain["pcm"]),
            "mp3": _first_body_byte(session, server.url, plain["mp3"]),
        }
        if number:
            for name, value in rounds.items():
                times[name].append(value)
    sse_s, pcm_s, mp3_s = (statistics.median(times[name]) for name in ("sse", "pcm", "mp3"))
    print(
        f"5. first byte, piper, {len(split_sentences(TWELVE_SENTENCES))} sentences: SSE first "
        f"audio {sse_s * 1000:.0f} ms; plain pcm body {pcm_s * 1000:.0f} ms -> ratio "
        f"{pcm_s / sse_s:.2f} (target <= 1.2); plain mp3 body {mp3_s * 1000:.0f} ms -> "
        f"ratio {mp3_s / sse_s:.2f} (target <= 1.3)"
    )


# --- 6. stopping ------------------------------------------------------------------------


def _ws_url(server: ServerProcess, **query: str) -> str:
    from urllib.parse import urlencode

    return f"ws{server.url[4:]}/v1/audio/speech/websocket?{urlencode(query)}"


def _delta_seconds(event: dict) -> float:
    return len(base64.b64decode(event["delta"])) / 2 / STREAM_RATE


def _stop_once(server: ServerProcess, model: str, voice: str) -> tuple[float, float]:
    """Seconds from a clear to the interrupted item's last audio, and audio seconds after it."""
    from websockets.sync.client import connect

    with connect(_ws_url(server, model=model, voice=voice, segment="never")) as ws:
        json.loads(ws.recv())
        ws.send(json.dumps({"type": "input_text_buffer.append", "text": PARAGRAPH * 3}))
        ws.send(json.dumps({"type": "input_text_buffer.commit"}))
        while json.loads(ws.recv())["type"] != "conversation.item.audio_output.delta":
            pass
        cleared = time.perf_counter()
        ws.send(json.dumps({"type": "input_text_buffer.clear"}))
        last, late = cleared, 0.0
        while (event := json.loads(ws.recv()))["type"] != "conversation.item.audio_output.done":
            if event["type"] == "conversation.item.audio_output.delta":
                last, late = time.perf_counter(), late + _delta_seconds(event)
        while json.loads(ws.recv())["type"] != "context.done":
            pass
    return last - cleared, late


def _repro(server: ServerProcess) -> tuple[float, float, float]:
    """The issue's repro: audio of the first item after the clear, the reply's seconds, and
    the same reply over REST."""
    from websockets.sync.client import connect

    long_sentence = PARAGRAPH.replace(". ", ", and ").rstrip(".") + "."
    with connect(_ws_url(server, model="piper", voice="joe")) as ws:
        json.loads(ws.recv())
        ws.send(json.dumps({"type": "input_text_buffer.append", "text": long_sentence}))
        ws.send(json.dumps({"type": "input_text_buffer.commit"}))
        time.sleep(0.05)
        ws.send(json.dumps({"type": "input_text_buffer.clear"}))
        ws.send(json.dumps({"type": "input_text_buffer.append", "text": "Short reply."}))
        ws.send(json.dumps({"type": "input_text_buffer.commit"}))
        items: dict[str, float] = {}
        dones = 0
        while dones < 2:
            event = json.loads(ws.recv())
            if event["type"] == "conversation.item.audio_output.delta":
                items[event["item_id"]] = items.get(event["item_id"], 0.0) + _delta_seconds(event)
            elif event["type"] == "context.done":
                dones += 1
    body = {"model": "piper", "voice": "joe", "input": "Short reply.", "response_format": "raw"}
    response = requests.post(f"{server.url}/v1/audio/speech", json=body, timeout=60)
    rest_s = len(response.content) / 4 / STREAM_RATE
    *interrupted, reply = [0.0, *items.values()]
    return sum(interrupted), reply, rest_s


def stopping(server: ServerProcess, engines: list[str], repeats: int) -> None:
    voices = {"espeak": "en-us", "piper": "joe"}
    for engine in engines:
        times, late = [], []
        for _ in range(repeats):
            stop_s, late_s = _stop_once(server, engine, voices[engine])
            times.append(stop_s)
            late.append(late_s)
        times.sort()
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        print(
            f"6. stop latency, {engine}, {repeats} clears: p50 {statistics.median(times) * 1000:.1f}"
            f" ms, p95 {p95 * 1000:.1f} ms (target <= 50 ms); audio after the clear: median "
            f"{statistics.median(late):.2f} s, most {max(late):.2f} s"
        )
    if "piper" in engines:
        interrupted, reply, rest = _repro(server)
        print(
            f"6. repro (piper): the interrupted item's audio after the clear {interrupted:.2f} s "
            f"(target < 0.2 s); the reply's item {reply:.2f} s, the same text over REST "
            f"{rest:.2f} s"
        )


# --- 7. another client during a flood -------------------------------------------------------


def _hello(session: requests.Session, url: str) -> float:
    body = {"model": "espeak", "voice": "en-us", "input": "Hello."}
    started = time.perf_counter()
    session.post(f"{url}/v1/audio/speech", json=body, timeout=60).raise_for_status()
    return time.perf_counter() - started


def flood(server: ServerProcess, appends: int) -> None:
    from websockets.sync.client import connect

    session = requests.Session()
    idle = statistics.median(_hello(session, server.url) for _ in range(10))
    text = ("word " * 1800)[:9000]
    done = threading.Event()

    def flooder() -> None:
        with connect(_ws_url(server, model="espeak", segment="immediate"), max_size=None) as ws:
            json.loads(ws.recv())
            frame = json.dumps({"type": "input_text_buffer.append", "text": text})
            for _ in range(appends):
                ws.send(frame)
            done.set()
            while True:  # read what comes back, as a client would
                try:
                    ws.recv(timeout=2)
                except TimeoutError:
                    return

    thread = threading.Thread(target=flooder)
    thread.start()
    during = []
    while thread.is_alive() or len(during) < 5:
        during.append(_hello(session, server.url))
    thread.join()
    print(
        f"7. flood, {appends} appends of 9,000 characters on one session: another client's "
        f"'Hello.' {max(during) * 1000:.0f} ms at worst, median "
        f"{statistics.median(during) * 1000:.0f} ms ({len(during)} requests; idle "
        f"{idle * 1000:.0f} ms) (target: about 1 s at most)"
    )


# --- 9. a client's share ---------------------------------------------------------------------

FAIR_TEXT = "The morning train pulled into the station. Passengers stepped down onto the platform."
SLOW_TEXT = " ".join(f"This is sentence number {n} of a long text." for n in range(60))


def _served_seconds(url: str, model: str, voice: str, clients: int, each: int) -> tuple:
    """One client address, ``clients`` requests at once, ``each`` per thread, retrying a
    429 after its Retry-After as polite clients do: audio seconds per wall second, 429s."""
    refused = 0
    seconds = 0.0
    lock = threading.Lock()
    body = {"model": model, "voice": voice, "input": FAIR_TEXT, "response_format": "raw"}

    def client() -> None:
        nonlocal refused, seconds
        session = requests.Session()
        for _ in range(each):
            while True:
                response = session.post(f"{url}/v1/audio/speech", json=body, timeout=300)
                if response.status_code != 429:
                    break
                with lock:
                    refused += 1
                time.sleep(float(response.headers.get("Retry-After", "1")))
            response.raise_for_status()
            with lock:
                seconds += len(response.content) / 4 / STREAM_RATE

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return seconds / (time.perf_counter() - started), refused


class _SlowReader:
    """A long stream from ``source``, read 2 KB at a time, 5 times a second: slow enough to
    hold its slot, never so slow that the server's write deadline cuts it."""

    def __init__(self, port: int, source: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.bind((source, 0))
        self.sock.connect(("127.0.0.1", port))
        body = json.dumps(
            {"model": "espeak", "voice": "en-us", "input": SLOW_TEXT, "stream": True}
        ).encode()
        self.sock.sendall(
            b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        self.sock.settimeout(1)
        while not self.stop.is_set():
            try:
                if not self.sock.recv(2048):
                    return
            except OSError:
                if self.stop.is_set():
                    return
            time.sleep(0.2)

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def _other_client(url: str) -> tuple[int, float]:
    body = {"model": "espeak", "voice": "en-us", "input": "Hello."}
    started = time.perf_counter()
    response = requests.post(f"{url}/v1/audio/speech", json=body, timeout=120)
    return response.status_code, time.perf_counter() - started


def share(engines: list[str], each: int) -> None:
    """Single-user throughput with the share on and off, and another client's answer while
    18 slow readers from 127.0.0.2 ask for a server of 2 slots and a queue of 16."""
    for setting in ("0.5", "1"):
        server = ServerProcess("--engine", *engines, "--workers", "2", "--client-share", setting)
        try:
            port = int(server.url.rsplit(":", 1)[1])
            figures = []
            models = {"espeak": "en-us", "piper": "joe"}
            for model in [name for name in models if name in engines or "auto" in engines]:
                _served_seconds(server.url, model, models[model], clients=2, each=1)  # warm
                rate, refused = _served_seconds(
                    server.url, model, models[model], clients=18, each=each
                )
                figures.append(f"{model} {rate:.1f} audio s/s ({refused} x 429)")
            readers = [_SlowReader(port, "127.0.0.2") for _ in range(18)]
            time.sleep(3)  # the readers take their slots and places
            health = requests.get(f"{server.url}/health", timeout=10).json()["models"]["espeak"]
            answers = [_other_client(server.url) for _ in range(3)]
            for reader in readers:
                reader.close()
            print(
                f"9. client share {setting}: one client, 18 at once: {', '.join(figures)}; "
                f"18 slow readers from 127.0.0.2 (busy {health['busy']}, queued "
                f"{health['queued']}): another client's 'Hello.' "
                + ", ".join(f"{status} in {seconds * 1000:.0f} ms" for status, seconds in answers)
            )
        finally:
            server.stop()


# --- 8. compression ---------------------------------------------------------------------------


def _ws_item(url: str, compression: str | None) -> tuple[int, int, float]:
    """Bytes of the item's frames as sent, the same deflated as permessage-deflate does
    (one stream, flushed per message), and seconds from the commit to context.done."""
    import zlib

    from websockets.sync.client import connect

    deflater = zlib.compressobj(wbits=-zlib.MAX_WBITS, memLevel=8)
    plain = packed = 0
    with connect(url, compression=compression, max_size=None) as ws:
        json.loads(ws.recv())
        started = time.perf_counter()
        ws.send(json.dumps({"type": "input_text_buffer.append", "text": PARAGRAPH}))
        ws.send(json.dumps({"type": "input_text_buffer.commit"}))
        messages = []
        while json.loads(message := ws.recv())["type"] != "context.done":
            messages.append(message.encode())
        elapsed = time.perf_counter() - started
    for message in messages:
        plain += len(message)
        packed += len(deflater.compress(message) + deflater.flush(zlib.Z_SYNC_FLUSH)) - 4
    return plain, packed, elapsed


def compression(repeats: int) -> None:
    """One in-process server with permessage-deflate offered; clients with and without."""
    import uvicorn

    from ttskit.server.app import build_app
    from ttskit.server.http import server_config

    port = _free_port()
    app = build_app("espeak", workers=1)
    config = server_config(
        app, host="127.0.0.1", port=port, log_level="warning", ws_per_message_deflate=True
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"ws://127.0.0.1:{port}/v1/audio/speech/websocket?model=espeak&segment=never"
    try:
        times: dict[str, list[float]] = {"off": [], "on": []}
        for _ in range(repeats + 1):  # alternated; the first round warms up
            for name, negotiated in (("off", None), ("on", "deflate")):
                plain, packed, elapsed = _ws_item(url, negotiated)
                times[name].append(elapsed)
    finally:
        server.should_exit = True
        thread.join(10)
    off, on = (statistics.median(times[name][1:]) for name in ("off", "on"))
    print(
        f"8. compression, one WebSocket item of the paragraph (espeak, in-process server): "
        f"{plain / 1e6:.2f} MB of frames, {packed / 1e6:.2f} MB deflated "
        f"({packed / plain:.0%}); commit to context.done {off * 1000:.0f} ms without, "
        f"{on * 1000:.0f} ms with deflate ({on / off:.2f}x)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--only",
        choices=["first-byte", "first-audio", "stop", "flood", "compression", "share", "local"],
        help="run one figure alone",
    )
    parser.add_argument(
        "--server-code",
        type=Path,
        default=REPO,
        help="checkout whose ttskit the server runs (to measure another version's server)",
    )
    args = parser.parse_args(argv)
    has_piper = importlib.util.find_spec("piper") is not None
    print(f"ttskit server benchmark on {os.cpu_count()} cores{' (quick)' if args.quick else ''}")
    if args.only == "compression":
        compression(repeats=3 if args.quick else 9)
        return
    if args.only == "share":
        share(["auto"] if has_piper else ["espeak"], each=2 if args.quick else 4)
        return
    if args.only == "local":
        local_kept_alive(repeats=30 if args.quick else 100)
        return
    engines = ["auto"] if has_piper else ["espeak"]
    engine_names = ["espeak", "piper"] if has_piper else ["espeak"]
    server = ServerProcess("--engine", *engines, "--workers", "2", code=args.server_code)
    try:
        if args.only == "first-byte":
            if has_piper:
                first_byte(server, repeats=3 if args.quick else 7)
            return
        if args.only == "first-audio":
            if has_piper:
                first_audio(server, repeats=3 if args.quick else 9)
            return
        if args.only == "stop":
            stopping(server, engine_names, repeats=10 if args.quick else 40)
            return
        if args.only == "flood":
            flood(server, appends=3000)
            return
        if has_piper:
            first_audio(server, repeats=3 if args.quick else 9)
            throughput(server, rounds=1 if args.quick else 2, trials=1 if args.quick else 3)
        else:
            print("1, 2. skipped: piper is not installed")
        overhead(server, repeats=50 if args.quick else 300)
        memory(server, n_requests=200 if args.quick else 1000)
        if has_piper:
            first_byte(server, repeats=3 if args.quick else 7)
        stopping(server, engine_names, repeats=10 if args.quick else 40)
        flood(server, appends=3000)
    finally:
        server.stop()
    if args.only is None:
        compression(repeats=3 if args.quick else 9)
        share(engines, each=2 if args.quick else 4)
        local_kept_alive(repeats=30 if args.quick else 100)


if __name__ == "__main__":
    main()
