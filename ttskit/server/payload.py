"""JSON from clients, parsed so that no input can make the server fail.

Python's ``json`` takes things no speech request needs and that break code further on:
nesting deep enough to exhaust the recursion limit, integers of thousands of digits
(whose conversion is refused, and quadratic before that), ``NaN`` and ``Infinity`` (not
JSON at all), and ``\\ud800`` escapes that make strings no encoder can write. ``parse_json``
refuses each with a 400 that names the place, for request bodies and WebSocket frames alike.
``read_body`` reads a request's body no further than a bound.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from .errors import WireError, bad_request

__all__ = ["MAX_DEPTH", "MAX_INTEGER_DIGITS", "parse_json", "read_body"]

#: deepest nesting of arrays and objects accepted
MAX_DEPTH = 32
#: longest integer accepted, in digits
MAX_INTEGER_DIGITS = 20


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _Refused(
            f"an integer of {len(text.lstrip('-'))} digits; at most {MAX_INTEGER_DIGITS} are accepted",
            "number_too_large",
        )
    return int(text)


def _parse_constant(name: str) -> float:
    raise _Refused(f"{name} is not a JSON number", "invalid_json")


class _Refused(ValueError):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def _path(parts: list[str | int]) -> str | None:
    return ".".join(str(part) for part in parts) or None


def _check_tree(value: Any, what: str) -> None:
    """Depth and encodable strings, walked without recursion."""
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        node, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise bad_request(
                f"{what} is nested more than {MAX_DEPTH} levels deep",
                param=None,
                code="nested_too_deep",
            )
        if isinstance(node, str):
            _check_text(node, path, what)
        elif isinstance(node, dict):
            for key, item in node.items():
                _check_text(key, path, what)
                stack.append((item, [*path, key]))
        elif isinstance(node, list):
            stack.extend((item, [*path, index]) for index, item in enumerate(node))


def _check_text(text: str, path: list[str | int], what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        where = _path(path)
        place = f"{where} has" if where else f"{what} has"
        raise bad_request(
            f"{place} an unpaired surrogate {text[exc.start]!r} at character {exc.start}; "
            "send text as valid Unicode (a \\ud83d escape needs its \\udeXX partner)",
            param=where,
            code="invalid_unicode",
        ) from None


def parse_json(raw: bytes | str, *, what: str = "the request body") -> Any:
    """Parse ``raw`` as JSON within the limits above.

    Parameters
    ----------
    raw : bytes or str
    what : str
        How messages name the document (``"the request body"``, ``"the frame"``).

    Raises
    ------
    WireError
        400 ``invalid_json``, ``number_too_large``, ``nested_too_deep`` or
        ``invalid_unicode``.

    Examples
    --------
    >>> parse_json(b'{"input": "Hello."}')
    {'input': 'Hello.'}
    """
    try:
        value = json.loads(raw, parse_int=_parse_int, parse_constant=_parse_constant)
    except _Refused as exc:
        raise bad_request(f"{what} holds {exc}", param=None, code=exc.code) from None
    except RecursionError:
        raise bad_request(
            f"{what} is nested more than {MAX_DEPTH} levels deep",
            param=None,
            code="nested_too_deep",
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(
            f"{what} is not valid JSON ({exc})", param=None, code="invalid_json"
        ) from None
    _check_tree(value, what)
    return value


async def read_body(request: Request, limit: int, too_large: WireError) -> bytes:
    """The whole body of ``request``; ``too_large`` (a 413) as soon as it is declared or
    read past ``limit`` bytes, so that no more of it is held."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
