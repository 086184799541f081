"""The baton (``transport/baton.py``): poller threads run Python work one at a time, and hand
it over around big reads, decryptions and encryptions."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from transport_support import Accepted, Recorder

from gfrpc.transport import connect, endpoint, endpoint_output, endpoint_tls, listen, make_poller
from gfrpc.transport.baton import BATON, Baton, NoBaton

pytestmark = pytest.mark.timeout(60)


# -- the baton itself ------------------------------------------------------------------------


def test_call_outside_hands_the_baton_over_and_takes_it_back():
    """While ``call_outside`` runs its function another thread can take the baton; when it
    returns (or raises), the caller holds the baton again."""
    b = Baton()
    taken = threading.Event()

    def other() -> None:
        with b:
            taken.set()

    def work() -> str:
        t = threading.Thread(target=other)
        t.start()
        t.join(10)
        return "done"

    def failing() -> None:
        work()
        raise OSError("boom")

    with b:
        assert b.held()
        assert b.call_outside(work) == "done"
        assert taken.is_set()
        assert b.held()
        taken.clear()
        with pytest.raises(OSError, match="boom"):
            b.call_outside(failing)
        assert taken.is_set() and b.held()
    assert not b.held()


def test_big_work_counts_each_threads_own_calls_held_or_not():
    """``Baton.big_work()`` is the calling thread's count of ``call_outside`` calls, with the
    baton held or not; another thread's calls never show in it; ``NoBaton`` counts nothing."""
    b = Baton()
    assert b.big_work() == 0
    b.call_outside(len, b"abc")
    with b:
        b.call_outside(len, b"abc")
    assert b.big_work() == 2
    seen: list[int] = []

    def other() -> None:
        seen.append(b.big_work())
        b.call_outside(len, b"abc")
        seen.append(b.big_work())

    t = threading.Thread(target=other)
    t.start()
    t.join(10)
    assert seen == [0, 1]
    assert b.big_work() == 2
    assert NoBaton().big_work() == 0


def test_call_outside_without_the_baton_leaves_it_alone():
    """A thread that does not hold the baton (an io-thread) just runs the function; it can
    neither release nor take a baton that another thread holds."""
    b = Baton()
    holding, finished = threading.Event(), threading.Event()

    def holder() -> None:
        with b:
            holding.set()
            finished.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    assert holding.wait(10)
    assert b.call_outside(lambda: 42) == 42
    assert not b.held()
    assert not b._lock.acquire(blocking=False)  # still the holder's
    finished.set()
    t.join(10)


# -- pollers with the baton ------------------------------------------------------------------


class Overlap:
    """Pollables over socketpairs whose handlings wait a little for each other: tells
    whether two handlings ever ran at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.most = 0
        self.handled = threading.Semaphore(0)

    def make(self) -> tuple[Any, socket.socket]:
        a, b = socket.socketpair()
        a.setblocking(False)
        return _Pollable(self, a), b


class _Pollable:
    def __init__(self, overlap: Overlap, sock: socket.socket) -> None:
        self.o = overlap
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()

    def interest(self) -> tuple[bool, bool]:
        return (True, False)

    def handle_events(self, readable: bool, writable: bool, error: bool) -> bool:
        if not readable:
            return True
        try:
            data = self.sock.recv(16)
        except BlockingIOError:
            return True
        if not data:  # EOF (or aborted): finished
            return False
        o = self.o
        with o.lock:
            o.active += 1
            o.most = max(o.most, o.active)
        # hold the handling open for a while: a second thread that may run handlers now
        # comes in meanwhile (without the baton) or cannot (with it)
        threading.Event().wait(0.3)
        with o.lock:
            o.active -= 1
        o.handled.release()
        return True

    def finalize(self) -> None:
        self.sock.close()

    def abort(self, reason: Exception) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # readable at once: the handling sees EOF


@pytest.fixture(params=["pool", "sharded", "own-thread"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("with_baton", [True, False], ids=["baton", "no-baton"])
def test_with_the_baton_no_two_poller_threads_handle_at_once(kind, with_baton):
    """With the baton, two connections that become readable together are handled one after
    the other, even by two poller threads; without it, the same two run at once (which shows
    the test can see an overlap)."""
    poller = make_poller(kind, event_threads=2, baton=with_baton)
    assert isinstance(poller.baton, Baton if with_baton else NoBaton)
    poller.start()
    o = Overlap()
    try:
        pairs = [o.make() for _ in range(2)]
        for p, _ in pairs:
            poller.register(p)
        for _, far in pairs:
            far.sendall(b"x")
        for _ in pairs:
            assert o.handled.acquire(timeout=10)
        assert o.most == (1 if with_baton else 2)
    finally:
        poller.stop()
        for _, far in pairs:
            far.close()


# -- where an endpoint hands the baton over --------------------------------------------------


class CountingBaton(Baton):
    """The process baton's stand-in that counts hand-overs and their sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.handed: list[str] = []

    def call_outside(self, fn: Callable[..., Any], *args: object) -> Any:
        if self.held():
            self.handed.append(getattr(fn, "__name__", repr(fn)))
        return super().call_outside(fn, *args)


@pytest.fixture
def counting(monkeypatch) -> Iterator[CountingBaton]:
    b = CountingBaton()
    for module in (endpoint, endpoint_output, endpoint_tls):  # the modules that hand it over
        monkeypatch.setattr(module, "BATON", b)
    yield b


class Echo(Recorder):
    def record_received(self, ep, record) -> None:
        ep.submit(bytes(record))
        super().record_received(ep, record)


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_big_records_hand_the_baton_over_small_ones_do_not(counting, tls, tls_pair):
    """A server endpoint on a baton poller hands the baton over to read (or decrypt) a 1 MiB
    record and to write (or encrypt) its 1 MiB echo, and the record arrives whole both ways;
    small records are read, handled and answered without a hand-over."""
    poller = make_poller("single", baton=True)
    poller.baton = counting
    client_poller = make_poller("single")
    poller.start()
    client_poller.start()
    server_ctx, client_ctx = tls_pair if tls else (None, None)
    servers = Accepted(Echo)
    listener = listen("127.0.0.1:0", poller=poller, handler_factory=servers, tls=server_ctx)
    try:
        client = Recorder()
        ep = connect(listener.address, poller=client_poller, handler=client, tls=client_ctx)
        for i in range(20):
            ep.submit(b"small %02d" % i)
        client.wait_records(20)
        assert counting.handed == []
        blob = bytes(range(256)) * 4096  # 1 MiB
        ep.submit(blob)
        got = client.wait_records(21, timeout=30)[-1]
        assert hashlib.sha256(got).digest() == hashlib.sha256(blob).digest()
        names = set(counting.handed)
        assert ("_decrypt" if tls else "recv_into") in names
        assert ("_queue" if tls else "_uncork") in names
        ep.close()
    finally:
        listener.close()
        poller.stop()
        client_poller.stop()
    assert not BATON.held()
