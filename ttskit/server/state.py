"""What the routes of one app share: models, worker threads, limits and faults."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .faults import FaultInjector
from .limits import Limits
from .registry import Registry

__all__ = ["ServerState"]


@dataclass
class ServerState:
    """Kept on ``app.state.ttskit``; built by ``create_app``."""

    registry: Registry
    #: one thread per synthesis slot of every model, so a slot never waits for a thread
    executor: ThreadPoolExecutor
    faults: FaultInjector
    api_key: str | None
    max_input_chars: int
    max_body_bytes: int
    delta_seconds: float
    lookahead: int
    max_contexts: int
    limits: Limits = Limits()

    def slot_deadlines(self) -> dict[str, float]:
        """``synthesize`` keywords: how long to wait for a slot, and to hold one."""
        return {
            "queue_timeout": self.limits.queue_timeout,
            "synthesis_timeout": self.limits.synthesis_timeout,
        }
