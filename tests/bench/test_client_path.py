"""bench sends what the user's client sends, through the client's public API only, and its
rows say what was served beside what was asked."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ttskit
from ttskit import bench

from .conftest import SHORT

HOSTED_MODEL = "canopylabs/orpheus-3b-0.1-ft"
BENCH = Path(bench.__file__).parent
HTTP = ["rest", "sse", "chunked", "openai-sse"]


@pytest.mark.parametrize("harness", ["threads", "asyncio"])
def test_a_clients_headers_go_with_every_request_as_speak_sends_them(espeak_server, harness):
    delay = 0.2
    client = ttskit.Client(
        espeak_server.base_url, headers={"x-ttskit-faults": f"first_audio_delay={delay}"}
    )
    spoken = client.speak("Hello there.")
    assert spoken.timing.first_audio_s >= delay
    df = bench.run(
        client,
        SHORT[:1],
        repeats=2,
        warmup=0,
        transports=[*HTTP, "ws"],
        harness=harness,
        progress=False,
    )
    assert df["ok"].all(), df["error_message"].tolist()
    assert (df["first_audio_s"] >= delay).all(), df[["transport", "first_audio_s"]]
    assert df.attrs["bench"]["arguments"]["header_names"] == ["x-ttskit-faults"]


def test_bench_and_speak_send_the_same_request(replay):
    from tests.client.replay_server import Answer, tone

    pcm = ttskit.audio.encode_pcm(tone(0.1), encoding="pcm_s16le")
    replay.answers = [Answer([pcm], content_type="audio/pcm")]
    client = ttskit.Client(
        replay.base_url,
        api_key="sk-test-1234567",
        model="replay",
        voice="alice",
        headers={"x-proxy": "p1"},
    )
    client.speak("Hello there.", stream_format="audio")
    # The threaded harness: it sends on the same requests session as ``speak``.
    bench.run(
        client,
        ["Hello there."],
        repeats=1,
        warmup=0,
        transports=["chunked"],
        progress=False,
        harness="threads",
    )
    spoken, benched = replay.speech_requests
    assert benched.body == spoken.body
    assert benched.headers == spoken.headers  # the key, the user agent and the proxy's header
    assert benched.headers["x-proxy"] == "p1"
    assert benched.headers["authorization"] == "Bearer sk-test-1234567"


def test_an_openai_dialect_client_streams_in_openai_dialect(replay):
    import base64
    import json

    from tests.client.replay_server import Answer, tone

    pcm = ttskit.audio.encode_pcm(tone(0.1), encoding="pcm_s16le")
    delta = {"type": "speech.audio.delta", "audio": base64.b64encode(pcm).decode()}
    events = [
        b"data: %s\n\n" % json.dumps(delta).encode(),
        b'data: {"type": "speech.audio.done"}\n\n',
    ]
    replay.answers = [Answer(events, content_type="text/event-stream")]
    client = ttskit.Client(replay.base_url, model="replay", voice="alice", dialect="openai")
    df = bench.run(client, SHORT[:1], repeats=1, warmup=0, transports=["sse"], progress=False)
    assert df["ok"].all(), df["error_message"].tolist()
    body = replay.speech_requests[-1].body
    assert "stream" not in body and body["stream_format"] == "sse"
    assert df.loc[0, "audio_s"] == pytest.approx(len(pcm) / 2 / 24000)


def test_rows_record_the_served_voice_beside_the_requested_one(make_server):
    server = make_server(aliases={HOSTED_MODEL: "espeak"})
    df = bench.run(
        (server.base_url, HOSTED_MODEL, "tara"),
        SHORT[:1],
        repeats=1,
        warmup=0,
        transports=[*HTTP, "ws"],
        progress=False,
    )
    assert df["ok"].all(), df["error_message"].tolist()
    # What was asked...
    assert set(df["requested_model"]) == {HOSTED_MODEL}
    assert set(df["requested_voice"]) == {"tara"}
    # ... and what the server says it used, as Speech.voice is.
    served = ttskit.Client(server.base_url).speak("Hello.", model=HOSTED_MODEL, voice="tara")
    assert served.voice != "tara"
    assert set(df["voice"]) == {served.voice}
    http = df[df["transport"] != "ws"]
    assert set(http["model"]) == {served.model} == {"espeak"}


def test_a_failed_request_records_what_was_asked():
    df = bench.run(
        ("http://127.0.0.1:9/v1", "m", "v"), SHORT[:1], repeats=1, warmup=0, progress=False
    )
    assert df.loc[0, ["model", "voice", "requested_model", "requested_voice"]].tolist() == [
        "m",
        "v",
        "m",
        "v",
    ]


def test_defaults_are_the_clients_own(replay):
    client = ttskit.Client(replay.base_url)
    target = bench.Target(replay.base_url)
    from ttskit.bench.targets import complete

    assert (complete(target, 5.0).model, complete(target, 5.0).voice) == (
        ttskit.client.resolve_defaults(client)
    )


def _client_imports(path: Path) -> list[str]:
    """``module`` of every import of ttskit's client below its public package."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: ``..client.x`` from ttskit/bench
                module = "ttskit." * (node.level == 2) + module
            if module.startswith("ttskit.client."):
                found.append(f"{path.name}:{node.lineno} {module}")
        elif isinstance(node, ast.Import):
            found += [
                f"{path.name}:{node.lineno} {a.name}"
                for a in node.names
                if a.name.startswith("ttskit.client.")
            ]
    return found


@pytest.mark.parametrize("path", sorted(BENCH.glob("*.py")), ids=lambda p: p.name)
def test_bench_imports_only_the_clients_public_names(path):
    assert _client_imports(path) == []


@pytest.mark.parametrize("path", sorted(BENCH.glob("*.py")), ids=lambda p: p.name)
def test_bench_reaches_into_no_objects_private_attributes(path):
    """Not ``session._contexts``, ``client._defaults``: only its own (``self._x``)."""
    reached = [
        f"{path.name}:{node.lineno} {ast.unparse(node)}"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and ast.unparse(node.value) not in ("self", "cls")
    ]
    assert reached == []


def test_the_import_check_sees_a_private_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from ..client.session import HTTPSession\nimport ttskit.client.transport\n"
        "from ttskit.client import Client\n"
    )
    assert _client_imports(bad) == [
        "bad.py:1 ttskit.client.session",
        "bad.py:2 ttskit.client.transport",
    ]
