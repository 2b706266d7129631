"""``GET /v1/audio/speech/websocket``: text in as it is typed, audio out as it is made.

A connection is a session with settings (voice, rate, ...) and up to 100 contexts. Each
context buffers appended text and cuts it into pieces by the session's ``segment``
policy; a task per context synthesizes its pieces in order, so contexts speak in
parallel (as far as there are slots) and each stays in order. Every segment an engine
yields is one item: its word timestamps, its audio deltas, then ``audio_output.done``.

Once everything a commit handed over has been spoken, the context's task sends the
extension event ``{"type": "context.done", "context_id": ...}``, so that a client knows the
context is finished instead of guessing from a pause; ``session.created`` advertises it
with ``"context_done": true``.

A bad message never closes the connection: it is answered with
``conversation.item.tts.failed`` naming the problem, and the session goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import reprlib
import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from ..engines.text import sentence_end, split_words
from .errors import WireError, bad_request, error_response, wire_error_for
from .faults import FAULTS_HEADER, RequestFaults
from .payload import parse_json
from .registry import LocalModel
from .render import audio_delta, audio_done, render_segment, word_timestamps
from .schemas import SessionSettings
from .state import ServerState
from .worker import probe_voice, synthesize

__all__ = ["router"]

_LOGGER = logging.getLogger("ttskit.server")

router = APIRouter()

DEFAULT_CONTEXT = "default"
_MAX_CONTEXT_ID_CHARS = 256
_ENCODING = "pcm_s16le"  # the WebSocket always sends s16le, as the protocol says
# Close codes: policy violation for a session that cannot start, internal error for a cut.
_CLOSE_REFUSED = 1008
_CLOSE_CUT = 1011


@router.websocket("/v1/audio/speech/websocket")
async def speech_websocket(websocket: WebSocket) -> None:
    """A realtime TTS session (PROTOCOL.md section 3)."""
    state: ServerState = websocket.app.state.ttskit
    try:
        faults = state.faults.for_request(websocket.headers.get(FAULTS_HEADER))
        faults.check_refusal()
    except WireError as error:
        await _deny(websocket, error)
        return
    await websocket.accept()
    session = await _open_session(websocket, state, faults)
    if session is not None:
        await session.run()


async def _deny(websocket: WebSocket, error: WireError) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(error_response(error))
    else:
        await websocket.close(
            code=_CLOSE_REFUSED, reason=error.message.encode()[:120].decode(errors="ignore")
        )


async def _open_session(
    websocket: WebSocket, state: ServerState, faults: RequestFaults
) -> Session | None:
    """The session the query parameters ask for, or None after sending why there is none."""
    query = dict(websocket.query_params)
    model_id = query.pop("model", None) or next(iter(state.registry.models))
    try:
        model, aliased = state.registry.resolve(model_id)
        query.setdefault("voice", model.default_voice)
        settings = SessionSettings.model_validate(query)
        voice = await _check_voice(state, model, settings.voice, aliased=aliased)
    except Exception as exc:
        await websocket.send_json(_failed(wire_error_for(exc)))
        await websocket.close(code=_CLOSE_REFUSED)
        return None
    return Session(websocket, state, faults, model_id, model, aliased, settings, voice)


async def _check_voice(state: ServerState, model: LocalModel, voice: str, *, aliased: bool) -> str:
    """The voice to speak with; raises ``UnknownVoice`` for one the engine lacks."""
    chosen = state.registry.voice_for(model, voice, aliased=aliased)
    if not model.lists(chosen):
        await probe_voice(
            model.pool, state.executor, chosen, queue_timeout=state.limits.queue_timeout
        )
    return chosen


def _failed(error: WireError, **extra: Any) -> dict[str, Any]:
    return {"type": "conversation.item.tts.failed", **extra, **error.body()}


class _Gone(Exception):
    """The connection is closed; nothing more can be sent."""


class _Cut(Exception):
    """An injected fault asks for the connection to be cut."""


# In a context's queue of pieces: everything queued before it belongs to one commit.
_COMMIT_END = None


@dataclass
class _Context:
    """Text of one context: what is buffered, and the pieces (and commit ends) waiting."""

    id: str
    buffer: str = ""
    pieces: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None

    def take_piece(self, end: int) -> str:
        piece, self.buffer = self.buffer[:end], self.buffer[end:]
        return piece


class Session:
    """One WebSocket connection's settings, contexts and items."""

    def __init__(
        self,
        websocket: WebSocket,
        state: ServerState,
        faults: RequestFaults,
        model_id: str,
        model: LocalModel,
        aliased: bool,
        settings: SessionSettings,
        voice: str,
    ) -> None:
        self.websocket = websocket
        self.state = state
        self.faults = faults
        self.model_id = model_id
        self.model = model
        self.aliased = aliased
        self.settings = settings
        self.voice = voice
        self.id = f"sess_{uuid.uuid4().hex}"
        self.contexts: dict[str, _Context] = {}
        self._item_numbers = itertools.count(1)
        self._send_lock = asyncio.Lock()
        self._cut = asyncio.Event()

    # --- the connection ----------------------------------------------------------------

    async def run(self) -> None:
        """Serve the session until the client leaves or a fault cuts the connection."""
        await self.send(
            {
                "type": "session.created",
                "event_id": f"evt_{uuid.uuid4().hex}",
                "session": self.describe(),
            }
        )
        reader = asyncio.ensure_future(self._read())
        cut = asyncio.ensure_future(self._cut.wait())
        try:
            await asyncio.wait({reader, cut}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            reader.cancel()
            cut.cancel()
            tasks = [context.task for context in self.contexts.values() if context.task]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._cut.is_set():
            _LOGGER.info("injected fault: cutting the WebSocket")
            with contextlib.suppress(Exception):
                await self.websocket.close(code=_CLOSE_CUT, reason="injected fault")

    async def send(self, event: dict[str, Any]) -> None:
        text = json.dumps(event, separators=(",", ":"))
        async with self._send_lock:
            try:
                await self.websocket.send_text(text)
            except (WebSocketDisconnect, RuntimeError, OSError) as exc:
                raise _Gone from exc

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "realtime.tts.session",
            "modalities": ["text", "audio"],
            "model": self.model_id,
            **self.settings.model_dump(),
            "voice": self.voice,
            "context_done": True,  # commits end with a context.done event (an extension)
            "idle_timeout": self.state.limits.ws_idle_timeout,  # seconds (an extension)
        }

    async def _read(self) -> None:
        while True:
            message = await self._receive_unless_idle()
            if message is None or message["type"] == "websocket.disconnect":
                return
            try:
                await self._handle(message)
            except _Gone:
                return
            except Exception as exc:
                with contextlib.suppress(_Gone):
                    await self.send(_failed(wire_error_for(exc)))

    async def _receive_unless_idle(self) -> dict[str, Any] | None:
        """The next frame, or None once the client sent nothing for ``ws_idle_timeout``
        while nothing was in synthesis (the session is then closed, 1000 "idle")."""
        idle = self.state.limits.ws_idle_timeout
        while True:
            try:
                async with asyncio.timeout(idle):
                    return await self.websocket.receive()
            except TimeoutError:
                if any(c.task is not None and not c.task.done() for c in self.contexts.values()):
                    continue
            _LOGGER.info("closing a WebSocket session that sent nothing for %s s", idle)
            with contextlib.suppress(Exception):
                await self.websocket.close(code=1000, reason="idle")
            return None

    # --- client events -------------------------------------------------------------------

    async def _handle(self, message: dict[str, Any]) -> None:
        if message.get("bytes") is not None:
            raise bad_request(
                "binary frames are not supported; send JSON text frames",
                param=None,
                code="invalid_frame",
            )
        event = parse_json(message.get("text") or "", what="the frame")
        if not isinstance(event, dict):
            raise bad_request(
                f"an event is a JSON object, got {type(event).__name__}",
                param=None,
                code="invalid_type",
            )
        kind = event.get("type")
        handler = self._HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            known = sorted(self._HANDLERS)
            raise bad_request(
                f"unknown event type {reprlib.repr(kind)}; expected one of {known}",
                param="type",
                code="missing" if kind is None else "unknown_event_type",
            )
        await handler(self, event, self._context_id(event))

    @staticmethod
    def _context_id(event: dict[str, Any]) -> str:
        context_id = event.get("context_id", DEFAULT_CONTEXT)
        if (
            not isinstance(context_id, str)
            or not context_id
            or len(context_id) > _MAX_CONTEXT_ID_CHARS
        ):
            raise bad_request(
                f"context_id must be a non-empty string of at most {_MAX_CONTEXT_ID_CHARS} "
                f"characters, got {reprlib.repr(context_id)}",
                param="context_id",
                code="invalid_value",
            )
        return context_id

    def _context(self, context_id: str) -> _Context:
        context = self.contexts.get(context_id)
        if context is not None:
            return context
        if len(self.contexts) >= self.state.max_contexts:
            raise bad_request(
                f"a connection holds at most {self.state.max_contexts} contexts; "
                "cancel one before starting another",
                param="context_id",
                code="too_many_contexts",
            )
        context = _Context(context_id)
        context.task = asyncio.ensure_future(self._speak_pieces(context))
        self.contexts[context_id] = context
        return context

    async def _append(self, event: dict[str, Any], context_id: str) -> None:
        text = event.get("text")
        if not isinstance(text, str):
            raise bad_request(
                f"text must be a string, got {reprlib.repr(text)}",
                param="text",
                code="invalid_type",
            )
        context = self._context(context_id)
        limit = self.state.max_input_chars
        if len(context.buffer) + len(text) > limit:
            raise bad_request(
                f"the buffer of context {context_id!r} would hold more than {limit} characters; "
                "commit or clear it first",
                param="text",
                code="input_too_long",
            )
        context.buffer += text
        await self.send(
            {
                "type": "conversation.item.input_text.received",
                "text": text,
                "context_id": context_id,
            }
        )
        self._cut_pieces(context)

    def _cut_pieces(self, context: _Context) -> None:
        """Move the text the ``segment`` policy says is ready from the buffer to synthesis."""
        policy = self.settings.segment
        if policy == "immediate":
            self._queue(context, context.take_piece(len(context.buffer)))
        elif policy == "sentence":
            while (end := sentence_end(context.buffer)) is not None:
                self._queue(context, context.take_piece(end))
            if len(context.buffer.strip()) > self.settings.max_partial_length:
                # Cut after the last complete word, so no word is split in two.
                cut = max(context.buffer.rstrip().rfind(" "), 0) or len(context.buffer)
                self._queue(context, context.take_piece(cut))

    def _queue(self, context: _Context, piece: str) -> None:
        if split_words(piece):
            context.pieces.put_nowait(piece.strip())

    async def _commit(self, event: dict[str, Any], context_id: str) -> None:
        context = self._context(context_id)
        self._queue(context, context.take_piece(len(context.buffer)))
        context.pieces.put_nowait(_COMMIT_END)

    async def _clear(self, event: dict[str, Any], context_id: str) -> None:
        context = self.contexts.get(context_id)
        if context is None:
            return
        context.buffer = ""
        # Drop the text; keep the commit ends, each still owes its context.done.
        waiting = [context.pieces.get_nowait() for _ in range(context.pieces.qsize())]
        for piece in waiting:
            if piece is _COMMIT_END:
                context.pieces.put_nowait(piece)

    async def _cancel(self, event: dict[str, Any], context_id: str) -> None:
        context = self.contexts.pop(context_id, None)
        if context is not None and context.task is not None:
            context.task.cancel()
            await asyncio.gather(context.task, return_exceptions=True)
        await self.send({"type": "context.cancelled", "context_id": context_id})

    async def _update(self, event: dict[str, Any], context_id: str) -> None:
        changes = event.get("session")
        if not isinstance(changes, dict):
            raise bad_request(
                f"session must be an object of settings, got {reprlib.repr(changes)}",
                param="session",
                code="invalid_type",
            )
        try:
            settings = SessionSettings.model_validate({**self.settings.model_dump(), **changes})
        except ValidationError as exc:
            raise wire_error_for(exc) from exc
        voice = self.voice
        if "voice" in changes:
            voice = await _check_voice(self.state, self.model, settings.voice, aliased=self.aliased)
        self.settings, self.voice = settings, voice
        await self.send({"type": "session.updated", "session": self.describe()})

    _HANDLERS = {
        "input_text_buffer.append": _append,
        "input_text_buffer.commit": _commit,
        "input_text_buffer.clear": _clear,
        "tts_session.updated": _update,
        "context.cancel": _cancel,
    }

    # --- synthesis -----------------------------------------------------------------------

    async def _speak_pieces(self, context: _Context) -> None:
        try:
            while True:
                piece = await context.pieces.get()
                if piece is _COMMIT_END:
                    await self.send({"type": "context.done", "context_id": context.id})
                else:
                    await self._speak(piece, context.id)
        except _Gone:
            return
        except _Cut:
            self._cut.set()

    async def _speak(self, text: str, context_id: str) -> None:
        settings, state = self.settings, self.state
        render = partial(
            render_segment,
            sample_rate=settings.sample_rate,
            encoding=_ENCODING,
            delta_seconds=state.delta_seconds,
        )
        segments = synthesize(
            self.model.pool,
            state.executor,
            text,
            voice=self.voice,
            speed=settings.speed,
            render=render,
            lookahead=state.lookahead,
            **state.slot_deadlines(),
        )
        try:
            async for segment in segments:
                item_id = f"tts_{next(self._item_numbers)}"
                if settings.alignment == "word" and segment.words:
                    await self.send(word_timestamps(item_id, segment.words, context_id=context_id))
                await self.faults.before_first_audio()
                for index, delta in enumerate(segment.deltas):
                    if self.faults.cut_now():
                        raise _Cut
                    if index:
                        await self.faults.before_delta()
                    await self.send(audio_delta(item_id, delta, context_id=context_id))
                    self.faults.deltas_sent += 1
                await self.send(audio_done(item_id, context_id=context_id))
        except (_Gone, _Cut, asyncio.CancelledError):
            raise
        except Exception as exc:
            error = wire_error_for(exc)
            if error.status_code >= 500:
                _LOGGER.error("synthesis failed: %s", error.message, exc_info=exc)
            await self.send(_failed(error, context_id=context_id))
        finally:
            await segments.aclose()
