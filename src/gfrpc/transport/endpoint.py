"""One connection: a socket, an optional TLS layer, a record decoder and an outgoing queue.

Theory of operation.

*Input* is handled by exactly one thread at a time, the one the poller gives the endpoint
(see ``pollers/base.py``). On readable it reads up to ``read_size`` bytes: without TLS
straight into the record decoder's buffer (``recv_into`` a view of the record being
assembled, so a 1 MiB WRITE lands in its final buffer with no extra copy); with TLS into a
read buffer fed to the in-memory TLS session, which decrypts into the decoder's buffer
(``tls.py``; the handshake and this reading are ``endpoint_tls.py``). Read buffers are
leased from a process-wide free list for the duration of one read, so an idle connection owns
none (``wire/record.py``). Complete records go up to the handler in order; while input is
paused (``pause_reading``, or too many unsent bytes or parts) records already decoded wait in
the decoder and are delivered on resume, so a pause takes effect at once, not one read later.
The commonest read of all, one whole small request and nothing else (a client that sends one
request at a time, as fio's jobs and FUSE's lookups do), takes a shorter way: the decoder
hands that record over without its parser or its queue (``RecordDecoder.take_whole``, and
``take_lone`` after a TLS decryption), and ``_deliver_one`` gives it to the handler with no
loop and no look for a tail (Performance notes 60).

*Output* (``endpoint_output.py``) may be submitted from any thread. ``submit(*parts)`` is
one RPC message: it adds the record mark, takes ownership of the bytes (``bytes`` are
immutable and kept by reference; anything mutable is copied, so a caller may reuse its buffer
at once: the 2011 "reply freed before the deferred send" bug cannot happen), encrypts them if
TLS is on (one TLS write per message part, never two messages in one TLS write), appends them
to the queue and tries to write at once in the caller's thread. What the kernel does not take
(EAGAIN) stays queued and the poller is kicked to watch for writability; the handling thread
finishes the write later.
One exception: messages submitted by the thread that is delivering records to the handler
(a reply made inline, on the poller thread) are *corked*: they wait until that thread has
handled the records it decoded, at most ``CORK_RECORDS`` of them, and then leave in one
``sendmsg``, so a pipelined burst of STATs costs one write, not one per reply.
Queue order is wire order: encryption and enqueueing happen under one lock. ``on_sent``, when
given, is called once the message's last byte has been handed to the kernel (or the
connection is gone), outside the lock: the RPC server counts a request until then.

*Server limits* (``limits.py``; the methods are ``endpoint_limits.py``), when the listener
passes a ``guard``: the endpoint reports
the bytes of incomplete records it holds after each read (the server-wide memory budget may
pause it, or close it to take back what it read: ``close_for_memory``), reads little at once
while that budget is spent (``IncompleteBudget.read_size``), stops reading while more than
``max_unsent_bytes`` of replies wait to be sent (resumed below half of that), and the
watchdog thread calls :meth:`check_deadlines` (handshake, first-request, partial-record and
send timeouts).

*Cleanup* runs exactly once. Any thread may call :meth:`close`; it records the reason, shuts
the socket down and kicks the poller. The handling thread then sees the endpoint is finished,
the poller stops watching the fd, and :meth:`finalize` closes it, drops the queue and calls
``connection_lost`` once. EOF, reset, protocol and TLS errors take the same path.

*A caller reads its own reply* (:meth:`read_until`): a thread that waits for input on this
connection (a synchronous RPC call) may borrow the connection from its poller
(``pollers/base.py``, lending) and read it itself, handling events exactly as the poller
would, until what it waits for is done or ``LEND_SLICE`` has passed; then it gives the
connection back. On a 2-core machine the poller's wake-up and the hand-off back to the caller
cost more than a small call's own work. Output another thread queues meanwhile without getting
it all into the kernel waits for the caller's next look at the interest (at most
``LEND_RECHECK`` later); a close from any thread shuts the socket down, which wakes the caller.

*Lifecycle* (``lifecycle.py``): the endpoint is HANDSHAKING, OPEN, CLOSING or CLOSED
(``endpoint.state``, shown by ``repr``); the moves between them are one table there, and the
level a close is logged at follows the type of its reason. Tests look at an endpoint through
:meth:`Endpoint.stats`, never at its private parts.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from gfrpc.errors import (
    NotConnectedError,
    RemoteProtocolError,
    TransportError,
)
from gfrpc.transport.baton import BATON, BIG
from gfrpc.transport.endpoint_limits import EndpointLimits
from gfrpc.transport.endpoint_output import JOIN_BELOW, EndpointOutput
from gfrpc.transport.endpoint_tls import EndpointTLSInput
from gfrpc.transport.lifecycle import (
    GONE,
    ConnectionHandler,
    EndpointState,
    EndpointStats,
    PeerClosedError,
    close_log_level,
    drop_tracebacks,
    may_move,
)
from gfrpc.transport.limits import BODY_POOL
from gfrpc.transport.options import SocketOptions, peer_text
from gfrpc.transport.oserrors import hangup_is_real, safe, translate
from gfrpc.transport.outqueue import OutQueue
from gfrpc.transport.tail import UnreadTail, queued_bytes
from gfrpc.transport.tls import TLSSession
from gfrpc.wire.record import (
    NEED_DATA,
    RecordDecoder,
)

if TYPE_CHECKING:
    from gfrpc.transport.limits import ConnectionGuard
    from gfrpc.transport.pollers.base import Poller

__all__ = ["JOIN_BELOW", "ConnectionHandler", "Endpoint"]

#: at most this many records are handled before replies made inline are written (see above)
CORK_RECORDS = 16
_OPEN, _CLOSING, _CLOSED = EndpointState.OPEN, EndpointState.CLOSING, EndpointState.CLOSED

log = logging.getLogger("gfrpc.transport")

#: the longest a caller reads its own connection before it leaves it to the poller (s)
LEND_SLICE = 0.05
#: how often a lent connection's interest is looked at again while nothing comes (ms)
LEND_RECHECK = 20
_POLL_IN = select.POLLIN | select.POLLRDHUP
_POLL_IN_OUT = _POLL_IN | select.POLLOUT
_POLL_ERR = select.POLLERR | select.POLLHUP | select.POLLNVAL
_MAX_READ = 4 << 20  # one read straight into a record: bounds a budget's overshoot
#: a record is handed up before its last bytes are read (tail.py) if at least this many are to come
TAIL_MIN = 128 << 10


class Endpoint(EndpointTLSInput, EndpointOutput, EndpointLimits):
    """One RPC connection driven by a poller. Create with ``connect()`` or a ``Listener``."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        handler: ConnectionHandler,
        poller: Poller,
        options: SocketOptions,
        tls: ssl.SSLContext | None = None,
        tls_check: Callable[[ssl.SSLObject], None] | None = None,
        server_side: bool = False,
        guard: ConnectionGuard | None = None,
    ) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._fd = sock.fileno()
        self.handler = handler
        self._poller = poller
        self._options = options
        self.server_side = server_side
        self._decoder = RecordDecoder(options.max_record_size, pool=BODY_POOL)
        self._tls = TLSSession(tls, server_side, tls_check) if tls is not None else None
        self._out_lock = threading.Lock()
        self._outq = OutQueue(guard.limits.max_unsent_bytes if guard is not None else 0)
        self._held: list[tuple[list[bytes | memoryview], Callable[[], None] | None]] = []
        self._guard = guard
        self._mem_paused = False
        self._charged = 0
        self._born = self._last_input = time.monotonic()
        #: (bytes written, when first seen) while replies wait: the watchdog's send timeout
        self._send_mark: tuple[int, float] | None = None
        self._state = EndpointState.HANDSHAKING  # moved only by _move_locked / _close_locked
        self._reason: Exception | None = None  # why it is CLOSING: the first reason wins
        self._made = False  # connection_made was delivered: connection_lost is owed
        self._paused = False
        self._corked_by = 0  # ident of the thread delivering records (its replies wait)
        self._lone = False  # ... one record only (_deliver_one): its first reply goes at once
        self._cork_pending = False  # a corked submit skipped its flush
        #: small replies made by the delivering thread, not yet queued: (data, on_sent)
        self._corked: list[tuple[bytes, Callable[[], None] | None]] = []
        self._first_read = True
        self._read_big = False  # a big TLS read came in (the first ends its event: endpoint_tls)
        self._tail: UnreadTail | None = None  # see unread_tail
        self._records_in = 0
        self.ready = threading.Event()  # set when open, or when finished
        self.peer_cn: str | None = None
        self.peername = safe(sock.getpeername)
        self.sockname = safe(sock.getsockname)
        self._peer_str = peer_text(sock.family, self.peername)
        self.close_reason: Exception | None = None
        if guard is not None:
            guard.attach(self)

    # -- public API -------------------------------------------------------------------------

    @property
    def state(self) -> EndpointState:
        """HANDSHAKING, OPEN, CLOSING or CLOSED (``lifecycle.py``)."""
        return self._state

    @property
    def closed(self) -> bool:
        """True from the moment a close was asked for or an error was seen (CLOSING)."""
        return self._state is EndpointState.CLOSING or self._state is EndpointState.CLOSED

    def stats(self) -> EndpointStats:
        """A snapshot of the endpoint's state and counters (any thread; for tests and
        diagnostics: the values may change right after)."""
        decoder = self._decoder
        return EndpointStats(
            state=self._state,
            tls=self._tls is not None,
            unsent_bytes=self._outq.unsent,
            buffered_bytes=decoder.buffered_bytes,
            in_record=decoder.in_record,
            records_received=self._records_in,
            input_paused=self._input_paused(),
        )

    def __repr__(self) -> str:
        side = "server" if self.server_side else "client"
        tls = " TLS" if self._tls is not None else ""
        return f"<Endpoint {side}{tls} peer={self._peer_str} state={self._state.name}>"

    @property
    def tls_enabled(self) -> bool:
        return self._tls is not None

    @property
    def unsent_bytes(self) -> int:
        """Bytes queued and not yet handed to the kernel."""
        return self._outq.unsent

    def close(self, exc: Exception | None = None) -> None:
        """Close the connection (any thread). ``connection_lost`` follows, exactly once."""
        with self._out_lock:
            if not self._close_locked(
                exc if exc is not None else NotConnectedError("closed locally")
            ):
                return
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._poller.kick(self)

    def pause_reading(self) -> None:
        """Stop reading from the socket and delivering records (the outstanding-request
        limit is reached)."""
        self._paused = True

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            self._poller.kick(self)

    def peer_text(self) -> str:
        return self._peer()

    @property
    def born(self) -> float:
        """When the connection was made (``time.monotonic()``)."""
        return self._born

    # -- the pollable side (called by the poller on the handling thread) ----------------------

    def fileno(self) -> int:
        return self._fd

    def _input_paused(self) -> bool:
        return self._paused or self._outq.paused or self._mem_paused

    def interest(self) -> tuple[bool, bool]:
        want_read = not self._input_paused() or self._state is EndpointState.HANDSHAKING
        want_write = bool(self._outq.pending)
        if self._tls is not None and not self._tls.established:
            want_read = True
        return want_read, want_write

    def abort(self, reason: Exception) -> None:
        self.close(NotConnectedError(str(reason)))

    def handle_events(self, readable: bool, writable: bool, error: bool) -> bool:
        state = self._state
        if state is _CLOSING or state is _CLOSED:
            return False
        try:
            if self._state is EndpointState.HANDSHAKING:
                self._progress_handshake()
                if self._state is EndpointState.HANDSHAKING:
                    if error and self._hangup_is_real():
                        raise NotConnectedError("connection failed during the TLS handshake")
                    return True
                if self.closed:
                    return False
            if writable and self._outq.pending:
                with self._out_lock:
                    self._flush_locked()
                self._after_unlock(False)
            if self._decoder.has_records:
                self._deliver()  # records held back while paused
            if error or (readable and not self._input_paused()):
                self._read()
                if error and not self.closed and self._hangup_is_real():
                    raise NotConnectedError("connection error (POLLERR/POLLHUP)")
        except (TransportError, RemoteProtocolError) as exc:
            self._set_closing(exc)
        except OSError as exc:
            self._set_closing(translate(exc))
        except Exception as exc:  # a bug here or in the handler: this connection only
            self._set_closing(exc)
        return not self.closed

    def borrow_input(self) -> bool:
        """Take this connection's input from the poller for the calling thread (module notes):
        True when the poller lent it, and then :meth:`read_until` must follow (it gives the
        connection back). False when the connection is not open, its input is paused, the
        poller is handling it or lends nothing."""
        if self._state is not _OPEN or self._input_paused():
            return False
        return self._poller.borrow(self)

    def read_until(self, done: Callable[[], bool], deadline: float = 0.0) -> None:
        """Handle the borrowed input on the calling thread until ``done()`` is true, for at
        most :data:`LEND_SLICE` and not past ``deadline`` (a ``time.monotonic()`` value; 0:
        none), then give the connection back to the poller."""
        poller = self._poller
        alive = True
        try:
            end = time.monotonic() + LEND_SLICE
            if deadline and deadline < end:
                end = deadline
            watch = select.poll()
            mask = 0
            outq = self._outq
            while not done():
                if self._input_paused():
                    break  # the poller resumes it
                want = _POLL_IN_OUT if outq.pending else _POLL_IN
                if want != mask:
                    if mask:
                        watch.modify(self._fd, want)
                    else:
                        watch.register(self._fd, want)
                    mask = want
                left = end - time.monotonic()
                if left <= 0:
                    break
                events = watch.poll(min(left * 1000.0, LEND_RECHECK))
                if not events:
                    continue
                ev = events[0][1]
                with poller.baton:
                    alive = self.handle_events(
                        bool(ev & _POLL_IN), bool(ev & select.POLLOUT), bool(ev & _POLL_ERR)
                    )
                if not alive:
                    break
        finally:
            poller.give_back(self, alive)

    def _hangup_is_real(self) -> bool:
        return hangup_is_real(self._sock, self._input_paused())

    def finalize(self) -> None:
        with self._out_lock:
            if self._state is EndpointState.CLOSED:
                return
            self._close_locked(NotConnectedError("connection closed"))
            self._move_locked(EndpointState.CLOSED)
            reason = self._reason
            assert reason is not None
            drop_tracebacks(reason)  # their frames would keep this endpoint (lifecycle.py)
            self.close_reason = reason
            self._queue_corked_locked()
            if self._tls is not None:
                self._tls.forget()  # it waits on its peer no more (tls.py, "Large parts")
            dropped = self._outq.drop()
            self._outq.fired.extend(cb for _, cb in self._held if cb)
            self._held.clear()
        self._after_unlock(False)
        self._decoder.release_buffer()
        if self._guard is not None:
            self._guard.detach(self)
        try:
            self._sock.close()
        except OSError:
            pass
        if self._decoder.in_record:
            log.info("%s: disconnected in the middle of a record", self._peer())
        if dropped:
            log.debug("%s: dropped %d unsent bytes", self._peer(), dropped)
        self.ready.set()
        if self._made:
            try:
                self.handler.connection_lost(self, reason)
            except Exception:
                log.exception("connection_lost handler failed")
        elif self.server_side:
            log.info("%s: connection refused before it opened: %s", self._peer(), reason)
        self.handler = GONE  # no cycle with it: freed when the last user lets go (lifecycle.py)

    # -- internals --------------------------------------------------------------------------

    def _peer(self) -> str:
        return self._peer_str

    def _move_locked(self, new: EndpointState) -> bool:
        """Make the move to ``new`` if the table allows it (caller holds ``_out_lock``)."""
        if not may_move(self._state, new):
            return False
        self._state = new
        return True

    def _close_locked(self, reason: Exception) -> bool:
        """Move to CLOSING with ``reason`` (caller holds ``_out_lock``); False if it already
        was closing or closed (the first reason stays)."""
        if not self._move_locked(EndpointState.CLOSING):
            return False
        self._reason = reason
        return True

    def _set_closing(self, exc: Exception) -> None:
        """The handling thread saw ``exc``: close, logged at the level its type calls for."""
        level = close_log_level(exc)
        reason = exc
        if not isinstance(exc, TransportError | RemoteProtocolError):  # a bug, not the peer
            reason = NotConnectedError(f"internal error: {type(exc).__name__}: {exc}")
            reason.__cause__ = exc
        with self._out_lock:
            self._close_locked(reason)
        log.log(
            level,
            "%s: closing connection: %s",
            self._peer(),
            exc,
            exc_info=exc if level >= logging.ERROR else None,
        )

    def _read(self) -> None:
        decoder = self._decoder
        if self._tls is None:
            buf = decoder.get_buffer()
            size = min(len(buf), _MAX_READ)
            guard = self._guard
            if guard is not None and guard.budget.spent:  # read little until let in
                size = guard.budget.read_size(self, size)
            try:
                if size >= BIG and decoder.buffer_is_direct:  # the rest of a big record
                    n = BATON.call_outside(self._sock.recv_into, buf, size)
                else:
                    n = self._sock.recv_into(buf, size)
            except BlockingIOError:
                decoder.release_buffer()
                return
            except OSError:
                decoder.release_buffer()
                raise
            if n == 0:
                decoder.release_buffer()
                raise self._eof()
            self._last_input = time.monotonic()
            if self._first_read:
                self._first_read = False
                if n >= 2 and buf[0] == 0x16 and buf[1] == 0x03:
                    # a TLS handshake record where a record mark should be: it would read as
                    # a ~370 MB non-last fragment and stall until the peer gives up
                    decoder.release_buffer()
                    raise RemoteProtocolError("peer speaks TLS on a plaintext port")
            if self._state is _OPEN and not self._paused and not self._outq.paused:
                record = decoder.take_whole(n)
                if record is not None:  # one request, whole: the usual case
                    self._deliver_one(record)
                    return
            decoder.buffer_updated(n)
        else:
            self._read_tls_event()
            return
        self._account()
        self._deliver()

    def _deliver_with_tail(self, handler: ConnectionHandler) -> None:
        """Hand up a big record whose rest is all queued in the kernel before reading that
        rest (``tail.py``); whatever the handler leaves of it is read in afterwards."""
        decoder = self._decoder
        need = decoder.unread_tail(TAIL_MIN)
        if not need or queued_bytes(self._fd) < need:
            return
        record = decoder.detach()
        tail = UnreadTail(self._sock, record[len(record) - need :])
        self._tail = tail
        try:
            self._records_in += 1
            handler.record_received(self, record)
        finally:
            self._tail = None
        if self._state is _OPEN:  # a closed connection reads nothing more (its socket is shut)
            tail.fill()
        self._account()

    @property
    def unread_tail(self) -> UnreadTail | None:
        """During ``record_received`` of a record handed up before its end was read (only to
        a handler whose ``takes_tails`` is true, without TLS): that end, which the handler
        may move into a file (``UnreadTail.splice_to``) or read (``fill``); else None."""
        return self._tail

    def _eof(self) -> PeerClosedError:
        """The error for an orderly close by the peer, with a hint when it never answered."""
        if self.server_side or self._records_in:
            return PeerClosedError("EOF from peer")
        if self._tls is None:
            return PeerClosedError(
                "connection closed by the server before it answered (does it expect TLS?)"
            )
        return PeerClosedError(
            "connection closed by the server before it answered (does its ssl-allow "
            "list include our certificate's CN?)"
        )

    def _deliver_one(self, record: memoryview) -> None:
        """``_deliver`` for the one record a read brought whole, the decoder holding nothing
        else (``RecordDecoder.take_whole``; the caller saw the endpoint open and not paused):
        no trip through the decoder's queue, and no tail to look for."""
        if self._charged:
            self._account()
        self._records_in += 1
        self._corked_by = threading.get_ident()
        self._lone = True
        try:
            self.handler.record_received(self, record)
        finally:
            self._corked_by = 0
            self._lone = False
            if self._outq.unsent >= BIG:  # e.g. a 1 MiB READ reply: write it baton-free
                BATON.call_outside(self._uncork)
            else:
                self._uncork()

    def _deliver(self) -> None:
        decoder = self._decoder
        handler = self.handler
        self._corked_by = threading.get_ident()
        try:
            corked = 0
            outq = self._outq
            while self._state is _OPEN and not self._paused and not outq.paused:
                record = decoder.next_record()
                if record is NEED_DATA:
                    if self._tls is None and getattr(handler, "takes_tails", False):
                        self._deliver_with_tail(handler)
                    return
                assert isinstance(record, memoryview)
                self._records_in += 1
                handler.record_received(self, record)
                corked += 1
                if corked >= CORK_RECORDS:
                    corked = 0
                    self._uncork()
        finally:
            self._corked_by = 0
            if self._outq.unsent >= BIG:  # e.g. a 1 MiB READ reply: write it baton-free
                BATON.call_outside(self._uncork)
            else:
                self._uncork()
