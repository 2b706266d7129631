"""LJSpeech and Piper exports of a generated dataset."""

from __future__ import annotations

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
    assert sorted(p.name for p in dest.iterdir()) == ["metadata.csv", "wavs"]


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
