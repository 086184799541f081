"""TLS with the private fast path (``SSLObject._sslobj``) and with the public API only."""

from __future__ import annotations

import hashlib
import ssl

import pytest
from transport_support import Accepted, Recorder

from gfrpc.transport import PeerClosedError, connect, listen
from gfrpc.transport import tls as tls_mod

pytestmark = pytest.mark.timeout(60)


class Echo(Recorder):
    """Sends every record back whole."""

    def record_received(self, ep, record) -> None:
        ep.submit(bytes(record))
        super().record_received(ep, record)


@pytest.fixture(params=[True, False], ids=["fast", "public"])
def path(request, monkeypatch) -> bool:
    """Run the test with the fast path on, or forced off; count calls of the public API."""
    if request.param and not tls_mod.probe_fast_path():
        pytest.skip("this Python has no usable SSLObject._sslobj")
    monkeypatch.setattr(tls_mod, "FAST_PATH", request.param)
    calls = {"read": 0, "write": 0}
    public_read, public_write = ssl.SSLObject.read, ssl.SSLObject.write

    def read(self, *args, **kwargs):
        calls["read"] += 1
        return public_read(self, *args, **kwargs)

    def write(self, *args, **kwargs):
        calls["write"] += 1
        return public_write(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLObject, "read", read)
    monkeypatch.setattr(ssl.SSLObject, "write", write)
    request.node.public_calls = calls
    return request.param


def test_probe_matches_this_python():
    """The probe finds the fast path exactly where SSLObject has a ``_sslobj``."""
    obj = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())
    assert tls_mod.probe_fast_path() is hasattr(obj, "_sslobj")


def test_probe_refuses_what_it_does_not_know():
    """Without ``_sslobj``, or with one that does not behave as the C object does, the probe
    says no and sessions use the public API."""

    class NoInner:
        pass

    class Odd:
        class _sslobj:  # noqa: N801 - the attribute the probe looks for
            @staticmethod
            def read(n, buffer):
                return 0  # answers before any handshake: not OpenSSL's object

            @staticmethod
            def write(data):
                return len(data)

    assert tls_mod.probe_fast_path(NoInner()) is False  # type: ignore[arg-type]
    assert tls_mod.probe_fast_path(Odd()) is False  # type: ignore[arg-type]


def test_handshake_bulk_both_ways_and_close(poller, tls_pair, path, request):
    """Handshake, 4 MiB each way (split and whole records), and an orderly close work the
    same with the fast path and with the public API; the public one is used only when the
    fast path is off."""
    server_ctx, client_ctx = tls_pair
    servers = Accepted(Echo)
    listener = listen("127.0.0.1:0", poller=poller, handler_factory=servers, tls=server_ctx)
    client = Recorder()
    ep = connect(listener.address, poller=poller, handler=client, tls=client_ctx)
    assert ep.peer_cn == "server.test"
    blob = bytes(range(256)) * (4 * 4096)
    small = b"12345678small"
    ep.submit(small)
    ep.submit(blob[:1000], memoryview(blob)[1000:])
    got = client.wait_records(2, timeout=40)
    assert got[0] == small
    assert hashlib.sha256(got[1]).digest() == hashlib.sha256(blob).digest()
    server = servers.get(0)
    assert server.endpoint is not None and server.endpoint.stats().tls
    ep.close()
    assert server.lost.wait(5) and client.lost.wait(5)
    assert isinstance(server.lost_exc, PeerClosedError)
    calls = request.node.public_calls
    if path:
        assert calls == {"read": 0, "write": 0}
    else:
        assert calls["read"] > 0 and calls["write"] > 0
    listener.close()
