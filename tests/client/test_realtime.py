"""The WebSocket session against the local eSpeak server."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection

from ttskit import audio
from ttskit.client import (
    Client,
    ItemDone,
    RealtimeSession,
    SessionUpdated,
    TextReceived,
)
from ttskit.errors import (
    BadRequestError,
    InvalidArgument,
    NoSuchItem,
    ProtocolError,
    ReadError,
    TimeoutError,
)
from ttskit.results import AudioChunk, WordTimestamps

from .conftest import ManualClock
from .ws_servers import flooding


def events_until(session, predicate, timeout: float = 10.0, limit: int = 10_000) -> list:
    """Receive events until one satisfies ``predicate``; returns them all.

    Each wait is bounded by ``timeout`` (a ttskit TimeoutError when nothing comes)."""
    events = []
    for _ in range(limit):
        event = session.recv(timeout=timeout)
        events.append(event)
        if predicate(event):
            return events
    raise AssertionError(f"no such event among {events}")


def watch_audio(session, arrived: threading.Event) -> None:
    """Set ``arrived`` when the session interprets its first audio chunk."""
    interpret = session._interpret

    def watching(payload):
        event = interpret(payload)
        if isinstance(event, AudioChunk):
            arrived.set()
        return event

    session._interpret = watching


def test_the_sentence_policy_speaks_before_the_commit(espeak_client: Client) -> None:
    with espeak_client.realtime(segment="sentence") as session:
        session.append("The first sentence is done. The second is")
        events = events_until(session, lambda e: isinstance(e, ItemDone))
        assert any(isinstance(e, TextReceived) for e in events)
        assert any(isinstance(e, AudioChunk) for e in events)
        first_item = session.speech()
        session.append(" not, until the commit.")
        session.commit()
        speech = session.collect()
    assert len(session.items()) >= 2
    assert speech.duration > first_item.duration


def test_items_are_collected_one_by_one(espeak_client: Client) -> None:
    # An item per append; with "sentence", sentences waiting one behind the other are one.
    with espeak_client.realtime(alignment="word", segment="immediate") as session:
        session.append("One two.")
        session.append(" Three four five.")
        session.commit()
        whole = session.collect()
        items = session.items()
        assert len(items) == 2
        first = session.speech(item_id=items[0])
        second = session.speech(item_id=items[1])
    assert first.words["word"].tolist() == ["One", "two"]
    assert second.words["word"].tolist() == ["Three", "four", "five"]
    assert second.words["start"].iloc[0] >= 0  # relative to the item
    assert first.duration + second.duration == pytest.approx(whole.duration, abs=2 / 24000)
    # In the context's Speech, the second item's words follow the first item's audio.
    assert whole.words["start"].iloc[2] >= first.duration - 1e-6


def test_contexts_are_kept_apart(espeak_client: Client) -> None:
    with espeak_client.realtime(alignment="word") as session:
        session.append("Apples and pears.", context_id="fruit")
        session.append("Carrots.", context_id="veg")
        session.commit(context_id="veg")
        session.commit(context_id="fruit")
        fruit = session.collect("fruit")
        veg = session.collect("veg")
    assert fruit.words["word"].tolist() == ["Apples", "and", "pears"]
    assert veg.words["word"].tolist() == ["Carrots"]
    assert veg.words["start"].iloc[0] == pytest.approx(0.0, abs=0.05)


def test_update_changes_the_voice(espeak_client: Client) -> None:
    with espeak_client.realtime() as session:
        session.update(voice="en-gb")
        event = events_until(session, lambda e: isinstance(e, SessionUpdated))[-1]
        assert event.session["voice"] == "en-gb"
        session.append("Cheerio.")
        session.commit()
        speech = session.collect()
    assert speech.voice == "en-gb" and speech.duration > 0


def test_a_token_iterator_is_spoken_while_it_runs(espeak_client: Client) -> None:
    first_audio = threading.Event()

    def tokens():
        yield from ["The ", "first ", "sentence", ". "]
        # The model thinks until the first sentence has been heard: this only ends if
        # audio is received while the iterator is still running.
        assert first_audio.wait(30), "no audio arrived while the tokens were being written"
        yield from ["Then ", "the ", "second ", "one"]

    with espeak_client.realtime(alignment="word") as session:
        watch_audio(session, first_audio)
        speech = session.speak_iter(tokens())
    assert speech.words["word"].tolist() == [
        "The",
        "first",
        "sentence",
        "Then",
        "the",
        "second",
        "one",
    ]
    assert speech.text == "The first sentence. Then the second one"


def test_events_carry_their_context(espeak_client: Client) -> None:
    with espeak_client.realtime(alignment="word") as session:
        session.append("Hello.", context_id="c1")
        session.commit(context_id="c1")
        events = events_until(session, lambda e: isinstance(e, ItemDone))
    typed = [e for e in events if isinstance(e, AudioChunk | WordTimestamps | ItemDone)]
    assert typed and all(e.context_id == "c1" for e in typed)


# --- when a context is finished ----------------------------------------------------------------


def test_a_slow_next_sentence_is_waited_for(espeak_server) -> None:
    # Each item's audio starts 0.6 s late, far longer than the session's settle_s: only
    # the server's context.done says when the context is finished.
    slow = Client(espeak_server.base_url, headers={"x-ttskit-faults": "first_audio_delay=0.6"})
    with slow.realtime(alignment="word", segment="never", settle_s=0.2) as session:
        assert session.sends_context_done
        session.append("Hello there. Then a second sentence.")
        session.commit()
        speech = session.collect()
    assert speech.words["word"].tolist() == ["Hello", "there", "Then", "a", "second", "sentence"]


def test_a_commit_of_nothing_is_collected_at_once(espeak_client: Client) -> None:
    with espeak_client.realtime(timeout=5) as session:
        session.append("Hello.")
        session.commit()
        assert session.collect().duration > 0
        session.commit()
        # context.done answers the empty commit; without it this would be a TimeoutError.
        speech = session.collect()
    assert speech.duration == 0


def test_a_context_said_twice_gives_each_utterance(espeak_server) -> None:
    clock = ManualClock()
    client = Client(espeak_server.base_url, clock=clock)
    with client.realtime(alignment="word") as session:
        session.append("Hello there.")
        session.commit()
        first = session.collect()
        clock.now += 100  # a long pause before the context speaks again
        session.append("Second one.")
        session.commit()
        second = session.collect()
    assert first.words["word"].tolist() == ["Hello", "there"]
    assert second.words["word"].tolist() == ["Second", "one"]
    assert second.text == "Second one."
    assert second.words["start"].iloc[0] < 0.2  # from the start of its own audio
    assert second.timing.first_audio_s == 0  # timed from its own text, not the first's


def test_a_context_is_timed_from_its_first_text(espeak_server) -> None:
    clock = ManualClock()
    client = Client(espeak_server.base_url, clock=clock)
    with client.realtime() as session:
        session.update(voice="en-us+f2")
        events_until(session, lambda e: isinstance(e, SessionUpdated))
        clock.now += 100  # the session sat idle before any text
        session.append("Hello there.")
        clock.now += 0.25
        session.commit()
        speech = session.collect()
    assert speech.timing.first_audio_s == 0.25


def test_a_refused_update_is_raised_once_and_changes_nothing(espeak_client: Client) -> None:
    with espeak_client.realtime(alignment="word") as session:
        session.update(voice="no-such-voice")
        assert session.voice == "en-us"  # nothing changes before the server says so
        session.append("Hello there.")
        session.commit()
        with pytest.raises(BadRequestError, match="no-such-voice"):
            session.collect()
        assert session.voice == "en-us"
        session.append("Hello again.")
        session.commit()
        speech = session.collect()
    assert speech.words["word"].tolist() == ["Hello", "again"]
    assert speech.voice == "en-us"


def test_the_sample_rate_cannot_change_during_a_session(espeak_client: Client) -> None:
    with espeak_client.realtime(alignment="word") as session:
        with pytest.raises(InvalidArgument, match="sample_rate=16000"):
            session.update(sample_rate=16000)
        session.append("Hello there.")
        session.commit()
        speech = session.collect()
    assert speech.sample_rate == 24000
    assert speech.words["end"].iloc[-1] <= speech.duration + 1e-6


# --- servers that do not say when a context is done, or misbehave ------------------------------


def hosted_like(handler_done: threading.Event) -> Callable[[ServerConnection], None]:
    """A session without context.done: on commit, two items, and then nothing."""
    pcm = base64.b64encode(
        audio.encode_pcm(audio.sine(440, duration=0.1, sample_rate=24000))
    ).decode()

    def handler(ws: ServerConnection) -> None:
        ws.send(json.dumps({"type": "session.created", "session": {"id": "s", "voice": "v"}}))
        for message in ws:
            if json.loads(message)["type"] != "input_text_buffer.commit":
                continue
            for number in (1, 2):
                item = f"tts_{number}"
                ws.send(json.dumps({"type": "conversation.item.audio_output.delta",
                                    "item_id": item, "delta": pcm}))  # fmt: skip
                ws.send(json.dumps({"type": "conversation.item.audio_output.done",
                                    "item_id": item}))  # fmt: skip
            handler_done.set()

    return handler


def test_without_context_done_a_context_ends_when_it_settles(ws_server) -> None:
    # The clock moves 0.1 s each time the session reads it: it is its own pace, not the
    # machine's, that makes the context settle.
    sent = threading.Event()
    client = Client(ws_server(hosted_like(sent)), model="m", voice="v", clock=ManualClock(step=0.1))
    with client.realtime(settle_s=1.0) as session:
        assert not session.sends_context_done
        session.append("Two sentences. Said apart.")
        session.commit()
        speech = session.collect()
    assert sent.is_set() and len(session.items()) == 2
    assert speech.duration == pytest.approx(0.2)


@pytest.mark.parametrize(("quiet_s", "finished"), [(0.4, True), (0.1, False)])
def test_settling_is_measured_on_the_injected_clock(quiet_s: float, finished: bool) -> None:
    from ttskit.client.contexts import Context
    from ttskit.client.recording import Recorder

    context = Context(started=10.0, recorder=Recorder(24000), committed=True, last_event=10.0)
    context.item_starts["tts_1"], context.item_ends["tts_1"] = 0, 2400
    assert context.finished(0.25, 10.0 + quiet_s, context_done=False) is finished
    context.item_starts["tts_2"] = 2400  # an item still open is never finished
    assert not context.finished(0.25, 100.0, context_done=False)


@pytest.mark.parametrize(
    ("first", "error"),
    [(None, ReadError), ("not json", ProtocolError), ("quiet", TimeoutError)],
)
def test_a_failed_start_closes_the_socket(ws_server, first: str | None, error: type) -> None:
    closed = threading.Event()

    def handler(ws: ServerConnection) -> None:
        if first is None:
            ws.close()
            return
        if first != "quiet":
            ws.send(first)
        try:
            ws.recv(timeout=5)
        except ConnectionClosed:
            closed.set()

    base_url = ws_server(handler)
    with pytest.raises(error):
        RealtimeSession(base_url, {"model": "m"}, sample_rate=24000, timeout=0.5)
    assert first is None or closed.wait(2)


# --- a server that never finishes: the deadline and the audio bound hold -------------------


def test_collect_and_speak_iter_keep_their_deadline(ws_server) -> None:
    client = Client(ws_server(flooding("other context")), model="m", voice="v", timeout=0.5)
    with client.realtime() as session:
        session.append("Hello.")
        session.commit()
        with pytest.raises(TimeoutError, match="collecting context 'default'"):
            session.collect()
        with pytest.raises(TimeoutError, match="speaking into context 'default'"):
            session.speak_iter(["Hello."], timeout=0.2)
        # The other context's audio was never kept: the session never spoke in it.
        with pytest.raises(NoSuchItem, match="intruder"):
            session.speech("intruder")
