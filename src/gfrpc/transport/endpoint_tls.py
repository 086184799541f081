"""The TLS side of an :class:`~gfrpc.transport.endpoint.Endpoint`'s input: the handshake and
the reading of ciphertext.

Theory of operation (the TLS parts of ``endpoint.py``'s *Input* and *Lifecycle* notes, in
detail). Every endpoint starts HANDSHAKING; without TLS its first event opens it. A TLS
one stays there until the session is established: each time its poller hands it events,
:meth:`_progress_handshake` advances the session one step under the output lock (the
``SSLObject`` must never run on two threads at once, and its output is queued in wire order)
and sends what OpenSSL wrote; when OpenSSL wants more bytes it reads the socket at once, until
the handshake is done or the socket is empty (``_read_tls_handshake``), so a flight that came
whole costs one event, not one per step. Messages submitted meanwhile wait in ``_held`` and
are encrypted, in order, the moment the session is established; then the endpoint moves to
OPEN and the handler hears ``connection_made``. Application data that came with the peer's
last handshake flight is already in the session's incoming buffer, where the socket will never
signal it again: it is decrypted and delivered right there.

Once open, each readable event reads ciphertext into a leased buffer (an idle connection owns
none) and decrypts it straight into the record decoder (``tls.py``), at most
``_READS_PER_EVENT`` full reads before the poller moves on to other connections. A big
decryption (``BIG`` bytes or more, which OpenSSL does with the GIL let go) runs outside the
baton, so another poller thread may run Python meanwhile. A TLS close_notify is EOF, delivered
after the records that came before it.

A connection's first big read ends its event, whatever is left in the socket. ``sharded``
starts every connection on its home shard and moves it to a shard of its own at the end of the
handling that first did big work (``pollers/sharded.py``, "Placement"); with up to four reads
per event, that handling read and decrypted the whole first 1 MiB record of each new stream on
the home thread, while the other shard waited: fio's 24 TLS streams, starting together, began
with 24 MiB decrypted on one thread. Ending the event after the first big read moves the stream
after 256 KiB, and the rest of its first record is read where it will live (fio's TLS
seq-write into ``sharded`` x2: +5-7 % MB/s and -6 % brick CPU per GB in three alternated
rounds, docs/ARCHITECTURE.md, Performance notes 52). Every other poller pays one more event
per connection's lifetime.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from gfrpc.errors import TLSError
from gfrpc.transport.baton import BATON, BIG
from gfrpc.transport.lifecycle import ConnectionHandler, EndpointState, PeerClosedError
from gfrpc.transport.options import SocketOptions
from gfrpc.wire.record import RecordDecoder, lease_read_buffer, return_read_buffer

if TYPE_CHECKING:
    from gfrpc.transport.endpoint import Endpoint
    from gfrpc.transport.limits import ConnectionGuard
    from gfrpc.transport.outqueue import OutQueue
    from gfrpc.transport.tls import TLSSession

__all__ = ["EndpointTLSInput"]

_OPEN = EndpointState.OPEN

_READS_PER_EVENT = 4  # full reads of one connection before the poller moves on
#: the most read at once during the handshake: what is read is fed whole, and a memory BIO
#: keeps the room of its largest piece for the session's life (tls.py, "Many sessions");
#: handshake messages are small, so only a peer's data sent behind its Finished would be big
_HANDSHAKE_READ = 32 * 1024


class EndpointTLSInput:
    """The TLS input methods of ``Endpoint`` (which owns the state declared here)."""

    _sock: socket.socket
    _tls: TLSSession | None
    _options: SocketOptions
    _decoder: RecordDecoder
    _out_lock: threading.Lock
    _held: list[tuple[list[bytes | memoryview], Callable[[], None] | None]]
    _made: bool
    _last_input: float
    _read_big: bool
    _state: EndpointState
    _paused: bool
    handler: ConnectionHandler
    ready: threading.Event
    peer_cn: str | None
    _outq: OutQueue
    _guard: ConnectionGuard | None

    if TYPE_CHECKING:

        @property
        def closed(self) -> bool: ...

        def _move_locked(self, new: EndpointState) -> bool: ...

        def _enqueue_locked(self, views: list[memoryview]) -> None: ...

        def _flush_locked(self) -> None: ...

        def _tls_write_locked(self, message: list[bytes | memoryview]) -> None: ...

        def _after_unlock(self, kick: bool) -> None: ...

        def _account(self) -> None: ...

        def _deliver(self) -> None: ...

        def _deliver_one(self, record: memoryview) -> None: ...

        def _eof(self) -> PeerClosedError: ...

        def _input_paused(self) -> bool: ...

    def _progress_handshake(self) -> None:
        """One event of a HANDSHAKING endpoint: a TLS step, and OPEN once it is done."""
        tls = self._tls
        if tls is not None and not tls.established:
            with self._out_lock:
                done = tls.handshake_step()
                self._enqueue_locked(tls.take_output())
                self._flush_locked()
            if not done:
                # need more bytes from the peer: read them now if any are there
                self._read_tls_handshake()
                if not tls.established:
                    return
            self.peer_cn = tls.peer_cn
            with self._out_lock:
                for message, on_sent in self._held:
                    self._tls_write_locked(message)
                    if on_sent is not None:
                        self._outq.mark(on_sent)
                self._held.clear()
                self._flush_locked()
            self._after_unlock(False)
        with self._out_lock:
            if not self._move_locked(EndpointState.OPEN):
                return  # closed meanwhile: handle_events sees it and finishes
            self._made = True
        self.handler.connection_made(cast("Endpoint", self))  # the only user of this
        self.ready.set()
        if tls is not None:
            # application data that came with the last handshake flight is already in the
            # incoming BIO: the socket will not become readable for it again
            with self._out_lock:
                eof = tls.decrypt_into(self._decoder)
            self._account()
            self._deliver()
            if eof:
                raise self._eof()

    def _read_tls_handshake(self) -> None:
        """Read and feed the handshake while the socket has bytes and it is not done."""
        assert self._tls is not None
        buf = lease_read_buffer(self._options.read_size)
        try:
            view = memoryview(buf)[:_HANDSHAKE_READ]
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
                    self._enqueue_locked(self._tls.take_output())
                    self._flush_locked()
        finally:
            return_read_buffer(buf)

    def _read_tls_event(self) -> None:
        """One readable event of an open TLS connection: read and decrypt (module notes)."""
        lease = lease_read_buffer(self._options.read_size)
        try:
            self._read_tls(memoryview(lease))
        finally:
            return_read_buffer(lease)

    def _read_tls(self, view: memoryview) -> None:
        """Read ciphertext into ``view``, decrypt it and deliver the records it completes."""
        guard = self._guard
        whole = view
        for _ in range(_READS_PER_EVENT):
            if guard is not None and guard.budget.spent:  # read little until let in
                view = whole[: guard.budget.read_size(self, len(whole))]
            else:
                view = whole
            try:
                n = self._sock.recv_into(view)
            except BlockingIOError:
                break
            if n == 0:
                raise self._eof()
            self._last_input = time.monotonic()
            first_big = False
            if n >= BIG:  # a big decryption: let another poller thread run meanwhile
                eof = BATON.call_outside(self._decrypt, view[:n])
                if not self._read_big:  # the first: end the event here (module notes)
                    self._read_big = first_big = True
            else:
                eof = self._decrypt(view[:n])
            self._after_unlock(False)
            self._account()
            if eof:
                self._deliver()
                raise self._eof()
            record = (
                self._decoder.take_lone()
                if self._state is _OPEN and not self._paused and not self._outq.paused
                else None
            )
            if record is not None:  # one request, whole: the usual case
                self._deliver_one(record)
            else:
                self._deliver()
            if first_big or n < len(view) or self.closed or self._input_paused():
                break

    def _decrypt(self, data: memoryview) -> bool:
        """Feed ``data`` to the TLS session and decrypt into the decoder; True at TLS EOF."""
        tls = self._tls
        assert tls is not None
        with self._out_lock:
            eof = tls.feed_and_decrypt(data, self._decoder)
            if tls.has_output():
                self._enqueue_locked(tls.take_output())
                self._flush_locked()
        return eof
