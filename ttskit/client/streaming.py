"""Streamed speech: ``SpeechStream``, an answer read as it arrives, as events.

The shell reads the network and feeds an ``decoding.AnswerDecoder``, which turns bytes into
``AudioChunk`` / ``WordTimestamps`` events recorded in one ``Recorder``::

    network reads (bytes, arrival time)  ->  AnswerDecoder  ->  events + Recorder -> Speech

``StreamState`` is everything but the reading, shared with the async stream
(``ttskit.client.asynchronous.AsyncSpeechStream``). Times are read from an injectable clock
right after each network read returns, so ``first_audio_s`` is when the bytes carrying
the first audio came off the socket.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..errors import StreamConsumedError, StreamInterrupted, TTSKitError
from ..results import AudioChunk, Speech, Timing, WordTimestamps
from .decoding import (
    DEFAULT_MAX_AUDIO_S,
    AnswerDecoder,
    UndecodableBody,
    is_answer,
    not_an_answer,
)
from .recording import Recorder
from .transport import request_id
from .wire import check_rate

if TYPE_CHECKING:
    from .request import SpeechRequest

__all__ = ["ResponseHead", "SpeechStream", "StreamState"]


@dataclass(frozen=True)
class ResponseHead:
    """What an answer's status line and headers said, read once.

    ``headers`` has lower-case names. ``connection_reused`` is whether the request went
    on a kept-alive connection (None when unknown). ``attempts`` counts the requests sent
    for this answer: 1, plus the client's retries.
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    http_version: str | None = None
    connection_reused: bool | None = None
    attempts: int = 1

    @property
    def request_id(self) -> str | None:
        return request_id(self.headers)

    @property
    def served_model(self) -> str | None:
        return self.headers.get("x-ttskit-model")

    @property
    def served_voice(self) -> str | None:
        return self.headers.get("x-ttskit-voice")

    @property
    def served_sample_rate(self) -> int | None:
        rate = self.headers.get("x-ttskit-sample-rate")
        return None if rate is None else check_rate(rate, "the x-ttskit-sample-rate header")

    @property
    def server(self) -> str | None:
        return self.headers.get("server")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


class StreamState:
    """An answer's head, decoder, recorder and outcome: a stream without its reading."""

    def __init__(
        self,
        *,
        content_type: str | None,
        request: SpeechRequest | None,
        encoding: str | None,
        sample_rate: int | None,
        started: float,
        headers_s: float | None,
        clock: Callable[[], float],
        endpoint: str,
        head: ResponseHead | None,
    ) -> None:
        self.request = request
        self.head = head or ResponseHead(headers={"content-type": content_type or ""})
        content_type = self.head.content_type if content_type is None else content_type
        self._content_type = content_type
        if sample_rate is None and request is not None and request.encoding is not None:
            # For raw audio, what the server says it sent wins over what was asked.
            sample_rate = self.head.served_sample_rate or request.sample_rate_out
        self._recorder = Recorder(sample_rate)
        self._recorder.headers_s = headers_s
        self._recorder.attempts = self.head.attempts
        self._decoder = AnswerDecoder(
            content_type,
            encoding=encoding or (request.encoding if request else None),
            recorder=self._recorder,
            max_audio_s=request.max_audio_s if request else DEFAULT_MAX_AUDIO_S,
        )
        self._started = started
        self._clock = clock
        self.text = request.text if request else ""
        self.requested_model = request.model if request else ""
        self.requested_voice = request.voice if request else ""
        self.model = self.head.served_model or self.requested_model
        self.voice = self.head.served_voice or self.requested_voice
        self.endpoint = endpoint
        self._iterated = False
        self._finished = False  # the body was read to its end, or given up
        self._complete = False  # ... and the server said it was all there
        self._interrupted: StreamInterrupted | None = None
        self._speech: Speech | None = None

    # --- what the headers said ----------------------------------------------------------------

    @property
    def status(self) -> int:
        return self.head.status

    @property
    def request_id(self) -> str | None:
        return self.head.request_id

    @property
    def served_model(self) -> str | None:
        return self.head.served_model

    @property
    def served_voice(self) -> str | None:
        return self.head.served_voice

    @property
    def http_version(self) -> str | None:
        return self.head.http_version

    @property
    def connection_reused(self) -> bool | None:
        return self.head.connection_reused

    @property
    def server(self) -> str | None:
        return self.head.server

    # --- what arrived ---------------------------------------------------------------------

    @property
    def started(self) -> float:
        """The clock reading every time of ``timing`` counts from: when the request was
        sent."""
        return self._started

    @property
    def timing(self) -> Timing:
        """When each part arrived so far (complete once the stream has been read)."""
        return self._recorder.timing()

    @property
    def sample_rate(self) -> int | None:
        """Sample rate of the audio (known once the request or the body said it)."""
        return self._recorder.sample_rate

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
            f"{type(self).__name__}({state}, {recorder.n_chunks} chunks, "
            f"{recorder.duration:.2f}s received)"
        )

    # --- the steps a shell takes ----------------------------------------------------------

    def _now(self) -> float:
        return self._clock() - self._started

    def _start_iterating(self) -> None:
        if self._iterated or self._finished:
            raise StreamConsumedError(
                "this SpeechStream was already read; use .speech() for the collected result"
            )
        self._iterated = True

    def _feed(self, data: bytes, at: float | None = None) -> list[AudioChunk | WordTimestamps]:
        """Decode ``data``, which arrived at clock reading ``at`` (now when None)."""
        if not data:
            return []
        return self._decoder.decode(data, (self._clock() if at is None else at) - self._started)

    def _end(self) -> list[AudioChunk | WordTimestamps]:
        events = self._decoder.flush(self._now())
        self._complete = True
        return events

    def _failed(self, exc: TTSKitError) -> TTSKitError:
        """The exception to raise for a read that ``exc`` ended."""
        if isinstance(exc, UndecodableBody):
            return exc  # all of it arrived: nothing was cut
        # Cut by the server or the network: what arrived stays collected, with only the
        # words whose audio came.
        self._recorder.done_s = self._now()
        self._interrupted = StreamInterrupted(
            f"the stream was cut after {self._recorder.duration:.2f}s of audio: {exc}",
            partial=None,
        )
        self._interrupted.partial = self._collected()
        return self._interrupted

    def _finish(self) -> None:
        self._finished = True
        if self._recorder.done_s is None:
            self._recorder.done_s = self._now()

    def _collect_only(self) -> None:
        """Reading for ``speech()`` alone: no event objects are made."""
        self._iterated = True
        self._decoder.emit = False

    def _result(self, allow_partial: bool) -> Speech:
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
            self._speech.requested_model = self.requested_model or self.model
            self._speech.requested_voice = self.requested_voice or self.voice
        return self._speech


class SpeechStream(StreamState):
    """Speech arriving over the network, as an iterator of events.

    Iterate it for ``AudioChunk`` and ``WordTimestamps`` events as they arrive, or call
    :meth:`speech` to collect everything (including what was not iterated yet) into a
    ``Speech``. Use it as a context manager so that the connection is released. After the
    headers it says what the server answered: ``status``, ``request_id``,
    ``served_model``, ``served_voice``, ``http_version``, ``connection_reused``, ``server``.
    A Ctrl-C while it is read closes the connection, and ``speech(allow_partial=True)``
    returns what had arrived.

    Parameters
    ----------
    chunks : iterable of bytes
        The response body as read off the network; it may raise ttskit transport errors.
    content_type : str, optional
        The response's Content-Type (the head's when None): ``text/event-stream`` for
        SSE, ``audio/*`` or ``application/octet-stream`` for a binary body.
    request : SpeechRequest, optional
        What was asked; gives the raw format and the text, model and voice asked for.
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
    head : ResponseHead, optional
        The answer's status and headers.

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
        content_type: str | None = None,
        request: SpeechRequest | None = None,
        encoding: str | None = None,
        sample_rate: int | None = None,
        started: float,
        headers_s: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
        close: Callable[[], None] | None = None,
        endpoint: str = "",
        head: ResponseHead | None = None,
    ) -> None:
        self._chunks = chunks
        self._close_connection = close
        self._events: Iterator[AudioChunk | WordTimestamps] | None = None
        super().__init__(
            content_type=content_type,
            request=request,
            encoding=encoding,
            sample_rate=sample_rate,
            started=started,
            headers_s=headers_s,
            clock=clock,
            endpoint=endpoint,
            head=head,
        )
        if not is_answer(self._content_type):
            body = b"".join(chunks)
            self._finished = True
            self._release()
            raise not_an_answer(self._content_type, body)

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
        self._start_iterating()
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
            self._events.close()  # runs the generator's finally block
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
        self.drain()
        return self._result(allow_partial)

    def drain(self) -> Timing:
        """Read the rest of the stream, recording it, without making events; its complete
        ``timing``. Raises as iterating does; ``speech()`` still returns what was read.

        What a load test needs of an answer: when each part came, at the least cost per
        chunk.
        """
        if not self._finished:
            if self._events is None:
                self._collect_only()
                self._events = self._run()
            for _ in self._events:
                pass
        return self.timing

    def play(self) -> Any:
        """A live player widget that plays this stream as it arrives.

        The one door from the client to ``ttskit.widgets`` (imported on call, as pandas
        imports matplotlib in ``DataFrame.plot``).
        """
        from ttskit.widgets import Player

        return Player(self)

    def _release(self) -> None:
        if self._close_connection is not None:
            close, self._close_connection = self._close_connection, None
            close()

    def _run(self) -> Iterator[AudioChunk | WordTimestamps]:
        """Read everything, recording it, and yield the events."""
        chunks = iter(self._chunks)
        try:
            for data in chunks:
                yield from self._feed(data)
                if self._decoder.ended:
                    for _ in chunks:  # to its end, so that the connection can be reused
                        pass
                    break
            yield from self._end()
        except TTSKitError as exc:
            failure = self._failed(exc)
            if failure is exc:
                raise
            raise failure from exc
        finally:  # Ctrl-C too: what arrived stays collected
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            self._finish()
            self._release()
