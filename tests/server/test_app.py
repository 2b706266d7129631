"""create_app and build_app: what they accept and refuse."""

from __future__ import annotations

import pytest
import requests

import ttskit.server
from ttskit.engines import load_engine
from ttskit.server import build_app, create_app


def test_public_names():
    assert ttskit.server.__all__ == [
        "DEFAULT_DELTA_SECONDS",
        "DEFAULT_QUEUE",
        "FAULTS_HEADER",
        "Faults",
        "build_app",
        "create_app",
        "serve",
    ]


def test_build_app_makes_one_engine_per_slot():
    state = build_app("espeak", workers=3, queue=5).state.ttskit
    pool = state.registry.models["espeak"].pool
    assert (pool.size, pool.queue_size, pool.capacity) == (3, 5, 8)
    assert len({id(engine) for engine in pool.engines}) == 3


def test_build_app_gives_piper_slots_a_share_of_the_cores():
    pytest.importorskip("piper")
    import os

    pool = build_app("piper", workers=2).state.ttskit.registry.models["piper"].pool
    assert [engine.threads for engine in pool.engines] == [max(1, (os.cpu_count() or 1) // 2)] * 2


@pytest.mark.parametrize(
    "options",
    [
        {"delta_seconds": 0.6},
        {"delta_seconds": 0},
        {"max_input_chars": 0},
        {"lookahead": 0},
        {"queue": -1},
        {"aliases": {"hosted/model": "missing"}},
    ],
)
def test_create_app_refuses_bad_options(options):
    with pytest.raises(ValueError):
        create_app({"espeak": [load_engine("espeak")]}, **options)


def test_create_app_needs_engines():
    with pytest.raises(ValueError):
        create_app({})
    with pytest.raises(ValueError):
        create_app({"espeak": []})
    with pytest.raises(ValueError):
        build_app("espeak", workers=0)


def test_a_server_whose_synthesis_threads_are_gone_answers_503_and_frees_the_slot(make_server):
    # At interpreter exit, concurrent.futures shuts every thread pool down while the
    # embedded server may still take requests: they get a 503, not a 500, and the slot
    # goes back to the pool.
    server = make_server(engine="espeak", workers=1)
    state = server.app.state.ttskit
    state.executor.shutdown(wait=True)
    for _ in range(3):  # more requests than slots: each one must give its slot back
        answer = requests.post(
            f"{server.base_url}/audio/speech",
            json={"model": "espeak", "input": "Hello there.", "voice": "en-us"},
            timeout=10,
        )
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "server_closing"
    assert requests.get(f"{server.url}/health", timeout=10).status_code == 200
