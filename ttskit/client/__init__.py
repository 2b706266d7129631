"""The client layer: ttskit's side of the wire (PROTOCOL.md).

Modules, in reading order:

- ``endpoint``: which server, with which key (chosen once; secrets never shown)
- ``request``: one speech request as a checked value
- ``http``: ``Client``; ``discovery`` (model and voice listings, defaults), ``session``
  (retries) and ``transport`` (requests' boundary: body reads under a deadline, error
  translation) under it
- ``sse``, ``wire``, ``body``: bytes -> events -> payloads -> PCM, with ``decode``/``flush``
  decoders
- ``recording``: the one ``Recorder`` that turns chunks and words into ``Speech``/``Timing``
- ``streaming``: ``SpeechStream``, an answer read as it arrives
- ``realtime``: ``RealtimeSession`` over ``websocket``, with ``contexts`` and ``events``
- ``shortcuts``: ``speak``, ``stream``, ``default_client``, ``local``

Nothing here imports the server, FastAPI or the widgets at import time.
"""

from .endpoint import Endpoint
from .events import (
    ContextCancelled,
    ContextDone,
    ItemDone,
    RealtimeEvent,
    SessionUpdated,
    TextReceived,
    TTSFailed,
)
from .http import Client
from .realtime import RealtimeSession
from .recording import Recorder
from .request import SpeechRequest
from .shortcuts import default_client, local, speak, stream
from .streaming import SpeechStream

__all__ = [
    "Client",
    "ContextCancelled",
    "ContextDone",
    "Endpoint",
    "ItemDone",
    "RealtimeEvent",
    "RealtimeSession",
    "Recorder",
    "SessionUpdated",
    "SpeechRequest",
    "SpeechStream",
    "TTSFailed",
    "TextReceived",
    "default_client",
    "local",
    "speak",
    "stream",
]
