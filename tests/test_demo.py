"""``ttskit demo``: the report page and the files beside it, on real local servers."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

import ttskit
from ttskit import bench, dataset
from ttskit.dataset.layout import made_by
from ttskit.demo import DATASET_TEXTS, FILTER, run_demo
from ttskit.errors import InvalidArgument

BOGUS_KEY = "sk-bogus-demo-key-0000"


class _Page(HTMLParser):
    """The tags of a page, and every address its attributes point to."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.addresses: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "poster", "data") and value is not None:
                self.addresses.append(value)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("demo") / "demo-output"
    return run_demo(out, client=ttskit.local("espeak"), progress=False)


def test_report_is_one_self_contained_page(demo):
    page = parse(demo.report)
    assert page.tags.count("html") == 1 and page.tags.count("body") == 1
    assert page.addresses, "the page embeds its audio and plots"
    assert all(address.startswith("data:") for address in page.addresses), page.addresses
    text = demo.report.read_text(encoding="utf-8")
    assert "<link" not in text and "@import" not in text and "url(http" not in text


def test_report_has_players_waveform_with_words_latency_and_quality(demo):
    text = demo.report.read_text(encoding="utf-8")
    page = parse(demo.report)
    assert any(a.startswith("data:audio/wav;base64,") for a in page.addresses)
    assert "audio" in page.tags
    # The waveform is an inline SVG with a shaded, titled span per word.
    assert "svg" in page.tags
    for word in demo.speech.words["word"].head(3):
        assert f"<title>{word} " in text or f">{word}<" in text
    # The latency part: tables by engine and transport, and its plots as PNG.
    assert sum(a.startswith("data:image/png;base64,") for a in page.addresses) >= 2
    for transport in ("rest", "sse", "ws"):
        assert f"<td>{transport}</td>" in text
    assert "<th>first audio p50 (ms)</th>" in text
    # The dataset's quality table, one row per item.
    quality = text.split("3. Generate", 1)[1].split("</table>", 1)[0].replace("<wbr>", "")
    for column in ("text", "duration", "wer", "mos_ovrl", "speech_onset_s", "suspicious"):
        assert f"<th>{column}</th>" in quality
    assert quality.split("<tbody>", 1)[1].count("<tr") == len(DATASET_TEXTS)
    for sentence in DATASET_TEXTS:
        assert f"<td>{html.escape(sentence)}</td>" in quality


def test_files_beside_the_report(demo):
    out = demo.report.parent
    assert demo.out == out

    audio, rate = sf.read(out / "speech.wav")
    assert rate == demo.speech.sample_rate and len(audio) == len(demo.speech.audio)
    words = pd.read_csv(out / "words.csv")
    assert list(words.columns) == ["word", "start", "end"]
    assert words["word"].tolist() == demo.speech.words["word"].tolist()

    latency = bench.load(out / "latency.parquet")
    assert len(latency) == len(demo.latency)
    metadata = latency.attrs["bench"]
    assert metadata["arguments"]["transports"] == ["rest", "sse", "ws"]
    assert metadata["arguments"]["concurrency"] == [1, 2, 4]
    assert metadata["endpoints"] == [demo.speech.endpoint]
    assert latency["ok"].all()
    header = (out / "latency.parquet").read_bytes()
    assert b"authorization" not in header.lower() and b"api_key" not in header.lower()

    table = dataset.load(out / "dataset")
    assert sorted(table["text"]) == sorted(DATASET_TEXTS)
    assert set(table["split"]) <= {"train", "test"}
    assert all(Path(path).is_file() for path in table["path"])


def test_summary_names_what_was_made(demo):
    lines = demo.summary().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "speech",
        "latency",
        "dataset",
        "quality",
        "report",
    ]
    assert str(demo.report) in lines[-1]
    assert f"{len(DATASET_TEXTS)} items" in lines[2]
    wer = round(float(demo.quality["wer"]) * 100)
    median = round(float(demo.dataset["wer"].median()) * 100)
    assert lines[3].startswith(f"quality: speech WER {wer}%, DNSMOS ")
    assert f"dataset median WER {median}%" in lines[3]
    assert lines[3].endswith(
        f"; {len(demo.filtered)} of {len(DATASET_TEXTS)} items kept by the filter"
    )


def test_quality_of_the_speech_and_the_dataset(demo):
    """The fourth job: the speech and every dataset item scored by the real models."""
    scores = demo.quality
    assert 0.0 <= scores["wer"] <= 0.5 and len(scores["transcript"].split()) >= 10
    assert 1.0 <= scores["mos_ovrl"] <= 5.0
    table = demo.dataset
    assert table["wer"].notna().all() and table["mos_ovrl"].between(1.0, 5.0).all()
    assert table["scored_at"].notna().all()
    # The filtered copy is the items the rule keeps, in the same layout.
    kept = table.query(FILTER)
    assert sorted(demo.filtered["id"]) == sorted(kept["id"])
    assert sorted(dataset.load(demo.out / "dataset-filtered")["id"]) == sorted(kept["id"])
    # The report's fourth part shows the speech's scores beside the dataset's.
    text = demo.report.read_text(encoding="utf-8")
    part = text.split("4. Check", 1)[1].split("</table>", 1)[0]
    assert "<td>word error rate (%)</td>" in part and "<td>DNSMOS overall (1 to 5)</td>" in part
    assert f"<td class='num'>{round(float(scores['wer']) * 100, 1):g}</td>" in part
    assert html.escape(scores["transcript"]) in part
    assert f"kept {len(kept)} of {len(table)} items" in text


def test_empty_text_and_unusable_folder_are_ttskit_errors(tmp_path):
    with pytest.raises(InvalidArgument, match="empty"):
        run_demo(tmp_path, client=object(), text="  ", progress=False)  # type: ignore[arg-type]
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(InvalidArgument, match="output folder"):
        run_demo(blocker / "out", client=object(), progress=False)  # type: ignore[arg-type]


def test_cli_demo_runs_on_the_embedded_server_whatever_the_environment(tmp_path):
    """The whole demo, Piper and eSpeak, in a process of its own; an exported endpoint and
    key that would fail must not be used."""
    env = dict(os.environ, TTSKIT_BASE_URL="http://127.0.0.1:9/v1", TOGETHER_API_KEY=BOGUS_KEY)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "ttskit.cli", "demo", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"^speech: .* words", done.stdout, re.M)
    assert re.search(r"^latency: \d+ requests", done.stdout, re.M)
    assert re.search(
        r"^quality: speech WER \d+%, DNSMOS \d\.\d\d; dataset median WER", done.stdout, re.M
    )
    assert re.search(rf"^report:  {re.escape(str(out / 'report.html'))}", done.stdout, re.M)
    assert (out / "report.html").is_file()
    assert BOGUS_KEY not in done.stdout + done.stderr
    endpoints = bench.load(out / "latency.parquet").attrs["bench"]["endpoints"]
    assert len(endpoints) == 1 and endpoints[0].startswith("http://127.0.0.1:")
    assert ":9/" not in endpoints[0]


def test_the_demo_marks_its_folder(demo):
    assert made_by(demo.out) == "ttskit demo"


def test_a_folder_the_demo_did_not_make_is_left_as_it_was(tmp_path):
    out = tmp_path / "demo-output"
    (out / "dataset").mkdir(parents=True)
    (out / "dataset" / "chapter1.wav").write_bytes(b"RIFF mine")
    (out / "dataset" / "README").write_text("mine")
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    with pytest.raises(InvalidArgument, match=r"holds files ttskit demo did not make \(dataset\)"):
        run_demo(out, client=object(), progress=False)  # type: ignore[arg-type]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
    assert (out / "dataset" / "README").read_text() == "mine"

    # In its own folder, the demo still leaves alone what its dataset did not make.
    (out / ".ttskit-folder").write_text('{"made_by": "ttskit demo"}')
    with pytest.raises(InvalidArgument, match=r"dataset did not make \(README, chapter1.wav\)"):
        run_demo(out, client=object(), progress=False)  # type: ignore[arg-type]
    assert (out / "dataset" / "chapter1.wav").read_bytes() == b"RIFF mine"


def test_cli_demo_refuses_a_foreign_folder_in_one_line(tmp_path):
    out = tmp_path / "demo-output"
    (out / "dataset").mkdir(parents=True)
    (out / "dataset" / "chapter1.wav").write_bytes(b"RIFF mine")
    done = subprocess.run(
        [sys.executable, "-m", "ttskit.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "did not make" in lines[0] and "demo-output" in lines[0], lines
    assert (out / "dataset" / "chapter1.wav").read_bytes() == b"RIFF mine"


def test_summary_says_why_quality_was_not_checked(demo):
    import dataclasses

    missing = "faster-whisper is missing: pip install 'ttskit[quality]'"
    skipped = dataclasses.replace(demo, quality=None, filtered=None, skipped=missing)
    line = skipped.summary().splitlines()[3]
    assert line == f"quality: not checked ({missing})"
