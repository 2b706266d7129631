"""Turning what a user names as targets (clients, URLs, tuples) into ``Target``s."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..client import resolve_defaults
from ..errors import InvalidArgument
from .transports import Target

__all__ = ["complete", "resolve_targets"]


def _one_target(item: Any, api_key: str | None, headers: dict[str, str]) -> Target:
    model = voice = None
    if isinstance(item, tuple):
        if len(item) != 3:
            raise InvalidArgument(f"a target tuple is (client or URL, model, voice), got {item!r}")
        item, model, voice = item
    if isinstance(item, Target):
        target = item
    elif isinstance(item, str):
        target = Target(item.rstrip("/"))
    elif hasattr(item, "endpoint") and hasattr(item, "speak"):  # a ttskit.Client
        # What the client sends goes with every request: its key, headers and dialect.
        target = Target(
            item.base_url,
            getattr(item, "model", None),
            getattr(item, "voice", None),
            headers=dict(getattr(item, "headers", None) or {}),
            endpoint=item.endpoint,
            dialect=getattr(item, "dialect", "together"),
        )
    else:
        raise InvalidArgument(
            f"a target is a ttskit.Client, a base URL, a (client, model, voice) tuple or a "
            f"ttskit.bench.Target; got {type(item).__name__}"
        )
    if not isinstance(target.base_url, str) or not target.base_url.strip():
        raise InvalidArgument(
            f"target base URL {target.base_url!r} is empty, e.g. 'http://127.0.0.1:8000/v1'"
        )
    if model and model != target.model and not voice:
        # The client's voice belongs to its own model; another model's is asked of the server.
        target = replace(target, voice=None)
    target = replace(
        target,
        model=model or target.model,
        voice=voice or target.voice,
        api_key=target.api_key or api_key,
        headers={**headers, **dict(target.headers)},
    )
    # The client checks the URL and the key as it always does (a hosted target without a
    # key fails here, before any request), and keeps URL credentials out of the label.
    with target.client() as client:
        return replace(target, base_url=client.base_url, endpoint=client.endpoint)


def resolve_targets(
    targets: Any, *, api_key: str | None = None, headers: dict[str, str] | None = None
) -> list[Target]:
    """``targets`` as a list of :class:`Target` (no request sent).

    A ``Client``'s requests carry its own key, headers and dialect; the key is never read
    into the rows. A URL's carry ``api_key=`` (``$TOGETHER_API_KEY`` for the hosted API).
    """
    items = targets if isinstance(targets, list) else [targets]
    if not items:
        raise InvalidArgument("targets is empty; give a Client, a base URL or a list of them")
    return [_one_target(item, api_key, dict(headers or {})) for item in items]


def complete(target: Target, timeout: float) -> Target:
    """The target with its model and voice, by the client's own rule of defaults
    (``ttskit.client.resolve_defaults``: it may ask the server)."""
    if target.model and target.voice:
        return target
    with target.client(timeout=timeout) as client:
        model, voice = resolve_defaults(client, target.model, target.voice)
    return replace(target, model=model, voice=voice)
