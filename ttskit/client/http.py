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

import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import ConnectError, InvalidArgument, InvalidType
from .discovery import Defaults, models_frame, voices_frame
from .endpoint import Endpoint, choose_endpoint, raw_format
from .request import SpeechRequest, realtime_params
from .session import HTTPSession
from .streaming import SpeechStream
from .transport import iter_body

if TYPE_CHECKING:
    from ..results import Speech
    from .realtime import RealtimeSession

__all__ = ["Client"]


class Client:
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

    Examples
    --------
    >>> client = Client("http://127.0.0.1:8000/v1")  # doctest: +SKIP
    >>> client.speak("Hello.").duration  # doctest: +SKIP
    0.82
    """

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
        sleep: Callable[[float], None] = time.sleep,
        max_retry_wait: float = 60.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        #: Where requests go (picklable; its repr shows no secret).
        self.endpoint = choose_endpoint(base_url, api_key)
        if max_retries < 0:
            raise InvalidArgument(f"max_retries={max_retries!r} must be 0 or more")
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.max_retry_wait = float(max_retry_wait)
        self._clock = clock
        self._sleep = sleep
        self._extra_headers = dict(headers or {})
        self._http = HTTPSession(
            self.endpoint,
            timeout=self.timeout,
            max_retries=self.max_retries,
            max_retry_wait=self.max_retry_wait,
            clock=clock,
            sleep=sleep,
            headers=headers,
        )
        self._defaults = Defaults(self, model, voice)

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

    # --- plumbing -----------------------------------------------------------------------------

    def __repr__(self) -> str:
        key = "'***'" if self.endpoint.api_key else "None"
        return (
            f"Client(base_url={self.base_url!r} ({self.source}), model={self.model!r}, "
            f"voice={self.voice!r}, api_key={key})"
        )

    def __getstate__(self) -> Any:
        raise InvalidType(
            "a Client holds a connection pool and an API key and does not pickle; "
            "send client.endpoint instead and make Client(endpoint) there"
        )

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
        return models_frame(self._http.get_json("/models"))

    def voices(self, model: str | None = None) -> pd.DataFrame:
        """Voices per model: columns ``model``, ``id``, ``name`` (``name`` goes in ``voice``)."""
        payload = self._http.get_json("/voices", params={"model": model} if model else None)
        return voices_frame(payload, model)

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

    def _model(self, model: str | None) -> str:
        return model or self._defaults.model_for()

    def _voice(self, model: str, voice: str | None) -> str:
        return voice or self._defaults.voice_for(model)

    # --- speech -------------------------------------------------------------------------------

    def _raw_format(
        self, model: str, encoding: str | None, sample_rate: int | None
    ) -> tuple[str, int]:
        """The encoding and rate raw audio will arrive in (see ``endpoint.raw_format``)."""
        return raw_format(model, encoding, sample_rate, hosted=self.hosted)

    def _open(self, text: str, *, stream: bool, **options: Any) -> SpeechStream:
        """Check the options, send the request, and return the stream of its answer."""
        SpeechRequest.check(text, stream=stream, hosted=self.hosted, **options)
        what = f"POST {self.base_url}/audio/speech"
        try:
            model = self._model(options.pop("model"))
            voice = self._voice(model, options.pop("voice"))
        except ConnectError as exc:
            # Say which call failed: the caller asked for speech, not for a model list.
            reason = str(exc).rpartition(": ")[2]
            raise ConnectError(f"could not connect for {what}: {reason}") from exc
        request = SpeechRequest.build(
            text, model=model, voice=voice, hosted=self.hosted, stream=stream, **options
        )
        clock = self._clock
        sent_at: list[float] = []
        response = self._http.send(
            "POST",
            "/audio/speech",
            json=request.body(),
            stream=True,
            on_send=lambda: sent_at.append(clock()),
        )
        # Times count from when the request first went on the wire; the answer, once
        # accepted, has ``timeout`` seconds to arrive in full.
        started = sent_at[0]
        return SpeechStream(
            iter_body(
                response,
                what,
                self.endpoint.api_key,
                deadline=sent_at[-1] + self.timeout,
                clock=clock,
            ),
            content_type=response.headers.get("Content-Type", ""),
            request=request,
            endpoint=self.base_url,
            started=started,
            headers_s=clock() - started,
            clock=clock,
            close=response.close,
        )

    def speak(
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
    ) -> Speech:
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

        Returns
        -------
        Speech
            ``audio`` float32 mono of shape (n,), with timing of the answer.
        """
        streaming = alignment == "word" if stream is None else stream
        with self._open(
            text,
            stream=streaming,
            model=model,
            voice=voice,
            response_format=response_format or ("raw" if streaming else "wav"),
            response_encoding=response_encoding,
            sample_rate=sample_rate,
            language=language,
            alignment=alignment,
            segment=segment,
            speed=speed,
        ) as answer:
            return answer.speech()

    def stream(
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
    ) -> SpeechStream:
        """Start a streamed synthesis of ``text``; iterate the result for chunks as they come.

        Parameters are those of :meth:`speak`; ``response_format`` is ``"raw"`` when None.

        Returns
        -------
        SpeechStream
            Use it as a context manager; ``.speech()`` collects it.
        """
        return self._open(
            text,
            stream=True,
            model=model,
            voice=voice,
            response_format=response_format or "raw",
            response_encoding=response_encoding,
            sample_rate=sample_rate,
            language=language,
            alignment=alignment,
            segment=segment,
            speed=speed,
        )

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
    ) -> RealtimeSession:
        """Open a WebSocket session (``ttskit.RealtimeSession``) for text in, audio out.

        Use it as a context manager; see :mod:`ttskit.client.realtime`. ``timeout`` (the client's
        by default) bounds the connection and each wait for an event. ``settle_s`` (2 s by
        default) is how long a context must stay quiet to count as finished on servers
        that do not end commits with ``context.done``, such as the hosted API.
        """
        from .realtime import DEFAULT_SETTLE_S, RealtimeSession

        model = self._model(model)
        voice = self._voice(model, voice)
        _encoding, rate = self._raw_format(model, "pcm_s16le", sample_rate)
        params = realtime_params(
            model,
            voice,
            sample_rate=sample_rate or rate,
            speed=speed,
            language=language,
            alignment=alignment,
            segment=segment,
            max_partial_length=max_partial_length,
        )
        return RealtimeSession(
            self.endpoint,
            params,
            headers=self._extra_headers,
            sample_rate=rate,
            timeout=self.timeout if timeout is None else timeout,
            settle_s=DEFAULT_SETTLE_S if settle_s is None else settle_s,
            clock=self._clock,
            sleep=self._sleep,
            max_retries=self.max_retries,
            max_retry_wait=self.max_retry_wait,
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
        ``options`` are those of :meth:`realtime`.
        """
        with self.realtime(model, voice, **options) as session:
            return session.speak_iter(pieces)
