"""The HTTP transcriber over the local server's /v1/audio/transcriptions: the same round trip
as to a hosted Whisper, offline; and OpenAI's own SDK reads the server's answers unchanged."""

from __future__ import annotations

import pytest
import requests

from ttskit import audio, quality

from .conftest import SENTENCE


@pytest.fixture(scope="module")
def wav(piper_speech) -> bytes:
    return audio.wav_bytes(piper_speech.audio, sample_rate=piper_speech.sample_rate)


def test_a_round_trip_over_the_wire_scores_low_wer(piper_server, piper_speech, wav):
    row = quality.score(piper_speech, metrics="wer", asr=piper_server.base_url)
    assert row["wer"] <= 0.05, row["transcript"]
    assert row["transcript"].lower().startswith("where did you park")
    asr = row.attrs["quality"]["scorers"]["asr"]
    assert piper_server.base_url in asr["model"]
    # What was asked for (whisper-large-v3) and what the server says heard it.
    assert (
        asr["served_model"]
        == requests.post(
            f"{piper_server.base_url}/audio/transcriptions",
            data={"model": "whisper-1"},
            files={"file": ("speech.wav", wav, "audio/wav")},
            timeout=120,
        ).headers["x-ttskit-model"]
    )
    assert "tiny" in asr["served_model"]


def test_the_wrong_text_scores_high_over_the_wire(piper_server, piper_speech):
    wrong = "Seven green lamps stood by the river."
    row = quality.score(piper_speech, wrong, metrics="wer", asr=piper_server.base_url)
    assert row["wer"] >= 0.5


def test_the_openai_sdk_reads_the_answers_unchanged(piper_server, wav):
    openai = pytest.importorskip("openai")
    url = f"{piper_server.base_url}/audio/transcriptions"
    form = {"model": "whisper-1"}
    files = {"file": ("speech.wav", wav, "audio/wav")}
    expected = requests.post(url, data=form, files=files, timeout=120).json()["text"]
    assert expected

    client = openai.OpenAI(base_url=piper_server.base_url, api_key="unused", max_retries=0)
    heard = client.audio.transcriptions.create(model="whisper-1", file=("speech.wav", wav))
    assert heard.text == expected
    as_text = client.audio.transcriptions.create(
        model="whisper-1", file=("speech.wav", wav), response_format="text"
    )
    assert as_text == expected

    verbose = client.audio.transcriptions.create(
        model="whisper-1",
        file=("speech.wav", wav),
        response_format="verbose_json",
        timestamp_granularities=["word"],
    )
    assert [w.word.lower().strip("?") for w in verbose.words] == (
        SENTENCE.lower().strip("?").split()
    )
    starts = [w.start for w in verbose.words]
    assert starts == sorted(starts) and verbose.duration > verbose.words[-1].start


def test_the_sdk_gets_the_error_body(piper_server):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=piper_server.base_url, api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=("speech.wav", b"not audio"))
    assert caught.value.body["code"] == "invalid_audio"
