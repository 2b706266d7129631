"""The layers under a ``SpeechStream``: network reads -> payloads, for every body shape.

An event stream (``text/event-stream``) goes through ``sse.SSEDecoder`` and
``wire.sse_payload``; a binary body is raw PCM, a streamed WAV (``wire.WAVDecoder``), or a
compressed file decoded whole. Each layer is a generator closed in ``finally``, and each
payload carries the time its bytes came off the network.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from typing import Any

from .. import audio as _audio
from ..errors import ProtocolError
from .recording import Recorder
from .sse import SSEDecoder
from .wire import (
    DONE_TYPES,
    RAW_TYPES,
    WORDS_TYPE,
    WAVDecoder,
    b64decode,
    parse_content_type,
    sse_payload,
    words_from_payload,
)

__all__ = ["AUDIO", "SAMPLES", "WORDS", "Body", "UndecodableBody"]


class UndecodableBody(ProtocolError):
    """A whole body arrived but is not audio that ttskit can decode."""


_Reads = Generator[tuple[bytes, float], None, None]  # (bytes read, arrival_s)


# Payloads between the layers, as tuples because there is one per audio delta:
# (AUDIO, pcm bytes, arrival_s, item_id), (SAMPLES, float32 array, arrival_s, sample_rate),
# (WORDS, word table, arrival_s, item_id).
AUDIO, SAMPLES, WORDS = 0, 1, 2
_Payload = tuple[int, Any, float, Any]


def _no_reads() -> _Reads:
    yield from ()


class Body:
    """A response body read as payloads; learns the audio format as the body says it.

    Parameters
    ----------
    chunks : iterable of bytes
        The body as read off the network.
    content_type : str
        The response's Content-Type.
    encoding : str or None
        PCM encoding of raw audio, if known before the body says it.
    recorder : Recorder
        Told when bytes arrive, and the sample rate once the body gives it.
    now : callable
        Seconds since the request started.
    """

    def __init__(
        self,
        chunks: Iterable[bytes],
        *,
        content_type: str,
        encoding: str | None,
        recorder: Recorder,
        now: Callable[[], float],
    ) -> None:
        self._chunks = chunks
        self._content_type, self._type_params = parse_content_type(content_type or "")
        self.encoding = encoding
        self._recorder = recorder
        self._now = now

    @property
    def kind(self) -> str:
        """The media type, lowercased, without parameters."""
        return self._content_type

    def reads(self) -> _Reads:
        chunks = iter(self._chunks)
        try:
            for data in chunks:
                if not data:
                    continue
                arrival = self._now()
                self._recorder.arrived(arrival)
                yield data, arrival
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def payloads(self) -> Generator[_Payload, None, None]:
        if self._content_type == "text/event-stream":
            return self._sse_payloads(self.reads())
        return self._binary_payloads(self.reads())

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
                    payload, b64 = sse_payload(event.event, event.data)
                    if b64 is not None:
                        yield AUDIO, b64decode(b64), arrival, payload.get("item_id")
                    elif payload.get("type") == WORDS_TYPE:
                        yield WORDS, words_from_payload(payload), arrival, payload.get("item_id")
                    elif payload.get("type") in DONE_TYPES:
                        said_done = True
                if ended:
                    # Read the body to its end so that the connection can be reused.
                    for _ in reads:
                        pass
                    return
            for event in decoder.flush():
                if event.data.startswith("[DONE]"):
                    return
                payload, b64 = sse_payload(event.event, event.data)
                if b64 is not None:
                    yield AUDIO, b64decode(b64), self._now(), payload.get("item_id")
                said_done |= payload.get("type") in DONE_TYPES
        finally:
            reads.close()
        if not said_done:
            raise ProtocolError("the event stream ended without data: [DONE]")

    def _binary_payloads(self, reads: _Reads) -> Generator[_Payload, None, None]:
        kind, params = self._content_type, self._type_params
        if kind == "audio/l16":  # RFC 2586: big-endian in theory, little-endian in practice
            self.encoding = "pcm_s16le"
        if "rate" in params and params["rate"].isdigit():
            self._recorder.sample_rate = int(params["rate"])
        # Asked for headerless audio, it comes headerless whatever its content type says
        # (mu-law is served as audio/basic, audio/x-mulaw, ...), unless it starts as a WAV.
        is_raw = kind in RAW_TYPES or self.encoding is not None
        head: bytes | None = b""  # the first bytes, until they say what the body is
        wav: WAVDecoder | None = None
        told = False
        try:
            for data, arrival in reads:
                if head is not None:
                    head += data
                    if len(head) < 12:
                        continue
                    data, head = head, None
                    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
                        wav = WAVDecoder()
                    elif not is_raw:
                        yield from self._whole_file(data, reads)
                        return
                if wav is not None:
                    data = wav.decode(data)
                    if wav.header is not None and not told:
                        told = True  # the header's format wins over what was asked for
                        self.encoding = wav.header.encoding
                        self._recorder.sample_rate = wav.header.sample_rate
                if data:
                    yield AUDIO, data, arrival, None
            if wav is not None:
                wav.flush()
            elif head:  # a body shorter than any header: raw PCM, or a file to decode whole
                if is_raw:
                    yield AUDIO, head, self._now(), None
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
            raise UndecodableBody(
                f"could not decode the {self._content_type} body as audio ({exc}); soundfile "
                "reads wav, flac, mp3 and ogg (vorbis, opus): ask for response_format='wav' "
                "or 'raw'"
            ) from exc
        yield SAMPLES, samples, arrival, rate
