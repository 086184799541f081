"""Tests for rpc/client.py against a fake endpoint (conftest.FakeEndpoint)."""

from __future__ import annotations

import errno
import queue
import threading
from collections.abc import Callable
from typing import Any

import pytest
from rpc_fakes_support import (
    FakeConnector,
    next_user_call,
    reply_message,
    sent_call,
    start_echo,
)

from gfrpc.errors import NotConnectedError, RemoteProtocolError, RpcError
from gfrpc.programs import dump as gfdump
from gfrpc.rpc.client import FIRST_XID, RpcClient
from gfrpc.wire import rpcmsg

PROG, VERS = 1298437, 400


@pytest.mark.timeout(30)
def test_xids_start_at_2_and_never_repeat(make_client: Callable[..., Any]) -> None:
    """GlusterFS's first xid is 2; xids are unique even with many threads calling at once."""
    client, ep = make_client()
    start_echo(ep)
    xids: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(50):
            reply = client.call(PROG, VERS, 1, f"{n}-{i}".encode())
            assert bytes(reply.body) == f"{n}-{i}".encode()
            with lock:
                xids.append(reply.xid)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert FIRST_XID == 2
    assert min(xids) == 2
    assert len(set(xids)) == len(xids) == 400
    assert sorted(xids) == list(range(2, 402))


@pytest.mark.timeout(30)
def test_out_of_order_replies_are_matched_by_xid(make_client: Callable[..., Any]) -> None:
    """Replies may come in any order (§8.9); each completes the call with its xid."""
    client, ep = make_client()
    futures = [client.call_async(PROG, VERS, 1, [b"arg", str(i).encode()]) for i in range(3)]
    calls = [sent_call(ep) for _ in range(3)]
    for header, body in reversed(calls):
        ep.feed(reply_message(header.xid, b"re:" + body))
    for i, f in enumerate(futures):
        assert bytes(f.result(5).body) == b"re:arg" + str(i).encode()
    assert [f.result().xid for f in futures] == [2, 3, 4]


@pytest.mark.timeout(30)
def test_unknown_xid_disconnects_and_fails_all_pending(make_client: Callable[..., Any]) -> None:
    """A reply with an xid nobody waits for is a protocol error: the connection is closed and
    every pending call fails with ENOTCONN; later calls fail at once with ENOTCONN."""
    client, ep = make_client()
    futures = [client.call_async(PROG, VERS, 1) for _ in range(3)]
    for _ in range(3):
        sent_call(ep)
    ep.feed(reply_message(999))
    for f in futures:
        exc = f.exception(5)
        assert isinstance(exc, NotConnectedError)
        assert exc.errno == errno.ENOTCONN
    assert ep.closed_event.wait(5)
    assert isinstance(ep.close_exc, RemoteProtocolError)
    assert not client.connected
    with pytest.raises(NotConnectedError) as info:
        client.call(PROG, VERS, 1)
    assert info.value.errno == errno.ENOTCONN


@pytest.mark.timeout(30)
def test_a_sent_call_is_answered_and_dropped(make_client: Callable[..., Any]) -> None:
    """send() puts one CALL on the wire and returns at once; its reply is read and dropped
    (its xid was pending, so the connection stays up and the next call works); with no
    connection it raises nothing."""
    client, ep = make_client()
    assert client.send(PROG, VERS, 3, b"bye!") is None
    header, body = sent_call(ep)
    assert (header.prog, header.proc, body) == (PROG, 3, b"bye!")
    ep.feed(reply_message(header.xid, b"ignored"))
    start_echo(ep)
    assert bytes(client.call(PROG, VERS, 1, b"next").body) == b"next"
    assert client.connected and not ep.closed
    client.close()
    client.send(PROG, VERS, 3)  # not connected: nothing to send, nothing raised


@pytest.mark.timeout(30)
def test_reconnect_after_disconnect_keeps_counting_xids(
    make_client: Callable[..., Any], connector: FakeConnector
) -> None:
    """With reconnect on, a lost connection is re-made after reconnect_interval; pending calls
    of the old one fail with ENOTCONN; xids are not reset on reconnect."""
    client, ep = make_client(reconnect=True, reconnect_interval=0.1)
    start_echo(ep)
    assert client.call(PROG, VERS, 1).xid == 2
    pending = client.call_async(PROG, VERS, 1)  # echo may or may not answer it first
    ep.peer_close()
    if pending.exception(5) is not None:
        assert isinstance(pending.exception(), NotConnectedError)
    ep2 = connector.wait_for(2)
    assert client.wait_connected(5)
    start_echo(ep2)
    assert client.call(PROG, VERS, 1).xid == 4


@pytest.mark.timeout(30)
def test_reconnect_retries_after_a_refused_connect(connector: FakeConnector, timers: Any) -> None:
    """connect() raises when refused; with reconnect on, attempts go on in the background."""
    connector.refuse = True
    client = RpcClient(
        "fake:1",
        poller=None,
        timers=timers,
        reconnect=True,
        reconnect_interval=0.05,
        ping_timeout=0,
    )
    try:
        with pytest.raises(NotConnectedError):
            client.connect()
        with connector.connected:
            assert connector.connected.wait_for(lambda: connector.calls >= 3, 5)
        connector.refuse = False
        assert client.wait_connected(5)
    finally:
        client.close()


@pytest.mark.timeout(30)
def test_no_reconnect_when_disabled(
    make_client: Callable[..., Any], connector: FakeConnector
) -> None:
    """Without reconnect a lost connection stays down."""
    client, ep = make_client(reconnect=False, reconnect_interval=0.05)
    ep.peer_close()
    assert ep.lost_event.wait(5)
    assert not client.wait_connected(0.3)
    assert connector.calls == 1


@pytest.mark.timeout(30)
def test_default_and_explicit_credentials(make_client: Callable[..., Any]) -> None:
    """GF-DUMP DUMP goes with AUTH_GLUSTERFS_v2, other calls with v3 (as GlusterFS); a per-call
    cred wins over the per-client one; the verifier is always AUTH_NONE."""
    client, ep = make_client()
    client.call_async(gfdump.GF_DUMP_PROGRAM, 1, gfdump.DUMP)
    client.call_async(PROG, VERS, 1)
    unix = rpcmsg.AuthUnix(0, "host", 1, 2)
    client.call_async(PROG, VERS, 1, cred=unix)
    headers = [sent_call(ep)[0] for _ in range(3)]
    assert [h.cred.flavor for h in headers] == [390039, 390040, 1]
    assert all(h.verf == rpcmsg.AUTH_NONE for h in headers)
    cred = rpcmsg.decode_credential(headers[1].cred)
    assert isinstance(cred, rpcmsg.GlusterCredV3)

    client2, ep2 = make_client(cred=rpcmsg.AUTH_NONE)
    client2.call_async(gfdump.GF_DUMP_PROGRAM, 1, gfdump.DUMP)
    client2.call_async(PROG, VERS, 1, cred=unix)
    assert [sent_call(ep2)[0].cred.flavor for _ in range(2)] == [0, 1]


@pytest.mark.timeout(30)
def test_rpc_level_errors_raise_rpc_error(make_client: Callable[..., Any]) -> None:
    """MSG_DENIED and accept_stat != SUCCESS complete the call with RpcError(stat, low, high)."""
    client, ep = make_client()
    f1 = client.call_async(PROG, 7, 1)
    f2 = client.call_async(PROG, VERS, 1)
    f3 = client.call_async(PROG, VERS, 1)
    x1, x2, x3 = (sent_call(ep)[0].xid for _ in range(3))
    ep.feed(rpcmsg.encode_accepted_reply(x1, rpcmsg.AcceptStat.PROG_MISMATCH, low=330, high=400))
    ep.feed(rpcmsg.encode_denied_reply(x2, rpcmsg.RejectStat.RPC_MISMATCH))
    ep.feed(rpcmsg.encode_accepted_reply(x3, rpcmsg.AcceptStat.SYSTEM_ERR))
    e1, e2, e3 = (f.exception(5) for f in (f1, f2, f3))
    assert isinstance(e1, RpcError) and (e1.stat, e1.low, e1.high) == ("PROG_MISMATCH", 330, 400)
    assert isinstance(e2, RpcError) and (e2.stat, e2.low, e2.high) == ("RPC_MISMATCH", 2, 2)
    assert isinstance(e3, RpcError) and e3.stat == "SYSTEM_ERR"
    assert client.connected


@pytest.mark.timeout(30)
def test_undecodable_reply_is_a_protocol_error(make_client: Callable[..., Any]) -> None:
    """A record that is not an RPC message closes the connection."""
    client, ep = make_client()
    f = client.call_async(PROG, VERS, 1)
    ep.feed(b"\x00\x00\x00\x02\x00\x00\x00\x07")
    assert isinstance(f.exception(5), NotConnectedError)
    assert isinstance(ep.close_exc, RemoteProtocolError)


@pytest.mark.timeout(30)
def test_server_calls_go_to_on_callback_and_get_no_reply(make_client: Callable[..., Any]) -> None:
    """CALLs from the server (GlusterFS callback program) reach on_callback; none is answered."""
    client, ep = make_client()
    got: queue.Queue[tuple[Any, bytes]] = queue.Queue()
    client.on_callback = lambda header, body: got.put((header, bytes(body)))
    ep.feed(rpcmsg.encode_call(7, 52743234, 1, 6) + b"up")
    header, body = got.get(timeout=5)
    assert (header.prog, header.proc, body) == (52743234, 6, b"up")
    with pytest.raises(queue.Empty):
        ep.next_sent(timeout=0.2)
    assert client.connected


@pytest.mark.timeout(30)
def test_close_fails_pending_calls_and_later_calls(make_client: Callable[..., Any]) -> None:
    """close(): pending calls complete with ENOTCONN, new calls fail at once."""
    client, ep = make_client()
    f = client.call_async(PROG, VERS, 1)
    client.close()
    assert isinstance(f.exception(5), NotConnectedError)
    assert ep.closed_event.wait(5)
    assert isinstance(client.call_async(PROG, VERS, 1).exception(5), NotConnectedError)


@pytest.mark.timeout(30)
def test_call_before_connect_fails_with_enotconn(timers: Any) -> None:
    """A call on a client that never connected fails with ENOTCONN."""
    client = RpcClient("fake:1", poller=None, timers=timers)
    with pytest.raises(NotConnectedError) as info:
        client.call(PROG, VERS, 1)
    assert info.value.errno == errno.ENOTCONN


@pytest.mark.timeout(30)
def test_on_connect_and_on_disconnect_hooks(
    make_client: Callable[..., Any], connector: FakeConnector
) -> None:
    """on_disconnect fires once per lost connection, on_connect on every (re)connect."""
    client, ep = make_client(reconnect=True, reconnect_interval=0.05)
    events: queue.Queue[str] = queue.Queue()
    client.on_connect = lambda c: events.put("up")
    client.on_disconnect = lambda c, reason: events.put("down")
    ep.peer_close()
    assert events.get(timeout=5) == "down"
    assert events.get(timeout=5) == "up"


@pytest.mark.timeout(30)
def test_a_synchronous_call_waiting_is_woken_by_the_disconnect(
    make_client: Callable[..., Any],
) -> None:
    """call() sleeps on its own lock, not a Future: a close() while it waits still wakes it
    with ENOTCONN, and the next call() fails at once."""
    client, ep = make_client()
    outcome: queue.Queue[BaseException | object] = queue.Queue()

    def caller() -> None:
        try:
            outcome.put(client.call(PROG, VERS, 1))
        except BaseException as exc:  # handed to the test thread
            outcome.put(exc)

    t = threading.Thread(target=caller, daemon=True)
    t.start()
    next_user_call(ep)  # the CALL is on the wire: the caller is waiting for its reply
    client.close()
    got = outcome.get(timeout=5)
    assert isinstance(got, NotConnectedError) and got.errno == errno.ENOTCONN
    t.join(5)
    with pytest.raises(NotConnectedError):
        client.call(PROG, VERS, 1)


@pytest.mark.timeout(30)
def test_synchronous_calls_from_many_threads_each_get_their_own_reply(
    make_client: Callable[..., Any],
) -> None:
    """Each call() sleeps on its own lock and wakes with the reply to its own xid: 16 threads
    calling at once over one connection each get back exactly what they sent."""
    client, ep = make_client()
    start_echo(ep)
    results: dict[int, bytes] = {}

    def caller(i: int) -> None:
        for k in range(20):
            arg = f"{i}:{k}".encode().ljust(8, b".")
            results[i * 100 + k] = bytes(client.call(PROG, VERS, 1, arg).body) + arg

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(results) == 16 * 20
    for got in results.values():
        assert got[:8] == got[8:]
