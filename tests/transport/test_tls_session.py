"""``TLSSession.decrypt_into`` (``transport/tls.py``): everything fed is decrypted in one
call, and the call stops when nothing is left instead of raising ``SSLWantReadError``."""

from __future__ import annotations

import ssl
import struct

import pytest
from transport_support import session_pair

from gfrpc.transport import tls as tls_module
from gfrpc.transport.tls import TLSSession
from gfrpc.wire.record import NEED_DATA, RecordDecoder

pytestmark = pytest.mark.timeout(60)

MARK = 0x80000000


def _pair(tls_pair, fast: bool, monkeypatch) -> tuple[TLSSession, TLSSession]:
    """A server and a client session on the fast path or the public API, handshake done."""
    monkeypatch.setattr(tls_module, "FAST_PATH", fast)
    return session_pair(tls_pair)


def _records(decoder: RecordDecoder) -> list[bytes]:
    out = []
    while (r := decoder.next_record()) is not NEED_DATA:
        out.append(bytes(r))  # type: ignore[arg-type]
    return out


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "public-api"])
def test_everything_fed_is_decrypted_and_the_last_read_does_not_raise(tls_pair, fast, monkeypatch):
    """Rule: three messages written as three TLS records and fed at once (with the start of
    a fourth record) come out of one ``decrypt_into``, which reads on until OpenSSL asks for
    more; fed the rest, the fourth comes out with one read, and no read follows that could
    only raise ``SSLWantReadError`` (the incoming BIO is empty, no plaintext waits)."""
    server, client = _pair(tls_pair, fast, monkeypatch)
    messages = [b"m%03d" % i * (1 + 500 * i) for i in range(4)]
    wire = b""
    for m in messages:
        client.write(struct.pack(">I", MARK | len(m)) + m)
        wire += b"".join(bytes(v) for v in client.take_output())
    cut = len(wire) - 10  # the last record arrives in two parts
    server.decrypt_into(RecordDecoder())  # TLS 1.3: the client's session ticket requests etc.
    decoder = RecordDecoder()
    calls: list[str] = []
    server._sslobj = _Spy(server._obj, calls)  # type: ignore[assignment]
    server.feed(wire[:cut])
    assert server.decrypt_into(decoder) is False
    assert _records(decoder) == messages[:3]
    assert calls[-1] == "want", "a part of a record left in the BIO is read until OpenSSL asks"
    server.feed(wire[cut:])
    calls.clear()
    assert server.decrypt_into(decoder) is False
    assert _records(decoder) == messages[3:]
    assert calls == ["read"], "a read after the last record"
    assert server._in.pending == 0 and server._obj.pending() == 0


class _Spy:
    """Stands in for the ``SSLObject`` (and, for the fast path, the C object under it):
    records each ``read`` and whether it raised ``SSLWantReadError``."""

    def __init__(self, target: object, calls: list[str]) -> None:
        self._target = target
        self._calls = calls

    @property
    def _sslobj(self) -> _Spy:
        return _Spy(self._target._sslobj, self._calls)  # type: ignore[attr-defined]

    def read(self, *args: object) -> object:
        try:
            n = self._target.read(*args)  # type: ignore[attr-defined]
        except ssl.SSLWantReadError:
            self._calls.append("want")
            raise
        self._calls.append("read")
        return n

    def pending(self) -> int:
        return self._target.pending()  # type: ignore[attr-defined]
