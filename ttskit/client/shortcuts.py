"""Speech in one line: ``speak`` and ``stream`` on a shared default client, and ``local``.

>>> import ttskit
>>> ttskit.speak("Hello.").duration  # doctest: +SKIP
0.82
>>> client = ttskit.local("espeak")  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

from ..results import Speech
from .endpoint import Endpoint, embedded_server
from .http import Client
from .streaming import SpeechStream

__all__ = ["default_client", "local", "speak", "stream"]

_default: Client | None = None
_default_lock = threading.Lock()


def default_client() -> Client:
    """The shared ``Client`` that ``ttskit.speak`` and ``ttskit.stream`` use, made on first use.

    Its endpoint is chosen as every client's is (see ``ttskit.Client``).
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
        return _default


def speak(text: str, **options: Any) -> Speech:
    """``Client.speak`` on the default client (see :func:`default_client`)."""
    return default_client().speak(text, **options)


def stream(text: str, **options: Any) -> SpeechStream:
    """``Client.stream`` on the default client (see :func:`default_client`)."""
    return default_client().stream(text, **options)


def _signature_of(method: Any) -> inspect.Signature:
    """The method's signature without ``self``, so that help() lists every option."""
    signature = inspect.signature(method)
    return signature.replace(parameters=list(signature.parameters.values())[1:])


speak.__signature__ = _signature_of(Client.speak)  # type: ignore[attr-defined]
stream.__signature__ = _signature_of(Client.stream)  # type: ignore[attr-defined]


def local(
    engine: str = "auto", *, model: str | None = None, voice: str | None = None, **options: Any
) -> Client:
    """A ``Client`` for an embedded local server, started on first use.

    Parameters
    ----------
    engine : {"auto", "espeak", "piper"}
        ``"auto"`` serves every installed engine, and the client speaks with the best one
        (piper when installed, else espeak) unless ``model`` says otherwise.
    model, voice : str, optional
        Defaults of the returned client.
    **options
        ``ttskit.server.background.start_server`` options (``workers``, ``faults``,
        ``api_key``, ...). With none, and ``engine="auto"``, the process's shared server is
        used; otherwise a server of its own is started and stopped at exit.

    Returns
    -------
    ttskit.Client
    """
    server = embedded_server(engine, **options)
    endpoint = Endpoint(server.base_url, "local server", options.get("api_key"))
    return Client(endpoint, model=model, voice=voice)
