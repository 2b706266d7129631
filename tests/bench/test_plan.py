"""The plan alone: laid out before any request, and split into shards that send it once."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from ttskit import bench
from ttskit.bench.plan import make_plan, split
from ttskit.errors import InvalidArgument

from .conftest import SHORT

OPTIONS = dict(
    repeats=3,
    transports=["sse", "rest"],
    concurrency=[1, 5],
    rate=None,
    duration=None,
    warmup=1,
    connection="warm",
    timeout=5.0,
    seed=4,
    api_key=None,
    headers=None,
    max_in_flight=8,
)
TARGET = ("http://127.0.0.1:9/v1", "m", "v")  # never asked: model and voice are given


def plan(**options):
    return make_plan(TARGET, SHORT, ["a", "b"], **{**OPTIONS, **options})


def keys(trials):
    return Counter((t.voice, t.text_id, t.repetition) for _, t in trials)


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_closed_loop_shards_send_every_request_once_with_the_concurrency_shared(n):
    whole = plan()
    shards = split(whole, n, max_in_flight=8)
    assert [s.index for s in shards] == list(range(n))
    for k, (transport, level, trials) in enumerate(whole.blocks):
        parts = [s.blocks[k] for s in shards]
        assert {p[0] for p in parts} == {transport} and {p[1] for p in parts} == {level}
        assert sum(p[2] for p in parts) == level
        assert sum((keys(p[3]) for p in parts), Counter()) == keys(trials)
        # No trial goes to a shard without a worker to send it.
        assert all(p[2] > 0 or not p[3] for p in parts)
    assert all(s.warmups == whole.warmups for s in shards)


def test_open_loop_shards_keep_the_schedule_made_once():
    whole = plan(rate=[30.0, 60.0], duration=1.0)
    shards = split(whole, 3, max_in_flight=8)
    for k, (_, _, trials) in enumerate(whole.blocks):
        times = sorted(at for s in shards for at in (a for a, _ in s.blocks[k][3]))
        assert times == sorted(at for at, _ in trials)
        assert [s.blocks[k][2] for s in shards] == [3, 3, 2]
    again = plan(rate=[30.0, 60.0], duration=1.0)
    np.testing.assert_array_equal(
        [at for at, _ in whole.blocks[0][2]], [at for at, _ in again.blocks[0][2]]
    )


def test_a_bad_number_of_processes_is_refused():
    for n in (0, -1, 1.5, True):
        with pytest.raises(InvalidArgument, match="processes"):
            split(plan(), n, max_in_flight=8)


def test_default_processes_follow_the_load():
    assert bench.runner.default_processes(plan(concurrency=[1, 16]), cpus=8) == 1
    assert bench.runner.default_processes(plan(concurrency=[100]), cpus=8) == 4
    assert bench.runner.default_processes(plan(concurrency=[100]), cpus=2) == 2
    assert bench.runner.default_processes(plan(rate=[450.0], duration=0.1), cpus=8) == 3
