"""Notebook widgets: a live streaming player, a view of a Speech, a comparison grid.

``Player`` and ``SpeechView`` are anywidget widgets (``pip install 'ttskit[notebook]'``);
without anywidget they fall back to plain ipywidgets that show progress and an audio
element, with the same Python API.
"""

from __future__ import annotations

try:
    import ipywidgets  # noqa: F401
except ImportError as exc:
    from ..errors import MissingExtra

    raise MissingExtra("ttskit.widgets needs ipywidgets: pip install 'ttskit[notebook]'") from exc

try:
    import anywidget  # noqa: F401
except ImportError:
    HAS_ANYWIDGET = False
else:
    HAS_ANYWIDGET = True

if HAS_ANYWIDGET:
    from .player import Player
    from .view import SpeechView
else:
    from .fallback import FallbackPlayer as Player
    from .fallback import FallbackSpeechView as SpeechView

from .compare import Comparison, compare
from .fallback import FallbackPlayer, FallbackSpeechView

__all__ = [
    "HAS_ANYWIDGET",
    "Comparison",
    "FallbackPlayer",
    "FallbackSpeechView",
    "Player",
    "SpeechView",
    "compare",
]
