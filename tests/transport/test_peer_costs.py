"""What one peer may cost a server (gfrpc.transport.limits, endpoint, wire/record.py).

Every test runs on the three pollers. Servers here are bare transport listeners with a
``ConnectionGuard``; clients are raw sockets that misbehave on purpose.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
import time
import tracemalloc
import weakref
from collections.abc import Callable, Iterator

import pytest
from transport_support import Accepted, Recorder

from gfrpc import transport
from gfrpc.testing.waiting import wait_for
from gfrpc.transport import ConnectionGuard, IncompleteBudget, ServerLimits
from gfrpc.transport.budget import SPENT_READ, peer_host_key
from gfrpc.transport.pollers.base import Poller
from gfrpc.wire import record as wire_record
from gfrpc.wire.record import record_mark

NO_TIMEOUTS = dict(handshake_timeout=0.0, first_request_timeout=0.0, frame_timeout=0.0)


def closed_by_peer(sock: socket.socket, timeout: float = 20.0) -> bool:
    """True once the server closed ``sock`` (EOF or reset) within ``timeout``."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def still_open(sock: socket.socket) -> bool:
    """Whether the server has not closed ``sock`` (looked at without waiting)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.settimeout(timeout)


class Server:
    """A listener with a guard whose handlers echo ``ok`` per record."""

    def __init__(self, poller: Poller, limits: ServerLimits, tls: ssl.SSLContext | None = None):
        self.guard = ConnectionGuard(limits)
        self.accepted = Accepted(lambda: Recorder(reply=True))
        self.listener = transport.listen(
            "127.0.0.1:0", poller=poller, handler_factory=self.accepted, tls=tls, guard=self.guard
        )
        self.address = (self.listener.address.host, self.listener.address.port)

    def connect(self) -> socket.socket:
        return socket.create_connection(self.address, timeout=20)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def server_factory(poller: Poller) -> Iterator[Callable[..., Server]]:
    made: list[Server] = []

    def make(tls: ssl.SSLContext | None = None, **limits: float) -> Server:
        s = Server(poller, ServerLimits(**{**NO_TIMEOUTS, **limits}), tls)  # type: ignore[arg-type]
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def expect_ok(sock: socket.socket, tag: bytes, timeout: float = 20) -> None:
    """Read the echo server's reply to a record that began with ``tag`` (8 bytes)."""
    want = record_mark(10) + tag + b"ok"
    got = b""
    sock.settimeout(timeout)
    while len(got) < len(want):
        chunk = sock.recv(len(want) - len(got))
        assert chunk, "connection closed"
        got += chunk
    assert got == want


def roundtrip(sock: socket.socket, payload: bytes = b"12345678ping") -> None:
    sock.sendall(record_mark(len(payload)) + payload)
    expect_ok(sock, payload[:8])


@pytest.mark.timeout(120)
def test_idle_connection_heap_is_small(server_factory: Callable[..., Server]) -> None:
    """An idle connection (one request served, nothing buffered) costs at most 16 KiB of
    Python heap on the server side, client socket objects included."""
    server = server_factory()
    warm = server.connect()
    roundtrip(warm)
    n = 100
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        free_before = sum(len(b) for b in wire_record._free_reads)
        socks = []
        for _ in range(n):
            s = server.connect()
            roundtrip(s)
            socks.append(s)
        wait_for(lambda: len(server.accepted) == n + 1, what="all accepted")
        time.sleep(0.2)
        grown = tracemalloc.get_traced_memory()[0] - before
        grown -= sum(len(b) for b in wire_record._free_reads) - free_before  # shared buffers
    finally:
        tracemalloc.stop()
    per_conn = grown / n
    for s in socks:
        s.close()
    warm.close()
    assert per_conn <= 16 * 1024, f"{per_conn:.0f} bytes of heap per idle connection"


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.timeout(120)
def test_record_mark_announcing_1gib_costs_little(server_factory: Callable[..., Server]) -> None:
    """A record mark that announces ~1 GiB, followed by a few bytes, reserves no memory for
    the record: 40 such connections raise RSS by far less than 40 x 8 MiB, and the budget
    counts only the bytes that arrived."""
    server = server_factory()
    n = 40
    rss0 = rss_kib()
    socks = []
    for _ in range(n):
        s = server.connect()
        s.sendall(struct.pack(">I", 0x80000000 | ((1 << 30) - 1)) + b"x" * 1000)
        socks.append(s)
    wait_for(lambda: server.guard.budget.total == n * 1000, what="bytes counted")
    grown_mib = (rss_kib() - rss0) / 1024
    for s in socks:
        s.close()
    wait_for(lambda: server.guard.live == 0, what="connections gone")
    assert server.guard.budget.total == 0
    assert grown_mib < 24, f"RSS grew {grown_mib:.1f} MiB for {n} connections"


@pytest.mark.timeout(60)
def test_tls_handshake_timeout_closes(
    server_factory: Callable[..., Server],
    tls_pair: tuple[ssl.SSLContext, ssl.SSLContext],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A TLS connection that never starts its handshake is closed after handshake-timeout,
    with a logged reason."""
    caplog.set_level(logging.INFO, logger="gfrpc.transport")
    server = server_factory(tls=tls_pair[0], handshake_timeout=0.5)
    start = time.monotonic()
    sock = server.connect()
    assert closed_by_peer(sock)
    assert time.monotonic() - start >= 0.4
    wait_for(lambda: server.guard.live == 0, what="slot released")
    assert "TLS handshake not finished within 0.5 s" in caplog.text
    sock.close()


@pytest.mark.timeout(60)
def test_first_request_timeout_closes_silent_connection_only(
    server_factory: Callable[..., Server],
) -> None:
    """A connection that sends no complete request within first-request-timeout is closed;
    one that completed a request stays open however long it then idles."""
    server = server_factory(first_request_timeout=0.5)
    talker = server.connect()
    roundtrip(talker)
    silent = server.connect()
    assert closed_by_peer(silent)
    time.sleep(0.6)
    assert still_open(talker)
    roundtrip(talker)
    talker.close()
    silent.close()


@pytest.mark.timeout(60)
def test_stalled_partial_record_closes(
    server_factory: Callable[..., Server], caplog: pytest.LogCaptureFixture
) -> None:
    """Half a record that gets no new byte for frame-timeout closes its connection; a
    connection at a record boundary is not affected."""
    caplog.set_level(logging.INFO, logger="gfrpc.transport")
    server = server_factory(frame_timeout=0.5)
    good = server.connect()
    roundtrip(good)
    stalled = server.connect()
    roundtrip(stalled)
    stalled.sendall(record_mark(5000) + b"y" * 100)
    assert closed_by_peer(stalled)
    assert "made no progress for 0.5 s" in caplog.text
    assert still_open(good)
    roundtrip(good)
    good.close()
    stalled.close()


class BigReplies:
    """A handler that answers each record with its first 8 bytes and 1 MiB."""

    def __init__(self) -> None:
        self.lost = threading.Event()
        self.reason: Exception | None = None

    def connection_made(self, ep: object) -> None:
        pass

    def record_received(self, ep, record: memoryview) -> None:  # type: ignore[no-untyped-def]
        ep.submit(bytes(record[:8]), b"z" * (1 << 20))

    def connection_lost(self, ep: object, exc: Exception) -> None:
        self.reason = exc
        self.lost.set()


@pytest.mark.timeout(60)
def test_a_peer_that_reads_no_reply_is_closed_after_send_timeout(poller: Poller) -> None:
    """Replies the kernel takes none of for ``send_timeout`` close their connection (a peer
    that stops reading would hold them, up to ``max_unsent_bytes``, for good); a peer that
    reads slowly, but reads, is not closed."""
    accepted = Accepted(BigReplies)
    guard = ConnectionGuard(ServerLimits(**NO_TIMEOUTS, send_timeout=0.5))  # type: ignore[arg-type]
    listener = transport.listen("127.0.0.1:0", poller=poller, handler_factory=accepted, guard=guard)
    address = (listener.address.host, listener.address.port)
    try:
        deaf = socket.create_connection(address, timeout=20)
        deaf.sendall(b"".join(record_mark(8) + b"deaf%04d" % i for i in range(24)))
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        slow.settimeout(20)
        slow.connect(address)
        deaf_handler, slow_handler = accepted.get(0), accepted.get(1)
        # six replies, more than the kernel's buffers hold, read in 128 KiB steps 30 ms
        # apart: longer than send_timeout in all, but never 0.5 s without progress
        slow.sendall(b"".join(record_mark(8) + b"slow%04d" % i for i in range(6)))
        want, got = 6 * (len(record_mark(0)) + 8 + (1 << 20)), 0
        while got < want:
            chunk = slow.recv(min(128 << 10, want - got))
            assert chunk, "the slow reader was closed"
            got += len(chunk)
            time.sleep(0.03)
        assert deaf_handler.lost.wait(20), "the deaf peer was never closed"
        assert "read none of our replies for 0.5 s" in str(deaf_handler.reason)
        assert not slow_handler.lost.is_set()
        slow.close()
        deaf.close()
    finally:
        listener.close()


@pytest.mark.timeout(60)
def test_max_connections_refuses_and_others_keep_working(
    server_factory: Callable[..., Server], caplog: pytest.LogCaptureFixture
) -> None:
    """Beyond max-connections a new connection is accepted and closed at once with a logged
    reason; the admitted ones keep working, and a freed slot admits a new one."""
    caplog.set_level(logging.WARNING, logger="gfrpc.transport")
    server = server_factory(max_connections=3)
    admitted = [server.connect() for _ in range(3)]
    for s in admitted:
        roundtrip(s)
    try:
        extra = server.connect()
    except ConnectionResetError:
        pass  # refused so fast that connect() saw the reset
    else:
        assert closed_by_peer(extra)
        extra.close()
    wait_for(lambda: server.guard.refused == 1, what="refusal counted")
    assert "max-connections 3" in caplog.text
    for s in admitted:
        roundtrip(s)
    admitted.pop().close()
    wait_for(lambda: server.guard.live == 2, what="slot released")
    again = server.connect()
    roundtrip(again)
    for s in [*admitted, again]:
        s.close()


@pytest.mark.timeout(90)
def test_memory_cap_pauses_biggest_offender(server_factory: Callable[..., Server]) -> None:
    """Over max-incomplete-bytes the connection holding the most of an incomplete record
    stops being read (its sends block), while a client whose requests arrive whole is
    still served; the total held stays near the cap. The paused hog still makes no
    progress, so the frame timeout closes it and its memory is released."""
    cap = 2 << 20
    server = server_factory(max_incomplete_bytes=cap, frame_timeout=5.0)
    good = server.connect()
    roundtrip(good)
    hog = server.connect()
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    hog.sendall(record_mark(64 << 20))
    hog.setblocking(False)
    chunk = b"z" * 65536
    sent, blocked_since = 0, None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            sent += hog.send(chunk)
            blocked_since = None
        except BlockingIOError:
            blocked_since = blocked_since or time.monotonic()
            if time.monotonic() - blocked_since > 1.0:
                break
            time.sleep(0.01)
    assert blocked_since is not None, "the hog was never stopped"
    assert server.guard.budget.paused >= 1
    assert server.guard.budget.total <= cap + (4 << 20)  # one read may overshoot
    assert sent < 32 << 20
    for _ in range(5):
        roundtrip(good)
    wait_for(lambda: server.guard.budget.total == 0, what="budget released")
    assert closed_by_peer(hog)
    roundtrip(good)
    hog.close()
    good.close()


class FakeHolder:
    def __init__(self, name: str, host: str = "192.0.2.1") -> None:
        self.name = name
        self.host = host
        self.born = time.monotonic()
        self.paused = False
        self.held_back = False

    def pause_for_memory(self) -> None:
        self.paused = True

    def resume_for_memory(self) -> None:
        self.paused = False

    def input_held_back(self) -> bool:
        return self.held_back

    def peer_text(self) -> str:
        return self.name

    def peer_host(self) -> str:
        return self.host

    def close_for_memory(self, reason: str) -> None:
        self.closed_for = reason


def test_budget_pauses_growers_then_resumes_at_low_water() -> None:
    """IncompleteBudget: over the limit an endpoint that grows stops when the rest of its
    record is unknown (or does not fit the finishers' slack); holders that do not grow keep
    reading; at 3/4 of the limit everyone reads again."""
    budget = IncompleteBudget(1000)
    a, b, c = FakeHolder("a"), FakeHolder("b"), FakeHolder("c")
    budget.charge(a, 600)  # type: ignore[arg-type]
    budget.charge(b, 300)  # type: ignore[arg-type]
    assert not (a.paused or b.paused)
    budget.charge(c, 200, 300)  # type: ignore[arg-type]  # its rest (300) exceeds the slack (250)
    assert c.paused and not a.paused and not b.paused and budget.paused == 1
    assert budget.finishing == 0
    budget.charge(a, 0)  # type: ignore[arg-type]  # a's connection went away
    assert budget.total == 500 and not c.paused and budget.paused == 0


def test_budget_finishers_complete_every_record() -> None:
    """Over the limit, growers whose records' rests fit the slack (a quarter of the limit)
    read on as finishers and other growers stop; when a finisher completes, the paused
    holders take its place in turn; every record completes, and the finishers never need
    more than the slack. (Before finishers, every holder ended paused
    and none completed: the deadlock of 1,000 TLS streams, Performance notes 70.)"""
    budget = IncompleteBudget(1000)
    holders = [FakeHolder(f"h{i}") for i in range(10)]
    state = {h: (150, 100 + i) for i, h in enumerate(holders)}  # held, what the record needs
    for h in holders:
        budget.charge(h, *state[h])  # type: ignore[arg-type]
    assert budget.total == 1500
    assert set(budget._finishing) == set(holders[6:8])  # 106 + 107 fit 250; 108 does not
    assert [h.name for h in holders if h.paused] == ["h8", "h9"]
    done: list[FakeHolder] = []
    for _ in range(100):  # a holder that reads gets half its rest, then (unless paused) all
        reading = [h for h in holders if h not in done and not h.paused]
        if not reading:
            break
        h = reading[0]
        held, rest = state[h]
        state[h] = (held + rest // 2, rest - rest // 2)
        budget.charge(h, *state[h])  # type: ignore[arg-type]
        assert budget._reserved <= budget.finish_slack
        if not h.paused:
            budget.charge(h, 0)  # type: ignore[arg-type]  # its record is whole
            done.append(h)
    assert sorted(done, key=holders.index) == holders, "a record never completed"
    assert budget.total == 0 and budget.paused == 0 and budget.finishing == 0


def test_budget_lets_in_in_the_order_paused_when_a_place_frees() -> None:
    """When a finisher completes, the paused holders are let in in the order they were
    paused while the slack lasts, and are resumed; a holder that would fit waits behind one
    paused before it that does not (before notes 77 the nearest to whole went first, and a
    record begun while others waited came last every time)."""
    budget = IncompleteBudget(1000)
    big, first, near, finisher = (FakeHolder(n) for n in ("big", "first", "near", "finisher"))
    budget.charge(big, 1000)  # type: ignore[arg-type]  # the limit, exactly
    budget.charge(finisher, 150, 200)  # type: ignore[arg-type]
    assert budget.finishing == 1
    budget.charge(first, 10, 200)  # type: ignore[arg-type]
    budget.charge(near, 10, 40)  # type: ignore[arg-type]
    assert first.paused and near.paused  # near would fit (40 <= 50), but first came first
    budget.charge(finisher, 0)  # type: ignore[arg-type]  # its record is whole: room 250
    assert not first.paused and not near.paused and budget.finishing == 2


def test_budget_review_replaces_a_held_back_finisher() -> None:
    """A finisher whose input is held back for another reason (replies unsent, handler
    pause) gives up its place at the next review, to a paused holder."""
    budget = IncompleteBudget(1000)
    big, stuck, waiting = FakeHolder("big"), FakeHolder("stuck"), FakeHolder("waiting")
    budget.charge(big, 900)  # type: ignore[arg-type]
    budget.charge(stuck, 150, 200)  # type: ignore[arg-type]
    budget.charge(waiting, 150, 200)  # type: ignore[arg-type]
    assert not stuck.paused and waiting.paused
    budget.review()
    assert waiting.paused  # nothing changed
    stuck.held_back = True
    budget.review()
    assert not waiting.paused and budget.finishing == 1


def test_budget_puts_a_late_finisher_behind_the_others() -> None:
    """While holders wait, a finisher whose record took longer than ``finish_timeout`` is
    paused at the next review and its place goes to a waiting holder; when places are given
    out again, such a laggard comes after every other holder, even ones further from whole,
    and it is admitted again once nobody else waits."""
    budget = IncompleteBudget(1000, finish_timeout=5.0)
    big, late, waiting, far = (FakeHolder(n) for n in ("big", "late", "waiting", "far"))
    budget.charge(big, 900)  # type: ignore[arg-type]
    budget.charge(late, 150, 100)  # type: ignore[arg-type]
    budget.charge(waiting, 150, 200)  # type: ignore[arg-type]
    assert not late.paused and waiting.paused
    now = time.monotonic()
    budget.review(now + 1.0)
    assert not late.paused and waiting.paused  # not late yet
    budget.review(now + 6.0)
    assert late.paused and not waiting.paused and set(budget._finishing) == {waiting}
    budget.charge(far, 10, 240)  # type: ignore[arg-type]  # grows while no place is free
    assert far.paused
    budget.charge(waiting, 0)  # type: ignore[arg-type]  # its record is whole: a place frees
    assert not far.paused and late.paused  # 240 before the laggard's 100
    budget.charge(far, 0)  # type: ignore[arg-type]
    assert not late.paused and set(budget._finishing) == {late}


def test_budget_pauses_again_a_paused_holder_that_read() -> None:
    """A holder the budget counts as paused that grew anyway (a resume that arrived after it
    was paused again) is paused again at once, not left reading."""
    budget = IncompleteBudget(1000)
    big, c = FakeHolder("big"), FakeHolder("c")
    budget.charge(big, 900)  # type: ignore[arg-type]
    budget.charge(c, 200, 300)  # type: ignore[arg-type]
    assert c.paused
    c.resume_for_memory()  # late
    budget.charge(c, 250, 250)  # type: ignore[arg-type]
    assert c.paused and budget.paused == 1


def test_budget_bounds_what_finishers_read_beyond_the_limit() -> None:
    """Over the limit, what finishers read counts against the slack until they give it back
    (complete the record, or go away): a holder that reads all but the last byte of its
    record and stalls there keeps its place taken. (Before, only what a finisher's record
    still needed was counted, so each staller's place came free as it read, and one peer
    made a 256 MiB brick hold 6.6 GB: docs/ARCHITECTURE.md, Performance notes 77.)"""
    budget = IncompleteBudget(1000)
    big = FakeHolder("big")
    budget.charge(big, 1000)  # type: ignore[arg-type]  # the limit, exactly
    stallers = [FakeHolder(f"s{i}") for i in range(10)]
    for s in stallers:
        budget.charge(s, 10, 200)  # type: ignore[arg-type]  # a first small read
        if not s.paused:
            budget.charge(s, 209, 1)  # type: ignore[arg-type]  # all but one byte, then stalls
        budget.review()
    assert sum(not s.paused for s in stallers) == 1
    assert budget.gained <= budget.finish_slack
    assert budget.total <= budget.limit + budget.finish_slack + 10 * 10  # (10: a first read)


def test_budget_read_size_is_small_for_all_but_finishers_while_spent() -> None:
    """While the total is over the limit, a connection that is not a finisher reads at most
    ``SPENT_READ`` at once (so a new record's rest is known, and it is paused or let in,
    before it costs more), and a finisher what its record still needs and ``SPENT_READ``
    more (what it reads of its next record is small too); while the budget is not spent,
    everyone reads all they asked for."""
    budget = IncompleteBudget(1000)
    big, f, other = FakeHolder("big"), FakeHolder("f"), FakeHolder("other")
    assert budget.read_size(other, 1 << 20) == 1 << 20
    budget.charge(big, 900)  # type: ignore[arg-type]
    budget.charge(f, 150, 200)  # type: ignore[arg-type]
    assert budget.spent and not f.paused
    assert budget.read_size(other, 1 << 20) == SPENT_READ
    assert budget.read_size(f, 1 << 20) == 200 + SPENT_READ
    budget.charge(big, 0)  # type: ignore[arg-type]
    assert not budget.spent
    assert budget.read_size(other, 1 << 20) == 1 << 20


def test_budget_gives_the_next_place_to_the_peer_that_holds_least() -> None:
    """When a place comes free, the peer host that holds least goes first: one host's many
    records nearer to whole do not keep another host's record waiting (before, the nearest
    to whole went first, whoever sent it)."""
    budget = IncompleteBudget(1000)
    big, f = FakeHolder("big", "198.51.100.7"), FakeHolder("f", "198.51.100.7")
    many = [FakeHolder(f"a{i}", "198.51.100.7") for i in range(3)]
    other = FakeHolder("b", "203.0.113.9")
    budget.charge(big, 1000)  # type: ignore[arg-type]  # the limit, exactly
    budget.charge(f, 10, 250)  # type: ignore[arg-type]  # takes the whole slack
    for a in many:
        budget.charge(a, 10, 50)  # type: ignore[arg-type]
    budget.charge(other, 10, 120)  # type: ignore[arg-type]
    assert all(a.paused for a in many) and other.paused
    budget.charge(f, 0)  # type: ignore[arg-type]  # its record is whole
    assert not other.paused
    assert [a.paused for a in many] == [False, False, True]  # 120 + 50 + 50; 50 > 30 left


def test_budget_lets_in_connections_open_for_finish_timeout_first() -> None:
    """Holders of connections that had been open for ``finish_timeout`` when they were
    paused go before those of younger connections, in the order paused: a peer that opens
    connections to stall records in them pauses young ones, behind a client's own."""
    budget = IncompleteBudget(1000, finish_timeout=5.0)
    big, f, young, settled = (FakeHolder(n) for n in ("big", "f", "young", "settled"))
    settled.born = young.born - 100.0  # connected long before
    budget.charge(big, 1000)  # type: ignore[arg-type]  # the limit, exactly
    budget.charge(f, 10, 240)  # type: ignore[arg-type]
    budget.charge(young, 10, 30)  # type: ignore[arg-type]  # paused first, just connected
    budget.charge(settled, 10, 230)  # type: ignore[arg-type]
    assert young.paused and settled.paused
    budget.charge(f, 0)  # type: ignore[arg-type]  # its record is whole: room 250
    assert not settled.paused and young.paused  # 230, then 30 > 20 left


def test_budget_closes_a_stalled_laggard_when_its_memory_is_needed() -> None:
    """A finisher that stalled until it became a laggard keeps what it read counted; when
    the holder whose turn it is does not fit, the laggard is closed (``close_for_memory``),
    and once it is gone the holder is let in."""
    budget = IncompleteBudget(1000, finish_timeout=5.0)
    big, staller = FakeHolder("big", "198.51.100.7"), FakeHolder("staller", "198.51.100.7")
    waiting = FakeHolder("waiting", "203.0.113.9")
    budget.charge(big, 1000)  # type: ignore[arg-type]  # the limit, exactly
    budget.charge(staller, 10, 200)  # type: ignore[arg-type]
    budget.charge(staller, 209, 1)  # type: ignore[arg-type]  # all but one byte
    budget.charge(waiting, 10, 200)  # type: ignore[arg-type]
    assert waiting.paused and not staller.paused
    now = time.monotonic()
    budget.review(now + 1.0)
    assert not hasattr(staller, "closed_for")  # still within its time
    budget.review(now + 6.0)
    assert staller.paused and "stalled" in staller.closed_for  # type: ignore[attr-defined]
    assert waiting.paused  # not until the staller's memory is back
    budget.charge(staller, 0)  # type: ignore[arg-type]  # its connection closed
    assert not waiting.paused and set(budget._finishing) == {waiting}


def test_peer_host_key_groups_a_machine() -> None:
    """The budget's unit of fairness: an IPv4 address; an IPv6 address's /64 (an IPv4
    address mapped into IPv6 counts as that address); all UNIX peers together."""
    key = peer_host_key
    assert key(socket.AF_INET, "192.0.2.1") == "192.0.2.1"
    assert key(socket.AF_INET6, "2001:db8:1:2::5") == key(socket.AF_INET6, "2001:db8:1:2:ff::9")
    assert key(socket.AF_INET6, "2001:db8:1:2::5") != key(socket.AF_INET6, "2001:db8:1:3::5")
    assert key(socket.AF_INET6, "::ffff:192.0.2.1") == "192.0.2.1"
    assert key(socket.AF_INET6, "fe80::1%lo") == key(socket.AF_INET6, "fe80::2")
    assert key(socket.AF_UNIX, "") == key(socket.AF_UNIX, "")


@pytest.mark.timeout(120)
def test_near_whole_stalled_records_cost_no_more_than_the_slack(
    server_factory: Callable[..., Server],
) -> None:
    """Peers that send all but the last byte of records and stall there cannot make the
    server hold more than the limit, the slack and a small read each (``SPENT_READ``): they
    take the finishers' places one slack's worth at a time, and once they are laggards and
    an honest record needs the room, they are closed; the honest record is answered."""
    cap = 4 << 20  # the finishers' slack: 1 MiB
    server = server_factory(max_incomplete_bytes=cap, finish_timeout=0.5)
    budget = server.guard.budget
    fillers = [server.connect() for _ in range(5)]
    for f in fillers:
        f.sendall(record_mark(1 << 20) + b"f" * (900 << 10))
    wait_for(lambda: budget.total >= 5 * (900 << 10), what="the budget filled", timeout=20)
    size = 768 << 10
    stallers = [server.connect() for _ in range(8)]
    most = 0
    for s in stallers:
        s.settimeout(0.2)
        try:
            s.sendall(record_mark(size) + b"s" * (size - 1))  # all but the last byte
        except TimeoutError:
            pass  # it was paused: the rest waits in the kernel
        most = max(most, budget.total)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        most = max(most, budget.total)
        time.sleep(0.01)
    # before the fix: 5 x 900 KiB + 8 x 768 KiB = 10.5 MiB; now one staller at a time
    assert most <= cap + budget.finish_slack + (1 << 20), most
    honest = server.connect()
    payload = record_mark(1 << 20) + b"honest01" + b"x" * ((1 << 20) - 8)
    sender = threading.Thread(target=honest.sendall, args=(payload,))
    sender.start()
    expect_ok(honest, b"honest01", timeout=30)
    sender.join(10)
    assert sum(closed_by_peer(s, timeout=0.1) for s in stallers) >= 1
    for s in [honest, *fillers, *stallers]:
        s.close()


@pytest.mark.timeout(120)
def test_stalled_finishers_do_not_keep_an_honest_record_waiting(
    server_factory: Callable[..., Server],
) -> None:
    """Peers that fill the memory budget with records they never finish, and hold the
    finishers' places with records they stall in, do not keep an honest 1 MiB record from
    being read: each stalled finisher gives up its place after ``finish_timeout``, and the
    honest record is answered (with the frame timeout off, nothing else would free them).
    A client whose requests arrive whole is served throughout."""
    cap = 4 << 20  # the finishers' slack: 1 MiB
    server = server_factory(max_incomplete_bytes=cap, finish_timeout=0.5)
    budget = server.guard.budget
    good = server.connect()
    roundtrip(good)
    fillers = [server.connect() for _ in range(5)]
    for f in fillers:
        f.sendall(record_mark(1 << 20) + b"f" * (900 << 10))
    wait_for(lambda: budget.total >= 5 * (900 << 10), what="the budget filled", timeout=20)
    hogs = [server.connect() for _ in range(3)]
    for h in hogs:
        h.sendall(record_mark(300 << 10) + b"h" * 8)
    wait_for(lambda: budget.total >= 5 * (900 << 10) + 3 * 8, what="hogs held", timeout=20)
    roundtrip(good)
    honest = server.connect()
    size = 1 << 20
    sender = threading.Thread(
        target=honest.sendall, args=(record_mark(size) + b"honest01" + b"x" * (size - 8),)
    )
    sender.start()
    expect_ok(honest, b"honest01", timeout=30)
    sender.join(10)
    roundtrip(good)
    for s in [good, honest, *fillers, *hogs]:
        s.close()


@pytest.mark.timeout(120)
def test_memory_cap_lets_many_partial_records_finish(
    server_factory: Callable[..., Server],
    tls: tuple[ssl.SSLContext | None, ssl.SSLContext | None],
) -> None:
    """Twelve honest clients each send most of a 1 MiB record, together well over the
    budget, then the rest: every record is answered. Finishers (records whose rests fit a
    quarter of the budget) complete while the others wait, and the total stays bounded."""
    cap = 4 << 20
    server_ctx, client_ctx = tls
    server = server_factory(tls=server_ctx, max_incomplete_bytes=cap)
    size, first = 1 << 20, 700 << 10
    payload = b"x" * size  # each client puts its own 8-byte tag first
    clients = [server.connect() for _ in range(12)]
    if client_ctx is not None:
        clients = [client_ctx.wrap_socket(c) for c in clients]
    for i, c in enumerate(clients):
        c.sendall(record_mark(size) + b"bigrec%02d" % i + payload[8:first])
    wait_for(lambda: server.guard.budget.paused >= 1, what="a holder paused", timeout=20)
    assert server.guard.budget.total <= cap + 12 * first

    errors: list[BaseException] = []

    def finish(i: int, c: socket.socket) -> None:
        try:
            c.sendall(payload[first:])
            expect_ok(c, b"bigrec%02d" % i, timeout=30)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=finish, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[0]
    assert not any(t.is_alive() for t in threads)
    wait_for(lambda: server.guard.budget.total == 0, what="budget released")
    assert server.guard.budget.paused == 0 and server.guard.budget.finishing == 0
    for c in clients:
        roundtrip(c)
        c.close()


def test_memory_goes_back_after_half_of_a_big_peak_closed(monkeypatch) -> None:
    """Rule (limits.py, "Memory back to the system"): once a server that had ``TRIM_FROM``
    connections or more is down to half of its peak, freed memory is given back, and the
    peak starts again from there, at each halving down to ``TRIM_DOWN_TO``; a smaller
    server never asks."""
    from gfrpc.transport import limits

    calls: list[int] = []
    monkeypatch.setattr(limits, "release_freed_memory_soon", lambda: calls.append(guard.live))
    guard = ConnectionGuard(ServerLimits(**NO_TIMEOUTS))  # type: ignore[arg-type]
    peak = limits.TRIM_FROM * 2
    for _ in range(peak):
        assert guard.try_admit()
    for _ in range(peak):
        guard.detach(None)
    halvings = [peak >> k for k in range(1, 10) if peak >> k >= limits.TRIM_DOWN_TO]
    assert halvings[-1] == limits.TRIM_DOWN_TO
    assert calls == halvings  # 256, 128, ... 16; then none
    small = ConnectionGuard(ServerLimits(**NO_TIMEOUTS))  # type: ignore[arg-type]
    for _ in range(limits.TRIM_FROM - 1):
        small.try_admit()
    for _ in range(limits.TRIM_FROM - 1):
        small.detach(None)
    assert calls == halvings


def test_release_freed_memory_runs_here() -> None:
    """glibc's ``malloc_trim`` is found and called on this machine (Linux with glibc)."""
    from gfrpc.transport import limits

    assert limits.release_freed_memory() is True


def test_memory_is_released_off_the_calling_thread(monkeypatch) -> None:
    """Rule: ``malloc_trim`` runs on a thread of its own, never on the (poller) thread that
    saw the connection go."""
    from gfrpc.transport import limits

    ran = threading.Event()
    where: list[str] = []

    def fake() -> bool:
        where.append(threading.current_thread().name)
        ran.set()
        return True

    monkeypatch.setattr(limits, "release_freed_memory", fake)
    limits.release_freed_memory_soon()
    assert ran.wait(10)
    assert where == ["gfrpc-release"]


def test_the_watchdog_keeps_no_endpoint_between_its_rounds() -> None:
    """Rule (limits.py, "Memory back to the system"): between two rounds the watchdog holds
    no reference to an endpoint it no longer watches, so a closed connection is freed at once,
    not an interval later (after the release of a mass disconnect had run)."""
    from gfrpc.transport.limits import Watchdog

    class Gate:
        """The watchdog's wake-up event, held shut between rounds by the test."""

        def __init__(self) -> None:
            self.between = threading.Event()
            self.go = threading.Event()

        def wait(self, timeout: float) -> bool:
            self.between.set()
            self.go.wait()
            self.go.clear()
            return True

        def set(self) -> None:
            pass

        def clear(self) -> None:
            pass

    class Watched:
        def __init__(self) -> None:
            self.checks = 0

        def check_deadlines(self, now: float) -> None:
            self.checks += 1

    dog = Watchdog()
    gate = Gate()
    dog._wake = gate  # type: ignore[assignment]
    ep = Watched()
    dog.watch(ep, 5.0)  # type: ignore[arg-type]
    assert gate.between.wait(10)  # before the first round
    gate.between.clear()
    gate.go.set()
    assert gate.between.wait(10)  # after it
    assert ep.checks == 1
    dog.unwatch(ep)  # type: ignore[arg-type]
    ref = weakref.ref(ep)
    del ep
    assert ref() is None, "the watchdog still holds an endpoint it no longer watches"
