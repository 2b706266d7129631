"""Errors of the transport boundary, against the real local server's fault injection."""

from __future__ import annotations

import re

import pytest

from ttskit.client import Client
from ttskit.errors import ReadError, StreamInterrupted

TEXT = "The quick brown fox jumps over the lazy dog, and then it runs far away."
CUT = re.compile(
    r"the server closed the connection after (\d+) of (\d+) bytes of the answer to POST "
)


@pytest.mark.parametrize("response_format", ["wav", "flac"])
def test_a_whole_file_cut_by_the_server_says_how_much_came(espeak_server, response_format) -> None:
    client = Client(espeak_server.base_url, headers={"x-ttskit-faults": "cut_after=2"})
    with pytest.raises(StreamInterrupted) as caught:
        client.speak(TEXT, stream=False, response_format=response_format)
    cause = caught.value.__cause__
    assert isinstance(cause, ReadError)
    match = CUT.search(str(cause))
    assert match, str(cause)
    assert 0 < int(match.group(1)) < int(match.group(2))
    assert "IncompleteRead" not in str(caught.value) and "(" not in str(cause)
    assert cause.__cause__ is not None  # the urllib3 error stays reachable for debugging


def test_a_cut_event_stream_names_no_urllib3_internals(espeak_server) -> None:
    client = Client(espeak_server.base_url, headers={"x-ttskit-faults": "cut_after=2"})
    with pytest.raises(StreamInterrupted) as caught:
        client.speak(TEXT, stream=True)
    assert isinstance(caught.value.__cause__, ReadError)
    assert "the server closed the connection" in str(caught.value)
    assert "IncompleteRead" not in str(caught.value) and "ProtocolError" not in str(caught.value)
