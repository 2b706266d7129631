"""Regenerate the README's pictures from real runs against the embedded local server.

Run from the repository root (needs the ``server``, ``piper``, ``bench`` and ``dataset``
extras)::

    python docs/images/make_images.py

It writes ``waveform.png`` (a sentence with its word spans), ``latency.png`` (eSpeak NG's first
audio by transport, and against concurrency) and ``dataset.png`` (a generated dataset's quality
table) beside itself. The figures are whatever this machine measures; nothing is faked.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

import ttskit  # noqa: E402
from ttskit import bench, dataset, plot  # noqa: E402

HERE = Path(__file__).resolve().parent
DPI = 100

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Is the meeting at three thirty or at four?",
    "Dr. Smith paid $42.50 for 3 books on May 5th.",
    "Please call me back when you have a minute.",
]


def waveform(client: ttskit.Client) -> None:
    speech = client.speak("Hello from ttskit, word by word.", alignment="word")
    fig, ax = plt.subplots(figsize=(8, 2.4), dpi=DPI)
    plot.waveform(speech, ax=ax, linewidth=0.6)
    ax.set_title(f"{speech.model} / {speech.voice}: waveform with word timestamps")
    fig.tight_layout()
    fig.savefig(HERE / "waveform.png")
    plt.close(fig)


def latency() -> None:
    # eSpeak NG: the fastest engine, so the plot shows the transports more than the engine.
    df = bench.run(
        ttskit.local("espeak"),
        bench.builtin_texts(["short", "medium"]),
        transports=["rest", "sse", "ws"],
        concurrency=[1, 2, 4],
        repeats=2,
        progress=False,
    )
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2), dpi=DPI)
    plot.first_audio_ecdf(df, by="transport", ax=left)
    plot.load_curve(df[df["transport"] == "sse"], level="concurrency", ax=right)
    right.set_title("espeak over SSE: first audio and throughput", fontsize=10)
    left.title.set_fontsize(10)
    fig.tight_layout()
    fig.savefig(HERE / "latency.png")
    plt.close(fig)


def dataset_table(client: ttskit.Client) -> None:
    with tempfile.TemporaryDirectory() as folder:
        table = dataset.generate(
            TEXTS, [client.voice], Path(folder) / "ds", client=client, progress=False
        )
    columns = [
        "text",
        "duration",
        "leading_silence",
        "peak",
        "loudness_lufs",
        "words_per_second",
        "suspicious",
    ]
    shown = table[columns].copy()
    shown["text"] = [t if len(t) <= 40 else t[:39] + "…" for t in shown["text"]]
    for column in columns[1:-1]:
        shown[column] = shown[column].map(lambda v: f"{v:.2f}")
    fig, ax = plt.subplots(figsize=(7, 0.3 + 0.25 * (len(shown) + 1)), dpi=DPI)
    ax.axis("off")
    cells = ax.table(
        cellText=shown.astype(str).values,
        colLabels=[c.replace("_", " ") for c in columns],
        loc="center",
        cellLoc="right",
    )
    cells.auto_set_font_size(False)
    cells.set_fontsize(8)
    cells.auto_set_column_width(list(range(len(columns))))
    for (row, col), cell in cells.get_celld().items():
        if row == 0:
            cell.set_facecolor("#eeeeee")
        if col == 0:
            cell.set_text_props(ha="left")
    ax.set_title("ttskit.dataset.generate(...): one row per item, quality columns", fontsize=9)
    fig.tight_layout()
    fig.savefig(HERE / "dataset.png", bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)


def main() -> None:
    client = ttskit.local()
    waveform(client)
    latency()
    dataset_table(client)
    for name in ("waveform.png", "latency.png", "dataset.png"):
        path = HERE / name
        print(f"{path}: {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
