"""ttskit's speech server: the API of docs/protocol.md over offline engines (FastAPI + uvicorn).

>>> from ttskit.server import build_app
>>> app = build_app("espeak", workers=1)
>>> app.state.ttskit.registry.ids()
['espeak']

Run it with ``ttskit serve`` or, in a notebook or a test, with ``ttskit.server.background.start_server``.
"""

from __future__ import annotations

from ..errors import MissingExtra

try:
    import fastapi  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingExtra(f"the server needs its extra: pip install 'ttskit[server]' ({exc})") from exc

from .app import DEFAULT_QUEUE, build_app, create_app
from .faults import FAULTS_HEADER, Faults
from .render import DEFAULT_DELTA_SECONDS
from .run import serve

__all__ = [
    "DEFAULT_DELTA_SECONDS",
    "DEFAULT_QUEUE",
    "FAULTS_HEADER",
    "Faults",
    "build_app",
    "create_app",
    "serve",
]
