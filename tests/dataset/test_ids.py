"""Deterministic item ids and leak-free splits."""

from __future__ import annotations

import pytest

from ttskit.dataset.ids import check_splits, item_id, split_of
from ttskit.errors import InvalidArgument


def test_item_ids_depend_on_everything_that_makes_the_audio():
    base = item_id("Hello.", "en-us", "espeak", {"format": "flac", "sample_rate": None})
    assert base == item_id("Hello.", "en-us", "espeak", {"sample_rate": None, "format": "flac"})
    assert base == item_id("Hello.", "en-us", "espeak", {"format": "flac"})
    others = {
        item_id("Hello!", "en-us", "espeak", {"format": "flac"}),
        item_id("Hello.", "en-us+f2", "espeak", {"format": "flac"}),
        item_id("Hello.", "en-us", "piper", {"format": "flac"}),
        item_id("Hello.", "en-us", "espeak", {"format": "wav"}),
        item_id("Hello.", "en-us", "espeak", {"format": "flac", "sample_rate": 16000}),
    }
    assert base not in others and len(others) == 5
    assert len(base) == 16 and int(base, 16) >= 0


def test_a_text_always_lands_in_the_same_split_whatever_its_case_or_spacing():
    splits = {"train": 0.5, "test": 0.5}
    assert split_of("Hello there.", splits) == split_of("  hello   THERE. ", splits)


def test_split_proportions_hold_on_average():
    splits = {"train": 0.8, "validation": 0.1, "test": 0.1}
    chosen = [split_of(f"Sentence number {i}.", splits) for i in range(4000)]
    assert abs(chosen.count("train") / 4000 - 0.8) < 0.03
    assert abs(chosen.count("test") / 4000 - 0.1) < 0.02
    assert split_of("anything", {"train": 1.0, "test": 0.0}) == "train"


@pytest.mark.parametrize(
    "splits",
    [{"train": 0.9}, {"train": 0.9, "test": 0.2}, {"train": -0.5, "test": 1.5}, {"data": 1.0}, {}],
)
def test_bad_splits(splits):
    with pytest.raises(InvalidArgument):
        check_splits(splits)
