"""Who a client is, and how many connections the server holds for each.

A client is its peer address: the host of the connection's other end. The server has at
most one API key, which all its clients share, so a key tells no client from another; the
address does, as far as the network lets it (clients behind one proxy are one client).
Two bounds use it:

- open connections (WebSocket sessions included) are bounded below the process's
  descriptor limit, overall and per client (``ConnectionBudget``, enforced by the
  protocols of ``ttskit.server.http``);
- synthesis slots and the queue are shared out per client (``client_share``, enforced by
  ``ttskit.server.pool``), with the client of a request read from its scope
  (``client_of``). By default (``client_share_for``) the share is half of each on a
  server that other machines can reach, and no bound on one that serves a loopback
  address: there every process of the machine is the one client 127.0.0.1, so a share
  could only hold back its one user.
"""

from __future__ import annotations

import asyncio
import ipaddress
import resource
from collections import Counter

from starlette.types import Scope

from ..errors import InvalidArgument

__all__ = [
    "NETWORK_CLIENT_SHARE",
    "ConnectionBudget",
    "client_of",
    "client_share_for",
    "peer_of",
    "raise_open_file_limit",
]

#: the fraction of the slots and queue one client may hold on a server other machines reach
NETWORK_CLIENT_SHARE = 0.5


def peer_of(transport: asyncio.BaseTransport) -> str:
    """The client of a connection: the host of its peer address."""
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)


def client_of(scope: Scope) -> str:
    """The client of a request or WebSocket session: the host of its peer address, as the
    ASGI server reports it (``""`` when it reports none)."""
    client = scope.get("client")
    return str(client[0]) if client else ""


def client_share_for(host: str | None) -> float:
    """The default ``client_share`` of a server listening on ``host``.

    ``NETWORK_CLIENT_SHARE`` when other machines can reach it; 1 (no bound) on a loopback
    address or ``localhost``, and on a Unix socket (``host`` None), whose clients are the
    machine's own processes and so one client.

    Examples
    --------
    >>> client_share_for("127.0.0.1"), client_share_for("0.0.0.0")
    (1.0, 0.5)
    """
    if host is None or host == "localhost":
        return 1.0
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost
        loopback = False
    return 1.0 if loopback else NETWORK_CLIENT_SHARE


def raise_open_file_limit() -> int:
    """Raise the soft limit of open descriptors to the hard one where allowed; the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass  # some systems cap the soft limit below an infinite hard one
    return soft


class ConnectionBudget:
    """How many connections the server holds, overall and per client.

    A connection within both bounds is served. One beyond either is *over*: it may ask
    for ``/health`` and gets 503 for anything else. One that would take the count past
    ``limit + spare`` is closed as it opens: the spare descriptors are what keeps
    ``/health`` and the 503s answerable while the server is full.

    Parameters
    ----------
    limit : int
        Connections served at once.
    per_client : int, optional
        Connections served at once from one client (peer address); by default half of
        ``limit``.
    spare : int, optional
        Connections kept open beyond ``limit`` to answer them; by default an eighth of
        ``limit``, at least 8.

    Examples
    --------
    >>> budget = ConnectionBudget(2, per_client=1, spare=1)
    >>> [budget.admit(key, "127.0.0.2") for key in range(4)]
    ['served', 'over', 'over', 'closed']
    >>> budget.admit(9, "127.0.0.1")
    'closed'
    >>> budget.release(1)
    >>> budget.admit(9, "127.0.0.1")
    'served'
    """

    def __init__(self, limit: int, *, per_client: int | None = None, spare: int | None = None):
        if limit < 1:
            raise InvalidArgument(f"limit must be >= 1, got {limit!r}")
        self.limit = limit
        self.per_client = max(1, limit // 2) if per_client is None else per_client
        self.spare = max(8, limit // 8) if spare is None else spare
        self._peer_of: dict[object, str] = {}
        self._served: dict[object, bool] = {}
        self._served_per_peer: Counter[str] = Counter()

    @classmethod
    def for_descriptors(cls, descriptors: int) -> ConnectionBudget:
        """The budget for a process allowed ``descriptors`` open files.

        A quarter of them (at least 32) stays for engines, logs and the spare, and the
        rest is the bound.
        """
        reserve = max(32, descriptors // 4)
        limit = max(1, descriptors - reserve)
        return cls(limit, spare=max(8, reserve // 2))

    @property
    def open(self) -> int:
        """Connections held, over ones included."""
        return len(self._peer_of)

    @property
    def served(self) -> int:
        """Connections within their bounds."""
        return sum(self._served.values())

    def admit(self, key: object, peer: str) -> str:
        """``"served"``, ``"over"`` or ``"closed"`` for a new connection ``key`` from ``peer``."""
        if key in self._peer_of:
            return "served" if self._served[key] else "over"
        if self.open >= self.limit + self.spare:
            return "closed"
        served = self.served < self.limit and self._served_per_peer[peer] < self.per_client
        self._peer_of[key] = peer
        self._served[key] = served
        if served:
            self._served_per_peer[peer] += 1
        return "served" if served else "over"

    def release(self, key: object) -> None:
        """Forget connection ``key`` (closed)."""
        peer = self._peer_of.pop(key, None)
        if peer is not None and self._served.pop(key):
            self._served_per_peer[peer] -= 1
            if not self._served_per_peer[peer]:
                del self._served_per_peer[peer]
