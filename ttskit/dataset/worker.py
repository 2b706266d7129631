"""What runs on a worker: one item, from its text to its encoded file and row.

A worker may be a thread of this process, another process, or a Dask worker on another
machine; everything that crosses to it pickles. A ``Client`` holds a connection pool and
a key and does not pickle, so other processes get a ``ClientSpec`` and build their own
``Client`` from it, once per thread.
"""

from __future__ import annotations

import json
import math
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import audio as _audio
from ..errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InvalidArgument,
    NotFoundError,
    PaymentRequiredError,
    TTSKitError,
)
from .quality import measure, normalize_loudness

__all__ = ["ClientSpec", "Job", "Outcome", "make_item"]

# Errors that another attempt would only repeat.
_PERMANENT = (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InvalidArgument,
    NotFoundError,
    PaymentRequiredError,
)
#: Longest wait between two attempts at one item.
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True)
class ClientSpec:
    """A picklable description of a ``ttskit.Client``, for workers in other processes.

    The API key travels with it (a worker needs it) but never shows in its repr.

    Parameters
    ----------
    base_url : str
        API root including ``/v1``, e.g. the parent's local server
        ``http://127.0.0.1:8000/v1``.
    api_key : str, optional
    timeout : float
        Seconds to connect, and between two reads of an answer.
    max_retries : int
        The client's own retries of refused or failed requests.
    headers : tuple of (str, str) pairs
        Extra headers for every request.

    Examples
    --------
    >>> spec = ClientSpec("http://127.0.0.1:8000/v1", api_key="secret")
    >>> spec
    ClientSpec(base_url='http://127.0.0.1:8000/v1', api_key='***', timeout=60.0, max_retries=2)
    >>> client = spec.connect()  # doctest: +SKIP
    """

    base_url: str
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 60.0
    max_retries: int = 2
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.base_url, str) or not self.base_url.startswith(
            ("http://", "https://")
        ):
            raise InvalidArgument(
                f"base_url={self.base_url!r} is not an http(s) URL such as "
                "'http://127.0.0.1:8000/v1'"
            )
        object.__setattr__(self, "headers", tuple(tuple(h) for h in dict(self.headers).items()))

    def __repr__(self) -> str:
        key = "'***'" if self.api_key else "None"
        return (
            f"ClientSpec(base_url={self.base_url!r}, api_key={key}, "
            f"timeout={self.timeout!r}, max_retries={self.max_retries!r})"
        )

    __str__ = __repr__

    @classmethod
    def from_client(cls, client: Any, *, api_key: str | None = None) -> ClientSpec:
        """The description of ``client``.

        A ``Client`` does not hand out its key: pass ``api_key`` when the endpoint needs
        one; for the hosted API it defaults to ``$TOGETHER_API_KEY``, as in ``Client``.
        """
        if api_key is None and getattr(client, "hosted", False):
            api_key = os.environ.get("TOGETHER_API_KEY") or None
        return cls(
            base_url=client.base_url,
            api_key=api_key,
            timeout=float(getattr(client, "timeout", 60.0)),
            max_retries=int(getattr(client, "max_retries", 2)),
        )

    def connect(self) -> Any:
        """A new ``ttskit.Client`` for this description."""
        from ttskit import Client

        return Client(
            base_url=self.base_url,
            api_key=self.api_key,
            timeout=self.timeout,
            max_retries=self.max_retries,
            headers=dict(self.headers) or None,
        )


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


@dataclass
class Outcome:
    """What a worker hands back: the row, and the encoded file (None when it failed)."""

    item_id: str
    row: dict[str, Any]
    data: bytes | None = None
    error: str | None = None
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


def _backoff(job: Job, attempt: int, error: TTSKitError) -> float:
    asked = getattr(error, "retry_after", None)
    if asked is not None:
        return min(float(asked), MAX_BACKOFF_S)
    wait = job.retry_backoff * 2**attempt
    return min(wait, MAX_BACKOFF_S) * (1 - 0.25 * random.random())


def make_item(source: Any, job: Job, *, sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """Synthesize ``job``, measure it and encode its file; never raises for a failed item.

    Parameters
    ----------
    source : ttskit.Client or ClientSpec
        A client to use as is (threads of this process), or the description to build one
        from (other processes).
    job : Job
    sleep : callable
        Waits between attempts.

    Returns
    -------
    Outcome
        With ``data`` and the quality columns in ``row``, or with ``error`` after
        ``job.retries`` further attempts (none for errors that would only repeat).
    """
    attempts = 0
    try:
        client = _client_for(source) if isinstance(source, ClientSpec) else source
        while True:
            attempts += 1
            try:
                speech = client.speak(
                    job.text,
                    model=job.model,
                    voice=job.voice,
                    sample_rate=job.sample_rate,
                    alignment="word" if job.alignment else None,
                    speed=job.speed,
                    language=job.language,
                )
                break
            except _PERMANENT:
                raise
            except TTSKitError as exc:
                if attempts > job.retries:
                    raise
                sleep(_backoff(job, attempts - 1, exc))
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
        return Outcome(job.item_id, row={}, error=message, attempts=max(attempts, 1))
    row = {
        "model": speech.model or job.model,
        "endpoint": speech.endpoint,
        "sample_rate": speech.sample_rate,
        "words": words_json(speech.words if job.alignment else None),
        **quality,
        "gain_db": gain_db,
    }
    return Outcome(job.item_id, row=_finite(row), data=data, attempts=attempts)


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with NaN and infinities as None: JSON has no such numbers."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
