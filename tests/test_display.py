"""The notebook view of a Speech: player, waveform with word spans, summary."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ttskit import audio, display
from ttskit.errors import InvalidArgument
from ttskit.results import Speech, Timing, words_frame


def make_speech(
    duration: float,
    *,
    sample_rate: int = 24000,
    n_words: int = 3,
    words: list[str] | None = None,
    **fields,
) -> Speech:
    rng = np.random.default_rng(1)
    samples = 0.3 * np.sin(np.linspace(0, 2000, int(duration * sample_rate))) + 0.01 * (
        rng.standard_normal(int(duration * sample_rate))
    )
    names = words if words is not None else [f"w{i}" for i in range(n_words)]
    slot = duration / max(len(names), 1)
    starts = np.arange(len(names)) * slot
    return Speech(
        samples.astype(np.float32),
        sample_rate,
        words=words_frame(names, starts, starts + 0.8 * slot),
        **fields,
    )


def player(html: str) -> tuple[str, bytes]:
    """The mime type and bytes of the one embedded audio file."""
    found = re.findall(r'<audio[^>]*src="data:([^;"]+);base64,([^"]*)"', html)
    assert len(found) == 1
    mime, payload = found[0]
    return mime, base64.b64decode(payload)


def test_short_audio_is_embedded_exactly_as_wav():
    speech = make_speech(2.0, sample_rate=22050)
    mime, data = player(display.speech_html(speech))
    assert mime == "audio/wav"
    decoded, rate = audio.decode_file(data)
    assert rate == 22050
    assert decoded.shape == speech.audio.shape
    assert np.max(np.abs(decoded - speech.audio)) < 1e-4  # 16-bit quantisation only


def test_one_shaded_span_per_word_with_its_times():
    speech = make_speech(3.0, words=["one", "two", "three", "four"])
    html = display.speech_html(speech)
    titles = re.findall(r"<rect[^>]*><title>([^<]*)</title></rect>", html)
    assert len(titles) == 4
    assert titles[0] == "one 0.00\u20130.60 s"
    # Neighbouring words sit in differently coloured groups.
    groups = re.findall(r'<g fill="(#[0-9a-f]+)" fill-opacity[^>]*>(.*?)</g>', html)
    assert [fill for fill, _ in groups] == list(display._WORD_FILLS)
    assert [body.count("<rect") for _, body in groups] == [2, 2]


def test_text_is_escaped():
    speech = make_speech(
        1.0,
        words=["<b>", "a&b"],
        text="<script>alert(1)</script>",
        voice='"v"<i>',
        model="m&m",
    )
    html = display.speech_html(speech)
    for raw in ("<b>", "<script>", "<i>", "a&b", "m&m"):
        assert raw not in html
    for escaped in ("&lt;b&gt;", "&lt;script&gt;", "&quot;v&quot;&lt;i&gt;", "a&amp;b", "m&amp;m"):
        assert escaped in html


def test_summary_gives_duration_rate_voice_model_and_ttfb():
    speech = make_speech(
        2.5, voice="en-us", model="espeak", timing=Timing(first_audio_s=0.0834, done_s=0.4)
    )
    html = display.speech_html(speech)
    for part in ("2.50 s", "24000 Hz", "3 words", "voice en-us", "model espeak", "TTFB 83 ms"):
        assert part in html
    assert "TTFB" not in display.speech_html(make_speech(2.5))


@pytest.mark.parametrize("n_words, shown", [(0, "0 words"), (1, "1 word"), (2, "2 words")])
def test_the_word_count_agrees_with_its_number(n_words, shown):
    html = display.speech_html(make_speech(1.0, n_words=n_words))
    (summary,) = re.findall(r"<strong>Speech</strong>([^<]*)</div>", html)
    assert shown in [part.strip() for part in summary.split("\u00b7")]


def test_repr_html_is_speech_html():
    speech = make_speech(1.0)
    assert speech._repr_html_() == display.speech_html(speech)


def test_output_is_deterministic():
    first = make_speech(40.0, n_words=50, voice="v")
    second = make_speech(40.0, n_words=50, voice="v")
    html = display.speech_html(first)
    assert player(html)[0] == "audio/mpeg"
    assert html == display.speech_html(second) == display.speech_html(first)


def test_audio_past_the_wav_budget_is_mp3_at_the_speech_bitrate():
    speech = make_speech(45.0)  # 2.16 MB as 16-bit PCM
    mime, data = player(display.speech_html(speech))
    assert mime == "audio/mpeg"
    assert len(data) * 8 / 45.0 == pytest.approx(display.MP3_KBPS * 1000, rel=0.05)
    decoded, rate = audio.decode_file(data)
    assert rate == display.MP3_SAMPLE_RATE
    assert decoded.size / rate == pytest.approx(45.0, abs=0.2)
    # Resampled, not distorted: the same waveform at 16 kHz, give or take the codec.
    expected = audio.resample(speech.audio, orig_sr=24000, target_sr=rate)
    lag = int(np.argmax(np.correlate(decoded[:4000], expected[:2000], mode="valid")))
    aligned = decoded[lag : lag + expected.size]
    assert np.corrcoef(aligned, expected[: aligned.size])[0, 1] > 0.95


def test_long_audio_is_cut_with_a_note(monkeypatch):
    monkeypatch.setattr(display, "MP3_MAX_SECONDS", 40.0)
    speech = make_speech(75.0)
    html = display.speech_html(speech)
    mime, data = player(html)
    assert mime == "audio/mpeg"
    assert audio.decode_file(data)[0].size / 16000 == pytest.approx(40.0, abs=0.2)
    assert "The player holds the first 40.00 s of 1:15.0" in html
    assert html.count("<rect") == 3  # the waveform still shows all of it


@pytest.mark.parametrize("sample_rate", [8000, 16000, 22000, 22050, 44100, 48000])
def test_every_rate_is_embedded_as_16_khz_mp3(sample_rate):
    speech = Speech(audio.sine(300.0, duration=100.0, sample_rate=sample_rate), sample_rate)
    mime, data, seconds = display.embedded_audio(speech)
    assert mime == "audio/mpeg"
    assert seconds == pytest.approx(100.0, abs=0.01)
    assert len(data) * 8 / seconds == pytest.approx(display.MP3_KBPS * 1000, rel=0.05)
    assert audio.decode_file(data)[1] == display.MP3_SAMPLE_RATE


def test_ten_minutes_stay_within_the_notebook_budget():
    speech = make_speech(600.0, n_words=1500)
    html = display.speech_html(speech)
    assert len(html) <= 2_000_000
    assert html.count("<rect") == 1500
    assert html.count("<text") == 0  # no word fits a 0.3-pixel span
    # Alternating sub-pixel spans would alias into false stripes: one colour instead.
    assert len(re.findall(r'<g fill="#[0-9a-f]+" fill-opacity', html)) == 1
    # The waveform path stays ~2 points per column whatever the length.
    (path,) = re.findall(r'<path d="M([^"]*)Z"', html)
    assert len(path.split(" ")) == 2 * 600


def test_words_wide_enough_are_written_on_the_waveform():
    html = display.speech_html(make_speech(2.0, words=["hello", "world"]))
    assert re.findall(r'<text x="[0-9.]+" y="11">([^<]*)</text>', html) == ["hello", "world"]


def test_empty_audio_and_no_words():
    speech = Speech(np.zeros(0, dtype=np.float32), 16000)
    html = display.speech_html(speech)
    assert player(html)[0] == "audio/wav"
    assert "<rect" not in html and "<path" not in html


def test_envelope_matches_per_column_min_max():
    samples = np.random.default_rng(0).standard_normal(1003).astype(np.float32)
    minimum, maximum = display.envelope(samples, n_columns=10)
    columns = [samples[i * 100 : (i + 1) * 100] for i in range(9)] + [samples[900:]]
    assert minimum.tolist() == [c.min() for c in columns]
    assert maximum.tolist() == [c.max() for c in columns]
    short_min, short_max = display.envelope(samples[:5], n_columns=10)
    assert short_min.tolist() == short_max.tolist() == samples[:5].tolist()
    with pytest.raises(InvalidArgument, match="0"):
        display.envelope(samples, n_columns=0)


def test_timing_html_lists_known_times():
    chunks = pd.DataFrame(
        {"arrival_s": [0.1, 0.3], "n_samples": [8000, 8000], "audio_start_s": [0.0, 0.5]}
    )
    html = display.timing_html(
        Timing(first_audio_s=0.1, done_s=0.3, chunks=chunks, sample_rate=16000)
    )
    assert "first audio (TTFB)" in html and "100 ms" in html and "300 ms" in html
    assert "headers" not in html
    assert "real-time factor" in html and "0.300" in html
    assert display.timing_html(Timing()) == ""


def test_showing_a_speech_does_not_import_matplotlib():
    code = (
        "import sys, numpy as np\n"
        "from ttskit.results import Speech\n"
        "Speech(np.zeros(100, dtype=np.float32), 8000)._repr_html_()\n"
        "print('matplotlib' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
    )
    assert result.stdout.strip() == "False"
