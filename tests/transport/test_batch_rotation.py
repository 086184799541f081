"""Rule: a poller thread that handles a batch of ready fds from one level-triggered
``epoll_wait`` (``single``, each ``sharded`` shard) begins each batch at a different place,
so connections that stay ready do not keep the same places turn after turn (the last places
are served less: docs/ARCHITECTURE.md, "Performance notes", 48). ``base.rotated`` is the
rule; the poller tests watch five always-ready fds and check that the order in which they
are handled is not the same on every turn."""

from __future__ import annotations

import socket
import threading

import pytest

from gfrpc.testing.waiting import wait_for
from gfrpc.transport import make_poller
from gfrpc.transport.pollers.base import Poller, rotated

pytestmark = pytest.mark.timeout(30)

EVENTS = [(10, 1), (11, 1), (12, 1), (13, 1)]


def test_rotated_begins_one_place_further_on_each_turn() -> None:
    """Turn t begins at place t mod n and keeps the kernel's order from there."""
    assert rotated(EVENTS, 0) == EVENTS
    assert rotated(EVENTS, 1) == [(11, 1), (12, 1), (13, 1), (10, 1)]
    assert rotated(EVENTS, 6) == [(12, 1), (13, 1), (10, 1), (11, 1)]
    firsts = {rotated(EVENTS, t)[0] for t in range(4)}
    assert firsts == set(EVENTS)  # every fd takes the first place within n turns


def test_rotated_leaves_short_batches_alone() -> None:
    """A batch of none or one event is returned as it is (the small-request case)."""
    assert rotated([], 5) == []
    one = [(7, 1)]
    assert rotated(one, 5) is one


class _AlwaysReady:
    """A pollable whose fd stays readable (a byte waits that it never reads); each
    readable handling appends its name to ``order``."""

    def __init__(self, name: int, order: list[int], lock: threading.Lock) -> None:
        self.name = name
        self.order = order
        self.lock = lock
        self.sock, self.peer = socket.socketpair()
        self.sock.setblocking(False)
        self.peer.send(b"x")
        self.done = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def interest(self) -> tuple[bool, bool]:
        return True, False

    def handle_events(self, readable: bool, writable: bool, error: bool) -> bool:
        if readable:
            with self.lock:
                self.order.append(self.name)
        return not self.done

    def abort(self, reason: Exception) -> None:
        self.done = True  # the poller stops: finish at the next handling

    def finalize(self) -> None:
        self.sock.close()
        self.peer.close()


@pytest.mark.parametrize("kind", ["single", "sharded"])
def test_always_ready_fds_are_not_handled_in_one_fixed_order(kind: str) -> None:
    """Five fds that stay ready: the handling order is not periodic with period five, as
    it is when every batch is walked front to back in the kernel's order."""
    poller: Poller = make_poller(kind, 1)
    order: list[int] = []
    lock = threading.Lock()
    pollables = [_AlwaysReady(i, order, lock) for i in range(5)]
    poller.start()
    try:
        for p in pollables:
            poller.register(p)
        wait_for(lambda: len(set(order)) == 5, 10)  # all five watched and handled
        with lock:
            order.clear()
        wait_for(lambda: len(order) >= 200, 10)
    finally:
        poller.stop()
    with lock:
        seq = order[:200]
    # in the kernel's order every batch holds the same five in the same places
    assert any(seq[i] != seq[i + 5] for i in range(len(seq) - 5)), seq[:20]
    # and each still gets its share: every fd was handled in every window of ten
    assert all(len(set(seq[i : i + 10])) == 5 for i in range(len(seq) - 10)), seq[:20]
