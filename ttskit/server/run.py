"""Serving an app in the foreground, as ``ttskit serve`` does."""

from __future__ import annotations

import contextlib
from typing import Any

import uvicorn

from .http import server_config
from .middleware import redact_keys_in_logs

__all__ = ["serve"]


def serve(app: Any, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Serve ``app`` under uvicorn until interrupted (Ctrl-C ends it cleanly)."""
    config = server_config(app, host=host, port=port, log_level=log_level)
    server = uvicorn.Server(config)
    # uvicorn configures its loggers when the config is made; the filter goes on after.
    redact_keys_in_logs()
    # uvicorn shuts down gracefully on Ctrl-C, then raises it again for the caller.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
