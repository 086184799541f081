"""Bad input closes that connection with a logged reason; every other connection goes on."""

from __future__ import annotations

import logging
import socket
import struct

import pytest
from transport_support import Accepted, Recorder

from gfrpc.errors import NotConnectedError, TLSError, TransportError
from gfrpc.transport import connect, listen

pytestmark = pytest.mark.timeout(60)


def _serve(poller, server_ctx):
    servers = Accepted(lambda: Recorder(reply=True))
    return listen("127.0.0.1:0", poller=poller, handler_factory=servers, tls=server_ctx), servers


def _still_serves(poller, listener, client_ctx) -> None:
    client = Recorder()
    ep = connect(listener.address, poller=poller, handler=client, tls=client_ctx)
    ep.submit(b"abcdefgh")
    assert client.wait_records(1) == [b"abcdefghok"]
    ep.close()


@pytest.mark.parametrize(
    "garbage",
    [
        struct.pack(">I", 0xFFFFFFFF) + b"x" * 100,  # last fragment of 2 GiB - 1
        struct.pack(">I", 0x7FFFFFFF) * 2,  # fragments adding up past 1 GiB
        b"\x16\x03\x01\x02\x00" + b"\x00" * 200,  # a TLS ClientHello-like start
    ],
)
def test_oversized_or_foreign_record_closes_only_that_connection(poller, tls_pair, garbage, caplog):
    """A fragment header announcing >= 1 GiB (or TLS bytes on a plaintext port) cuts that
    connection off at once, with a logged reason, and the server goes on serving."""
    caplog.set_level(logging.INFO, logger="gfrpc")
    listener, servers = _serve(poller, None)
    raw = socket.create_connection(listener.address.sockaddr)
    raw.sendall(garbage)
    raw.settimeout(10)
    assert raw.recv(10) == b""  # the server closed it
    raw.close()
    assert any("closing connection" in r.getMessage() for r in caplog.records)
    _still_serves(poller, listener, None)
    listener.close()


def test_truncated_record_then_eof(poller):
    """A record cut short by EOF is dropped and its connection cleaned up once."""
    listener, servers = _serve(poller, None)
    raw = socket.create_connection(listener.address.sockaddr)
    raw.sendall(struct.pack(">I", 0x80000000 | 1000) + b"y" * 10)
    raw.close()
    _still_serves(poller, listener, None)
    assert servers.get(0).lost.wait(5) and servers.get(0).records == []
    listener.close()


def test_plaintext_client_on_tls_port(poller, tls_pair):
    """A plaintext client on a TLS port is cut off; TLS clients still get served."""
    server_ctx, client_ctx = tls_pair
    listener, _ = _serve(poller, server_ctx)
    client = Recorder()
    ep = connect(listener.address, poller=poller, handler=client)
    try:
        ep.submit(struct.pack(">I", 0x80000000 | 8) + b"abcdefgh")
    except NotConnectedError:
        pass
    assert client.lost.wait(10)
    _still_serves(poller, listener, client_ctx)
    listener.close()


def test_tls_client_on_plaintext_port(poller, tls_pair):
    """A TLS client on a plaintext port fails fast with a clear error, not a timeout."""
    _, client_ctx = tls_pair
    listener, _ = _serve(poller, None)
    with pytest.raises(TransportError) as info:
        connect(listener.address, poller=poller, handler=Recorder(), tls=client_ctx, timeout=10)
    assert isinstance(info.value, TLSError | NotConnectedError)
    _still_serves(poller, listener, None)
    listener.close()


def test_connection_refused_is_one_clear_error(poller):
    """Connecting to a closed port raises NotConnectedError('connection refused')."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(NotConnectedError, match="connection refused"):
        connect(f"127.0.0.1:{port}", poller=poller, handler=Recorder())
