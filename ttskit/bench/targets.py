"""Turning what a user names as targets (clients, URLs, tuples) into ``Target``s."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from ..errors import ConfigurationError, InvalidArgument
from .transports import HOSTED_DEFAULT, Target, client_for

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
        target = Target(
            item.base_url,
            getattr(item, "model", None),
            getattr(item, "voice", None),
            endpoint=item.endpoint,
        )
    else:
        raise InvalidArgument(
            f"a target is a ttskit.Client, a base URL, a (client, model, voice) tuple or a "
            f"ttskit.bench.Target; got {type(item).__name__}"
        )
    if not target.base_url.startswith(("http://", "https://")):
        raise InvalidArgument(
            f"target base URL {target.base_url!r} is not http(s), e.g. 'http://127.0.0.1:8000/v1'"
        )
    if target.hosted and not target.base_url.startswith("https://"):
        raise InvalidArgument(f"{target.base_url} would send the API key in cleartext; use https")
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
    target.connect_to()  # a hosted target without a key fails here, before any request
    return target


def resolve_targets(
    targets: Any, *, api_key: str | None = None, headers: dict[str, str] | None = None
) -> list[Target]:
    """``targets`` as a list of :class:`Target` (no request sent).

    A ``Client``'s requests carry its own key, which is never read into the rows; a URL's
    carry ``api_key=`` (``$TOGETHER_API_KEY`` for the hosted API).
    """
    items = targets if isinstance(targets, list) else [targets]
    if not items:
        raise InvalidArgument("targets is empty; give a Client, a base URL or a list of them")
    return [_one_target(item, api_key, dict(headers or {})) for item in items]


def complete(target: Target, timeout: float) -> Target:
    """The target with its model and voice, asking the server for what is missing."""
    if target.model and target.voice:
        return target
    if target.hosted:
        return replace(
            target,
            model=target.model or HOSTED_DEFAULT[0],
            voice=target.voice or HOSTED_DEFAULT[1],
        )
    client = client_for(target, timeout, time.perf_counter)
    try:
        model = target.model
        if not model:
            models = client.models()
            if models.empty:
                raise ConfigurationError(f"{target.base_url} lists no models; give a model")
            model = str(models["id"].iloc[0])
        voice = target.voice
        if not voice:
            voices = client.voices(model)
            if voices.empty:
                raise ConfigurationError(f"{target.base_url} lists no voices for {model!r}")
            voice = str(voices["name"].iloc[0])
    finally:
        client.close()
    return replace(target, model=model, voice=voice)
