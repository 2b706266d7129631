"""What each context of a realtime session has received, and when it is finished.

A ``Context`` is one utterance of a WebSocket context: the text sent to it, the items
(synthesized segments) the server made of it, and a ``Recorder`` of their audio and words.
Word times from the server are relative to their item; here they become seconds from the
start of the context's audio.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import audio as _audio
from ..errors import APIError, NoSuchItem
from ..protocol import DEFAULT_CONTEXT
from ..results import AudioChunk, Speech, WordTimestamps
from .events import ContextCancelled, ContextDone, ItemDone, RealtimeEvent, TextReceived, TTSFailed
from .recording import Recorder
from .wire import b64decode, error_from_payload, words_from_payload

__all__ = ["Context", "context_of"]

# Events that belong to a context even when the server does not name one.
_CONTEXT_EVENTS = frozenset(
    {
        "conversation.item.audio_output.delta",
        "conversation.item.word_timestamps",
        "conversation.item.audio_output.done",
        "conversation.item.input_text.received",
        "context.done",
        "context.cancelled",
    }
)


def context_of(payload: dict, item_context: dict[str, str]) -> str | None:
    """The context an event belongs to; None for an event of the whole session."""
    context_id = payload.get("context_id")
    if context_id:
        return str(context_id)
    item_id = payload.get("item_id")
    if item_id is not None:
        return item_context.get(item_id, DEFAULT_CONTEXT)
    # Servers that do not name contexts speak in the default one.
    return DEFAULT_CONTEXT if payload.get("type") in _CONTEXT_EVENTS else None


@dataclass
class Context:
    """What one utterance of a context has received; a new one starts with the first text
    sent after a ``collect``."""

    started: float  # clock reading when text was first sent for this utterance
    recorder: Recorder
    item_starts: dict[str, int] = field(default_factory=dict)  # item id -> first sample
    item_ends: dict[str, int] = field(default_factory=dict)
    last_event: float = 0.0  # clock reading of the last event for this context
    committed: bool = False
    cancelled: bool = False
    collected: bool = False
    pending_commits: int = 0  # commits of this utterance not yet answered by context.done
    # Commits of earlier utterances still unanswered, when a collect ended early (on an
    # error or a timeout): what arrives before their context.done is theirs, not ours.
    stale_commits: int = 0
    text: list[str] = field(default_factory=list)
    error: APIError | None = None

    @property
    def open_items(self) -> set[str]:
        return set(self.item_starts) - set(self.item_ends)

    @property
    def sample_rate(self) -> int:
        return self.recorder.sample_rate or 1

    def receive(
        self, payload: dict, now: float, context_id: str, item_context: dict[str, str]
    ) -> RealtimeEvent | None:
        """Record an event of this context; returns it, or None for one to ignore."""
        kind = payload.get("type")
        arrival = now - self.started
        if kind == "context.cancelled":
            self.cancelled = True
            # No context.done comes for a cancelled context.
            self.pending_commits = self.stale_commits = 0
            return ContextCancelled(context_id, arrival)
        if self.stale_commits:
            if kind == "context.done":
                self.stale_commits -= 1
            return None  # an event of an utterance already collected
        self.last_event = now
        recorder = self.recorder
        recorder.arrived(arrival)
        item_id = payload.get("item_id")
        if item_id is not None:
            item_context.setdefault(item_id, context_id)
            self.item_starts.setdefault(item_id, len(recorder))
        if kind == "conversation.item.audio_output.delta":
            pcm = b64decode(payload.get("delta") or "")
            samples = _audio.decode_pcm(pcm[: len(pcm) - len(pcm) % 2], encoding="pcm_s16le")
            start_s = recorder.duration
            recorder.add(samples, arrival)
            return AudioChunk(samples, self.sample_rate, arrival, start_s, item_id, context_id)
        if kind == "conversation.item.word_timestamps":
            start_s = self.item_starts.get(item_id, len(recorder)) / self.sample_rate
            words = recorder.add_words(words_from_payload(payload), offset_s=start_s)
            return WordTimestamps(words, arrival, item_id, context_id)
        if kind == "conversation.item.audio_output.done":
            self.item_ends[item_id or ""] = len(recorder)
            return ItemDone(str(item_id), context_id, arrival)
        if kind == "conversation.item.input_text.received":
            return TextReceived(str(payload.get("text", "")), context_id, arrival)
        if kind == "context.done":
            self.pending_commits = max(0, self.pending_commits - 1)
            return ContextDone(context_id, arrival)
        if kind == "conversation.item.tts.failed" or "error" in payload:
            self.error = error_from_payload(payload.get("error", payload))
            return TTSFailed(self.error, context_id, arrival)
        return None

    def finished(self, settle_s: float, now: float, *, context_done: bool) -> bool:
        """Whether nothing more will come (see ``RealtimeSession.collect``)."""
        if self.cancelled or self.error is not None:
            return True
        if not self.committed:
            return False
        if context_done:
            return self.pending_commits == 0
        return bool(self.item_ends) and not self.open_items and now - self.last_event >= settle_s

    def speech(
        self, *, model: str, voice: str, endpoint: str, item_id: str | None, partial: bool
    ) -> Speech:
        """What was received so far, or for one item."""
        recorder = self.recorder
        recorder.done_s = self.last_event - self.started
        speech = recorder.speech(
            text="".join(self.text), model=model, voice=voice, endpoint=endpoint, partial=partial
        )
        if item_id is None:
            return speech
        if item_id not in self.item_starts:
            raise NoSuchItem(f"no item {item_id!r} in this context")
        start = self.item_starts[item_id] / self.sample_rate
        end = self.item_ends.get(item_id, len(recorder)) / self.sample_rate
        return speech.segment(start, end)
