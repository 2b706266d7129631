"""Server-Sent Events decoding, following the WHATWG HTML "event stream" rules.

``SSEDecoder`` turns bytes, split across network reads anywhere, into events::

    >>> decoder = SSEDecoder()
    >>> decoder.decode(b'data: {"a": 1}\\r\\n\\r')
    [ServerSentEvent(event='message', data='{"a": 1}', id='', retry=None)]
    >>> decoder.decode(b"\\ndata: [DONE]\\n")
    []
    >>> decoder.flush()
    [ServerSentEvent(event='message', data='[DONE]', id='', retry=None)]

The rules: a leading UTF-8 byte order mark is dropped; lines end with CRLF, LF or CR; a
line starting with ``:`` is a comment; ``field: value`` loses one space after the colon;
``data`` lines accumulate joined by ``\\n``; a blank line dispatches the event when data was
seen; ``id`` values containing NUL are ignored; ``retry`` takes only ASCII digits.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import ProtocolError

__all__ = ["MAX_LINE", "SSEDecoder", "ServerSentEvent"]

#: Longest line, and longest event's data, a server may send (bytes): an audio delta is
#: tens of kilobytes; a stream that never ends its line must not fill the memory.
MAX_LINE = 8 * 2**20

_BOM = b"\xef\xbb\xbf"


class ServerSentEvent(NamedTuple):
    """One dispatched event (a named tuple: there is one per audio delta).

    ``event`` is the type (``"message"`` unless an ``event:`` field named it), ``data``
    the data lines joined with ``\\n``, ``id`` the last event id seen so far on the stream,
    ``retry`` the reconnection time in milliseconds if this event set one.
    """

    event: str = "message"
    data: str = ""
    id: str = ""
    retry: int | None = None


class SSEDecoder:
    """Incremental Server-Sent Events decoder.

    Feed it bytes as they arrive with :meth:`decode`; call :meth:`flush` once the stream
    has ended. The events produced do not depend on how the bytes were split.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._partial_line: list[bytes] = []  # pieces of a line not yet terminated
        self._partial_size = 0
        self._data_size = 0
        self._after_cr = False  # the last byte seen was CR, so a leading LF is its pair
        self._at_start = True  # the BOM may only appear before the first byte of the stream
        self._event = ""
        self._data: list[str] = []
        self._last_id = ""
        self._retry: int | None = None

    def decode(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode the next bytes of the stream and return the events they complete."""
        if self._at_start:
            chunk = b"".join(self._partial_line) + chunk
            self._partial_line.clear()
            if len(chunk) < len(_BOM) and _BOM.startswith(chunk):
                self._partial_line.append(chunk)  # cannot tell yet whether this is a BOM
                return []
            self._at_start = False
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM) :]
        if self._after_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        if not chunk:
            return []
        if (
            chunk[-2:] == b"\n\n"
            and chunk[:5] == b"data:"
            and not (self._partial_line or self._data or self._event or self._retry)
            and chunk.count(b"\n") == 2
            and b"\r" not in chunk
        ):
            # The usual read: one whole event of one data line, as PROTOCOL.md's servers
            # send them. Same result as the general path below, with less copying.
            self._after_cr = False
            start = 6 if chunk[5:6] == b" " else 5
            data = chunk[start:-2].decode("utf-8", errors="replace")
            return [ServerSentEvent("message", data, self._last_id, None)]
        self._after_cr = chunk[-1:] == b"\r"
        if b"\n" not in chunk and b"\r" not in chunk:
            # Long data lines arrive over many reads: keep the pieces, join once.
            self._keep_partial(chunk)
            return []
        if self._partial_line:
            self._partial_line.append(chunk)
            chunk = b"".join(self._partial_line)
            self._partial_line.clear()
            self._partial_size = 0
        lines = chunk.splitlines(keepends=True)
        if not lines[-1].endswith((b"\n", b"\r")):
            self._keep_partial(lines.pop())
        events: list[ServerSentEvent] = []
        for line in lines:
            end = -2 if line.endswith(b"\r\n") else -1
            if line.startswith(b"data:"):
                # The common line, and often a long one: slice and decode it only once.
                start = 6 if line[5:6] == b" " else 5
                self._data_size += len(line)
                if self._data_size > self.max_line:
                    raise self._too_long("an event's data")
                self._data.append(line[start:end].decode("utf-8", errors="replace"))
                continue
            event = self._process_line(line[:end].decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        return events

    def _keep_partial(self, piece: bytes) -> None:
        self._partial_size += len(piece)
        if self._partial_size > self.max_line:
            raise self._too_long("a line")
        self._partial_line.append(piece)

    def _too_long(self, what: str) -> ProtocolError:
        return ProtocolError(
            f"the event stream sent {what} over {self.max_line} bytes, longer than any "
            "event of the protocol: the server's answer is broken"
        )

    def flush(self) -> list[ServerSentEvent]:
        """End the stream and return the event it leaves pending, if any.

        The WHATWG rules drop an event whose closing blank line never came. This decoder
        keeps such an event when all its lines were complete (a server that ends with
        ``data: [DONE]\\n`` has said everything), and drops an unterminated last line,
        which may be a cut in the middle of a payload.
        """
        self._partial_line.clear()
        self._partial_size = 0
        self._after_cr = False
        event = self._process_line("")
        return [event] if event is not None else []

    def _process_line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data_size += len(value)
            if self._data_size > self.max_line:
                raise self._too_long("an event's data")
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        retry, self._retry = self._retry, None
        if not self._data:
            self._event = ""
            return None
        event = ServerSentEvent(
            event=self._event or "message",
            data="\n".join(self._data),
            id=self._last_id,
            retry=retry,
        )
        self._event = ""
        self._data = []
        self._data_size = 0
        return event
