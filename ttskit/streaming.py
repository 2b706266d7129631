"""Streamed speech: ``SpeechStream``, an iterator of events over stacked decoders.

The layers, each a generator closed in ``finally``::

    network reads (bytes, arrival time)
      -> SSE events (ttskit.sse)          or  binary body: raw PCM / streamed WAV / a file
      -> payloads (audio bytes, words, done, error), any shape of PROTOCOL.md section 2
      -> AudioChunk / WordTimestamps events, recorded for Speech and Timing

Times are read from an injectable clock right after each network read returns, so
``first_audio_s`` is when the bytes carrying the first audio came off the socket.
"""

from __future__ import annotations

import binascii
import json
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd

from . import audio as _audio
from .errors import (
    APIError,
    ProtocolError,
    StreamConsumedError,
    StreamInterrupted,
    TTSKitError,
    api_error_for_status,
)
from .results import AudioChunk, Speech, Timing, WordTimestamps, empty_words, words_frame
from .sse import SSEDecoder

__all__ = ["SpeechStream", "SILENCE_DB"]

#: Level (dBFS) a chunk must rise above to count as audible for ``first_audible_s``.
SILENCE_DB = -40.0

# Payload "type" values that carry audio, and the key holding the base64 PCM.
_AUDIO_TYPES = {
    "conversation.item.audio_output.delta": "delta",
    "delta": "audio",
    "speech.audio.delta": "audio",
}
_DONE_TYPES = {"done", "speech.audio.done"}
_WORDS_TYPE = "conversation.item.word_timestamps"
# Content types of headerless PCM bodies (a WAV header is recognised in any of them).
_RAW_TYPES = {"application/octet-stream", "audio/pcm", "audio/l16", "audio/raw"}
# Error "type" values of mid-stream error payloads, mapped to the HTTP status they mean.
_STATUS_OF_ERROR_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "server_error": 500,
    "service_unavailable": 503,
}


class _UndecodableBody(ProtocolError):
    """A whole body arrived but is not audio that ttskit can decode."""


_Reads = Generator[tuple[bytes, float], None, None]  # (bytes read, arrival_s)


# Payloads between the layers, as tuples because there is one per audio delta:
# (_AUDIO, pcm bytes, arrival_s, item_id), (_SAMPLES, float32 array, arrival_s, sample_rate),
# (_WORDS, word table, arrival_s, item_id).
_AUDIO, _SAMPLES, _WORDS = 0, 1, 2
_Payload = tuple[int, Any, float, Any]
_S16_SCALE = np.float32(1 / 32768)
# Where parse_payload looks for the audio key: the other fields come first in every shape.
_KEY_WINDOW = 512
# Audio events differ only in their audio: the rest of each is parsed once, and shared
# (read-only) between the events that repeat it.
_REST_CACHE: dict[str, dict] = {}


class _SampleBuffer:
    """Float32 samples appended chunk by chunk, without a second full-size copy.

    The array grows in place (``ndarray.resize`` reallocates, and large reallocations
    remap pages instead of copying), so collecting n samples peaks near ``1.25 * n``
    rather than the ``2 * n`` of concatenating a list of chunks.
    """

    def __init__(self) -> None:
        self._data = np.empty(0, dtype=np.float32)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, samples: np.ndarray) -> None:
        self.reserve(len(samples))[:] = samples
        self._size += len(samples)

    def reserve(self, n: int) -> np.ndarray:
        """A view of the next ``n`` free samples, to decode into; ``commit(n)`` keeps them.

        The view is valid until the next ``reserve``, which may move the data.
        """
        end = self._size + n
        if end > len(self._data):
            self._data.resize(max(end, len(self._data) * 5 // 4 + 8192), refcheck=False)
        return self._data[self._size : end]

    def commit(self, n: int) -> None:
        self._size += n

    def last(self, n: int) -> np.ndarray:
        """A view of the last ``n`` samples (valid until the next ``reserve``)."""
        return self._data[self._size - n : self._size]

    def snapshot(self) -> np.ndarray:
        """A copy of the samples so far; the buffer may keep growing."""
        return self._data[: self._size].copy()

    def array(self) -> np.ndarray:
        """The samples; the buffer is trimmed to size and should not grow afterwards."""
        if len(self._data) != self._size:
            self._data.resize(self._size, refcheck=False)
        return self._data


class _PCMDecoder:
    """Decodes PCM arriving in arbitrary pieces, carrying a partial sample to the next."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._width = _audio.bytes_per_sample(encoding)
        self._carry = b""

    def decode_into(self, data: bytes, buffer: _SampleBuffer) -> int:
        """Decode ``data`` onto the end of ``buffer``; returns how many samples it added."""
        if self._carry:
            data = self._carry + data
        whole = len(data) - len(data) % self._width
        self._carry = data[whole:]
        n = whole // self._width
        out = buffer.reserve(n)
        if self.encoding == "pcm_s16le":
            # What audio.decode_pcm computes, without an intermediate array.
            np.multiply(np.frombuffer(data, dtype="<i2", count=n), _S16_SCALE, out=out)
        else:
            out[:] = _audio.decode_pcm(memoryview(data)[:whole], encoding=self.encoding)
        buffer.commit(n)
        return n


def b64decode(b64: str) -> bytes:
    """The bytes of base64 audio; ``ProtocolError`` for anything but strict base64."""
    try:
        return binascii.a2b_base64(b64, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"an audio delta is not valid base64: {b64[:40]!r}") from exc


def _no_reads() -> _Reads:
    yield from ()


def _content_type(value: str) -> tuple[str, dict[str, str]]:
    """``'audio/L16; rate=24000'`` -> ``('audio/l16', {'rate': '24000'})``."""
    kind, *params = value.split(";")
    parsed = {}
    for param in params:
        name, _, val = param.partition("=")
        parsed[name.strip().lower()] = val.strip().strip('"')
    return kind.strip().lower(), parsed


def error_from_payload(error: Any) -> APIError:
    """An ``APIError`` for an error object sent on an open stream or socket.

    No HTTP status came with it, so ``status_code`` is the one its ``type`` stands for.
    """
    if not isinstance(error, dict):
        error = {"message": str(error)}
    message = error.get("message") or "the server reported an error"
    status_code = _STATUS_OF_ERROR_TYPE.get(str(error.get("type")), 500)
    cls = api_error_for_status(status_code)
    return cls(
        str(message),
        status_code=status_code,
        type=error.get("type"),
        code=error.get("code"),
        param=error.get("param"),
        body={"error": error},
    )


def words_from_payload(payload: dict) -> pd.DataFrame:
    """Word table from a word_timestamps payload (parallel lists, or a list of objects).

    Raises ``ProtocolError`` for a payload of neither shape.
    """
    words = payload.get("words") or []
    try:
        if not isinstance(words, list):
            raise TypeError(f"words is a {type(words).__name__}, not a list")
        if words and isinstance(words[0], dict):
            return words_frame(
                [w.get("word", w.get("text", "")) for w in words],
                [w.get("start", w.get("start_seconds", 0.0)) for w in words],
                [w.get("end", w.get("end_seconds", 0.0)) for w in words],
            )
        return words_frame(
            words, payload.get("start_seconds") or [], payload.get("end_seconds") or []
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise ProtocolError(f"bad word timestamps: {exc}: {str(payload)[:200]!r}") from exc


def _audio_key(payload: dict) -> str | None:
    key = _AUDIO_TYPES.get(payload.get("type"))  # type: ignore[arg-type]
    if key is None and payload.get("object") == "audio.tts.chunk":
        key = "b64"
    return key


def audio_from_payload(payload: dict) -> str | None:
    """The base64 audio of a payload of any known shape, or None if it carries none."""
    key = _audio_key(payload)
    value = payload.get(key) if key is not None else None
    return value if isinstance(value, str) else None


def parse_payload(data: str) -> tuple[Any, str | None]:
    """The JSON payload of an SSE event, and its base64 audio if it carries some.

    The audio string is nearly all of an audio event: it is cut out before the JSON
    parser reads the rest, so that its characters are scanned once (by the base64
    decoder) instead of twice. Anything unusual (escapes, nesting) takes the plain path.
    The payload returned may be shared between events: read it, do not change it.
    """
    for key in ('"delta":', '"b64":', '"audio":'):
        at = data.find(key, 0, _KEY_WINDOW)
        if at < 0:
            continue
        start = at + len(key)
        while data[start : start + 1] == " ":
            start += 1
        end = data.find('"', start + 1) if data[start : start + 1] == '"' else -1
        if end > 0 and data.find("\\", start, end) < 0:
            rest = data[: start + 1] + data[end:]
            payload = _REST_CACHE.get(rest)
            if payload is None:
                payload = json.loads(rest)
                name = key[1:-2]
                if not (
                    isinstance(payload, dict)
                    and payload.get(name) == ""
                    and _audio_key(payload) == name
                ):
                    break
                if len(_REST_CACHE) >= 256:
                    _REST_CACHE.clear()
                _REST_CACHE[rest] = payload
            return payload, data[start + 1 : end]
        break
    payload = json.loads(data)
    return payload, audio_from_payload(payload) if isinstance(payload, dict) else None


class SpeechStream:
    """Speech arriving over the network, as an iterator of events.

    Iterate it for ``AudioChunk`` and ``WordTimestamps`` events as they arrive, or call
    :meth:`speech` to collect everything (including what was not iterated yet) into a
    ``Speech``. Use it as a context manager so that the connection is released.

    Parameters
    ----------
    chunks : iterable of bytes
        The response body as read off the network; it may raise ttskit transport errors.
    content_type : str
        The response's Content-Type: ``text/event-stream`` for SSE, ``audio/*`` or
        ``application/octet-stream`` for a binary body.
    encoding : str or None
        PCM encoding of raw audio (SSE deltas or a raw body); None when the body must say.
    sample_rate : int or None
        Sample rate of raw audio; None when the body must say (a WAV header).
    started : float
        Clock reading when the request was started; every time is relative to it.
    headers_s : float or None
        When the response headers arrived, relative to ``started``.
    clock : callable
        Returns seconds; ``time.perf_counter`` unless a test injects one.
    close : callable, optional
        Releases the connection.
    text, model, voice, endpoint : str
        Recorded in the resulting ``Speech``.

    Examples
    --------
    >>> with client.stream("Hello there.") as stream:  # doctest: +SKIP
    ...     for event in stream:
    ...         print(event)
    ...     speech = stream.speech()
    """

    def __init__(
        self,
        chunks: Iterable[bytes],
        *,
        content_type: str,
        encoding: str | None,
        sample_rate: int | None,
        started: float,
        headers_s: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
        close: Callable[[], None] | None = None,
        text: str = "",
        model: str = "",
        voice: str = "",
        endpoint: str = "",
    ) -> None:
        self._chunks = chunks
        self._content_type, self._type_params = _content_type(content_type or "")
        self._encoding = encoding
        self._sample_rate = sample_rate
        self._started = started
        self._clock = clock
        self._close_connection = close
        self.text, self.model, self.voice, self.endpoint = text, model, voice, endpoint

        self._headers_s = headers_s
        self._first_byte_s: float | None = None
        self._first_audio_s: float | None = None
        self._first_audible_s: float | None = None
        self._done_s: float | None = None
        self._arrivals: list[float] = []
        self._lengths: list[int] = []
        self._starts: list[float] = []
        self._words: list[pd.DataFrame] = []
        self._samples = _SampleBuffer()
        self._pcm: _PCMDecoder | None = None

        self._events: Iterator[AudioChunk | WordTimestamps] | None = None
        self._iterated = False
        self._finished = False  # the body was read to its end
        self._complete = False  # ... and the server said it was all there
        self._interrupted: StreamInterrupted | None = None
        self._speech: Speech | None = None
        kind = self._content_type
        if kind != "text/event-stream" and not (
            kind.startswith("audio/") or kind == "application/octet-stream"
        ):
            body = b"".join(chunks)[:300]
            self._finished = True
            self._release()
            raise ProtocolError(
                f"expected audio or an event stream, got Content-Type {content_type!r}: {body!r}"
            )

    # --- the public face ---------------------------------------------------------------------

    def __enter__(self) -> SpeechStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> SpeechStream:
        if self._iterated or self._finished:
            raise StreamConsumedError(
                "this SpeechStream was already read; use .speech() for the collected result"
            )
        self._iterated = True
        return self

    def __next__(self) -> AudioChunk | WordTimestamps:
        if self._events is None:
            if self._finished:
                raise StopIteration
            self._events = self._run()
        return next(self._events)

    def close(self) -> None:
        """Stop reading and release the connection (what was received stays collected)."""
        if self._events is not None:
            self._events.close()  # runs the generators' finally blocks
        elif not self._finished:
            self._finished = True
            self._release()

    def speech(self, *, allow_partial: bool = False) -> Speech:
        """Read the rest of the stream and return everything as one ``Speech``.

        Raises
        ------
        StreamInterrupted
            If the stream was cut (or closed) before it ended, unless ``allow_partial``;
            its ``partial`` attribute holds the ``Speech`` received so far.
        """
        if not self._finished:
            if self._events is None:
                self._iterated = True
                self._events = self._run(emit=False)
            for _ in self._events:
                pass
        speech = self._collected()
        if not self._complete and not allow_partial:
            if self._interrupted is not None:
                raise self._interrupted
            raise StreamInterrupted(
                "the stream was closed before it ended; speech(allow_partial=True) returns "
                "what was received",
                partial=speech,
            )
        return speech

    @property
    def timing(self) -> Timing:
        """When each part arrived so far (complete once the stream has been read)."""
        rate = self._sample_rate or 0
        chunks = pd.DataFrame(
            {
                "arrival_s": np.asarray(self._arrivals, dtype=float),
                "n_samples": np.asarray(self._lengths, dtype="int64"),
                "audio_start_s": np.asarray(self._starts, dtype=float),
            }
        )
        return Timing(
            headers_s=self._headers_s,
            first_byte_s=self._first_byte_s,
            first_audio_s=self._first_audio_s,
            first_audible_s=self._first_audible_s,
            done_s=self._done_s,
            chunks=chunks,
            sample_rate=rate,
        )

    @property
    def sample_rate(self) -> int | None:
        """Sample rate of the audio (known once the request or the body said it)."""
        return self._sample_rate

    def play(self) -> Any:
        """A live player widget that plays this stream as it arrives."""
        from ttskit.widgets import Player

        return Player(self)

    def __repr__(self) -> str:
        state = (
            "complete"
            if self._complete
            else "interrupted"
            if self._interrupted
            else "finished"
            if self._finished
            else "open"
        )
        return (
            f"SpeechStream({state}, {len(self._lengths)} chunks, "
            f"{len(self._samples) / (self._sample_rate or 1):.2f}s received)"
        )

    # --- collecting ----------------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock() - self._started

    def _collected(self) -> Speech:
        if self._speech is None:
            words = [w for w in self._words if not w.empty]
            self._speech = Speech(
                audio=self._samples.array(),
                sample_rate=self._sample_rate or 1,
                words=pd.concat(words, ignore_index=True) if words else empty_words(),
                text=self.text,
                model=self.model,
                voice=self.voice,
                endpoint=self.endpoint,
                timing=self.timing,
            )
        return self._speech

    def _release(self) -> None:
        if self._close_connection is not None:
            close, self._close_connection = self._close_connection, None
            close()

    def _run(self, emit: bool = True) -> Iterator[AudioChunk | WordTimestamps]:
        """Read everything, recording it; yield the events too when ``emit``."""
        payloads = self._payloads()
        samples = self._samples
        try:
            for kind, value, arrival, extra in payloads:
                if kind == _AUDIO:
                    n = (self._pcm or self._decoder()).decode_into(value, samples)
                    if n:
                        self._record(n, arrival)
                        if emit:
                            yield self._chunk(n, arrival, extra)
                elif kind == _WORDS:
                    self._words.append(value)
                    if emit:
                        yield WordTimestamps(value, arrival, extra)
                elif len(value):
                    self._sample_rate = extra
                    samples.append(value)
                    self._record(len(value), arrival)
                    if emit:
                        yield self._chunk(len(value), arrival, None)
            self._complete = True
        except _UndecodableBody:
            raise  # all of it arrived: nothing was cut
        except TTSKitError as exc:
            self._done_s = self._now()
            self._interrupted = StreamInterrupted(
                f"the stream was cut after {len(self._samples) / (self._sample_rate or 1):.2f}s "
                f"of audio: {exc}",
                partial=None,
            )
            self._interrupted.partial = self._collected()
            raise self._interrupted from exc
        finally:
            payloads.close()
            self._finished = True
            if self._done_s is None:
                self._done_s = self._now()
            self._release()

    def _record(self, n: int, arrival_s: float) -> None:
        """Book the ``n`` samples just added to the buffer as a chunk that arrived then."""
        rate = self._sample_rate
        assert rate  # _decoder() and decoded files guarantee it
        self._starts.append((len(self._samples) - n) / rate)
        self._arrivals.append(arrival_s)
        self._lengths.append(n)
        if self._first_audio_s is None:
            self._first_audio_s = arrival_s
        if self._first_audible_s is None and (
            _audio.first_audible(self._samples.last(n), sample_rate=rate, threshold_db=SILENCE_DB)
            is not None
        ):
            self._first_audible_s = arrival_s

    def _chunk(self, n: int, arrival_s: float, item_id: str | None) -> AudioChunk:
        rate = self._sample_rate or 1
        audio = self._samples.last(n).copy()  # the buffer may move: the event owns its samples
        return AudioChunk(audio, rate, arrival_s, self._starts[-1], item_id)

    def _decoder(self) -> _PCMDecoder:
        if self._pcm is None:
            if self._encoding is None or self._sample_rate is None:
                raise ProtocolError(
                    f"raw audio arrived but its {'encoding' if self._encoding is None else 'sample rate'} "
                    "is unknown: pass response_encoding= and sample_rate= explicitly"
                )
            self._pcm = _PCMDecoder(self._encoding)
        return self._pcm

    # --- the layers below --------------------------------------------------------------------

    def _reads(self) -> _Reads:
        chunks = iter(self._chunks)
        try:
            for data in chunks:
                if not data:
                    continue
                arrival = self._now()
                if self._first_byte_s is None:
                    self._first_byte_s = arrival
                yield data, arrival
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def _payloads(self) -> Generator[_Payload, None, None]:
        if self._content_type == "text/event-stream":
            return self._sse_payloads(self._reads())
        return self._binary_payloads(self._reads())

    def _sse_payloads(self, reads: _Reads) -> Generator[_Payload, None, None]:
        decoder = SSEDecoder()
        said_done = False  # a "done" payload, for servers that never send [DONE]
        ended = False
        try:
            for data, arrival in reads:
                for event in decoder.decode(data):
                    if event.data.startswith("[DONE]"):
                        ended = True
                        break
                    payload, b64 = self._sse_payload(event.event, event.data)
                    if b64 is not None:
                        yield _AUDIO, b64decode(b64), arrival, payload.get("item_id")
                    elif payload.get("type") == _WORDS_TYPE:
                        yield _WORDS, words_from_payload(payload), arrival, payload.get("item_id")
                    elif payload.get("type") in _DONE_TYPES:
                        said_done = True
                if ended:
                    # Read the body to its end so that the connection can be reused.
                    for _ in reads:
                        pass
                    return
            for event in decoder.flush():
                if event.data.startswith("[DONE]"):
                    return
                payload, b64 = self._sse_payload(event.event, event.data)
                if b64 is not None:
                    yield _AUDIO, b64decode(b64), self._now(), payload.get("item_id")
                said_done |= payload.get("type") in _DONE_TYPES
        finally:
            reads.close()
        if not said_done:
            raise ProtocolError("the event stream ended without data: [DONE]")

    @staticmethod
    def _sse_payload(name: str, data: str) -> tuple[dict, str | None]:
        """The payload of one SSE event and its base64 audio; raises for error events."""
        try:
            payload, b64 = parse_payload(data)
        except ValueError as exc:
            raise ProtocolError(f"an SSE event's data is not JSON: {data[:200]!r}") from exc
        if not isinstance(payload, dict):
            raise ProtocolError(f"an SSE event's data is not a JSON object: {data[:200]!r}")
        if payload.get("error") or name == "error" or payload.get("type") == "error":
            raise error_from_payload(payload.get("error", payload))
        return payload, b64

    def _binary_payloads(self, reads: _Reads) -> Generator[_Payload, None, None]:
        kind, params = self._content_type, self._type_params
        if kind == "audio/l16":  # RFC 2586: big-endian in theory, little-endian in practice
            self._encoding = "pcm_s16le"
        if "rate" in params and params["rate"].isdigit():
            self._sample_rate = int(params["rate"])
        # Asked for headerless audio, it comes headerless whatever its content type says
        # (mu-law is served as audio/basic, audio/x-mulaw, ...), unless it starts as a WAV.
        is_raw = kind in _RAW_TYPES or self._encoding is not None
        head: bytes | None = b""
        remaining: int | None = None  # bytes of audio left when a WAV header said how many
        try:
            for data, arrival in reads:
                if head is not None:
                    head += data
                    if len(head) < 12:
                        continue
                    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
                        try:
                            header = _audio.parse_wav_header(head)
                        except ValueError as exc:
                            raise ProtocolError(f"cannot read the streamed WAV: {exc}") from exc
                        if header is None:
                            continue
                        if header.channels != 1:
                            raise ProtocolError(
                                f"expected mono audio, the WAV stream has {header.channels} channels"
                            )
                        self._encoding, self._sample_rate = header.encoding, header.sample_rate
                        remaining = header.data_size
                        data = head[header.header_size :]
                    elif not is_raw:
                        yield from self._whole_file(head, reads)
                        return
                    else:
                        data = head
                    head = None
                if remaining is not None:
                    data, remaining = data[:remaining], remaining - min(remaining, len(data))
                if data:
                    yield _AUDIO, data, arrival, None
            if head:  # a body shorter than any header: raw PCM, or a file to decode whole
                if is_raw:
                    yield _AUDIO, head, self._now(), None
                else:
                    yield from self._whole_file(head, _no_reads())
        finally:
            reads.close()

    def _whole_file(self, head: bytes, reads: _Reads) -> Generator[_Payload, None, None]:
        """A compressed body (mp3, flac, ...) cannot be decoded piecewise: read it whole."""
        parts = [head]
        parts.extend(data for data, _ in reads)
        arrival = self._now()
        try:
            samples, rate = _audio.decode_file(b"".join(parts))
        except Exception as exc:
            raise _UndecodableBody(
                f"could not decode the {self._content_type} body as audio ({exc}); soundfile "
                "reads wav, flac, mp3 and ogg (vorbis, opus): ask for response_format='wav' "
                "or 'raw'"
            ) from exc
        yield _SAMPLES, samples, arrival, rate
