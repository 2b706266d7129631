"""How long a 10-minute Speech of real speech takes to show in a notebook, and its bytes.

Synthesizes about 10 minutes of real speech (eSpeak NG on the embedded local server, with
word timestamps), then measures the kernel CPU time of what a notebook cell ending in
``speech`` does (``repr`` and ``_repr_html_``), against a reference measured in the same
run on the same audio: ``IPython.display.Audio(audio, rate=rate)``, the usual way to play
an array in a notebook (exact 16-bit WAV, base64). Also ``ttskit.plot.waveform``, and the
bytes the cell output adds to an ``.ipynb``.

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
from IPython.display import Audio  # noqa: E402

import ttskit  # noqa: E402
from ttskit import display, plot  # noqa: E402
from ttskit.results import Speech  # noqa: E402

DURATION_S = 600.0
TIME_TARGET_S = 1.0
BYTES_TARGET = 2_000_000
PARAGRAPH = (
    "The committee met on Tuesday to review the budget for the coming year. After a long "
    "discussion, the members agreed to fund the new library, repair the old bridge, and "
    "hire two more teachers. Some residents asked why the park was left out; the chair "
    "promised to revisit it in the spring. Questions? Write to the town clerk before May."
)


def build_speech() -> Speech:
    """About ``DURATION_S`` of eSpeak NG speech with its word timestamps, as one Speech."""
    client = ttskit.local("espeak")
    one = client.speak(PARAGRAPH, alignment="word")
    repeats = int(np.ceil(DURATION_S / one.duration))
    words = [
        one.words.assign(
            start=one.words.start + i * one.duration, end=one.words.end + i * one.duration
        )
        for i in range(repeats)
    ]
    n = int(DURATION_S * one.sample_rate)
    import pandas as pd

    table = pd.concat(words, ignore_index=True)
    return Speech(
        np.tile(one.audio, repeats)[:n],
        one.sample_rate,
        words=table[table.start < DURATION_S].reset_index(drop=True),
        text=" ".join([PARAGRAPH] * repeats),
        model=one.model,
        voice=one.voice,
        endpoint=one.endpoint,
        timing=one.timing,
    )


def timed(function):
    cpu, wall = time.process_time(), time.perf_counter()
    result = function()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    speech = build_speech()
    print(
        f"Speech: {speech.duration / 60:.0f} min of eSpeak NG at {speech.sample_rate} Hz, "
        f"{len(speech.words)} words"
    )

    def show() -> dict:
        return {"text/plain": repr(speech), "text/html": speech._repr_html_()}

    def reference() -> str:
        return Audio(speech.audio, rate=speech.sample_rate)._repr_html_()

    show()  # once before timing, so that first-use imports are not counted
    reference()
    bundle, html_cpu, html_wall = timed(show)
    reference_html, reference_cpu, _ = timed(reference)
    ax, plot_cpu, plot_wall = timed(lambda: plot.waveform(speech))
    png = io.BytesIO()
    # What the inline backend does at the end of the cell: render the figure to PNG.
    _, draw_cpu, draw_wall = timed(lambda: ax.figure.savefig(png, format="png"))
    plt.close(ax.figure)

    print(f"repr + _repr_html_: {html_cpu:.3f} s CPU, {html_wall:.3f} s wall")
    print(
        f"reference, IPython.display.Audio of the same audio: {reference_cpu:.3f} s CPU, "
        f"{len(reference_html) / 1e6:.1f} MB"
    )
    print(
        f"display time: {html_cpu:.2f} s CPU (target <= {TIME_TARGET_S:g} s, "
        f"{html_cpu / TIME_TARGET_S:.2f} of target); ratio to the reference "
        f"{html_cpu / reference_cpu:.2f}"
    )
    print(f"plot.waveform: {plot_cpu:.3f} s CPU, {plot_wall:.3f} s wall")
    print(f"rendering that figure to PNG: {draw_cpu:.3f} s CPU, {draw_wall:.3f} s wall")

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
