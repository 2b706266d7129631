"""The embedded server: ttskit's own server, running in the background of this process.

``start_server()`` serves the speech API under uvicorn on a daemon thread, bound to
127.0.0.1 on a port the OS picks, and returns once it answers. Tests, notebooks and the
demo talk to it over HTTP on loopback, exactly as to the hosted API. ``ttskit.local()``
returns a ``Client`` for it; a ``Client`` made without an endpoint uses
``default_server()``. The client layer reaches this module only through
``ttskit.client.endpoint.embedded_server``, when called.

>>> import ttskit
>>> client = ttskit.local("espeak")  # doctest: +SKIP
>>> client.speak("Hello.").sample_rate  # doctest: +SKIP
24000
>>> from ttskit.server.background import start_server
>>> with start_server("espeak", workers=1) as server:
...     print(server.base_url)  # doctest: +ELLIPSIS
http://127.0.0.1:.../v1
"""

from __future__ import annotations

import atexit
import socket
import threading
import time
from typing import Any

from ..errors import ConfigurationError

__all__ = ["LocalServer", "default_server", "start_server"]


class LocalServer:
    """An ASGI app served by uvicorn on a background thread.

    Parameters
    ----------
    app : ASGI app
        Usually from ``ttskit.server.build_app`` or ``create_app``; served once.
    host : str
        Interface to bind; loopback unless told otherwise.
    port : int
        0 lets the OS pick a free port. The socket is bound here, before uvicorn starts,
        so there is no window in which another process could take the port.
    log_level : str
        uvicorn's log level.

    Attributes
    ----------
    url : str
        ``http://host:port``.
    base_url : str
        ``http://host:port/v1``, the counterpart of ``https://api.together.ai/v1``.
    websocket_url : str
        ``ws://host:port/v1/audio/speech/websocket``.
    """

    def __init__(
        self, app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
    ) -> None:
        import uvicorn

        from .http import server_config
        from .middleware import redact_keys_in_logs

        self.app = app
        self._socket = socket.socket(
            socket.AF_INET6 if ":" in host else socket.AF_INET,
            socket.SOCK_STREAM,
            socket.IPPROTO_TCP,  # which tells asyncio to send without Nagle's delay
        )
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        config = server_config(
            app,
            host=host,
            log_level=log_level,
            # Logging stays the application's business; records go to the usual loggers.
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        redact_keys_in_logs()
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"ttskit-server-{self.port}",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def websocket_url(self) -> str:
        return f"ws{self.url[4:]}/v1/audio/speech/websocket"

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._thread.is_alive() and self._server.started and not self._server.should_exit

    def start(self, timeout: float = 30.0) -> LocalServer:
        """Start serving and wait until the server accepts connections.

        Raises
        ------
        ConfigurationError
            If uvicorn stops or does not start within ``timeout`` seconds.
        """
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise ConfigurationError(
                    f"the ttskit server on port {self.port} failed to start; "
                    "uvicorn's log (logging.getLogger('uvicorn.error')) says why"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ConfigurationError(
                    f"the ttskit server did not start within {timeout} s; "
                    "try start(timeout=...) with more time on a busy machine"
                )
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down: finish open requests for up to two seconds, then close them."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> LocalServer:
        if not self._thread.is_alive():
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"LocalServer(base_url={self.base_url!r}, {state})"


def start_server(
    engine: str = "auto",
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    workers: int | None = None,
    log_level: str = "warning",
    **app_options: Any,
) -> LocalServer:
    """Build an app over ``engine`` and serve it in the background; returns once it answers.

    Parameters
    ----------
    engine : {"auto", "espeak", "piper"}
        ``"auto"`` serves every installed engine.
    host, port, log_level
        See ``LocalServer``.
    workers : int, optional
        Synthesis slots per engine (see ``ttskit.server.build_app``).
    **app_options
        ``create_app`` options: ``api_key``, ``aliases``, ``faults``, ``queue``, ...
    """
    from .app import build_app

    app_options.setdefault("allow_fault_header", True)  # notebooks and tests inject faults
    app = build_app(engine, workers=workers, **app_options)
    return LocalServer(app, host=host, port=port, log_level=log_level).start()


_default: LocalServer | None = None
_default_lock = threading.Lock()


def default_server() -> LocalServer:
    """The process's shared server over every installed engine, started on first use."""
    global _default
    with _default_lock:
        if _default is None or not _default.running:
            _default = start_server()
            atexit.register(_default.stop)
        return _default
