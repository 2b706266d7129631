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
import json
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import (
    ConnectError,
    ProtocolError,
    ReadError,
    TimeoutError,
    TransportError,
    TTSKitError,
    redact,
)
from ..results import AudioChunk, Speech, WordTimestamps
from .discovery import models_frame, voices_frame
from .http import ClientBase, speech_connect_error
from .request import SpeechRequest
from .session import backoff, retryable, url_hint
from .streaming import ResponseHead, StreamState
from .transport import error_of_answer

if TYPE_CHECKING:
    import aiohttp

    from .async_realtime import AsyncRealtimeSession


__all__ = ["AsyncClient", "AsyncSpeechStream"]

logger = logging.getLogger("ttskit.client")


class AsyncSpeechStream(StreamState):
    """Speech arriving over the network, as an async iterator of events.

    ``async for event in stream`` gives ``AudioChunk`` and ``WordTimestamps`` events as
    they arrive; ``await stream.speech()`` collects everything into a ``Speech``. Use it
    as an async context manager so that the connection is released. It says what the
    server answered as ``SpeechStream`` does (``status``, ``request_id``, ...).
    """

    def __init__(
        self,
        reads: AsyncIterator[bytes],
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
        if not self._finished:
            if self._events is None:
                self._collect_only()
                self._events = self._run()
            async for _ in self._events:
                pass
        return self._result(allow_partial)

    async def _release(self) -> None:
        if self._close_connection is not None:
            close, self._close_connection = self._close_connection, None
            await close()

    async def _run(self) -> AsyncIterator[AudioChunk | WordTimestamps]:
        try:
            async for data in self._reads:
                for event in self._feed(data):
                    yield event
                if self._decoder.ended:
                    break
            for event in self._end():
                yield event
        except (TTSKitError, KeyboardInterrupt, asyncio.CancelledError) as exc:
            failure = self._failed(exc)
            if failure is exc:
                raise
            raise failure from exc
        finally:
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
            self._trace = _reuse_trace()
        headers = {"User-Agent": f"ttskit/{__version__}", **self._extra_headers}
        if self.endpoint.api_key:
            headers["Authorization"] = f"Bearer {self.endpoint.api_key}"
        auth = aiohttp.BasicAuth(*self.endpoint.auth) if self.endpoint.auth else None
        if fresh or self._session is None:
            session = aiohttp.ClientSession(
                headers=headers,
                auth=auth,
                trace_configs=[self._trace],
                connector=aiohttp.TCPConnector(limit=0, force_close=fresh),
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
                error = translate_aiohttp(exc, what, secret)
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
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ProtocolError(
                f"GET {self.base_url}{path} did not answer JSON: {text[:200]!r}"
            ) from exc

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
        """Send ``request``; the stream of its answer once its headers came."""
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
        )
        reads = _reads(response, request.what, self.endpoint.api_key, deadline, clock)
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

    def stream(self, text: str, **options: Any) -> _StreamCall:
        """``Client.stream``: ``async with client.stream(text) as stream`` (or ``await``)."""
        return _StreamCall(self, text, {**options, "stream": True})

    # --- WebSocket --------------------------------------------------------------------------

    def realtime(
        self, model: str | None = None, voice: str | None = None, **options: Any
    ) -> _RealtimeCall:
        """``Client.realtime``: ``async with client.realtime() as session`` (or ``await``).

        The options, results and errors are those of ``Client.realtime``; the session is an
        ``AsyncRealtimeSession`` on websockets' asyncio client.
        """
        return _RealtimeCall(self, model, voice, options)

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
        from .realtime_core import Deadline

        timeout = options.get("timeout")
        timeout = self.timeout if timeout is None else timeout
        deadline = Deadline(self._clock() + timeout, timeout, "realtime_speak")
        async with self.realtime(model, voice, **options) as session:
            return await session._speak_iter(
                pieces, DEFAULT_CONTEXT, deadline, options.get("settle_s")
            )


class _StreamCall:
    """What ``AsyncClient.stream`` returns: awaitable, and an async context manager."""

    def __init__(self, client: AsyncClient, text: str, options: dict) -> None:
        self._client, self._text, self._options = client, text, options
        self._stream: AsyncSpeechStream | None = None

    async def _open(self) -> AsyncSpeechStream:
        client = self._client
        return await client.send(await client.build_request(self._text, **self._options))

    def __await__(self) -> Any:
        return self._open().__await__()

    async def __aenter__(self) -> AsyncSpeechStream:
        self._stream = await self._open()
        return self._stream

    async def __aexit__(self, *exc_info: object) -> None:
        if self._stream is not None:
            await self._stream.aclose()


class _RealtimeCall:
    """What ``AsyncClient.realtime`` returns: awaitable, and an async context manager."""

    def __init__(
        self, client: AsyncClient, model: str | None, voice: str | None, options: dict
    ) -> None:
        self._client, self._model, self._voice, self._options = client, model, voice, options
        self._session: AsyncRealtimeSession | None = None

    def __await__(self) -> Any:
        return self._client._open_realtime(self._model, self._voice, self._options).__await__()

    async def __aenter__(self) -> AsyncRealtimeSession:
        self._session = await self._client._open_realtime(self._model, self._voice, self._options)
        return self._session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.__aexit__(exc_type, exc, tb)


async def _reads(
    response: aiohttp.ClientResponse,
    what: str,
    secret: str | None,
    deadline: float,
    clock: Callable[[], float],
) -> AsyncIterator[bytes]:
    """The body as it arrives, under the request's deadline, with ttskit errors."""
    import aiohttp

    received = 0
    expected = response.content_length
    try:
        async for data in response.content.iter_any():
            if clock() > deadline:
                raise TimeoutError(
                    redact(f"{what} did not finish within the client's timeout", secret)
                )
            received += len(data)
            yield data
    except (aiohttp.ClientError, builtins.TimeoutError, OSError) as exc:
        raise translate_aiohttp(exc, what, secret, received=received, expected=expected) from exc
    if expected is not None and received < expected:
        of = f" of {expected}"
        raise ReadError(
            redact(
                f"the server closed the connection after {received}{of} bytes of the "
                f"answer to {what}",
                secret,
            )
        )


def translate_aiohttp(
    exc: BaseException,
    what: str,
    secret: str | None,
    *,
    received: int | None = None,
    expected: int | None = None,
) -> TransportError:
    """A ttskit error for what aiohttp raised while doing ``what`` (as ``transport.translate``
    does for requests)."""
    import aiohttp

    from .transport import _reason

    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ClientConnectionResetError) and (
        received is None
    ):
        cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
        message = f"could not connect for {what}: {_reason(cause)}"
        return ConnectError(redact(message, secret))
    if isinstance(exc, builtins.TimeoutError | aiohttp.ServerTimeoutError):
        return TimeoutError(redact(f"no answer in time for {what}", secret))
    if received is None and isinstance(exc, aiohttp.ServerDisconnectedError | OSError):
        return ConnectError(redact(f"could not connect for {what}: {_reason(exc)}", secret))
    if received is not None:
        of = "" if expected is None else f" of {expected}"
        message = (
            f"the server closed the connection after {received}{of} bytes of the answer to {what}"
        )
        return ReadError(redact(message, secret))
    return ReadError(
        redact(f"the connection broke during {what}: {type(exc).__name__}: {exc}", secret)
    )


def _reuse_trace() -> Any:
    """An aiohttp trace that says, per request, whether its connection was kept alive."""
    import aiohttp

    trace = aiohttp.TraceConfig()

    async def created(session: Any, context: Any, params: Any) -> None:
        if context.trace_request_ctx is not None:
            context.trace_request_ctx["reused"] = False

    async def reused(session: Any, context: Any, params: Any) -> None:
        if context.trace_request_ctx is not None:
            context.trace_request_ctx["reused"] = True

    trace.on_connection_create_end.append(created)
    trace.on_connection_reuseconn.append(reused)
    return trace
