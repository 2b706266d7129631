"""Quality columns and loudness normalization on signals with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyloudnorm
import pytest

from ttskit.audio import sine
from ttskit.dataset.quality import SILENCE_LUFS, measure, normalize_loudness

RATE = 24000


def padded(lead_s: float, tone_s: float, trail_s: float, amplitude: float = 0.5) -> np.ndarray:
    return np.concatenate(
        [
            np.zeros(int(lead_s * RATE), np.float32),
            sine(300, duration=tone_s, sample_rate=RATE, amplitude=amplitude),
            np.zeros(int(trail_s * RATE), np.float32),
        ]
    )


def words(*spans) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "word": [f"w{i}" for i in range(len(spans))],
            "start": [s for s, _ in spans],
            "end": [e for _, e in spans],
        }
    )


def test_silences_peak_and_rate():
    row = measure(padded(0.3, 2.0, 0.5), sample_rate=RATE, text="one two three four")
    assert row["duration"] == pytest.approx(2.8)
    assert row["leading_silence"] == pytest.approx(0.3, abs=0.011)
    assert row["trailing_silence"] == pytest.approx(0.5, abs=0.011)
    assert row["peak"] == pytest.approx(0.5, abs=1e-3)
    assert row["words_per_second"] == pytest.approx(2.0, rel=0.02)
    assert row["clipped_fraction"] == 0.0
    assert row["timestamps_cover"] is None and row["n_words"] == 0
    assert not row["suspicious"] and row["issues"] == ""


def test_loudness_is_pyloudnorms():
    audio = padded(0.0, 3.0, 0.0, amplitude=0.25)
    expected = pyloudnorm.Meter(RATE).integrated_loudness(audio.astype(np.float64))
    assert measure(audio, sample_rate=RATE)["loudness_lufs"] == pytest.approx(expected)


def test_short_audio_is_measured_repeated():
    long = measure(padded(0, 2.0, 0), sample_rate=RATE)["loudness_lufs"]
    short = measure(padded(0, 0.2, 0), sample_rate=RATE)["loudness_lufs"]
    assert short == pytest.approx(long, abs=0.5)


@pytest.mark.parametrize(
    ("audio", "flag", "issue"),
    [
        (np.zeros(0, np.float32), "empty", "empty"),
        (np.zeros(RATE, np.float32), "silent", "silent"),
        (np.clip(padded(0, 1.0, 0, amplitude=2.0), -1, 1), None, "clipped"),
        (padded(2.0, 1.0, 0), None, "long_leading_silence"),
        (padded(0, 1.0, 3.0), None, "long_trailing_silence"),
    ],
)
def test_flags(audio, flag, issue):
    row = measure(audio, sample_rate=RATE, text="one")
    assert row["suspicious"] and issue in row["issues"].split(";")
    if flag:
        assert row[flag]
    assert np.isfinite(row["loudness_lufs"]) and np.isfinite(row["words_per_second"])
    if flag in ("empty", "silent"):
        assert row["loudness_lufs"] == SILENCE_LUFS


def test_speaking_rate_out_of_range_is_suspicious():
    fast = measure(padded(0, 1.0, 0), sample_rate=RATE, text=" ".join(["word"] * 12))
    slow = measure(padded(0, 10.0, 0), sample_rate=RATE, text="three small words")
    assert "fast" in fast["issues"] and "slow" in slow["issues"]


def test_word_timestamps_must_cover_the_sound():
    audio = padded(0.2, 2.0, 0.2)
    good = measure(audio, sample_rate=RATE, text="a b", words=words((0.2, 1.1), (1.2, 2.2)))
    short = measure(audio, sample_rate=RATE, text="a b", words=words((0.2, 0.6), (0.7, 1.0)))
    none = measure(audio, sample_rate=RATE, text="a b", words=words())
    assert good["timestamps_cover"] is True and not good["suspicious"]
    assert short["timestamps_cover"] is False and "timestamps_gap" in short["issues"]
    assert none["timestamps_cover"] is False and none["n_words"] == 0


def test_normalization_reaches_the_target_without_clipping():
    quiet = padded(0.1, 2.0, 0.1, amplitude=0.05)
    louder, gain = normalize_loudness(quiet, sample_rate=RATE, target_lufs=-23.0)
    assert gain > 0
    assert measure(louder, sample_rate=RATE)["loudness_lufs"] == pytest.approx(-23.0, abs=0.1)
    capped, _ = normalize_loudness(quiet, sample_rate=RATE, target_lufs=-1.0)
    assert 0.98 < np.max(np.abs(capped)) < 1.0
    silent, gain = normalize_loudness(np.zeros(RATE, np.float32), sample_rate=RATE, target_lufs=-23)
    assert gain == 0.0 and not np.any(silent)
