"""RpcClient ⇄ RpcServer over real loopback sockets, on every poller, with and without TLS."""

from __future__ import annotations

import errno
import threading
from typing import Any

import pytest

from gfrpc.errors import NotConnectedError, RpcError, TransportError
from gfrpc.programs import dump as gfdump
from gfrpc.rpc import RpcClient, RpcServer, dump, ping
from gfrpc.rpc.server import Procedure, Program, Request
from gfrpc.transport.pollers.base import Poller

ECHO_PROG, ECHO_VERS = 0x20000002, 1
ECHO, FAIL, WHERE = 1, 2, 3


def echo(request: Request) -> Any:
    return [request.args]  # the memoryview of the request record, sent back as is


def fail(request: Request) -> Any:
    raise RuntimeError("deliberate")


def make_server(poller: Poller, workers: int = 4) -> RpcServer:
    server = RpcServer(poller, workers=workers)
    server.register(
        Program(
            ECHO_PROG,
            ECHO_VERS,
            "echo",
            {
                ECHO: Procedure("ECHO", echo),
                FAIL: Procedure("FAIL", fail),
                WHERE: Procedure("WHERE", lambda r: threading.current_thread().name.encode()),
            },
        )
    )
    return server


@pytest.fixture(params=[False, True], ids=["plain", "tls"])
def tls(request: pytest.FixtureRequest, tls_pair: tuple[Any, Any]) -> tuple[Any, Any]:
    return tls_pair if request.param else (None, None)


@pytest.mark.timeout(60)
def test_echo_program_end_to_end(poller: Poller, tls: tuple[Any, Any]) -> None:
    """A client calls a registered echo program on a server over loopback: small and 1 MiB
    arguments, many threads at once, replies matched to their calls; handlers on workers."""
    server_tls, client_tls = tls
    server = make_server(poller)
    listener = server.listen("127.0.0.1:0", tls=server_tls)
    client = RpcClient(str(listener.address), poller=poller, tls=client_tls, ping_timeout=5)
    try:
        client.connect(timeout=10)
        assert bytes(client.call(ECHO_PROG, ECHO_VERS, ECHO, b"hello").body) == b"hello"
        big = bytes(range(256)) * 4096
        assert bytes(client.call(ECHO_PROG, ECHO_VERS, ECHO, [b"hdr!", big]).body) == b"hdr!" + big

        errors: list[BaseException] = []

        def caller(n: int) -> None:
            try:
                for i in range(25):
                    payload = f"{n}:{i}".encode() * (i + 1)
                    assert bytes(client.call(ECHO_PROG, ECHO_VERS, ECHO, payload).body) == payload
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=caller, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        where = bytes(client.call(ECHO_PROG, ECHO_VERS, WHERE).body).decode()
        assert where.startswith("gfrpc-rpc-worker-")
    finally:
        client.close()
        server.close()


@pytest.mark.timeout(60)
def test_dump_ping_and_errors_end_to_end(poller: Poller) -> None:
    """dump() lists the server's programs (GF-DUMP included), ping() measures a round trip,
    dispatch errors come back as RpcError and the connection stays up."""
    server = make_server(poller)
    listener = server.listen("127.0.0.1:0")
    client = RpcClient(str(listener.address), poller=poller)
    try:
        client.connect()
        assert set(dump(client)) == {
            (gfdump.GF_DUMP_PROGRAM, 1, "GF-DUMP"),
            (ECHO_PROG, ECHO_VERS, "echo"),
        }
        assert 0 <= ping(client) < 5
        with pytest.raises(RpcError) as info:
            client.call(ECHO_PROG, ECHO_VERS, FAIL)
        assert info.value.stat == "SYSTEM_ERR"
        with pytest.raises(RpcError) as info:
            client.call(ECHO_PROG, 9, ECHO)
        assert (info.value.stat, info.value.low, info.value.high) == ("PROG_MISMATCH", 1, 1)
        with pytest.raises(RpcError) as info:
            client.call(ECHO_PROG, ECHO_VERS, 99)
        assert info.value.stat == "PROC_UNAVAIL"
        with pytest.raises(RpcError) as info:
            client.call(4711, 1, 1)
        assert info.value.stat == "PROG_UNAVAIL"
        assert client.connected
    finally:
        client.close()
        server.close()


@pytest.mark.timeout(60)
def test_ssl_allow_refuses_unlisted_client_cn(poller: Poller, tls_context: Any) -> None:
    """A TLS client whose CN is not in ssl_allow is disconnected; a listed one is served."""
    server = make_server(poller)
    refused = server.listen(
        "127.0.0.1:0", tls=tls_context(True, "server.test"), ssl_allow="admin, trusted-*"
    )
    client = RpcClient(str(refused.address), poller=poller, tls=tls_context(False, "client.test"))
    try:
        with pytest.raises(TransportError):
            client.connect()
            client.call(ECHO_PROG, ECHO_VERS, ECHO, b"x", timeout=10)
    finally:
        client.close()
    allowed = RpcClient(str(refused.address), poller=poller, tls=tls_context(False, "trusted-1"))
    try:
        allowed.connect()
        assert bytes(allowed.call(ECHO_PROG, ECHO_VERS, ECHO, b"ok").body) == b"ok"
    finally:
        allowed.close()
        server.close()


@pytest.mark.timeout(60)
def test_server_shutdown_fails_calls_and_client_reconnects(poller: Poller) -> None:
    """When the server goes away, pending calls fail with ENOTCONN; with reconnect on, the
    client connects again once a server listens on the address."""
    release = threading.Event()
    server = make_server(poller)
    server.register(
        Program(ECHO_PROG, 2, "slow", {1: Procedure("SLOW", lambda r: release.wait(10) and b"")})
    )
    listener = server.listen("127.0.0.1:0")
    address = str(listener.address)
    client = RpcClient(address, poller=poller, reconnect=True, reconnect_interval=0.1)
    server2 = None
    try:
        client.connect()
        pending = client.call_async(ECHO_PROG, 2, 1)
        pending.add_done_callback(lambda f: release.set())
        server.close()
        exc = pending.exception(10)
        assert isinstance(exc, NotConnectedError) and exc.errno == errno.ENOTCONN
        server2 = make_server(poller)
        server2.listen(address)
        assert client.wait_connected(10)
        assert bytes(client.call(ECHO_PROG, ECHO_VERS, ECHO, b"again").body) == b"again"
    finally:
        release.set()
        client.close()
        if server2 is not None:
            server2.close()


@pytest.mark.timeout(30)
def test_session_is_per_connection_and_on_disconnect_runs_once(poller: Poller) -> None:
    """Requests of one connection share ``request.session``; when the connection closes,
    ``on_disconnect(session)`` runs exactly once, on a worker thread."""
    server = RpcServer(poller, workers=2)
    ended: list[tuple[dict[str, Any], bool]] = []
    done = threading.Event()

    def count(request: Request) -> bytes:
        request.session["n"] = request.session.get("n", 0) + 1
        return int(request.session["n"]).to_bytes(4, "big")

    def on_disconnect(session: dict[str, Any]) -> None:
        ended.append((dict(session), server.workers.is_worker_thread()))
        done.set()

    server.on_disconnect = on_disconnect
    server.register(Program(0x20000321, 1, "count", {1: Procedure("COUNT", count)}))
    listener = server.listen("127.0.0.1:0")
    c1 = RpcClient(listener.address, poller=poller)
    c2 = RpcClient(listener.address, poller=poller)
    try:
        c1.connect()
        c2.connect()
        assert [int.from_bytes(c1.call(0x20000321, 1, 1).body, "big") for _ in range(3)] == [
            1,
            2,
            3,
        ]
        assert int.from_bytes(c2.call(0x20000321, 1, 1).body, "big") == 1
        c1.close()
        assert done.wait(10)
        assert ended == [({"n": 3}, True)]
    finally:
        c2.close()
        server.close()
