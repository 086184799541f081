"""Tests for rpc/liveness.py (RpcClient's frame-timeout and ping) against a fake endpoint."""

from __future__ import annotations

import errno
import queue
from collections.abc import Callable
from typing import Any

import pytest
from rpc_fakes_support import reply_message, sent_call, start_echo

from gfrpc.errors import NotConnectedError, RemoteProtocolError, TimeoutError_
from gfrpc.programs import dump as gfdump
from gfrpc.wire import rpcmsg

PROG, VERS = 1298437, 400


@pytest.mark.timeout(30)
def test_frame_timeout_fails_the_call_and_never_reuses_its_xid(
    make_client: Callable[..., Any],
) -> None:
    """A call unanswered for frame-timeout fails with ETIMEDOUT; its xid is not reused. One
    late reply for it is dropped (documented choice), a second one is an unknown xid."""
    client, ep = make_client(frame_timeout=0.2)
    with pytest.raises(TimeoutError_) as info:
        client.call(PROG, VERS, 1)
    assert info.value.errno == errno.ETIMEDOUT
    timed_out_xid = sent_call(ep)[0].xid
    assert timed_out_xid == 2

    ep.feed(reply_message(timed_out_xid))  # late reply: tolerated
    ep.sync()
    assert client.connected and not ep.closed
    start_echo(ep)
    assert client.call(PROG, VERS, 1, b"x").xid == 3  # not reused

    ep.feed(reply_message(timed_out_xid))  # a duplicate: now unknown
    assert ep.closed_event.wait(5)
    assert isinstance(ep.close_exc, RemoteProtocolError)


@pytest.mark.timeout(30)
def test_per_call_timeout_overrides_frame_timeout(make_client: Callable[..., Any]) -> None:
    """call(..., timeout=t) replaces frame-timeout for that call only."""
    client, ep = make_client(frame_timeout=1800)
    f = client.call_async(PROG, VERS, 1, timeout=0.1)
    assert isinstance(f.exception(5), TimeoutError_)
    assert client.connected


@pytest.mark.timeout(30)
def test_a_shorter_timeout_fires_first_and_the_longer_call_lives_on(
    make_client: Callable[..., Any],
) -> None:
    """Deadlines, not the order of the calls, decide: a short-timeout call made after a long
    one fails on time while the long one is still answered; a call made after the short one
    with the client's frame-timeout fails at its own deadline."""
    client, ep = make_client(frame_timeout=0.6)
    long = client.call_async(PROG, VERS, 1, timeout=30)
    short = client.call_async(PROG, VERS, 1, timeout=0.1)
    assert isinstance(short.exception(5), TimeoutError_)
    assert not long.done()
    default = client.call_async(PROG, VERS, 1)
    assert isinstance(default.exception(5), TimeoutError_)
    assert not long.done()
    long_xid = sent_call(ep)[0].xid
    ep.feed(reply_message(long_xid, b"late but on time"))
    assert bytes(long.result(5).body) == b"late but on time"
    assert client.connected


@pytest.mark.timeout(30)
def test_calls_share_one_frame_timeout_timer_per_connection(
    make_client: Callable[..., Any], timers: Any
) -> None:
    """A call does not schedule a timer of its own: after 200 answered calls at most one
    frame-timeout timer of the connection is in the timer thread's heap."""
    client, ep = make_client(frame_timeout=1800)
    start_echo(ep)
    before = timers.pending()
    for i in range(200):
        client.call(PROG, VERS, 1, b"%d" % i)
    assert timers.pending() - before <= 1


@pytest.mark.timeout(30)
def test_ping_is_sent_only_while_calls_are_pending(make_client: Callable[..., Any]) -> None:
    """No PING on an idle connection; a call starts a PING (GF-DUMP proc 2, no args, cred v3);
    once nothing is pending the ping cycle stops."""
    client, ep = make_client(ping_timeout=0.3)
    with pytest.raises(queue.Empty):
        ep.next_sent(timeout=0.8)  # idle for more than two ping-timeouts: nothing is sent

    future = client.call_async(PROG, VERS, 1)
    first, second = sent_call(ep), sent_call(ep)
    pings = [c for c in (first, second) if c[0].prog == gfdump.GF_DUMP_PROGRAM]
    calls = [c for c in (first, second) if c[0].prog == PROG]
    assert len(pings) == 1 and len(calls) == 1
    ping_header, ping_body = pings[0]
    assert (ping_header.vers, ping_header.proc, ping_body) == (1, gfdump.PING, b"")
    assert ping_header.cred.flavor == rpcmsg.AUTH_GLUSTERFS_V3
    ep.feed(reply_message(ping_header.xid, gfdump.GfCommonRsp().pack()))
    ep.feed(reply_message(calls[0][0].xid))
    future.result(5)
    with pytest.raises(queue.Empty):
        ep.next_sent(timeout=1.0)  # nothing pending: no further PING
    assert client.connected


@pytest.mark.timeout(30)
def test_silent_peer_is_disconnected_after_ping_timeout(make_client: Callable[..., Any]) -> None:
    """A peer that sends nothing for ping-timeout while calls are pending is disconnected;
    the pending calls fail with ENOTCONN."""
    client, ep = make_client(ping_timeout=0.3)
    future = client.call_async(PROG, VERS, 1)
    exc = future.exception(5)
    assert isinstance(exc, NotConnectedError) and exc.errno == errno.ENOTCONN
    assert isinstance(ep.close_exc, TimeoutError_)
    assert not client.connected


@pytest.mark.timeout(30)
def test_answered_pings_keep_a_slow_call_alive(make_client: Callable[..., Any]) -> None:
    """While the peer answers PINGs, a call slower than ping-timeout is not cut off, and
    PINGs keep being sent while it is pending."""
    client, ep = make_client(ping_timeout=0.2)
    future = client.call_async(PROG, VERS, 1)
    pings = 0
    call_xid = None
    while pings < 4:
        header, _ = sent_call(ep)
        if header.prog == gfdump.GF_DUMP_PROGRAM:
            pings += 1
            ep.feed(reply_message(header.xid, gfdump.GfCommonRsp().pack()))
        else:
            call_xid = header.xid
    assert call_xid is not None and not future.done()
    ep.feed(reply_message(call_xid, b"late but fine"))
    assert bytes(future.result(5).body) == b"late but fine"
