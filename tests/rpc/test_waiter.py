"""The synchronous call's completion (``gfrpc.rpc.waiter``): doorbells and their edge cases."""

from __future__ import annotations

import gc
import os
import select
import threading
from concurrent.futures import InvalidStateError
from typing import Any

import pytest

from gfrpc.errors import NotConnectedError, TimeoutError_
from gfrpc.rpc import waiter as waiter_mod
from gfrpc.rpc.waiter import BellWaiter, EventfdBell, LockBell, Waiter, doorbell

pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(not hasattr(os, "eventfd"), reason="doorbells need os.eventfd"),
]


def _rung(fd: int) -> bool:
    readable, _, _ = select.select([fd], [], [], 0)
    return bool(readable)


def _complete_from_another_thread(w: Any, value: Any) -> None:
    t = threading.Thread(target=w.set_result, args=(value,))
    t.start()
    t.join(10)


def test_a_call_waits_on_its_threads_doorbell() -> None:
    """On Linux a synchronous call's waiter is a BellWaiter on the calling thread's one
    doorbell (the same eventfd for every call of the thread), and another thread's reply
    wakes it with that reply."""
    w1, w2 = Waiter(), Waiter()
    assert isinstance(w1, BellWaiter) and isinstance(w2, BellWaiter)
    bell = doorbell()
    assert isinstance(bell, EventfdBell) and w1._bell is bell and w2._bell is bell
    reply = object()
    started = threading.Event()

    def late() -> None:
        started.wait(10)
        w1.set_result(reply)  # type: ignore[arg-type]

    t = threading.Thread(target=late)
    t.start()
    started.set()
    assert w1.result() is reply
    t.join(10)
    assert not _rung(bell.fd)  # the one ring was read


def test_a_completion_on_the_waiting_thread_rings_nobody() -> None:
    """A caller that read its own reply completes its waiter itself: no ring is left behind
    for its next call to read."""
    w = Waiter()
    bell = doorbell()
    assert bell is not None and not _rung(bell.fd)
    w.set_result(object())  # type: ignore[arg-type]
    assert not _rung(bell.fd)
    w.result()


def test_a_ring_for_an_abandoned_call_does_not_end_the_next_call() -> None:
    """A caller that stopped waiting (interrupted) leaves its call's late ring on the
    doorbell; the thread's next call reads past it and returns its own reply, not early and
    not the other call's."""
    abandoned = Waiter()
    _complete_from_another_thread(abandoned, "old")
    bell = doorbell()
    assert bell is not None and _rung(bell.fd)  # the stale ring is there

    nxt = Waiter()
    go = threading.Event()

    def reply_later() -> None:
        go.wait(10)
        nxt.set_result("new")  # type: ignore[arg-type]

    t = threading.Thread(target=reply_later)
    t.start()
    go.set()
    assert nxt.result() == "new"
    t.join(10)


def test_a_reply_before_the_caller_looks_is_returned_at_once() -> None:
    """A reply that arrives before result() is called leaves a ring no one reads; result()
    returns the outcome without sleeping, and a second result() returns it again."""
    w = Waiter()
    _complete_from_another_thread(w, "early")
    assert w.result() == "early" and w.result() == "early"


def test_completion_is_first_wins() -> None:
    """A reply racing a frame-timeout or a disconnect completes the call once: the second
    completer gets InvalidStateError and the caller the first outcome."""
    reply = object()
    w = Waiter()
    w.set_result(reply)  # type: ignore[arg-type]
    with pytest.raises(InvalidStateError):
        w.set_exception(TimeoutError_("late"))
    assert w.done() and w.result() is reply

    w = Waiter()
    w.set_exception(NotConnectedError("gone"))
    with pytest.raises(InvalidStateError):
        w.set_result(reply)  # type: ignore[arg-type]
    with pytest.raises(NotConnectedError):
        w.result()


def test_a_waiter_keeps_its_doorbell_after_its_thread_ended() -> None:
    """A late reply for a call whose thread is gone rings a doorbell that is still open (the
    waiter holds it), never a descriptor number that something else may have reused; once the
    thread and the waiter are gone, the eventfd is closed."""
    box: list[Any] = []

    def caller() -> None:
        w = Waiter()
        box.append(w)
        box.append(doorbell())

    t = threading.Thread(target=caller)
    t.start()
    t.join(10)
    w, bell = box
    fd = bell.fd
    inode = os.fstat(fd).st_ino
    w.set_result("late")  # rings the dead thread's doorbell: still its eventfd
    assert _rung(fd) and os.fstat(fd).st_ino == inode
    del w, bell
    box.clear()
    gc.collect()
    try:
        assert os.fstat(fd).st_ino != inode
    except OSError:
        pass  # closed, not reused: as it should be


def test_without_an_eventfd_a_thread_rings_a_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread that cannot make an eventfd (no descriptors left) gets a lock for a doorbell,
    tries no more eventfds, and its calls still get their replies, a ring that came before
    the wait included."""
    calls = []

    def no_fds(*args: Any) -> int:
        calls.append(args)
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(waiter_mod.os, "eventfd", no_fds)
    got: list[Any] = []

    def caller() -> None:
        for i in range(2):
            w = Waiter()
            got.append(type(doorbell()))
            _complete_from_another_thread(w, i)
            got.append(w.result())

    t = threading.Thread(target=caller)
    t.start()
    t.join(10)
    assert got == [LockBell, 0, LockBell, 1]
    assert len(calls) == 1


def test_a_forked_child_does_not_share_its_parents_doorbell() -> None:
    """After fork the child makes its own doorbell: reading the parent's eventfd would steal
    the parent's wake-ups."""
    parent = doorbell()
    assert parent is not None
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, and leave without running any cleanup
        try:
            child = doorbell()
            same = child is parent or child is None
            os.write(w, b"same" if same else b"own")
        finally:
            os._exit(0)
    os.close(w)
    try:
        answer = os.read(r, 16)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    assert answer == b"own"
    assert doorbell() is parent
