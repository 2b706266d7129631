"""An answer's body as events: a push decoder that knows no socket.

``AnswerDecoder`` is fed the body's bytes as they arrive (``decode(data, arrival_s)``) and
told when it ended (``flush(now_s)``); it returns the ``AudioChunk`` and ``WordTimestamps``
events those bytes complete, having recorded them in its ``Recorder``. The sync and the
async client feed it the same way, so an answer means the same whichever read it::

    bytes -> SSE events (sse.SSEDecoder) -> payloads (wire) -> PCM -> events + Recorder
    bytes -> raw PCM / streamed WAV (wire.WAVDecoder) / a file decoded whole -> the same

What a server can make it hold is bounded: an SSE line (``sse.MAX_LINE``), a body read
whole (``MAX_FILE_BYTES``), a WAV longer than its header says, a sample rate outside
``wire.SAMPLE_RATE_RANGE``, and the audio of one answer (``max_audio_s`` seconds at its
rate, whatever the body's shape).
"""

from __future__ import annotations

from typing import Any

from .. import audio as _audio
from ..errors import ProtocolError
from ..results import AudioChunk, WordTimestamps
from .recording import Recorder
from .sse import SSEDecoder
from .wire import (
    DONE_TYPES,
    RAW_TYPES,
    WORDS_TYPE,
    PCMDecoder,
    WAVDecoder,
    b64decode,
    check_rate,
    parse_content_type,
    sse_payload,
    words_from_payload,
)

__all__ = [
    "DEFAULT_MAX_AUDIO_S",
    "MAX_FILE_BYTES",
    "AnswerDecoder",
    "UndecodableBody",
    "is_answer",
    "not_an_answer",
]

#: Largest compressed body read whole before decoding (an hour of 24 kHz float32 is 350 MB;
#: an hour of mp3 at 128 kbit/s is 58 MB).
MAX_FILE_BYTES = 256 * 2**20
#: Seconds of audio one answer (or one utterance of a realtime context) may hold: more than
#: any text is spoken in, and what keeps a server that sends audio without end from filling
#: the client's memory (an hour of 24 kHz audio is 350 MB of float32).
DEFAULT_MAX_AUDIO_S = 3600.0

Event = AudioChunk | WordTimestamps


class UndecodableBody(ProtocolError):
    """A whole body arrived but is not audio that ttskit can decode."""


def is_answer(content_type: str) -> bool:
    """Whether a Content-Type is one of audio or an event stream."""
    kind, _ = parse_content_type(content_type or "")
    return (
        kind == "text/event-stream"
        or kind.startswith("audio/")
        or (kind == "application/octet-stream")
    )


def not_an_answer(content_type: str, body: bytes) -> ProtocolError:
    """The error for an answer that is neither audio nor an event stream."""
    return ProtocolError(
        f"expected audio or an event stream, got Content-Type {content_type!r}: {body[:300]!r}"
    )


class AnswerDecoder:
    """Bytes of one answer in, events out; every event is recorded in ``recorder``.

    Parameters
    ----------
    content_type : str
        The answer's Content-Type.
    encoding : str or None
        PCM encoding of raw audio, if known before the body says it.
    recorder : Recorder
        Gets the samples, arrivals and words; its sample rate is the raw audio's.
    emit : bool
        Make events (False when only the ``Speech`` is wanted: no chunk is copied).
    max_audio_s : float
        Seconds of audio the answer may hold; more is a ``ProtocolError``.
    """

    def __init__(
        self,
        content_type: str,
        *,
        encoding: str | None,
        recorder: Recorder,
        emit: bool = True,
        max_audio_s: float = DEFAULT_MAX_AUDIO_S,
    ) -> None:
        self.kind, params = parse_content_type(content_type or "")
        self.encoding = encoding
        self.recorder = recorder
        self.emit = emit
        self.max_audio_s = max_audio_s
        #: The server said the answer was whole ([DONE], a done event, or the body's end).
        self.complete = False
        #: Nothing more of the body counts (after [DONE]); the shell may drain the rest.
        self.ended = False
        self._sse = SSEDecoder() if self.kind == "text/event-stream" else None
        self._said_done = False
        self._pcm: PCMDecoder | None = None
        self._wav: WAVDecoder | None = None
        self._head: bytes | None = b""  # the first bytes of a binary body, until they say
        self._file: list[bytes] | None = None
        self._file_size = 0
        if self.kind == "audio/l16":  # RFC 2586: big-endian in theory, little-endian in practice
            self.encoding = "pcm_s16le"
        if "rate" in params:
            recorder.sample_rate = check_rate(params["rate"], "the Content-Type's rate")
        # Asked for headerless audio, it comes headerless whatever its content type says
        # (mu-law is served as audio/basic, audio/x-mulaw, ...), unless it starts as a WAV.
        self._is_raw = self.kind in RAW_TYPES or self.encoding is not None

    # --- pushing bytes ------------------------------------------------------------------------

    def decode(self, data: bytes, arrival_s: float) -> list[Event]:
        """The events completed by ``data``, which came off the network at ``arrival_s``."""
        if not data or self.ended:
            return []
        self.recorder.arrived(arrival_s)
        if self._sse is not None:
            return self._sse_events(self._sse.decode(data), arrival_s)
        return self._binary(data, arrival_s)

    def flush(self, now_s: float) -> list[Event]:
        """The body ended at ``now_s``: the events it leaves pending.

        Raises ``ProtocolError`` if the body cannot be whole (an event stream without its
        end, a WAV cut inside its header) and ``UndecodableBody`` for a file that is not
        audio.
        """
        events: list[Event] = []
        if self.ended:
            return events
        if self._sse is not None:
            events = self._sse_events(self._sse.flush(), now_s)
            if not (self.ended or self._said_done):
                raise ProtocolError("the event stream ended without data: [DONE]")
        elif self._file is not None:
            events = self._whole_file(now_s)
        elif self._wav is not None:
            self._wav.flush()
        elif self._head:  # shorter than any header: raw PCM, or a file to decode whole
            head, self._head = self._head, None
            if self._is_raw:
                events = self._audio(head, now_s, None)
            else:
                self._file = [head]
                events = self._whole_file(now_s)
        self.complete = True
        return events

    # --- event streams ------------------------------------------------------------------------

    def _sse_events(self, sse_events: list, arrival_s: float) -> list[Event]:
        events: list[Event] = []
        for event in sse_events:
            if event.data.startswith("[DONE]"):
                self.ended = self.complete = True
                break
            payload, b64 = sse_payload(event.event, event.data)
            item_id = payload.get("item_id")
            if b64 is not None:
                events += self._audio(b64decode(b64), arrival_s, item_id)
            elif payload.get("type") == WORDS_TYPE:
                words = words_from_payload(payload)
                self.recorder.add_words(words)
                if self.emit:
                    events.append(WordTimestamps(words, arrival_s, item_id))
            elif payload.get("type") in DONE_TYPES:
                self._said_done = True
        return events

    # --- binary bodies ------------------------------------------------------------------------

    def _binary(self, data: bytes, arrival_s: float) -> list[Event]:
        if self._file is not None:
            return self._more_file(data)
        if self._head is not None:
            self._head += data
            if len(self._head) < 12:
                return []
            data, self._head = self._head, None
            if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
                self._wav = WAVDecoder()
            elif not self._is_raw:
                self._file = []
                return self._more_file(data)
        if self._wav is not None:
            told = self._wav.header is not None
            data = self._wav.decode(data)
            if self._wav.header is not None and not told:
                # The header's format wins over what was asked for.
                self.encoding = self._wav.header.encoding
                self.recorder.sample_rate = self._wav.header.sample_rate
                self._pcm = None
        return self._audio(data, arrival_s, None)

    def _more_file(self, data: bytes) -> list[Event]:
        """A compressed body (mp3, flac, ...) cannot be decoded piecewise: keep it whole."""
        self._file_size += len(data)
        if self._file_size > MAX_FILE_BYTES:
            raise ProtocolError(
                f"the {self.kind} body is over {MAX_FILE_BYTES >> 20} MiB, more than any "
                "answer ttskit reads whole; ask for response_format='raw' to stream it"
            )
        self._file.append(data)
        return []

    def _whole_file(self, now_s: float) -> list[Event]:
        body, self._file = b"".join(self._file or ()), None
        try:
            samples, rate = _audio.decode_file(body)
        except Exception as exc:
            raise UndecodableBody(
                f"could not decode the {self.kind} body as audio ({exc}); soundfile "
                "reads wav, flac, mp3 and ogg (vorbis, opus): ask for response_format='wav' "
                "or 'raw'"
            ) from exc
        if not len(samples):
            return []
        self.recorder.sample_rate = check_rate(rate, "the file's header")
        room = self._room()
        self.recorder.add(samples[:room], now_s)
        if len(samples) > room:
            raise self._too_long()
        return [self._chunk(now_s, None)] if self.emit else []

    # --- audio --------------------------------------------------------------------------------

    def _audio(self, pcm: bytes, arrival_s: float, item_id: Any) -> list[Event]:
        if not pcm:
            return []
        recorder = self.recorder
        decoder = self._pcm or self._decoder()
        room = self._room()
        over = len(pcm) // decoder.width > room
        if over:  # what fits is kept, as the audio of a stream cut there
            pcm = pcm[: room * decoder.width]
        n = recorder.booked(decoder.decode_into(pcm, recorder.samples), arrival_s)
        if over:
            raise self._too_long()
        return [self._chunk(arrival_s, item_id)] if n and self.emit else []

    def _room(self) -> int:
        """Samples the answer may still add within ``max_audio_s``."""
        limit = int(self.max_audio_s * (self.recorder.sample_rate or 0))
        return max(0, limit - len(self.recorder))

    def _too_long(self) -> ProtocolError:
        return ProtocolError(
            f"the answer holds more than max_audio_s={self.max_audio_s:g} seconds of audio; "
            "for longer answers, make the client with a larger one "
            "(Client(..., max_audio_s=...))"
        )

    def _chunk(self, arrival_s: float, item_id: Any) -> AudioChunk:
        audio, start_s = self.recorder.last_chunk()
        return AudioChunk(audio, self.recorder.sample_rate or 1, arrival_s, start_s, item_id)

    def _decoder(self) -> PCMDecoder:
        if self.encoding is None or self.recorder.sample_rate is None:
            missing = "encoding" if self.encoding is None else "sample rate"
            raise ProtocolError(
                f"raw audio arrived but its {missing} is unknown: pass "
                "response_encoding= and sample_rate= explicitly"
            )
        self._pcm = PCMDecoder(self.encoding)
        return self._pcm
