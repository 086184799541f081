"""TLS as an in-memory layer: ``ssl.SSLObject`` over two ``MemoryBIO``s.

Theory of operation. The socket never sees OpenSSL: the endpoint reads ciphertext from the
socket, ``feed``s it to the incoming BIO, and asks the session to decrypt *directly into the
record decoder's buffer* (``SSLObject.read(n, buffer)``), one TLS record (at most 16 KiB) per
call, until OpenSSL wants more input. Draining until ``SSLWantReadError`` matters: plaintext
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
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

from gfrpc.tls import as_tls_error, verify_peer
from gfrpc.wire.record import RecordDecoder


class TLSSession:
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
        self.established = False
        self.peer_cn: str | None = None

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

    def has_output(self) -> bool:
        return self._out.pending > 0

    def take_output(self) -> list[memoryview]:
        if not self._out.pending:
            return []
        return [memoryview(self._out.read())]

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

    def write(self, data: bytes | memoryview) -> None:
        try:
            self._obj._sslobj.write(data)  # type: ignore[attr-defined]  # skip ssl.py's wrapper
        except ssl.SSLError as exc:
            raise as_tls_error(exc, handshake=False) from exc

    def decrypt_into(self, decoder: RecordDecoder) -> bool:
        """Decrypt everything buffered into ``decoder``; True on TLS close_notify (EOF).

        The hot loop of a TLS connection: one call per TLS record (at most 16 KiB), so it
        calls the C method directly and tells the decoder once per buffer, not per record.
        """
        read = self._obj._sslobj.read  # type: ignore[attr-defined]  # skip ssl.py's wrapper
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
            except ssl.SSLWantReadError:
                if got:
                    self._seen_data = True
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
            decoder.buffer_updated(got)
