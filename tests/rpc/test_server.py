"""Tests for rpc/server.py and rpc/dispatch.py: dispatch answers, GF-DUMP, credentials, workers,
outstanding limit."""

from __future__ import annotations

import logging
import queue
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from rpc_fakes_support import FakeEndpoint, call_message

from gfrpc.errors import LocalProtocolError, NotConnectedError, RemoteProtocolError, TLSError
from gfrpc.programs import dump as gfdump
from gfrpc.rpc.server import GarbageArgs, Procedure, Program, Request, RpcServer
from gfrpc.wire import rpcmsg, xdr

ECHO_PROG = 0x20000001
AcceptStat = rpcmsg.AcceptStat

Pair = xdr.struct("Pair", [("a", xdr.UInt), ("b", xdr.UInt)])


def echo(request: Request) -> Any:
    return [b"echo:", request.args]


def boom(request: Request) -> Any:
    raise RuntimeError("handler bug")


def garbage(request: Request) -> Any:
    raise GarbageArgs("cannot decode")


def add(request: Request) -> Any:
    pair = request.decoded
    return [struct.pack(">I", pair.a + pair.b), request.payload]


@pytest.fixture
def server() -> Iterator[RpcServer]:
    srv = RpcServer(None, workers=4)
    srv.register(Program(ECHO_PROG, 1, "echo v1", {1: Procedure("ECHO", echo)}))
    srv.register(
        Program(
            ECHO_PROG,
            3,
            "echo v3",
            {
                1: Procedure("ECHO", echo),
                2: Procedure("BOOM", boom),
                3: Procedure("GARBAGE", garbage),
                4: Procedure("ADD", add, args_type=Pair),
            },
        )
    )
    yield srv
    srv.close()


def connect(server: RpcServer, **kw: Any) -> FakeEndpoint:
    ep = FakeEndpoint(server.make_handler(kw.pop("ssl_allow", None)), **kw)
    ep.start()
    return ep


def roundtrip(ep: FakeEndpoint, record: bytes) -> tuple[Any, bytes]:
    ep.feed(record)
    header, body = rpcmsg.decode_message(ep.next_sent())
    assert isinstance(header, rpcmsg.ReplyHeader)
    return header, bytes(body)


@pytest.mark.timeout(30)
def test_successful_call_is_answered_with_results(server: RpcServer) -> None:
    """SUCCESS reply with the handler's result parts, same xid, AUTH_NONE verifier echoed."""
    ep = connect(server)
    header, body = roundtrip(ep, call_message(77, ECHO_PROG, 3, 1, b"hello"))
    assert (header.xid, header.reply_stat, header.accept_stat) == (
        77,
        rpcmsg.MSG_ACCEPTED,
        AcceptStat.SUCCESS,
    )
    assert header.verf == rpcmsg.AUTH_NONE
    assert body == b"echo:hello"


@pytest.mark.timeout(30)
def test_reply_verifier_echoes_the_request_verifier(server: RpcServer) -> None:
    """rpcsvc echoes the request's verifier flavor and body in the reply."""
    ep = connect(server)
    verf = rpcmsg.OpaqueAuth(7, b"abcd")
    header, _ = roundtrip(ep, call_message(5, ECHO_PROG, 3, 1, b"", verf=verf))
    assert header.verf == verf


@pytest.mark.timeout(30)
def test_rpc_version_other_than_2_gets_rpc_mismatch(server: RpcServer) -> None:
    """rpcvers != 2 ⇒ MSG_DENIED / RPC_MISMATCH with low = high = 2."""
    ep = connect(server)
    record = bytearray(call_message(9, ECHO_PROG, 3, 1))
    record[8:12] = (3).to_bytes(4, "big")
    header, _ = roundtrip(ep, bytes(record))
    assert header.reply_stat == rpcmsg.MSG_DENIED
    assert header.reject_stat == rpcmsg.RejectStat.RPC_MISMATCH
    assert (header.mismatch_low, header.mismatch_high) == (2, 2)


@pytest.mark.timeout(30)
def test_unknown_program_gets_prog_unavail(server: RpcServer) -> None:
    """A program that is not registered ⇒ PROG_UNAVAIL."""
    header, _ = roundtrip(connect(server), call_message(1, 424242, 1, 1))
    assert header.accept_stat == AcceptStat.PROG_UNAVAIL


@pytest.mark.timeout(30)
def test_other_version_gets_prog_mismatch_with_registered_range(server: RpcServer) -> None:
    """A registered program in another version ⇒ PROG_MISMATCH, low/high = versions registered."""
    header, _ = roundtrip(connect(server), call_message(1, ECHO_PROG, 2, 1))
    assert header.accept_stat == AcceptStat.PROG_MISMATCH
    assert (header.mismatch_low, header.mismatch_high) == (1, 3)


@pytest.mark.timeout(30)
def test_unknown_procedure_gets_proc_unavail(server: RpcServer) -> None:
    """A procedure the program version lacks ⇒ PROC_UNAVAIL."""
    header, _ = roundtrip(connect(server), call_message(1, ECHO_PROG, 1, 2))
    assert header.accept_stat == AcceptStat.PROC_UNAVAIL


@pytest.mark.timeout(30)
def test_garbage_args_from_handler_or_args_type(server: RpcServer) -> None:
    """GarbageArgs from a handler, or args that do not decode as args_type ⇒ GARBAGE_ARGS."""
    ep = connect(server)
    header, _ = roundtrip(ep, call_message(1, ECHO_PROG, 3, 3))
    assert header.accept_stat == AcceptStat.GARBAGE_ARGS
    header, _ = roundtrip(ep, call_message(2, ECHO_PROG, 3, 4, b"\0\0\0\1"))  # half a Pair
    assert header.accept_stat == AcceptStat.GARBAGE_ARGS
    header, body = roundtrip(ep, call_message(3, ECHO_PROG, 3, 4, Pair(a=2, b=40).pack() + b"raw"))
    assert header.accept_stat == AcceptStat.SUCCESS
    assert body == struct.pack(">I", 42) + b"raw"


@pytest.mark.timeout(30)
def test_handler_exception_gets_system_err_and_is_logged(
    server: RpcServer, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected exception in a handler ⇒ SYSTEM_ERR, logged on gfrpc.rpc.server; the
    connection stays usable."""
    ep = connect(server)
    with caplog.at_level(logging.ERROR, logger="gfrpc.rpc.server"):
        header, _ = roundtrip(ep, call_message(1, ECHO_PROG, 3, 2))
    assert header.accept_stat == AcceptStat.SYSTEM_ERR
    assert any("BOOM" in r.getMessage() for r in caplog.records)
    header, _ = roundtrip(ep, call_message(2, ECHO_PROG, 3, 1))
    assert header.accept_stat == AcceptStat.SUCCESS


@pytest.mark.timeout(30)
def test_gf_dump_lists_every_program_including_itself(server: RpcServer) -> None:
    """GF-DUMP DUMP lists every registered program version, GF-DUMP itself included."""
    ep = connect(server)
    req = gfdump.GfDumpReq(gfs_id=gfdump.CLIENT_GFS_ID).pack()
    cred = rpcmsg.GlusterCredV2(pid=1, uid=0, gid=0).to_auth()
    header, body = roundtrip(
        ep, call_message(2, gfdump.GF_DUMP_PROGRAM, 1, gfdump.DUMP, req, cred=cred)
    )
    assert header.accept_stat == AcceptStat.SUCCESS
    rsp = gfdump.GfDumpRsp.unpack(body)
    assert (rsp.gfs_id, rsp.op_ret, rsp.op_errno) == (gfdump.CLIENT_GFS_ID, 0, 0)
    listed = {(p.progname, p.prognum, p.progver) for p in rsp.progs}
    assert listed == {
        ("GF-DUMP", gfdump.GF_DUMP_PROGRAM, 1),
        ("echo v1", ECHO_PROG, 1),
        ("echo v3", ECHO_PROG, 3),
    }


@pytest.mark.timeout(30)
def test_gf_dump_ping_answers_all_zero_common_rsp(server: RpcServer) -> None:
    """GF-DUMP PING (no args) ⇒ gf_common_rsp of 12 zero bytes (reference §4.3 worked example)."""
    ep = connect(server)
    cred = rpcmsg.GlusterCredV3(pid=1234, uid=0, gid=0).to_auth()
    header, body = roundtrip(ep, call_message(5, gfdump.GF_DUMP_PROGRAM, 1, gfdump.PING, cred=cred))
    assert header.accept_stat == AcceptStat.SUCCESS
    assert body == bytes(12)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("flavor", [0, 1, 5, 390039, 390040, 31337])
def test_credential_flavors_are_accepted(flavor: int) -> None:
    """Flavors 0, 1, 5, 390039, 390040 are decoded; unknown flavors are accepted as AUTH_NULL."""
    seen: queue.Queue[Request] = queue.Queue()

    def record(request: Request) -> bytes:
        seen.put(request)
        return b""

    srv = RpcServer(None, workers=1)
    srv.register(Program(ECHO_PROG, 1, "rec", {1: Procedure("REC", record)}))
    try:
        creds: dict[int, Any] = {
            0: rpcmsg.AUTH_NONE,
            1: rpcmsg.AuthUnix(1, "h", 10, 20, (30,)),
            5: rpcmsg.GlusterCredV1(pid=5, uid=10, gid=20),
            390039: rpcmsg.GlusterCredV2(pid=5, uid=10, gid=20),
            390040: rpcmsg.GlusterCredV3(pid=5, uid=10, gid=20),
            31337: rpcmsg.OpaqueAuth(31337, b"whatever"),
        }
        ep = connect(srv)
        header, _ = roundtrip(ep, call_message(1, ECHO_PROG, 1, 1, cred=creds[flavor]))
        assert header.accept_stat == AcceptStat.SUCCESS
        request = seen.get(timeout=5)
        assert request.auth.flavor == flavor
        if flavor in (0, 31337):
            assert request.credential is None
        else:
            assert request.credential == rpcmsg.decode_credential(creds[flavor].to_auth())
            assert request.credential.uid == 10
    finally:
        srv.close()


@pytest.mark.timeout(30)
def test_malformed_credential_body_gets_auth_error(server: RpcServer) -> None:
    """A known flavor whose body does not decode ⇒ MSG_DENIED / AUTH_ERROR (AUTH_BADCRED)."""
    ep = connect(server)
    bad = rpcmsg.OpaqueAuth(rpcmsg.AUTH_GLUSTERFS_V3, b"\0\0\0\1")
    header, _ = roundtrip(ep, call_message(1, ECHO_PROG, 3, 1, cred=bad))
    assert header.reply_stat == rpcmsg.MSG_DENIED
    assert header.reject_stat == rpcmsg.RejectStat.AUTH_ERROR
    assert header.auth_stat == rpcmsg.AuthStat.AUTH_BADCRED
    assert not ep.closed


@pytest.mark.timeout(30)
def test_credential_over_400_bytes_closes_the_connection(
    server: RpcServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A credential body over 400 bytes is a protocol error: close, with a logged reason."""
    ep = connect(server, peername=("127.0.0.1", 40404))
    body = bytes(404)
    record = struct.pack(">IIIIIIII", 1, 0, 2, ECHO_PROG, 3, 1, 390040, len(body)) + body + bytes(8)
    with caplog.at_level(logging.INFO, logger="gfrpc.rpc.server"):
        ep.feed(record)
        assert ep.lost_event.wait(5)
    assert isinstance(ep.close_exc, RemoteProtocolError)
    assert ep.sent.empty()
    # Only this connection's lines: an earlier test's connections may log their close late.
    lines = [
        r.getMessage()
        for r in caplog.records
        if "closed" in r.getMessage() and "127.0.0.1:40404" in r.getMessage()
    ]
    assert len(lines) == 1 and "protocol error" in lines[0]


@pytest.mark.timeout(30)
def test_reply_message_at_the_server_closes_the_connection(server: RpcServer) -> None:
    """A REPLY sent to a server is a protocol error: the connection is closed, nothing sent."""
    ep = connect(server)
    ep.feed(rpcmsg.encode_accepted_reply(3))
    assert ep.lost_event.wait(5)
    assert isinstance(ep.close_exc, RemoteProtocolError)
    assert ep.sent.empty()


@pytest.mark.timeout(30)
def test_handlers_run_on_workers_never_on_the_poller_thread() -> None:
    """User handlers run on the worker pool, not on the transport's input thread."""
    threads: queue.Queue[threading.Thread] = queue.Queue()

    def where(request: Request) -> bytes:
        threads.put(threading.current_thread())
        return b""

    srv = RpcServer(None, workers=3)
    srv.register(Program(ECHO_PROG, 1, "where", {1: Procedure("WHERE", where)}))
    try:
        ep = connect(srv)
        for xid in range(10):
            ep.feed(call_message(xid, ECHO_PROG, 1, 1))
        for _ in range(10):
            ep.next_sent()
        seen = [threads.get(timeout=5) for _ in range(10)]
        assert all(srv.workers.is_worker_thread(t) for t in seen)
        assert all(t is not ep.thread for t in seen)
    finally:
        srv.close()


@pytest.mark.timeout(30)
def test_inline_procedures_run_on_the_thread_that_read_them() -> None:
    """A procedure marked inline runs on the transport's input thread; the others of the same
    program still go to the worker pool."""
    threads: queue.Queue[tuple[int, threading.Thread]] = queue.Queue()

    def where(request: Request) -> bytes:
        threads.put((request.proc, threading.current_thread()))
        return b""

    procedures = {1: Procedure("POOLED", where), 2: Procedure("INLINE", where, inline=True)}
    srv = RpcServer(None, workers=2)
    srv.register(Program(ECHO_PROG, 1, "where", procedures))
    try:
        ep = connect(srv)
        for xid in range(6):
            ep.feed(call_message(xid, ECHO_PROG, 1, 1 + xid % 2))
        for _ in range(6):
            ep.next_sent()
        seen = [threads.get(timeout=5) for _ in range(6)]
        assert srv.workers is not None
        assert all(t is ep.thread for proc, t in seen if proc == 2)
        assert all(srv.workers.is_worker_thread(t) for proc, t in seen if proc == 1)
    finally:
        srv.close()


@pytest.mark.timeout(30)
def test_no_workers_runs_every_handler_and_the_disconnect_hook_inline() -> None:
    """``workers=0`` (a brick's ``--io-threads 0``): no pool exists, every handler runs on the
    input thread, and the per-connection disconnect hook still runs once."""
    threads: queue.Queue[threading.Thread] = queue.Queue()
    ended: queue.Queue[threading.Thread] = queue.Queue()

    def where(request: Request) -> bytes:
        threads.put(threading.current_thread())
        return b"ok"

    srv = RpcServer(None, workers=0)
    srv.register(Program(ECHO_PROG, 1, "where", {1: Procedure("WHERE", where)}))
    srv.on_disconnect = lambda session: ended.put(threading.current_thread())
    try:
        assert srv.workers is None
        ep = connect(srv)
        for xid in range(5):
            header, body = roundtrip(ep, call_message(xid, ECHO_PROG, 1, 1))
            assert header.xid == xid and body == b"ok"
        assert all(threads.get(timeout=5) is ep.thread for _ in range(5))
        ep.close()
        ended.get(timeout=5)
        assert ended.empty()
    finally:
        srv.close()


@pytest.mark.timeout(30)
def test_outstanding_limit_pauses_and_resumes_reading() -> None:
    """When a connection has outstanding-rpc-limit requests in progress, reading is paused;
    when one completes (count below the limit), reading resumes."""
    release = threading.Event()
    started: queue.Queue[int] = queue.Queue()

    def slow(request: Request) -> bytes:
        started.put(request.xid)
        assert release.wait(10)
        return b""

    srv = RpcServer(None, workers=4, outstanding_limit=2)
    srv.register(Program(ECHO_PROG, 1, "slow", {1: Procedure("SLOW", slow)}))
    try:
        ep = connect(srv)
        ep.feed(call_message(1, ECHO_PROG, 1, 1))
        started.get(timeout=5)
        ep.sync()
        assert not ep.paused  # 1 < limit
        ep.feed(call_message(2, ECHO_PROG, 1, 1))
        started.get(timeout=5)
        ep.sync()
        assert ep.paused and ep.pause_log == ["pause"]
        release.set()
        ep.next_sent()
        ep.next_sent()
        assert not ep.paused and ep.pause_log == ["pause", "resume"]
    finally:
        srv.close()


@pytest.mark.timeout(30)
def test_outstanding_limit_zero_means_unlimited() -> None:
    """outstanding_limit=0 never pauses reading."""
    release = threading.Event()

    def slow(request: Request) -> bytes:
        assert release.wait(10)
        return b""

    srv = RpcServer(None, workers=8, outstanding_limit=0)
    srv.register(Program(ECHO_PROG, 1, "slow", {1: Procedure("SLOW", slow)}))
    try:
        ep = connect(srv)
        for xid in range(100):
            ep.feed(call_message(xid, ECHO_PROG, 1, 1))
        ep.sync()
        assert ep.pause_log == []
        release.set()
    finally:
        srv.close()


@pytest.mark.timeout(30)
def test_a_request_is_answered_at_most_once() -> None:
    """A handler that replies itself gets no second reply from the server; reply() twice is a
    LocalProtocolError; a deferred request is answered from another thread, once."""
    errors: queue.Queue[Exception] = queue.Queue()
    deferred: queue.Queue[Request] = queue.Queue()

    def self_reply(request: Request) -> None:
        request.reply(b"mine")
        try:
            request.reply(b"again")
        except LocalProtocolError as exc:
            errors.put(exc)

    def later(request: Request) -> None:
        request.defer()
        deferred.put(request)

    srv = RpcServer(None, workers=2)
    srv.register(
        Program(
            ECHO_PROG, 1, "once", {1: Procedure("SELF", self_reply), 2: Procedure("LATER", later)}
        )
    )
    try:
        ep = connect(srv)
        header, body = roundtrip(ep, call_message(1, ECHO_PROG, 1, 1))
        assert body == b"mine"
        assert isinstance(errors.get(timeout=5), LocalProtocolError)
        ep.feed(call_message(2, ECHO_PROG, 1, 2))
        request = deferred.get(timeout=5)
        with pytest.raises(queue.Empty):
            ep.next_sent(timeout=0.2)
        threading.Thread(target=request.reply, args=(b"later",)).start()
        header, body = rpcmsg.decode_message(ep.next_sent())
        assert (header.xid, bytes(body)) == (2, b"later")
        with pytest.raises(LocalProtocolError):
            request.reply(b"twice")
        with pytest.raises(queue.Empty):
            ep.next_sent(timeout=0.2)
    finally:
        srv.close()


@pytest.mark.timeout(30)
def test_ssl_allow_refuses_a_peer_whose_cn_does_not_match(
    server: RpcServer, caplog: pytest.LogCaptureFixture
) -> None:
    """ssl_allow globs are checked when the connection is made; a refused CN is closed with
    one logged line, before any of its calls is looked at."""
    with caplog.at_level(logging.INFO, logger="gfrpc.rpc.server"):
        bad = connect(
            server,
            ssl_allow=["client-*", "admin"],
            peer_cn="intruder",
            peername=("127.0.0.1", 40666),
        )
        bad.feed(call_message(1, ECHO_PROG, 3, 1))
        assert bad.lost_event.wait(5)
    assert isinstance(bad.close_exc, TLSError)
    assert bad.sent.empty()
    # Only this connection's lines: an earlier test's connections may log their close late.
    lines = [
        r.getMessage()
        for r in caplog.records
        if "closed" in r.getMessage() and "127.0.0.1:40666" in r.getMessage()
    ]
    assert len(lines) == 1 and "intruder" in lines[0]
    good = connect(server, ssl_allow=["client-*", "admin"], peer_cn="client-7")
    header, _ = roundtrip(good, call_message(1, ECHO_PROG, 3, 1))
    assert header.accept_stat == AcceptStat.SUCCESS


@pytest.mark.timeout(30)
def test_accept_connection_hook_can_refuse() -> None:
    """accept_connection(peername, peer_cn) returning False closes the connection."""
    seen: list[tuple[Any, Any]] = []

    def hook(peername: Any, cn: str | None) -> bool:
        seen.append((peername, cn))
        return peername[1] != 666

    srv = RpcServer(None, workers=1, accept_connection=hook)
    try:
        bad = connect(srv, peername=("10.0.0.1", 666))
        assert bad.lost_event.wait(5)
        assert isinstance(bad.close_exc, NotConnectedError)
        good = connect(srv, peername=("10.0.0.1", 1000), peer_cn="cn")
        header, _ = roundtrip(good, call_message(1, gfdump.GF_DUMP_PROGRAM, 1, gfdump.PING))
        assert header.accept_stat == AcceptStat.SUCCESS
        assert seen == [(("10.0.0.1", 666), None), (("10.0.0.1", 1000), "cn")]
    finally:
        srv.close()


@pytest.mark.timeout(30)
def test_registering_the_same_program_version_twice_is_an_error(server: RpcServer) -> None:
    """(prognum, progver) identifies a program: a second registration is refused."""
    with pytest.raises(LocalProtocolError):
        server.register(Program(ECHO_PROG, 1, "dup", {}))


@pytest.mark.timeout(30)
def test_ping_is_answered_while_every_worker_is_busy() -> None:
    """GF-DUMP PING is answered on the input thread: busy workers cannot delay it into a
    client's ping-timeout (GlusterFS issue #2401)."""
    release = threading.Event()

    def stuck(request: Request) -> bytes:
        assert release.wait(10)
        return b""

    srv = RpcServer(None, workers=1, outstanding_limit=0)
    srv.register(Program(ECHO_PROG, 1, "stuck", {1: Procedure("STUCK", stuck)}))
    try:
        ep = connect(srv)
        ep.feed(call_message(1, ECHO_PROG, 1, 1))
        ep.feed(call_message(2, ECHO_PROG, 1, 1))
        header, body = roundtrip(ep, call_message(3, gfdump.GF_DUMP_PROGRAM, 1, gfdump.PING))
        assert (header.xid, body) == (3, bytes(12))
        release.set()
        assert {rpcmsg.decode_message(ep.next_sent())[0].xid for _ in range(2)} == {1, 2}
    finally:
        release.set()
        srv.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("proc", "keeps"),
    [(1, True), (2, False), (3, False)],
    ids=["inline-taker", "worker-taker", "inline-without-takes_tail"],
)
def test_an_unread_tail_reaches_only_an_inline_procedure_that_takes_it(
    proc: int, keeps: bool
) -> None:
    """Rule (``Procedure.takes_tail``): the end of a record still in the socket reaches the
    handler (``request.tail``) only if its procedure takes tails and runs inline; a request
    for a worker or for a procedure without ``takes_tail`` gets its whole arguments, read in
    before the handler starts."""
    import socket

    from gfrpc.transport.tail import UnreadTail

    seen: queue.Queue[tuple[int | None, bytes]] = queue.Queue()

    def note(request: Request) -> Any:
        tail = request.tail
        remaining = None if tail is None else tail.remaining
        seen.put((remaining, b"" if tail is not None else bytes(request.args)))
        return [b"ok"]

    srv = RpcServer(None, workers=2)
    srv.register(
        Program(
            ECHO_PROG,
            1,
            "tails",
            {
                1: Procedure("TAKE", note, inline=True, takes_tail=lambda args, n: True),
                2: Procedure("WORKER", note, takes_tail=lambda args, n: True),
                3: Procedure("PLAIN", note, inline=True),
            },
        )
    )
    args = bytes(range(256)) * 400
    whole = call_message(9, ECHO_PROG, 1, proc, args)
    unread = 60_000
    record = memoryview(bytearray(whole[: len(whole) - unread]) + bytearray(unread))
    a, b = socket.socketpair()
    b.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    a.setblocking(False)
    ep = connect(srv)
    try:
        b.sendall(whole[len(whole) - unread :])
        ep.feed_with_tail(record, UnreadTail(a, record[len(record) - unread :]))
        remaining, got = seen.get(timeout=10)
        if keeps:
            assert remaining == unread
        else:
            assert remaining is None and got == args
        ep.next_sent()  # answered (an inline reply goes out before the tail is read in)
        ep.sync()  # the delivery is over: what the handler left of the tail was read in
        assert bytes(record) == whole
    finally:
        ep.close()
        srv.close()
        a.close()
        b.close()
