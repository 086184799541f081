"""One timer thread for every RPC client: a heap of deadlines and a condition variable.

Theory of operation. GlusterFS runs all of a process's timers (call-bail, ping, reconnect) on
one ``glfs_timer`` thread. We do the same: ``TimerThread.call_later(delay, fn, *args)`` pushes
``(deadline, seq, handle)`` onto a heap and notifies the condition; the thread sleeps on the
condition until the earliest deadline, pops every due handle and runs it *outside* the lock.
Cancelling only marks the handle (O(1)); the heap is compacted when more than half of it is
cancelled (a user that arms and cancels timers at a high rate would otherwise leave every
one of them in the heap until its deadline; the RPC client keeps one frame-timeout timer per
connection, not one per call, for the same reason and to spare each call the lock).

Callbacks run on the timer thread: they must be short and must never block (a blocked timer
thread delays every ping and frame-timeout in the process, cf. GlusterFS issue #4371).
Exceptions from callbacks are logged and swallowed.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVarTuple

log = logging.getLogger("gfrpc.rpc.timers")

_Ts = TypeVarTuple("_Ts")

_COMPACT_MIN = 256  # do not bother compacting small heaps


class TimerHandle:
    """A scheduled callback. ``cancel()`` is idempotent and thread-safe."""

    __slots__ = ("when", "_fn", "_args", "_owner", "cancelled", "_in_heap")

    def __init__(
        self,
        when: float,
        fn: Callable[..., object],
        args: tuple[object, ...],
        owner: TimerThread,
    ) -> None:
        self.when = when
        self._fn: Callable[..., object] | None = fn
        self._args = args
        self._owner = owner
        self.cancelled = False
        self._in_heap = True

    def cancel(self) -> None:
        """Stop the callback from running (no effect once it has started)."""
        if not self.cancelled:
            self.cancelled = True
            self._fn = None
            self._args = ()
            self._owner._note_cancel(self)

    def _run(self) -> None:
        fn, args = self._fn, self._args
        self._fn, self._args = None, ()
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:
            log.exception("timer callback %r failed", fn)


class TimerThread:
    """A heap of deadlines served by one daemon thread (started on first use)."""

    def __init__(self, name: str = "gfrpc-timer") -> None:
        self._name = name
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()
        self._cancelled = 0
        self._thread: threading.Thread | None = None
        self._stopping = False

    def call_later(self, delay: float, fn: Callable[[*_Ts], object], *args: *_Ts) -> TimerHandle:
        """Run ``fn(*args)`` on the timer thread after ``delay`` seconds."""
        return self.call_at(time.monotonic() + max(0.0, delay), fn, *args)

    def call_at(self, when: float, fn: Callable[[*_Ts], object], *args: *_Ts) -> TimerHandle:
        """Run ``fn(*args)`` on the timer thread at ``when`` (``time.monotonic()`` clock)."""
        handle = TimerHandle(when, fn, args, self)
        with self._cond:
            if self._stopping:
                raise RuntimeError("timer thread is stopped")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, (when, next(self._seq), handle))
            if self._heap[0][2] is handle:
                self._cond.notify()
        return handle

    def pending(self) -> int:
        """How many handles are in the heap, cancelled ones included (for tests)."""
        with self._cond:
            return len(self._heap)

    def is_timer_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def stop(self, timeout: float = 5.0) -> None:
        """Drop every scheduled callback and end the thread."""
        with self._cond:
            self._stopping = True
            for _, _, handle in self._heap:
                handle.cancelled = True
                handle._in_heap = False
            self._heap.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _note_cancel(self, handle: TimerHandle) -> None:
        with self._cond:
            if not handle._in_heap:
                return
            self._cancelled += 1
            if self._cancelled > _COMPACT_MIN and self._cancelled * 2 > len(self._heap):
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def _run(self) -> None:
        while True:
            due: list[TimerHandle] = []
            with self._cond:
                while not self._stopping:
                    if not self._heap:
                        self._cond.wait()
                        continue
                    delay = self._heap[0][0] - time.monotonic()
                    if delay <= 0:
                        break
                    self._cond.wait(delay)
                if self._stopping:
                    return
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    _, _, handle = heapq.heappop(self._heap)
                    handle._in_heap = False
                    if handle.cancelled:
                        self._cancelled = max(0, self._cancelled - 1)
                    else:
                        due.append(handle)
            for handle in due:
                if not handle.cancelled:
                    handle._run()


_shared: TimerThread | None = None
_shared_lock = threading.Lock()


def shared_timers() -> TimerThread:
    """The process-wide timer thread that RPC clients use unless given their own."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = TimerThread()
        return _shared
