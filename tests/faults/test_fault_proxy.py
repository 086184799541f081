"""The fault proxy itself, against a plain socket peer: the other fault tests trust that a cut
after N bytes delivers exactly N, that a half-close is one-way and that a stall holds bytes."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from proxy_support import FaultProxy

pytestmark = pytest.mark.timeout(30)

Server = tuple[socket.socket, list[socket.socket], threading.Event]


@pytest.fixture
def server() -> Iterator[Server]:
    """A listening socket; its one accepted connection is appended to the list, then the
    event is set."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    ready = threading.Event()

    def accept() -> None:
        conn, _ = listener.accept()
        accepted.append(conn)
        ready.set()

    t = threading.Thread(target=accept, name="faultproxy-test-accept")
    t.start()
    yield listener, accepted, ready
    t.join(5)
    for s in accepted:
        s.close()
    listener.close()


def recv_all(sock: socket.socket, timeout: float = 5) -> tuple[bytes, str]:
    """Read until EOF or reset; returns (bytes, "eof" | "reset")."""
    sock.settimeout(timeout)
    out = bytearray()
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return bytes(out), "reset"
        if not chunk:
            return bytes(out), "eof"
        out += chunk


def connect(proxy: FaultProxy, server: Server) -> tuple[socket.socket, socket.socket]:
    client = socket.create_connection(proxy.address, timeout=5)
    assert proxy.wait_for_connections(1) and server[2].wait(5)
    return client, server[1][0]


def test_cut_after_n_bytes_delivers_exactly_n_then_resets(server: Server) -> None:
    """Rule: cut(after=N, direction="down") relays exactly N more bytes to the client, then
    the client gets a reset (not an orderly EOF)."""
    listener = server[0]
    with FaultProxy(listener.getsockname()[:2]) as proxy:
        client, peer = connect(proxy, server)
        proxy.cut(after=100_000, direction="down")
        peer.sendall(bytes(range(256)) * 1000)
        data, how = recv_all(client)
        assert (len(data), how) == (100_000, "reset")
        assert data == (bytes(range(256)) * 1000)[:100_000]
        client.close()


def test_half_close_is_one_way_and_trickle_sends_one_byte_per_segment(server: Server) -> None:
    """Rule: half_close("up") gives the server an EOF while it can still send to the client;
    in trickle mode every byte is its own send."""
    listener = server[0]
    with FaultProxy(listener.getsockname()[:2]) as proxy:
        client, peer = connect(proxy, server)
        client.sendall(b"hello")
        peer.settimeout(5)
        got = b""
        while len(got) < 5:
            got += peer.recv(5 - len(got))
        assert got == b"hello"
        proxy.half_close("up")
        assert recv_all(peer) == (b"", "eof")
        pipe = proxy.pipes[0]
        proxy.trickle(0.0, direction="down")
        peer.sendall(b"still flowing")
        peer.shutdown(socket.SHUT_WR)
        assert recv_all(client) == (b"still flowing", "eof")
        assert pipe.sends("down") == len(b"still flowing")
        client.close()


def test_a_stall_holds_the_bytes_for_its_duration(server: Server) -> None:
    """Rule: stall(s) relays nothing for s seconds, then everything, in order."""
    listener = server[0]
    with FaultProxy(listener.getsockname()[:2]) as proxy:
        client, peer = connect(proxy, server)
        proxy.stall(0.5)
        start = time.monotonic()
        client.sendall(b"x" * 1000)
        peer.settimeout(5)
        first = peer.recv(1)
        assert first == b"x" and time.monotonic() - start >= 0.45
        client.close()
