"""The RPC server's side of what one peer may cost: outstanding-rpc-limit counted until the
reply is sent, PINGs included, and the first-request rule with DUMP/PING-only connections.

Clients are raw sockets that write many requests and never read the replies.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gfrpc.programs import dump as gfdump
from gfrpc.rpc import RpcServer
from gfrpc.rpc.server import Procedure, Program, Request
from gfrpc.testing.waiting import settled, wait_for
from gfrpc.transport import ServerLimits, SocketOptions
from gfrpc.transport.endpoint import CORK_RECORDS
from gfrpc.transport.pollers.base import Poller
from gfrpc.wire import rpcmsg
from gfrpc.wire.record import record_mark

PROG, VERS = 0x20000003, 1
SMALL, BIG, SIZED, DEFERS, PREDICTS, WHEN_BEHIND = 1, 2, 3, 4, 5, 6
BIG_REPLY = 1 << 20
NO_TIMEOUTS = ServerLimits(handshake_timeout=0, first_request_timeout=0, frame_timeout=0)


def call(
    xid: int, prog: int = PROG, vers: int = VERS, proc: int = SMALL, args: bytes = b""
) -> bytes:
    body = rpcmsg.encode_call(xid, prog, vers, proc) + args
    return record_mark(len(body)) + body


def ping(xid: int) -> bytes:
    return call(xid, gfdump.GF_DUMP_PROGRAM, gfdump.GF_DUMP_VERSION, gfdump.PING)


class Counting:
    def __init__(self) -> None:
        self.small = 0
        self.big = 0
        self.deferred: list[Request] = []
        #: what a PREDICTS call saw of itself: (counted as outstanding, bytes reserved)
        self.seen: list[tuple[bool, int]] = []
        self.lock = threading.Lock()

    def small_call(self, request: Request) -> Any:
        with self.lock:
            self.small += 1
        return b"s" * 100  # about a STAT reply

    def deferring_call(self, request: Request) -> Any:
        request.defer()  # answered later, from the test's thread
        with self.lock:
            self.deferred.append(request)
        return None

    def predicted_call(self, request: Request) -> Any:
        with self.lock:
            self.seen.append((request._counted, request._reserved))
        return b"p" * 100

    def big_call(self, request: Request) -> Any:
        with self.lock:
            self.big += 1
        return bytes(BIG_REPLY)  # a fresh buffer each time, as a READ's


@pytest.fixture
def served(poller: Poller) -> Iterator[Callable[..., tuple[RpcServer, Counting, tuple[str, int]]]]:
    made: list[RpcServer] = []

    def make(
        limit: int = 64, limits: ServerLimits = NO_TIMEOUTS, sndbuf: int = 16384, workers: int = 4
    ) -> tuple[RpcServer, Counting, tuple[str, int]]:
        counting = Counting()
        server = RpcServer(poller, workers=workers, outstanding_limit=limit, limits=limits)
        server.register(
            Program(
                PROG,
                VERS,
                "costs",
                {
                    SMALL: Procedure("SMALL", counting.small_call),
                    BIG: Procedure("BIG", counting.big_call),
                    SIZED: Procedure("SIZED", counting.big_call, reply_size=lambda args: BIG_REPLY),
                    DEFERS: Procedure("DEFERS", counting.deferring_call, inline=True),
                    PREDICTS: Procedure(
                        "PREDICTS",
                        counting.predicted_call,
                        inline=True,
                        reply_size=lambda args: 1000 * len(args),
                    ),
                    WHEN_BEHIND: Procedure(
                        "WHEN_BEHIND",
                        counting.predicted_call,
                        inline=True,
                        reply_size=lambda args: 1000 * len(args),
                        reserves_when_behind=True,
                    ),
                },
            )
        )
        listener = server.listen("127.0.0.1:0", options=SocketOptions(send_buffer=sndbuf))
        made.append(server)
        return server, counting, (listener.address.host, listener.address.port)

    yield make
    for s in made:
        s.close()


def raw_client(address: tuple[str, int]) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)  # before connect: small window
    s.connect(address)
    return s


def pipeline(sock: socket.socket, messages: Iterator[bytes], give_up: float = 1.0) -> int:
    """Write messages until done or the server stops taking them; the count written."""
    sock.setblocking(False)
    sent = 0
    pending = b""
    blocked_since = None
    for msg in messages:
        pending += msg
        if len(pending) < 65536:
            continue
        while pending:
            try:
                n = sock.send(pending)
                pending = pending[n:]
                blocked_since = None
            except BlockingIOError:
                blocked_since = blocked_since or time.monotonic()
                if time.monotonic() - blocked_since > give_up:
                    return sent
                time.sleep(0.01)
        sent += 1
    return sent


def only_connection(server: RpcServer) -> Any:
    wait_for(lambda: len(server._conns) == 1, what="the connection")
    return next(iter(server._conns))


@pytest.mark.timeout(120)
def test_pipelined_small_requests_stop_being_read(served: Callable[..., Any]) -> None:
    """outstanding-rpc-limit: 100,000 pipelined small calls from a client that never reads
    are not all accepted; the server stops reading once the limit's replies cannot be sent,
    and the count is exactly the limit (a request counts until its reply is written)."""
    server, counting, address = served(limit=64)
    sock = raw_client(address)
    pipeline(sock, (call(i) for i in range(100_000)))
    handled = settled(lambda: counting.small)
    conn = only_connection(server)
    assert handled < 50_000, f"{handled} of 100,000 unread calls were handled"
    assert conn.paused and conn.outstanding == 64
    sock.close()


@pytest.mark.timeout(120)
def test_pipelined_pings_count_too(served: Callable[..., Any]) -> None:
    """PINGs, answered on the input thread, count against outstanding-rpc-limit while their
    replies wait unsent: a ping flood that never reads its replies stops being read, with at
    most the limit's replies queued, plus the one batch the input thread was answering (a
    PING's reply is 40 bytes)."""
    server, counting, address = served(limit=16)
    sock = raw_client(address)
    pipeline(sock, (ping(i) for i in range(30_000)))
    conn = only_connection(server)
    wait_for(lambda: conn.ep.stats().input_paused, what="reading paused")
    assert settled(lambda: conn.ep.stats().unsent_bytes) <= (16 + CORK_RECORDS) * 40
    assert conn.outstanding == 0  # none is being made: each was answered as it was read
    sock.close()


@pytest.mark.timeout(60)
def test_an_inline_call_that_defers_counts_until_its_reply_is_sent(
    served: Callable[..., Any],
) -> None:
    """A call run on the input thread is not counted while its handler runs (it is answered
    before the handler returns, or its reply waits in the out-queue, whose parts count); one
    whose handler defers counts from then on, until its reply has been sent, so deferred calls
    (a blocked lock's) still stop the reading at the limit."""
    server, counting, address = served(limit=3)
    sock = socket.create_connection(address, timeout=20)
    sock.sendall(b"".join(call(i, proc=DEFERS) for i in range(5)))
    conn = only_connection(server)
    wait_for(lambda: len(counting.deferred) == 3, what="three deferred calls")
    wait_for(lambda: conn.paused, what="reading paused at the limit")
    assert settled(lambda: len(counting.deferred)) == 3 and conn.outstanding == 3
    counting.deferred[0].reply(b"done")
    wait_for(lambda: len(counting.deferred) == 4, what="a fourth call read once one was sent")
    assert settled(lambda: conn.outstanding) == 3
    for request in list(counting.deferred[1:]):
        request.reply(b"done")
    wait_for(lambda: len(counting.deferred) == 5, what="the last call")
    counting.deferred[4].reply(b"done")
    wait_for(lambda: conn.outstanding == 0, what="nothing outstanding")
    sock.close()


@pytest.mark.timeout(120)
def test_unread_large_replies_stop_the_reading(served: Callable[..., Any]) -> None:
    """A client that pipelines calls with 1 MiB replies and never reads them stops being
    read: at most outstanding-rpc-limit replies are made, so the unsent bytes the server
    pins stay bounded by limit x reply size (not by the number of calls sent)."""
    server, counting, address = served(limit=8)
    sock = raw_client(address)
    pipeline(sock, (call(i, proc=BIG) for i in range(2000)))
    handled = settled(lambda: counting.big)
    conn = only_connection(server)
    assert handled <= 8 + 1, f"{handled} replies of 1 MiB made for an unread client"
    assert conn.ep.unsent_bytes <= 8 * (BIG_REPLY + 100)
    # paused by the count, or first by the out-queue's parts (two per reply here)
    assert conn.ep.stats().input_paused
    # reading the replies lets the server go on
    sock.setblocking(True)
    sock.settimeout(20)
    got = 0
    while got < 20 * BIG_REPLY:
        chunk = sock.recv(1 << 20)
        assert chunk
        got += len(chunk)
    wait_for(lambda: counting.big > handled, what="more calls handled after reading")
    sock.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("workers", [4, 0], ids=["on-workers", "inline"])
def test_replies_in_the_making_stay_within_the_unsent_budget(
    served: Callable[..., Any], workers: int
) -> None:
    """Calls whose procedure predicts its reply size (a READ's) start only while the replies
    being made and unsent fit in max_unsent_bytes: 24 pipelined 1 MiB-reply calls that arrive
    at once, under a 64-call outstanding limit and a 4 MiB budget, make at most 4 replies
    (+1) for a client that does not read; reading lets the rest through in order. The same
    holds when handlers run inline (``workers=0``): held calls start as replies leave."""
    limits = ServerLimits(
        handshake_timeout=0,
        first_request_timeout=0,
        frame_timeout=0,
        max_unsent_bytes=4 * BIG_REPLY,
    )
    server, counting, address = served(limit=64, limits=limits, workers=workers)
    sock = raw_client(address)
    sock.sendall(b"".join(call(i, proc=SIZED) for i in range(24)))
    handled = settled(lambda: counting.big)
    assert 1 <= handled <= 4 + 1, f"{handled} replies of 1 MiB made for an unread client"
    sock.settimeout(30)
    got = 0
    while got < 24 * BIG_REPLY:
        chunk = sock.recv(1 << 20)
        assert chunk
        got += len(chunk)
    assert counting.big == 24
    sock.close()


@pytest.mark.timeout(60)
def test_a_reply_predicted_small_reserves_nothing(served: Callable[..., Any]) -> None:
    """Rule: a call whose procedure predicts a reply of 0 bytes for its arguments (the brick's
    LOOKUP without xdata) reserves nothing and is not counted while it runs, as a call whose
    procedure predicts nothing; a nonzero prediction is reserved until the reply leaves."""
    server, counting, address = served()
    sock = raw_client(address)
    sock.sendall(call(1, proc=PREDICTS) + call(2, proc=PREDICTS, args=bytes(8)))
    read_at_least(sock, 2 * (100 + 28))
    assert counting.seen == [(False, 0), (True, 8000)]
    wait_for(lambda: server.replies.reserved == 0, what="the reservation given back")
    sock.close()


@pytest.mark.timeout(60)
def test_a_call_that_reserves_when_behind_reserves_only_while_replies_are_queued(
    served: Callable[..., Any],
) -> None:
    """Rule: an inline call whose procedure ``reserves_when_behind`` (the brick's LOOKUP)
    reserves nothing while its connection has no reply in the out-queue, alone or in a
    pipelined batch of small replies (those wait only for the batch's end), and reserves its
    predicted reply while one is queued (here a 1 MiB reply that a client with a small window
    has not read)."""
    server, counting, address = served(workers=0)
    sock = raw_client(address)
    sock.sendall(b"".join(call(i, proc=WHEN_BEHIND, args=bytes(8)) for i in (1, 2, 3)))
    read_at_least(sock, 3 * (100 + 28))
    sock.sendall(call(4, proc=BIG) + call(5, proc=WHEN_BEHIND, args=bytes(8)))
    wait_for(lambda: len(counting.seen) == 4, what="the fourth call")
    assert counting.seen == [(False, 0)] * 3 + [(True, 8000)]
    read_at_least(sock, BIG_REPLY + 28 + 100 + 28)
    wait_for(lambda: server.replies.reserved == 0, what="the reservation given back")
    sock.close()


def read_at_least(sock: socket.socket, count: int) -> None:
    sock.settimeout(30)
    got = 0
    while got < count:
        chunk = sock.recv(1 << 20)
        assert chunk, f"closed after {got} of {count} bytes"
        got += len(chunk)


def client_from(host: str, address: tuple[str, int]) -> socket.socket:
    """A raw client with a small window, connecting from ``host`` (another peer machine)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    s.bind((host, 0))
    s.connect(address)
    return s


@pytest.mark.timeout(120)
def test_unread_replies_of_many_connections_stay_within_the_server_total(
    served: Callable[..., Any],
) -> None:
    """Rule: what all connections together have reserved for unread replies stays within
    max_reply_bytes, not max_unsent_bytes each: four clients that pipeline eight 1 MiB-reply
    calls and never read make at most 6 replies under a 6 MiB total (16 with 4 MiB each);
    a client on another machine is answered meanwhile, within its machine's share; when they
    go, every reservation is given back."""
    limits = ServerLimits(
        handshake_timeout=0,
        first_request_timeout=0,
        frame_timeout=0,
        finish_timeout=0,  # nobody is closed for stalling: this is about the bound
        max_unsent_bytes=4 * BIG_REPLY,
        max_reply_bytes=6 * BIG_REPLY,
    )
    server, counting, address = served(limit=64, limits=limits)
    deaf = [raw_client(address) for _ in range(4)]
    for sock in deaf:
        sock.sendall(b"".join(call(i, proc=SIZED) for i in range(8)))
    made = settled(lambda: counting.big)
    assert 1 <= made <= 6, f"{made} replies of 1 MiB made for clients that do not read"
    assert server.replies.reserved <= 6 * BIG_REPLY
    late = client_from("127.0.0.2", address)
    late.sendall(call(99, proc=SIZED))
    read_at_least(late, BIG_REPLY)
    for sock in deaf:
        sock.close()
    wait_for(lambda: server.replies.reserved == 0, what="every reservation given back")
    late.close()


@pytest.mark.timeout(120)
def test_peers_that_read_nothing_are_closed_when_others_wait_for_reply_memory(
    served: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Rule: while a request waits for max_reply_bytes, connections whose peers read none of
    their replies for finish_timeout are closed (logged) and give their share back, so a
    client on another machine is answered well before the send timeout. (The peers read
    eight replies first, and so count as peers that read, which may fill the total.)"""
    limits = ServerLimits(
        handshake_timeout=0,
        first_request_timeout=0,
        frame_timeout=0,
        finish_timeout=0.5,
        send_timeout=0,  # only the budget may close them
        max_unsent_bytes=6 * BIG_REPLY,
        max_reply_bytes=6 * BIG_REPLY,
    )
    caplog.set_level(logging.INFO, logger="gfrpc.transport")
    server, counting, address = served(limit=64, limits=limits)
    deaf = raw_client(address)
    deaf.sendall(b"".join(call(i, proc=SIZED) for i in range(16)))
    read_at_least(deaf, 8 * (BIG_REPLY + 28))  # then it stops reading
    wait_for(lambda: server.replies.reserved == 6 * BIG_REPLY, what="the total filled")
    assert "while others waited for reply memory" not in caplog.text  # nobody waits yet
    honest = client_from("127.0.0.2", address)
    honest.sendall(call(1, proc=SIZED))
    read_at_least(honest, BIG_REPLY)
    honest.sendall(call(2, proc=SIZED))  # it keeps being answered
    read_at_least(honest, BIG_REPLY)
    # (without the close it would wait for good: the send timeout is off)
    assert "while others waited for reply memory" in caplog.text
    deaf.close()
    honest.close()


@pytest.mark.timeout(60)
def test_first_request_rule_spares_ping_only_connections(served: Callable[..., Any]) -> None:
    """A connection that sends nothing is closed after first-request-timeout; one that only
    ever sends DUMP/PING (a volfile connection never SETVOLUMEs) stays open while idle."""
    limits = ServerLimits(handshake_timeout=0, first_request_timeout=0.5, frame_timeout=0)
    server, counting, address = served(limits=limits)
    pinger = socket.create_connection(address, timeout=20)
    silent = socket.create_connection(address, timeout=20)
    pinger.sendall(ping(7))
    assert pinger.recv(4096)
    silent.settimeout(20)
    assert silent.recv(4096) == b""  # closed by the server
    time.sleep(1.0)
    pinger.sendall(ping(8))
    assert pinger.recv(4096)
    pinger.close()
    silent.close()
