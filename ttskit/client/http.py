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
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import ConnectError
from .base import ClientBase, speech_connect_error
from .request import SpeechRequest
from .streaming import ResponseHead, SpeechStream
from .transport import iter_body

if TYPE_CHECKING:
    from ..results import Speech
    from .realtime import RealtimeSession

__all__ = ["Client", "response_head"]


def response_head(response: Any) -> ResponseHead:
    """What a requests response's status line and headers said."""
    raw = getattr(response, "raw", None)
    version = getattr(raw, "version", None)
    return ResponseHead(
        status=response.status_code,
        headers={k.lower(): v for k, v in response.headers.items()},
        http_version={10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2"}.get(version),
        connection_reused=getattr(response, "ttskit_reused", None),
        attempts=getattr(response, "ttskit_attempts", 1),
    )


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
    max_audio_s : float
        Seconds of audio one answer, or one utterance of a realtime context, may hold (an
        hour by default): a server that sends more gets a ``ProtocolError`` (as the cause
        of a ``StreamInterrupted`` that keeps what arrived), not the client's memory.

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

        try:
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
        except BaseException:  # headers the answer cannot be read with (a rate out of range)
            close()
            raise

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
        with ``context.done``, such as the hosted API. ``max_audio_s`` (the client's by
        default) bounds the audio one utterance of a context may hold.
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

        deadline = self._call_deadline(options.get("timeout"), "realtime_speak")
        with self.realtime(model, voice, **options) as session:
            return session._speak_iter(pieces, DEFAULT_CONTEXT, deadline, options.get("settle_s"))


def _with_options_of_build_request(method: Any) -> None:
    """``speak`` and ``stream`` take ``build_request``'s options: help() lists them."""
    signature = inspect.signature(Client.build_request)
    returns = inspect.signature(method).return_annotation
    method.__signature__ = signature.replace(return_annotation=returns)


_with_options_of_build_request(Client.speak)
_with_options_of_build_request(Client.stream)
