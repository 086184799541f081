"""The endpoint's lifecycle: its states and their order, its repr, and close log levels."""

from __future__ import annotations

import gc
import logging
import socket
import ssl
import threading
import weakref

import pytest
from transport_support import Accepted, Recorder

from gfrpc.errors import (
    NotConnectedError,
    RemoteProtocolError,
    TimeoutError_,
    TLSError,
)
from gfrpc.transport import EndpointState, PeerClosedError, connect, listen
from gfrpc.transport.lifecycle import close_log_level, may_move
from gfrpc.transport.pollers.base import Poller
from gfrpc.wire.record import record_mark

pytestmark = pytest.mark.timeout(60)

S = EndpointState


class StateRecorder(Recorder):
    """A Recorder that notes the endpoint's state as each callback sees it."""

    def __init__(self, reply: bool = False) -> None:
        super().__init__(reply)
        self.seen: list[tuple[str, EndpointState]] = []

    def connection_made(self, ep) -> None:
        self.seen.append(("made", ep.state))
        super().connection_made(ep)

    def connection_lost(self, ep, exc) -> None:
        self.seen.append(("lost", ep.state))
        super().connection_lost(ep, exc)


def test_transition_table_allows_only_the_forward_moves():
    """HANDSHAKING -> OPEN -> CLOSING -> CLOSED, HANDSHAKING -> CLOSING; nothing else, and
    nothing leaves CLOSED."""
    allowed = {(a, b) for a in S for b in S if may_move(a, b)}
    assert allowed == {
        (S.HANDSHAKING, S.OPEN),
        (S.HANDSHAKING, S.CLOSING),
        (S.OPEN, S.CLOSING),
        (S.CLOSING, S.CLOSED),
    }


def test_states_seen_by_the_handler_and_after_close(poller, tls):
    """connection_made sees OPEN, close() makes it CLOSING at once, connection_lost sees
    CLOSED; the server's endpoint goes the same way when the client leaves."""
    server_ctx, client_ctx = tls
    servers = Accepted(lambda: StateRecorder(reply=True))
    listener = listen("127.0.0.1:0", poller=poller, handler_factory=servers, tls=server_ctx)
    client = StateRecorder()
    ep = connect(listener.address, poller=poller, handler=client, tls=client_ctx)
    assert ep.state is S.OPEN and not ep.closed
    ep.submit(b"12345678", b"hi")
    assert client.wait_records(1) == [b"12345678ok"]
    ep.close()
    assert ep.state in (S.CLOSING, S.CLOSED) and ep.closed
    assert client.lost.wait(5)
    assert ep.state is S.CLOSED
    assert client.seen == [("made", S.OPEN), ("lost", S.CLOSED)]
    server = servers.get(0)
    assert server.lost.wait(5)
    assert server.seen == [("made", S.OPEN), ("lost", S.CLOSED)]
    assert isinstance(server.lost_exc, PeerClosedError)  # the client closed in order
    ep.close()  # a second close changes nothing
    assert ep.state is S.CLOSED and client.lost_count == 1
    listener.close()


def test_first_close_reason_wins(poller):
    """The reason of the first close is the one connection_lost gets; later ones are ignored."""
    listener = listen("127.0.0.1:0", poller=poller, handler_factory=Recorder)
    client = Recorder()
    ep = connect(listener.address, poller=poller, handler=client)
    first, second = TimeoutError_("first"), NotConnectedError("second")
    ep.close(first)
    ep.close(second)
    assert client.lost.wait(5)
    assert client.lost_exc is first and ep.close_reason is first
    listener.close()


def test_repr_shows_side_peer_and_state(poller, tls):
    """repr names the side, TLS, the peer as host:port and the state, and follows the state."""
    server_ctx, client_ctx = tls
    listener = listen("127.0.0.1:0", poller=poller, handler_factory=Recorder, tls=server_ctx)
    client = Recorder()
    ep = connect(listener.address, poller=poller, handler=client, tls=client_ctx)
    tls_part = " TLS" if client_ctx is not None else ""
    port = listener.address.port
    assert repr(ep) == f"<Endpoint client{tls_part} peer=127.0.0.1:{port} state=OPEN>"
    ep.close()
    assert client.lost.wait(5)
    assert repr(ep).endswith("state=CLOSED>")
    listener.close()


def test_repr_writes_ipv6_peers_in_brackets(poller):
    """An IPv6 peer is shown as [host]:port, as Address writes it."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        listener = listen("[::1]:0", poller=poller, handler_factory=Recorder)
    except Exception as exc:  # pragma: no cover - machine without ::1
        pytest.skip(f"no IPv6 loopback: {exc}")
    client = Recorder()
    ep = connect(f"[::1]:{listener.address.port}", poller=poller, handler=client)
    assert f"peer=[::1]:{listener.address.port} " in repr(ep)
    assert ep.peer_text() == f"[::1]:{listener.address.port}"
    ep.close()
    listener.close()


def test_stats_snapshot(poller):
    """stats() reports the state, records received and unsent bytes of an endpoint."""
    servers = Accepted(lambda: Recorder(reply=True))
    listener = listen("127.0.0.1:0", poller=poller, handler_factory=servers)
    client = Recorder()
    ep = connect(listener.address, poller=poller, handler=client)
    ep.submit(b"12345678")
    client.wait_records(1)
    stats = ep.stats()
    assert stats.state is S.OPEN and not stats.tls
    assert stats.records_received == 1 and stats.unsent_bytes == 0
    assert not stats.in_record and stats.buffered_bytes == 0 and not stats.input_paused
    ep.close()
    listener.close()


@pytest.mark.parametrize(
    ("reason", "level"),
    [
        (PeerClosedError("EOF from peer"), logging.DEBUG),
        (NotConnectedError("connection reset by peer"), logging.INFO),
        (TimeoutError_("no complete request"), logging.INFO),
        (TLSError("TLS handshake failed: unknown CA"), logging.INFO),
        (RemoteProtocolError("fragment of 2 GiB"), logging.WARNING),
        (KeyError("bug"), logging.ERROR),
    ],
)
def test_close_log_level_follows_the_reason_type(reason, level):
    """Log levels come from the reason's type: orderly EOF DEBUG, lost connections INFO, peer
    protocol violations WARNING, anything unexpected ERROR."""
    assert close_log_level(reason) == level


def test_log_level_is_chosen_by_type_not_text(poller, caplog):
    """A peer's orderly EOF is logged at DEBUG, whatever the message; a protocol violation
    by the peer at WARNING."""
    caplog.set_level(logging.DEBUG, logger="gfrpc.transport")
    servers = Accepted(Recorder)
    listener = listen("127.0.0.1:0", poller=poller, handler_factory=servers)
    raw = socket.create_connection(listener.address.sockaddr, timeout=10)
    assert servers.get(0).made.wait(5)
    raw.close()
    assert servers.get(0).lost.wait(5)
    raw = socket.create_connection(listener.address.sockaddr, timeout=10)
    raw.sendall(b"\xff\xff\xff\xff" + b"x" * 8)  # a last fragment of 2 GiB - 1 bytes
    assert servers.get(1).lost.wait(5)
    raw.close()
    closing = [r for r in caplog.records if "closing connection" in r.getMessage()]
    assert [r.levelno for r in closing] == [logging.DEBUG, logging.WARNING]
    listener.close()


def test_a_handler_bug_closes_that_connection_with_a_traceback(poller, caplog):
    """An unexpected exception in a handler closes only that connection, logged at ERROR
    with its traceback; connection_lost gets a NotConnectedError caused by it."""

    class Buggy(Recorder):
        def record_received(self, ep, record) -> None:
            raise KeyError("bug in the handler")

    caplog.set_level(logging.INFO, logger="gfrpc")
    servers = Accepted(Buggy)
    listener = listen("127.0.0.1:0", poller=poller, handler_factory=servers)
    client = Recorder()
    ep = connect(listener.address, poller=poller, handler=client)
    ep.submit(b"12345678")
    server = servers.get(0)
    assert server.lost.wait(5) and client.lost.wait(5)
    assert isinstance(server.lost_exc, NotConnectedError)
    assert isinstance(server.lost_exc.__cause__, KeyError)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert "closing connection" in errors[0].getMessage()
    listener.close()


@pytest.mark.timeout(120)
def test_a_closed_connection_is_freed_without_the_cycle_collector(
    poller: Poller, tls: tuple[ssl.SSLContext | None, ssl.SSLContext | None]
) -> None:
    """Rule (lifecycle.py, ``GONE``): with the cyclic garbage collector off, closed server
    endpoints and their handlers (which keep their endpoints, as the RPC server's does) are
    freed by reference counting alone, TLS or not, after a connection that carried a 256 KiB
    record. At most one per poller thread lingers, in its loop's locals until its next event.
    (Before, each closed endpoint waited for a full collection: its handler, and the frames of
    its close reason's traceback, referred back to it.)"""
    server_ctx, client_ctx = tls
    made: list[tuple[weakref.ref, weakref.ref]] = []
    lost = threading.Semaphore(0)

    class KeepsItsEndpoint:
        def connection_made(self, ep) -> None:
            self.ep = ep
            made.append((weakref.ref(ep), weakref.ref(self)))

        def record_received(self, ep, record) -> None:
            ep.submit(bytes(record[:8]), b"ok")

        def connection_lost(self, ep, exc) -> None:
            lost.release()

    listener = listen(
        "127.0.0.1:0", poller=poller, handler_factory=KeepsItsEndpoint, tls=server_ctx
    )
    address = (listener.address.host, listener.address.port)
    payload = b"x" * (256 << 10)
    gc.collect()
    gc.disable()
    try:
        for i in range(6):
            sock = socket.create_connection(address, timeout=20)
            if client_ctx is not None:
                sock = client_ctx.wrap_socket(sock)
            tag = b"freed-%02d" % i
            sock.sendall(record_mark(len(payload)) + tag + payload[8:])
            want = record_mark(10) + tag + b"ok"
            got = b""
            while len(got) < len(want):
                chunk = sock.recv(len(want) - len(got))
                assert chunk, "connection closed"
                got += chunk
            assert got == want
            sock.close()
            assert lost.acquire(timeout=20), "connection_lost not called"
        assert len(made) == 6
        endpoints = sum(ep() is not None for ep, _ in made)
        handlers = sum(h() is not None for _, h in made)
        assert endpoints <= 2 and handlers <= 2, (endpoints, handlers)
    finally:
        gc.enable()
        listener.close()
