"""LJSpeech and Piper exports of a generated dataset."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

from ttskit import dataset
from ttskit.errors import InvalidArgument

from .conftest import TEXTS, VOICES, options


@pytest.fixture
def made(client, tmp_path):
    texts = pd.DataFrame(
        {
            "text": [*TEXTS[:2], "Pay 5 | 6 dollars."],
            "normalized_text": [None, None, "Pay five or six dollars."],
        }
    )
    out = tmp_path / "ds"
    return out, dataset.generate(texts, VOICES, out, client=client, **options())


def test_ljspeech(made, tmp_path):
    out, table = made
    dest = dataset.export_ljspeech(out, tmp_path / "lj", voice="en-us+f2")
    lines = (dest / "metadata.csv").read_text(encoding="utf-8").splitlines()
    mine = table[table["voice"] == "en-us+f2"].set_index("id")
    assert len(lines) == len(mine) == 3
    for line in lines:
        item, text, normalized = line.split("|")
        assert text == " ".join(mine.loc[item, "text"].replace("|", " ").split())
        assert normalized == ("Pay five or six dollars." if "Pay" in text else text)
        info = sf.info(dest / "wavs" / f"{item}.wav")
        assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16")
        assert info.duration == pytest.approx(mine.loc[item, "duration"], abs=0.01)
    assert sorted(p.name for p in dest.iterdir()) == [".ttskit-folder", "metadata.csv", "wavs"]


def test_ljspeech_is_one_speaker(made, tmp_path):
    out, _ = made
    with pytest.raises(InvalidArgument, match="one speaker.*pass voice="):
        dataset.export_ljspeech(out, tmp_path / "lj")
    with pytest.raises(InvalidArgument, match="en-gb"):
        dataset.export_ljspeech(out, tmp_path / "lj", voice="en-gb")


def test_piper(made, tmp_path):
    out, table = made
    dest = dataset.export_piper(out, tmp_path / "piper", sample_rate=16000)
    rows = [line.split("|") for line in (dest / "metadata.csv").read_text().splitlines()]
    assert len(rows) == len(table) == 6
    assert {speaker for _, speaker, _ in rows} == set(VOICES)
    for name, _, _ in rows:
        assert sf.info(dest / "wavs" / name).samplerate == 16000


def wav_names(dest):
    return sorted(p.name for p in (dest / "wavs").iterdir())


def test_an_export_replaces_an_earlier_one_whole(made, tmp_path):
    out, table = made
    dest = tmp_path / "export"
    dataset.export_piper(out, dest)
    assert len(wav_names(dest)) == 6
    dataset.export_ljspeech(out, dest, voice="en-us")
    lines = (dest / "metadata.csv").read_text(encoding="utf-8").splitlines()
    mine = sorted(f"{item}.wav" for item in table.loc[table["voice"] == "en-us", "id"])
    assert wav_names(dest) == mine and len(lines) == 3
    assert sorted(p.name for p in dest.iterdir()) == [".ttskit-folder", "metadata.csv", "wavs"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_failed_export_leaves_the_earlier_one_as_it_was(made, tmp_path):
    out, table = made
    dest = dataset.export_ljspeech(out, tmp_path / "lj", voice="en-us")
    before = {p.name: p.read_bytes() for p in (dest / "wavs").iterdir()}
    metadata = (dest / "metadata.csv").read_bytes()
    last = table[table["voice"] == "en-us"]["path"].iloc[-1]
    Path(last).write_bytes(b"not audio")
    with pytest.raises(Exception):  # noqa: B017 - whatever the decoder raises
        dataset.export_ljspeech(out, dest, voice="en-us")
    assert {p.name: p.read_bytes() for p in (dest / "wavs").iterdir()} == before
    assert (dest / "metadata.csv").read_bytes() == metadata
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_export_killed_before_its_rename_is_cleared_by_the_next(made, tmp_path):
    out, _ = made
    leftover = tmp_path / ".lj.abc123.partial"
    (leftover / "wavs").mkdir(parents=True)
    (leftover / ".ttskit-folder").write_text('{"made_by": "ttskit.dataset export"}')
    dataset.export_ljspeech(out, tmp_path / "lj", voice="en-us")
    assert not leftover.exists()
    assert len(wav_names(tmp_path / "lj")) == 3


def test_a_folder_with_other_files_is_refused_and_left_as_it_was(made, tmp_path):
    out, _ = made
    dest = tmp_path / "mine"
    (dest / "wavs").mkdir(parents=True)
    (dest / "wavs" / "chapter1.wav").write_bytes(b"RIFF mine")
    (dest / "metadata.csv").write_text("chapter1|my own line\n")
    with pytest.raises(
        InvalidArgument, match=r"did not export \(metadata.csv, wavs\).*new or empty"
    ):
        dataset.export_ljspeech(out, dest, voice="en-us")
    with pytest.raises(InvalidArgument, match="did not export"):
        dataset.export_piper(out, dest)
    assert (dest / "metadata.csv").read_text() == "chapter1|my own line\n"
    assert wav_names(dest) == ["chapter1.wav"]

    (tmp_path / "empty").mkdir()
    assert len(wav_names(dataset.export_piper(out, tmp_path / "empty"))) == 6
    (tmp_path / "a-file").write_text("mine")
    with pytest.raises(InvalidArgument, match="is a file"):
        dataset.export_piper(out, tmp_path / "a-file")


def test_an_export_is_never_inside_the_dataset_folder(made, tmp_path):
    out, _ = made
    for dest in (out / "lj", out / "data" / "lj", out):
        with pytest.raises(InvalidArgument, match="inside the dataset folder"):
            dataset.export_ljspeech(out, dest, voice="en-us")
    with pytest.raises(InvalidArgument, match="holds the dataset"):
        dataset.export_piper(out, tmp_path)
    assert not (out / "lj").exists()


def test_formulas_are_inert_where_no_recipe_reads_them(client, tmp_path):
    texts = ['=HYPERLINK("http://x","y") costs five.', "@home we rest.", "Plain words."]
    out = tmp_path / "ds"
    dataset.generate(texts, ["en-us"], out, client=client, **options())
    lj = dataset.export_ljspeech(out, tmp_path / "lj")
    rows = {
        line.split("|")[2]: line.split("|")[1]
        for line in (lj / "metadata.csv").read_text(encoding="utf-8").splitlines()
    }
    assert rows == {text: ("'" + text if text[0] in "=@" else text) for text in texts}
    piper = dataset.export_piper(out, tmp_path / "piper")
    spoken = [line.split("|")[2] for line in (piper / "metadata.csv").read_text().splitlines()]
    assert sorted(spoken) == sorted(texts)
