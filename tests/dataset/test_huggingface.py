"""Hugging Face ``datasets`` loads a generated folder as it is and decodes its audio.

``datasets`` 4 and later decode audio through torchcodec (torch and FFmpeg's shared
libraries), so this runs in a venv of its own: ``make test-hf``. Without ``datasets`` it
is skipped.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import ttskit
from ttskit import dataset

from .conftest import TEXTS, VOICES, options

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("datasets") is None,
    reason="needs Hugging Face datasets: make test-hf",
)


def samples_of(audio) -> tuple[np.ndarray, int]:
    """Decoded samples and rate from an Audio feature value, in datasets 3 or 5."""
    if isinstance(audio, dict):  # datasets 3: {"array", "sampling_rate", "path"}
        return np.asarray(audio["array"], dtype=np.float32), int(audio["sampling_rate"])
    decoded = audio.get_all_samples()  # datasets 4+: a torchcodec AudioDecoder
    return decoded.data.numpy().mean(axis=0).astype(np.float32), int(decoded.sample_rate)


def test_load_dataset_audiofolder_decodes_every_split(espeak_server, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    out = tmp_path / "ds"
    texts = pd.DataFrame({"text": TEXTS, "topic": [f"topic {i % 2}" for i in range(len(TEXTS))]})
    client = ttskit.Client(espeak_server.base_url, model="espeak")
    table = dataset.generate(
        texts, VOICES, out, client=client, **options(splits={"train": 0.5, "test": 0.5})
    )
    assert set(table["split"]) == {"train", "test"}

    loaded = datasets.load_dataset(
        "audiofolder", data_dir=os.fspath(out), cache_dir=os.fspath(tmp_path / "hf-cache")
    )
    assert set(loaded) == {"train", "test"}
    for split, part in table.groupby("split"):
        rows = loaded[split]
        assert rows.num_rows == len(part)
        assert {"audio", "text", "voice", "model", "duration", "words", "topic"} <= set(
            rows.column_names
        )
        by_id = part.set_index("id")
        for row in rows:
            expected = by_id.loc[row["id"]]
            assert (row["text"], row["voice"], row["topic"]) == (
                expected["text"],
                expected["voice"],
                expected["topic"],
            )
            samples, rate = samples_of(row["audio"])
            reference, reference_rate = sf.read(expected["path"], dtype="float32")
            assert rate == reference_rate == expected["sample_rate"]
            assert len(samples) == len(reference)
            np.testing.assert_allclose(samples, reference, atol=1e-4)
