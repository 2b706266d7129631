"""The WebSocket session against the local eSpeak server."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from ttskit import audio
from ttskit.client import (
    Client,
    ContextCancelled,
    ItemDone,
    RealtimeSession,
    SessionUpdated,
    TextReceived,
)
from ttskit.errors import (
    BadRequestError,
    InvalidArgument,
    ProtocolError,
    ReadError,
    StreamInterrupted,
    TimeoutError,
)
from ttskit.results import AudioChunk, WordTimestamps


def events_until(session, predicate, timeout: float = 10.0) -> list:
    """Receive events until one satisfies ``predicate``; returns them all."""
    events = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = session.recv(timeout=timeout)
        events.append(event)
        if predicate(event):
            return events
    raise AssertionError(f"no such event among {events}")


def test_append_then_commit(espeak_client: Client) -> None:
    with espeak_client.realtime(alignment="word", segment="never") as session:
        assert session.session["voice"] == "en-us"
        session.append("Hello there, ")
        session.append("my friend")
        with pytest.raises(TimeoutError):  # "never": nothing is said before the commit
            events_until(session, lambda e: isinstance(e, AudioChunk), timeout=0.3)
        session.commit()
        speech = session.collect()
    assert speech.words["word"].tolist() == ["Hello", "there", "my", "friend"]
    assert speech.duration > 0.5 and speech.sample_rate == 24000
    assert speech.text == "Hello there, my friend"
    assert speech.endpoint == espeak_client.base_url
    assert 0 < speech.timing.first_audio_s <= speech.timing.done_s


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
    with espeak_client.realtime(alignment="word") as session:
        session.append("One two. Three four five.")
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


def test_clear_drops_the_buffer(espeak_client: Client) -> None:
    with espeak_client.realtime(alignment="word", segment="never") as session:
        session.append("This is never said")
        session.clear()
        session.append("Goodbye.")
        session.commit()
        speech = session.collect()
    assert speech.words["word"].tolist() == ["Goodbye"]


def test_cancel_stops_a_context(espeak_server) -> None:
    slow = Client(espeak_server.base_url, headers={"x-ttskit-faults": "delta_delay=0.05"})
    with slow.realtime() as session:
        session.append("A long answer that would take a good while to say. " * 3, context_id="a")
        session.commit(context_id="a")
        events_until(session, lambda e: isinstance(e, AudioChunk))
        session.cancel("a")
        events = events_until(session, lambda e: isinstance(e, ContextCancelled))
        assert events[-1].context_id == "a"
        speech = session.collect("a")
    assert 0 < speech.duration < 3


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
    sent_at: list[float] = []

    def tokens():
        for token in ["The ", "first ", "sentence", ". "]:
            yield token
        time.sleep(0.4)  # the model thinks; the first sentence should be spoken meanwhile
        for token in ["Then ", "the ", "second ", "one"]:
            sent_at.append(time.perf_counter())
            yield token

    started = time.perf_counter()
    with espeak_client.realtime(alignment="word") as session:
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
    # Audio for the first sentence arrived before the second was even written.
    first_audio_at = session._contexts["default"].started + speech.timing.first_audio_s
    assert first_audio_at < sent_at[0] and first_audio_at - started < 0.4


def test_realtime_speak_on_the_client(espeak_client: Client) -> None:
    speech = espeak_client.realtime_speak(iter(["Hi ", "there."]), alignment="word")
    assert speech.words["word"].tolist() == ["Hi", "there"]


def test_an_unknown_voice_fails_on_connect(espeak_client: Client) -> None:
    with pytest.raises(BadRequestError) as caught:
        espeak_client.realtime(voice="no-such-voice")
    assert "no-such-voice" in caught.value.message


def test_a_cut_connection_keeps_the_partial_audio(espeak_server) -> None:
    client = Client(espeak_server.base_url, headers={"x-ttskit-faults": "cut_after=2"})
    with client.realtime() as session:
        session.append("Some words to say. And some more words after them.")
        session.commit()
        with pytest.raises(StreamInterrupted) as caught:
            session.collect()
    assert caught.value.partial.duration == pytest.approx(0.2, abs=0.01)


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
        started = time.perf_counter()
        speech = session.collect()
    assert speech.duration == 0 and time.perf_counter() - started < 1


def test_a_context_said_twice_gives_each_utterance(espeak_client: Client) -> None:
    with espeak_client.realtime(alignment="word") as session:
        session.append("Hello there.")
        session.commit()
        first = session.collect()
        time.sleep(0.5)
        session.append("Second one.")
        session.commit()
        second = session.collect()
    assert first.words["word"].tolist() == ["Hello", "there"]
    assert second.words["word"].tolist() == ["Second", "one"]
    assert second.text == "Second one."
    assert second.words["start"].iloc[0] < 0.2  # from the start of its own audio
    assert second.timing.first_audio_s < 0.4  # timed from its own text, not the first's


def test_a_context_is_timed_from_its_first_text(espeak_client: Client) -> None:
    with espeak_client.realtime() as session:
        session.update(voice="en-us+f2")
        events_until(session, lambda e: isinstance(e, SessionUpdated))
        time.sleep(0.5)
        session.append("Hello there.")
        session.commit()
        speech = session.collect()
    assert speech.timing.first_audio_s < 0.4


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


@pytest.fixture
def ws_server() -> Iterator[Callable[[Callable[[ServerConnection], None]], str]]:
    """Serves a WebSocket handler on loopback; returns the base URL of the session."""
    servers = []

    def start(handler: Callable[[ServerConnection], None]) -> str:
        server = serve(handler, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.socket.getsockname()[1]}/v1"

    yield start
    for server in servers:
        server.shutdown()


def hosted_like(pause_s: float) -> Callable[[ServerConnection], None]:
    """A session without context.done: on commit, two items with ``pause_s`` between them."""
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
                time.sleep(pause_s)

    return handler


@pytest.mark.parametrize(("settle_s", "items"), [(0.1, 1), (1.0, 2)])
def test_without_context_done_a_context_ends_when_it_settles(
    ws_server, settle_s: float, items: int
) -> None:
    base_url = ws_server(hosted_like(pause_s=0.4))
    client = Client(base_url, model="m", voice="v")
    with client.realtime(settle_s=settle_s) as session:
        assert not session.sends_context_done
        session.append("Two sentences. Said apart.")
        session.commit()
        speech = session.collect()
    assert len(session.items()) == items
    assert speech.duration == pytest.approx(0.1 * items)


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
