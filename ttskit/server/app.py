"""The FastAPI app: ``create_app`` from engines, ``build_app`` from engine names."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from .._version import __version__
from ..engines import Engine, available_engines, load_engine
from ..errors import InvalidArgument, MissingExtra
from . import catalog, speech, transcriptions, websocket
from .errors import install_error_handlers
from .faults import FaultInjector, Faults
from .limits import DeadlineMiddleware, Limits
from .middleware import ServerMiddleware
from .openapi import install_openapi
from .origin import OriginMiddleware, normalize_origin
from .pool import NO_SHARE, check_client_share
from .registry import Registry, warm_up
from .render import DEFAULT_DELTA_SECONDS, MAX_DELTA_SECONDS
from .state import ServerState

__all__ = ["build_app", "create_app"]

#: requests that may wait for a slot, per model, before the server answers 429
DEFAULT_QUEUE = 16
# JSON may spell a character as a 6-byte \u escape; the other fields need little room.
_BODY_BYTES_PER_CHAR = 6
_BODY_BYTES_SLACK = 16_384


def create_app(
    engines: Mapping[str, Sequence[Engine]],
    *,
    api_key: str | None = None,
    max_input_chars: int = 10_000,
    max_body_bytes: int | None = None,
    aliases: Mapping[str, str] | None = None,
    queue: int = DEFAULT_QUEUE,
    client_share: float | None = None,
    faults: Faults | None = None,
    delta_seconds: float = DEFAULT_DELTA_SECONDS,
    lookahead: int = 4,
    max_contexts: int = 100,
    limits: Limits | None = None,
    allow_fault_header: bool = False,
    cors_origins: Sequence[str] = (),
    max_audio_bytes: int = transcriptions.MAX_AUDIO_BYTES,
) -> FastAPI:
    """The speech API of PROTOCOL.md over the given engines.

    Parameters
    ----------
    engines : mapping of str to sequence of Engine
        Model id -> engines, one per synthesis slot. Each engine is used by one thread
        at a time; the number of engines is the number of requests synthesized at once.
    api_key : str, optional
        When set, requests need ``Authorization: Bearer <api_key>``.
    max_input_chars : int
        Longest ``input`` accepted (and longest WebSocket buffer).
    max_body_bytes : int, optional
        Largest request body; by default enough for ``max_input_chars`` characters.
    aliases : mapping of str to str, optional
        Hosted model id -> local model id, e.g. ``{"canopylabs/orpheus-3b-0.1-ft": "piper"}``.
    queue : int
        Requests per model that may wait for a slot, and transcriptions that may wait for
        the transcription model; more are answered 429.
    client_share : float, optional
        The fraction of a model's slots and queue that one client (peer address) may
        hold, in (0, 1]: at most ``max(1, floor(client_share * slots))`` slots and
        ``max(1, floor(client_share * queue))`` places in the queue; a request beyond
        them is answered 429 while other clients are served. 1 is no bound. By default,
        chosen by the address ttskit serves the app on (``server_config``): 0.5 where
        other machines can reach it, no bound on a loopback address
        (``ttskit.server.connections.client_share_for``).
    faults : Faults, optional
        Latency and errors to inject (see ``ttskit.server.faults``).
    delta_seconds : float
        Audio per streamed delta, at most 0.5 s.
    lookahead : int
        Segments a synthesis may run ahead of a slow client.
    max_contexts : int
        Contexts per WebSocket connection.
    limits : Limits, optional
        Deadlines for slow clients and long syntheses (see ``ttskit.server.limits``).
    allow_fault_header : bool
        Whether a request may bring its own faults in ``x-ttskit-faults``.
    cors_origins : sequence of str
        Web page origins that may call the server besides its own (``"*"`` for any).
    max_audio_bytes : int
        Largest audio file ``POST /v1/audio/transcriptions`` takes (OpenAI's 25 MB).

    Returns
    -------
    FastAPI

    Examples
    --------
    >>> from ttskit.engines import load_engine
    >>> app = create_app({"espeak": [load_engine("espeak")]})  # doctest: +SKIP
    """
    if not 0 < delta_seconds <= MAX_DELTA_SECONDS:
        raise InvalidArgument(
            f"delta_seconds must be within (0, {MAX_DELTA_SECONDS}], got {delta_seconds!r}"
        )
    if max_input_chars < 1:
        raise InvalidArgument(f"max_input_chars must be >= 1, got {max_input_chars!r}")
    if lookahead < 1:
        raise InvalidArgument(f"lookahead must be >= 1, got {lookahead!r}")
    if max_audio_bytes < 1:
        raise InvalidArgument(f"max_audio_bytes must be >= 1, got {max_audio_bytes!r}")
    limits = limits or Limits()
    if client_share is not None:
        client_share = check_client_share(client_share)
    for origin in cors_origins:
        if origin != "*":
            normalize_origin(origin)  # a bad one is refused now, not at the first request
    registry = Registry(
        engines, aliases=aliases, queue_size=queue, client_share=client_share or NO_SHARE
    )
    for model in registry.models.values():
        model.pool.hold_seconds = limits.synthesis_timeout
    slots = sum(model.pool.size for model in registry.models.values())
    state = ServerState(
        registry=registry,
        executor=ThreadPoolExecutor(max_workers=slots, thread_name_prefix="ttskit-synth"),
        faults=FaultInjector(faults, allow_header=allow_fault_header),
        api_key=api_key,
        max_input_chars=max_input_chars,
        max_body_bytes=max_body_bytes or max_input_chars * _BODY_BYTES_PER_CHAR + _BODY_BYTES_SLACK,
        delta_seconds=delta_seconds,
        lookahead=lookahead,
        max_contexts=max_contexts,
        limits=limits,
        client_share=client_share,
    )

    # Speech back to text (POST /v1/audio/transcriptions): its model loads on first use.
    asr = transcriptions.Transcriptions(queue=queue, max_bytes=max_audio_bytes)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.executor.shutdown(wait=False, cancel_futures=True)
        asr.close()

    app = FastAPI(
        title="ttskit speech server",
        version=__version__,
        summary="The text-to-speech API of PROTOCOL.md over offline engines.",
        lifespan=lifespan,
    )
    app.state.ttskit = state
    app.state.transcriptions = asr
    install_error_handlers(app)
    app.include_router(speech.router)
    app.include_router(transcriptions.router)
    app.include_router(websocket.router)
    app.include_router(catalog.router)
    # Outermost last: deadlines bound every read and write, then ids, keys and errors.
    app.add_middleware(OriginMiddleware, allowed_origins=cors_origins)
    app.add_middleware(ServerMiddleware, api_key=api_key)
    app.add_middleware(DeadlineMiddleware, limits=limits)
    install_openapi(app)
    return app


def build_app(
    engine: str | Sequence[str] = "auto",
    *,
    workers: int | None = None,
    engine_options: Mapping[str, Mapping[str, Any]] | None = None,
    **options: Any,
) -> FastAPI:
    """``create_app`` over engines loaded by name.

    Parameters
    ----------
    engine : str or sequence of str
        ``"espeak"``, ``"piper"``, several of them, or ``"auto"`` for every engine whose
        libraries are installed.
    workers : int, optional
        Synthesis slots per engine; default one per core (at most 4). A piper engine in a
        pool of ``workers`` slots gets ``cores // workers`` onnxruntime threads, so that
        parallel requests do not fight over cores.
    engine_options : mapping, optional
        Engine name -> keyword arguments for ``load_engine``.
    **options
        Passed to ``create_app``.
    """
    names = (
        available_engines()
        if engine == "auto"
        else [engine]
        if isinstance(engine, str)
        else list(engine)
    )
    if not names:
        raise MissingExtra("no speech engine is installed: pip install 'ttskit[server]'")
    cores = os.cpu_count() or 1
    slots = workers if workers is not None else min(cores, 4)
    if slots < 1:
        raise InvalidArgument(f"workers must be >= 1, got {workers!r}")
    engines: dict[str, list[Engine]] = {}
    for name in names:
        kwargs = dict((engine_options or {}).get(name, {}))
        if name == "piper":
            kwargs.setdefault("threads", max(1, cores // slots))
        loaded = [load_engine(name, **kwargs) for _ in range(slots)]
        warm_up(loaded[0])
        engines[loaded[0].model] = loaded
    return create_app(engines, **options)
