"""The same run on a process pool and on a real Dask cluster, from any client."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import pickle

import pytest

import ttskit
from ttskit import dataset
from ttskit.errors import AuthenticationError, ConfigurationError, InvalidArgument

from .conftest import TEXTS, VOICES, options

API_KEY = "dataset-key-5678"


def test_client_spec_pickles_and_hides_its_key():
    spec = dataset.ClientSpec("http://127.0.0.1:9/v1", api_key=API_KEY, headers={"x-a": "1"})
    assert API_KEY not in repr(spec) and API_KEY not in str(spec) and "'***'" in repr(spec)
    assert pickle.loads(pickle.dumps(spec)) == spec
    client = spec.connect()
    assert client.base_url == "http://127.0.0.1:9/v1" and API_KEY not in repr(client)


def test_client_spec_from_a_client_keeps_endpoint_and_timeouts(espeak_server):
    client = ttskit.Client(espeak_server.base_url, timeout=12.5, max_retries=4)
    spec = dataset.ClientSpec.from_client(client)
    assert (spec.endpoint, spec.timeout, spec.max_retries, spec.has_key) == (
        client.endpoint,
        12.5,
        4,
        False,
    )


def test_client_spec_of_a_keyed_client_carries_its_key_unseen():
    client = ttskit.Client("http://127.0.0.1:9/v1", api_key=API_KEY, headers={"x-a": "1"})
    spec = dataset.ClientSpec.from_client(client)
    assert spec.has_key and spec.endpoint == client.endpoint and dict(spec.headers) == {"x-a": "1"}
    shown = repr(spec) + str(spec) + repr(pickle.loads(pickle.dumps(spec)))
    assert API_KEY not in shown
    worker = pickle.loads(pickle.dumps(spec)).connect()
    assert worker.endpoint == client.endpoint and worker.headers == {"x-a": "1"}


def test_client_spec_refuses_what_is_not_an_endpoint():
    with pytest.raises(InvalidArgument, match="Endpoint or a URL"):
        dataset.ClientSpec(None)
    with pytest.raises(ConfigurationError, match="not an http"):
        dataset.ClientSpec("ftp://example.org/v1")


def test_process_pool_with_a_keyed_client(auth_server, tmp_path):
    from tests.conftest import API_KEY as SERVER_KEY

    keyed = ttskit.Client(auth_server.base_url, api_key=SERVER_KEY, model="espeak")
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        table = dataset.generate(
            TEXTS[:3], ["en-us"], tmp_path / "keyed", client=keyed, **options(executor=pool)
        )
    assert (table["status"] == "ok").all() and len(table) == 3
    assert table["timestamps_cover"].all()
    # A client's endpoint alone (picklable, key hidden) describes it as well.
    again = dataset.generate(
        TEXTS[:3], ["en-us"], tmp_path / "keyed", client=keyed.endpoint, **options(model="espeak")
    )
    assert again.attrs["summary"].done_before == 3
    assert SERVER_KEY not in (tmp_path / "keyed").joinpath("data", "metadata.jsonl").read_text()


def test_process_pool(client, tmp_path):
    threads = dataset.generate(TEXTS[:3], VOICES, tmp_path / "threads", client=client, **options())
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        table = dataset.generate(
            TEXTS[:3], VOICES, tmp_path / "processes", client=client, **options(executor=pool)
        )
    assert (table["status"] == "ok").all() and len(table) == 6
    # The same items, whichever executor made them.
    assert sorted(table["id"]) == sorted(threads["id"])
    assert table.set_index("id")["duration"].to_dict() == pytest.approx(
        threads.set_index("id")["duration"].to_dict(), abs=0.02
    )


def test_dask_local_cluster_with_a_key(auth_server, tmp_path):
    distributed = pytest.importorskip("distributed")
    from tests.conftest import API_KEY as SERVER_KEY

    spec = dataset.ClientSpec(auth_server.base_url, api_key=SERVER_KEY)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None, processes=True
        ) as cluster,
        distributed.Client(cluster) as dask_client,
    ):
        executor = dask_client.get_executor()
        table = dataset.generate(
            TEXTS,
            VOICES,
            tmp_path / "dask",
            client=spec,
            model="espeak",
            **options(executor=executor),
        )
        assert (table["status"] == "ok").all() and len(table) == len(TEXTS) * len(VOICES)
        assert table["timestamps_cover"].all()

        # A keyed Client works as well: its workers get its endpoint, key included.
        keyed = ttskit.Client(auth_server.base_url, api_key=SERVER_KEY, model="espeak")
        again = dataset.generate(
            TEXTS[:1],
            ["en-us"],
            tmp_path / "keyed",
            client=keyed,
            **options(executor=executor),
        )
        assert (again["status"] == "ok").all()

        # A wrong key fails before the run, in this process, not on every item.
        wrong = ttskit.Client(auth_server.base_url, api_key="wrong-key", model="espeak")
        with pytest.raises(AuthenticationError):
            dataset.generate(
                TEXTS[:1],
                ["en-us"],
                tmp_path / "refused",
                client=wrong,
                **options(executor=executor),
            )
