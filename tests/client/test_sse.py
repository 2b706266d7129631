"""The SSE decoder against the WHATWG event-stream rules, split at every byte boundary."""

from __future__ import annotations

import pytest

from ttskit.client.sse import ServerSentEvent, SSEDecoder


def decode_all(*pieces: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = []
    for piece in pieces:
        events.extend(decoder.decode(piece))
    return events + decoder.flush()


def every_split(data: bytes) -> list[list[ServerSentEvent]]:
    """The events for ``data`` fed whole, byte by byte, and split in two at every boundary."""
    results = [decode_all(data), decode_all(*(data[i : i + 1] for i in range(len(data))))]
    results += [decode_all(data[:i], data[i:]) for i in range(1, len(data))]
    return results


MIXED = (
    b"\xef\xbb\xbf"  # byte order mark
    b": a comment\r\n"
    b"event: ping\r\n"
    b'data: {"a": 1}\r\n'
    b"id: 7\r\n"
    b"retry: 1500\r\n"
    b"\r\n"
    b"data:no space\rdata:  two spaces\r\r"
    b"data\n\n"  # a field name alone: empty data
    b"data: caf\xc3\xa9 \xe2\x82\xac\n"
    b"id: bad\x00id\n"
    b"retry: 12x\n"
    b"unknown: field\n\n"
    b"event: lonely\n\n"  # no data: not dispatched, and the event name is reset
    b"data: [DONE]\n\n"
)

EXPECTED = [
    ServerSentEvent("ping", '{"a": 1}', "7", 1500),
    ServerSentEvent("message", "no space\n two spaces", "7", None),
    ServerSentEvent("message", "", "7", None),
    ServerSentEvent("message", "café €", "7", None),
    ServerSentEvent("message", "[DONE]", "7", None),
]


def test_the_whatwg_rules() -> None:
    assert decode_all(MIXED) == EXPECTED


def test_identical_events_whatever_the_split() -> None:
    for events in every_split(MIXED):
        assert events == EXPECTED


@pytest.mark.parametrize("newline", [b"\n", b"\r", b"\r\n"])
def test_each_line_ending_splits_anywhere(newline: bytes) -> None:
    data = newline.join([b"data: one", b"data: two", b"", b"data: three", b"", b""])
    expected = [ServerSentEvent(data="one\ntwo"), ServerSentEvent(data="three")]
    for events in every_split(data):
        assert events == expected


def test_a_cr_at_the_end_of_a_read_pairs_with_the_lf_of_the_next() -> None:
    # "\r" then "\n" in the next read is one line ending, not an empty line in between.
    assert decode_all(b"data: a\r", b"\ndata: b\r\n\r\n") == [ServerSentEvent(data="a\nb")]


def test_only_a_leading_bom_is_dropped() -> None:
    assert decode_all(b"\xef\xbb\xbfdata: x\n\n") == [ServerSentEvent(data="x")]
    # A second BOM is part of the first line, which is then not a "data" field.
    assert decode_all(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n") == []


def test_flush_keeps_a_complete_event_missing_its_blank_line() -> None:
    assert decode_all(b"data: a\n\ndata: [DONE]\n") == [
        ServerSentEvent(data="a"),
        ServerSentEvent(data="[DONE]"),
    ]


def test_flush_drops_a_cut_line() -> None:
    assert decode_all(b'data: a\n\ndata: {"delta": "AAA') == [ServerSentEvent(data="a")]


def test_a_long_line_over_many_reads() -> None:
    payload = b"x" * 100_000
    data = b"data: " + payload + b"\n\n"
    decoder = SSEDecoder()
    events = []
    for i in range(0, len(data), 7):
        events += decoder.decode(data[i : i + 7])
    assert events == [ServerSentEvent(data=payload.decode())]


def test_whole_events_per_read_keep_earlier_fields() -> None:
    # A read holding exactly one data event must not lose fields from the reads before.
    decoder = SSEDecoder()
    assert decoder.decode(b"event: words\nid: 3\n") == []
    assert decoder.decode(b"data: x\n\n") == [ServerSentEvent("words", "x", "3", None)]
    assert decoder.decode(b"data: y\n\n") == [ServerSentEvent("message", "y", "3", None)]
    assert decoder.decode(b"data: a\n") == []
    assert decoder.decode(b"data: b\n\n") == [ServerSentEvent("message", "a\nb", "3", None)]
