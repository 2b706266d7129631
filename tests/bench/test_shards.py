"""Shards on worker processes and Dask workers, and the clock offsets between them."""

from __future__ import annotations

import pytest

from ttskit import bench
from ttskit.bench.shards import measure_offset
from ttskit.errors import InvalidArgument

from .conftest import SHORT


def test_the_offset_comes_from_the_fastest_round_trip():
    now = [100.0]
    # Round trips of 10, 2 and 6 ms; the remote clock is 5 s ahead and reads it 1 ms
    # after the request left (so the slow trips, read off-centre, would mislead).
    trips = iter([(0.001, 0.009), (0.001, 0.001), (0.001, 0.005)])

    def clock() -> float:
        return now[0]

    def ask() -> float:
        out, back = next(trips)
        now[0] += out
        reading = now[0] + 5.0
        now[0] += back
        return reading

    offset, uncertainty = measure_offset(ask, clock, rounds=3)
    assert uncertainty == pytest.approx(0.001)
    assert offset == pytest.approx(5.0)


def test_two_processes_send_the_plan_once_merged_in_its_order(espeak_server):
    options = dict(
        repeats=2, transports=["sse", "rest"], concurrency=[1, 3], warmup=1, progress=False
    )
    df = bench.run(espeak_server.base_url, SHORT, ["en-us"], processes=2, **options)
    measured = df[~df["warmup"]]
    # Warm-ups: each process warms its own connections.
    assert df["warmup"].sum() == 2 * 2
    assert len(measured) == 2 * (1 + 1) * len(SHORT) * 2
    assert df["ok"].all(), df.loc[~df["ok"], "error_message"].tolist()
    assert measured.groupby(["transport", "concurrency", "text_id"]).size().eq(2).all()
    assert set(df["worker"]) == {"process-0", "process-1"}
    # At concurrency 1 only the first process has a worker.
    assert set(measured.loc[measured["concurrency"] == 1, "worker"]) == {"process-0"}
    assert df["scheduled_s"].is_monotonic_increasing
    workers = df.attrs["bench"]["workers"]
    assert set(workers) == {"process-0", "process-1"}
    # Processes of one machine share its monotonic clock: the offset is within its bound.
    for w in workers.values():
        assert abs(w["clock_offset_s"]) <= w["clock_uncertainty_s"] + 1e-6
    assert df.attrs["bench"]["harness_cpu_per_request_s"] > 0
    # Every latency is from the coordinator's schedule: rows start after the run began.
    assert (df["started_s"] >= 0).all() and (df["first_audio_s"] > 0).all()


def test_an_open_loop_run_over_processes_keeps_its_schedule(espeak_server):
    options = dict(rate=40.0, duration=0.5, seed=2, warmup=0, transports=["rest"], progress=False)
    one = bench.run(espeak_server.base_url, SHORT, processes=1, **options)
    two = bench.run(espeak_server.base_url, SHORT, processes=2, **options)
    assert two["scheduled_s"].diff().dropna().round(9).tolist() == (
        one["scheduled_s"].diff().dropna().round(9).tolist()
    )
    assert two["ok"].all() and set(two["worker"]) == {"process-0", "process-1"}


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_a_dask_run_measures_each_workers_clock(espeak_server, dask_client):
    options = dict(repeats=2, transports=["sse"], concurrency=2, warmup=0, progress=False)
    df = bench.run(
        espeak_server.base_url, SHORT, executor=dask_client, clock_bound_s=1.0, **options
    )
    addresses = sorted(dask_client.scheduler_info()["workers"])
    assert set(df["worker"]) == set(addresses)
    assert len(df) == len(SHORT) * 2 and df["ok"].all()
    workers = df.attrs["bench"]["workers"]
    assert sorted(workers) == addresses
    for address, w in workers.items():
        rows = df[df["worker"] == address]
        assert (rows["clock_offset_s"] == w["clock_offset_s"]).all()
        assert (rows["clock_uncertainty_s"] == w["clock_uncertainty_s"]).all()
        assert w["clock_uncertainty_s"] > 0
    assert df.attrs["bench"]["uncertain_clocks"] == []
    # A bound below any round trip names every worker.
    with pytest.warns(RuntimeWarning, match="uncertain"):
        strict = bench.run(
            espeak_server.base_url, SHORT, executor=dask_client, clock_bound_s=0.0, **options
        )
    assert strict.attrs["bench"]["uncertain_clocks"] == addresses


def test_processes_and_an_executor_are_one_choice(espeak_server, dask_client):
    with pytest.raises(InvalidArgument, match="processes"):
        bench.run(espeak_server.base_url, SHORT, executor=dask_client, processes=2)
