"""Texts are data: a text no UTF-8 file can hold is refused at the door, by name."""

from __future__ import annotations

import pandas as pd
import pytest

import ttskit
from ttskit import bench, dataset
from ttskit.errors import InvalidArgument

ODD = "Hello \ud800 there."


def test_bench_run_names_the_text_before_sending(espeak_server):
    client = ttskit.Client(espeak_server.base_url, model="espeak")
    with pytest.raises(InvalidArgument, match=r"text 1 \('Hello \\ud800 there.'\).*surrogate"):
        bench.run([client], ["Fine.", ODD], transports=["rest"], progress=False)
    frame = pd.DataFrame({"text": pd.Series(["Fine.", ODD], dtype=object)})
    with pytest.raises(InvalidArgument, match=r"text 1 .*character 6"):
        bench.run([client], frame, transports=["rest"], progress=False)


def test_bench_save_names_the_cell_pyarrow_cannot_store(espeak_server, tmp_path):
    client = ttskit.Client(espeak_server.base_url, model="espeak")
    rows = bench.run([client], ["Fine."], transports=["rest"], repeats=1, progress=False)
    rows["label"] = pd.Series(["mine"] * len(rows), dtype=object)
    rows.loc[rows.index[-1], "label"] = "x\udc80"
    with pytest.raises(InvalidArgument, match=rf"row {rows.index[-1]}'s label \('x\\udc80'\)"):
        bench.save(rows, tmp_path / "rows.parquet")
    assert not (tmp_path / "rows.parquet").exists()
    rows["label"] = "$x_{$ and =1+1"
    assert bench.load(bench.save(rows, tmp_path / "rows.parquet"))["label"].iloc[0] == (
        "$x_{$ and =1+1"
    )


def test_dataset_generate_names_the_text_before_making_anything(espeak_server, tmp_path):
    client = ttskit.Client(espeak_server.base_url, model="espeak")
    out = tmp_path / "ds"
    with pytest.raises(InvalidArgument, match=r"text 1 \('Hello \\ud800 there.'\)"):
        dataset.generate(["Fine.", ODD], None, out, client=client, progress=False)
    carried = pd.DataFrame(
        {"text": ["Fine."], "note": pd.Series(["a \udfff"], dtype=object)}, dtype=object
    )
    with pytest.raises(InvalidArgument, match=r"note 0 \('a \\udfff'\)"):
        dataset.generate(carried, None, out, client=client, progress=False)
    assert not out.exists()


def test_a_texts_file_that_is_not_utf8_is_named(espeak_server, tmp_path):
    client = ttskit.Client(espeak_server.base_url, model="espeak")
    for name in ("texts.txt", "texts.csv"):
        path = tmp_path / name
        path.write_bytes(b"text\nCaf\xe9 au lait.\n")
        with pytest.raises(InvalidArgument, match=rf"{name}'.*not UTF-8.*save it as UTF-8"):
            dataset.generate(path, None, tmp_path / "ds", client=client, progress=False)
