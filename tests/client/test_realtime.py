"""The WebSocket session against the local eSpeak server."""

from __future__ import annotations

import time

import pytest

from ttskit.client import Client
from ttskit.errors import BadRequestError, StreamInterrupted, TimeoutError
from ttskit.realtime import ContextCancelled, ItemDone, SessionUpdated, TextReceived
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
