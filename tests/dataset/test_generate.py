"""generate() against the real eSpeak server: layout, resuming, bad input, failures."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

import ttskit
from ttskit import dataset
from ttskit.dataset.manifest import COLUMNS
from ttskit.errors import InvalidArgument
from ttskit.server import Faults

from .conftest import TEXTS, VOICES, options


def metadata_rows(folder) -> list[dict]:
    lines = (folder / "metadata.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_audiofolder_layout_with_quality_columns(client, tmp_path):
    out = tmp_path / "ds"
    texts = pd.DataFrame(
        {"id": [f"s{i}" for i in range(3)], "text": TEXTS[:3], "topic": list("abc")}
    )
    table = dataset.generate(texts, VOICES, out, client=client, **options())

    assert len(table) == 6 and (table["status"] == "ok").all()
    assert list(table.columns[: len(COLUMNS)]) == COLUMNS
    assert list(table.columns[len(COLUMNS) :]) == ["topic", "path"]
    assert set(table["voice"]) == set(VOICES) and set(table["text_id"]) == {"s0", "s1", "s2"}
    assert table["endpoint"].iloc[0] == client.base_url
    assert table["duration"].between(1.0, 6.0).all() and table["timestamps_cover"].all()
    assert not table["suspicious"].any(), table[["text", "issues"]]
    assert table["loudness_lufs"].between(-40, -5).all()

    # Nothing but audio and one metadata file outside the hidden bookkeeping folder.
    visible = sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if ".ttskit" not in p.parts
    )
    assert visible == sorted(["data", "data/metadata.jsonl", *table["file_name"]])
    rows = metadata_rows(out / "data")
    assert [list(r)[0] for r in rows] == ["file_name"] * 6
    assert {r["file_name"] for r in rows} == {name.split("/")[1] for name in table["file_name"]}
    first = rows[0]
    assert {"text", "voice", "model", "endpoint", "sample_rate", "duration", "topic"} <= set(first)
    assert not {"status", "error", "split", "path"} & set(first)
    words = json.loads(first["words"])
    assert words and set(words[0]) == {"word", "start", "end"}

    for path, rate, duration in table[["path", "sample_rate", "duration"]].itertuples(index=False):
        info = sf.info(path)
        assert info.samplerate == rate and info.channels == 1 and info.format == "FLAC"
        assert info.frames == round(duration * rate)

    loaded = dataset.load(out)
    pd.testing.assert_frame_equal(
        loaded.sort_values("id").reset_index(drop=True),
        table.sort_values("id").reset_index(drop=True),
    )
    summary = table.attrs["summary"]
    assert (summary.items, summary.made, summary.done_before, summary.failed) == (6, 6, 0, 0)
    assert "6 of 6 items done" in str(summary)


def test_rerun_skips_what_is_done_and_a_changed_parameter_makes_new_items(client, tmp_path):
    out = tmp_path / "ds"
    first = dataset.generate(TEXTS[:2], ["en-us"], out, client=client, **options())
    mtimes = {p: p.stat().st_mtime_ns for p in map(__import__("pathlib").Path, first["path"])}
    again = dataset.generate(TEXTS[:3], ["en-us"], out, client=client, **options())
    assert (again.attrs["summary"].done_before, again.attrs["summary"].made) == (2, 1)
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    assert set(first["id"]) < set(again["id"])

    changed = dataset.generate(
        TEXTS[:2], ["en-us"], out, client=client, **options(sample_rate=16000)
    )
    assert changed.attrs["summary"].made == 2 and not set(changed["id"]) & set(first["id"])
    assert (changed["sample_rate"] == 16000).all()
    # The folder keeps every item made in it.
    assert len(dataset.load(out)) == 5 and len(metadata_rows(out / "data")) == 5


def test_bad_input_is_counted_and_made_once(client, tmp_path):
    texts = [TEXTS[0], "  ", "", TEXTS[0], f"  {TEXTS[0]} ", TEXTS[1]]
    table = dataset.generate(texts, ["en-us", "en-us"], tmp_path / "ds", client=client, **options())
    summary = table.attrs["summary"]
    assert len(table) == 2 and table["id"].is_unique
    assert (summary.texts, summary.empty, summary.duplicates, summary.voices) == (6, 2, 2, 1)
    assert "2 empty skipped, 2 duplicates made once" in str(summary)


def test_an_unknown_voice_fails_before_anything_is_made(client, tmp_path):
    out = tmp_path / "ds"
    with pytest.raises(InvalidArgument, match=r"'en-us\+f99'.*close ones: en-us\+f"):
        dataset.generate(TEXTS, ["en-us", "en-us+f99"], out, client=client, **options())
    assert not out.exists()


def test_a_folder_holding_something_else_is_refused_even_with_overwrite(client, tmp_path):
    out = tmp_path / "ds"
    (out / "data").mkdir(parents=True)
    (out / "data" / "chapter1.wav").write_bytes(b"RIFF mine")
    (out / "README").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(InvalidArgument, match=r"not a ttskit dataset \(README, data\)"):
            dataset.generate(
                TEXTS[:1], ["en-us"], out, client=client, **options(overwrite=overwrite)
            )
    assert (out / "README").read_text() == "mine"
    assert (out / "data" / "chapter1.wav").read_bytes() == b"RIFF mine"
    assert sorted(p.name for p in out.rglob("*")) == ["README", "chapter1.wav", "data"]


def test_overwrite_deletes_only_a_dataset_that_holds_nothing_else(client, tmp_path):
    out = tmp_path / "ds"
    first = dataset.generate(TEXTS[:2], ["en-us"], out, client=client, **options())
    mine = [out / "data" / "chapter1.wav", out / "notes.txt"]
    for path in mine:
        path.write_text("mine")
    with pytest.raises(InvalidArgument, match=r"did not make \(data/chapter1.wav, notes.txt\)"):
        dataset.generate(TEXTS[2:3], ["en-us"], out, client=client, **options(overwrite=True))
    assert all(path.read_text() == "mine" for path in mine)
    assert all(Path(path).is_file() for path in first["path"])

    # A rerun without overwrite resumes, and its clean-up keeps the files it did not make.
    again = dataset.generate(TEXTS[:2], ["en-us"], out, client=client, **options())
    assert again.attrs["summary"].done_before == 2
    assert all(path.read_text() == "mine" for path in mine)

    for path in mine:
        path.unlink()
    table = dataset.generate(TEXTS[2:3], ["en-us"], out, client=client, **options(overwrite=True))
    assert list(table["text"]) == [TEXTS[2]]
    assert dataset.load(out)["text"].tolist() == [TEXTS[2]]
    assert not any(Path(path).exists() for path in first["path"])


def test_splits_keep_every_text_in_one_split(client, tmp_path):
    out = tmp_path / "ds"
    splits = {"train": 0.5, "test": 0.5}
    table = dataset.generate(TEXTS, VOICES, out, client=client, **options(splits=splits))
    assert set(table["split"]) == {"train", "test"}
    assert table.groupby("text")["split"].nunique().eq(1).all()
    for split, part in table.groupby("split"):
        assert all(name.startswith(f"{split}/") for name in part["file_name"])
        assert len(metadata_rows(out / split)) == len(part)
    assert not (out / "data").exists()
    with pytest.raises(InvalidArgument, match="was made with splits"):
        dataset.generate(TEXTS, VOICES, out, client=client, **options(splits={"train": 1.0}))


def test_loudness_normalization_and_wav(client, tmp_path):
    table = dataset.generate(
        TEXTS[:3],
        ["en-us"],
        tmp_path / "ds",
        client=client,
        **options(loudness=-30.0, format="wav"),
    )
    assert table["loudness_lufs"].between(-30.3, -29.7).all()
    assert (table["gain_db"] < 0).all()
    assert all(sf.info(p).format == "WAV" for p in table["path"])


def test_failures_are_rows_and_a_rerun_retries_them(make_server, espeak_server, tmp_path):
    out = tmp_path / "ds"
    refusing = make_server(faults=Faults(error_rate=1.0, error_status=503, retry_after=0))
    spec = dataset.ClientSpec(refusing.base_url, max_retries=0)
    table = dataset.generate(
        TEXTS[:2], ["en-us"], out, client=spec, model="espeak", **options(retries=2)
    )
    assert (table["status"] == "failed").all() and table["file_name"].isna().all()
    assert (table["attempts"] == 3).all()
    assert table["error"].str.startswith("ServiceUnavailableError").all()
    summary = table.attrs["summary"]
    assert summary.failed == 2 and "run the same command again" in str(summary)
    assert not (out / "data" / "metadata.jsonl").exists()
    assert dataset.load(out).empty and len(dataset.load(out, failed=True)) == 2

    healthy = ttskit.Client(espeak_server.base_url)
    again = dataset.generate(TEXTS[:2], ["en-us"], out, client=healthy, model="espeak", **options())
    assert (again["status"] == "ok").all() and list(again["id"]) == list(table["id"])
    assert len(dataset.load(out, failed=True)) == 2


def test_a_request_the_server_refuses_is_not_retried(make_server, tmp_path):
    strict = make_server(max_input_chars=30)
    spec = dataset.ClientSpec(strict.base_url)
    table = dataset.generate(
        ["Short one.", "This sentence is longer than thirty characters."],
        ["en-us"],
        tmp_path / "ds",
        client=spec,
        model="espeak",
        **options(retries=5),
    )
    by_text = table.set_index("text")
    assert by_text.loc["Short one.", "status"] == "ok"
    refused = by_text.loc["This sentence is longer than thirty characters."]
    assert refused["status"] == "failed" and refused["attempts"] == 1
    assert refused["error"].startswith("BadRequestError")


def _descendants(pid: int) -> set[int]:
    """Live processes below ``pid``, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_process_workers_end_when_the_command_is_killed(espeak_server, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(f"Sentence number {i} of the long run." for i in range(400)))
    out = tmp_path / "ds"
    command = [sys.executable, "-m", "ttskit.cli", "dataset", str(texts), str(out)]
    command += ["--executor", "processes", "--workers", "2", "--no-progress"]
    command += ["--base-url", espeak_server.base_url, "--model", "espeak", "--voice", "en-us"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    journal = out / ".ttskit" / "journal"
    try:
        for _ in range(1200):  # until the workers have made something, at most 2 minutes
            if journal.exists() and journal.stat().st_size or run.poll() is not None:
                break
            time.sleep(0.1)
        assert run.poll() is None, run.stderr.read().decode() if run.stderr else ""
        children = _descendants(run.pid)
        assert len(children) >= 3, children  # two workers and the resource tracker
    finally:
        run.kill()
        run.wait()
    for _ in range(300):  # at most 30 s
        if not any(_alive(pid) for pid in children):
            break
        time.sleep(0.1)
    assert not [pid for pid in children if _alive(pid)]
    # What was made is whole: a rerun resumes from it.
    assert dataset.load(out)["path"].map(lambda p: Path(p).is_file()).all()
