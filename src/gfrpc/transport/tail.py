"""The unread end of a big record: bytes a handler may move from the socket into a file.

Theory of operation. Without TLS a 1 MiB WRITE used to be copied twice by the brick: by
``recv`` from the socket into the record's memory, and by ``pwrite`` from there into the page
cache. When the whole rest of a big record is already queued in the socket (``FIONREAD``), the
endpoint hands the record up before reading that rest (``Endpoint.unread_tail``), and a
handler may move it into a file with ``splice(2)``: socket to a pipe of this thread (the kernel
moves page references) and pipe to file (one copy, into the page cache). Measured on this
machine (docs/ARCHITECTURE.md, Performance notes 43) that costs less CPU than ``recv`` and
``pwrite`` of the same bytes.

Rules that keep the byte stream in step and every record whole:

* a tail is offered only when all of it is queued in the kernel, so taking it never waits
  for the peer (a peer that closed has already sent every byte of it), and only during the
  ``record_received`` call of its record, on the thread that delivers it;
* what a handler does not take, the endpoint reads into the record's memory (:meth:`fill`)
  before it reads anything else: a handler that ignores the tail sees a whole record, and one
  that keeps the record past its return (an io-thread, a held request) calls :meth:`fill`
  first;
* the bytes of the tail that went into a file are not in the record's memory afterwards; a
  failed file write reads what the pipe still holds back into that memory, so the rest of the
  stream is untouched whatever the file system answered;
* a file that splice(2) cannot write into (``EINVAL``: its file system has no splice support,
  as some FUSE and network file systems lack it, or it is open O_APPEND) is not an error: the
  bytes go back into the record, :attr:`UnreadTail.refused` says so, and the caller copies
  them with ``pwrite`` like any others.

Each thread that splices has one pipe, emptied after every use (its pages go back at once),
and closed when the thread ends.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import termios
import threading
from array import array
from typing import Final

from gfrpc.errors import RemoteProtocolError

__all__ = ["PIPE_BYTES", "UnreadTail", "queued_bytes"]

#: the pipe each thread splices through (at most this much per pair of ``splice`` calls; the
#: kernel's default of 64 KiB costs more than a copy, measured in notes 43)
PIPE_BYTES = 1 << 20

#: what splice(2) answers for a file it cannot write into, rather than for the write itself
REFUSED: Final = frozenset({errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS})

_pipes = threading.local()


def queued_bytes(fd: int) -> int:
    """Bytes the kernel holds unread on the socket ``fd`` (``FIONREAD``)."""
    count = array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, count)
    return count[0]


class _Pipe:
    """A thread's pipe; closed when the thread ends (its ``threading.local`` goes, and with
    it this object: the own-thread poller's threads end with their connections)."""

    __slots__ = ("r", "w", "capacity")

    def __init__(self) -> None:
        self.r, self.w = os.pipe2(os.O_CLOEXEC)
        try:
            fcntl.fcntl(self.w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:  # above /proc/sys/fs/pipe-max-size for this user: the default will do
            pass
        self.capacity = fcntl.fcntl(self.w, fcntl.F_GETPIPE_SZ)

    def close(self) -> None:
        r, w, self.r, self.w = self.r, self.w, -1, -1
        if r >= 0:
            os.close(r)
            os.close(w)

    def __del__(self) -> None:
        self.close()


def _pipe() -> _Pipe:
    """This thread's pipe, made on first use."""
    pipe: _Pipe | None = getattr(_pipes, "pipe", None)
    if pipe is None:
        pipe = _pipes.pipe = _Pipe()
    return pipe


class UnreadTail:
    """The last ``len(view)`` bytes of a record, ``remaining`` of them still in the socket.

    ``view`` is the record's own memory for those bytes; what the kernel still holds is
    always its end (``view[len(view) - remaining:]``).
    """

    __slots__ = ("_sock", "_view", "remaining", "refused")

    def __init__(self, sock: socket.socket, view: memoryview) -> None:
        self._sock = sock
        self._view = view
        self.remaining = len(view)
        #: the file refused the first spliced bytes (``REFUSED``); they are back in the record
        self.refused = False

    def __repr__(self) -> str:
        return f"<UnreadTail {self.remaining} of {len(self._view)} bytes unread>"

    def fill(self) -> None:
        """Read what is still in the socket into the record's memory."""
        view = self._view
        while self.remaining:
            start = len(view) - self.remaining
            try:
                n = self._sock.recv_into(view[start:], self.remaining)
            except BlockingIOError:  # queued bytes are never taken back; but never spin
                raise RemoteProtocolError("the rest of a record vanished from the socket") from None
            if n == 0:
                raise RemoteProtocolError("EOF in the middle of a record")
            self.remaining -= n

    def splice_to(self, fd: int, offset: int) -> int:
        """Move what is still in the socket into the file ``fd`` at ``offset``; bytes written.

        It stops early if the socket unexpectedly has nothing (``remaining`` > 0), or the file
        takes nothing or refuses splice (``REFUSED``; :attr:`refused` if it took no spliced
        byte at all): the bytes left are read back into the record's memory, and the caller
        fills and copies the rest. Any other file error is raised after the same reading back
        (see the module notes).
        """
        pipe = _pipe()
        r, w, cap = pipe.r, pipe.w, pipe.capacity
        sock = self._sock.fileno()
        written = 0
        while self.remaining:
            try:
                n = os.splice(sock, w, min(cap, self.remaining), flags=os.SPLICE_F_NONBLOCK)
            except BlockingIOError:
                return written
            if n <= 0:
                return written
            at = len(self._view) - self.remaining  # where these n bytes belong in the record
            self.remaining -= n
            try:
                while n:
                    k = os.splice(r, fd, n, offset_dst=offset + written)
                    if k <= 0:
                        self._unpipe(r, at, n)
                        return written
                    written += k
                    at += k
                    n -= k
            except OSError as exc:
                self._unpipe(r, at, n)
                if exc.errno not in REFUSED:
                    raise
                self.refused = not written
                return written
        return written

    def _unpipe(self, r: int, at: int, count: int) -> None:
        """Read ``count`` bytes left in the pipe back into the record at ``at``."""
        view = self._view
        while count:
            n = os.readv(r, [view[at : at + count]])
            if n <= 0:  # cannot happen with bytes in the pipe; never loop on it, and never let
                _discard_pipe()  # what is left in the pipe reach the next record's file
                return
            at += n
            count -= n


def _discard_pipe() -> None:
    """Close this thread's pipe; the next splice makes a new, empty one."""
    pipe: _Pipe | None = getattr(_pipes, "pipe", None)
    _pipes.pipe = None
    if pipe is not None:
        pipe.close()
