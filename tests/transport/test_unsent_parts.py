"""The out-queue's second limit: how many parts may wait unsent (``OutQueue.max_parts``),
beside how many bytes (``high_water``). Every small reply is one part, so a peer that never
reads the replies to requests answered at once pins a bounded number of objects."""

from __future__ import annotations

import socket

import pytest

from gfrpc.transport.outqueue import OutQueue


@pytest.fixture
def full_pair():
    """A connected pair whose sender's buffers are small, with nobody reading the other end."""
    a, b = socket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    a.setblocking(False)
    yield a, b
    a.close()
    b.close()


@pytest.mark.timeout(30)
def test_more_parts_than_the_limit_pause_and_half_of_them_resume(full_pair) -> None:
    """Rule: a queue with ``max_parts`` says paused once it holds more parts than that (the
    bytes being far below ``high_water``), and resumed once the kernel has taken it down to
    half of them."""
    a, b = full_pair
    q = OutQueue(high_water=16 << 20)
    q.max_parts = 8
    reply = memoryview(b"r" * 40)
    while q.flush(a) is None and not q.pending:  # fill the kernel's buffers first
        q.push(reply)
    assert not q.paused
    for _ in range(8 - len(q.pending)):
        q.push(reply)
    assert len(q.pending) == 8 and not q.paused, "at the limit is not over it"
    q.push(reply)
    assert q.paused and q.unsent < 1024
    b.setblocking(False)
    while q.paused:  # the peer reads: the queue drains
        try:
            b.recv(65536)
        except BlockingIOError:
            pass
        assert q.flush(a) is None
    assert q.resumed and len(q.pending) <= 4


def test_no_part_limit_by_default() -> None:
    """Rule: without ``max_parts`` (0, a client's queue) the number of parts never pauses."""
    q = OutQueue(high_water=16 << 20)
    for _ in range(10_000):
        q.push(memoryview(b"r"))
    assert not q.paused
    q2 = OutQueue(high_water=10)  # the byte limit alone still pauses, as before
    q2.push(memoryview(b"0123456789a"))
    assert q2.paused
