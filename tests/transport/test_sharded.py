"""The ``sharded`` poller's own rules (the transport conformance suite runs over it with the
other pollers: ``sharded`` is in ``POLLER_NAMES``).

The ``poller`` fixture below overrides the session's (parametrized by ``POLLER_NAMES``) for
this module only: every test here runs over a :class:`ShardedPoller`.

The sharded-only tests look at the kernel's view where they can: ``/proc/self/fdinfo`` of an
epoll fd lists the fds it watches and the mask of each.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import threading
from collections.abc import Iterator

import pytest
from transport_support import Accepted, BatonRecorder, Recorder, huge, one_by_one, open_fds

from gfrpc.testing.waiting import wait_for
from gfrpc.transport import Endpoint, connect, listen, make_poller
from gfrpc.transport.baton import BATON, BIG, QUIET_HANDLINGS
from gfrpc.transport.pollers.sharded import ShardedPoller
from gfrpc.wire.record import record_mark

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def poller() -> Iterator[ShardedPoller]:
    """A started sharded poller with two shards (the conformance suite's event-threads)."""
    p = ShardedPoller(event_threads=2)
    p.start()
    yield p
    p.stop()


@pytest.fixture
def poller4() -> Iterator[ShardedPoller]:
    """A started sharded poller with four shards."""
    p = ShardedPoller(event_threads=4)
    p.start()
    yield p
    p.stop()


# -- helpers ---------------------------------------------------------------------------------


def watched_masks() -> dict[int, int]:
    """{fd: epoll mask} over every epoll fd of this process, from /proc/self/fdinfo."""
    found: dict[int, int] = {}
    for name in os.listdir("/proc/self/fdinfo"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") != "anon_inode:[eventpoll]":
                continue
            with open(f"/proc/self/fdinfo/{name}") as f:
                text = f.read()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("tfd:"):
                words = line.split()
                found[int(words[1])] = int(words[3], 16)
    return found


def shard_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("gfrpc-shard-")]


class FakePollable:
    """A pollable over one end of a socketpair that records how it is driven.

    ``handle_events`` notes its thread and flags any overlap; it answers ``alive`` and may
    block on ``gate`` (to hold a handling open while other threads kick).
    """

    def __init__(self, poller: ShardedPoller | None = None) -> None:
        self.poller = poller
        self.sock, self.peer = socket.socketpair()
        self.sock.setblocking(False)
        self.alive = True
        self.want = (False, False)
        self.calls: list[tuple[bool, bool, bool]] = []
        self.threads: set[str] = set()
        self.inside = 0
        self.overlapped = False
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self.handled = threading.Condition()
        self.finalized: list[str] = []
        self.finalized_event = threading.Event()
        self.watched_at_finalize: bool | None = None

    def fileno(self) -> int:
        return self.sock.fileno()

    def interest(self) -> tuple[bool, bool]:
        return self.want

    def handle_events(self, readable: bool, writable: bool, error: bool) -> bool:
        self.inside += 1
        if self.inside > 1:
            self.overlapped = True
        self.threads.add(threading.current_thread().name)
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(20)
        if readable:
            try:
                self.sock.recv(65536)
            except BlockingIOError:
                pass
        self.inside -= 1
        with self.handled:
            self.calls.append((readable, writable, error))
            self.handled.notify_all()
        return self.alive

    def wait_calls(self, n: int, timeout: float = 20.0) -> None:
        with self.handled:
            assert self.handled.wait_for(lambda: len(self.calls) >= n, timeout), self.calls

    def finalize(self) -> None:
        self.finalized.append(threading.current_thread().name)
        self.watched_at_finalize = self.sock.fileno() in watched_masks()
        self.sock.close()
        self.peer.close()
        self.finalized_event.set()

    def abort(self, reason: Exception) -> None:
        """As an endpoint does: ask to finish, and kick."""
        self.alive = False
        if self.poller is not None:
            self.poller.kick(self)


# -- the poller's own rules ------------------------------------------------------------------


def test_name_threads_and_bad_arguments() -> None:
    """It is called ``sharded``, refuses fewer than one thread, runs one thread per shard, and
    refuses pollables once stopped."""
    with pytest.raises(ValueError):
        ShardedPoller(event_threads=0)
    before = len(shard_threads())
    p = ShardedPoller(event_threads=3)
    assert p.name == "sharded"
    p.start()
    p.start()  # idempotent
    assert len(shard_threads()) == before + 3
    p.stop()
    assert len(shard_threads()) == before
    with pytest.raises(RuntimeError):
        p.register(FakePollable())


def test_kick_from_another_thread_runs_one_handling_on_the_shard(poller4: ShardedPoller) -> None:
    """A kick from outside wakes the pollable's shard, which runs handle_events(False, False,
    False) on that shard's thread (the one of its first handling)."""
    fp = FakePollable(poller4)
    poller4.register(fp)
    fp.wait_calls(1)
    assert fp.calls == [(False, False, False)]
    for n in range(2, 6):
        poller4.kick(fp)
        fp.wait_calls(n)
    assert fp.calls == [(False, False, False)] * 5
    assert len(fp.threads) == 1 and next(iter(fp.threads)).startswith("gfrpc-shard-")
    fp.alive = False
    poller4.kick(fp)
    assert fp.finalized_event.wait(10)


def test_kicks_during_a_handling_coalesce_and_never_overlap(poller4: ShardedPoller) -> None:
    """1,000 kicks from 4 threads while the pollable is being handled neither run a second
    handling at the same time nor queue 1,000 handlings: they collapse into one more."""
    fp = FakePollable(poller4)
    poller4.register(fp)
    fp.wait_calls(1)
    fp.gate = threading.Event()
    fp.entered.clear()
    poller4.kick(fp)
    assert fp.entered.wait(10)  # the shard is inside handle_events, held by the gate

    def kicker() -> None:
        for _ in range(250):
            poller4.kick(fp)

    kickers = [threading.Thread(target=kicker) for _ in range(4)]
    for t in kickers:
        t.start()
    for t in kickers:
        t.join()
    fp.gate.set()
    fp.wait_calls(3)
    # a marker kick: once it is handled, every earlier kick has been handled too
    fp.gate = None
    poller4.kick(fp)
    fp.wait_calls(4)
    assert not fp.overlapped
    assert len(fp.calls) <= 5, len(fp.calls)
    assert len(fp.threads) == 1


def test_finalize_runs_once_on_the_shard_after_the_fd_is_unwatched(
    poller4: ShardedPoller,
) -> None:
    """When handle_events answers False the shard stops watching the fd (the kernel's epoll
    no longer lists it) and then calls finalize() once, on the same thread."""
    fp = FakePollable(poller4)
    fp.want = (True, False)
    poller4.register(fp)
    fd = fp.fileno()
    wait_for(lambda: watched_masks().get(fd, 0) & select.EPOLLIN, 10, "the fd watched for input")
    fp.alive = False
    fp.peer.send(b"x")  # an event, not a kick, ends it
    assert fp.finalized_event.wait(10)
    assert fp.finalized == list(fp.threads)
    assert fp.watched_at_finalize is False
    poller4.kick(fp)  # a late kick is a no-op
    assert poller4.pollable_count() == 0
    assert fp.finalized == list(fp.threads)


def test_a_failing_handler_closes_only_its_pollable(poller: ShardedPoller, caplog) -> None:
    """An exception out of handle_events is logged and finalizes that pollable; the shard
    goes on serving the others."""

    class Broken(FakePollable):
        def handle_events(self, readable: bool, writable: bool, error: bool) -> bool:
            raise RuntimeError("bug")

    broken, fine = Broken(poller), FakePollable(poller)
    poller.register(fine)
    poller.register(broken)
    assert broken.finalized_event.wait(10)
    fine.wait_calls(1)
    poller.kick(fine)
    fine.wait_calls(2)
    assert "handler failed" in caplog.text


def test_an_fd_epoll_refuses_is_finalized_and_the_shard_goes_on(
    poller: ShardedPoller, tmp_path, caplog
) -> None:
    """A pollable whose fd epoll cannot watch (a regular file: EPERM) is finalized, with a
    warning, without ever being handled; its shard keeps serving the others."""

    class OnAFile(FakePollable):
        def __init__(self, poller: ShardedPoller) -> None:
            super().__init__(poller)
            self.file = open(tmp_path / "f", "wb")  # noqa: SIM115 - closed in finalize

        def fileno(self) -> int:
            return self.file.fileno()

        def finalize(self) -> None:
            super().finalize()
            self.file.close()

    bad = OnAFile(poller)
    fine = [FakePollable(poller) for _ in range(2)]  # one of them shares bad's shard
    poller.register(bad)
    for fp in fine:
        poller.register(fp)
    assert bad.finalized_event.wait(10)
    assert bad.calls == []
    assert "cannot watch fd" in caplog.text
    for fp in fine:
        fp.wait_calls(1)
        poller.kick(fp)
        fp.wait_calls(2)
    assert poller.pollable_count() == 2


def test_least_loaded_shard_gets_the_next_pollable(poller4: ShardedPoller) -> None:
    """Pollables go to the shard watching the fewest; a shard emptied by a close gets the
    next one."""
    fakes = [FakePollable(poller4) for _ in range(8)]
    for fp in fakes:
        poller4.register(fp)
    for fp in fakes:
        fp.wait_calls(1)
    assert poller4.shard_loads() == [2, 2, 2, 2]
    shard_of = {id(fp): next(iter(fp.threads)) for fp in fakes}
    assert len(set(shard_of.values())) == 4
    gone = [fp for fp in fakes if shard_of[id(fp)] == shard_of[id(fakes[1])]]
    for fp in gone:
        fp.alive = False
        poller4.kick(fp)
        assert fp.finalized_event.wait(10)
    assert sorted(poller4.shard_loads()) == [0, 2, 2, 2]
    late = FakePollable(poller4)
    poller4.register(late)
    late.wait_calls(1)
    assert late.threads == {shard_of[id(fakes[1])]}


def test_interest_changes_reach_the_kernel_mask(poller: ShardedPoller) -> None:
    """After each handling the shard applies the pollable's interest to its epoll
    registration: nothing, read (with RDHUP), write, both."""
    fp = FakePollable(poller)
    poller.register(fp)
    fd = fp.fileno()
    read = select.EPOLLIN | select.EPOLLRDHUP
    n = 1
    for want, mask in (
        ((False, False), 0),
        ((True, False), read),
        ((True, True), read | select.EPOLLOUT),
        ((False, False), 0),
    ):
        fp.want = want
        poller.kick(fp)
        fp.wait_calls(n)
        n += 1
        # applied right after the handling returns
        wait_for(
            lambda mask=mask: watched_masks()[fd] & (read | select.EPOLLOUT) == mask,
            10,
            f"mask {mask:#x}",
        )


@pytest.mark.timeout(120)
def test_200_connections_over_4_shards_keep_order_and_their_thread(
    poller4: ShardedPoller,
) -> None:
    """200 connections spread evenly over 4 shards; each server-side connection gets its
    records in order, always on one thread, and the four shards all serve some."""
    servers = Accepted(lambda: Recorder(reply=True))
    listener = listen("127.0.0.1:0", poller=poller4, handler_factory=servers)
    clients: list[tuple[Endpoint, Recorder]] = []
    for _ in range(200):
        r = Recorder()
        clients.append((connect(listener.address, poller=poller4, handler=r), r))
    wait_for(lambda: poller4.pollable_count() == 401, 20, "every connection accepted")
    loads = poller4.shard_loads()
    assert sum(loads) == 401 and max(loads) - min(loads) <= 1, loads
    for i in range(20):
        for ep, _ in clients:
            ep.submit(struct.pack(">II", i, 0))
    for _, r in clients:
        r.wait_records(20)
    used: set[str] = set()
    for k in range(200):
        s = servers.get(k)
        got = s.wait_records(20)
        assert [struct.unpack(">I", g[:4])[0] for g in got] == list(range(20))
        assert len(s.threads) == 1
        used |= s.threads
    assert len(used) == 4
    for ep, r in clients:
        ep.close()
        assert r.lost.wait(10)
    listener.close()


def test_pause_holds_records_and_unwatches_input_until_resume(poller: ShardedPoller) -> None:
    """A paused endpoint delivers nothing more, its fd is watched without EPOLLIN (no busy
    loop on level-triggered epoll), and resume delivers what waited, in order."""

    class Pausing(Recorder):
        def record_received(self, ep: Endpoint, record: memoryview) -> None:
            super().record_received(ep, record)
            if len(self.records) == 1:
                ep.pause_reading()

    servers = Accepted(Pausing)
    listener = listen("127.0.0.1:0", poller=poller, handler_factory=servers)
    raw = socket.create_connection(listener.address.sockaddr, timeout=10)
    raw.sendall(record_mark(4) + b"one!")
    server = servers.get(0)
    server.wait_records(1)
    ep = server.endpoint
    assert ep is not None and ep.stats().input_paused
    raw.sendall(record_mark(4) + b"two!" + record_mark(5) + b"three")
    # the mask is re-applied right after the handling that paused: it loses EPOLLIN
    fd = ep.fileno()
    wait_for(lambda: not watched_masks()[fd] & select.EPOLLIN, 10, "EPOLLIN dropped")
    assert server.records == [b"one!"]
    ep.resume_reading()
    assert server.wait_records(3) == [b"one!", b"two!", b"three"]
    raw.close()
    assert server.lost.wait(10)
    listener.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("use_tls", [False, True], ids=["plain", "tls"])
def test_close_under_load_cleans_up_every_connection(poller4: ShardedPoller, tls_pair, use_tls):
    """Closing connections while 4 threads keep submitting on them runs cleanup exactly
    once per connection on both sides and leaves only the listener watched."""
    server_ctx, client_ctx = tls_pair if use_tls else (None, None)
    servers = Accepted(lambda: Recorder(reply=True))
    listener = listen("127.0.0.1:0", poller=poller4, handler_factory=servers, tls=server_ctx)
    clients = []
    for _ in range(16):
        r = Recorder()
        clients.append((connect(listener.address, poller=poller4, handler=r, tls=client_ctx), r))
    stop = threading.Event()

    def pump(part: list[tuple[Endpoint, Recorder]]) -> None:
        while not stop.is_set():
            for ep, _ in part:
                try:
                    ep.submit(b"x" * 8, b"y" * 4000)
                except Exception:
                    pass

    pumps = [threading.Thread(target=pump, args=(clients[i::4],)) for i in range(4)]
    for t in pumps:
        t.start()
    for _, r in clients:
        r.wait_records(5)
    for k, (ep, _) in enumerate(clients):
        if k % 2:
            ep.close()
        else:
            endpoint = servers.get(k).endpoint
            assert endpoint is not None
            endpoint.close()
    stop.set()
    for t in pumps:
        t.join()
    for k, (_, r) in enumerate(clients):
        assert r.lost.wait(20) and servers.get(k).lost.wait(20)
    wait_for(lambda: poller4.pollable_count() == 1, 20, "only the listener watched")
    assert all(r.lost_count == 1 for _, r in clients)
    assert all(s.lost_count == 1 for s in servers)
    listener.close()


@pytest.mark.parametrize("use_tls", [False, True], ids=["plain", "tls"])
def test_stop_with_live_connections_finalizes_all_and_joins(tls_pair, use_tls) -> None:
    """stop() with open connections on every shard runs connection_lost once per connection,
    joins every shard thread and closes every fd the poller opened."""
    server_ctx, client_ctx = tls_pair if use_tls else (None, None)
    fds, threads = open_fds(), len(shard_threads())
    p = ShardedPoller(event_threads=4)
    servers = Accepted(lambda: Recorder(reply=True))
    listener = listen("127.0.0.1:0", poller=p, handler_factory=servers, tls=server_ctx)
    clients = []
    for _ in range(12):
        r = Recorder()
        ep = connect(listener.address, poller=p, handler=r, tls=client_ctx)
        ep.submit(b"12345678", b"hello")
        clients.append(r)
    for r in clients:
        r.wait_records(1)
    assert min(p.shard_loads()) >= 6
    p.stop()
    assert len(shard_threads()) == threads
    assert p.pollable_count() == 0
    assert listener.closed.is_set()
    assert all(r.lost_count == 1 for r in clients)
    assert all(s.lost_count == 1 for s in servers) and len(servers) == 12
    assert open_fds() == fds
    p.stop()  # a second stop is a no-op


def test_stop_before_start_releases_the_fds() -> None:
    """A poller that never ran still closes its epolls and eventfds on stop()."""
    fds = open_fds()
    p = ShardedPoller(event_threads=4)
    assert open_fds() == fds + 8
    p.stop()
    assert open_fds() == fds


# -- placement with the baton ----------------------------------------------------------------


class _Rig:
    """A started sharded poller with the baton, as the brick runs it, a listener on it whose
    connections record what they receive, and a one-thread poller for the clients."""

    def __init__(self, shards: int) -> None:
        self.poller = ShardedPoller(event_threads=shards)
        self.poller.baton = BATON
        self.poller.start()
        self.servers = Accepted(Recorder)
        self.listener = listen("127.0.0.1:0", poller=self.poller, handler_factory=self.servers)
        self.client_poller = make_poller("single")
        self.client_poller.start()

    def connect_tagged(self, n: int) -> tuple[list[Endpoint], dict[int, Recorder]]:
        """``n`` clients, each of which sends one small record tagged with its index; returns
        them and, by that index, the server side that received it."""
        clients = [
            connect(self.listener.address, poller=self.client_poller, handler=Recorder())
            for _ in range(n)
        ]
        for k, ep in enumerate(clients):
            ep.submit(struct.pack(">II", k, 0), b"small")
        by_client = {}
        for i in range(n):
            first = self.servers.get(i).wait_records(1)[0]
            by_client[struct.unpack(">I", first[:4])[0]] = self.servers.get(i)
        return clients, by_client

    def close(self) -> None:
        self.client_poller.stop()
        self.listener.close()
        self.poller.stop()


@pytest.fixture
def rig4() -> Iterator[_Rig]:
    rig = _Rig(4)
    yield rig
    rig.close()


@pytest.fixture
def rig2() -> Iterator[_Rig]:
    rig = _Rig(2)
    yield rig
    rig.close()


def _big(seed: int) -> bytes:
    """A record body big enough to be read with the baton handed over, with no short period."""
    return bytes((i * 7 + i // 251 + seed) % 256 for i in range(4 * BIG))


@pytest.mark.timeout(120)
def test_with_the_baton_small_connections_share_the_home_shard_and_heavy_ones_spread(
    rig4: _Rig,
) -> None:
    """Placement: every pollable starts on the home shard; one whose handling hands the baton
    over (a big record read) moves once, to the shard with the fewest such heavy ones, so 8
    heavy connections end 2 per shard while the 4 light ones and the listener stay home; each
    connection's records arrive whole and in order across the move."""
    p = rig4.poller
    clients, by_client = rig4.connect_tagged(12)
    wait_for(lambda: p.pollable_count() == 13, 20, "every connection accepted")
    assert p.shard_loads() == [13, 0, 0, 0]
    assert p.heavy_loads() == [0, 0, 0, 0]
    for k, ep in enumerate(clients[:8]):
        for i in range(3):
            ep.submit(struct.pack(">II", k, i), _big(k + i))
    for k in range(8):
        got = by_client[k].wait_records(4)
        assert got[1:] == [struct.pack(">II", k, i) + _big(k + i) for i in range(3)]
    wait_for(lambda: p.heavy_loads() == [2, 2, 2, 2], 20, "heavy ones spread")
    assert p.shard_loads() == [7, 2, 2, 2]
    for k in range(8, 12):
        assert by_client[k].threads == {"gfrpc-shard-0"}
    moved = [by_client[k].threads - {"gfrpc-shard-0"} for k in range(8)]
    assert all(len(t) <= 1 for t in moved)
    assert sorted(len(t) for t in moved) == [0, 0, 1, 1, 1, 1, 1, 1]
    for ep in clients:
        ep.close()
    wait_for(lambda: p.pollable_count() == 1, 20, "only the listener watched")
    assert p.heavy_loads() == [0, 0, 0, 0]


@pytest.mark.timeout(120)
def test_with_the_baton_a_lone_heavy_connection_leaves_the_home_shard_to_the_light_ones(
    rig2: _Rig,
) -> None:
    """Placement on a tie: the first connection to turn heavy, with no heavy one anywhere, moves
    off the home shard (where the light connections stay) instead of staying there, so the
    light ones keep a thread of their own; its records arrive whole and in order."""
    p = rig2.poller
    clients, by_client = rig2.connect_tagged(4)
    assert p.shard_loads() == [5, 0]
    for i in range(3):
        clients[0].submit(struct.pack(">II", 0, i + 1), huge(i))
    got = by_client[0].wait_records(4)
    assert got[1:] == [struct.pack(">II", 0, i + 1) + huge(i) for i in range(3)]
    wait_for(lambda: p.heavy_loads() == [0, 1], 20, "the heavy one moved off home")
    assert p.shard_loads() == [4, 1]
    for k in range(1, 4):
        clients[k].submit(struct.pack(">II", k, 1), b"small again")
        assert len(by_client[k].wait_records(2)) == 2
        assert by_client[k].threads == {"gfrpc-shard-0"}
    assert "gfrpc-shard-1" in by_client[0].threads
    for ep in clients:
        ep.close()
    wait_for(lambda: p.pollable_count() == 1, 20, "only the listener watched")


@pytest.mark.timeout(120)
def test_with_the_baton_a_heavy_connection_that_goes_quiet_returns_home(rig2: _Rig) -> None:
    """Placement: a heavy connection that goes QUIET_HANDLINGS handlings in a row without a
    hand-over is light again and moves back to the home shard; one that hands the baton over
    again before that stays where it is; records arrive in order across both moves."""
    p = rig2.poller
    (ep,), by_client = rig2.connect_tagged(1)
    server = by_client[0]
    ep.submit(struct.pack(">II", 0, 1), huge(1))
    server.wait_records(2)
    wait_for(lambda: p.heavy_loads() == [0, 1], 20, "heavy, off the home shard")
    # quiet, but not long enough, then heavy again: no move
    one_by_one(ep, server, 0, 2, QUIET_HANDLINGS // 2)
    n = 2 + QUIET_HANDLINGS // 2
    ep.submit(struct.pack(">II", 0, n), huge(2))
    server.wait_records(n + 1)
    one_by_one(ep, server, 0, n + 1, QUIET_HANDLINGS - 10)
    assert p.heavy_loads() == [0, 1] and p.shard_loads() == [1, 1]
    # quiet for long enough: light again, home
    n += 1 + QUIET_HANDLINGS - 10
    one_by_one(ep, server, 0, n, 20)
    wait_for(lambda: p.shard_loads() == [2, 0], 20, "back on the home shard")
    assert p.heavy_loads() == [0, 0]
    n += 20
    one_by_one(ep, server, 0, n, 5)
    assert server.threads >= {"gfrpc-shard-0", "gfrpc-shard-1"}
    got = server.wait_records(n + 5)
    assert [struct.unpack(">II", r[:8])[1] for r in got] == list(range(n + 5))
    assert got[1][8:] == huge(1) and got[2 + QUIET_HANDLINGS // 2][8:] == huge(2)
    ep.close()
    wait_for(lambda: p.pollable_count() == 1, 20, "only the listener watched")


@pytest.mark.timeout(120)
def test_with_the_baton_a_heavy_connection_is_handled_without_it_and_light_ones_with_it() -> None:
    """A heavy connection's handlings run without the baton (its records arrive on a thread
    that does not hold it), also for a small record while it stays heavy; a light connection's
    run with it; a heavy one that went quiet and came home holds it again."""
    rig = _Rig(2)
    rig.servers = Accepted(BatonRecorder)  # type: ignore[arg-type]
    rig.listener.close()
    rig.listener = listen("127.0.0.1:0", poller=rig.poller, handler_factory=rig.servers)
    try:
        p = rig.poller
        clients, by_client = rig.connect_tagged(2)
        heavy, light = by_client[0], by_client[1]
        assert heavy.held == [True] and light.held == [True]  # type: ignore[attr-defined]
        clients[0].submit(struct.pack(">II", 0, 1), huge(1))
        heavy.wait_records(2)
        wait_for(lambda: p.heavy_loads() == [0, 1], 20, "heavy, off the home shard")
        clients[0].submit(struct.pack(">II", 0, 2), huge(2))
        heavy.wait_records(3)
        one_by_one(clients[0], heavy, 0, 3, 3)
        one_by_one(clients[1], light, 1, 1, 3)
        assert heavy.held[2:] == [False] * 4  # type: ignore[attr-defined]
        assert light.held == [True] * 4  # type: ignore[attr-defined]
        one_by_one(clients[0], heavy, 0, 6, QUIET_HANDLINGS + 5)
        wait_for(lambda: p.heavy_loads() == [0, 0], 20, "light again, home")
        one_by_one(clients[0], heavy, 0, 11 + QUIET_HANDLINGS, 3)
        assert heavy.held[-3:] == [True] * 3  # type: ignore[attr-defined]
        got = heavy.wait_records(14 + QUIET_HANDLINGS)
        assert got[1][8:] == huge(1) and got[2][8:] == huge(2)
        for ep in clients:
            ep.close()
        wait_for(lambda: p.pollable_count() == 1, 20, "only the listener watched")
    finally:
        rig.close()


@pytest.mark.timeout(120)
def test_stop_while_heavy_connections_move_finalizes_all() -> None:
    """stop() while connections are turning heavy and moving between shards finds every one
    of them (on its old shard or its new one), runs cleanup once each, and leaves no fd."""
    fds = open_fds()
    p = ShardedPoller(event_threads=4)
    p.baton = BATON
    client_poller = make_poller("single")
    client_poller.start()
    servers = Accepted(Recorder)
    listener = listen("127.0.0.1:0", poller=p, handler_factory=servers)
    clients = [connect(listener.address, poller=client_poller, handler=Recorder())]
    for _ in range(15):
        clients.append(connect(listener.address, poller=client_poller, handler=Recorder()))
    body = _big(1)
    for ep in clients:
        ep.submit(b"12345678", b"hello")
        ep.submit(b"12345678", body)
    servers.get(15).wait_records(1)
    p.stop()
    assert p.pollable_count() == 0
    assert listener.closed.is_set()
    assert len(servers) == 16 and all(s.lost_count == 1 for s in servers)
    for ep in clients:
        ep.close()
    client_poller.stop()
    assert open_fds() == fds
