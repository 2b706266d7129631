"""``GET /v1/audio/speech/websocket``: text in as it is typed, audio out as it is made.

A connection is a session with settings (voice, rate, ...) and up to 100 contexts. Each
context buffers appended text and cuts it into pieces by the session's ``segment``
policy: ``sentence`` a piece per complete sentence (or per ``max_partial_length`` of
unterminated text), ``immediate`` a piece per append, ``never`` a piece per commit. A
task per context synthesizes its pieces in order, so contexts speak in parallel (as far
as there are slots) and each stays in order. An item is its word timestamps, its audio
deltas, then ``audio_output.done``: with ``never`` one per commit, with ``immediate`` one
per append, and with ``sentence`` one per run of sentences spoken back to back (an item
ends when the context has nothing more waiting).

``input_text_buffer.clear`` and ``context.cancel`` stop the piece being spoken at the
next delta: nothing more of it is sent, the item ends with its ``done`` (a cancelled
context with ``context.cancelled``), and its synthesis stops after the sentence the
engine is working on. The text one context has waiting for synthesis (its buffer and
its pieces not yet started) is bounded by the server's ``max_input_chars``: an append
past it fails on its own, as does a frame larger than a request body may be.

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
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from ..engines.text import sentence_end, split_sentences, split_words
from .connections import client_of
from .errors import WireError, bad_request, error_response, wire_error_for
from .faults import FAULTS_HEADER, RequestFaults
from .payload import parse_json
from .registry import LocalModel
from .render import RenderedSegment, audio_delta, audio_done, render_segment, word_timestamps
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
        voice = await _check_voice(
            state, model, settings.voice, aliased=aliased, client=client_of(websocket.scope)
        )
    except Exception as exc:
        await websocket.send_json(_failed(wire_error_for(exc)))
        await websocket.close(code=_CLOSE_REFUSED)
        return None
    return Session(websocket, state, faults, model_id, model, aliased, settings, voice)


async def _check_voice(
    state: ServerState, model: LocalModel, voice: str, *, aliased: bool, client: str
) -> str:
    """The voice to speak with; raises ``UnknownVoice`` for one the engine lacks."""
    chosen = state.registry.voice_for(model, voice, aliased=aliased)
    if not model.lists(chosen):
        await probe_voice(
            model.pool,
            state.executor,
            chosen,
            queue_timeout=state.limits.queue_timeout,
            client=client,
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
    """Text of one context: what is buffered, and the pieces (and commit ends) waiting.

    ``stop`` is set to stop the piece being spoken; each clear gives the context a new
    one, so the pieces that follow are spoken.
    """

    id: str
    buffer: str = ""
    pieces: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    queued_chars: int = 0  #: characters of the pieces waiting, not yet started
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def waiting_chars(self) -> int:
        """Characters waiting for synthesis: the buffer and the pieces not yet started."""
        return len(self.buffer) + self.queued_chars

    def take_piece(self, end: int) -> str:
        piece, self.buffer = self.buffer[:end], self.buffer[end:]
        return piece

    def queue(self, piece: str) -> None:
        if split_words(piece):
            piece = piece.strip()
            self.queued_chars += len(piece)
            self.pieces.put_nowait(piece)

    def interrupt(self) -> None:
        """Drop the waiting text, keep the commit ends (each still owes its context.done),
        and stop the piece being spoken."""
        self.buffer = ""
        waiting = [self.pieces.get_nowait() for _ in range(self.pieces.qsize())]
        for piece in waiting:
            if piece is _COMMIT_END:
                self.pieces.put_nowait(piece)
        self.queued_chars = 0
        self.stop.set()
        self.stop = asyncio.Event()


async def _until_stopped(awaitable: Any, stop: asyncio.Event) -> tuple[bool, Any]:
    """``(False, result)`` of ``awaitable``, or ``(True, None)`` as soon as ``stop`` is set
    (the awaitable is then cancelled)."""
    if stop.is_set():
        return True, None
    work = asyncio.ensure_future(awaitable)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if work.done():
        return False, work.result()
    work.cancel()
    await asyncio.wait({work})
    return True, None


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
            # Frames already received are handed over without a pause: let the loop serve
            # other clients between two of them, however fast this one sends.
            await asyncio.sleep(0)
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
        text = message.get("text") or ""
        limit = self.state.max_body_bytes
        if len(text) > limit or len(text.encode(errors="surrogatepass")) > limit:
            raise WireError(
                413,
                f"the frame is larger than {limit} bytes, the most one event may be; "
                "send the text in several appends",
                param=None,
                code="frame_too_large",
            )
        event = parse_json(text, what="the frame")
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
        if context.waiting_chars + len(text) > limit:
            raise bad_request(
                f"context {context_id!r} would have more than {limit} characters waiting for "
                "synthesis; wait for its audio, or clear it, before appending more",
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
            context.queue(context.take_piece(len(context.buffer)))
        elif policy == "sentence":
            while (end := sentence_end(context.buffer)) is not None:
                context.queue(context.take_piece(end))
            if len(context.buffer.strip()) > self.settings.max_partial_length:
                # Cut after the last complete word, so no word is split in two.
                cut = max(context.buffer.rstrip().rfind(" "), 0) or len(context.buffer)
                context.queue(context.take_piece(cut))

    async def _commit(self, event: dict[str, Any], context_id: str) -> None:
        context = self._context(context_id)
        rest = context.take_piece(len(context.buffer))
        if self.settings.segment == "sentence":
            for sentence in split_sentences(rest):
                context.queue(sentence)
        else:
            context.queue(rest)
        context.pieces.put_nowait(_COMMIT_END)

    async def _clear(self, event: dict[str, Any], context_id: str) -> None:
        context = self.contexts.get(context_id)
        if context is not None:
            context.interrupt()

    async def _cancel(self, event: dict[str, Any], context_id: str) -> None:
        context = self.contexts.pop(context_id, None)
        if context is not None and context.task is not None:
            context.interrupt()
            # The task sends nothing more of the stopped piece; it ends at the next wait.
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
            voice = await _check_voice(
                self.state,
                self.model,
                settings.voice,
                aliased=self.aliased,
                client=client_of(self.websocket.scope),
            )
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
        item: _Item | None = None  # the item being spoken, open while text keeps coming
        try:
            while True:
                piece = await context.pieces.get()
                if piece is _COMMIT_END:
                    # Everything the commit handed over has been sent, even when the item
                    # goes on with the next commit's text.
                    await self.send({"type": "context.done", "context_id": context.id})
                    continue
                context.queued_chars -= len(piece)
                stop = context.stop
                if item is None:
                    item = _Item(f"tts_{next(self._item_numbers)}")
                for part in _parts(piece):
                    await self._speak(part, context, stop, item)
                    if stop.is_set():
                        break
                if stop.is_set() or not self._item_goes_on(context):
                    await self.send(audio_done(item.id, context_id=context.id))
                    item = None
        except _Gone:
            return
        except _Cut:
            self._cut.set()

    def _item_goes_on(self, context: _Context) -> bool:
        """Whether the next piece waiting joins the item just spoken.

        With ``sentence`` an item runs on while the context has sentences waiting, as a
        reply streamed sentence by sentence is one item on the hosted API: voice agents
        (pipecat's Together service) end a reply at its first ``done``. ``never`` and
        ``immediate`` end an item with each commit or append.
        """
        if self.settings.segment != "sentence":
            return False
        return context.queued_chars > 0

    async def _speak(self, text: str, context: _Context, stop: asyncio.Event, item: _Item) -> None:
        """The audio of ``text`` within ``item``, until it ends or ``stop`` is set."""
        settings, state = self.settings, self.state
        render = partial(
            render_segment,
            sample_rate=settings.sample_rate,
            encoding=_ENCODING,
            delta_seconds=state.delta_seconds,
        )
        segments: AsyncIterator[RenderedSegment] = synthesize(
            self.model.pool,
            state.executor,
            text,
            voice=self.voice,
            speed=settings.speed,
            render=render,
            lookahead=state.lookahead,
            client=client_of(self.websocket.scope),
            first_clause=settings.segment == "immediate",
            **state.slot_deadlines(),
        )
        item_id, context_id = item.id, context.id
        try:
            while True:
                stopped, segment = await _until_stopped(anext(segments, None), stop)
                if stopped or segment is None:
                    break
                if settings.alignment == "word" and segment.words:
                    await self.send(
                        word_timestamps(
                            item_id, segment.words, offset=item.seconds, context_id=context_id
                        )
                    )
                if not item.seconds:
                    await _until_stopped(self.faults.before_first_audio(), stop)
                for delta in segment.deltas:
                    if stop.is_set():
                        break
                    if self.faults.cut_now():
                        raise _Cut
                    if self.faults.deltas_sent:
                        await _until_stopped(self.faults.before_delta(), stop)
                        if stop.is_set():
                            break
                    await self.send(audio_delta(item_id, delta, context_id=context_id))
                    self.faults.deltas_sent += 1
                    # A write to a socket with room does not pause: let others in.
                    await asyncio.sleep(0)
                item.seconds += segment.n_samples / settings.sample_rate
        except (_Gone, _Cut, asyncio.CancelledError):
            raise
        except Exception as exc:
            error = wire_error_for(exc)
            if error.status_code >= 500:
                _LOGGER.error("synthesis failed: %s", error.message, exc_info=exc)
            await self.send(_failed(error, context_id=context_id))
        finally:
            await segments.aclose()


# The longest text one synthesis takes. Longer runs of words without a sentence end (a
# flood of appends) are cut at word boundaries, so that a segment's audio, rendered and
# sent at once, stays short, and the slot is given back between parts.
_LONGEST_PART = 1000


def _parts(text: str) -> list[str]:
    """``text`` as it is synthesized: whole, unless it has a sentence longer than
    ``_LONGEST_PART`` characters; then in parts of at most that, cut between words."""
    if len(text) <= _LONGEST_PART:
        return [text]
    sentences = split_sentences(text)
    if all(len(sentence) <= _LONGEST_PART for sentence in sentences):
        return [text]
    parts: list[str] = []
    for sentence in sentences:
        while len(sentence) > _LONGEST_PART:
            cut = sentence.rfind(" ", 0, _LONGEST_PART) + 1 or _LONGEST_PART
            parts.append(sentence[:cut])
            sentence = sentence[cut:]
        parts.append(sentence)
    return [part for part in parts if split_words(part)]


@dataclass
class _Item:
    """An item being sent: its id, and the seconds of audio it holds so far."""

    id: str
    seconds: float = 0.0
