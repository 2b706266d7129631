"""One client cannot take the whole server: its slow readers hold at most its share of the
slots and queue, beyond which it gets 429 while another client is served.

The slow client connects from 127.0.0.2 and the well-behaved one from 127.0.0.1, so that
the server tells them apart by peer address as it would two machines.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import requests

from ttskit.cli import main
from ttskit.engines import load_engine
from ttskit.errors import InvalidArgument
from ttskit.server import create_app
from ttskit.server.connections import client_share_for
from ttskit.server.http import server_config
from ttskit.server.limits import Limits
from ttskit.server.pool import PoolFull, SlotPool

from ..server.helpers import assert_error, speech_body
from .clients import StalledClient

# Stalled readers keep their slots for the whole test: nothing cuts them for a minute.
PATIENT = Limits(write_timeout=60.0, synthesis_timeout=60.0, queue_timeout=60.0)


def _health(server) -> dict:
    return requests.get(f"{server.url}/health", timeout=10).json()["models"]["espeak"]


def _until(condition) -> None:
    for _ in range(3000):
        if condition():
            return
        time.sleep(0.01)
    pytest.fail("the server never reached the condition")


def _fill(server, n: int) -> list[StalledClient]:
    """``n`` stalled readers from 127.0.0.2, the first of them holding a slot."""
    clients = [StalledClient(server.port, source="127.0.0.2") for _ in range(n)]
    assert clients[0].read_head().startswith(b"HTTP/1.1 200 ")
    return clients


def _body(client: StalledClient) -> bytes:
    """The body of an answer whose head ``client`` has read, by its Content-Length."""
    head = client.head.lower()
    size = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
    body = b""
    while len(body) < size:
        chunk = client.sock.recv(size - len(body))
        assert chunk, "the server closed the connection before the body's end"
        body += chunk
    return body


@pytest.mark.parametrize("share", [0.5, 1.0])
def test_slow_readers_hold_their_share_and_another_client_is_served(make_server, share):
    # Two slots and a queue of four: at half, 127.0.0.2 holds one slot and two places.
    server = make_server(workers=2, queue=4, client_share=share, limits=PATIENT)
    held = 3 if share == 0.5 else 6
    clients = _fill(server, held)
    try:
        _until(lambda: _health(server)["busy"] + _health(server)["queued"] == held)
        extra = StalledClient(server.port, source="127.0.0.2")
        clients.append(extra)
        # Beyond its share (or beyond the whole server, without one): refused at once.
        assert extra.read_head().startswith(b"HTTP/1.1 429 ")
        assert b"retry-after: 1" in extra.head.lower()
        answer = requests.post(
            f"{server.base_url}/audio/speech", json=speech_body(input="I am served."), timeout=60
        )
        if share == 0.5:
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "audio/wav"
            # This client's own share: one slot and two places, minus the one it used.
            assert answer.headers["x-ratelimit-limit"] == "3"
            assert b'"code":"client_share_exceeded"' in _body(extra)
        else:
            # Without a share, one client's slow readers leave nothing to anyone else.
            assert_error(answer, 429, code="rate_limit_exceeded")
    finally:
        for client in clients:
            client.close()
    _until(lambda: _health(server)["busy"] == 0)


def test_a_freed_slot_goes_to_the_first_waiter_below_its_share():
    engines = [load_engine("espeak"), load_engine("espeak")]

    async def scenario() -> list[str]:
        pool = SlotPool(engines, queue_size=4, client_share=0.5)
        a_slot = await pool.acquire(client="a")
        b_slot = await pool.acquire(client="b")
        order: list[str] = []

        async def wait(client: str) -> None:
            engine = await pool.acquire(client=client)
            order.append(client)
            pool.release(engine)

        waits = []
        for client in ("a", "a", "b"):
            waits.append(asyncio.create_task(wait(client)))
            await asyncio.sleep(0)
        assert pool.queued == 3
        assert (pool.remaining_for("a"), pool.remaining_for("b")) == (0, 1)
        with pytest.raises(PoolFull) as refused:
            await pool.acquire(client="a")  # one slot held and both its places taken
        assert refused.value.over_share
        assert pool.queued == 3
        # b's slot comes free: a's waiters are first in line, but a holds its share.
        pool.release(b_slot)
        await waits[2]
        assert order == ["b"]
        pool.release(a_slot)
        await asyncio.gather(*waits)
        assert (pool.busy, pool.queued) == (0, 0)
        return order

    assert asyncio.run(scenario()) == ["b", "a", "a"]


def test_without_a_share_the_queue_is_first_come_first_served():
    engines = [load_engine("espeak")]

    async def scenario() -> list[str]:
        pool = SlotPool(engines, queue_size=2)
        held = await pool.acquire(client="a")
        order: list[str] = []

        async def wait(client: str) -> None:
            engine = await pool.acquire(client=client)
            order.append(client)
            pool.release(engine)

        waits = []
        for client in ("a", "b"):
            waits.append(asyncio.create_task(wait(client)))
            await asyncio.sleep(0)
        with pytest.raises(PoolFull) as refused:
            await pool.acquire(client="b")
        assert not refused.value.over_share
        pool.release(held)
        await asyncio.gather(*waits)
        return order

    assert asyncio.run(scenario()) == ["a", "b"]


@pytest.mark.parametrize("share", [0, -0.5, 1.5, float("nan"), True, "0.5"])
def test_a_bad_share_is_an_invalid_argument(share):
    with pytest.raises(InvalidArgument, match="client_share must be a fraction in"):
        create_app({"espeak": [load_engine("espeak")]}, client_share=share)


@pytest.mark.parametrize("value", ["0", "1.5", "half"])
def test_a_bad_share_flag_exits_2(value, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--client-share", value])
    assert exited.value.code == 2
    assert "--client-share" in capsys.readouterr().err


def test_the_default_share_follows_the_address_served_on():
    assert client_share_for("127.0.0.1") == client_share_for("::1") == 1.0
    assert client_share_for("localhost") == client_share_for(None) == 1.0
    assert client_share_for("0.0.0.0") == client_share_for("192.168.1.20") == 0.5
    assert client_share_for("tts.example.org") == 0.5
    for host, share in [("0.0.0.0", 0.5), ("127.0.0.1", 1.0)]:
        app = create_app({"espeak": [load_engine("espeak"), load_engine("espeak")]})
        server_config(app, host=host)
        assert app.state.ttskit.registry.models["espeak"].pool.client_share == share
    # A share the app names is kept wherever it is served.
    app = create_app({"espeak": [load_engine("espeak")]}, client_share=0.25)
    server_config(app, host="127.0.0.1")
    assert app.state.ttskit.registry.models["espeak"].pool.client_share == 0.25
