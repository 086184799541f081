"""Tests for rpc/timers.py: one thread, a heap of deadlines, cancelable handles."""

from __future__ import annotations

import threading

import pytest

from gfrpc.rpc.timers import TimerThread, shared_timers


@pytest.mark.timeout(30)
def test_callbacks_run_in_deadline_order_on_one_thread(timers: TimerThread) -> None:
    """Due callbacks run in deadline order, all on the one timer thread."""
    order: list[int] = []
    threads: set[str] = set()
    done = threading.Event()

    def hit(n: int) -> None:
        order.append(n)
        threads.add(threading.current_thread().name)
        if len(order) == 3:
            done.set()

    timers.call_later(0.15, hit, 3)
    timers.call_later(0.05, hit, 1)
    timers.call_later(0.10, hit, 2)
    assert done.wait(5)
    assert order == [1, 2, 3]
    assert threads == {"test-timer"}


@pytest.mark.timeout(30)
def test_cancelled_callback_never_runs(timers: TimerThread) -> None:
    """cancel() before the deadline stops the callback; later timers still run."""
    ran: list[str] = []
    done = threading.Event()
    handle = timers.call_later(0.05, ran.append, "cancelled")
    handle.cancel()
    handle.cancel()  # idempotent

    def kept() -> None:
        ran.append("kept")
        done.set()

    timers.call_later(0.1, kept)
    assert done.wait(5)
    assert ran == ["kept"]


@pytest.mark.timeout(30)
def test_heap_is_compacted_when_most_handles_are_cancelled(timers: TimerThread) -> None:
    """Frame-timeout timers are almost all cancelled: the heap must not keep them all."""
    handles = [timers.call_later(3600, lambda: None) for _ in range(2000)]
    for h in handles:
        h.cancel()
    assert timers.pending() < 600


@pytest.mark.timeout(30)
def test_a_failing_callback_does_not_stop_the_thread(timers: TimerThread) -> None:
    """An exception in a callback is logged; the timer thread carries on."""
    done = threading.Event()

    def boom() -> None:
        raise RuntimeError("boom")

    timers.call_later(0.01, boom)
    timers.call_later(0.05, done.set)
    assert done.wait(5)


@pytest.mark.timeout(30)
def test_shared_timers_is_one_instance() -> None:
    """Clients share one timer thread, not one per client or per call."""
    assert shared_timers() is shared_timers()


@pytest.mark.timeout(30)
def test_stopped_timer_thread_refuses_new_timers() -> None:
    """After stop() nothing can be scheduled."""
    t = TimerThread()
    t.call_later(10, lambda: None)
    t.stop()
    with pytest.raises(RuntimeError):
        t.call_later(1, lambda: None)
