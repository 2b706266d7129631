"""``ClientBase``: what ``Client`` and ``AsyncClient`` share, with no sending.

The endpoint chosen once, the key, the defaults and their discovery, the dialect, timeouts,
retries and the bound on an answer's audio; the checked options of a call and the
``SpeechRequest`` built from them; what a realtime session of either client is opened with.
Model and voice discovery goes through a blocking ``HTTPSession`` (an ``AsyncClient`` runs
it on a thread, once).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from ..errors import ConnectError, InvalidArgument, InvalidType
from .decoding import DEFAULT_MAX_AUDIO_S
from .discovery import Defaults, models_frame, voices_frame
from .endpoint import Endpoint, choose_endpoint, raw_format
from .realtime_core import DEFAULT_SETTLE_S, Deadline
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

__all__ = ["ClientBase", "speech_connect_error"]


def speech_connect_error(base_url: str, exc: ConnectError) -> ConnectError:
    """Say which call failed: the caller asked for speech, not for a model list."""
    reason = str(exc).rpartition(": ")[2]
    return ConnectError(f"could not connect for POST {base_url}/audio/speech: {reason}")


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
        max_audio_s: float = DEFAULT_MAX_AUDIO_S,
    ) -> None:
        sleep = type(self)._default_sleep if sleep is None else sleep
        #: Where requests go (picklable; its repr shows no secret).
        self.endpoint = choose_endpoint(base_url, api_key)
        check_retries(max_retries)
        check_choice("dialect", dialect, DIALECTS)
        if isinstance(max_audio_s, bool) or not (
            isinstance(max_audio_s, int | float) and max_audio_s > 0
        ):
            raise InvalidArgument(f"max_audio_s={max_audio_s!r} must be a positive number")
        #: Seconds of audio one answer (or one utterance of a realtime context) may hold.
        self.max_audio_s = float(max_audio_s)
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
            max_audio_s=self.max_audio_s,
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

        model, voice = self._defaults.resolve(model, voice)
        _encoding, rate = raw_format(model, "pcm_s16le", sample_rate, hosted=self.hosted)
        return {
            "endpoint": self.endpoint,
            "params": realtime_params(model, voice, sample_rate=sample_rate or rate, **query),
            "headers": self._extra_headers,
            "sample_rate": rate,
            "timeout": self.timeout if timeout is None else timeout,
            "settle_s": DEFAULT_SETTLE_S if settle_s is None else settle_s,
            "max_audio_s": self.max_audio_s if max_audio_s is None else max_audio_s,
            "clock": self._clock,
            "max_retries": self.max_retries,
            "max_retry_wait": self.max_retry_wait,
        }

    def _call_deadline(self, timeout: float | None, what: str) -> Deadline:
        """The deadline of a call as a whole (``realtime_speak``), the client's timeout
        when None."""
        seconds = self.timeout if timeout is None else timeout
        return Deadline(self._clock() + seconds, seconds, what)
