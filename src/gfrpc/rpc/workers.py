"""The server's worker pool (GlusterFS's io-threads / request handler threads).

Poller threads only hand jobs to the pool, so a slow handler never stalls socket input
(GlusterFS issue #2401: blocked epoll threads ⇒ unanswered pings ⇒ ping-timeout disconnects).

Theory of operation. Idle workers wait on a stack, each on its thread's doorbell
(``waiter.py``: an eventfd, rung with the GIL released, so that the woken worker does not
preempt the submitting poller thread only to find the GIL taken). ``submit`` gives the job
to the worker that went idle **last** (LIFO) and wakes only that one; a busy pool queues
the job in a FIFO backlog that workers drain before going idle again. LIFO matters under the
GIL: the most recently used thread is the one whose stack and data are still in cache, and
a handful of hot workers serve a steady load while the rest of the pool sleeps, instead of
every request waking a different cold thread (measured: ~10 % of a TLS benchmark's CPU).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVarTuple

from gfrpc.rpc.waiter import Doorbell, doorbell

log = logging.getLogger("gfrpc.rpc.server")

_Ts = TypeVarTuple("_Ts")
_Job = tuple[Callable[..., object], tuple[object, ...]]  # fn, args: checked by submit()


def _stop() -> None:
    pass


_STOP: _Job = (_stop, ())  # handed to an idle worker: end the thread (compared by identity)


class _Worker:
    __slots__ = ("thread", "bell", "job")

    def __init__(self) -> None:
        self.bell: Doorbell | None = None  # made by the worker's thread before it goes idle
        self.job: _Job | None = None  # set by the one who takes the worker off the idle stack
        self.thread: threading.Thread | None = None


class WorkerPool:
    """``size`` threads named ``<name>-<n>`` running submitted jobs (FIFO backlog)."""

    def __init__(self, size: int = 16, name: str = "gfrpc-worker") -> None:
        if size < 1:
            raise ValueError("worker pool needs at least one thread")
        self.size = size
        self._name = name
        self._mutex = threading.Lock()
        self._backlog: deque[_Job] = deque()
        self._idle: list[_Worker] = []
        self._workers: list[_Worker] = []
        self._ids: frozenset[int] = frozenset()
        self._started = False
        self._stopped = False

    def start(self) -> None:
        with self._mutex:
            if self._started:
                return
            self._started = True
            for n in range(self.size):
                w = _Worker()
                w.thread = threading.Thread(
                    target=self._run, args=(w,), daemon=True, name=f"{self._name}-{n}"
                )
                self._workers.append(w)
                w.thread.start()  # its first step waits for this mutex; start() does not
            self._ids = frozenset(
                w.thread.ident
                for w in self._workers
                if w.thread is not None and w.thread.ident is not None
            )

    def submit(self, fn: Callable[[*_Ts], object], *args: *_Ts) -> None:
        """Run ``fn(*args)`` on a worker; raises RuntimeError after ``shutdown``."""
        if not self._started:
            self.start()
        with self._mutex:
            if self._stopped:
                raise RuntimeError("worker pool is shut down")
            if not self._idle:
                self._backlog.append((fn, args))
                return
            w = self._idle.pop()
            w.job = (fn, args)
            bell = w.bell  # taken here: once it has the job, the worker may end and drop it
        assert bell is not None
        bell.ring()  # outside the mutex: the ring lets go of the GIL

    def is_worker_thread(self, thread: threading.Thread | None = None) -> bool:
        """True when ``thread`` (default: the current one) belongs to this pool."""
        thread = thread or threading.current_thread()
        return thread.ident in self._ids

    def shutdown(self, wait: bool = True, timeout: float = 5.0) -> None:
        """Let queued jobs finish, then end the threads; ``wait`` at most ``timeout`` seconds
        in all for running handlers (threads still busy after that are left to finish)."""
        with self._mutex:
            if self._stopped:
                return
            self._stopped = True
            idle, self._idle = self._idle, []
            bells = []
            for w in idle:
                w.job = _STOP
                bells.append(w.bell)
        for bell in bells:
            assert bell is not None
            bell.ring()
        if wait and self._started:
            deadline = time.monotonic() + timeout
            current = threading.current_thread()
            for w in self._workers:
                if w.thread is not None and w.thread is not current:
                    w.thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self, me: _Worker) -> None:
        me.bell = doorbell()
        try:
            self._serve(me, me.bell)
        finally:
            me.bell = None  # the thread's eventfd closes with the thread, not with the pool

    def _serve(self, me: _Worker, bell: Doorbell) -> None:
        while True:
            with self._mutex:
                if self._backlog:
                    job = self._backlog.popleft()
                elif self._stopped:
                    return
                else:
                    self._idle.append(me)
                    job = None
            if job is None:
                while me.job is None:  # a ring can be stale (see waiter.py)
                    bell.wait()
                job, me.job = me.job, None
                if job is _STOP:
                    return
            fn, args = job
            try:
                fn(*args)
            except Exception:
                log.exception("worker job %r failed", fn)
            # drop the job before waiting for the next: an idle worker must not keep a
            # request (and the record buffer its views pin) alive
            job = None
            del fn, args
