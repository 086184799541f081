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
from typing import Any

from gfrpc.errors import TLSError
from gfrpc.wire.record import RecordDecoder


def describe_handshake_error(exc: ssl.SSLError) -> str:
    """One line for users: ``TLS handshake failed: unknown CA`` and the like."""
    try:
        from gfrpc.tls import describe_tls_error
    except ImportError:  # pragma: no cover
        pass
    else:
        return str(describe_tls_error(exc))
    reason = (getattr(exc, "reason", None) or str(exc)).replace("_", " ").lower()
    return f"TLS handshake failed: {reason}"


def common_name(cert: dict[str, Any] | None) -> str | None:
    """CN of a certificate as returned by ``getpeercert()``."""
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


class TLSSession:
    def __init__(
        self,
        context: ssl.SSLContext,
        server_side: bool,
        check: Callable[[ssl.SSLObject], None] | None = None,
    ) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._in, self._out, server_side=server_side)
        self._check = check
        self.established = False
        self.peer_cn: str | None = None

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
        try:
            self._obj.do_handshake()
        except ssl.SSLWantReadError:
            return False
        except ssl.SSLError as exc:
            raise TLSError(describe_handshake_error(exc)) from exc
        if self._obj.getpeercert(binary_form=True) is None:
            raise TLSError("TLS handshake failed: peer did not send a certificate")
        if self._check is not None:
            self._check(self._obj)
        self.peer_cn = common_name(self._obj.getpeercert())
        self.established = True
        return True

    def write(self, data: bytes | memoryview) -> None:
        try:
            self._obj.write(data)
        except ssl.SSLError as exc:
            raise TLSError(f"TLS write failed: {exc.reason or exc}") from exc

    def decrypt_into(self, decoder: RecordDecoder) -> bool:
        """Decrypt everything buffered into ``decoder``; True on TLS close_notify (EOF)."""
        read = self._obj.read
        while True:
            buf = decoder.get_buffer()
            try:
                n = read(len(buf), buf)
            except ssl.SSLWantReadError:
                return False
            except ssl.SSLZeroReturnError:
                return True
            except ssl.SSLEOFError:
                return True
            except ssl.SSLError as exc:
                raise TLSError(f"TLS error: {exc.reason or exc}") from exc
            if n == 0:
                return True
            decoder.buffer_updated(n)
