"""The HTTP session of a client: one request at a time through retries and a deadline.

``HTTPSession.send`` returns a 2xx response or raises a ttskit error. It retries 408, 409,
429, 5xx and failed connections with exponential backoff (or the wait the server asks
for), but never a read that timed out (the server accepted the request and is still at
it). The caller bounds the reading of the body (``transport.iter_body``'s deadline).
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from .._version import __version__
from ..errors import APIError, ConnectError
from .endpoint import Endpoint
from .transport import api_error, json_of_answer, translate

__all__ = ["HTTPSession", "backoff", "retryable", "url_hint"]

logger = logging.getLogger("ttskit.client")

# Statuses worth another try: timeout, conflict, rate limit, and server-side failures.
_RETRY_STATUSES = frozenset({408, 409, 429})


def retryable(status_code: int) -> bool:
    """Whether an error answer is worth another try (the one rule, for both clients)."""
    return status_code in _RETRY_STATUSES or status_code >= 500


def backoff(
    attempt: int, asked: float | None, max_wait: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait before attempt ``attempt + 1``: what the server asked for, else
    exponential from 0.5 s capped at 8 s with up to 25 % jitter downwards; never more
    than ``max_wait``."""
    if asked is not None:
        return min(asked, max_wait)
    jitter = (rng or random).random()
    return min(0.5 * 2**attempt, 8.0, max_wait) * (1 - 0.25 * jitter)


def url_hint(endpoint: Endpoint, status_code: int) -> str:
    """What to try when an error suggests the base URL itself is wrong."""
    if status_code == 404 and not endpoint.base_url.rstrip("/").endswith("/v1"):
        return f" (the base URL has no /v1: try {endpoint.base_url.rstrip('/')}/v1)"
    return ""


# What the connection a thread is sending on calls as its request starts out.
_starting = threading.local()


@functools.cache
def _announcing(pool_class: type) -> type:
    """``pool_class`` with connections that call the sending thread's ``on_send`` as a
    request starts out: after requests and urllib3 have prepared it (which takes a good
    part of a millisecond), before its connection opens (if it must) and its first byte
    is written. Made once per pool class, and shared by every session."""

    class Connection(pool_class.ConnectionCls):  # type: ignore[name-defined]
        ttskit_requests = 0  # requests this connection has carried

        def request(self, *args: Any, **kwargs: Any) -> Any:
            _starting.reused = self.ttskit_requests > 0
            self.ttskit_requests += 1
            announce = getattr(_starting, "callback", None)
            if announce is not None:
                announce()
            return super().request(*args, **kwargs)

    return type(pool_class.__name__, (pool_class,), {"ConnectionCls": Connection})


class HTTPSession:
    """A ``requests.Session`` for one endpoint, with its key, retries and deadline.

    Thread-safe as urllib3's pool is: nothing here changes after construction.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        timeout: float,
        max_retries: int,
        max_retry_wait: float,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self._clock = clock
        self._sleep = sleep
        self._random = random.Random()
        self._headers = dict(headers or {})
        self._session = self._new_session()
        # Proxy and certificate settings from the environment, and ~/.netrc, read once:
        # requests would otherwise scan os.environ and stat ~/.netrc on every request.
        self._environment = self._session.merge_environment_settings(
            endpoint.base_url, {}, None, None, None
        )
        self._auth = endpoint.auth or requests.utils.get_netrc_auth(endpoint.base_url)
        self._session.auth = self._auth
        self._session.trust_env = False

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.auth = getattr(self, "_auth", self.endpoint.auth)
        session.headers["User-Agent"] = f"ttskit/{__version__}"
        session.headers.update(self._headers)
        if self.endpoint.api_key:
            session.headers["Authorization"] = f"Bearer {self.endpoint.api_key}"
        session.trust_env = False
        for adapter in session.adapters.values():
            pools = getattr(adapter, "poolmanager", None)
            if pools is not None:
                pools.pool_classes_by_scheme = {
                    scheme: _announcing(cls) for scheme, cls in pools.pool_classes_by_scheme.items()
                }
        return session

    def close(self) -> None:
        """Close the kept-alive connections."""
        self._session.close()

    @property
    def connections_opened(self) -> int:
        """How many connections the session's pools have opened (since it was made or last
        closed): unchanged across a request that reused a kept-alive connection."""
        opened = 0
        for adapter in self._session.adapters.values():
            pools = getattr(adapter, "poolmanager", None)
            if pools is None:
                continue
            # urllib3's pool container cannot be iterated, only asked for its keys.
            for key in pools.pools.keys():  # noqa: SIM118
                pool = pools.pools.get(key)
                opened += getattr(pool, "num_connections", 0) if pool is not None else 0
        return opened

    def _backoff(self, attempt: int, asked: float | None) -> float:
        return backoff(attempt, asked, self.max_retry_wait, self._random)

    def _hint(self, status_code: int) -> str:
        return url_hint(self.endpoint, status_code)

    def send(
        self,
        method: str,
        path: str,
        *,
        json: dict | None = None,
        params: dict | None = None,
        stream: bool = False,
        on_send: Callable[[], None] | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
        fresh_connection: bool = False,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """Send a request, retrying what is worth retrying, and return a 2xx response.

        ``on_send`` is called as each attempt starts: before requests prepares it, and
        again as its connection starts sending it (a clock read there leaves out the
        preparing). ``max_retries`` and ``timeout`` are the session's unless given;
        ``fresh_connection`` sends on a connection of its own, closed with the response.
        The response's ``ttskit_reused`` says whether its connection was kept alive from
        an earlier request, and its ``ttskit_attempts`` how many requests it took.
        """
        url = f"{self.endpoint.base_url}{path}"
        what = f"{method} {url}"
        secret = self.endpoint.api_key
        retries = self.max_retries if max_retries is None else max_retries
        timeout = self.timeout if timeout is None else timeout
        session = self._new_session() if fresh_connection else self._session
        try:
            request = session.prepare_request(
                requests.Request(method, url, json=json, params=params, headers=headers)
            )
        except requests.exceptions.RequestException as exc:
            raise translate(exc, what, secret) from exc
        settings = {**self._environment, "stream": stream}
        try:
            return self._attempts(session, request, what, settings, retries, timeout, on_send)
        except BaseException:
            if fresh_connection:
                session.close()
            raise

    def _attempts(
        self,
        session: requests.Session,
        request: requests.PreparedRequest,
        what: str,
        settings: dict[str, Any],
        retries: int,
        timeout: float,
        on_send: Callable[[], None] | None,
    ) -> requests.Response:
        secret = self.endpoint.api_key
        fresh_connection = session is not self._session
        for attempt in range(retries + 1):
            last = attempt == retries
            logger.debug("%s (attempt %d of %d)", what, attempt + 1, retries + 1)
            if on_send is not None:
                on_send()
            _starting.callback = on_send
            _starting.reused = None
            try:
                response = session.send(request, timeout=timeout, **settings)
                response.ttskit_reused = _starting.reused  # type: ignore[attr-defined]
                response.ttskit_attempts = attempt + 1  # type: ignore[attr-defined]
                if fresh_connection:
                    response.ttskit_session = session  # type: ignore[attr-defined]
            except requests.exceptions.RequestException as exc:
                error = translate(exc, what, secret)
                # A read timeout means the server accepted the request and is still at it:
                # asking again would only make the caller wait longer.
                if last or not isinstance(error, ConnectError):
                    raise error from exc
                self._wait(what, attempt, None, error)
                continue
            finally:
                _starting.callback = None
            if response.ok:
                logger.debug("%s: HTTP %d", what, response.status_code)
                return response
            error = api_error(response, secret, self._hint(response.status_code))
            response.close()
            if fresh_connection:  # the next attempt is on a new connection too
                session.close()
            if last or not retryable(response.status_code):
                logger.debug("%s: %s", what, error)
                raise error
            self._wait(what, attempt, error.retry_after, error)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(
        self, what: str, attempt: int, asked: float | None, error: APIError | ConnectError
    ) -> None:
        wait = self._backoff(attempt, asked)
        logger.debug("%s: %s; retrying in %.2fs", what, error, wait)
        self._sleep(wait)

    def get_json(self, path: str, params: dict | None = None) -> Any:
        response = self.send("GET", path, params=params)
        return json_of_answer(response.text, f"GET {self.endpoint.base_url}{path}")
