"""The client layer: ttskit's side of the wire (PROTOCOL.md).

Modules, in reading order:

- ``endpoint``: which server, with which key (chosen once; secrets never shown)
- ``request``: ``SpeechRequest``, one speech request as a checked, picklable value, in
  either dialect (Together's or OpenAI's)
- the core, which knows no socket: ``sse``, ``wire`` and ``decoding`` (bytes -> events,
  ``decode``/``flush`` push decoders), ``recording`` (the one ``Recorder`` that turns
  chunks and words into ``Speech``/``Timing``), ``discovery`` (listings, and
  ``resolve_defaults``, the one rule of default model and voice)
- ``base``: ``ClientBase``, what both clients share (their constructor, the requests built)
- ``http``: ``Client``, ``build_request`` + ``send`` over ``session`` (the one layer of
  retries) and ``transport`` (requests' boundary: body reads under a deadline, errors);
  ``asynchronous``: ``AsyncClient`` over aiohttp, whose boundary is ``async_transport``
- ``streaming``: ``SpeechStream``, an answer read as it arrives, and ``ResponseHead``
- ``realtime``: ``RealtimeSession`` over ``websocket``, and ``async_realtime``:
  ``AsyncRealtimeSession``, two shells of one ``realtime_core`` (messages, events,
  ``contexts``, deadlines; no socket)
- ``shortcuts``: ``speak``, ``stream``, ``default_client``, ``local``

Nothing here imports the server, FastAPI or the widgets at import time.
"""

from .async_realtime import AsyncRealtimeSession
from .asynchronous import AsyncClient, AsyncSpeechStream
from .discovery import resolve_defaults
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
from .session import retryable
from .shortcuts import default_client, local, speak, stream
from .streaming import ResponseHead, SpeechStream

__all__ = [
    "AsyncClient",
    "AsyncRealtimeSession",
    "AsyncSpeechStream",
    "Client",
    "ContextCancelled",
    "ContextDone",
    "Endpoint",
    "ItemDone",
    "RealtimeEvent",
    "RealtimeSession",
    "Recorder",
    "ResponseHead",
    "SessionUpdated",
    "SpeechRequest",
    "SpeechStream",
    "TTSFailed",
    "TextReceived",
    "default_client",
    "local",
    "resolve_defaults",
    "retryable",
    "speak",
    "stream",
]
