"""``ttskit demo``: ttskit's three jobs in small, on the embedded server, in one report.

1. explore: a few sentences streamed with word timestamps (``speech.wav``, ``words.csv``);
2. measure: a short latency experiment, eSpeak NG and Piper, REST vs SSE vs WebSocket,
   at concurrency 1, 2 and 4 (``latency.parquet``);
3. generate: a small dataset in Hugging Face's audiofolder layout (``dataset/``);

then ``report.html``, one self-contained page (players, waveform with words, latency plots
and tables, the dataset's quality table) beside those files.

The demo runs against the embedded local server unless it is given a client, so it works
offline whatever the environment says; a client for another endpoint runs the same steps.

It writes only into a folder of its own: a new or empty one, which it marks as the demo's
(``.ttskit-folder``), or one it marked before, whose files it replaces. A folder holding
anything else is refused, and nothing in it is touched.
"""

from __future__ import annotations

import html
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd

    from .client import Client
    from .results import Speech

__all__ = ["DEMO_TEXT", "DATASET_TEXTS", "DemoResult", "run_demo"]

DEMO_TEXT = (
    "Hello from ttskit. This sentence was streamed to you as it was made, and timed word "
    "by word. The same code runs against a local engine or a hosted API."
)

#: The small dataset's texts: a few kinds a speech recipe meets (numbers, a question, names).
DATASET_TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "Is the meeting at three thirty or at four?",
    "Dr. Smith paid $42.50 for 3 books on May 5th.",
    "Turn left on Elm Street, then right at the station.",
    "Please call me back when you have a minute.",
    "Rainfall this year was twelve percent above average.",
)

# The latency experiment: short and medium texts, two repetitions per cell, so that it
# finishes in well under a minute on two cores and still shows the shape of each curve.
_BENCH_TRANSPORTS = ("rest", "sse", "ws")
_BENCH_CONCURRENCY = (1, 2, 4)
_BENCH_REPEATS = 2
_BENCH_KINDS = ("short", "medium")

#: The dataset columns the report shows.
_QUALITY = [
    "text",
    "voice",
    "split",
    "duration",
    "leading_silence",
    "trailing_silence",
    "peak",
    "loudness_lufs",
    "words_per_second",
    "suspicious",
    "issues",
]

_STYLE = """
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
tr.flagged td { background: #fff4e0; }
td audio { height: 28px; width: 170px; display: block; }
table.dataset td:nth-child(2) { min-width: 13em; }
"""

#: The quality columns (of a quality scorer) the dataset's filter reads, when they exist:
#: (column, keep when, threshold, how the report says it).
_FILTER = (
    ("wer", "max", 0.2, "word error rate above 20%"),
    ("mos_ovrl", "min", 3.0, "DNSMOS overall below 3"),
)


@dataclass(frozen=True)
class DemoResult:
    """What the demo wrote and measured."""

    out: Path
    report: Path
    speech: Speech
    latency: pd.DataFrame
    dataset: pd.DataFrame
    seconds: float

    def summary(self) -> str:
        """A few lines for a terminal: what was made, the headline figures, where it is."""
        from . import bench

        speech = self.speech
        ok = self.latency[~self.latency["warmup"].astype(bool)]
        table = bench.summary(ok, by=["model", "transport"], percentiles=(50,))
        table = table.dropna(subset=["first_audio_p50"]).sort_values("first_audio_p50")
        fastest = "none succeeded"
        if len(table):
            best = table.iloc[0]
            fastest = (
                f"fastest first audio p50 {_ms(best['first_audio_p50'])} "
                f"({best['model']} over {best['transport']})"
            )
        failed = int((~ok["ok"].astype(bool)).sum())
        flagged = int(self.dataset["suspicious"].sum()) if "suspicious" in self.dataset else 0
        lines = [
            f"speech:  {speech.duration:.1f} s of audio, {len(speech.words)} words, first audio "
            f"after {_ms(speech.timing.first_audio_s)} ({speech.model}/{speech.voice})",
            f"latency: {len(ok)} requests ({failed} failed); {fastest}",
            f"dataset: {len(self.dataset)} items, "
            f"{self.dataset['duration'].sum():.1f} s of audio, {flagged} flagged",
            f"report:  {self.report}  (made in {self.seconds:.0f} s)",
        ]
        return "\n".join(lines)


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.0f} ms"


def _models(client: Client) -> list[str]:
    """The engines to compare: espeak and piper when the endpoint serves them."""
    served = set(client.models()["id"])
    wanted = [model for model in ("espeak", "piper") if model in served]
    return wanted or [client.model]


def run_demo(
    out: str | Path = "demo-output",
    *,
    client: Client | None = None,
    text: str = DEMO_TEXT,
    progress: bool = True,
) -> DemoResult:
    """Run the three jobs in small and write ``out/report.html`` with what they made.

    Parameters
    ----------
    out : str or Path
        Folder for the files: new, empty, or one the demo made before (its files are
        replaced); a folder holding anything else is refused.
    client : Client, optional
        Where to send the requests; the embedded local server (Piper when installed) if
        None, whatever ``TTSKIT_BASE_URL`` says.
    text : str
        What the first step says.
    progress : bool
        Show a progress bar (``tqdm.auto``).

    Returns
    -------
    DemoResult

    Raises
    ------
    InvalidArgument
        For an empty text, a folder that cannot be made, or a folder the demo did not
        make that holds files (nothing in it is touched).
    KeyboardInterrupt
        On Ctrl-C, with a message naming the files kept (those written before it, and the
        latency rows measured so far); ``report.html`` is written only by a complete run.
    """
    from tqdm.auto import tqdm

    from . import bench, dataset
    from .client import local

    if not text.strip():
        raise InvalidArgument("the demo's text is empty; pass some words to say")
    folder = Path(out)
    _claim(folder)
    # A report from an earlier run would describe files this run may not get to replace.
    (folder / "report.html").unlink(missing_ok=True)
    written: list[str] = []
    started = time.perf_counter()
    steps = tqdm(total=4, desc="ttskit demo", unit="step", disable=not progress)
    try:
        if client is None:
            steps.set_postfix_str("starting the local server")
            client = local()
        steps.set_postfix_str("speaking")
        speech = client.speak(text, alignment="word")
        speech.save(folder / "speech.wav")
        speech.words.to_csv(folder / "words.csv", index=False)
        written += ["speech.wav", "words.csv"]
        steps.update()

        steps.set_postfix_str("measuring latency")
        targets = [(client, model, None) for model in _models(client)]
        with warnings.catch_warnings():
            # On Ctrl-C bench.run warns and returns the rows so far: the demo says it below.
            warnings.simplefilter("ignore", RuntimeWarning)
            latency = bench.run(
                targets,
                bench.builtin_texts(_BENCH_KINDS),
                transports=_BENCH_TRANSPORTS,
                concurrency=_BENCH_CONCURRENCY,
                repeats=_BENCH_REPEATS,
                progress=False,
            )
        bench.save(latency, folder / "latency.parquet")
        written.append("latency.parquet")
        if latency.attrs.get("bench", {}).get("interrupted"):
            raise KeyboardInterrupt
        steps.update()

        steps.set_postfix_str("generating a dataset")
        table = dataset.generate(
            list(DATASET_TEXTS),
            [speech.voice],
            folder / "dataset",
            client=client,
            model=speech.model,
            splits={"train": 0.67, "test": 0.33},
            overwrite=True,
            progress=False,
        )
        written.append("dataset/")
        steps.update()

        steps.set_postfix_str("writing the report")
        report = folder / "report.html"
        report.write_text(_page(speech, latency, table, folder), encoding="utf-8")
        steps.set_postfix_str("done")
        steps.update()
    except KeyboardInterrupt:
        steps.close()
        where = f"kept {', '.join(written)} in {folder}" if written else "nothing was written"
        raise KeyboardInterrupt(f"interrupted; {where}") from None
    finally:
        steps.close()
    return DemoResult(folder, report, speech, latency, table, time.perf_counter() - started)


#: What the marker file of the demo's folder says.
MADE_BY = "ttskit demo"


def _claim(folder: Path) -> None:
    """Make ``folder`` the demo's, or refuse one that holds what the demo did not make."""
    from .dataset.layout import Layout, listing, made_by, mark

    if folder.is_dir() and made_by(folder) != MADE_BY:
        inside = list(folder.iterdir())
        if inside:
            raise InvalidArgument(
                f"the output folder {str(folder)!r} holds files ttskit demo did not make "
                f"({listing(inside, folder)}); the demo writes only into a new or empty "
                "folder, or one it made: choose another (ttskit demo -o FOLDER)"
            )
    data = Layout(folder / "dataset")
    foreign = data.foreign()
    if foreign:
        raise InvalidArgument(
            f"{str(data.root)!r} holds files the demo's dataset did not make "
            f"({listing(foreign, data.root)}); move them out, or choose another output "
            "folder (ttskit demo -o FOLDER)"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        mark(folder, MADE_BY)
    except OSError as exc:
        raise InvalidArgument(
            f"cannot make the output folder {str(folder)!r} ({exc.strerror}); pick another one"
        ) from exc


def _player(item: pd.Series, folder: Path) -> str:
    """An inline player of a dataset item's file, embedded as a data address."""
    import base64
    import mimetypes

    path = item.get("path")
    path = Path(path) if isinstance(path, str) and path else folder / "dataset" / item["file_name"]
    kind = mimetypes.guess_type(path.name)[0] or f"audio/{path.suffix.lstrip('.')}"
    if kind == "audio/x-flac":
        kind = "audio/flac"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    title = html.escape(str(item["file_name"]))
    source = f"data:{kind};base64,{data}"
    return f"<audio controls preload='metadata' title='{title}' src='{source}'></audio>"


def _dataset_section(table: pd.DataFrame, folder: Path) -> list[str]:
    """The dataset's quality table, flagged items first, each with its player; the filter."""
    import pandas as pd

    from .bench.tables import cell_class, cell_text

    reasons = ["the checks of <code>issues</code> (silences, clipping, speaking rate)"]
    if "suspicious" in table.columns:
        flagged = table["suspicious"].fillna(False).astype(bool)
    else:
        flagged = pd.Series(False, index=table.index)
    for column, keep, threshold, said in _FILTER:
        if column in table.columns:
            values = table[column]
            miss = values > threshold if keep == "max" else values < threshold
            flagged = flagged | miss.fillna(False).astype(bool)
            reasons.append(html.escape(said))
    # A column with one value for every item is said once, above the table.
    same = {
        c: table[c].iloc[0] for c in ("voice", "model") if c in table and table[c].nunique() == 1
    }
    shown = [c for c in _QUALITY if c in table.columns and c not in same]
    shown += [c for c, *_ in _FILTER if c in table.columns and c not in shown]
    order = table.assign(_flagged=flagged).sort_values("_flagged", ascending=False, kind="stable")
    # Long column names may break at their underscores, so that the numbers keep the width.
    head = "".join(
        f"<th>{html.escape(c).replace('_', '_<wbr>') if len(c) > 14 else html.escape(c)}</th>"
        for c in ["listen", *shown]
    )
    rows = []
    for _, item in order.iterrows():
        values = [round(item[c], 3) if isinstance(item[c], float) else item[c] for c in shown]
        cells = "".join(f"<td{cell_class(v)}>{html.escape(cell_text(v))}</td>" for v in values)
        css = " class='flagged'" if item["_flagged"] else ""
        rows.append(f"<tr{css}><td>{_player(item, folder)}</td>{cells}</tr>")
    kept = int((~flagged).sum())
    rule = ", ".join(reasons[:-1]) + (" or " if len(reasons) > 1 else "") + reasons[-1]
    return [
        f"<p>The filter drops an item flagged by {rule}: {int(flagged.sum())} of "
        f"{len(table)} items flagged, {kept} kept. "
        + "".join(
            f"All items are in {c} <code>{html.escape(str(v))}</code>. " for c, v in same.items()
        )
        + "Flagged items come first and are "
        "highlighted; each plays its file from <code>dataset/</code>, embedded so that the "
        "page stands alone.</p>",
        f"<div class='table-wrap'><table class='summary dataset'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>",
    ]


def _page(speech: Speech, latency: pd.DataFrame, table: pd.DataFrame, folder: Path) -> str:
    from .bench.report import STYLE, sections
    from .bench.tables import metadata_html
    from .display import speech_html

    files = ", ".join(
        f"<code>{name}</code>"
        for name in ("speech.wav", "words.csv", "latency.parquet", "dataset/")
    )
    made = latency.attrs.get("bench", {}).get("date", "")
    words = speech.words.to_html(index=False, float_format=lambda v: f"{v:.3f}")
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>ttskit demo</title>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<style>{STYLE}{_STYLE}</style></head><body>",
        "<h1>ttskit demo</h1>",
        f"<p class='note'>Made {html.escape(made)} against "
        f"<code>{html.escape(str(speech.endpoint))}</code>. Beside this page in "
        f"<code>{html.escape(str(folder))}</code>: {files}.</p>",
        "<h2>1. Explore: speech with word timestamps</h2>",
        "<p>One request, streamed: the player and the waveform with each word's span "
        "(hover a word for its times). The same words are in <code>words.csv</code>.</p>",
        speech_html(speech),
        f"<details><summary>{len(speech.words)} word timestamps (seconds)</summary>"
        f"{words}</details>",
        "<h2>2. Measure: latency by engine, transport and concurrency</h2>",
        "<p>Every request is a row of <code>latency.parquet</code> "
        "(<code>ttskit.bench.load</code> reads it with the run's metadata); the first request "
        "over each transport is a warm-up, left out of the tables.</p>",
        *sections(latency, level=3, by="transport", facet="model", run=False),
        "<h2>3. Generate: a dataset with quality columns</h2>",
        f"<p>{len(table)} items in Hugging Face's audiofolder layout: "
        "<code>datasets.load_dataset('audiofolder', data_dir='dataset')</code> loads the "
        "folder, and <code>ttskit.dataset.load('dataset')</code> reads this table back. "
        "<code>suspicious</code> flags items to listen to, with the reasons in "
        "<code>issues</code>.</p>",
        *_dataset_section(table, folder),
        "<h2>The run</h2>",
        metadata_html(latency.attrs.get("bench", {})),
        "</body></html>",
    ]
    return "\n".join(parts)
