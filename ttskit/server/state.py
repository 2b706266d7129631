"""What the routes of one app share: models, worker threads, limits and faults."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .faults import FaultInjector
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
