"""Texts in every accepted form, cleaned, with their carried columns."""

from __future__ import annotations

import pandas as pd
import pytest

from ttskit.dataset.inputs import read_texts
from ttskit.errors import InvalidArgument


def test_a_list_is_cleaned_empty_texts_skipped_and_duplicates_kept_once():
    texts = read_texts(["Hello  there.", "   ", "", "Hello there.", "Bye.\n"])
    assert list(texts.table["text"]) == ["Hello there.", "Bye."]
    assert (texts.n_given, texts.n_empty, texts.n_duplicate) == (5, 2, 1)
    assert texts.table["text_id"].is_unique
    assert texts.carried == []


def test_text_ids_are_stable_without_an_id_column():
    first = read_texts(["One.", "Two."]).table
    second = read_texts(["Two.", "One."]).table
    assert dict(zip(first["text"], first["text_id"], strict=True)) == dict(
        zip(second["text"], second["text_id"], strict=True)
    )


def test_a_dataframe_carries_its_id_and_extra_columns():
    frame = pd.DataFrame(
        {"id": ["a", "b", "c"], "text": ["One.", " ", "Three."], "speaker_age": [30, 40, 50]}
    )
    texts = read_texts(frame)
    assert list(texts.table.columns) == ["text_id", "text", "speaker_age"]
    assert list(texts.table["text_id"]) == ["a", "c"]
    assert list(texts.table["speaker_age"]) == [30, 50]


def test_a_series_with_labels_uses_them_as_text_ids():
    texts = read_texts(pd.Series(["One.", "Two."], index=["x1", "x2"]))
    assert list(texts.table["text_id"]) == ["x1", "x2"]


@pytest.mark.parametrize("suffix", [".txt", ".csv", ".jsonl"])
def test_files(tmp_path, suffix):
    path = tmp_path / f"texts{suffix}"
    if suffix == ".txt":
        path.write_text("First line.\n\nSecond line.\n", encoding="utf-8")
    else:
        frame = pd.DataFrame({"id": ["p1", "p2"], "text": ["First line.", "Second line."]})
        frame["domain"] = ["news", "chat"]
        if suffix == ".csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_json(path, orient="records", lines=True)
    texts = read_texts(path)
    assert list(texts.table["text"]) == ["First line.", "Second line."]
    if suffix != ".txt":
        assert list(texts.table["text_id"]) == ["p1", "p2"]
        assert list(texts.table["domain"]) == ["news", "chat"]
    else:
        assert texts.n_empty == 1


@pytest.mark.parametrize(
    ("texts", "says"),
    [
        ("Hello there.", "pass a list"),
        ("missing.csv", "does not exist"),
        (pd.DataFrame({"sentence": ["x"]}), "no 'text' column"),
        (pd.DataFrame({"text": ["x"], "duration": [1.0]}), "['duration']"),
        ([1, 2], "must be strings"),
        (42, "texts must be"),
    ],
)
def test_bad_texts_say_what_is_wrong(texts, says):
    with pytest.raises(InvalidArgument, match=None) as caught:
        read_texts(texts)
    assert says in str(caught.value)
