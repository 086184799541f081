"""An endpoint's out-queue: bytes waiting for the kernel, in wire order, and who to tell.

Theory of operation. The queue holds ``memoryview``s of bytes it owns (the endpoint copies
anything mutable before it gets here). ``flush(sock)`` writes as much as the kernel takes,
with ``sendmsg`` over up to 64 views at a time, and trims the head view on a short write.

Two counters, bytes ever queued and bytes ever written, place *marks*: a message's
``on_sent`` callback is due once the written counter passes the queued counter as it was
after that message. Due callbacks are collected in ``fired``, and the endpoint calls them after
releasing its lock (they may take other locks). The same counters give the unsent bytes: over
``high_water`` the queue says ``paused`` (the server stops reading a peer that does not read
its replies), and it says ``resumed`` once half of that has drained.

Not thread-safe: the endpoint calls every method under its output lock.
"""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import Callable, Iterable

_IOV_MAX = 64


def owned(part: bytes | bytearray | memoryview) -> bytes | memoryview:
    """A view of ``part`` that nobody else can change: keep immutable bytes, copy the rest
    (what the endpoint does to every part it is given, before it is queued)."""
    if type(part) is bytes:
        return part
    if isinstance(part, memoryview) and part.readonly and type(part.obj) is bytes:
        return part
    return bytes(part)


class OutQueue:
    def __init__(self, high_water: int = 0) -> None:
        self._q: deque[memoryview] = deque()
        #: the queued views themselves (the endpoint tests it for emptiness without a call)
        self.pending = self._q
        self.queued = 0  # bytes ever queued
        self.written = 0  # bytes ever handed to the kernel
        self._marks: deque[tuple[int, Callable[[], None]]] = deque()  # (end offset, on_sent)
        self.fired: list[Callable[[], None]] = []  # on_sent callbacks now due
        self.high_water = high_water
        self.paused = False  # more than high_water unsent
        self.resumed = False  # paused ended in the last flush: the input side needs a kick

    def __bool__(self) -> bool:
        return bool(self._q)

    @property
    def unsent(self) -> int:
        return self.queued - self.written

    def extend(self, views: Iterable[memoryview]) -> None:
        for v in views:
            self._q.append(v)
            self.queued += len(v)
        if self.high_water and not self.paused and self.unsent > self.high_water:
            self.paused = True

    def append(self, view: memoryview) -> None:
        self.extend((view,))

    def push(self, view: memoryview) -> None:
        """``append`` for the hot path: one view."""
        self._q.append(view)
        self.queued += len(view)
        if self.high_water and not self.paused and self.queued - self.written > self.high_water:
            self.paused = True

    def mark(self, on_sent: Callable[[], None]) -> None:
        """Call ``on_sent`` once everything queued so far has been written."""
        self._marks.append((self.queued, on_sent))

    def flush(self, sock: socket.socket) -> OSError | None:
        """Write what the kernel takes; the error if the socket failed (the queue is cleared)."""
        q = self._q
        while q:
            try:
                if len(q) == 1:
                    sent = sock.send(q[0])
                else:
                    sent = sock.sendmsg(_first(q, _IOV_MAX))
            except BlockingIOError:
                return None
            except OSError as exc:
                q.clear()
                return exc
            self.written += sent
            if len(q) == 1 and sent == len(q[0]):
                q.clear()  # the usual case: one reply, written whole
            while sent and q:
                head = q[0]
                if sent >= len(head):
                    sent -= len(head)
                    q.popleft()
                else:
                    q[0] = head[sent:]
                    sent = 0
            marks = self._marks
            while marks and marks[0][0] <= self.written:
                self.fired.append(marks.popleft()[1])
            if self.paused and self.unsent <= self.high_water // 2:
                self.paused = False
                self.resumed = True
        return None

    def drop(self) -> int:
        """Forget everything (the connection is gone); due callbacks go to ``fired``."""
        dropped = self.unsent
        self._q.clear()
        self.fired.extend(cb for _, cb in self._marks)
        self._marks.clear()
        self.written = self.queued
        return dropped


def _first(q: deque[memoryview], n: int) -> list[memoryview]:
    out = []
    for v in q:
        out.append(v)
        if len(out) == n:
            break
    return out
