"""Parquet round trip with metadata, and never the API key."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

import ttskit
from tests.conftest import API_KEY
from ttskit import bench
from ttskit.errors import InvalidArgument

from .conftest import SHORT


def test_parquet_round_trip_keeps_rows_and_metadata_and_never_the_key(auth_server, tmp_path):
    # The client's requests carry its key; the harness is not given it.
    client = ttskit.Client(auth_server.base_url, api_key=API_KEY, model="espeak", voice="en-us")
    df = bench.run(client, SHORT, repeats=1, transports=["rest", "sse", "ws"], progress=False)
    assert df["ok"].all(), df["error_message"].tolist()
    path = bench.save(df, tmp_path / "results.parquet")
    assert API_KEY.encode() not in path.read_bytes()
    assert API_KEY not in repr(df.attrs) and API_KEY not in df.to_csv()

    loaded = bench.load(path)
    assert list(loaded.columns) == bench.COLUMNS
    assert loaded.attrs["bench"]["arguments"] == df.attrs["bench"]["arguments"]
    assert loaded.attrs["bench"]["ttskit_version"] == ttskit.__version__
    assert loaded.attrs["bench"]["endpoints"] == [auth_server.base_url]
    assert set(loaded.attrs["bench"]) >= {"machine", "date", "server_versions"}
    assert loaded["chunk_arrival_s"].map(len).tolist() == df["chunk_arrival_s"].map(len).tolist()
    for column in ("first_audio_s", "done_s", "stalls_100ms", "voice", "warmup"):
        assert loaded[column].tolist() == df[column].tolist()
    assert b"ttskit.bench" in pq.read_schema(path).metadata


def test_a_wrong_key_is_rows_of_401_without_the_key(auth_server):
    df = bench.run(
        (auth_server.base_url, "espeak", "en-us"),
        SHORT[:1],
        api_key="sk-wrong-1234567",
        repeats=1,
        warmup=0,
        transports=["rest", "ws"],
        progress=False,
    )
    assert set(df["error"]) == {"AuthenticationError"}
    assert not df["error_message"].str.contains("sk-wrong-1234567").any()
    assert "sk-wrong" not in repr(bench.Target("http://x/v1", api_key="sk-wrong-1234567"))


def test_save_wants_a_parquet_path(tmp_path):
    with pytest.raises(InvalidArgument, match="parquet"):
        bench.save(bench.rows.frame([]), tmp_path / "results.csv")


def test_save_blanks_secrets_it_is_told_about(tmp_path):
    df = bench.rows.frame([])
    df.attrs["bench"] = {"arguments": {"targets": ["http://user:s3cret-token@host/v1"]}}
    path = bench.save(df, tmp_path / "results.parquet", secrets=("s3cret-token",))
    assert b"s3cret-token" not in path.read_bytes()
    assert bench.load(path).attrs["bench"]["arguments"]["targets"] == ["http://user:***@host/v1"]
