"""The side of an :class:`~gfrpc.transport.endpoint.Endpoint` that a server's limits see.

Theory of operation (``endpoint.py``'s *Server limits* note, in detail). A listener that
passes a ``ConnectionGuard`` (``limits.py``) makes each of its endpoints answer to three
things, all of which live here and none of which a client's endpoint pays for:

* *The memory budget for incomplete records* (``budget.py``). After each read the endpoint
  reports the bytes of unfinished records it holds (:meth:`_account`, only when that number
  changed). The budget may pause its reading (:meth:`pause_for_memory`, resumed with a kick
  to the poller), or close it to take back what it read (:meth:`close_for_memory`). It shares
  its slack by peer machine (:meth:`peer_host`) and asks whether a connection already reads
  nothing for a reason of its own (:meth:`input_held_back`).
* *Replies that wait.* The RPC server caps the parts of messages that may wait unsent
  (:meth:`limit_unsent_parts`: its outstanding-request limit), and its reply budget asks
  whether replies wait in the out-queue (:meth:`replies_queued`) and for how long none of them
  has moved (:meth:`unsent_for`).
* *The watchdog's timeouts.* The guard's watchdog thread calls :meth:`check_deadlines`
  (handshake, first-request, partial-record and send timeouts). The send timeout's mark is
  kept by the watchdog itself (``_send_mark``: bytes written and when first seen), so the path
  that writes pays nothing for it.

Every method may be called from any thread except :meth:`_account`, which the handling thread
calls after it read.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import TYPE_CHECKING, cast

from gfrpc.errors import TimeoutError_
from gfrpc.transport.budget import peer_host_key
from gfrpc.transport.lifecycle import close_log_level

if TYPE_CHECKING:
    from gfrpc.transport.limits import ConnectionGuard
    from gfrpc.transport.outqueue import OutQueue
    from gfrpc.transport.pollers.base import Pollable, Poller
    from gfrpc.transport.tls import TLSSession
    from gfrpc.wire.record import RecordDecoder

__all__ = ["EndpointLimits"]

log = logging.getLogger("gfrpc.transport")


class EndpointLimits:
    """The server-limit methods of ``Endpoint`` (which owns the state declared here)."""

    _out_lock: threading.Lock
    _outq: OutQueue
    _poller: Poller
    _guard: ConnectionGuard | None
    _decoder: RecordDecoder
    _tls: TLSSession | None
    _mem_paused: bool
    _paused: bool
    _charged: int
    _born: float
    _last_input: float
    _records_in: int
    _send_mark: tuple[int, float] | None
    peername: object

    if TYPE_CHECKING:

        @property
        def closed(self) -> bool: ...

        def close(self, exc: Exception | None = None) -> None: ...

        def _peer(self) -> str: ...

        def peer_text(self) -> str: ...

        @property
        def born(self) -> float: ...

    def limit_unsent_parts(self, count: int) -> None:
        """Stop reading while more than ``count`` parts of messages wait unsent (0: no such
        limit; every small message is one part). The RPC server sets its outstanding-request
        limit here: a request answered at once on the input thread counts while its reply
        waits in the out-queue."""
        with self._out_lock:
            self._outq.max_parts = max(0, count)

    def pause_for_memory(self) -> None:
        """Stop reading: the server's budget for incomplete records is spent (any thread)."""
        self._mem_paused = True

    def resume_for_memory(self) -> None:
        if self._mem_paused:
            self._mem_paused = False
            self._poller.kick(cast("Pollable", self))  # an Endpoint: the only user of this

    def input_held_back(self) -> bool:
        """Whether the connection reads nothing for a reason of its own: closed, paused by its
        handler, or too many replies unsent (the memory budget's finishers, ``budget.py``)."""
        return self.closed or self._paused or self._outq.paused

    def peer_host(self) -> str:
        """The peer's machine, as the memory budget shares its slack (``peer_host_key``)."""
        peer = self.peername
        if isinstance(peer, tuple):  # (host, port) or, for IPv6, (host, port, flow, scope)
            family = socket.AF_INET6 if len(peer) == 4 else socket.AF_INET
            return peer_host_key(family, str(peer[0]))
        return peer_host_key(socket.AF_UNIX, "")

    def close_for_memory(self, reason: str) -> None:
        """Close: the server's memory budget needs what this connection holds (any thread)."""
        exc = TimeoutError_(reason)
        log.log(close_log_level(exc), "%s: closing connection: %s", self._peer(), reason)
        self.close(exc)

    def replies_queued(self) -> bool:
        """Whether replies wait in the out-queue for the kernel to take them. The replies
        corked in the batch being delivered are not counted: they are written at the batch's
        end, and each is a small one (at most ``JOIN_BELOW`` bytes, ``CORK_RECORDS`` of them
        at most); a bigger reply is queued at once."""
        return bool(self._outq.pending)

    def unsent_for(self, now: float) -> float:
        """Seconds that replies have waited with none of them taken by the kernel, as the
        watchdog last saw them (0: none wait, or no watchdog looks at this connection)."""
        mark = self._send_mark
        if mark is None or not self._outq.pending:
            return 0.0
        return now - mark[1]

    def check_deadlines(self, now: float) -> None:
        """Close the connection if one of the server's timeouts has expired (watchdog thread)."""
        if self.closed or self._guard is None:
            return
        outq = self._outq
        if outq.pending:  # (the watchdog's own mark: no cost on the path that writes)
            mark = self._send_mark
            if mark is None or mark[0] != outq.written:
                self._send_mark = mark = (outq.written, now)
            unsent_for = now - mark[1]
        else:
            self._send_mark = None
            unsent_for = 0.0
        reason = self._guard.limits.expired(
            now - self._born,
            now - self._last_input,
            handshaking=self._tls is not None and not self._tls.established,
            requests=self._records_in,
            partial=self._decoder.buffered_bytes
            if self._decoder.in_record and not self.input_held_back()
            else None,
            unsent_for=unsent_for,
        )
        if reason is not None:
            exc = TimeoutError_(reason)
            log.log(close_log_level(exc), "%s: closing connection: %s", self._peer(), reason)
            self.close(exc)

    def _account(self) -> None:
        """Tell the server's memory budget how much of incomplete records we hold."""
        guard = self._guard
        if guard is not None:
            decoder = self._decoder
            held = decoder.buffered_bytes
            if held != self._charged:
                self._charged = held
                guard.budget.charge(self, held, decoder.record_left)
