"""An endpoint's out-queue: bytes waiting for the kernel, in wire order, and who to tell.

Theory of operation. The queue holds ``memoryview``s of bytes it owns: the endpoint hands it
a caller's parts for one call, and before that call returns replaces whatever of them is
still queued by its own copy (``own_last``, ``owned``), so what the kernel took at once was
never copied. ``flush(sock)`` writes as much as the kernel takes,
with ``sendmsg`` over up to 64 views at a time, and trims the head view on a short write.

Two counters, bytes ever queued and bytes ever written, place *marks*: a message's
``on_sent`` callback is due once the written counter passes the queued counter as it was
after that message. Due callbacks are collected in ``fired``, and the endpoint calls them after
releasing its lock (they may take other locks). The same counters give the unsent bytes: over
``high_water`` the queue says ``paused`` (the server stops reading a peer that does not read
its replies), and it says ``resumed`` once half of that has drained. ``max_parts``, when set,
is a second such limit on the number of queued parts: every small reply is one part, so a
peer that never reads the replies to requests answered at once (a PING flood) pins a bounded
number of objects, not only of bytes.

A part may also be a :class:`FileRegion`: bytes of an open file that ``flush`` hands to the
kernel with ``sendfile(2)`` instead of copying them through Python (a brick's big READ
reply without TLS: the page cache's pages go to the socket, and neither a ``pread`` into a
new buffer nor that buffer's copy into the socket happens). The queue owns the region's file
descriptor from the moment the region is queued, and closes it once the region is written or
dropped. ``flush`` writes the views before a region with ``sendmsg`` (``MSG_MORE``: a reply's
header waits for its data, so the two share a segment, as one ``sendmsg`` of both would) and
then the region with ``sendfile``; a queue that holds no region (``regions == 0``) takes the
plain path, so the common small reply pays nothing for them.

Not thread-safe: the endpoint calls every method under its output lock.
"""

from __future__ import annotations

import os
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import cast

from gfrpc.errors import LocalProtocolError

_IOV_MAX = 64
_MSG_MORE = getattr(socket, "MSG_MORE", 0)
#: the fewest bytes a FileRegion holds: more than a message the endpoint joins into one buffer
#: (``endpoint_output.JOIN_BELOW``), so a region is never part of one; smaller reads are
#: cheaper to copy anyway
MIN_REGION = (8 << 10) + 1
#: what a region whose file shrank under it sends instead of the missing bytes, a slice at a time
_ZEROS = bytes(64 << 10)


_live = 0  # FileRegions holding a descriptor (FileRegion.live)
_live_lock = threading.Lock()


class FileRegion:
    """``count`` bytes of the file open as ``fd`` from ``offset``, for ``sendfile(2)``.

    ``fd`` becomes the region's own (give it a duplicate: ``os.dup``): whoever holds the
    region closes it with :meth:`close` (the out-queue does, once it is written or dropped;
    :meth:`take` does). The length is fixed when the region is made, because the record mark
    that precedes it already counts it; if the file is cut shorter before its bytes are sent,
    the missing end goes out as zeros, which keeps the record whole (a reader racing a
    truncation sees the old bytes, a short file's zeros or, here, zeros).
    """

    __slots__ = ("fd", "offset", "remaining", "_short")

    def __init__(self, fd: int, offset: int, count: int) -> None:
        if offset < 0 or count < MIN_REGION:
            os.close(fd)
            raise LocalProtocolError(f"bad file region: offset {offset}, count {count}")
        self.fd = fd
        self.offset = offset
        self.remaining = count
        self._short = False  # the file ended before the region did: zeros from here
        global _live
        with _live_lock:
            _live += 1

    def __len__(self) -> int:
        return self.remaining

    def __repr__(self) -> str:
        return f"<FileRegion fd={self.fd} offset={self.offset} remaining={self.remaining}>"

    def send_to(self, sock: socket.socket) -> int:
        """Write some of the region to ``sock`` (non-blocking): the bytes written, which
        :meth:`skip` must then be told. BlockingIOError/OSError as ``socket.send``."""
        if not self._short:
            n = os.sendfile(sock.fileno(), self.fd, self.offset, self.remaining)
            if n:
                return n
            self._short = True  # sendfile wrote nothing with bytes left: end of file
        return sock.send(memoryview(_ZEROS)[: min(self.remaining, len(_ZEROS))])

    def skip(self, n: int) -> None:
        """``n`` bytes of the region were written."""
        self.offset += n
        self.remaining -= n

    def take(self) -> bytes:
        """The region's bytes, read with ``pread`` (zeros past a shortened file's end), and
        the descriptor closed: for a connection that cannot use sendfile (TLS)."""
        try:
            data = os.pread(self.fd, self.remaining, self.offset)
        finally:
            self.close()
        missing = self.remaining - len(data)
        return data + bytes(missing) if missing > 0 else data

    def close(self) -> None:
        """Close the descriptor (once; later calls do nothing)."""
        fd, self.fd = self.fd, -1
        if fd >= 0:
            global _live
            with _live_lock:
                _live -= 1
            os.close(fd)

    @staticmethod
    def live() -> int:
        """How many regions of this process hold a descriptor (made and not yet closed): a
        maker bounds the descriptors that unsent replies keep open with it."""
        return _live


def owned(part: bytes | bytearray | memoryview | FileRegion) -> bytes | memoryview | FileRegion:
    """A view of ``part`` that nobody else can change: keep immutable bytes and file regions
    (the queue owns those), copy the rest (what the endpoint does to every part it is given,
    before it is queued)."""
    if type(part) is bytes:
        return part
    if isinstance(part, FileRegion):
        return part
    if isinstance(part, memoryview) and part.readonly and type(part.obj) is bytes:
        return part
    return bytes(part)


class OutQueue:
    def __init__(self, high_water: int = 0) -> None:
        self._q: deque[memoryview | FileRegion] = deque()
        #: the queued views themselves (the endpoint tests it for emptiness without a call)
        self.pending = self._q
        self.queued = 0  # bytes ever queued
        self.written = 0  # bytes ever handed to the kernel
        self._marks: deque[tuple[int, Callable[[], None]]] = deque()  # (end offset, on_sent)
        self.fired: list[Callable[[], None]] = []  # on_sent callbacks now due
        self.high_water = high_water
        self.max_parts = 0  # queued parts over which it pauses too (0: no limit)
        self.paused = False  # more than high_water unsent, or more than max_parts queued
        self.resumed = False  # paused ended in the last flush: the input side needs a kick
        self.regions = 0  # FileRegions queued (their descriptors are ours to close)

    def __bool__(self) -> bool:
        return bool(self._q)

    @property
    def unsent(self) -> int:
        return self.queued - self.written

    def extend(self, views: Iterable[memoryview | FileRegion]) -> None:
        for v in views:
            self._q.append(v)
            self.queued += len(v)
            if type(v) is FileRegion:
                self.regions += 1
        if not self.paused and self._over():
            self.paused = True

    def append(self, view: memoryview) -> None:
        self.extend((view,))

    def push(self, view: memoryview) -> None:
        """``append`` for the hot path: one view."""
        self._q.append(view)
        self.queued += len(view)
        if not self.paused and self._over():
            self.paused = True

    def _over(self) -> bool:
        """Whether the queue holds more than it may before its endpoint stops reading."""
        high_water, max_parts = self.high_water, self.max_parts
        return bool(
            (high_water and self.queued - self.written > high_water)
            or (max_parts and len(self._q) > max_parts)
        )

    def _drained(self) -> bool:
        """Whether a paused queue has drained to half of each of its limits."""
        high_water, max_parts = self.high_water, self.max_parts
        return (not high_water or self.queued - self.written <= high_water // 2) and (
            not max_parts or len(self._q) <= max_parts // 2
        )

    def own_last(self, n: int) -> None:
        """Make the queue the owner of its last ``n`` parts (or as many as are left): a part
        lent for one call (a caller's buffer, which it may change once the call returns) is
        replaced by a copy of what is left of it (``owned``)."""
        q = self._q
        for i in range(max(len(q) - n, 0), len(q)):
            v = q[i]
            if isinstance(v, memoryview):
                own = owned(v)  # a memoryview it may keep, or bytes
                q[i] = own if isinstance(own, memoryview) else memoryview(cast(bytes, own))

    def mark(self, on_sent: Callable[[], None]) -> None:
        """Call ``on_sent`` once everything queued so far has been written: due at once (in
        ``fired``) when it already has been, as when a big TLS message's every slice went to
        the kernel while it was being encrypted; no later flush would come to fire it."""
        if self.written == self.queued:
            self.fired.append(on_sent)
        else:
            self._marks.append((self.queued, on_sent))

    def flush(self, sock: socket.socket) -> OSError | None:
        """Write what the kernel takes; the error if the socket failed (the queue is cleared)."""
        if self.regions:
            return self._flush_regions(sock)
        q = self._q
        while q:
            try:
                if len(q) == 1:
                    sent = sock.send(q[0])  # type: ignore[arg-type]  # (no region here)
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
                    q[0] = head[sent:]  # type: ignore[index]  # (no region here)
                    sent = 0
            marks = self._marks  # (_written_to, inline on the hot path)
            while marks and marks[0][0] <= self.written:
                self.fired.append(marks.popleft()[1])
            if self.paused and self._drained():
                self.paused = False
                self.resumed = True
        return None

    def _written_to(self, written: int) -> None:
        """Fire the marks that ``written`` passed; end a pause that drained."""
        marks = self._marks
        while marks and marks[0][0] <= written:
            self.fired.append(marks.popleft()[1])
        if self.paused and self._drained():
            self.paused = False
            self.resumed = True

    def _flush_regions(self, sock: socket.socket) -> OSError | None:
        """``flush`` of a queue holding file regions: the views before a region in one
        ``sendmsg``, a region with ``sendfile``."""
        q = self._q
        while q:
            head = q[0]
            try:
                if isinstance(head, FileRegion):
                    sent = head.send_to(sock)
                else:
                    views = _first(q, _IOV_MAX)
                    # a region follows: MSG_MORE keeps a header in the segment of its data
                    # (the peer is woken once per reply, not for the header alone)
                    more = len(views) < len(q) and isinstance(q[len(views)], FileRegion)
                    sent = sock.sendmsg(views, (), _MSG_MORE if more else 0)
            except BlockingIOError:
                return None
            except OSError as exc:
                self._clear()
                return exc
            self.written += sent
            while sent and q:
                head = q[0]
                if sent >= len(head):
                    sent -= len(head)
                    q.popleft()
                    if type(head) is FileRegion:
                        head.close()
                        self.regions -= 1
                elif isinstance(head, FileRegion):
                    head.skip(sent)
                    sent = 0
                else:
                    q[0] = head[sent:]
                    sent = 0
            self._written_to(self.written)
        return None

    def _clear(self) -> None:
        """Empty the queue, closing the regions it held."""
        if self.regions:
            for part in self._q:
                if type(part) is FileRegion:
                    part.close()
            self.regions = 0
        self._q.clear()

    def drop(self) -> int:
        """Forget everything (the connection is gone); due callbacks go to ``fired``."""
        dropped = self.unsent
        self._clear()
        self.fired.extend(cb for _, cb in self._marks)
        self._marks.clear()
        self.written = self.queued
        return dropped


def _first(q: deque[memoryview | FileRegion], n: int) -> list[memoryview]:
    """Up to ``n`` views from the head of ``q``, stopping before a file region."""
    out: list[memoryview] = []
    for v in q:
        if isinstance(v, FileRegion):
            break
        out.append(v)
        if len(out) == n:
            break
    return out
