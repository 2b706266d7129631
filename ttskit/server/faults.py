"""Latency and fault injection, for testing clients against bad networks offline.

A server made with ``faults=Faults(...)`` (or ``ttskit serve --fail-rate ...``) delays,
refuses or cuts its answers on purpose. A request may also bring its own faults in an
``x-ttskit-faults`` header (``first_audio_delay=0.5, cut_after=3``), so that one shared
server serves tests that each want a different fault. Random draws come from one seeded
generator, so a test that sends requests one after another sees the same faults each run.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
from dataclasses import dataclass, fields, replace

from ..errors import InvalidArgument
from .errors import WireError

__all__ = ["FAULTS_HEADER", "FaultInjector", "Faults", "RequestFaults"]

FAULTS_HEADER = "x-ttskit-faults"
_STATUSES = (429, 500, 503)


@dataclass(frozen=True)
class Faults:
    """What to do wrong, and how often.

    Parameters
    ----------
    first_audio_delay : float
        Seconds to wait before the first audio of a response (or of a WebSocket item).
    delta_delay : float
        Seconds to wait between two audio deltas.
    jitter : float
        Up to this many seconds, drawn uniformly, added to each of those waits.
    error_rate : float
        Fraction of requests refused with ``error_status``, from 0 to 1.
    error_status : {429, 500, 503}
        Status of a refused request; 429 and 503 carry ``Retry-After``.
    retry_after : float
        Seconds the refusal asks the client to wait.
    cut_after : int, optional
        Close the connection after this many audio deltas (or body chunks), without
        ``[DONE]``.
    seed : int, optional
        Seed of the random draws, for repeatable runs.
    """

    first_audio_delay: float = 0.0
    delta_delay: float = 0.0
    jitter: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503
    retry_after: float = 1.0
    cut_after: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("first_audio_delay", "delta_delay", "jitter", "retry_after"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise InvalidArgument(f"{name} must be a number >= 0, got {value!r}")
        if not 0.0 <= self.error_rate <= 1.0:
            raise InvalidArgument(f"error_rate must be within 0..1, got {self.error_rate!r}")
        if self.error_status not in _STATUSES:
            raise InvalidArgument(
                f"error_status must be one of {_STATUSES}, got {self.error_status!r}"
            )
        if self.cut_after is not None and self.cut_after < 0:
            raise InvalidArgument(f"cut_after must be >= 0, got {self.cut_after!r}")

    @property
    def active(self) -> bool:
        """Whether any fault is switched on."""
        return self != Faults(seed=self.seed)

    def updated(self, header: str) -> Faults:
        """These faults with the ``key=value`` pairs of an ``x-ttskit-faults`` header.

        Raises
        ------
        InvalidArgument
            For an unknown key or a bad value (also a ``ValueError``).
        """
        types = {field.name: field.type for field in fields(self)}
        changes: dict[str, object] = {}
        for pair in header.split(","):
            if not pair.strip():
                continue
            key, equals, value = (part.strip() for part in pair.partition("="))
            if not equals or key not in types:
                raise InvalidArgument(
                    f"expected key=value with a key among {sorted(types)}, got {pair!r}"
                )
            kind = float if "float" in str(types[key]) else int
            try:
                changes[key] = None if value.lower() == "none" else kind(value)
            except ValueError:
                raise InvalidArgument(f"{key} must be {kind.__name__}, got {value!r}") from None
        return replace(self, **changes)


class RequestFaults:
    """The faults of one request, with the random draws it needs."""

    def __init__(self, faults: Faults, draw: random.Random, lock: threading.Lock) -> None:
        self.faults = faults
        self._draw = draw
        self._lock = lock
        self.deltas_sent = 0

    def _uniform(self) -> float:
        with self._lock:
            return self._draw.random()

    def check_refusal(self) -> None:
        """Raise the injected error for a request chosen to fail."""
        faults = self.faults
        if faults.error_rate <= 0 or self._uniform() >= faults.error_rate:
            return
        headers = {}
        if faults.error_status in (429, 503):
            headers["Retry-After"] = str(max(1, math.ceil(faults.retry_after)))
            headers["retry-after-ms"] = str(int(faults.retry_after * 1000))
        raise WireError(
            faults.error_status,
            f"injected fault: this request was chosen to fail with {faults.error_status}",
            headers=headers,
        )

    async def _sleep(self, seconds: float) -> None:
        if self.faults.jitter:
            seconds += self.faults.jitter * self._uniform()
        if seconds > 0:
            await asyncio.sleep(seconds)

    async def before_first_audio(self) -> None:
        await self._sleep(self.faults.first_audio_delay)

    async def before_delta(self) -> None:
        """Wait before a delta that is not the first of its response."""
        await self._sleep(self.faults.delta_delay)

    def cut_now(self) -> bool:
        """Whether the connection is cut instead of sending the next delta."""
        cut_after = self.faults.cut_after
        return cut_after is not None and self.deltas_sent >= cut_after


class FaultInjector:
    """The server's faults, and one seeded random generator shared by its requests.

    Parameters
    ----------
    faults : Faults, optional
        Faults of every request.
    allow_header : bool
        Whether requests may bring their own faults in ``x-ttskit-faults``. Off unless
        asked for (``ttskit serve --allow-fault-header``; the embedded server allows it),
        since a header that delays audio by minutes lets any client hold a slot.
    """

    def __init__(self, faults: Faults | None = None, *, allow_header: bool = False) -> None:
        self.faults = faults or Faults()
        self.allow_header = allow_header
        self._draw = random.Random(self.faults.seed)
        self._lock = threading.Lock()

    def for_request(self, header: str | None = None) -> RequestFaults:
        """Faults for one request, updated by its ``x-ttskit-faults`` header if any.

        Raises
        ------
        WireError
            400 for a header that does not parse, or on a server that does not allow it.
        """
        if not header:
            return RequestFaults(self.faults, self._draw, self._lock)
        if not self.allow_header:
            raise WireError(
                400,
                f"this server does not take faults from the {FAULTS_HEADER} header; "
                "start it with 'ttskit serve --allow-fault-header' to allow it",
                param=FAULTS_HEADER,
                code="faults_not_allowed",
            )
        try:
            faults = self.faults.updated(header)
        except ValueError as exc:
            raise WireError(
                400,
                f"bad {FAULTS_HEADER} header: {exc}",
                param=FAULTS_HEADER,
                code="invalid_faults",
            ) from exc
        if faults.seed is not None and faults.seed != self.faults.seed:
            return RequestFaults(faults, random.Random(faults.seed), threading.Lock())
        return RequestFaults(faults, self._draw, self._lock)
