"""``ttskit demo``: ttskit's four jobs in small, on the embedded server, in one report.

1. explore: a few sentences streamed with word timestamps (``speech.wav``, ``words.csv``);
2. measure: a short latency experiment, eSpeak NG and Piper, REST vs SSE vs WebSocket,
   at concurrency 1, 2 and 4 (``latency.parquet``);
3. generate: a small dataset in Hugging Face's audiofolder layout (``dataset/``), each
   item scored as it is made;
4. check: whether the speech says its text and how it sounds (``ttskit.quality``: WER
   through Whisper, DNSMOS, speech onset, word timestamps against a forced alignment),
   for the speech of step 1 and the dataset, and the dataset filtered on those scores
   (``dataset-filtered/``);

then ``report.html``, one self-contained page (players, waveform with words, latency plots
and tables, the scores and the dataset's quality table) beside those files. Without the
``quality`` extra the fourth job is skipped, and the summary says what to install.

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

__all__ = ["DATASET_TEXTS", "DEMO_TEXT", "FILTER", "DemoResult", "run_demo"]

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
    "wer",
    "mos_ovrl",
    "speech_onset_s",
    "loudness_lufs",
    "suspicious",
    "issues",
]

#: What flags a dataset item in the demo (``quality.Limits``' fields), and the filter that
#: makes ``dataset-filtered/``: an item another listener would also reject.
_MAX_WER = 0.2
_MIN_MOS_OVRL = 3.0
FILTER = f"wer <= {_MAX_WER} and mos_ovrl >= {_MIN_MOS_OVRL:g}"

_STYLE = """
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
tr.flagged td { background: #fff4e0; }
td audio { height: 28px; width: 170px; display: block; }
table.dataset td:nth-child(2) { min-width: 13em; }
"""


@dataclass(frozen=True)
class DemoResult:
    """What the demo wrote and measured."""

    out: Path
    report: Path
    speech: Speech
    latency: pd.DataFrame
    dataset: pd.DataFrame
    seconds: float
    #: The speech's scores (``quality.score``), None when the quality extra is missing.
    quality: pd.Series | None = None
    #: The manifest of ``dataset-filtered/`` (``dataset.filter(..., FILTER, ...)``).
    filtered: pd.DataFrame | None = None
    #: Why the quality job did not run, when it did not.
    skipped: str = ""

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
            f"quality: {self._quality_line()}",
            f"report:  {self.report}  (made in {self.seconds:.0f} s)",
        ]
        return "\n".join(lines)

    def _quality_line(self) -> str:
        if self.quality is None:
            return f"not checked ({self.skipped})"
        table = self.dataset
        kept = len(self.filtered) if self.filtered is not None else 0
        return (
            f"speech WER {_percent(self.quality['wer'])}, DNSMOS {_mos(self.quality['mos_ovrl'])}; "
            f"dataset median WER {_percent(table['wer'].median())}, DNSMOS "
            f"{_mos(table['mos_ovrl'].median())}; {kept} of {len(table)} items kept by the filter"
        )


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.0f} ms"


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _percent(rate: float | None) -> str:
    return "n/a" if _missing(rate) else f"{float(rate) * 100:.0f}%"


def _mos(value: float | None) -> str:
    return "n/a" if _missing(value) else f"{float(value):.2f}"


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
    """Run the four jobs in small and write ``out/report.html`` with what they made.

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
    from .errors import MissingExtra

    if not text.strip():
        raise InvalidArgument("the demo's text is empty; pass some words to say")
    folder = Path(out)
    _claim(folder)
    # A report from an earlier run would describe files this run may not get to replace.
    (folder / "report.html").unlink(missing_ok=True)
    written: list[str] = []
    started = time.perf_counter()
    steps = tqdm(total=5, desc="ttskit demo", unit="step", disable=not progress)
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
        options = {
            "client": client,
            "model": speech.model,
            "splits": {"train": 0.67, "test": 0.33},
            "overwrite": True,
            "progress": False,
        }
        texts, voices = list(DATASET_TEXTS), [speech.voice]
        skipped = ""
        try:
            from .quality import Limits

            limits = Limits(max_wer=_MAX_WER, min_mos_ovrl=_MIN_MOS_OVRL)
            table = dataset.generate(
                texts, voices, folder / "dataset", quality=True, quality_limits=limits, **options
            )
        except MissingExtra as exc:
            # Refused before anything was made: the three other jobs still run.
            skipped = str(exc)
            table = dataset.generate(texts, voices, folder / "dataset", **options)
        written.append("dataset/")
        steps.update()

        scores = filtered = None
        if not skipped:
            from . import quality

            steps.set_postfix_str("checking the speech")
            # The scorers generate() loaded in this process score the speech too.
            scores = quality.score(speech)
            filtered = dataset.filter(
                folder / "dataset",
                FILTER,
                folder / "dataset-filtered",
                overwrite=True,
                progress=False,
            )
            written.append("dataset-filtered/")
        steps.update()

        steps.set_postfix_str("writing the report")
        report = folder / "report.html"
        page = _page(speech, latency, table, folder, scores=scores, filtered=filtered)
        report.write_text(page, encoding="utf-8")
        steps.set_postfix_str("done")
        steps.update()
    except KeyboardInterrupt:
        steps.close()
        where = f"kept {', '.join(written)} in {folder}" if written else "nothing was written"
        raise KeyboardInterrupt(f"interrupted; {where}") from None
    finally:
        steps.close()
    seconds = time.perf_counter() - started
    return DemoResult(
        folder, report, speech, latency, table, seconds, scores, filtered, skipped=skipped
    )


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


def _limits_said(limits: dict) -> str:
    """The quality limits of a run as words."""
    said = [
        ("max_wer", "a word error rate above {:.0%}"),
        ("min_mos_ovrl", "a DNSMOS overall below {:g}"),
        ("max_onset_s", "speech starting after {:g} s"),
        ("max_trailing_silence_s", "a trailing silence over {:g} s"),
        ("max_timestamp_offset_ms", "word timestamps off by over {:g} ms"),
    ]
    return ", ".join(text.format(limits[key]) for key, text in said if key in limits)


def _cell(column: str, value: object) -> object:
    """A dataset table's value as shown: numbers to 3 decimals, issues that may wrap."""
    if isinstance(value, float):
        return round(value, 3)
    if column == "issues" and isinstance(value, str):
        return value.replace(";", "; ")
    return value


def _dataset_section(
    table: pd.DataFrame, folder: Path, filtered: pd.DataFrame | None = None
) -> list[str]:
    """The dataset's quality table, flagged items first, each with its player; the filter."""
    import pandas as pd

    from .bench.tables import cell_class, cell_text

    reasons = "the checks of <code>issues</code> (silences, clipping, speaking rate)"
    limits = table.attrs.get("quality", {}).get("limits")
    if limits:
        reasons += f" or by the scores of <code>ttskit.quality</code> ({_limits_said(limits)})"
    if "suspicious" in table.columns:
        flagged = table["suspicious"].fillna(False).astype(bool)
    else:
        flagged = pd.Series(False, index=table.index)
    # A column with one value for every item is said once, above the table.
    same = {
        c: table[c].iloc[0] for c in ("voice", "model") if c in table and table[c].nunique() == 1
    }
    shown = [c for c in _QUALITY if c in table.columns and c not in same]
    order = table.assign(_flagged=flagged).sort_values("_flagged", ascending=False, kind="stable")
    # Long column names may break at their underscores, so that the numbers keep the width.
    head = "".join(
        f"<th>{html.escape(c).replace('_', '_<wbr>') if len(c) > 10 else html.escape(c)}</th>"
        for c in ["listen", *shown]
    )
    rows = []
    for _, item in order.iterrows():
        values = [_cell(c, item[c]) for c in shown]
        cells = "".join(f"<td{cell_class(v)}>{html.escape(cell_text(v))}</td>" for v in values)
        css = " class='flagged'" if item["_flagged"] else ""
        rows.append(f"<tr{css}><td>{_player(item, folder)}</td>{cells}</tr>")
    kept = ""
    if filtered is not None:
        kept = (
            f" <code>ttskit.dataset.filter('dataset', \"{html.escape(FILTER)}\", "
            f"'dataset-filtered')</code> kept {len(filtered)} of {len(table)} items in "
            "<code>dataset-filtered/</code>, a training-ready copy in the same layout."
        )
    return [
        f"<p>An item is flagged by {reasons}: {int(flagged.sum())} of {len(table)} items "
        f"flagged.{kept} "
        + "".join(
            f"All items are in {c} <code>{html.escape(str(v))}</code>. " for c, v in same.items()
        )
        + "Flagged items come first and are "
        "highlighted; each plays its file from <code>dataset/</code>, embedded so that the "
        "page stands alone.</p>",
        f"<div class='table-wrap'><table class='summary dataset'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>",
    ]


#: The speech's scores the report shows: (column, label, scale, digits).
_SCORES = (
    ("wer", "word error rate (%)", 100.0, 1),
    ("cer", "character error rate (%)", 100.0, 1),
    ("mos_p808", "DNSMOS P.808 (1 to 5)", 1.0, 2),
    ("mos_ovrl", "DNSMOS overall (1 to 5)", 1.0, 2),
    ("mos_sig", "DNSMOS signal (1 to 5)", 1.0, 2),
    ("mos_bak", "DNSMOS background (1 to 5)", 1.0, 2),
    ("speech_onset_s", "speech onset (ms)", 1000.0, 0),
    ("trailing_silence_s", "trailing silence (ms)", 1000.0, 0),
    ("timestamp_offset_p50_ms", "word timestamps against the alignment, median (ms)", 1.0, 0),
    ("timestamp_coverage", "words the alignment found (%)", 100.0, 0),
)


def _quality_section(speech: Speech, scores: pd.Series | None, table: pd.DataFrame) -> list[str]:
    """Step 4: the speech's scores, the dataset's in a few numbers, and what made them."""
    import pandas as pd

    from .bench.tables import frame_html, metadata_html

    title = "<h2>4. Check: is the speech right?</h2>"
    if scores is None:
        return [
            title,
            "<p>Not checked: the quality extra is missing "
            "(<code>pip install 'ttskit[quality]'</code>).</p>",
        ]
    rows = []
    for column, label, scale, digits in _SCORES:
        value = scores.get(column)
        shown = None if _missing(value) else round(float(value) * scale, digits)
        median = table[column].median() * scale if column in table else None
        rows.append(
            {
                "measure": label,
                "speech of step 1": shown,
                "dataset, median": None if _missing(median) else round(float(median), digits),
            }
        )
    said = html.escape(speech.text)
    heard = html.escape(str(scores.get("transcript", "")))
    made = table.attrs.get("quality", {})
    scorers = made.get("scorers", {})
    return [
        title,
        "<p>Each speech transcribed back offline (Whisper tiny.en through faster-whisper) and "
        "compared with its text after Whisper's English normalizer (jiwer), so that "
        "<q>$42.50</q> and <q>forty two dollars fifty</q> are the same words; naturalness "
        "from DNSMOS; speech onset and silences from silero VAD; word timestamps against a "
        "forced alignment (pocketsphinx). <code>quality.score(speech)</code> gives these "
        "numbers, and <code>dataset.generate(..., quality=True)</code> puts them in the "
        "manifest.</p>",
        f"<p><b>Said:</b> {said}<br><b>Heard:</b> {heard}</p>",
        frame_html(pd.DataFrame(rows), "summary"),
        f"<details><summary>what made the numbers</summary>{metadata_html(scorers)}</details>",
    ]


def _page(
    speech: Speech,
    latency: pd.DataFrame,
    table: pd.DataFrame,
    folder: Path,
    *,
    scores: pd.Series | None = None,
    filtered: pd.DataFrame | None = None,
) -> str:
    from .bench.report import STYLE, sections
    from .bench.tables import metadata_html
    from .display import speech_html

    names = ["speech.wav", "words.csv", "latency.parquet", "dataset/"]
    if filtered is not None:
        names.append("dataset-filtered/")
    files = ", ".join(f"<code>{name}</code>" for name in names)
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
        *_dataset_section(table, folder, filtered),
        *_quality_section(speech, scores, table),
        "<h2>The run</h2>",
        metadata_html(latency.attrs.get("bench", {})),
        "</body></html>",
    ]
    return "\n".join(parts)
