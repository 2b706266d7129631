"""POST /v1/audio/transcriptions: the server's own speech heard back by the bundled Whisper,
over OpenAI's multipart form; bad forms get the protocol's error body, never a 500."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import numpy as np
import pytest
import requests

from ttskit import audio
from ttskit.server.errors import WireError
from ttskit.server.transcriptions import Transcriptions

from .helpers import assert_error, still_serving

pytest.importorskip("faster_whisper", reason="needs pip install 'ttskit[quality]'")

SENTENCE = "Where did you park the car this morning? It was raining."


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def _speak(server, text: str = SENTENCE, **fields) -> bytes:
    body = {"model": "espeak", "input": text, "voice": "en-us", **fields}
    response = requests.post(f"{server.base_url}/audio/speech", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.content


def _transcribe(server, data: bytes, *, filename: str = "speech.wav", **fields):
    form = {"model": "whisper-1", **fields}
    return requests.post(
        f"{server.base_url}/audio/transcriptions",
        data=form,
        files={"file": (filename, data, "application/octet-stream")},
        timeout=120,
    )


@pytest.fixture(scope="module")
def spoken(espeak_server) -> bytes:
    return _speak(espeak_server)


def test_the_server_hears_what_it_said(espeak_server, spoken):
    response = _transcribe(espeak_server, spoken)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-ttskit-model"] == "whisper-tiny.en"
    body = response.json()
    assert set(body) == {"text"}
    assert set(_words(SENTENCE)) <= set(_words(body["text"])), body["text"]


def test_text_format_is_the_json_text_alone(espeak_server, spoken):
    as_json = _transcribe(espeak_server, spoken, response_format="json").json()["text"]
    as_text = _transcribe(espeak_server, spoken, response_format="text")
    assert as_text.status_code == 200
    assert as_text.headers["content-type"].startswith("text/plain")
    assert as_text.text == as_json


@pytest.mark.parametrize("format", ["flac", "mp3", "opus"])
def test_compressed_files_are_heard(espeak_server, format):
    data = _speak(espeak_server, "Good morning, how are you today?", response_format=format)
    response = _transcribe(espeak_server, data, filename=f"speech.{format}")
    assert response.status_code == 200, response.text
    assert {"good", "morning", "how", "today"} <= set(_words(response.json()["text"]))


def test_verbose_json_has_timed_words_and_segments(espeak_server, spoken):
    samples, sample_rate = audio.decode_file(spoken)
    response = _transcribe(
        espeak_server,
        spoken,
        model="openai/whisper-large-v3",
        response_format="verbose_json",
        **{"timestamp_granularities[]": "word", "language": "en"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["language"] == "en"
    assert body["duration"] == pytest.approx(len(samples) / sample_rate, abs=0.002)
    words = body["words"]
    assert [w["word"].lower().strip(".?,") for w in words][:4] == ["where", "did", "you", "park"]
    starts = np.array([w["start"] for w in words])
    ends = np.array([w["end"] for w in words])
    assert np.all(np.diff(starts) >= 0) and np.all(ends >= starts)
    assert starts[-1] > starts[0] and ends[-1] <= body["duration"] + 0.05
    # One segment per sentence, in order, within the clip.
    segments = body["segments"]
    assert [s["id"] for s in segments] == list(range(len(segments))) and len(segments) == 2
    assert segments[0]["end"] <= segments[1]["start"]
    assert _words(" ".join(s["text"] for s in segments)) == _words(body["text"])


def test_verbose_json_without_word_granularity_has_no_words(espeak_server, spoken):
    body = _transcribe(espeak_server, spoken, response_format="verbose_json").json()
    assert "words" not in body and body["segments"] and body["text"]


def _silent_wav() -> bytes:
    return audio.wav_bytes(np.zeros(0, dtype=np.float32), sample_rate=16000)


BAD_FORMS = {
    # name -> (form fields, file bytes or None, status, param, code)
    "no file": ({"model": "whisper-1"}, None, 400, "file", "missing"),
    "not audio": (
        {"model": "whisper-1"},
        b"this is not audio at all",
        400,
        "file",
        "invalid_audio",
    ),
    "empty file": ({"model": "whisper-1"}, b"", 400, "file", "empty_audio"),
    "no samples": ({"model": "whisper-1"}, _silent_wav(), 400, "file", "empty_audio"),
    "no model": ({}, "speech", 400, "model", "missing"),
    "unknown model": ({"model": "tts-1"}, "speech", 404, "model", "model_not_found"),
    "unknown format": (
        {"model": "whisper-1", "response_format": "srt"},
        "speech",
        400,
        "response_format",
        "unsupported_format",
    ),
    "not english": (
        {"model": "whisper-1", "language": "fr"},
        "speech",
        400,
        "language",
        "unsupported_language",
    ),
    "word times without verbose_json": (
        {"model": "whisper-1", "timestamp_granularities[]": "word"},
        "speech",
        400,
        "timestamp_granularities[]",
        "invalid_value",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FORMS))
def test_bad_forms_get_the_error_body(espeak_server, spoken, case):
    fields, data, status, param, code = BAD_FORMS[case]
    data = spoken if data == "speech" else data
    # A form part for every field, so that the body is multipart even without a file.
    files = {name: (None, value) for name, value in fields.items()}
    if data is not None:
        files["file"] = ("speech.wav", data, "audio/wav")
    response = requests.post(
        f"{espeak_server.base_url}/audio/transcriptions", files=files, timeout=60
    )
    error = assert_error(response, status, param=param, code=code)
    assert "file" in error["message"] or param in error["message"]
    still_serving(espeak_server)


def test_bodies_that_are_not_a_form(espeak_server):
    url = f"{espeak_server.base_url}/audio/transcriptions"
    as_json = requests.post(url, json={"model": "whisper-1"}, timeout=30)
    assert_error(as_json, 415, param=None, code="unsupported_media_type")
    urlencoded = requests.post(url, data={"model": "whisper-1"}, timeout=30)
    assert_error(urlencoded, 400, param="file", code="missing")
    cut = requests.post(
        url,
        data=b'--xyz\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1',
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
        timeout=30,
    )
    assert_error(cut, 400, param="file", code="missing")  # nothing complete arrived
    garbage = requests.post(
        url,
        data=b"garbage\r\n--xyz--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
        timeout=30,
    )
    assert_error(garbage, 400, param=None, code="invalid_form")
    still_serving(espeak_server)


def test_a_file_over_the_limit_is_refused(make_server):
    server = make_server(max_audio_bytes=50_000)
    data = _speak(server)
    assert len(data) > 50_000
    assert_error(_transcribe(server, data), 413, code="request_too_large")
    short = _speak(server, "Yes.")
    assert _transcribe(server, short).status_code == 200


def test_the_key_is_needed(auth_server, spoken):
    assert_error(_transcribe(auth_server, spoken), 401)


def test_the_schema_describes_the_form(espeak_server):
    schema = requests.get(f"{espeak_server.url}/openapi.json", timeout=10).json()
    operation = schema["paths"]["/v1/audio/transcriptions"]["post"]
    form = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"file", "model", "response_format", "language"} <= set(form["properties"])
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/plain"}
    assert {"400", "413", "415", "429", "501", "503"} <= set(operation["responses"])
    assert "422" not in operation["responses"]


def test_transcriptions_wait_in_a_bounded_queue():
    """One file is heard at a time: a request beyond the queue gets 429 at once, one that
    waits past the queue timeout 503 with Retry-After."""
    samples = np.zeros(1600, dtype=np.float32)

    async def main():
        service = Transcriptions(queue=1)
        await service._lock.acquire()  # a transcription in progress
        try:
            waiting = asyncio.ensure_future(
                service.transcribe(samples, 16000, words=False, queue_timeout=60)
            )
            await asyncio.sleep(0)
            with pytest.raises(WireError) as full:
                await service.transcribe(samples, 16000, words=False, queue_timeout=60)
            assert full.value.status_code == 429 and full.value.headers["Retry-After"] == "1"
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            with pytest.raises(WireError) as late:
                await service.transcribe(samples, 16000, words=False, queue_timeout=0.01)
            assert late.value.status_code == 503 and "Retry-After" in late.value.headers
        finally:
            service._lock.release()
            service.close()

    asyncio.run(main())


_WITHOUT_WHISPER = """
import sys
sys.modules["faster_whisper"] = None  # as without the quality extra
from ttskit.server.background import start_server
server = start_server("espeak", workers=1)
print(server.base_url, flush=True)
sys.stdin.read()
"""


def test_without_the_quality_extra_the_route_says_what_to_install(spoken):
    process = subprocess.Popen(
        [sys.executable, "-c", _WITHOUT_WHISPER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:"), base_url
        response = requests.post(
            f"{base_url}/audio/transcriptions",
            data={"model": "whisper-1"},
            files={"file": ("speech.wav", spoken, "audio/wav")},
            timeout=60,
        )
        error = assert_error(response, 501, code="missing_extra")
        assert "pip install 'ttskit[quality]'" in error["message"]
        speech = requests.post(
            f"{base_url}/audio/speech",
            json={"model": "espeak", "input": "Still here.", "voice": "en-us"},
            timeout=60,
        )
        assert speech.status_code == 200
    finally:
        process.stdin.close()
        process.wait(timeout=60)
