"""GET /v1/audio/speech/websocket: every message type of PROTOCOL.md section 3."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from ttskit import audio

from .helpers import open_ws, post_speech, ws_recv, ws_send, ws_until

LONG_SENTENCE = (
    "This is a long sentence that goes on and on, with many words in it, so that its "
    "audio lasts for several seconds and an interruption can land in the middle of it, "
    "well before the speaker has reached its end"
)


@dataclass
class Item:
    context_id: str
    words: list[str] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    pcm: bytes = b""
    done: bool = False


def collect_items(ws, n_items: int, timeout: float = 10.0) -> dict[str, Item]:
    """Events until ``n_items`` items are done, by item id, checking their order."""
    items: dict[str, Item] = {}
    while sum(item.done for item in items.values()) < n_items:
        event = ws_recv(ws, timeout)
        kind = event["type"]
        if kind in ("conversation.item.input_text.received", "context.done"):
            continue
        assert kind.startswith("conversation.item."), event
        assert kind != "conversation.item.tts.failed", event
        item = items.setdefault(event["item_id"], Item(event["context_id"]))
        assert not item.done and item.context_id == event["context_id"]
        if kind == "conversation.item.word_timestamps":
            # Each segment's words come just before its audio, timed from the item's start.
            item.words += event["words"]
            item.starts += event["start_seconds"]
            item.ends += event["end_seconds"]
        elif kind == "conversation.item.audio_output.delta":
            assert set(event) == {"type", "item_id", "context_id", "delta"}
            item.pcm += base64.b64decode(event["delta"])
        else:
            assert kind == "conversation.item.audio_output.done"
            item.done = True
    return items


def assert_quiet(ws, seconds: float = 0.4) -> None:
    """Nothing arrives for ``seconds``."""
    with pytest.raises(TimeoutError):
        event = ws_recv(ws, seconds)
        pytest.fail(f"unexpected event {event}")


def append(ws, text: str, **extra) -> None:
    ws_send(ws, type="input_text_buffer.append", text=text, **extra)
    received = ws_recv(ws)
    assert received["type"] == "conversation.item.input_text.received"
    assert received["text"] == text


def test_session_created_first(espeak_server):
    with open_ws(espeak_server, model="espeak", voice="en-us+f2", sample_rate=16000) as ws:
        event = ws_recv(ws)
        assert event["type"] == "session.created"
        assert event["event_id"]
        session = event["session"]
        assert session["object"] == "realtime.tts.session"
        assert session["modalities"] == ["text", "audio"]
        assert session["model"] == "espeak" and session["voice"] == "en-us+f2"
        assert session["id"].startswith("sess_")
        assert session["sample_rate"] == 16000 and session["response_format"] == "pcm"
        assert session["context_done"] is True


def test_defaults_without_query(espeak_server):
    with open_ws(espeak_server) as ws:
        session = ws_recv(ws)["session"]
        assert session["model"] == "espeak" and session["voice"] == "en-us"
        assert session["segment"] == "sentence" and session["max_partial_length"] == 250


@pytest.mark.parametrize(
    "query, param, code",
    [
        ({"voice": "no-such-voice"}, "voice", "voice_not_found"),
        ({"voice": "en-us+zz9"}, "voice", "voice_not_found"),
        ({"model": "no-such-model"}, "model", "model_not_found"),
        ({"sample_rate": "fast"}, "sample_rate", "invalid_type"),
        ({"sample_rate": "96000"}, "sample_rate", "invalid_value"),
        ({"segment": "words"}, "segment", "invalid_value"),
        ({"response_format": "mp3"}, "response_format", "invalid_value"),
    ],
)
def test_bad_session_fails_first(espeak_server, query, param, code):
    with open_ws(espeak_server, **query) as ws:
        event = ws_recv(ws)
        assert event["type"] == "conversation.item.tts.failed"
        assert event["error"]["param"] == param and event["error"]["code"] == code
        with pytest.raises(ConnectionClosed):
            ws_recv(ws)


def test_sentence_policy_speaks_each_complete_sentence_at_once(espeak_server):
    with open_ws(espeak_server, alignment="word") as ws:
        ws_recv(ws)
        append(ws, "Hello world. How are")
        first = collect_items(ws, 1)
        assert [item.words for item in first.values()] == [["Hello", "world"]]
        append(ws, " you")
        assert_quiet(ws)
        # "you?" ends a sentence only once something follows it.
        append(ws, "? Fine")
        second = collect_items(ws, 1)
        assert [item.words for item in second.values()] == [["How", "are", "you"]]
        ws_send(ws, type="input_text_buffer.commit")
        third = collect_items(ws, 1)
        assert [item.words for item in third.values()] == [["Fine"]]
        assert list(first) + list(second) + list(third) == ["tts_1", "tts_2", "tts_3"]


def test_max_partial_length(espeak_server):
    with open_ws(espeak_server, alignment="word", max_partial_length=20) as ws:
        ws_recv(ws)
        append(ws, "one two three four")
        assert_quiet(ws)
        append(ws, " five six")
        (item,) = collect_items(ws, 1).values()
        # Cut after the last whole word; "six" may still grow.
        assert item.words == ["one", "two", "three", "four", "five"]
        ws_send(ws, type="input_text_buffer.commit")
        (rest,) = collect_items(ws, 1).values()
        assert rest.words == ["six"]


def test_immediate_policy_speaks_each_append(espeak_server):
    with open_ws(espeak_server, alignment="word", segment="immediate") as ws:
        ws_recv(ws)
        append(ws, "Hello")
        assert [item.words for item in collect_items(ws, 1).values()] == [["Hello"]]
        append(ws, "there my friend")
        assert [item.words for item in collect_items(ws, 1).values()] == [["there", "my", "friend"]]


def test_never_policy_waits_for_commit(espeak_server):
    with open_ws(espeak_server, alignment="word", segment="never") as ws:
        ws_recv(ws)
        append(ws, "First sentence. Second one. ")
        append(ws, "Third")
        assert_quiet(ws)
        ws_send(ws, type="input_text_buffer.commit")
        items = collect_items(ws, 1)
        # One item per commit, however many sentences the engine speaks it in.
        assert [item.words for item in items.values()] == [
            ["First", "sentence", "Second", "one", "Third"]
        ]
        assert ws_recv(ws) == {"type": "context.done", "context_id": "default"}
        assert_quiet(ws)


def test_commit_of_an_empty_buffer_says_only_that_it_is_done(espeak_server):
    with open_ws(espeak_server) as ws:
        ws_recv(ws)
        ws_send(ws, type="input_text_buffer.commit")
        assert ws_recv(ws) == {"type": "context.done", "context_id": "default"}
        assert_quiet(ws)


def test_context_done_follows_the_last_item_of_each_commit(espeak_server):
    with open_ws(espeak_server, segment="never") as ws:
        ws_recv(ws)
        append(ws, "A first sentence.")
        ws_send(ws, type="input_text_buffer.commit")
        # No wait for the acknowledgement: audio of the first commit may come before it.
        ws_send(
            ws,
            type="input_text_buffer.append",
            text="Then a much longer second sentence, said after a pause. And a third.",
        )
        ws_send(ws, type="input_text_buffer.commit")
        events = ws_until(ws, "context.done") + ws_until(ws, "context.done")
        assert_quiet(ws)
    ends = [e["type"] for e in events if e["type"].endswith("done")]
    assert ends == [
        "conversation.item.audio_output.done",
        "context.done",
        "conversation.item.audio_output.done",
        "context.done",
    ]
    assert all(e["context_id"] == "default" for e in events if "context_id" in e)


def test_a_cancelled_context_is_not_done(espeak_server):
    with open_ws(espeak_server, segment="never") as ws:
        ws_recv(ws)
        append(ws, "Sentence number one. " * 10, context_id="gone")
        ws_send(ws, type="input_text_buffer.commit", context_id="gone")
        ws_until(ws, "conversation.item.audio_output.delta")
        ws_send(ws, type="context.cancel", context_id="gone")
        events = ws_until(ws, "context.cancelled")
        assert "context.done" not in [e["type"] for e in events]
        assert_quiet(ws)


def test_clear_drops_buffered_text(espeak_server):
    with open_ws(espeak_server, alignment="word", segment="never") as ws:
        ws_recv(ws)
        append(ws, "Forget this.")
        ws_send(ws, type="input_text_buffer.clear")
        ws_send(ws, type="input_text_buffer.commit")
        assert ws_recv(ws)["type"] == "context.done"
        assert_quiet(ws)
        append(ws, "Say this.")
        ws_send(ws, type="input_text_buffer.commit")
        assert [item.words for item in collect_items(ws, 1).values()] == [["Say", "this"]]


def test_items_are_audio_at_the_session_rate_with_relative_words(espeak_server):
    with open_ws(espeak_server, alignment="word", sample_rate=16000, segment="immediate") as ws:
        ws_recv(ws)
        append(ws, "The first sentence is here.")
        first = collect_items(ws, 1)
        append(ws, "And then a second sentence follows. And a third.")
        second = collect_items(ws, 1)
    for item in [*first.values(), *second.values()]:
        samples = audio.decode_pcm(item.pcm, encoding="pcm_s16le")
        duration = samples.size / 16000
        assert audio.rms_dbfs(samples) > -40
        # Times are relative to the item: each starts near zero and ends within it.
        assert item.starts[0] < 0.3
        assert item.ends[-1] <= duration + 1e-3
        assert item.starts == sorted(item.starts)
    # The second item's two sentences are timed on one clock.
    (item,) = second.values()
    assert item.starts[item.words.index("And", 1)] > item.ends[item.words.index("follows")] - 1e-3


def test_contexts_are_separate(espeak_server):
    with open_ws(espeak_server, alignment="word", segment="never") as ws:
        ws_recv(ws)
        append(ws, "Alpha speaks.", context_id="a")
        append(ws, "Beta speaks.", context_id="b")
        ws_send(ws, type="input_text_buffer.commit", context_id="b")
        (item,) = collect_items(ws, 1).values()
        assert item.context_id == "b" and item.words == ["Beta", "speaks"]
        ws_send(ws, type="input_text_buffer.commit", context_id="a")
        (item,) = collect_items(ws, 1).values()
        assert item.context_id == "a" and item.words == ["Alpha", "speaks"]


def test_at_most_100_contexts(espeak_server):
    with open_ws(espeak_server) as ws:
        ws_recv(ws)
        for number in range(100):
            append(ws, "", context_id=f"c{number}")
        ws_send(ws, type="input_text_buffer.append", text="", context_id="c100")
        event = ws_recv(ws)
        assert event["type"] == "conversation.item.tts.failed"
        assert event["error"]["code"] == "too_many_contexts"
        # A cancelled context makes room for a new one.
        ws_send(ws, type="context.cancel", context_id="c0")
        assert ws_recv(ws) == {"type": "context.cancelled", "context_id": "c0"}
        append(ws, "", context_id="c100")


def test_cancel_stops_a_context(espeak_server):
    long_text = " ".join(f"Sentence number {n} is spoken now." for n in range(40))
    with open_ws(espeak_server, segment="never") as ws:
        ws_recv(ws)
        append(ws, long_text, context_id="long")
        ws_send(ws, type="input_text_buffer.commit", context_id="long")
        ws_until(ws, "conversation.item.audio_output.delta")
        ws_send(ws, type="context.cancel", context_id="long")
        events = ws_until(ws, "context.cancelled")
        assert events[-1] == {"type": "context.cancelled", "context_id": "long"}
        assert len([e for e in events if e["type"].endswith("done")]) < 39
        assert_quiet(ws)
        # The connection and other contexts go on.
        append(ws, "Still here.", context_id="other")
        ws_send(ws, type="input_text_buffer.commit", context_id="other")
        (item,) = collect_items(ws, 1).values()
        assert item.context_id == "other"


def test_update_session(espeak_server):
    with open_ws(espeak_server, segment="never") as ws:
        ws_recv(ws)
        ws_send(ws, type="tts_session.updated", session={"voice": "en-us+f2", "speed": 1.5})
        event = ws_recv(ws)
        assert event["type"] == "session.updated"
        assert event["session"]["voice"] == "en-us+f2" and event["session"]["speed"] == 1.5
        ws_send(
            ws, type="tts_session.updated", session={"sample_rate": 8000, "segment": "immediate"}
        )
        assert ws_recv(ws)["session"]["sample_rate"] == 8000
        append(ws, "Quick now.")
        (item,) = collect_items(ws, 1).values()
        assert len(item.pcm) // 2 < 8000 * 1.5


@pytest.mark.parametrize(
    "session, param, code",
    [
        ({"voice": "no-such-voice"}, "voice", "voice_not_found"),
        ({"speed": 9}, "speed", "invalid_value"),
        ({"sample_rate": "many"}, "sample_rate", "invalid_type"),
        ("fast please", "session", "invalid_type"),
    ],
)
def test_bad_update_leaves_the_session_as_it_was(espeak_server, session, param, code):
    with open_ws(espeak_server) as ws:
        before = ws_recv(ws)["session"]
        ws_send(ws, type="tts_session.updated", session=session)
        event = ws_recv(ws)
        assert event["type"] == "conversation.item.tts.failed"
        assert event["error"]["param"] == param and event["error"]["code"] == code
        ws_send(ws, type="tts_session.updated", session={})
        assert ws_recv(ws)["session"] == before


GARBAGE = [
    (b"\x00\x01binary", None, "invalid_frame"),
    ("not json", None, "invalid_json"),
    ("[1, 2]", None, "invalid_type"),
    ('{"text": "no type"}', "type", "missing"),
    ('{"type": "input_text_buffer.shout"}', "type", "unknown_event_type"),
    ('{"type": 5}', "type", "unknown_event_type"),
    ('{"type": "input_text_buffer.append", "text": 5}', "text", "invalid_type"),
    ('{"type": "input_text_buffer.append"}', "text", "invalid_type"),
    ('{"type": "input_text_buffer.commit", "context_id": 7}', "context_id", "invalid_value"),
    ('{"type": "input_text_buffer.commit", "context_id": ""}', "context_id", "invalid_value"),
    ('{"type": "input_text_buffer.append", "text": "Hi \\ud800."}', "text", "invalid_unicode"),
    (
        '{"type": "input_text_buffer.append", "text": "Hi.", "x": ' + "[" * 1000 + "]" * 1000 + "}",
        None,
        "nested_too_deep",
    ),
    (
        '{"type": "input_text_buffer.append", "text": "Hi.", "n": ' + "1" * 5000 + "}",
        None,
        "number_too_large",
    ),
]


@pytest.mark.parametrize("frame, param, code", GARBAGE)
def test_garbage_frames_fail_and_the_connection_goes_on(espeak_server, frame, param, code):
    with open_ws(espeak_server, alignment="word", segment="never") as ws:
        ws_recv(ws)
        ws.send(frame)
        event = ws_recv(ws)
        assert event["type"] == "conversation.item.tts.failed"
        error = event["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert (error["param"], error["code"]) == (param, code)
        append(ws, "Still fine.")
        ws_send(ws, type="input_text_buffer.commit")
        assert [item.words for item in collect_items(ws, 1).values()] == [["Still", "fine"]]


def test_buffer_limit(make_server):
    server = make_server(max_input_chars=30)
    with open_ws(server, segment="never") as ws:
        ws_recv(ws)
        append(ws, "a" * 20)
        ws_send(ws, type="input_text_buffer.append", text="b" * 20)
        event = ws_recv(ws)
        assert event["error"]["code"] == "input_too_long" and event["error"]["param"] == "text"


def test_hosted_alias_and_unknown_voice_fall_back(espeak_server):
    with open_ws(espeak_server, model="canopylabs/orpheus-3b-0.1-ft", voice="tara") as ws:
        session = ws_recv(ws)["session"]
        assert session["model"] == "canopylabs/orpheus-3b-0.1-ft"
        assert session["voice"] == "en-us"


def test_streamed_items_sound_like_rest_audio(espeak_server):
    with open_ws(espeak_server, segment="never") as ws:
        ws_recv(ws)
        append(ws, "One sentence only.")
        ws_send(ws, type="input_text_buffer.commit")
        (item,) = collect_items(ws, 1).values()
    samples = audio.decode_pcm(item.pcm, encoding="pcm_s16le")
    assert np.isfinite(samples).all() and 0.5 < samples.size / 24000 < 3


def test_a_surrogate_in_a_later_sentence_fails_only_its_append(espeak_server):
    with open_ws(espeak_server, segment="sentence") as ws:
        ws_recv(ws)
        append(ws, "Hello there. ")
        ws.send('{"type": "input_text_buffer.append", "text": "And \\udfff here."}')
        events = ws_until(ws, "conversation.item.tts.failed")
        failed = events[-1]
        assert (failed["error"]["param"], failed["error"]["code"]) == ("text", "invalid_unicode")
        ws_send(ws, type="input_text_buffer.commit")
        events += ws_until(ws, "context.done")
        assert [e for e in events if e["type"] == "conversation.item.audio_output.done"]


@pytest.mark.parametrize("field", ["type", "context_id", "text", "session"])
def test_errors_do_not_echo_large_fields(espeak_server, field):
    big = "x" * 60_000
    event = {"type": "tts_session.updated", "session": {"voice": "en-us"}}
    event[field] = [big] if field == "text" else big
    if field == "text":
        event["type"] = "input_text_buffer.append"
    with open_ws(espeak_server) as ws:
        ws_recv(ws)
        ws_send(ws, **event)
        failed = ws_recv(ws)
        assert failed["type"] == "conversation.item.tts.failed"
        assert len(failed["error"]["message"]) < 300, failed["error"]["message"][:100]


def test_frames_far_larger_than_a_request_body_close_the_connection(make_server):
    server = make_server(max_input_chars=100)
    with open_ws(server) as ws:
        ws_recv(ws)
        with pytest.raises(ConnectionClosed) as closed:
            ws_send(ws, type="input_text_buffer.append", text="x" * 5_000_000)
            ws_recv(ws)
    # Message too big, and nothing echoed (the close may be lost as the server stops reading).
    assert closed.value.rcvd is None or closed.value.rcvd.code == 1009
    still_serving_ws(server)


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1"])
def test_websocket_from_another_origin_is_refused(espeak_server, origin):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus) as refused:
        connect(espeak_server.websocket_url, origin=origin)
    assert refused.value.response.status_code == 403
    assert b"origin_not_allowed" in refused.value.response.body


def test_websocket_from_its_own_or_an_allowed_origin(make_server):
    from websockets.sync.client import connect

    server = make_server(cors_origins=["http://localhost:8888"])
    for origin in (server.url, "http://localhost:8888", "HTTP://LOCALHOST:8888/"):
        with connect(server.websocket_url, origin=origin) as ws:
            assert ws_recv(ws)["type"] == "session.created"


# --- interruptions ---------------------------------------------------------------------------


def open_paced(server, faults="delta_delay=0.05", **params):
    """A session with injected delays: by default deltas 50 ms apart, as a slow engine
    sends them."""
    from urllib.parse import urlencode

    return connect(
        f"{server.websocket_url}?{urlencode(params)}",
        additional_headers={"x-ttskit-faults": faults},
        open_timeout=10,
        close_timeout=2,
    )


def seconds_of(pcm: bytes, rate: int = 24000) -> float:
    return len(pcm) / 2 / rate


@pytest.mark.parametrize("stop", ["clear", "cancel"])
def test_an_interruption_stops_the_item_being_spoken(espeak_server, stop):
    with open_paced(espeak_server, segment="never") as ws:
        ws_recv(ws)
        append(ws, LONG_SENTENCE)
        ws_send(ws, type="input_text_buffer.commit")
        first = ws_until(ws, "conversation.item.audio_output.delta")[-1]
        if stop == "clear":
            ws_send(ws, type="input_text_buffer.clear")
        else:
            ws_send(ws, type="context.cancel", context_id="default")
        after = ws_until(
            ws, "conversation.item.audio_output.done" if stop == "clear" else "context.cancelled"
        )
        late = b"".join(
            base64.b64decode(e["delta"])
            for e in after
            if e["type"] == "conversation.item.audio_output.delta"
        )
        # What was on its way when the clear left, not the seconds of the sentence.
        assert seconds_of(late) < 0.2
        if stop == "clear":
            assert after[-1]["item_id"] == first["item_id"]
            assert ws_recv(ws) == {"type": "context.done", "context_id": "default"}
        else:
            assert "conversation.item.audio_output.done" not in [e["type"] for e in after]
        # The next commit is spoken at once, and whole.
        append(ws, "Short reply.")
        ws_send(ws, type="input_text_buffer.commit")
        events = ws_until(ws, "conversation.item.audio_output.done")
    reply = [e for e in events if e["type"] == "conversation.item.audio_output.delta"]
    assert {e["item_id"] for e in reply} == {events[-1]["item_id"]} != {first["item_id"]}
    pcm = b"".join(base64.b64decode(e["delta"]) for e in reply)
    expected, rate = audio.decode_file(post_speech(espeak_server, input="Short reply.").content)
    assert abs(seconds_of(pcm) - expected.size / rate) < 0.1


def test_a_clear_owes_the_commit_its_context_done(espeak_server):
    with open_paced(espeak_server, segment="never") as ws:
        ws_recv(ws)
        append(ws, LONG_SENTENCE)
        ws_send(ws, type="input_text_buffer.commit")
        ws_until(ws, "conversation.item.audio_output.delta")
        ws_send(ws, type="input_text_buffer.clear")
        events = ws_until(ws, "context.done")
    kinds = [e["type"] for e in events]
    assert kinds.index("conversation.item.audio_output.done") < kinds.index("context.done")


def test_clear_stops_an_item_still_waiting_for_its_first_audio(espeak_server):
    with open_paced(espeak_server, "first_audio_delay=30", segment="never", alignment="word") as ws:
        ws_recv(ws)
        append(ws, LONG_SENTENCE)
        ws_send(ws, type="input_text_buffer.commit")
        # The words come before the first audio, which the fault holds back.
        ws_until(ws, "conversation.item.word_timestamps")
        ws_send(ws, type="input_text_buffer.clear")
        events = ws_until(ws, "context.done")
    assert [e["type"] for e in events] == ["conversation.item.audio_output.done", "context.done"]


@pytest.mark.parametrize(
    "segment, appends, items",
    [
        ("never", ["One. Two. ", "Three."], [["One", "Two", "Three"]]),
        ("immediate", ["One. Two. ", "Three."], [["One", "Two"], ["Three"]]),
        # Sentences waiting one behind the other are one item, as a streamed reply is.
        ("sentence", ["One. Two. Three. "], [["One", "Two", "Three"]]),
    ],
)
def test_an_item_per_piece_of_the_segment_policy(espeak_server, segment, appends, items):
    with open_ws(espeak_server, alignment="word", segment=segment) as ws:
        ws_recv(ws)
        # Not ``append``: with "immediate" the first piece's words may come before the
        # second append's receipt.
        for text in appends:
            ws_send(ws, type="input_text_buffer.append", text=text)
        ws_send(ws, type="input_text_buffer.commit")
        events = ws_until(ws, "context.done")
    received = [e["text"] for e in events if e["type"] == "conversation.item.input_text.received"]
    assert received == appends
    spoken: dict[str, list[str]] = {}
    for event in events:
        if event["type"] == "conversation.item.word_timestamps":
            spoken.setdefault(event["item_id"], []).extend(event["words"])
    dones = [e["item_id"] for e in events if e["type"] == "conversation.item.audio_output.done"]
    assert list(spoken.values()) == items and dones == list(spoken)


# --- what one session may queue ----------------------------------------------------------------


def test_text_waiting_for_synthesis_is_bounded(make_server):
    server = make_server(max_input_chars=200)
    with open_paced(server, "first_audio_delay=30", segment="immediate") as ws:
        ws_recv(ws)
        # The first piece is in synthesis (waiting for its first audio), the next waits.
        append(ws, "word " * 30)
        append(ws, "word " * 30)
        refused = 0
        for _ in range(50):
            ws_send(ws, type="input_text_buffer.append", text="word " * 30)
            event = ws_recv(ws)
            if event["type"] == "conversation.item.tts.failed":
                assert event["error"]["code"] == "input_too_long"
                refused += 1
        assert refused >= 49
        # A clear makes room again, and the session goes on.
        ws_send(ws, type="input_text_buffer.clear")
        ws_send(ws, type="input_text_buffer.append", text="word " * 30)
        events = ws_until(ws, "conversation.item.input_text.received")
        assert "conversation.item.tts.failed" not in [e["type"] for e in events]


def test_an_oversized_frame_fails_alone(make_server):
    server = make_server(max_input_chars=100)
    with open_ws(server, segment="never") as ws:
        ws_recv(ws)
        append(ws, "Before.")
        ws_send(ws, type="input_text_buffer.append", text="x" * 500_000)
        event = ws_recv(ws)
        assert event["type"] == "conversation.item.tts.failed"
        assert event["error"]["code"] == "frame_too_large"
        assert len(event["error"]["message"]) < 300
        ws_send(ws, type="input_text_buffer.commit")
        (item,) = collect_items(ws, 1).values()
        assert item.pcm


def test_bad_utf8_is_one_warning_line(make_server, caplog):
    import logging
    import socket

    server = make_server()
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as raw:
        raw.sendall(
            b"GET /v1/audio/speech/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        with caplog.at_level(logging.INFO):
            reply = b""
            while b"session.created" not in reply:
                reply += raw.recv(65536)
            # A masked text frame of the bytes ff fe, which are no UTF-8.
            raw.sendall(bytes([0x81, 0x82, 0, 0, 0, 0, 0xFF, 0xFE]))
            closing = b""
            while chunk := raw.recv(65536):
                closing += chunk
    assert b"\x88\x02\x03\xef" in closing  # close 1007, invalid frame payload data
    records = [r for r in caplog.records if "UTF-8" in r.getMessage()]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING and records[0].exc_info is None
    still_serving_ws(server)


def still_serving_ws(server) -> None:
    with open_ws(server, segment="never") as ws:
        ws_recv(ws)
        append(ws, "Still here.")
        ws_send(ws, type="input_text_buffer.commit")
        assert collect_items(ws, 1)


def test_compression_is_off_by_default(espeak_server):
    with open_ws(espeak_server) as ws:
        assert not ws.protocol.extensions
        assert ws_recv(ws)["type"] == "session.created"


def test_sentences_committed_one_behind_the_other_are_one_item(espeak_server):
    """As a voice agent sends a reply: a commit per sentence, all before the first is
    spoken. One item (a client may end its reply at the first done), a context.done per
    commit right after that commit's audio."""
    sentences = ["Here is a reply.", "It has three sentences.", "Each one is spoken."]
    with open_paced(espeak_server, alignment="word") as ws:
        ws_recv(ws)
        for sentence in sentences:
            ws_send(ws, type="input_text_buffer.append", text=sentence)
            ws_send(ws, type="input_text_buffer.commit")
        events = []
        while [e["type"] for e in events].count("context.done") < 3:
            events.append(ws_recv(ws))
    dones = [e for e in events if e["type"] == "conversation.item.audio_output.done"]
    assert len(dones) == 1
    words = [e["words"] for e in events if e["type"] == "conversation.item.word_timestamps"]
    assert words == [
        ["Here", "is", "a", "reply"],
        ["It", "has", "three", "sentences"],
        ["Each", "one", "is", "spoken"],
    ]
    # Each context.done comes after its sentence's audio and before the next one's words.
    kinds = [e["type"] for e in events if e["type"] != "conversation.item.audio_output.delta"]
    assert [k for k in kinds if k != "conversation.item.input_text.received"] == [
        "conversation.item.word_timestamps",
        "context.done",
        "conversation.item.word_timestamps",
        "context.done",
        "conversation.item.word_timestamps",
        "conversation.item.audio_output.done",
        "context.done",
    ]


def test_a_long_run_without_a_sentence_end_is_spoken_whole_in_one_item(espeak_server):
    words = ["cat", "dog", "sun", "sky", "red", "big"]
    text = " ".join(words[n % 6] for n in range(330))  # no sentence end, 1,319 characters
    with open_ws(espeak_server, alignment="word", segment="immediate") as ws:
        ws_recv(ws)
        append(ws, text)
        (item,) = collect_items(ws, 1, timeout=60).values()
    assert item.words == text.split()
    assert item.starts == sorted(item.starts)
    assert item.ends[-1] <= len(item.pcm) / 2 / 24000 + 1e-3


def test_another_client_is_served_while_a_session_floods(make_server):
    server = make_server(workers=1)  # one slot, which the flood would hold
    words = ["cat", "dog", "sun", "sky", "red", "big"]
    run = " ".join(words[n % 6] for n in range(1250))  # 5,000 characters, no sentence end
    with open_ws(server, segment="immediate") as flood:
        ws_recv(flood)
        ws_send(flood, type="input_text_buffer.append", text=run)
        for _ in range(20):  # more than may wait: refused, each on its own
            ws_send(flood, type="input_text_buffer.append", text=run)
        ws_send(flood, type="input_text_buffer.commit")
        ws_until(flood, "conversation.item.audio_output.delta")
        response = post_speech(server, input="Hello.")
        assert response.status_code == 200 and audio.decode_file(response.content)[0].size
        # Events of one session come in order: the flood is still being spoken when the
        # answer to the other client is complete.
        ws_send(flood, type="input_text_buffer.append", text="", context_id="probe")
        events = ws_until(flood, "context.done", timeout=120)
    kinds = [(e["type"], e.get("context_id")) for e in events]
    probe = ("conversation.item.input_text.received", "probe")
    assert probe in kinds and kinds.index(probe) < kinds.index(("context.done", "default"))


@pytest.mark.parametrize("segment", ["immediate", "sentence"])
def test_immediate_starts_an_item_on_its_first_clause(espeak_server, segment):
    text = "When the morning train finally pulled into the station, the passengers stepped down."
    with open_ws(espeak_server, alignment="word", segment=segment) as ws:
        ws_recv(ws)
        append(ws, text)
        if segment == "sentence":
            ws_send(ws, type="input_text_buffer.commit")
        events = ws_until(ws, "conversation.item.audio_output.done")
    timed = [e["words"] for e in events if e["type"] == "conversation.item.word_timestamps"]
    clause = ["When", "the", "morning", "train", "finally", "pulled", "into", "the", "station"]
    words = [*clause, "the", "passengers", "stepped", "down"]
    assert timed[0] == (clause if segment == "immediate" else words)
    assert [word for event in timed for word in event] == words
    # One item all the same.
    assert len({e["item_id"] for e in events if "item_id" in e}) == 1


def test_a_clear_ends_the_item_at_once_while_the_engine_finishes_its_sentence():
    """A voice agent ends its reply at the interrupted item's done: the done goes out when
    the clear is read, not when the engine is through the sentence it is on."""
    from ttskit.server import create_app
    from ttskit.server.background import LocalServer

    from .test_sse import PARAGRAPH, HeldAfterOneSegment

    engine = HeldAfterOneSegment()
    try:
        with (
            LocalServer(create_app({"held": [engine]})) as server,
            open_ws(server, model="held", voice="en-us", segment="never") as ws,
        ):
            ws_recv(ws)
            append(ws, PARAGRAPH)
            ws_send(ws, type="input_text_buffer.commit")
            ws_until(ws, "conversation.item.audio_output.delta")
            ws_send(ws, type="input_text_buffer.clear")
            done = ws_until(ws, "conversation.item.audio_output.done")[-1]
            assert not engine.finished.is_set()  # the engine still holds its second sentence
            assert ws_recv(ws) == {"type": "context.done", "context_id": "default"}
            engine.go_on.set()
            append(ws, "Short reply.")
            ws_send(ws, type="input_text_buffer.commit")
            reply = ws_until(ws, "conversation.item.audio_output.done")
    finally:
        engine.go_on.set()
    assert reply[-1]["item_id"] != done["item_id"]
    assert any(e["type"] == "conversation.item.audio_output.delta" for e in reply)
