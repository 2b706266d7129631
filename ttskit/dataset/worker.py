"""What runs on a worker: one item, from its text to its encoded file and row.

A worker may be a thread of this process, another process, or a Dask worker on another
machine; everything that crosses to it pickles. A ``Client`` holds a connection pool and
does not pickle, so other processes get a ``ClientSpec`` (the client's ``Endpoint`` and
options) and build their own ``Client`` from it, once per thread.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import audio as _audio
from ..client import Endpoint, retryable
from ..errors import (
    APIError,
    ConnectError,
    InvalidArgument,
    ReadError,
    StreamInterrupted,
    TimeoutError,
    TTSKitError,
)
from .quality import measure, normalize_loudness

__all__ = ["ClientSpec", "Job", "Outcome", "make_item", "speak"]

#: Failures after the server accepted the request, which the client does not retry.
_AFTER_ACCEPTED = (StreamInterrupted, ReadError, TimeoutError)
#: Longest wait between two attempts at one item.
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True, init=False)
class ClientSpec:
    """A picklable description of a ``ttskit.Client``, for workers in other processes.

    It is the client's own ``Endpoint`` (where requests go, with the client's key or
    basic auth) and the options a worker's client needs; ``generate`` makes one from any
    ``Client`` it is given, so it is only needed to describe a client not made yet. Its
    repr shows no key and no header.

    Parameters
    ----------
    endpoint : str or ttskit.client.Endpoint
        A client's ``endpoint``, or an API root including ``/v1`` such as the local
        server's ``http://127.0.0.1:8000/v1``.
    api_key : str, optional
        With a URL: its key (``$TOGETHER_API_KEY`` for the hosted API, as in ``Client``).
    timeout : float
        Seconds to connect, and between two reads of an answer.
    max_retries : int
        The client's own retries of refused or failed requests.
    headers : dict, optional
        Extra headers for every request.

    Examples
    --------
    >>> spec = ClientSpec("http://127.0.0.1:8000/v1", api_key="secret")
    >>> spec
    ClientSpec(base_url='http://127.0.0.1:8000/v1', api_key='***', timeout=60.0, max_retries=2)
    >>> client = spec.connect()  # doctest: +SKIP
    """

    endpoint: Endpoint
    timeout: float
    max_retries: int
    headers: tuple[tuple[str, str], ...] = field(repr=False)

    def __init__(
        self,
        endpoint: str | Endpoint,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        headers: dict[str, str] | tuple[tuple[str, str], ...] | None = None,
    ) -> None:
        if not isinstance(endpoint, str | Endpoint) or not str(endpoint).strip():
            raise InvalidArgument(
                f"endpoint must be a client's Endpoint or a URL such as "
                f"'http://127.0.0.1:8000/v1', got {type(endpoint).__name__}"
            )
        object.__setattr__(self, "endpoint", _endpoint(endpoint, api_key))
        object.__setattr__(self, "timeout", float(timeout))
        object.__setattr__(self, "max_retries", int(max_retries))
        object.__setattr__(
            self, "headers", tuple((str(k), str(v)) for k, v in dict(headers or {}).items())
        )

    @property
    def base_url(self) -> str:
        return self.endpoint.base_url

    @property
    def has_key(self) -> bool:
        """Whether requests carry a key or basic auth."""
        return bool(self.endpoint.api_key or self.endpoint.auth)

    def __repr__(self) -> str:
        key = "'***'" if self.endpoint.api_key else "None"
        return (
            f"ClientSpec(base_url={self.base_url!r}, api_key={key}, "
            f"timeout={self.timeout!r}, max_retries={self.max_retries!r})"
        )

    __str__ = __repr__

    @classmethod
    def from_client(cls, client: Any) -> ClientSpec:
        """The description of ``client``: its endpoint (with its key), timeout, retries
        and headers."""
        given = client
        return cls(
            given.endpoint,
            timeout=float(getattr(given, "timeout", 60.0)),
            max_retries=int(getattr(given, "max_retries", 2)),
            headers=dict(getattr(given, "headers", None) or {}),
        )

    def connect(self) -> Any:
        """A new ``ttskit.Client`` for this description."""
        from ttskit import Client

        return Client(
            self.endpoint,
            timeout=self.timeout,
            max_retries=self.max_retries,
            headers=dict(self.headers) or None,
        )


def _endpoint(endpoint: str | Endpoint, api_key: str | None) -> Endpoint:
    """The ``Endpoint`` a ``Client`` of these arguments talks to: the client's own rule
    (the key only for Together's hosts, userinfo as basic auth), checked now."""
    if isinstance(endpoint, Endpoint) and api_key is None:
        return endpoint
    from ttskit import Client

    with Client(endpoint, api_key=api_key) as probe:
        return probe.endpoint


_local = threading.local()


def _client_for(spec: ClientSpec) -> Any:
    """This thread's client for ``spec``, made on first use and kept for the next items."""
    clients = getattr(_local, "clients", None)
    if clients is None:
        clients = _local.clients = {}
    if spec not in clients:
        clients[spec] = spec.connect()
    return clients[spec]


@dataclass(frozen=True)
class Job:
    """One item to make: what to say, with which voice, and how."""

    item_id: str
    text: str
    voice: str
    model: str
    format: str = "flac"
    sample_rate: int | None = None
    alignment: bool = True
    loudness: float | None = None
    speed: float | None = None
    language: str | None = None
    retries: int = 3
    retry_backoff: float = 1.0
    #: ``ttskit.quality`` metrics to score the item on, after its file is encoded.
    quality: tuple[str, ...] = ()
    #: The transcriber of ``wer``: a faster-whisper model name or folder, or a URL.
    asr: str | None = None


@dataclass
class Outcome:
    """What a worker hands back: the row, and the encoded file (None when it failed)."""

    item_id: str
    row: dict[str, Any]
    data: bytes | None = None
    error: str | None = None
    #: Requests made for the item: exact for a failed one; for a made one, the client's
    #: retries before its success are not counted (the client does not report them).
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None


def words_json(words: Any) -> str:
    """Word timestamps as a JSON list of ``{"word", "start", "end"}`` (seconds, ms rounded)."""
    if words is None or len(words) == 0:
        return "[]"
    return json.dumps(
        [
            {"word": str(w), "start": round(float(s), 3), "end": round(float(e), 3)}
            for w, s, e in zip(words["word"], words["start"], words["end"], strict=True)
        ],
        ensure_ascii=False,
    )


def _backoff(job: Job, attempt: int) -> float:
    wait = job.retry_backoff * 2**attempt
    return min(wait, MAX_BACKOFF_S) * (1 - 0.25 * random.random())


def _spent(error: TTSKitError) -> bool:
    """Whether the client raised ``error`` only once its retries were spent: a failed
    connection, or a status it retries (408, 409, 429, 5xx)."""
    if isinstance(error, ConnectError):
        return True
    return isinstance(error, APIError) and retryable(error.status_code)


def _requests_of(error: BaseException) -> int:
    """The requests a failed call sent: its partial answer's ``attempts``, else 1."""
    partial = getattr(error, "partial", None)
    timing = getattr(partial, "timing", None)
    return max(int(getattr(timing, "attempts", 1)), 1)


def speak(client: Any, job: Job, *, sleep: Callable[[float], None] = time.sleep) -> tuple[Any, int]:
    """``job``'s ``Speech`` and the requests it took, with ``job.retries`` further
    attempts in all.

    The client retries what it refuses or cannot connect for (``max_retries=``, with the
    wait the server asks for); this retries only what the client by design does not, the
    server having accepted the request: a stream cut short (``StreamInterrupted``), a
    read that broke (``ReadError``) or timed out (``TimeoutError``). Each of those uses
    one retry of the budget, and the client's retries before it (a cut answer's
    ``partial.timing.attempts``) use theirs, so that no failure costs more than
    ``job.retries + 1`` requests.

    Raises the last error, with its count of requests as ``error.attempts``.
    """
    left, made = job.retries, 0
    while True:
        try:
            speech = client.speak(
                job.text,
                model=job.model,
                voice=job.voice,
                sample_rate=job.sample_rate,
                alignment="word" if job.alignment else None,
                speed=job.speed,
                language=job.language,
                max_retries=left,
            )
            return speech, made + speech.timing.attempts
        except _AFTER_ACCEPTED as exc:
            # The client may have retried refusals before the request it accepted was cut.
            used = _requests_of(exc)
            made += used
            left -= used - 1
            if left == 0:
                exc.attempts = made  # type: ignore[attr-defined]
                raise
            sleep(_backoff(job, made - 1))
            left -= 1
        except TTSKitError as exc:
            exc.attempts = made + (left + 1 if _spent(exc) else 1)  # type: ignore[attr-defined]
            raise


def make_item(source: Any, job: Job, *, sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """Synthesize ``job``, measure it and encode its file; never raises for a failed item.

    Parameters
    ----------
    source : ttskit.Client or ClientSpec
        A client to use as is (threads of this process), or the description to build one
        from (other processes).
    job : Job
    sleep : callable
        Waits before another attempt at a cut stream or a timed-out read (``speak``).

    Returns
    -------
    Outcome
        With ``data`` and the quality columns in ``row``, or with ``error`` after
        ``job.retries`` further attempts (none for errors that would only repeat).
        ``row`` holds the ``model`` and ``voice`` the server says it used, and the
        ``requested_model`` and ``requested_voice`` of ``job``.
    """
    try:
        client = _client_for(source) if isinstance(source, ClientSpec) else source
        speech, attempts = speak(client, job, sleep=sleep)
        samples = np.asarray(speech.audio, dtype=np.float32)
        gain_db = 0.0
        if job.loudness is not None:
            samples, gain_db = normalize_loudness(
                samples, sample_rate=speech.sample_rate, target_lufs=job.loudness
            )
        quality = measure(
            samples,
            sample_rate=speech.sample_rate,
            text=job.text,
            words=speech.words if job.alignment else None,
        )
        data = _audio.encode_file(samples, sample_rate=speech.sample_rate, format=job.format)
    except Exception as exc:  # a failed item is a row, whatever failed
        message = f"{type(exc).__name__}: {exc}"
        tried = getattr(exc, "attempts", None)
        return Outcome(job.item_id, row={}, error=message, attempts=tried or 1)
    row = {
        "model": speech.model or job.model,
        "voice": speech.voice or job.voice,
        "requested_model": job.model,
        "requested_voice": job.voice,
        "endpoint": speech.endpoint,
        "sample_rate": speech.sample_rate,
        "words": words_json(speech.words if job.alignment else None),
        **quality,
        "gain_db": gain_db,
    }
    if job.quality:
        row.update(_scores(job, dataclasses.replace(speech, audio=samples)))
    return Outcome(job.item_id, row=_finite(row), data=data, attempts=attempts)


def _scores(job: Job, speech: Any) -> dict[str, Any]:
    """``job``'s quality scores of the audio its file holds, by this process's scorers
    (``ttskit.quality`` loads them once per process). A scorer's failure leaves the item
    unscored, with the reason, for the parent to score it from its file."""
    from ..quality import score
    from .quality import scored_now, scores_of

    try:
        scored = score(speech, job.text, metrics=job.quality, asr=job.asr)
    except Exception as exc:  # the item is made; only its scores are missing
        return {"quality_reason": f"scoring failed: {type(exc).__name__}: {exc}"}
    return scores_of(scored, job.quality, when=scored_now())


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with NaN and infinities as None: JSON has no such numbers."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
