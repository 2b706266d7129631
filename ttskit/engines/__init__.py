"""Offline speech engines behind one protocol (see ``base.Engine``).

Engine libraries are imported only by their own module, when an engine is loaded.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import MissingExtra
from .base import Engine, EngineArgumentError, EngineError, Segment, UnknownVoice, Voice, Word

__all__ = [
    "ENGINES",
    "Engine",
    "EngineArgumentError",
    "EngineError",
    "Segment",
    "UnknownVoice",
    "Voice",
    "Word",
    "available_engines",
    "load_engine",
]

#: engine name -> (module, class, extra that installs it)
ENGINES: dict[str, tuple[str, str, str]] = {
    "espeak": ("ttskit.engines.espeak", "EspeakEngine", "server"),
    "piper": ("ttskit.engines.piper", "PiperEngine", "piper"),
}


def load_engine(name: str, **options: Any) -> Engine:
    """Create the engine called ``name`` ("espeak" or "piper") with its ``options``.

    Raises ``ttskit.errors.MissingExtra`` (an ImportError) with an install hint when the
    engine's extra is missing.
    """
    if name not in ENGINES:
        raise EngineArgumentError(f"unknown engine {name!r}; expected one of {sorted(ENGINES)}")
    module_name, class_name, extra = ENGINES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MissingExtra(
            f"the {name} engine needs its extra: pip install 'ttskit[{extra}]' ({exc})"
        ) from exc
    return getattr(module, class_name)(**options)


def available_engines() -> list[str]:
    """Names of the engines whose libraries are installed, best for people first."""
    found = []
    for name in ("piper", "espeak"):
        module_name = ENGINES[name][0]
        try:
            importlib.import_module(module_name)
        except ImportError:
            continue
        found.append(name)
    return found
