"""``AsyncClient``: the same speech API as ``Client``, as coroutines, on the same core.

Requests are built by the same code as ``Client``'s (``build_request``: options checked,
defaults resolved by ``discovery``, one ``SpeechRequest``), answers decoded by the same
``AnswerDecoder`` into the same ``Recorder``; only the reading differs. HTTP goes through
aiohttp (chosen by harness CPU per request, ``benchmarks/async_client.py``), the WebSocket
through websockets' asyncio client (``AsyncRealtimeSession``, on the sync session's core).

>>> async with ttskit.AsyncClient() as client:  # doctest: +SKIP
...     speech = await client.speak("Hello there.")
...     async with client.stream("How are you?") as stream:
...         async for event in stream:
...             ...
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import inspect
import logging
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
)
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pandas as pd

from ..errors import ConnectError, TTSKitError
from ..results import AudioChunk, Speech, Timing, WordTimestamps
from .async_transport import read_body, reuse_trace, timed_connector, translate
from .base import ClientBase, speech_connect_error
from .discovery import models_frame, voices_frame
from .request import SpeechRequest
from .session import backoff, retryable, url_hint
from .streaming import ResponseHead, StreamState
from .transport import error_of_answer, json_of_answer

if TYPE_CHECKING:
    import aiohttp

    from .async_realtime import AsyncRealtimeSession


__all__ = ["AsyncClient", "AsyncSpeechStream"]

Opened = TypeVar("Opened")

logger = logging.getLogger("ttskit.client")


class AsyncSpeechStream(StreamState):
    """Speech arriving over the network, as an async iterator of events.

    ``async for event in stream`` gives ``AudioChunk`` and ``WordTimestamps`` events as
    they arrive; ``await stream.speech()`` collects everything into a ``Speech``. Use it
    as an async context manager so that the connection is released. It says what the
    server answered as ``SpeechStream`` does (``status``, ``request_id``, ...). A task
    cancelled while it reads (``asyncio.run``'s Ctrl-C) closes the connection, and
    ``await stream.speech(allow_partial=True)`` returns what had arrived.
    """

    def __init__(
        self,
        reads: AsyncIterator[tuple[bytes, float]],
        *,
        close: Callable[[], Awaitable[None]],
        request: SpeechRequest,
        started: float,
        headers_s: float,
        clock: Callable[[], float],
        endpoint: str,
        head: ResponseHead,
    ) -> None:
        super().__init__(
            content_type=None,
            request=request,
            encoding=None,
            sample_rate=None,
            started=started,
            headers_s=headers_s,
            clock=clock,
            endpoint=endpoint,
            head=head,
        )
        self._reads = reads
        self._close_connection: Callable[[], Awaitable[None]] | None = close
        self._events: Any = None

    async def __aenter__(self) -> AsyncSpeechStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncSpeechStream:
        self._start_iterating()
        return self

    async def __anext__(self) -> AudioChunk | WordTimestamps:
        if self._events is None:
            if self._finished:
                raise StopAsyncIteration
            self._events = self._run()
        return await self._events.__anext__()

    async def aclose(self) -> None:
        """Stop reading and release the connection (what was received stays collected)."""
        if self._events is not None:
            await self._events.aclose()
        elif not self._finished:
            self._finished = True
            await self._release()

    async def speech(self, *, allow_partial: bool = False) -> Speech:
        """Read the rest of the stream and return everything as one ``Speech``
        (see ``SpeechStream.speech``)."""
        await self.drain()
        return self._result(allow_partial)

    async def drain(self) -> Timing:
        """Read the rest of the stream, recording it, without making events; its complete
        ``timing`` (see ``SpeechStream.drain``)."""
        if not self._finished:
            if self._events is None:
                self._collect_only()
                self._events = self._run()
            async for _ in self._events:
                pass
        return self.timing

    async def _release(self) -> None:
        if self._close_connection is not None:
            close, self._close_connection = self._close_connection, None
            await close()

    async def _run(self) -> AsyncIterator[AudioChunk | WordTimestamps]:
        try:
            async for data, at in self._reads:
                for event in self._feed(data, at):
                    yield event
                if self._decoder.ended:
                    async for _ in self._reads:  # to its end, so that the connection is kept
                        pass
                    break
            for event in self._end():
                yield event
        except TTSKitError as exc:
            failure = self._failed(exc)
            if failure is exc:
                raise
            raise failure from exc
        finally:  # Ctrl-C and a cancelled task too: what arrived stays collected
            self._finish()
            await self._release()


class AsyncClient(ClientBase):
    """A client for the speech API of one endpoint, as coroutines.

    Made and configured as ``Client`` is, by the same constructor (the same endpoint rule,
    key, defaults, ``dialect``, ``timeout``, ``max_retries``, ``headers``); ``sleep`` may
    be a coroutine function (``asyncio.sleep`` unless a test injects one). Use it as an
    async context manager, or ``await client.aclose()``. One client belongs to one event
    loop.
    """

    _default_sleep = staticmethod(asyncio.sleep)
    _session: aiohttp.ClientSession | None = None
    _trace: Any = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the kept-alive connections."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
        self._http.close()

    # --- HTTP ------------------------------------------------------------------------------

    def _aiohttp(self, *, fresh: bool = False) -> aiohttp.ClientSession:
        import aiohttp

        from .._version import __version__

        if self._trace is None:
            self._trace = reuse_trace(self._clock)
        headers = {"User-Agent": f"ttskit/{__version__}", **self._extra_headers}
        if self.endpoint.api_key:
            headers["Authorization"] = f"Bearer {self.endpoint.api_key}"
        auth = aiohttp.BasicAuth(*self.endpoint.auth) if self.endpoint.auth else None
        if fresh or self._session is None:
            session = aiohttp.ClientSession(
                headers=headers,
                auth=auth,
                trace_configs=[self._trace],
                connector=timed_connector(self._clock, limit=0, force_close=fresh),
                auto_decompress=True,
            )
            if fresh:
                return session
            self._session = session
        return self._session

    async def _wait(self, seconds: float) -> None:
        result = self._sleep(seconds)
        if inspect.isawaitable(result):
            await result

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: dict | None = None,
        params: dict | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
        fresh: bool = False,
        headers: dict[str, str] | None = None,
        on_send: Callable[[], None] | None = None,
    ) -> tuple[aiohttp.ClientResponse, dict, aiohttp.ClientSession | None]:
        """A 2xx response through the retries of ``session.retryable``/``backoff``."""
        import aiohttp

        url = f"{self.base_url}{path}"
        what = f"{method} {url}"
        secret = self.endpoint.api_key
        retries = self.max_retries if max_retries is None else max_retries
        timeout = self.timeout if timeout is None else timeout
        limits = aiohttp.ClientTimeout(sock_connect=timeout, sock_read=timeout)
        for attempt in range(retries + 1):
            last = attempt == retries
            session = self._aiohttp(fresh=fresh)
            trace: dict = {"reused": None}
            if on_send is not None:
                on_send()
            try:
                response = await session.request(
                    method,
                    url,
                    json=json_body,
                    params=params,
                    headers=headers,
                    timeout=limits,
                    trace_request_ctx=trace,
                )
            except (aiohttp.ClientError, builtins.TimeoutError, OSError) as exc:
                if fresh:
                    await session.close()
                error = translate(exc, what, secret)
                if last or not isinstance(error, ConnectError):
                    raise error from exc
                await self._wait(backoff(attempt, None, self.max_retry_wait))
                continue
            if response.status < 400:
                return response, trace, session if fresh else None
            text = await response.text(errors="replace")
            response.release()
            if fresh:
                await session.close()
            error = error_of_answer(
                response.status,
                response.headers,
                text,
                response.reason,
                secret,
                url_hint(self.endpoint, response.status),
            )
            if last or not retryable(response.status):
                raise error
            logger.debug("%s: %s; retrying", what, error)
            await self._wait(backoff(attempt, error.retry_after, self.max_retry_wait))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _get_json(self, path: str, params: dict | None = None) -> Any:
        response, _, _ = await self._send("GET", path, params=params)
        async with response:
            text = await response.text()
        return json_of_answer(text, f"GET {self.base_url}{path}")

    async def models(self) -> pd.DataFrame:
        """The models the endpoint serves (see ``Client.models``)."""
        return models_frame(await self._get_json("/models"))

    async def voices(self, model: str | None = None) -> pd.DataFrame:
        """Voices per model (see ``Client.voices``)."""
        payload = await self._get_json("/voices", {"model": model} if model else None)
        return voices_frame(payload, model)

    # --- speech ---------------------------------------------------------------------------

    async def build_request(self, text: str, **options: Any) -> SpeechRequest:
        """``Client.build_request``, as a coroutine: defaults may be asked of the server
        (once per client, on a thread)."""
        model, voice = options.pop("model", None), options.pop("voice", None)
        max_retries = options.pop("max_retries", None)
        fresh = options.pop("fresh_connection", False)
        stream, dialect = options.pop("stream", None), options.pop("dialect", None)
        checked = self._checked(text, stream=stream, dialect=dialect, **options)
        if model is None or voice is None:
            try:
                model, voice = await asyncio.to_thread(self._defaults.resolve, model, voice)
            except ConnectError as exc:
                raise speech_connect_error(self.base_url, exc) from exc
        return self._request(text, checked, model, voice, max_retries, fresh)

    async def send(self, request: SpeechRequest) -> AsyncSpeechStream:
        """Send ``request``; the stream of its answer once its headers came.

        The stream's times count from when the request was sent: the clock reading as its
        bytes were handed to the socket on a kept-alive connection, as the call was made
        when a connection had to be opened (``stream.started``).
        """
        self._check_own(request)
        clock = self._clock
        sent_at: list[float] = []
        response, trace, own_session = await self._send(
            "POST",
            "/audio/speech",
            json_body=request.body(),
            max_retries=request.max_retries,
            timeout=request.timeout,
            fresh=request.fresh_connection,
            headers=dict(request.headers),
            on_send=lambda: sent_at.append(clock()),
        )
        started = sent_at[0]
        if len(sent_at) == 1 and trace["reused"] and "sent" in trace:
            # On a kept-alive connection, times count from when the request went to the
            # socket; aiohttp writes it on a task of its own, which a loop busy with other
            # streams may run later than this call. (Opening a connection counts.)
            started = trace["sent"]
        headers_s = clock() - started
        deadline = sent_at[-1] + request.timeout

        async def close() -> None:
            response.release()
            response.close()
            if own_session is not None:
                await own_session.close()

        head = ResponseHead(
            status=response.status,
            headers={k.lower(): v for k, v in response.headers.items()},
            http_version=f"HTTP/{response.version.major}.{response.version.minor}",
            connection_reused=trace["reused"],
            attempts=len(sent_at),
        )
        reads = read_body(response, request.what, self.endpoint.api_key, deadline, clock)
        try:
            return AsyncSpeechStream(
                reads,
                close=close,
                request=request,
                started=started,
                headers_s=headers_s,
                clock=clock,
                endpoint=self.base_url,
                head=head,
            )
        except BaseException:
            await close()
            raise

    async def speak(self, text: str, **options: Any) -> Speech:
        """``Client.speak``, as a coroutine."""
        stream = await self.send(await self.build_request(text, **options))
        async with stream:
            return await stream.speech()

    def stream(self, text: str, **options: Any) -> _Opening[AsyncSpeechStream]:
        """``Client.stream``: ``async with client.stream(text) as stream`` (or ``await``)."""

        async def opening() -> AsyncSpeechStream:
            return await self.send(await self.build_request(text, **{**options, "stream": True}))

        return _Opening(opening)

    # --- WebSocket --------------------------------------------------------------------------

    def realtime(
        self, model: str | None = None, voice: str | None = None, **options: Any
    ) -> _Opening[AsyncRealtimeSession]:
        """``Client.realtime``: ``async with client.realtime() as session`` (or ``await``).

        The options, results and errors are those of ``Client.realtime``; the session is an
        ``AsyncRealtimeSession`` on websockets' asyncio client.
        """
        return _Opening(functools.partial(self._open_realtime, model, voice, options))

    async def _open_realtime(
        self, model: str | None, voice: str | None, options: dict[str, Any]
    ) -> AsyncRealtimeSession:
        from .async_realtime import AsyncRealtimeSession

        # Defaults may be asked of the server once per client: on a thread, as in speak.
        opening = await asyncio.to_thread(
            functools.partial(self._realtime_options, model, voice, **options)
        )
        return await AsyncRealtimeSession.open(**opening, sleep=self._sleep)

    async def realtime_speak(
        self,
        pieces: Iterable[str] | AsyncIterable[str],
        *,
        model: str | None = None,
        voice: str | None = None,
        **options: Any,
    ) -> Speech:
        """``Client.realtime_speak``, as a coroutine: ``timeout`` bounds the whole call."""
        from ..protocol import DEFAULT_CONTEXT

        deadline = self._call_deadline(options.get("timeout"), "realtime_speak")
        async with self.realtime(model, voice, **options) as session:
            return await session._speak_iter(
                pieces, DEFAULT_CONTEXT, deadline, options.get("settle_s")
            )


class _Opening(Generic[Opened]):
    """What ``AsyncClient.stream`` and ``AsyncClient.realtime`` return: awaitable for the
    stream or session, and an async context manager that closes it on the way out."""

    def __init__(self, opening: Callable[[], Awaitable[Opened]]) -> None:
        self._opening = opening
        self._opened: Opened | None = None

    def __await__(self) -> Generator[Any, None, Opened]:
        return self._opening().__await__()

    async def __aenter__(self) -> Opened:
        self._opened = await self._opening()
        return self._opened

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._opened is not None:
            await self._opened.__aexit__(exc_type, exc, tb)  # type: ignore[attr-defined]
