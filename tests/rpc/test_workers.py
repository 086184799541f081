"""The server's worker pool (``gfrpc.rpc.workers``): hand-off, LIFO, backlog, shutdown."""

from __future__ import annotations

import os
import threading

import pytest

from gfrpc.rpc.waiter import EventfdBell
from gfrpc.rpc.workers import WorkerPool

pytestmark = pytest.mark.timeout(30)


def _run_and_wait(pool: WorkerPool) -> str:
    """Submit one job; the name of the worker thread that ran it."""
    done = threading.Event()
    name: list[str] = []

    def job() -> None:
        name.append(threading.current_thread().name)
        done.set()

    pool.submit(job)
    assert done.wait(10)
    return name[0]


def _idle_count(pool: WorkerPool, n: int) -> None:
    """Wait until ``n`` workers are on the idle stack (a worker that ran a job goes back)."""
    for _ in range(10_000):
        with pool._mutex:
            if len(pool._idle) == n:
                return
        threading.Event().wait(0.001)
    raise AssertionError(f"{n} idle workers never seen")


def test_the_worker_that_went_idle_last_runs_the_next_job() -> None:
    """Jobs one after another run on one hot worker (LIFO), not round the pool."""
    pool = WorkerPool(4, name="t-lifo")
    try:
        pool.start()
        _idle_count(pool, 4)
        first = _run_and_wait(pool)
        _idle_count(pool, 4)
        assert all(_run_and_wait(pool) == first for _ in range(5))
    finally:
        pool.shutdown()


@pytest.mark.skipif(not hasattr(os, "eventfd"), reason="doorbells need os.eventfd")
def test_idle_workers_sleep_on_their_own_eventfd() -> None:
    """Each worker waits on its own thread's eventfd doorbell, which submit rings."""
    pool = WorkerPool(3, name="t-bell")
    try:
        pool.start()
        _idle_count(pool, 3)
        bells = [w.bell for w in pool._workers]
        assert all(isinstance(b, EventfdBell) for b in bells)
        assert len({b.fd for b in bells if isinstance(b, EventfdBell)}) == 3
        _run_and_wait(pool)
    finally:
        pool.shutdown()


def test_jobs_beyond_the_idle_workers_wait_in_order_and_all_run() -> None:
    """With every worker busy, jobs queue in a FIFO backlog and all of them run."""
    pool = WorkerPool(2, name="t-backlog")
    gate = threading.Event()
    ran: list[int] = []
    all_done = threading.Event()
    try:
        pool.start()
        _idle_count(pool, 2)
        pool.submit(gate.wait, 10)
        pool.submit(gate.wait, 10)

        def record(i: int) -> None:
            ran.append(i)
            if len(ran) == 5:
                all_done.set()

        for i in range(5):
            pool.submit(record, i)
        assert not ran  # both workers are held at the gate
        gate.set()
        assert all_done.wait(10)
        assert sorted(ran) == list(range(5))
    finally:
        gate.set()
        pool.shutdown()


def test_shutdown_ends_every_worker_and_refuses_new_jobs() -> None:
    """shutdown wakes the idle workers to end; submit afterwards raises RuntimeError."""
    pool = WorkerPool(3, name="t-stop")
    pool.start()
    _idle_count(pool, 3)
    _run_and_wait(pool)
    pool.shutdown()
    assert not any(w.thread is not None and w.thread.is_alive() for w in pool._workers)
    with pytest.raises(RuntimeError):
        pool.submit(print)
