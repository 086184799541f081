"""One connection: a socket, an optional TLS layer, a record decoder and an outgoing queue.

Theory of operation.

*Input* is handled by exactly one thread at a time, the one the poller gives the endpoint
(see ``pollers/base.py``). On readable it reads up to ``read_size`` bytes: without TLS
straight into the record decoder's buffer (``recv_into`` a view of the record being
assembled, so a 1 MiB WRITE lands in its final bytearray with no extra copy); with TLS into a
scratch buffer fed to the in-memory TLS session, which decrypts into the decoder's buffer
(``tls.py``). Complete records go up to the handler in order.

*Output* may be submitted from any thread. ``submit(*parts)`` is one RPC message: it adds the
record mark, takes ownership of the bytes (``bytes`` are immutable and kept by reference;
anything mutable is copied, so a caller may reuse its buffer at once: the 2011 "reply freed
before the deferred send" bug cannot happen), encrypts them if TLS is on (one TLS write per
message part, never two messages in one TLS write), appends them to the queue and tries to
write at once in the caller's thread. What the kernel does not take (EAGAIN) stays queued and
the poller is kicked to watch for writability; the handling thread finishes the write later.
Queue order is wire order: encryption and enqueueing happen under one lock.

*Cleanup* runs exactly once. Any thread may call :meth:`close`; it records the reason, shuts
the socket down and kicks the poller. The handling thread then sees the endpoint is finished,
the poller stops watching the fd, and :meth:`finalize` closes it, drops the queue and calls
``connection_lost`` once. EOF, reset, protocol and TLS errors take the same path.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import ssl
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from gfrpc.errors import (
    NotConnectedError,
    RemoteProtocolError,
    TLSError,
    TransportError,
)
from gfrpc.transport.options import SocketOptions
from gfrpc.transport.tls import TLSSession
from gfrpc.wire.record import NEED_DATA, RecordDecoder, record_mark

if TYPE_CHECKING:
    from gfrpc.transport.pollers.base import Poller

log = logging.getLogger("gfrpc.transport")

_SMALL = 64 * 1024  # message parts below this are joined before a TLS write
_IOV_MAX = 64
_READS_PER_EVENT = 4  # full reads of one connection before the poller moves on
_TLS_SLICE = 64 * 1024  # plaintext encrypted between two sends of a large message


class ConnectionHandler(Protocol):
    """Upper layer of a connection; called on the endpoint's handling thread."""

    def connection_made(self, endpoint: Endpoint) -> None: ...

    def record_received(self, endpoint: Endpoint, record: memoryview) -> None: ...

    def connection_lost(self, endpoint: Endpoint, exc: Exception) -> None: ...


def _owned(part: bytes | bytearray | memoryview) -> bytes | memoryview:
    """A view of ``part`` that nobody else can change: keep immutable bytes, copy the rest."""
    if type(part) is bytes:
        return part
    if isinstance(part, memoryview) and part.readonly and type(part.obj) is bytes:
        return part
    return bytes(part)


class Endpoint:
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
    ) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._fd = sock.fileno()
        self.handler = handler
        self._poller = poller
        self._options = options
        self.server_side = server_side
        self._decoder = RecordDecoder(options.max_record_size)
        self._tls = TLSSession(tls, server_side, tls_check) if tls is not None else None
        self._scratch = bytearray(options.read_size) if self._tls is not None else None
        self._out_lock = threading.Lock()
        self._outq: deque[memoryview] = deque()
        self._held: list[list[bytes | memoryview]] = []  # plaintext waiting for the handshake
        self._open = False  # handshake done and connection_made delivered
        self._closing: Exception | None = None
        self._finalized = False
        self._paused = False
        self._first_read = True
        self._records_in = 0
        self.ready = threading.Event()  # set when open, or when finished
        self.peer_cn: str | None = None
        self.peername = _safe(sock.getpeername)
        self.sockname = _safe(sock.getsockname)
        self.close_reason: Exception | None = None

    # -- public API -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closing is not None

    @property
    def tls_enabled(self) -> bool:
        return self._tls is not None

    def submit(self, *parts: bytes | bytearray | memoryview) -> None:
        """Queue one RPC message (record mark added). Raises NotConnectedError once closed."""
        owned = [_owned(p) for p in parts if len(p)]
        total = sum(len(p) for p in owned)
        mark = record_mark(total)
        flush = False
        with self._out_lock:
            if self._closing is not None:
                raise NotConnectedError(f"connection to {self._peer()} is closed")
            was_empty = not self._outq
            if self._tls is None:
                self._outq.append(memoryview(mark))
                self._outq.extend(memoryview(p) for p in owned)
                flush = was_empty
            elif not self._tls.established:
                self._held.append([mark, *owned])
            else:
                self._tls_write_locked([mark, *owned])
                flush = was_empty
            if flush:
                self._flush_locked()
            kick = bool(self._outq)
        if kick:
            self._poller.kick(self)

    def close(self, exc: Exception | None = None) -> None:
        """Close the connection (any thread). ``connection_lost`` follows, exactly once."""
        with self._out_lock:
            if self._closing is not None:
                return
            self._closing = exc if exc is not None else NotConnectedError("closed locally")
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._poller.kick(self)

    def pause_reading(self) -> None:
        """Stop reading from the socket (the outstanding-request limit is reached)."""
        self._paused = True

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            self._poller.kick(self)

    # -- the pollable side (called by the poller on the handling thread) ----------------------

    def fileno(self) -> int:
        return self._fd

    def interest(self) -> tuple[bool, bool]:
        want_read = not self._paused or not self._open
        want_write = bool(self._outq)
        if self._tls is not None and not self._tls.established:
            want_read = True
        return want_read, want_write

    def abort(self, reason: Exception) -> None:
        self.close(NotConnectedError(str(reason)))

    def handle_events(self, readable: bool, writable: bool, error: bool) -> bool:
        if self._closing is not None:
            return False
        try:
            if not self._open:
                self._progress_handshake()
                if not self._open:
                    if error and self._hangup_is_real():
                        raise NotConnectedError("connection failed during the TLS handshake")
                    return self._closing is None
            if writable and self._outq:
                with self._out_lock:
                    self._flush_locked()
            if readable or error:
                self._read()
                if error and self._closing is None and self._hangup_is_real():
                    raise NotConnectedError("connection error (POLLERR/POLLHUP)")
        except (TransportError, RemoteProtocolError) as exc:
            self._set_closing(exc)
        except OSError as exc:
            self._set_closing(_translate(exc))
        return self._closing is None

    def _hangup_is_real(self) -> bool:
        """Whether an error/hang-up event really belongs to this socket.

        epoll reports events by fd number. Between one thread's ``epoll_wait`` and its
        look-up of the fd, another thread may retire the old connection, close its fd, and a
        new connection may get the same number: the old HUP then arrives at the new endpoint.
        So the flag is only believed when the socket agrees: a pending error (raised here), an
        EOF, or unread data while reading is paused (it would only spin). A socket that would
        just block on a read has no hang-up, and the event is ignored.
        """
        code = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise _translate(OSError(code, os.strerror(code)))
        try:
            peeked = self._sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return False
        except OSError as exc:
            raise _translate(exc) from None
        return not peeked or self._paused

    def finalize(self) -> None:
        if self._finalized:
            return
        self._finalized = True
        reason = self._closing or NotConnectedError("connection closed")
        self.close_reason = reason
        with self._out_lock:
            dropped = sum(len(v) for v in self._outq)
            self._outq.clear()
            self._held.clear()
        try:
            self._sock.close()
        except OSError:
            pass
        if self._decoder.in_record:
            log.info("%s: disconnected in the middle of a record", self._peer())
        if dropped:
            log.debug("%s: dropped %d unsent bytes", self._peer(), dropped)
        self.ready.set()
        if self._open:
            try:
                self.handler.connection_lost(self, reason)
            except Exception:
                log.exception("connection_lost handler failed")
        elif self.server_side:
            log.info("%s: connection refused before it opened: %s", self._peer(), reason)

    # -- internals --------------------------------------------------------------------------

    def _peer(self) -> str:
        p = self.peername
        if isinstance(p, tuple):
            return f"{p[0]}:{p[1]}"
        return str(p) or "peer"

    def _set_closing(self, exc: Exception) -> None:
        with self._out_lock:
            if self._closing is None:
                self._closing = exc
        orderly = isinstance(exc, NotConnectedError) and str(exc) == "EOF from peer"
        log.log(logging.DEBUG if orderly else logging.INFO, "%s: closing connection: %s",
                self._peer(), exc)

    def _progress_handshake(self) -> None:
        tls = self._tls
        if tls is not None and not tls.established:
            with self._out_lock:
                done = tls.handshake_step()
                self._outq.extend(tls.take_output())
                self._flush_locked()
            if not done:
                # need more bytes from the peer: read them now if any are there
                self._read_tls_handshake()
                if not tls.established:
                    return
            self.peer_cn = tls.peer_cn
            with self._out_lock:
                for message in self._held:
                    self._tls_write_locked(message)
                self._held.clear()
                self._flush_locked()
        self._open = True
        self.handler.connection_made(self)
        self.ready.set()
        if tls is not None:
            # application data that came with the last handshake flight is already in the
            # incoming BIO: the socket will not become readable for it again
            with self._out_lock:
                eof = tls.decrypt_into(self._decoder)
            self._deliver()
            if eof:
                raise self._eof()

    def _read_tls_handshake(self) -> None:
        assert self._tls is not None and self._scratch is not None
        view = memoryview(self._scratch)
        while not self._tls.established:
            try:
                n = self._sock.recv_into(view)
            except BlockingIOError:
                return
            if n == 0:
                raise TLSError("TLS handshake failed: connection closed by peer")
            with self._out_lock:
                self._tls.feed(view[:n])
                self._tls.handshake_step()
                self._outq.extend(self._tls.take_output())
                self._flush_locked()

    def _tls_write_locked(self, message: list[bytes | memoryview]) -> None:
        """Encrypt one message (its own TLS writes: never shared with another message).

        Small parts are joined into one write. A large part is encrypted in slices, and each
        slice's ciphertext is handed to the kernel before the next is encrypted, so the
        peer decrypts the start of a 1 MiB message while we still encrypt its end.
        """
        tls = self._tls
        assert tls is not None
        small: list[bytes | memoryview] = []
        for p in message:
            if len(p) < _SMALL:
                small.append(p)
                continue
            if small:
                tls.write(b"".join(small))
                small = []
            view = memoryview(p)
            for start in range(0, len(view), _TLS_SLICE):
                tls.write(view[start : start + _TLS_SLICE])
                self._outq.extend(tls.take_output())
                self._flush_locked()
        if small:
            tls.write(b"".join(small))
        self._outq.extend(tls.take_output())

    def _flush_locked(self) -> None:
        """Write as much of the queue as the kernel takes (caller holds ``_out_lock``)."""
        q = self._outq
        sock = self._sock
        while q:
            try:
                if len(q) == 1:
                    sent = sock.send(q[0])
                else:
                    sent = sock.sendmsg(list(_first(q, _IOV_MAX)))
            except BlockingIOError:
                return
            except OSError as exc:
                if self._closing is None:
                    self._closing = _translate(exc)
                q.clear()
                return
            while sent:
                head = q[0]
                if sent >= len(head):
                    sent -= len(head)
                    q.popleft()
                else:
                    q[0] = head[sent:]
                    sent = 0

    def _read(self) -> None:
        decoder = self._decoder
        if self._tls is None:
            buf = decoder.get_buffer()
            try:
                n = self._sock.recv_into(buf)
            except BlockingIOError:
                return
            if n == 0:
                raise self._eof()
            if self._first_read:
                self._first_read = False
                if n >= 2 and buf[0] == 0x16 and buf[1] == 0x03:
                    # a TLS handshake record where a record mark should be: it would read as
                    # a ~370 MB non-last fragment and stall until the peer gives up
                    raise RemoteProtocolError("peer speaks TLS on a plaintext port")
            decoder.buffer_updated(n)
        else:
            assert self._scratch is not None
            view = memoryview(self._scratch)
            tls = self._tls
            for _ in range(_READS_PER_EVENT):
                try:
                    n = self._sock.recv_into(view)
                except BlockingIOError:
                    break
                if n == 0:
                    raise self._eof()
                with self._out_lock:
                    tls.feed(view[:n])
                    eof = tls.decrypt_into(decoder)
                    if tls.has_output():
                        self._outq.extend(tls.take_output())
                        self._flush_locked()
                if eof:
                    self._deliver()
                    raise self._eof()
                self._deliver()
                if n < len(view) or self._closing is not None:
                    break
            return
        self._deliver()

    def _eof(self) -> NotConnectedError:
        """The error for an orderly close by the peer, with a hint when it never answered."""
        if self.server_side or self._records_in:
            return NotConnectedError("EOF from peer")
        if self._tls is None:
            return NotConnectedError(
                "connection closed by the server before it answered (does it expect TLS?)")
        return NotConnectedError(
            "connection closed by the server before it answered (does its ssl-allow "
            "list include our certificate's CN?)")

    def _deliver(self) -> None:
        decoder = self._decoder
        handler = self.handler
        while self._closing is None:
            record = decoder.next_record()
            if record is NEED_DATA:
                return
            assert isinstance(record, memoryview)
            self._records_in += 1
            handler.record_received(self, record)


def _first(q: deque[memoryview], n: int) -> list[memoryview]:
    out = []
    for v in q:
        out.append(v)
        if len(out) == n:
            break
    return out


def _safe(fn: Callable[[], object]) -> object:
    try:
        return fn()
    except OSError:
        return None


def _translate(exc: OSError) -> TransportError:
    """OS errors become gfrpc errors once, here at the boundary."""
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, ssl.SSLError):
        return TLSError(f"TLS error: {exc.reason or exc}")
    code = exc.errno or errno.EIO
    name = {
        errno.ECONNRESET: "connection reset by peer",
        errno.EPIPE: "broken pipe",
        errno.ECONNREFUSED: "connection refused",
        errno.ETIMEDOUT: "connection timed out",
    }.get(code, exc.strerror or str(exc))
    return NotConnectedError(name)
