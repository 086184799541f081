"""The server's worker pool (GlusterFS's io-threads / request handler threads).

A fixed set of daemon threads takes ``(fn, args)`` jobs from one queue. Poller threads only
put jobs on the queue, so a slow handler never stalls socket input (GlusterFS issue #2401:
blocked epoll threads ⇒ unanswered pings ⇒ ping-timeout disconnects).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("gfrpc.rpc.server")

_STOP = object()


class WorkerPool:
    """``size`` threads named ``<name>-<n>`` running submitted jobs in FIFO order."""

    def __init__(self, size: int = 16, name: str = "gfrpc-worker") -> None:
        if size < 1:
            raise ValueError("worker pool needs at least one thread")
        self.size = size
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._run, name=f"{name}-{n}", daemon=True) for n in range(size)
        ]
        self._ids: frozenset[int] = frozenset()
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            for thread in self._threads:
                thread.start()
            self._ids = frozenset(t.ident for t in self._threads if t.ident is not None)

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)``; raises RuntimeError after ``shutdown``."""
        if self._stopped:
            raise RuntimeError("worker pool is shut down")
        if not self._started:
            self.start()
        self._queue.put((fn, args))

    def is_worker_thread(self, thread: threading.Thread | None = None) -> bool:
        """True when ``thread`` (default: the current one) belongs to this pool."""
        thread = thread or threading.current_thread()
        return thread.ident in self._ids

    def shutdown(self, wait: bool = True, timeout: float = 5.0) -> None:
        """Let queued jobs finish, then end the threads; ``wait`` at most ``timeout`` seconds
        in all for running handlers (threads still busy after that are left to finish)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            started = self._started
        if not started:
            return
        for _ in self._threads:
            self._queue.put(_STOP)
        if wait:
            deadline = time.monotonic() + timeout
            current = threading.current_thread()
            for thread in self._threads:
                if thread is not current:
                    thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            fn, args = job
            try:
                fn(*args)
            except Exception:
                log.exception("worker job %r failed", fn)
