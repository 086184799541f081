"""An endpoint's lifecycle: its states, the moves between them, and how a close is logged.

Theory of operation. A connection lives through four states, in this order only::

    HANDSHAKING --> OPEN --> CLOSING --> CLOSED
         \\___________________^

* ``HANDSHAKING``: the socket is connected; the TLS handshake (if any) and its checks run, and
  ``connection_made`` has not been delivered yet.
* ``OPEN``: ``connection_made`` was delivered; records flow both ways.
* ``CLOSING``: a close was asked for (any thread) or an error was seen (the handling thread);
  the reason is recorded, the socket shut down, and the poller is on its way to stop watching
  the fd. Nothing can be submitted any more.
* ``CLOSED``: the fd is closed, the queue dropped and ``connection_lost`` delivered (only to a
  connection that was OPEN). Final.

Every move goes through :func:`may_move`, the one table of what may follow what. A move that
is not in the table is not made (a late OPEN after a concurrent close, a second CLOSING): the
first reason wins.

Log levels are chosen by the *type* of the reason, never by its text (:func:`close_log_level`):
an orderly close by the peer is routine (DEBUG); a lost connection, a timeout or a failed TLS
handshake is worth knowing (INFO); a peer that broke the protocol is a WARNING; anything else
is a bug on our side (ERROR, with its traceback).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gfrpc.errors import PeerClosedError, RemoteProtocolError, TransportError

if TYPE_CHECKING:
    from gfrpc.transport.endpoint import Endpoint

__all__ = [
    "ConnectionHandler",
    "EndpointState",
    "GONE",
    "drop_tracebacks",
    "EndpointStats",
    "PeerClosedError",
    "close_log_level",
    "may_move",
]


class ConnectionHandler(Protocol):
    """Upper layer of a connection; called on the endpoint's handling thread.

    ``connection_made`` when the endpoint becomes OPEN; ``record_received`` for each whole
    record while it is OPEN; ``connection_lost`` exactly once, when a connection that was
    OPEN becomes CLOSED (after its fd is closed). A handler with a true ``takes_tails``
    attribute may get a big record before its last bytes are read (``Endpoint.unread_tail``,
    ``tail.py``).
    """

    def connection_made(self, endpoint: Endpoint) -> None: ...

    def record_received(self, endpoint: Endpoint, record: memoryview) -> None: ...

    def connection_lost(self, endpoint: Endpoint, exc: Exception) -> None: ...


class _Gone:
    """The handler a closed endpoint keeps instead of its own: a handler usually refers to its
    endpoint, and the two would keep each other (and the connection's buffers) until a full
    collection of the cyclic garbage collector. Nothing reaches it: a CLOSED endpoint
    delivers nothing."""

    takes_tails = False

    def connection_made(self, endpoint: Endpoint) -> None:
        pass

    def record_received(self, endpoint: Endpoint, record: memoryview) -> None:
        pass

    def connection_lost(self, endpoint: Endpoint, exc: Exception) -> None:
        pass


GONE: ConnectionHandler = _Gone()


def drop_tracebacks(exc: BaseException) -> None:
    """Drop the tracebacks of ``exc`` and of the exceptions it was raised from or during. A
    closed endpoint keeps its close reason, and those tracebacks' frames would keep what they
    held: the endpoint itself (``self``), and a worker thread's locals, such as its eventfd
    doorbell, past the thread's end."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.__traceback__ = None
        link = link.__cause__ or link.__context__


class EndpointState(enum.Enum):
    """Where an endpoint is in its life (see the module docstring)."""

    HANDSHAKING = "handshaking"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"


_NEXT: dict[EndpointState, frozenset[EndpointState]] = {
    EndpointState.HANDSHAKING: frozenset({EndpointState.OPEN, EndpointState.CLOSING}),
    EndpointState.OPEN: frozenset({EndpointState.CLOSING}),
    EndpointState.CLOSING: frozenset({EndpointState.CLOSED}),
    EndpointState.CLOSED: frozenset(),
}


def may_move(current: EndpointState, new: EndpointState) -> bool:
    """Whether ``new`` may follow ``current``: the one table of the endpoint's moves."""
    return new in _NEXT[current]


def close_log_level(reason: BaseException) -> int:
    """The level of the "closing connection" log line for ``reason``, by its type."""
    if isinstance(reason, PeerClosedError):
        return logging.DEBUG
    if isinstance(reason, RemoteProtocolError):
        return logging.WARNING
    if isinstance(reason, TransportError):
        # reset, broken pipe, hang-up, timeouts, a local close; and TLS failures, which are
        # most often a peer without the right certificate, or one that hung up mid-handshake
        return logging.INFO
    return logging.ERROR


@dataclass(frozen=True)
class EndpointStats:
    """A snapshot of one endpoint, for tests and diagnostics (``Endpoint.stats()``).

    ``unsent_bytes``: queued, not yet handed to the kernel. ``buffered_bytes``: input held in
    incomplete records (what the server's memory budget counts); ``in_record``: a record or
    its header is partly received. ``records_received``: whole records delivered so far.
    """

    state: EndpointState
    tls: bool
    unsent_bytes: int
    buffered_bytes: int
    in_record: bool
    records_received: int
    input_paused: bool
