"""The manifest and the journal read a record at a time."""

from __future__ import annotations

import pandas as pd

from ttskit.dataset import manifest
from ttskit.dataset.layout import Journal


def _records(n: int) -> list[dict]:
    rows = [{"file_name": f"data/{i}.flac", "id": f"id{i}", "text": f"t{i}"} for i in range(n)]
    rows[-1]["speaker"] = "late"  # a carried column that only the last chunk has
    return rows


def test_a_manifest_built_in_chunks_equals_one_built_whole(monkeypatch, tmp_path):
    whole = manifest.frame(_records(5), tmp_path)
    monkeypatch.setattr(manifest, "CHUNK_ROWS", 2)
    chunked = manifest.frame(iter(_records(5)), tmp_path)
    assert list(chunked.columns) == list(whole.columns) and list(chunked.columns)[-2:] == [
        "speaker",
        "path",
    ]
    pd.testing.assert_frame_equal(chunked, whole, check_dtype=False)
    assert manifest.frame([], tmp_path).empty


def test_the_journal_streams_the_last_record_of_each_item(tmp_path):
    journal = Journal(tmp_path / "journal")
    for record in [{"id": "a", "n": 1}, {"id": "b", "n": 1}, {"id": "a", "n": 2}]:
        journal.append(record)
    journal.close()
    with open(journal.path, "ab") as file:
        file.write(b'{"id": "c", "n"')  # cut short by a crash
    offsets = journal.offsets()
    assert sorted(offsets) == ["a", "b"]
    assert list(journal.latest(offsets)) == [{"id": "b", "n": 1}, {"id": "a", "n": 2}]
    assert list(journal.at([offsets["a"], offsets["b"]])) == [
        {"id": "a", "n": 2},
        {"id": "b", "n": 1},
    ]
    assert journal.read() == {"a": {"id": "a", "n": 2}, "b": {"id": "b", "n": 1}}
