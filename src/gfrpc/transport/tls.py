"""TLS as an in-memory layer: ``ssl.SSLObject`` over two ``MemoryBIO``s.

Theory of operation. The socket never sees OpenSSL: the endpoint reads ciphertext from the
socket, ``feed``s it to the incoming BIO, and asks the session to decrypt *directly into the
record decoder's buffer* (``SSLObject.read(n, buffer)``), one TLS record (at most 16 KiB) per
call, until OpenSSL wants more input (``SSLWantReadError``) or, cheaper than raising that,
until the incoming BIO is empty and OpenSSL holds no plaintext. Draining matters: plaintext
left inside OpenSSL would not make the socket readable again (GlusterFS never calls
``SSL_pending`` and has exactly this stall). Writes encrypt into the outgoing BIO and the
endpoint sends the ciphertext like any other bytes, so a full socket is ordinary EAGAIN and
never a WANT_WRITE retry with "the same buffer".

An ``SSLObject`` must not be used by two threads at once; the endpoint calls every method
here under its output lock. The GIL is released inside OpenSSL's encrypt and decrypt, so
different connections still run their crypto in parallel.

GlusterFS semantics: mutual authentication with no host-name check is configured on the
``SSLContext`` (``gfrpc.tls``); the extra check run after the handshake (certificate depth,
``ssl-allow``) is the caller's ``check`` function, and the peer's certificate CN is kept.

The fast path, a private CPython API. ``ssl.SSLObject.read``/``write`` are thin Python
wrappers around the C object CPython keeps in ``SSLObject._sslobj`` (``_ssl._SSLSocket``), with
the same arguments. A TLS connection calls ``read`` once per TLS record (16 KiB), so skipping
the wrapper was measured worth having, and it is the default. Being private, it may change or
go in any CPython release: :func:`fast_path` probes it once per process, on the first
session (a throwaway client ``SSLObject``: ``_sslobj.read(1, buffer)`` must exist and ask for
the peer's data with ``SSLWantReadError``, as the public method does), and every session falls
back to the public ``SSLObject.read``/``write`` when it is missing or behaves otherwise.
``FAST_PATH`` holds the answer (tests set it to False to run the public path).

Large parts, sliced or whole. A message part of 64 KiB or more is encrypted in 64 KiB slices,
each sent before the next is encrypted, so that a peer with nothing else to do decrypts the
start of a 1 MiB message while its end is still being encrypted: a lone stream needs that
overlap (a whole megabyte at once cost it a quarter of its rate). But each slice is a TLS write
and a ``send``, and each lets the GIL go: a client writing 24 streams from 24 threads spent a
sixth of its CPU handing the GIL back and forth between them (docs/ARCHITECTURE.md, Performance
notes 67). So a client's session that has sent a large message is counted in ``_UNHEARD`` until
plaintext comes back from its peer (the reply) or its endpoint is finalized, and while at
least ``_WHOLE_BESIDE`` other sessions are counted there, the peers have other messages to
decrypt anyway and a client's large part goes whole: one TLS write, one ``send``. A
connection's own wait never counts, so a lone stream and a few streams keep their slices.
Eight, not four: beside four, six TLS streams on ``sharded`` x2 ran about 7 % slower than
with slices, while 12 to 24 streams lost nothing beside eight (notes 68).
Only a client sends whole: the receivers of whole 1 MiB WRITEs (the gfrpc brick, glusterfsd)
spent no more CPU per GB, but fio, receiving a brick's whole 1 MiB READ replies, spent a fifth
more, and its TLS seq-read slowed (notes 67). A server's replies keep their slices.

Many sessions, small pieces. OpenSSL's memory BIOs grow to the largest piece written into them
and never shrink, so a session keeps, for its whole life, the capacity of the largest read fed
to it (256 KiB) and of the largest slice it encrypted: about 420 KiB for a server session that
once received a 1 MiB WRITE and sent a 1 MiB READ reply, and 1 MiB for a client session that
sent a part whole. That is little for a few hundred streams, and 1.7 GiB for a brick's 4,096
connections. So while
more than ``_FEW_SESSIONS`` sessions are open in the process, ciphertext is fed to OpenSSL and
plaintext encrypted in pieces of at most ``_MANY_SLICE`` (and no part goes whole), which keeps
a session at about 100 KiB; the pieces cost CPU (a tenth more of the brick's per GB at 100
connections), so up to that many sessions reads are fed whole and parts sliced as above
(docs/ARCHITECTURE.md, Performance notes 71). Sessions count themselves from creation until
``forget`` (the endpoint's finalize) or their collection.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

from gfrpc.tls import as_tls_error, verify_peer
from gfrpc.wire.record import RecordDecoder

_SMALL = 64 * 1024  # message parts below this are joined before a TLS write
_TLS_SLICE = 64 * 1024  # plaintext encrypted between two sends of a large message
#: one entry per client session that has sent a large message and not heard from its peer since
#: (list appends and pops are atomic under the GIL; only the length is read)
_UNHEARD: list[None] = []
#: other sessions in ``_UNHEARD`` from which a large part goes whole (module notes)
_WHOLE_BESIDE = 8

#: one entry per open session (appends and pops are atomic under the GIL; the length is read)
_OPEN: list[None] = []
#: open sessions up to which reads are fed whole and large parts sliced as the notes say
_FEW_SESSIONS = 256
#: beyond them, the most ciphertext fed or plaintext encrypted at once (module notes)
_MANY_SLICE = 32 * 1024

#: whether sessions call the C object under ``SSLObject._sslobj`` (None: not probed yet)
FAST_PATH: bool | None = None


def probe_fast_path(obj: ssl.SSLObject | None = None) -> bool:
    """Whether ``obj`` (default: a fresh client ``SSLObject``) offers the private fast path:
    ``obj._sslobj.read(n, buffer)`` and ``obj._sslobj.write(data)``, where a read before the
    handshake raises ``SSLWantReadError`` as the public ``SSLObject.read`` does."""
    try:
        if obj is None:
            obj = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())
        inner = getattr(obj, "_sslobj", None)
        if not callable(getattr(inner, "write", None)):
            return False
        read = getattr(inner, "read", None)
        if not callable(read):
            return False
        read(1, bytearray(1))
    except ssl.SSLWantReadError:
        return True
    except Exception:
        return False
    return False  # plaintext before any handshake: not the OpenSSL object we know


def fast_path() -> bool:
    """Whether new sessions use the private fast path (probed once per process)."""
    global FAST_PATH
    if FAST_PATH is None:
        FAST_PATH = probe_fast_path()
    return FAST_PATH


class TLSSession:
    """One connection's TLS: an ``SSLObject`` over two memory BIOs (see the module docstring)."""

    def __init__(
        self,
        context: ssl.SSLContext,
        server_side: bool,
        check: Callable[[ssl.SSLObject], None] | None = None,
    ) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._context = context
        self._server_side = server_side
        self._sslobj: ssl.SSLObject | None = None
        self._check = check
        self._seen_data = False  # an error before any plaintext arrived is a handshake failure
        #: the ``_UNHEARD`` this session counts itself in (None: it is not waiting); kept so
        #: that it leaves the very list it joined
        self._unheard: list[None] | None = None
        self._fast = fast_path()
        self.established = False
        self.peer_cn: str | None = None
        self._counted = True  # in _OPEN until forget() or collection
        _OPEN.append(None)

    def __del__(self) -> None:
        self._uncount()

    def _uncount(self) -> None:
        if self._counted:
            self._counted = False
            _OPEN.pop()

    @property
    def _obj(self) -> ssl.SSLObject:
        """The OpenSSL session, made on first use: a server-side connection that never sends
        a byte never pays for one (tens of KiB inside OpenSSL)."""
        obj = self._sslobj
        if obj is None:
            obj = self._sslobj = self._context.wrap_bio(
                self._in, self._out, server_side=self._server_side
            )
        return obj

    @property
    def ssl_object(self) -> ssl.SSLObject:
        return self._obj

    def feed(self, data: bytes | memoryview) -> None:
        self._in.write(data)

    def feed_and_decrypt(self, data: memoryview, decoder: RecordDecoder) -> bool:
        """``feed`` then ``decrypt_into``; in pieces of ``_MANY_SLICE`` while many sessions are
        open (module notes). True on TLS close_notify (EOF)."""
        if len(data) <= _MANY_SLICE or len(_OPEN) <= _FEW_SESSIONS:
            self._in.write(data)
            return self.decrypt_into(decoder)
        for start in range(0, len(data), _MANY_SLICE):
            self._in.write(data[start : start + _MANY_SLICE])
            if self.decrypt_into(decoder):
                return True
        return False

    def has_output(self) -> bool:
        return self._out.pending > 0

    def take_output(self) -> list[memoryview]:
        if not self._out.pending:
            return []
        return [memoryview(self._out.read())]

    def take_output_bytes(self) -> bytes:
        """``take_output`` as one ``bytes`` (empty if nothing is waiting)."""
        return self._out.read()

    def handshake_step(self) -> bool:
        """Advance the handshake; True once it is complete and the peer is accepted."""
        if self.established:
            return True
        if self._sslobj is None and self._server_side and not self._in.pending:
            return False  # the client speaks first; nothing to do until it has
        try:
            self._obj.do_handshake()
        except ssl.SSLWantReadError:
            return False
        except ssl.SSLError as exc:
            raise as_tls_error(exc) from exc
        self.peer_cn = verify_peer(self._obj)  # a certificate is required; depth; CN
        if self._check is not None:
            self._check(self._obj)
        self.established = True
        return True

    @property
    def uses_fast_path(self) -> bool:
        """Whether this session calls ``SSLObject._sslobj`` (see the module docstring)."""
        return self._fast

    def write(self, data: bytes | memoryview) -> None:
        obj = self._obj
        try:
            if self._fast:
                obj._sslobj.write(data)  # type: ignore[attr-defined]  # skip ssl.py's wrapper
            else:
                obj.write(data)
        except ssl.SSLError as exc:
            raise as_tls_error(exc, handshake=False) from exc

    def write_message(
        self, message: list[bytes | memoryview], send: Callable[[list[memoryview]], None]
    ) -> None:
        """Encrypt one message with its own TLS writes (never shared with another message).

        Small parts are joined into one write. A large part is encrypted in slices and each
        slice's ciphertext goes to ``send`` before the next is encrypted, so the peer decrypts
        the start of a 1 MiB message while we still encrypt its end; or, on a client's side
        while enough other sessions wait on their peers, in one write and one ``send``
        (module notes). The ciphertext of the rest stays in the outgoing BIO
        (``take_output``).
        """
        small: list[bytes | memoryview] = []
        for p in message:
            if len(p) < _SMALL:
                small.append(p)
                continue
            if small:
                self.write(b"".join(small))
                small = []
            view = memoryview(p)
            if self._server_side or len(_OPEN) > _FEW_SESSIONS:  # (module notes)
                self._write_sliced(view, send)
                continue
            waiting = _UNHEARD
            if len(waiting) - (self._unheard is waiting) >= _WHOLE_BESIDE:
                self.write(view)
                send(self.take_output())
            else:
                self._write_sliced(view, send)
            if self._unheard is None:
                self._unheard = waiting
                waiting.append(None)
        if small:
            self.write(b"".join(small))

    def _write_sliced(self, view: memoryview, send: Callable[[list[memoryview]], None]) -> None:
        step = _TLS_SLICE if len(_OPEN) <= _FEW_SESSIONS else _MANY_SLICE
        for start in range(0, len(view), step):
            self.write(view[start : start + step])
            send(self.take_output())

    def _heard(self) -> None:
        """Plaintext came from the peer: it is not reading a large message of ours any more."""
        joined = self._unheard
        if joined is not None:
            self._unheard = None
            joined.pop()

    def forget(self) -> None:
        """The connection is gone: the session waits for nothing and no longer counts as
        open (the endpoint's finalize)."""
        self._heard()
        self._uncount()

    def decrypt_into(self, decoder: RecordDecoder) -> bool:
        """Decrypt everything buffered into ``decoder``; True on TLS close_notify (EOF).

        The hot loop of a TLS connection: one call per TLS record (at most 16 KiB), so it
        calls the C method directly (where the fast path is on) and tells the decoder once per
        buffer, not per record.
        """
        obj = self._obj
        read: Callable[[int, memoryview], int]
        pending: Callable[[], int]
        if self._fast:
            inner = obj._sslobj  # type: ignore[attr-defined]  # skip ssl.py's wrapper
            read, pending = inner.read, inner.pending
        else:
            read = obj.read  # type: ignore[assignment]  # returns the count when given a buffer
            pending = obj.pending
        incoming = self._in
        while True:
            buf = decoder.get_buffer()
            size = len(buf) if decoder.buffer_is_direct else 1  # scratch: one record a time
            got = 0
            try:
                while got < size:
                    n = read(len(buf) - got, buf[got:])
                    if not n:
                        decoder.buffer_updated(got)
                        return True
                    got += n
                    if not incoming.pending and not pending():
                        # all the ciphertext is read and no plaintext waits: another read
                        # could only raise SSLWantReadError (OpenSSL reads one record at a
                        # time from the BIO, so it holds no part of a next one either)
                        self._seen_data = True
                        if self._unheard is not None:
                            self._heard()
                        decoder.buffer_updated(got)
                        return False
            except ssl.SSLWantReadError:
                if got:
                    self._seen_data = True
                    if self._unheard is not None:
                        self._heard()
                    decoder.buffer_updated(got)
                else:
                    decoder.release_buffer()  # an idle connection keeps no read buffer
                return False
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                decoder.buffer_updated(got)
                return True
            except ssl.SSLError as exc:
                decoder.release_buffer()
                raise as_tls_error(exc, handshake=not self._seen_data) from exc
            self._seen_data = True
            if self._unheard is not None:
                self._heard()
            decoder.buffer_updated(got)
