"""Streamed speech: ``SpeechStream``, an iterator of events over stacked decoders.

The layers, each a generator closed in ``finally`` (the lower two in ``client.body``)::

    network reads (bytes, arrival time)
      -> SSE events (client.sse)          or  binary body: raw PCM / streamed WAV / a file
      -> payloads (audio bytes, words, done, error), any shape of PROTOCOL.md section 2
      -> AudioChunk / WordTimestamps events, recorded for Speech and Timing

Times are read from an injectable clock right after each network read returns, so
``first_audio_s`` is when the bytes carrying the first audio came off the socket.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..errors import ProtocolError, StreamConsumedError, StreamInterrupted, TTSKitError
from ..results import AudioChunk, Speech, Timing, WordTimestamps
from .body import AUDIO, WORDS, Body, UndecodableBody
from .recording import Recorder
from .wire import PCMDecoder

if TYPE_CHECKING:
    from .request import SpeechRequest

__all__ = ["SpeechStream"]


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
    request : SpeechRequest, optional
        What was asked; gives the raw format and the text, model and voice of the result.
    encoding, sample_rate : optional
        The raw format, when not the request's (None when the body must say, as a WAV
        header does).
    started : float
        Clock reading when the request was started; every time is relative to it.
    headers_s : float or None
        When the response headers arrived, relative to ``started``.
    clock : callable
        Returns seconds; ``time.perf_counter`` unless a test injects one.
    close : callable, optional
        Releases the connection.
    endpoint : str
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
        request: SpeechRequest | None = None,
        encoding: str | None = None,
        sample_rate: int | None = None,
        started: float,
        headers_s: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
        close: Callable[[], None] | None = None,
        endpoint: str = "",
    ) -> None:
        self.request = request
        self._recorder = Recorder(sample_rate or (request.sample_rate_out if request else None))
        self._recorder.headers_s = headers_s
        self._body = Body(
            chunks,
            content_type=content_type,
            encoding=encoding or (request.encoding if request else None),
            recorder=self._recorder,
            now=self._now,
        )
        self._started = started
        self._clock = clock
        self._close_connection = close
        self.text = request.text if request else ""
        self.model = request.model if request else ""
        self.voice = request.voice if request else ""
        self.endpoint = endpoint
        self._pcm: PCMDecoder | None = None

        self._events: Iterator[AudioChunk | WordTimestamps] | None = None
        self._iterated = False
        self._finished = False  # the body was read to its end
        self._complete = False  # ... and the server said it was all there
        self._interrupted: StreamInterrupted | None = None
        self._speech: Speech | None = None
        kind = self._body.kind
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
        return self._recorder.timing()

    @property
    def sample_rate(self) -> int | None:
        """Sample rate of the audio (known once the request or the body said it)."""
        return self._recorder.sample_rate

    def play(self) -> Any:
        """A live player widget that plays this stream as it arrives.

        The one door from the client to ``ttskit.widgets`` (imported on call, as pandas
        imports matplotlib in ``DataFrame.plot``).
        """
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
        recorder = self._recorder
        return (
            f"SpeechStream({state}, {recorder.n_chunks} chunks, {recorder.duration:.2f}s received)"
        )

    # --- collecting ----------------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock() - self._started

    def _collected(self) -> Speech:
        if self._speech is None:
            self._speech = self._recorder.speech(
                text=self.text,
                model=self.model,
                voice=self.voice,
                endpoint=self.endpoint,
                final=True,
                partial=not self._complete,
            )
        return self._speech

    def _release(self) -> None:
        if self._close_connection is not None:
            close, self._close_connection = self._close_connection, None
            close()

    def _run(self, emit: bool = True) -> Iterator[AudioChunk | WordTimestamps]:
        """Read everything, recording it; yield the events too when ``emit``."""
        payloads = self._body.payloads()
        recorder = self._recorder
        try:
            for kind, value, arrival, extra in payloads:
                if kind == AUDIO:
                    decoder = self._pcm or self._decoder()
                    n = recorder.booked(decoder.decode_into(value, recorder.samples), arrival)
                    if n and emit:
                        yield self._chunk(arrival, extra)
                elif kind == WORDS:
                    recorder.add_words(value)
                    if emit:
                        yield WordTimestamps(value, arrival, extra)
                elif len(value):
                    recorder.sample_rate = extra
                    recorder.add(value, arrival)
                    if emit:
                        yield self._chunk(arrival, None)
            self._complete = True
        except UndecodableBody:
            raise  # all of it arrived: nothing was cut
        except (TTSKitError, KeyboardInterrupt) as exc:
            # Cut by the server, the network, or the person at the keyboard: what arrived
            # stays collected, with only the words whose audio came.
            recorder.done_s = self._now()
            if isinstance(exc, KeyboardInterrupt):
                raise
            self._interrupted = StreamInterrupted(
                f"the stream was cut after {recorder.duration:.2f}s of audio: {exc}",
                partial=None,
            )
            self._interrupted.partial = self._collected()
            raise self._interrupted from exc
        finally:
            payloads.close()
            self._finished = True
            if recorder.done_s is None:
                recorder.done_s = self._now()
            self._release()

    def _chunk(self, arrival_s: float, item_id: str | None) -> AudioChunk:
        audio, start_s = self._recorder.last_chunk()
        return AudioChunk(audio, self._recorder.sample_rate or 1, arrival_s, start_s, item_id)

    def _decoder(self) -> PCMDecoder:
        if self._pcm is None:
            if self._body.encoding is None or self._recorder.sample_rate is None:
                missing = "encoding" if self._body.encoding is None else "sample rate"
                raise ProtocolError(
                    f"raw audio arrived but its {missing} is unknown: pass "
                    "response_encoding= and sample_rate= explicitly"
                )
            self._pcm = PCMDecoder(self._body.encoding)
        return self._pcm
