"""dataset.filter and ``ttskit quality`` on a dataset the local server made."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ttskit import dataset
from ttskit.cli import main
from ttskit.errors import InvalidArgument

TEXTS = ["Please call me back before five o'clock.", "Zxqv wrrk plimf gorbn."]


@pytest.fixture(scope="module")
def folder(espeak_client, tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "made"
    dataset.generate(TEXTS, ["en-us"], out, client=espeak_client, workers=1, progress=False)
    return out


def test_filter_writes_a_copy_without_the_items_whose_audio_does_not_say_their_text(
    folder, tmp_path
):
    kept = dataset.filter(folder, "wer <= 0.5", tmp_path / "clean", progress=False)
    assert kept["text"].tolist() == [TEXTS[0]]
    assert kept["wer"].iloc[0] <= 0.5
    again = dataset.load(tmp_path / "clean")
    assert again["wer"].tolist() == kept["wer"].tolist()
    lines = (tmp_path / "clean" / "data" / "metadata.jsonl").read_text().splitlines()
    assert [json.loads(line)["text"] for line in lines] == [TEXTS[0]]
    assert (tmp_path / "clean" / kept["file_name"].iloc[0]).is_file()
    assert len(list((tmp_path / "clean" / "data").glob("*.flac"))) == 1


def test_filter_takes_a_function_and_refuses_a_bad_rule(folder, tmp_path):
    kept = dataset.filter(folder, lambda m: m["text"].str.startswith("Zx"), tmp_path / "odd")
    assert kept["text"].tolist() == [TEXTS[1]]
    with pytest.raises(InvalidArgument, match="not an expression"):
        dataset.filter(folder, "text ==", tmp_path / "bad")
    with pytest.raises(InvalidArgument, match="is the dataset itself"):
        dataset.filter(folder, "wer < 1", folder)


def test_ttskit_quality_writes_scores_a_filter_reads_back(folder, tmp_path, capsys):
    scores = tmp_path / "scores.csv"
    assert (
        main(["quality", str(folder), "--metrics", "vad", "-o", str(scores), "--no-progress"]) == 0
    )
    assert "2 scored" in capsys.readouterr().out
    table = pd.read_csv(scores)
    assert table["text"].tolist() == TEXTS and table["speech_onset_s"].notna().all()
    kept = dataset.filter(folder, "speech_onset_s < 5", tmp_path / "all", scores=scores)
    assert len(kept) == 2


def test_ttskit_quality_fails_in_one_line_on_a_path_that_is_not_a_table(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hi")
    assert main(["quality", str(tmp_path / "notes.txt"), "--metrics", "vad"]) == 1
    assert "neither a dataset folder" in capsys.readouterr().err
