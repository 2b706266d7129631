"""The HTTP client for the speech API: ``Client``, and ``speak``/``stream`` on a default one.

The endpoint is chosen once, when the client is made, and shown in its repr: an explicit
``base_url``, else ``$TTSKIT_BASE_URL``, else the hosted API when ``$TOGETHER_API_KEY`` is
set, else ttskit's embedded local server. Every ``Speech`` records the endpoint it came from.

>>> import ttskit
>>> client = ttskit.Client()  # doctest: +SKIP
>>> speech = client.speak("Hello there.", alignment="word")  # doctest: +SKIP
>>> speech.words  # doctest: +SKIP
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pandas as pd
import requests

from . import __version__
from . import audio as _audio
from .errors import (
    APIError,
    ConfigurationError,
    ConnectError,
    InvalidArgument,
    ProtocolError,
    ReadError,
    TimeoutError,
    TransportError,
    _redact,
    api_error_for_status,
)
from .results import Speech
from .streaming import SpeechStream

if TYPE_CHECKING:
    from .realtime import RealtimeSession

__all__ = [
    "DEFAULT_SAMPLE_RATE",
    "FIXED_OUTPUT",
    "HOSTED_BASE_URL",
    "Client",
    "default_client",
    "speak",
    "stream",
]

logger = logging.getLogger("ttskit.client")

HOSTED_BASE_URL = "https://api.together.ai/v1"
_HOSTED_DOMAINS = ("together.ai", "together.xyz")
HOSTED_DEFAULT_MODEL = "canopylabs/orpheus-3b-0.1-ft"

#: Sample rate asked for raw audio when the caller does not choose one.
DEFAULT_SAMPLE_RATE = 24000
#: PCM encoding asked for raw audio when the caller does not choose one (what most models send).
DEFAULT_ENCODING = "pcm_s16le"

#: Hosted models that send one raw format whatever is asked: model -> (sample rate, encoding).
#: A rate of None means the model honours ``sample_rate`` but not ``response_encoding``.
FIXED_OUTPUT: dict[str, tuple[int | None, str]] = {
    "canopylabs/orpheus-3b-0.1-ft": (24000, "pcm_s16le"),
    "hexgrad/kokoro-82m": (24000, "pcm_s16le"),
    "minimax/speech-2.6-turbo": (None, "pcm_s16le"),
}

#: A voice that each well-known model has, used when none is given.
DEFAULT_VOICES = {
    "canopylabs/orpheus-3b-0.1-ft": "tara",
    "hexgrad/kokoro-82m": "af_heart",
    "piper": "joe",
    "espeak": "en-us",
}

RESPONSE_FORMATS = ("wav", "mp3", "raw", "flac", "mulaw", "opus", "aac")
#: The protocol streams raw PCM only; some OpenAI-compatible servers stream a WAV whose
#: sizes are unknown, which the decoder reads as it comes, so "wav" is kept for them.
STREAM_FORMATS = ("raw", "wav")
ALIGNMENTS = ("none", "word")
SEGMENTS = ("sentence", "immediate", "never")
SPEED_RANGE = (0.25, 4.0)

# Statuses worth another try: timeout, conflict, rate limit, and server-side failures.
_RETRY_STATUSES = frozenset({408, 409, 429})
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-together-request-id", "cf-ray")


def _is_hosted(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    return any(host == d or host.endswith("." + d) for d in _HOSTED_DOMAINS)


def _clean_key(api_key: str | None) -> str | None:
    """The key without surrounding whitespace (a pasted key often ends in a newline).

    A key with whitespace or control characters inside cannot go in a header; the error
    says so without quoting it.
    """
    if api_key is None:
        return None
    if not isinstance(api_key, str):
        raise ConfigurationError(f"api_key must be a str, got {type(api_key).__name__}")
    api_key = api_key.strip()
    if any(c.isspace() or not c.isprintable() or not c.isascii() for c in api_key):
        raise ConfigurationError(
            "api_key contains whitespace, control or non-ASCII characters; check how it was copied"
        )
    return api_key or None


def _check_choice(name: str, value: str, accepted: Iterable[str]) -> None:
    accepted = tuple(accepted)
    if value not in accepted:
        raise InvalidArgument(f"{name}={value!r} is not accepted; use one of {accepted}")


def _check_sample_rate(sample_rate: Any) -> None:
    if sample_rate is not None and (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, int)
        or not 0 < sample_rate <= 384000
    ):
        raise InvalidArgument(
            f"sample_rate={sample_rate!r} is not a rate in Hz (an int, e.g. 24000)"
        )


def _check_speed(speed: Any) -> None:
    if speed is not None and (
        isinstance(speed, bool)
        or not isinstance(speed, int | float)
        or not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]
    ):
        raise InvalidArgument(
            f"speed={speed!r} is out of range; use a number from {SPEED_RANGE[0]} to {SPEED_RANGE[1]}"
        )


def _validate_speech_args(
    text: Any,
    *,
    response_format: str,
    response_encoding: str | None,
    sample_rate: int | None,
    alignment: str | None,
    segment: str | None,
    speed: float | None,
    stream: bool,
    hosted: bool,
) -> None:
    if not isinstance(text, str):
        raise InvalidArgument(f"text must be a str, got {type(text).__name__} {text!r:.80}")
    if not text.strip():
        raise InvalidArgument(f"text={text!r} is empty; there is nothing to say")
    _check_choice("response_format", response_format, RESPONSE_FORMATS)
    if stream and response_format not in (("raw",) if hosted else STREAM_FORMATS):
        raise InvalidArgument(
            f"response_format={response_format!r} cannot be streamed: streamed answers are "
            + (
                "raw PCM only on the hosted API; use 'raw'"
                if hosted
                else f"raw PCM (or a WAV from some servers); use one of {STREAM_FORMATS}"
            )
        )
    if response_encoding is not None:
        _check_choice("response_encoding", response_encoding, _audio.ENCODINGS)
    _check_sample_rate(sample_rate)
    if alignment is not None:
        _check_choice("alignment", alignment, ALIGNMENTS)
        if alignment == "word" and not stream:
            raise InvalidArgument(
                "alignment='word' needs stream=True: word timestamps come only with streamed answers"
            )
    if segment is not None:
        _check_choice("segment", segment, SEGMENTS)
    _check_speed(speed)


def _translate(
    exc: Exception, what: str, secret: str | None = None
) -> TransportError | ConfigurationError:
    """A ttskit error for an exception raised by requests or urllib3 while doing ``what``;
    its message never holds ``secret``."""
    import urllib3.exceptions as u3

    if isinstance(exc, requests.exceptions.InvalidHeader):
        # Its text quotes the header value, which may be the Authorization header.
        return ConfigurationError(
            f"a request header is not valid for {what}: "
            "check headers= for whitespace or control characters"
        )
    cls: type[TransportError | ConfigurationError]
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        cls, message = ConfigurationError, f"bad URL for {what}: {exc}"
    elif isinstance(exc, requests.exceptions.ConnectTimeout):
        cls, message = ConnectError, f"timed out connecting for {what}"
    elif isinstance(exc, requests.exceptions.ReadTimeout | u3.ReadTimeoutError):
        cls, message = TimeoutError, f"no answer in time for {what}"
    elif isinstance(exc, requests.exceptions.ConnectionError):
        cls, message = ConnectError, f"could not connect for {what}: {type(exc).__name__}"
    else:
        cls, message = ReadError, f"the connection broke during {what}: {type(exc).__name__}: {exc}"
    return cls(_redact(message, secret))


def _iter_body(
    response: requests.Response, what: str, secret: str | None, size: int = 65536
) -> Iterator[bytes]:
    """The body as it comes off the socket: each read returns what has arrived, up to ``size``."""
    import http.client

    import urllib3.exceptions as u3

    raw = response.raw
    try:
        read1 = getattr(raw, "read1", None)
        if getattr(raw, "chunked", False) and raw.supports_chunked_reads():
            # Chunked bodies (what streaming servers send) come one HTTP chunk per read, as
            # each arrives, through urllib3's cheapest path.
            yield from raw.read_chunked(None, decode_content=True)
        elif read1 is None:  # urllib3 1.x
            yield from response.iter_content(chunk_size=None)
        else:
            # Otherwise read1 returns whatever has arrived instead of waiting for ``size``.
            while data := read1(size, decode_content=True):
                yield data
            # The whole body was read: hand the connection back to the pool.
            release = getattr(raw, "release_conn", None)
            if release is not None:
                release()
    except (
        requests.exceptions.RequestException,
        u3.HTTPError,
        http.client.HTTPException,
        OSError,
    ) as exc:
        raise _translate(exc, what, secret) from exc
    finally:
        response.close()


def _api_error(response: requests.Response, secret: str | None) -> APIError:
    """The ``APIError`` for an error response, with the key scrubbed from what it quotes."""
    body: dict | None = None
    details: dict[str, Any] = {}
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        body = parsed
        error = parsed.get("error", parsed.get("detail", parsed))
        details = error if isinstance(error, dict) else {"message": str(error)}
    message = str(details.get("message") or response.text[:500] or response.reason or "")
    request_id = next(
        (response.headers[h] for h in _REQUEST_ID_HEADERS if h in response.headers), None
    )
    if secret and body is not None:
        import json

        body = json.loads(_redact(json.dumps(body), secret))

    def field(name: str) -> str | None:
        value = details.get(name)
        return None if value is None else _redact(str(value), secret)

    cls = api_error_for_status(response.status_code)
    return cls(
        _redact(message, secret) or f"HTTP {response.status_code}",
        status_code=response.status_code,
        type=field("type"),
        code=field("code"),
        param=field("param"),
        request_id=request_id,
        body=body,
        retry_after=_retry_after(response.headers),
    )


def _seconds(value: str) -> float | None:
    value = value.strip().lower()
    try:
        if value.endswith("ms"):
            return float(value[:-2]) / 1000
        return float(value.removesuffix("s"))
    except ValueError:
        return None


def _retry_after(headers: Any, now: Callable[[], float] = time.time) -> float | None:
    """Seconds the server asked to wait: ``retry-after-ms``, ``Retry-After`` (seconds or an
    HTTP date), then ``x-ratelimit-reset`` (seconds, or a Unix time); None if none says."""
    if (value := headers.get("retry-after-ms")) is not None and (ms := _seconds(value)) is not None:
        return max(0.0, ms / 1000)
    if (value := headers.get("retry-after")) is not None:
        if (seconds := _seconds(value)) is not None:
            return max(0.0, seconds)
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now())
        except (TypeError, ValueError):
            pass
    if (value := headers.get("x-ratelimit-reset")) is not None and (
        seconds := _seconds(value)
    ) is not None:
        # Large values are an absolute Unix time, small ones a delay.
        return max(0.0, seconds - now() if seconds > 1e9 else seconds)
    return None


def _listed(payload: Any) -> list:
    data = payload.get("data", payload) if isinstance(payload, dict) else payload
    if not isinstance(data, list):
        raise ProtocolError(f"expected a list of data, got {str(payload)[:200]!r}")
    return data


class Client:
    """A client for the speech API of one endpoint.

    Parameters
    ----------
    base_url : str, optional
        API root including ``/v1``. Chosen as described in the module docstring when None.
    api_key : str, optional
        Sent as ``Authorization: Bearer``. Defaults to ``$TOGETHER_API_KEY`` for the hosted
        API only, so that the key is never sent to another server by accident.
    model, voice : str, optional
        Defaults for every request. When None, the hosted API uses Orpheus and ``tara``;
        another server is asked (``/v1/models``, then ``/v1/voices``) on first use.
    timeout : float
        Seconds to wait to connect, and between two reads of an answer.
    max_retries : int
        Extra attempts for 408, 409, 429, 5xx and connection failures, made only before
        an answer starts: never once audio has arrived.
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
        base_url: str | None = None,
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
        if base_url:
            source = "base_url"
        elif os.environ.get("TTSKIT_BASE_URL"):
            base_url, source = os.environ["TTSKIT_BASE_URL"], "TTSKIT_BASE_URL"
        elif os.environ.get("TOGETHER_API_KEY"):
            base_url, source = HOSTED_BASE_URL, "TOGETHER_API_KEY"
        else:
            from ttskit.local import default_server

            base_url, source = default_server().base_url, "local server"
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"base_url={base_url!r} ({source}) is not an http(s) URL such as "
                "'http://127.0.0.1:8000/v1'"
            )
        self.base_url = base_url.rstrip("/")
        self.source = source
        self.hosted = _is_hosted(self.base_url)
        if self.hosted and parts.scheme != "https":
            raise ConfigurationError(
                f"base_url={base_url!r} ({source}) would send the API key in cleartext; "
                "use https://"
            )
        if api_key is None and self.hosted:
            api_key = os.environ.get("TOGETHER_API_KEY") or None
        api_key = _clean_key(api_key)
        if self.hosted and not api_key:
            raise ConfigurationError(
                f"{self.base_url} needs an API key: set TOGETHER_API_KEY or pass api_key="
            )
        self.__api_key = api_key
        if max_retries < 0:
            raise InvalidArgument(f"max_retries={max_retries!r} must be 0 or more")
        self.model = model
        self.voice = voice
        # A voice given without a model goes with whatever model a request names.
        self._voice_for_any_model = voice is not None and model is None
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.max_retry_wait = float(max_retry_wait)
        self._clock = clock
        self._sleep = sleep
        self._random = random.Random()
        self._voices_of: dict[str, str] = {}
        self._session = requests.Session()
        self._environment: dict[str, Any] | None = None
        self._session.headers["User-Agent"] = f"ttskit/{__version__}"
        self._session.headers.update(headers or {})
        self._extra_headers = dict(headers or {})

    # --- plumbing -----------------------------------------------------------------------------

    def __repr__(self) -> str:
        key = "'***'" if self.__api_key else "None"
        return (
            f"Client(base_url={self.base_url!r} ({self.source}), model={self.model!r}, "
            f"voice={self.voice!r}, api_key={key})"
        )

    def __getstate__(self) -> Any:
        raise TypeError("a Client holds a connection pool and an API key; make a new one instead")

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
        self._session.close()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.__api_key}"} if self.__api_key else {}

    def _backoff(self, attempt: int, asked: float | None) -> float:
        if asked is not None:
            return min(asked, self.max_retry_wait)
        # Exponential from 0.5 s, capped at 8 s, with up to 25 % jitter downwards.
        return min(0.5 * 2**attempt, 8.0, self.max_retry_wait) * (1 - 0.25 * self._random.random())

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: dict | None = None,
        params: dict | None = None,
        stream: bool = False,
        on_send: Callable[[], None] | None = None,
    ) -> requests.Response:
        """Send a request, retrying what is worth retrying, and return a 2xx response.

        ``on_send`` is called once, right before the first attempt goes on the wire.
        """
        url = f"{self.base_url}{path}"
        what = f"{method} {url}"
        try:
            request = self._session.prepare_request(
                requests.Request(method, url, json=json, params=params, headers=self._headers())
            )
        except requests.exceptions.RequestException as exc:
            raise _translate(exc, what, self.__api_key) from exc
        if self._environment is None:
            # Proxy and certificate settings from the environment, read once: requests
            # would otherwise scan os.environ on every request.
            self._environment = self._session.merge_environment_settings(
                self.base_url, {}, None, None, None
            )
        settings = {**self._environment, "stream": stream}
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            logger.debug("%s (attempt %d of %d)", what, attempt + 1, self.max_retries + 1)
            if on_send is not None and attempt == 0:
                on_send()
            try:
                response = self._session.send(request, timeout=self.timeout, **settings)
            except requests.exceptions.RequestException as exc:
                error = _translate(exc, what, self.__api_key)
                if last or isinstance(error, ConfigurationError):
                    raise error from exc
                wait = self._backoff(attempt, None)
                logger.debug("%s: %s; retrying in %.2fs", what, error, wait)
                self._sleep(wait)
                continue
            if response.ok:
                logger.debug("%s: HTTP %d", what, response.status_code)
                return response
            error = _api_error(response, self.__api_key)
            response.close()
            retryable = response.status_code in _RETRY_STATUSES or response.status_code >= 500
            if last or not retryable:
                logger.debug("%s: %s", what, error)
                raise error
            wait = self._backoff(attempt, error.retry_after)
            logger.debug("%s: HTTP %d; retrying in %.2fs", what, response.status_code, wait)
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _get_json(self, path: str, params: dict | None = None) -> Any:
        response = self._send("GET", path, params=params)
        try:
            return response.json()
        except ValueError as exc:
            raise ProtocolError(
                f"GET {self.base_url}{path} did not answer JSON: {response.text[:200]!r}"
            ) from exc

    # --- models and voices ----------------------------------------------------------------------

    def models(self) -> pd.DataFrame:
        """The models the endpoint serves, one row each (column ``id`` first)."""
        rows = [m if isinstance(m, dict) else {"id": m} for m in _listed(self._get_json("/models"))]
        frame = pd.DataFrame(rows)
        if "id" not in frame:
            frame["id"] = pd.Series(dtype=object)
        return frame[["id", *[c for c in frame.columns if c != "id"]]]

    def voices(self, model: str | None = None) -> pd.DataFrame:
        """Voices per model: columns ``model``, ``id``, ``name`` (``name`` goes in ``voice``)."""
        payload = self._get_json("/voices", params={"model": model} if model else None)
        rows = []
        for entry in _listed(payload):
            if not isinstance(entry, dict):
                rows.append({"model": model, "id": str(entry), "name": str(entry)})
                continue
            nested = entry.get("voices")
            for voice in nested if isinstance(nested, list) else [entry]:
                voice = voice if isinstance(voice, dict) else {"name": str(voice)}
                name = voice.get("name", voice.get("id"))
                rows.append(
                    {
                        "model": entry.get("model", voice.get("model", model)),
                        "id": voice.get("id", name),
                        "name": name,
                    }
                )
        frame = pd.DataFrame(rows, columns=["model", "id", "name"])
        return frame[frame["model"] == model].reset_index(drop=True) if model else frame

    def _model(self, model: str | None) -> str:
        if model:
            return model
        if self.model is None:
            if self.hosted:
                self.model = HOSTED_DEFAULT_MODEL
            else:
                listed = self.models()
                if listed.empty:
                    raise ConfigurationError(f"{self.base_url} lists no models; pass model=")
                self.model = str(listed["id"].iloc[0])
        return self.model

    def _voice(self, model: str, voice: str | None) -> str:
        if voice:
            return voice
        if self.voice and (model == self.model or self._voice_for_any_model):
            return self.voice
        if model not in self._voices_of:
            known = DEFAULT_VOICES.get(model.lower())
            if known is None:
                listed = self.voices(model)
                if listed.empty:
                    raise ConfigurationError(
                        f"{self.base_url} lists no voices for {model!r}; pass voice="
                    )
                known = str(listed["name"].iloc[0])
            self._voices_of[model] = known
        if model == self.model and self.voice is None:
            self.voice = self._voices_of[model]
        return self._voices_of[model]

    # --- speech -------------------------------------------------------------------------------

    def _raw_format(
        self, model: str, encoding: str | None, sample_rate: int | None
    ) -> tuple[str, int]:
        """The encoding and rate raw audio will arrive in, warning when the model ignores the
        ones asked for."""
        fixed = FIXED_OUTPUT.get(model.lower()) if self.hosted else None
        if fixed is None:
            return encoding or DEFAULT_ENCODING, sample_rate or DEFAULT_SAMPLE_RATE
        fixed_rate, fixed_encoding = fixed
        asked_rate = sample_rate or fixed_rate or DEFAULT_SAMPLE_RATE
        rate = fixed_rate or asked_rate
        if (encoding not in (None, fixed_encoding)) or rate != asked_rate:
            warnings.warn(
                f"{model} always sends {fixed_encoding}"
                + (f" at {fixed_rate} Hz" if fixed_rate else "")
                + f"; decoding it as such instead of {encoding or fixed_encoding} at {asked_rate} Hz",
                UserWarning,
                stacklevel=4,
            )
        return fixed_encoding, rate

    def _open(
        self,
        text: str,
        *,
        stream: bool,
        model: str | None,
        voice: str | None,
        response_format: str,
        response_encoding: str | None,
        sample_rate: int | None,
        language: str | None,
        alignment: str | None,
        segment: str | None,
        speed: float | None,
    ) -> SpeechStream:
        _validate_speech_args(
            text,
            response_format=response_format,
            response_encoding=response_encoding,
            sample_rate=sample_rate,
            alignment=alignment,
            segment=segment,
            speed=speed,
            stream=stream,
            hosted=self.hosted,
        )
        model = self._model(model)
        voice = self._voice(model, voice)
        body: dict[str, Any] = {
            "model": model,
            "input": text,
            "voice": voice,
            "response_format": response_format,
            "stream": stream,
        }
        encoding: str | None = None
        rate: int | None = None
        if response_format == "raw":
            encoding, rate = self._raw_format(model, response_encoding, sample_rate)
            # Always say what we expect, so that nothing has to be guessed on arrival.
            body["response_encoding"] = response_encoding or encoding
            body["sample_rate"] = sample_rate or rate
        elif response_format == "mulaw":
            # Headerless G.711 mu-law bytes at the rate asked for.
            encoding, rate = "pcm_mulaw", sample_rate or DEFAULT_SAMPLE_RATE
            body["sample_rate"] = rate
        elif sample_rate is not None:
            body["sample_rate"] = sample_rate
        options = {"language": language, "alignment": alignment, "segment": segment, "speed": speed}
        body.update({k: v for k, v in options.items() if v is not None})

        clock = self._clock
        sent_at: list[float] = []
        response = self._send(
            "POST", "/audio/speech", json=body, stream=True, on_send=lambda: sent_at.append(clock())
        )
        # Times count from when the request went on the wire (its first attempt, when
        # retried), not from the preparation of its body.
        started = sent_at[0]
        headers_s = clock() - started
        return SpeechStream(
            _iter_body(response, f"POST {self.base_url}/audio/speech", self.__api_key),
            content_type=response.headers.get("Content-Type", ""),
            encoding=encoding,
            sample_rate=rate,
            started=started,
            headers_s=headers_s,
            clock=self._clock,
            close=response.close,
            text=text,
            model=model,
            voice=voice,
            endpoint=self.base_url,
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
        """Open a WebSocket session (``ttskit.realtime.RealtimeSession``) for text in, audio out.

        Use it as a context manager; see :mod:`ttskit.realtime`. ``timeout`` (the client's
        by default) bounds the connection and each wait for an event. ``settle_s`` (2 s by
        default) is how long a context must stay quiet to count as finished on servers
        that do not end commits with ``context.done``, such as the hosted API.
        """
        from .realtime import DEFAULT_SETTLE_S, RealtimeSession

        model = self._model(model)
        voice = self._voice(model, voice)
        if alignment is not None:
            _check_choice("alignment", alignment, ALIGNMENTS)
        if segment is not None:
            _check_choice("segment", segment, SEGMENTS)
        _check_speed(speed)
        _check_sample_rate(sample_rate)
        _encoding, rate = self._raw_format(model, "pcm_s16le", sample_rate)
        params: dict[str, Any] = {
            "model": model,
            "voice": voice,
            "response_format": "pcm",
            "sample_rate": sample_rate or rate,
            "speed": speed,
            "language": language,
            "alignment": alignment,
            "segment": segment,
            "max_partial_length": max_partial_length,
        }
        return RealtimeSession(
            self.base_url,
            {k: v for k, v in params.items() if v is not None},
            api_key=self.__api_key,
            headers=self._extra_headers,
            sample_rate=rate,
            timeout=self.timeout if timeout is None else timeout,
            settle_s=DEFAULT_SETTLE_S if settle_s is None else settle_s,
            clock=self._clock,
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


# --- a default client for quick use ------------------------------------------------------------

_default: Client | None = None
_default_lock = threading.Lock()


def default_client() -> Client:
    """The shared ``Client`` that ``ttskit.speak`` and ``ttskit.stream`` use, made on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
        return _default


def speak(
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
    """``Client.speak`` on the default client (see :func:`default_client`)."""
    return default_client().speak(
        text,
        model=model,
        voice=voice,
        response_format=response_format,
        response_encoding=response_encoding,
        sample_rate=sample_rate,
        language=language,
        alignment=alignment,
        segment=segment,
        speed=speed,
        stream=stream,
    )


def stream(
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
    """``Client.stream`` on the default client (see :func:`default_client`)."""
    return default_client().stream(
        text,
        model=model,
        voice=voice,
        response_format=response_format,
        response_encoding=response_encoding,
        sample_rate=sample_rate,
        language=language,
        alignment=alignment,
        segment=segment,
        speed=speed,
    )
