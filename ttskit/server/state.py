"""What the routes of one app share: models, worker threads, limits and faults."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .faults import FaultInjector
from .limits import Limits
from .pool import check_client_share
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
    #: the share of slots and queue one client may hold; None until the server's address
    #: chooses it (``ttskit.server.http.server_config``)
    client_share: float | None = None

    def share_slots(self, client_share: float) -> None:
        """Let one client hold ``client_share`` of every model's slots and queue."""
        self.client_share = check_client_share(client_share)
        for model in self.registry.models.values():
            model.pool.client_share = self.client_share

    def slot_deadlines(self) -> dict[str, float]:
        """``synthesize`` keywords: how long to wait for a slot, and to hold one."""
        return {
            "queue_timeout": self.limits.queue_timeout,
            "synthesis_timeout": self.limits.synthesis_timeout,
        }
