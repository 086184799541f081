"""The output side of an :class:`~gfrpc.transport.endpoint.Endpoint`: queueing messages,
corking the replies a delivering thread makes, and writing to the kernel.

Theory of operation (the *Output* part of ``endpoint.py``'s notes, in detail). ``submit`` is
one RPC message; any thread may call it. Everything that reaches the out-queue does so under
the endpoint's output lock, so queue order is wire order and a message's TLS writes are never
interleaved with another's. Three ways in:

* a small message (at most ``JOIN_BELOW`` bytes; with TLS, once the handshake is done) is
  joined with its record mark into one buffer, which also makes it ours (a caller may reuse
  its buffers at once);
* a small reply made by the thread that is delivering records (an inline handler on the
  poller thread) is not queued at once: it waits, without the lock, in that thread's batch
  (``_corked``) until ``_uncork`` queues the whole batch and writes it in one ``sendmsg``. A
  larger message from the same thread first queues the batch, so the thread's messages keep
  their order; if the connection closes meanwhile, their ``on_sent`` calls still happen;
  a batch of one reply with nothing queued before it (one request at a time, as fio's jobs
  send them) is handed to the kernel directly (``_send_sole_reply``): only what the kernel
  does not take is queued. So is any other small message that finds the queue empty (a
  client's call, one at a time). With TLS each reply of the batch is encrypted with its own TLS
  write (GlusterFS never reads a second message out of one TLS record) when the batch is
  queued or sent, and their ciphertext goes out together;
* anything else is lent to the endpoint for the call: with TLS it is encrypted at once and
  nothing of it is kept; without, it is queued and written at once unless the delivering
  thread will write it with its batch, and only what is still queued when the call returns
  is copied, if it is mutable (``owned``). So a caller's 1 MiB ``bytearray`` (a ``gfrpc cp``
  or fsspec buffer) is not copied when the kernel takes it whole, nor ever with TLS.

What the kernel does not take stays queued and the poller is kicked to watch for
writability. ``on_sent`` callbacks fire once their message has been handed to the kernel (or
the connection is gone), outside the lock (``_after_unlock``).
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from gfrpc.errors import LocalProtocolError, NotConnectedError, TLSError
from gfrpc.transport.baton import BATON, BIG
from gfrpc.transport.lifecycle import EndpointState
from gfrpc.transport.oserrors import translate
from gfrpc.transport.outqueue import FileRegion, OutQueue, owned
from gfrpc.wire.record import LAST_FRAGMENT, record_mark

if TYPE_CHECKING:
    from gfrpc.transport.pollers.base import Pollable, Poller
    from gfrpc.transport.tls import TLSSession

__all__ = ["JOIN_BELOW", "EndpointOutput"]

log = logging.getLogger("gfrpc.transport")

#: messages up to this size are copied into one part with their record mark when queued
#: (a copy of a few KiB is cheaper than the objects and iovecs of three parts; 8 KiB holds a
#: 4 KiB READ reply and a LOOKUP reply carrying a 4 KiB file for quick-read)
JOIN_BELOW = 8192
#: a message part as ``submit`` takes it (lent for the call, but for a ``FileRegion``)
Part = bytes | bytearray | memoryview | FileRegion
_SMALL_MARKS = struct.Struct(">I")  # the record mark of a small message (JOIN_BELOW < 2**31)
_CLOSING, _CLOSED = EndpointState.CLOSING, EndpointState.CLOSED


class EndpointOutput:
    """The output methods of ``Endpoint`` (which owns the state declared here)."""

    _sock: socket.socket
    _poller: Poller
    _tls: TLSSession | None
    _state: EndpointState
    _out_lock: threading.Lock
    _outq: OutQueue
    _held: list[tuple[list[bytes | memoryview], Callable[[], None] | None]]
    _corked_by: int  # ident of the thread delivering records (its replies wait)
    _lone: bool  # it delivers one record only: its first small reply need not wait
    _cork_pending: bool  # a corked message was queued without its flush
    #: small replies made by the delivering thread, not yet queued: (data, on_sent)
    _corked: list[tuple[bytes, Callable[[], None] | None]]

    if TYPE_CHECKING:

        def _peer(self) -> str: ...

        def _close_locked(self, reason: Exception) -> bool: ...

    def submit(
        self,
        *parts: bytes | bytearray | memoryview | FileRegion,
        on_sent: Callable[[], None] | None = None,
    ) -> None:
        """Queue one RPC message (record mark added). Raises NotConnectedError once closed.

        The other parts are lent for the call: the caller may change them once it returns
        (what the endpoint still holds of a mutable one then is its own copy). A part counts
        its bytes, whatever a ``memoryview``'s item size or shape. A
        ``FileRegion`` part is the endpoint's from this call on, even when it raises: sent
        with ``sendfile`` on a plain connection, read into the message with TLS.

        ``on_sent()`` is called once the whole message has been written to the kernel, or
        the connection is gone (on some thread, never under the endpoint's locks).
        """
        tls = self._tls
        if tls is None or tls.established:  # (it only ever turns True)
            total = 0
            for p in parts:  # (a memoryview's len() counts its items: its size is nbytes)
                total += p.nbytes if type(p) is memoryview else len(p)
            if total <= JOIN_BELOW:  # a small reply (most): one buffer, joined (so owned)
                data = b"".join((_SMALL_MARKS.pack(total | LAST_FRAGMENT), *parts))  # type: ignore[arg-type]  # (a FileRegion is never this small)
                corked_by = self._corked_by
                if (
                    corked_by
                    and corked_by == threading.get_ident()
                    and (self._corked or not self._lone)
                ):
                    # a reply made inline by the delivering thread: it waits, unlocked, in
                    # this thread's batch until _uncork queues the batch in one go
                    state = self._state
                    if state is _CLOSING or state is _CLOSED:
                        raise NotConnectedError(f"connection to {self._peer()} is closed")
                    self._corked.append((data, on_sent))
                    return
                if self._send_alone(data, on_sent):
                    return
                if tls is None:
                    self._queue(None, memoryview(data), on_sent)
                else:
                    self._queue([data], None, on_sent)
                return
        kept = [_byte_part(p) for p in parts if len(p)]  # lent for this call: see _queue
        total = sum(len(p) for p in kept)
        try:
            if tls is not None:
                kept = _read_regions(kept, total)  # sendfile needs the plain socket
            mark = record_mark(total)
            if total <= JOIN_BELOW:  # a small message is one part: fewer objects and iovecs
                kept = [b"".join((mark, *kept))]  # type: ignore[arg-type]  # (regions are bigger)
                mark = b""
            message = [p for p in (mark, *kept) if p]
            if total >= BIG and tls is not None:  # its encryption runs baton-free
                BATON.call_outside(self._queue, message, None, on_sent)
            else:
                self._queue(message, None, on_sent)
        except BaseException:
            for p in kept:  # not queued: the regions are still ours to close
                if type(p) is FileRegion:
                    p.close()
            raise

    def _queue(
        self,
        message: list[Part] | None,
        view: memoryview | None,
        on_sent: Callable[[], None] | None,
    ) -> None:
        """Queue one message (its parts, or one ``view`` of all of it without TLS). The parts
        are lent for this call only: what the endpoint keeps of them once it returns (held
        for the handshake, or left in the queue by the kernel) it copies if they are mutable
        (``owned``); encrypted at once, they are not kept at all."""
        outq = self._outq
        lent = 0
        with self._out_lock:
            state = self._state
            if state is _CLOSING or state is _CLOSED:
                raise NotConnectedError(f"connection to {self._peer()} is closed")
            flush = not outq.pending
            if self._corked_by and self._corked_by == threading.get_ident():
                self._queue_corked_locked()  # its batch so far goes first: submission order
                flush = False  # corked: the delivering thread flushes after its batch
                self._cork_pending = True
            tls = self._tls
            if view is not None:
                outq.push(view)
            elif message is None:
                raise LocalProtocolError("nothing to queue")
            elif tls is None:
                outq.extend([p if isinstance(p, FileRegion) else memoryview(p) for p in message])
                lent = len(message)
            elif not tls.established:
                self._held.append(([owned(p) for p in message], on_sent))  # type: ignore[misc]  # (read: TLS)
                on_sent = None
                flush = False
            else:  # encrypted now: nothing of the parts is kept
                self._tls_write_locked(message)  # type: ignore[arg-type]  # (regions read)
            if on_sent is not None:
                outq.mark(on_sent)
            if flush:
                self._flush_locked()
            if lent and outq.pending:
                outq.own_last(lent)  # what the kernel did not take is kept: the queue's own
            # corked replies are written by the delivering thread: no wake-up for them
            kick = bool(outq.pending) and not self._cork_pending
        if kick or outq.fired or outq.resumed:
            self._after_unlock(kick)

    def _tls_write_locked(self, message: list[bytes | memoryview]) -> None:
        """Encrypt one message into the queue (its own TLS writes, see ``TLSSession``)."""
        tls = self._tls
        assert tls is not None
        tls.write_message(message, self._send_locked)
        self._enqueue_locked(tls.take_output())

    def _send_locked(self, views: list[memoryview]) -> None:
        """Queue ``views`` and hand what the kernel takes to it now (caller holds the lock)."""
        self._enqueue_locked(views)
        self._flush_locked()

    def _enqueue_locked(self, views: list[memoryview]) -> None:
        """Append to the out-queue (caller holds ``_out_lock``); may pause input."""
        self._outq.extend(views)

    def _after_unlock(self, kick: bool) -> None:
        """What ``_flush_locked`` left to do outside the lock: on_sent calls, a kick."""
        outq = self._outq
        if outq.fired:
            with self._out_lock:
                fired, outq.fired = outq.fired, []
            for cb in fired:
                try:
                    cb()
                except Exception:
                    log.exception("on_sent callback failed")
        if outq.resumed:
            outq.resumed = False
            kick = True
        if kick:
            self._poller.kick(cast("Pollable", self))  # an Endpoint: the only user of this

    def _flush_locked(self) -> None:
        """Write as much of the queue as the kernel takes (caller holds ``_out_lock``)."""
        exc = self._outq.flush(self._sock)
        if exc is not None:
            self._close_locked(translate(exc))

    def _uncork(self) -> None:
        """Write what replies made during delivery queued (one write for the batch)."""
        corked = self._corked
        if not self._cork_pending:
            if not corked:
                return
            if len(corked) == 1 and self._send_sole_reply(corked):
                return
        outq = self._outq
        with self._out_lock:
            self._queue_corked_locked()
            self._cork_pending = False
            state = self._state
            if outq.pending and state is not _CLOSING and state is not _CLOSED:
                self._flush_locked()
            kick = bool(outq.pending)
        if kick or outq.fired or outq.resumed:
            self._after_unlock(kick)

    def _send_sole_reply(self, corked: list[tuple[bytes, Callable[[], None] | None]]) -> bool:
        """The ping-pong case of ``_uncork``: one small reply (``corked`` holds it alone) and
        an empty out-queue (``_send_alone``). False: nothing was done."""
        data, on_sent = corked[0]
        if self._send_alone(data, on_sent):
            corked.clear()
            return True
        return False

    def _send_alone(self, data: bytes, on_sent: Callable[[], None] | None) -> bool:
        """One small message (record mark included) when nothing is queued before it: it goes
        straight to the kernel, with no trip through the queue, its mark and its ``fired``
        list (a third of the transport's Python per request one at a time; a client's call
        made while none is being written goes the same way). Only what the kernel does not
        take is queued. False: nothing was done (the queue holds something, or the
        connection is closing); the general path takes over."""
        outq = self._outq
        with self._out_lock:
            state = self._state
            if outq.pending or state is _CLOSING or state is _CLOSED:
                return False
            if self._tls is not None:  # the ciphertext is what goes out
                data = self._encrypt_replies_locked([(data, on_sent)]) or b""
                if not data:  # TLS failed: closing, its on_sent already due
                    on_sent = None
            try:
                sent = self._sock.send(data) if data else 0
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                sent = -1
                failed: OSError | None = exc
            else:
                failed = None
            if sent != len(data):  # the rest waits in the queue like any unsent reply
                outq.push(memoryview(data)[max(sent, 0) :])
                if on_sent is not None:
                    outq.mark(on_sent)
                on_sent = None
                if failed is not None:
                    outq.pending.clear()
                    self._close_locked(translate(failed))
                    # kept in this frame, it and its traceback (this frame among them) would
                    # keep each other, and the caller's thread's locals, until a collection
                    failed = None
            # sent whole: the queue's byte counters skip it together (its unsent count and
            # its marks are unchanged: an empty queue has no marks left to fire)
            kick = bool(outq.pending)
        if on_sent is not None:
            try:
                on_sent()
            except Exception:
                log.exception("on_sent callback failed")
        if kick or outq.fired or outq.resumed:
            self._after_unlock(kick)
        return True

    def _encrypt_replies_locked(
        self, replies: list[tuple[bytes, Callable[[], None] | None]]
    ) -> bytes | None:
        """The ciphertext of corked replies, each its own TLS write (never two messages in
        one TLS record: GlusterFS would leave the second unread in OpenSSL). None: TLS failed,
        the connection is closing and the replies' ``on_sent`` calls are due (caller holds
        ``_out_lock``)."""
        tls = self._tls
        assert tls is not None
        try:
            for data, _ in replies:
                tls.write(data)
        except TLSError as exc:
            self._outq.fired.extend(cb for _, cb in replies if cb is not None)
            self._close_locked(exc)
            return None
        return tls.take_output_bytes()

    def _queue_corked_locked(self) -> None:
        """Move the delivering thread's batch of small replies to the out-queue, in order
        (caller holds ``_out_lock``); once closed, only their ``on_sent`` calls remain due."""
        corked = self._corked
        if not corked:
            return
        self._corked = []
        outq = self._outq
        if self._state is _CLOSED:  # finalized: the queue is gone
            outq.fired.extend(cb for _, cb in corked if cb is not None)
            return
        if self._tls is not None:
            ciphertext = self._encrypt_replies_locked(corked)
            if ciphertext is None:
                return
            outq.push(memoryview(ciphertext))
            for _, on_sent in corked:
                if on_sent is not None:
                    outq.mark(on_sent)
            return
        for data, on_sent in corked:
            outq.push(memoryview(data))
            if on_sent is not None:
                outq.mark(on_sent)


def _byte_part(part: Part) -> Part:
    """``part`` as a run of bytes: a ``memoryview`` of wider items or of several dimensions
    becomes a flat view of its bytes (a copy if it is not contiguous), so that its length is
    its size in bytes."""
    if type(part) is memoryview and (part.format != "B" or part.ndim != 1 or not part.c_contiguous):
        return part.cast("B") if part.c_contiguous else part.tobytes()
    return part


def _read_regions(parts: list[Part], total: int) -> list[Part]:
    """``parts`` with each file region read into bytes (a TLS connection encrypts what it
    sends, so the kernel cannot send the file's pages itself), or ``parts`` itself when it
    holds none; a big read runs baton-free."""
    if not any(type(p) is FileRegion for p in parts):
        return parts
    return [
        (BATON.call_outside(p.take) if total >= BIG else p.take()) if type(p) is FileRegion else p
        for p in parts
    ]
