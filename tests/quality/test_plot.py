"""The quality plots on rows shaped as bench rows with quality columns."""

from __future__ import annotations

import matplotlib
import pandas as pd

from ttskit import plot

matplotlib.use("Agg")

ROWS = pd.DataFrame(
    {
        "model": ["piper"] * 4 + ["espeak"] * 4,
        "voice": ["joe"] * 4 + ["en-us"] * 4,
        "first_audio_s": [0.30, 0.32, 0.31, 0.35, 0.05, 0.06, 0.05, 0.07],
        "wer": [0.0, 0.05, 0.0, 0.0, 0.3, 0.4, 0.2, 0.5],
        "mos_ovrl": [3.2, 3.3, 3.1, 3.2, 2.7, 2.6, 2.8, 2.7],
    }
)


def test_quality_vs_latency_puts_each_target_on_the_pareto_front_it_earns():
    ax = plot.quality_vs_latency(ROWS, quality="wer")
    assert sorted(t.get_text() for t in ax.texts) == ["espeak / en-us", "piper / joe"]
    front = [line for line in ax.get_lines() if line.get_label() == "Pareto front"]
    assert len(front) == 1 and len(front[0].get_xdata()) == 2  # faster one, better one
    slower_and_worse = pd.concat([ROWS, ROWS.assign(model="slow", first_audio_s=1.0, wer=0.9)])
    ax = plot.quality_vs_latency(slower_and_worse, quality="wer")
    assert (
        len([line for line in ax.get_lines() if line.get_label() == "Pareto front"][0].get_xdata())
        == 2
    )
    assert "higher is better" in plot.quality_vs_latency(ROWS, quality="mos_ovrl").get_ylabel()


def test_quality_box_has_a_box_per_target():
    ax = plot.quality_box(ROWS.assign(target=ROWS["model"]))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["espeak", "piper"]
