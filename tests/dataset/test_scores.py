"""``generate(quality=...)``: the real scorers of ``ttskit.quality`` on real eSpeak items."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ttskit import dataset
from ttskit.errors import InvalidArgument, InvalidType

from .conftest import TEXTS, options

pytest.importorskip("faster_whisper", reason="needs pip install 'ttskit[quality]'")

SCORES = ["wer", "cer", "transcript", "mos_ovrl", "speech_onset_s", "timestamp_coverage"]


@pytest.fixture(scope="module")
def scored(espeak_server, tmp_path_factory):
    """Three texts, scored as they are made."""
    import ttskit

    out = tmp_path_factory.mktemp("scored") / "ds"
    with ttskit.Client(espeak_server.base_url, model="espeak", timeout=30) as client:
        table = dataset.generate(TEXTS[:3], "en-us", out, client=client, quality=True, **options())
    return out, table


def test_items_get_scores_with_sane_values(scored):
    out, table = scored
    assert len(table) == 3 and (table["status"] == "ok").all()
    for column in SCORES:
        assert column in table.columns, column
    # eSpeak NG is intelligible but not perfect: some words come back wrong.
    assert table["wer"].between(0.0, 1.0).all(), table["wer"].tolist()
    assert table["wer"].mean() < 0.6
    assert (table["transcript"].str.split().str.len() >= 4).all()
    assert table["mos_ovrl"].between(1.5, 4.5).all(), table["mos_ovrl"].tolist()
    assert table["mos_p808"].between(2.0, 5.0).all()
    assert table["speech_onset_s"].between(0.0, 0.3).all()
    assert table["speech_ratio"].between(0.5, 1.0).all()
    assert table["scored_at"].notna().all()
    # The scores come after the measures and before the path, in the metadata too.
    columns = list(table.columns)
    assert columns.index("gain_db") < columns.index("wer") < columns.index("path")
    metadata = [
        json.loads(line) for line in (out / "data" / "metadata.jsonl").read_text().splitlines()
    ]
    assert all("wer" in row and "mos_ovrl" in row for row in metadata)


def test_limits_broken_are_flags_beside_the_measures(scored):
    _, table = scored
    for _, item in table.iterrows():
        high = item["wer"] > 0.1
        assert ("wer>0.1" in item["issues"].split(";")) == high, (item["wer"], item["issues"])
        assert ("wer>0.1" in item["quality_issues"].split(";")) == high
        assert item["suspicious"] == bool(item["issues"])


def test_what_made_the_scores_is_kept(scored):
    out, table = scored
    made = table.attrs["quality"]
    assert made["metrics"] == ["wer", "mos", "vad", "timestamps"]
    assert made["limits"]["max_wer"] == 0.1
    assert made["scorers"]
    assert dataset.load(out).attrs["quality"] == made
    assert "scored" in str(table.attrs["summary"])


def test_a_rerun_keeps_the_scores_it_has(scored, client):
    out, table = scored
    again = dataset.generate(TEXTS[:3], "en-us", out, client=client, quality=True, **options())
    assert again.attrs["summary"].scored == 0 and again.attrs["summary"].made == 0
    assert again["scored_at"].tolist() == table["scored_at"].tolist()
    assert again["wer"].tolist() == table["wer"].tolist()


def test_a_rerun_scores_items_made_without_scores(client, tmp_path):
    out = tmp_path / "ds"
    plain = dataset.generate(TEXTS[3:5], "en-us", out, client=client, **options())
    assert "wer" not in plain.columns and "quality" not in plain.attrs
    # Limits no item can meet: every scored item is flagged.
    from ttskit.quality import Limits

    impossible = Limits(max_wer=-1.0)
    table = dataset.generate(
        TEXTS[3:5],
        "en-us",
        out,
        client=client,
        quality=True,
        quality_limits=impossible,
        **options(),
    )
    summary = table.attrs["summary"]
    assert summary.made == 0 and summary.scored == 2 and summary.flagged == 2
    assert table["wer"].notna().all() and table["scored_at"].notna().all()
    assert table["issues"].str.contains("wer>-1").all() and table["suspicious"].all()
    # Scored once: the next run keeps the scores, and flags them by its own limits.
    again = dataset.generate(TEXTS[3:5], "en-us", out, client=client, quality=True, **options())
    assert again.attrs["summary"].scored == 0
    assert again["scored_at"].tolist() == table["scored_at"].tolist()
    assert again["wer"].tolist() == table["wer"].tolist()
    assert not again["issues"].str.contains("wer>-1").any()
    for _, item in again.iterrows():
        assert ("wer>0.1" in item["issues"]) == (item["wer"] > 0.1)


def test_filter_writes_a_copy_without_the_rejects(scored, tmp_path):
    out, table = scored
    threshold = float(table["wer"].median())
    kept = dataset.filter(out, f"wer <= {threshold}", tmp_path / "clean", progress=False)
    expected = table[table["wer"] <= threshold]
    assert len(expected) >= 2
    assert sorted(kept["id"]) == sorted(expected["id"])
    assert kept.set_index("id")["wer"].to_dict() == expected.set_index("id")["wer"].to_dict()
    assert all((tmp_path / "clean" / name).is_file() for name in kept["file_name"])


def test_bad_quality_arguments_fail_before_any_request(tmp_path):
    with pytest.raises(InvalidArgument, match="quality="):
        dataset.generate(["Hi."], "en-us", tmp_path / "a", client=object(), quality="nope")
    with pytest.raises(InvalidType, match="asr"):
        dataset.generate(["Hi."], "en-us", tmp_path / "b", client=object(), quality=True, asr=len)
    with pytest.raises(InvalidArgument, match="quality=True"):
        dataset.generate(["Hi."], "en-us", tmp_path / "c", client=object(), asr="tiny.en")
    with pytest.raises(InvalidArgument, match="quality="):
        dataset.generate(["Hi."], "en-us", tmp_path / "d", client=object(), quality=3)
    assert not any((tmp_path / name).exists() for name in "abcd")


def test_a_missing_extra_says_what_to_install(espeak_server, tmp_path):
    """In a process where faster-whisper cannot be imported: nothing is made."""
    code = f"""
import sys
sys.modules["faster_whisper"] = None
import ttskit
from ttskit import dataset
from ttskit.errors import MissingExtra
try:
    dataset.generate(["Hello."], "en-us", {str(tmp_path / "ds")!r}, quality=True,
                     client=ttskit.Client({espeak_server.base_url!r}, model="espeak"))
except MissingExtra as exc:
    print("MissingExtra:", exc)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "MissingExtra:" in done.stdout, done.stderr
    assert "pip install 'ttskit[quality]'" in done.stdout
    assert not (tmp_path / "ds").exists()


def test_cli_quality_scores_and_flags(espeak_server, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS[:2]) + "\n", encoding="utf-8")
    out = tmp_path / "ds"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ttskit.cli",
            "dataset",
            str(texts),
            str(out),
            "--base-url",
            espeak_server.base_url,
            "--model",
            "espeak",
            "--voice",
            "en-us",
            "--quality",
            "--max-wer",
            "-1",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "quality: 2 items scored this run, 2 of the 2 flagged" in done.stdout
    table = dataset.load(out)
    assert table["wer"].notna().all() and table["issues"].str.contains("wer>-1").all()


def _scorers_alive() -> int:
    """In a worker process: the ``quality.Scorer`` objects it holds."""
    import gc

    from ttskit.quality import Scorer

    return sum(isinstance(o, Scorer) for o in gc.get_objects())


def test_a_process_pool_scores_on_its_workers_with_one_scorer_each(client, tmp_path):
    from ttskit.dataset.runner import process_pool

    with process_pool(1) as pool:
        table = dataset.generate(
            TEXTS[:3],
            "en-us",
            tmp_path / "ds",
            client=client,
            executor=pool,
            quality=True,
            **options(),
        )
        alive = pool.submit(_scorers_alive).result()
    assert (table["status"] == "ok").all() and table["wer"].notna().all()
    assert table["mos_ovrl"].notna().all() and table["scored_at"].notna().all()
    # Three items scored by one worker, whose scorers were loaded once.
    assert alive == 1


def test_cli_quality_options_need_quality(tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("Hello.\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "ttskit.cli", "dataset", str(texts), str(tmp_path / "ds")]
        + ["--max-wer", "0.2", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "ttskit dataset: --max-wer and --asr are options of --quality; add --quality"
    ]
    assert not (tmp_path / "ds").exists()
