"""How long a 10-minute Speech takes to show in a notebook, and how much it adds to it.

Builds a 10-minute, 24 kHz Speech of speech-like audio (voiced syllables with a gliding
pitch, breath noise, pauses) with 1,500 words, then measures the kernel time of what a
notebook cell ending in ``speech`` does (``repr`` and ``_repr_html_``) plus
``ttskit.plot.waveform``, and the bytes the cell output adds to an ``.ipynb``.

Run: ``.venv/bin/python benchmarks/display.py``
"""

from __future__ import annotations

import io
import json
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ttskit import display, plot  # noqa: E402
from ttskit.results import Speech, Timing, words_frame  # noqa: E402

SAMPLE_RATE = 24_000
DURATION_S = 600.0
N_WORDS = 1_500
TIME_TARGET_S = 1.0
BYTES_TARGET = 2_000_000


def speech_like(duration_s: float, *, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Voiced syllables (harmonics of a gliding pitch) and noise, gated into words."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * sample_rate)
    t = np.arange(n) / sample_rate
    pitch = 120.0 + 25.0 * np.sin(2 * np.pi * 0.3 * t) + 10.0 * np.sin(2 * np.pi * 2.1 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 16))
    syllables = np.clip(np.sin(2 * np.pi * 2.5 * t), 0.0, None) ** 2
    # About one pause in five 0.4 s word slots.
    words_on = np.repeat(rng.random(n // int(0.4 * sample_rate) + 1) > 0.2, int(0.4 * sample_rate))
    gate = syllables * words_on[:n]
    return (0.15 * voiced * gate + 0.03 * rng.standard_normal(n) * gate).astype(np.float32)


def build_speech() -> Speech:
    slot = DURATION_S / N_WORDS
    starts = np.arange(N_WORDS) * slot
    words = words_frame([f"word{i}" for i in range(N_WORDS)], starts, starts + 0.8 * slot)
    return Speech(
        speech_like(DURATION_S, sample_rate=SAMPLE_RATE),
        SAMPLE_RATE,
        words=words,
        text=" ".join(words["word"]),
        model="bench-model",
        voice="bench-voice",
        endpoint="http://127.0.0.1:0",
        timing=Timing(first_audio_s=0.123, done_s=4.2, sample_rate=SAMPLE_RATE),
    )


def timed(function):
    cpu, wall = time.process_time(), time.perf_counter()
    result = function()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    speech = build_speech()
    print(f"Speech: {speech.duration / 60:.0f} min at {SAMPLE_RATE} Hz, {len(speech.words)} words")

    def show() -> dict:
        return {"text/plain": repr(speech), "text/html": speech._repr_html_()}

    bundle, html_cpu, html_wall = timed(show)
    ax, plot_cpu, plot_wall = timed(lambda: plot.waveform(speech))
    png = io.BytesIO()
    # What the inline backend does at the end of the cell: render the figure to PNG.
    _, draw_cpu, draw_wall = timed(lambda: ax.figure.savefig(png, format="png"))
    plt.close(ax.figure)

    total_cpu = html_cpu + plot_cpu
    print(f"repr + _repr_html_: {html_cpu:.3f} s CPU, {html_wall:.3f} s wall")
    print(f"plot.waveform: {plot_cpu:.3f} s CPU, {plot_wall:.3f} s wall")
    print(f"rendering that figure to PNG: {draw_cpu:.3f} s CPU, {draw_wall:.3f} s wall")
    print(
        f"display time: {total_cpu:.2f} s (target < {TIME_TARGET_S:g} s, "
        f"{total_cpu / TIME_TARGET_S:.2f} of target)"
    )
    with_render = total_cpu + draw_cpu
    print(
        f"display time with the figure rendered: {with_render:.2f} s "
        f"(target < {TIME_TARGET_S:g} s, {with_render / TIME_TARGET_S:.2f} of target)"
    )

    mime, data, embedded_s = display.embedded_audio(speech)
    print(
        f"embedded audio: {mime}, {embedded_s:.0f} s of {speech.duration:.0f} s, "
        f"{len(data) / 1e6:.2f} MB ({len(data) * 8 / embedded_s / 1000:.0f} kbit/s)"
    )

    output = {"output_type": "execute_result", "execution_count": 1, "metadata": {}, "data": bundle}
    notebook_bytes = len(json.dumps(output, indent=1))
    print(
        f"notebook bytes: {notebook_bytes / 1e6:.2f} MB (target <= {BYTES_TARGET / 1e6:g} MB, "
        f"{notebook_bytes / BYTES_TARGET:.2f} of target)"
    )
    print(f"waveform PNG if kept in the notebook: {len(png.getvalue()) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
