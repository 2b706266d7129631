"""``Client``: the speech API of one endpoint over HTTP, with its WebSocket sessions.

The client owns a ``requests`` session, retries what is worth retrying, translates errors
(``transport``), discovers models and voices, and turns the caller's options into one
``SpeechRequest`` that the ``SpeechStream`` reading the answer is given.

>>> import ttskit
>>> client = ttskit.Client()  # doctest: +SKIP
>>> speech = client.speak("Hello there.", alignment="word")  # doctest: +SKIP
>>> speech.words  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import ConnectError, InvalidArgument, InvalidType
from .discovery import Defaults, models_frame, voices_frame
from .endpoint import Endpoint, choose_endpoint, raw_format
from .request import (
    DIALECTS,
    SpeechRequest,
    check_choice,
    check_retries,
    make_request,
    realtime_params,
    speech_options,
)
from .session import HTTPSession
from .streaming import ResponseHead, SpeechStream
from .transport import iter_body

if TYPE_CHECKING:
    from ..results import Speech
    from .realtime import RealtimeSession

__all__ = ["Client", "ClientBase", "response_head", "speech_connect_error"]


def speech_connect_error(base_url: str, exc: ConnectError) -> ConnectError:
    """Say which call failed: the caller asked for speech, not for a model list."""
    reason = str(exc).rpartition(": ")[2]
    return ConnectError(f"could not connect for POST {base_url}/audio/speech: {reason}")


def response_head(response: Any) -> ResponseHead:
    """What a requests response's status line and headers said."""
    raw = getattr(response, "raw", None)
    version = getattr(raw, "version", None)
    return ResponseHead(
        status=response.status_code,
        headers={k.lower(): v for k, v in response.headers.items()},
        http_version={10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2"}.get(version),
        connection_reused=getattr(response, "ttskit_reused", None),
    )


class ClientBase:
    """What ``Client`` and ``AsyncClient`` share: the endpoint chosen once, the key, the
    defaults and their discovery, the dialect, timeouts and retries, and the requests
    built from them (no sending). The parameters are ``Client``'s."""

    _default_sleep: Callable[[float], Any] = staticmethod(time.sleep)

    def __init__(
        self,
        base_url: str | Endpoint | None = None,
        api_key: str | None = None,
        model: str | None = None,
        voice: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        *,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], Any] | None = None,
        max_retry_wait: float = 60.0,
        headers: dict[str, str] | None = None,
        dialect: str = "together",
    ) -> None:
        sleep = type(self)._default_sleep if sleep is None else sleep
        #: Where requests go (picklable; its repr shows no secret).
        self.endpoint = choose_endpoint(base_url, api_key)
        check_retries(max_retries)
        check_choice("dialect", dialect, DIALECTS)
        #: The dialect of speech requests that name none: ``"together"`` or ``"openai"``.
        self.dialect = dialect
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.max_retry_wait = float(max_retry_wait)
        self._clock = clock
        self._sleep = sleep
        self._extra_headers = dict(headers or {})
        # The blocking HTTP session: every request of a Client, and the model and voice
        # discovery of both clients (an AsyncClient runs it on a thread).
        self._http = HTTPSession(
            self.endpoint,
            timeout=self.timeout,
            max_retries=self.max_retries,
            max_retry_wait=self.max_retry_wait,
            clock=clock,
            sleep=time.sleep if inspect.iscoroutinefunction(sleep) else sleep,
            headers=headers,
        )
        self._defaults = Defaults(
            self._list_models,
            self._list_voices,
            hosted=self.hosted,
            base_url=self.base_url,
            model=model,
            voice=voice,
        )

    @property
    def base_url(self) -> str:
        """The API root, without userinfo."""
        return self.endpoint.base_url

    @property
    def source(self) -> str:
        """What chose the endpoint: ``base_url``, ``TTSKIT_BASE_URL`` or ``local server``."""
        return self.endpoint.source

    @property
    def headers(self) -> dict[str, str]:
        """A copy of the extra headers sent with every request."""
        return dict(self._extra_headers)

    @property
    def hosted(self) -> bool:
        """Whether the endpoint is Together's hosted API."""
        return self.endpoint.hosted

    def __repr__(self) -> str:
        key = "'***'" if self.endpoint.api_key else "None"
        return (
            f"{type(self).__name__}(base_url={self.base_url!r} ({self.source}), model={self.model!r}, "
            f"voice={self.voice!r}, api_key={key})"
        )

    def __getstate__(self) -> Any:
        name = type(self).__name__
        raise InvalidType(
            f"a{'n' if name[0] in 'AEIOU' else ''} {name} holds a connection pool and an API "
            f"key and does not pickle; send client.endpoint instead and make {name}(endpoint) "
            "there"
        )

    @property
    def model(self) -> str | None:
        """The default model: the one given, else the one discovered on first use."""
        return self._defaults.model

    @model.setter
    def model(self, model: str | None) -> None:
        self._defaults.model = model

    @property
    def voice(self) -> str | None:
        """The default voice: the one given, else the one discovered on first use."""
        return self._defaults.voice

    @voice.setter
    def voice(self, voice: str | None) -> None:
        self._defaults.voice = voice

    def _list_models(self) -> pd.DataFrame:
        return models_frame(self._http.get_json("/models"))

    def _list_voices(self, model: str | None = None) -> pd.DataFrame:
        payload = self._http.get_json("/voices", params={"model": model} if model else None)
        return voices_frame(payload, model)

    def _raw_format(
        self, model: str, encoding: str | None, sample_rate: int | None
    ) -> tuple[str, int]:
        """The encoding and rate raw audio will arrive in (see ``endpoint.raw_format``)."""
        return raw_format(model, encoding, sample_rate, hosted=self.hosted)

    def _checked(
        self, text: str, *, stream: bool | None, dialect: str | None, **options: Any
    ) -> dict[str, Any]:
        """The checked options of a request (no I/O), as both clients take them."""
        stream_format = options.get("stream_format")
        dialect = dialect or ("openai" if stream_format is not None else self.dialect)
        if stream_format is not None and stream is None:
            stream = True
        return speech_options(text, hosted=self.hosted, dialect=dialect, stream=stream, **options)

    def _request(
        self,
        text: str,
        options: dict[str, Any],
        model: str,
        voice: str,
        max_retries: int | None,
        fresh_connection: bool,
    ) -> SpeechRequest:
        return make_request(
            text,
            options,
            model=model,
            voice=voice,
            endpoint=self.endpoint,
            headers=self._extra_headers,
            timeout=self.timeout,
            max_retries=self.max_retries if max_retries is None else max_retries,
            fresh_connection=fresh_connection,
        )

    def _check_own(self, request: SpeechRequest) -> None:
        if not isinstance(request, SpeechRequest):
            raise InvalidType(
                f"send() takes a SpeechRequest from build_request(), got {type(request).__name__}"
            )
        if request.endpoint is None or request.endpoint.base_url != self.base_url:
            where = request.endpoint.base_url if request.endpoint else None
            raise InvalidArgument(
                f"this request was built for {where!r}, not for this client's "
                f"{self.base_url!r}: build it with this client's build_request()"
            )

    def _realtime_options(
        self,
        model: str | None,
        voice: str | None,
        *,
        sample_rate: int | None = None,
        timeout: float | None = None,
        settle_s: float | None = None,
        max_audio_s: float | None = None,
        **query: Any,
    ) -> dict[str, Any]:
        """What a realtime session of either client is opened with (defaults resolved)."""
        from .realtime_core import DEFAULT_MAX_AUDIO_S, DEFAULT_SETTLE_S

        model, voice = self._defaults.resolve(model, voice)
        _encoding, rate = self._raw_format(model, "pcm_s16le", sample_rate)
        return {
            "endpoint": self.endpoint,
            "params": realtime_params(model, voice, sample_rate=sample_rate or rate, **query),
            "headers": self._extra_headers,
            "sample_rate": rate,
            "timeout": self.timeout if timeout is None else timeout,
            "settle_s": DEFAULT_SETTLE_S if settle_s is None else settle_s,
            "max_audio_s": DEFAULT_MAX_AUDIO_S if max_audio_s is None else max_audio_s,
            "clock": self._clock,
            "max_retries": self.max_retries,
            "max_retry_wait": self.max_retry_wait,
        }


class Client(ClientBase):
    """A client for the speech API of one endpoint.

    The endpoint is chosen once, when the client is made, and shown in its repr: an
    explicit ``base_url``, else ``$TTSKIT_BASE_URL``, else ttskit's embedded local server
    (see :mod:`ttskit.client.endpoint`). Every ``Speech`` records the endpoint it came from.

    A client may be shared by threads: its connections come from urllib3's thread-safe
    pool, and the model and voice it discovers on first use are looked up under a lock.
    It does not pickle (it holds a pool and a key); a worker process makes its own from
    ``Client(client.endpoint)``; an ``Endpoint`` pickles.

    Parameters
    ----------
    base_url : str or Endpoint, optional
        API root including ``/v1``; ``"together"`` for the hosted API. Chosen as above
        when None.
    api_key : str, optional
        Sent as ``Authorization: Bearer``. Defaults to ``$TOGETHER_API_KEY`` for Together's
        hosts only, so that the key is never sent to another server by accident.
    model, voice : str, optional
        Defaults for every request. When None, the hosted API uses Orpheus and ``tara``;
        another server is asked (``/v1/models``, then ``/v1/voices``) on first use.
    timeout : float
        Seconds to connect, to wait for each read, and to read a whole answer once the
        server accepted the request (a server that trickles bytes cannot hold a call
        longer).
    max_retries : int
        Extra attempts for 408, 409, 429, 5xx and failed connections, made only before
        the server accepted the request: never after a read timed out or audio arrived,
        so that a silent server costs ``timeout``, not ``(max_retries + 1) * timeout``.
    clock, sleep : callable
        ``time.perf_counter`` and ``time.sleep`` unless a test injects others.
    max_retry_wait : float
        Longest wait between two attempts, whatever the server asks for.
    headers : dict, optional
        Extra headers for every request and WebSocket, e.g. a proxy's, or the local
        server's ``x-ttskit-faults`` to inject latency and failures.
    dialect : {"together", "openai"}
        How speech requests are written (see :meth:`build_request`); ``"openai"`` for a
        server that speaks only OpenAI's ``/v1/audio/speech``.

    Examples
    --------
    >>> client = Client("http://127.0.0.1:8000/v1")  # doctest: +SKIP
    >>> client.speak("Hello.").duration  # doctest: +SKIP
    0.82
    """

    # --- plumbing -----------------------------------------------------------------------------

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the kept-alive connections."""
        self._http.close()

    # --- models and voices ----------------------------------------------------------------------

    def models(self) -> pd.DataFrame:
        """The models the endpoint serves, one row each (column ``id`` first)."""
        return self._list_models()

    def voices(self, model: str | None = None) -> pd.DataFrame:
        """Voices per model: columns ``model``, ``id``, ``name`` (``name`` goes in ``voice``)."""
        return self._list_voices(model)

    # --- speech -------------------------------------------------------------------------------

    def build_request(
        self,
        text: str,
        *,
        model: str | None = None,
        voice: str | None = None,
        response_format: str | None = None,
        response_encoding: str | None = None,
        sample_rate: int | None = None,
        language: str | None = None,
        alignment: str | None = None,
        segment: str | None = None,
        speed: float | None = None,
        stream: bool | None = None,
        dialect: str | None = None,
        stream_format: str | None = None,
        max_retries: int | None = None,
        fresh_connection: bool = False,
    ) -> SpeechRequest:
        """The ``SpeechRequest`` that :meth:`speak` would send, checked, without sending it.

        It carries the endpoint, the dialect, the body, the client's headers, its timeout
        and retries; :meth:`send` sends it as it is. The options are those of
        :meth:`speak`, and:

        Parameters
        ----------
        dialect : {"together", "openai"}, optional
            The client's when None. In OpenAI's, a streamed request asks for
            ``stream_format`` (``"sse"`` unless ``"audio"`` is given) and raw audio is its
            ``pcm``, 16-bit at 24 kHz.
        stream_format : {"sse", "audio"}, optional
            OpenAI's; implies ``dialect="openai"`` and ``stream=True``.
        max_retries : int, optional
            The client's when None; 0 sends the request once.
        fresh_connection : bool
            Send on a new connection, closed afterwards (a cold request).
        """
        options = self._checked(
            text,
            stream=stream,
            dialect=dialect,
            stream_format=stream_format,
            response_format=response_format,
            response_encoding=response_encoding,
            sample_rate=sample_rate,
            language=language,
            alignment=alignment,
            segment=segment,
            speed=speed,
        )
        try:
            model, voice = self._defaults.resolve(model, voice)
        except ConnectError as exc:
            raise speech_connect_error(self.base_url, exc) from exc
        return self._request(text, options, model, voice, max_retries, fresh_connection)

    def send(self, request: SpeechRequest) -> SpeechStream:
        """Send ``request`` and return the stream of its answer, once its headers came.

        Retries what is worth retrying (``request.max_retries``); raises ``APIError`` for
        an error answer and a ``TransportError`` when the server cannot be reached.
        """
        self._check_own(request)
        clock = self._clock
        sent_at: list[float] = []
        response = self._http.send(
            "POST",
            "/audio/speech",
            json=request.body(),
            stream=True,
            on_send=lambda: sent_at.append(clock()),
            max_retries=request.max_retries,
            timeout=request.timeout,
            fresh_connection=request.fresh_connection,
            headers=dict(request.headers),
        )
        # Times count from when the request first went on the wire; the answer, once
        # accepted, has ``timeout`` seconds to arrive in full.
        started = sent_at[0]
        headers_s = clock() - started
        fresh = getattr(response, "ttskit_session", None)

        def close() -> None:
            response.close()
            if fresh is not None:
                fresh.close()

        return SpeechStream(
            iter_body(
                response,
                request.what,
                self.endpoint.api_key,
                deadline=sent_at[-1] + request.timeout,
                clock=clock,
            ),
            request=request,
            endpoint=self.base_url,
            started=started,
            headers_s=headers_s,
            clock=clock,
            close=close,
            head=response_head(response),
        )

    def speak(self, text: str, **options: Any) -> Speech:
        """Synthesize ``text`` and return the whole ``Speech``.

        Parameters
        ----------
        text : str
        model, voice : str, optional
            The client's defaults when None.
        response_format : {"wav", "mp3", "raw", "flac", "mulaw", "opus", "aac"}, optional
            ``"wav"`` unless streaming, ``"raw"`` when streaming (the hosted API streams
            nothing else; some other servers stream ``"wav"``). ``"mulaw"`` is headerless
            G.711 at ``sample_rate``; ``"opus"`` and ``"aac"`` are decoded if soundfile can.
        response_encoding : {"pcm_s16le", "pcm_f32le", "pcm_mulaw", "pcm_alaw"}, optional
            For raw audio; ``"pcm_s16le"`` when None.
        sample_rate : int, optional
            For raw audio, 24000 when None (hosted Orpheus and Kokoro always send 24000).
        language, segment : str, optional
        alignment : {"none", "word"}, optional
            ``"word"`` fills ``Speech.words`` (streamed answers only).
        speed : float, optional
            0.25 to 4.
        stream : bool, optional
            Ask for a streamed answer and collect it; True when ``alignment="word"``.
        dialect, stream_format, max_retries, fresh_connection
            See :meth:`build_request`.

        Returns
        -------
        Speech
            ``audio`` float32 mono of shape (n,), with timing of the answer; ``model`` and
            ``voice`` are what the server says it used.
        """
        with self.send(self.build_request(text, **options)) as answer:
            return answer.speech()

    def stream(self, text: str, **options: Any) -> SpeechStream:
        """Start a streamed synthesis of ``text``; iterate the result for chunks as they come.

        Options are those of :meth:`speak`; the answer is streamed (raw PCM when no
        ``response_format`` is given).

        Returns
        -------
        SpeechStream
            Use it as a context manager; ``.speech()`` collects it.
        """
        return self.send(self.build_request(text, **{**options, "stream": True}))

    # --- WebSocket --------------------------------------------------------------------------

    def realtime(
        self,
        model: str | None = None,
        voice: str | None = None,
        *,
        sample_rate: int | None = None,
        speed: float | None = None,
        language: str | None = None,
        alignment: str | None = None,
        segment: str | None = None,
        max_partial_length: int | None = None,
        timeout: float | None = None,
        settle_s: float | None = None,
        max_audio_s: float | None = None,
    ) -> RealtimeSession:
        """Open a WebSocket session (``ttskit.RealtimeSession``) for text in, audio out.

        Use it as a context manager; see :mod:`ttskit.client.realtime`. ``timeout`` (the
        client's by default) bounds the opening, and is the default deadline of each
        ``collect`` and ``speak_iter`` as a whole. ``settle_s`` (2 s by default) is how long
        a context must stay quiet to count as finished on servers that do not end commits
        with ``context.done``, such as the hosted API. ``max_audio_s`` (10 minutes by default)
        bounds the audio one utterance of a context may hold.
        """
        from .realtime import RealtimeSession

        return RealtimeSession(
            **self._realtime_options(
                model,
                voice,
                sample_rate=sample_rate,
                speed=speed,
                language=language,
                alignment=alignment,
                segment=segment,
                max_partial_length=max_partial_length,
                timeout=timeout,
                settle_s=settle_s,
                max_audio_s=max_audio_s,
            ),
            sleep=self._sleep,
        )

    def realtime_speak(
        self,
        pieces: Iterable[str],
        *,
        model: str | None = None,
        voice: str | None = None,
        **options: Any,
    ) -> Speech:
        """Speak text that arrives in pieces (an LLM's tokens) over one WebSocket session.

        The pieces are sent while audio is received; returns all of it as one ``Speech``.
        ``options`` are those of :meth:`realtime`; ``timeout`` is a deadline for the whole
        call, the session's opening included.
        """
        from ..protocol import DEFAULT_CONTEXT
        from .realtime_core import Deadline

        timeout = options.get("timeout")
        timeout = self.timeout if timeout is None else timeout
        deadline = Deadline(self._clock() + timeout, timeout, "realtime_speak")
        with self.realtime(model, voice, **options) as session:
            return session._speak_iter(pieces, DEFAULT_CONTEXT, deadline, options.get("settle_s"))


def _with_options_of_build_request(method: Any) -> None:
    """``speak`` and ``stream`` take ``build_request``'s options: help() lists them."""
    signature = inspect.signature(Client.build_request)
    returns = inspect.signature(method).return_annotation
    method.__signature__ = signature.replace(return_annotation=returns)


_with_options_of_build_request(Client.speak)
_with_options_of_build_request(Client.stream)
