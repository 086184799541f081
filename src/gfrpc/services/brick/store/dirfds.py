"""Descriptors lent for one ``with`` block, and the cache of open directory descriptors.

Theory of operation. Open directory descriptors are cached by gfid (``DirFdCache``): an open
fd follows its directory through any rename, so the cache needs no invalidation except on
rmdir, which evicts the gfid, and a directory removed behind the brick's back shows
``st_nlink == 0`` and is evicted at its next use. ``pin(gfid)`` lends a cached fd for one
``with`` block as an ``InodeRef``: eviction marks the entry and the last unpin closes it, so
no descriptor in use is ever closed and no ``dup``/``close`` pair is paid per request. The
``fstat`` that tells whether a cached directory is still there is the one the borrower gets
(``InodeRef.stat``). The least recently pinned entries go beyond ``size``. One lock guards the
table and the pin counts; no system call but ``close`` runs under it.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable


class InodeRef:
    """A descriptor on one inode, lent for a ``with`` block; ``fd`` must not be closed by the
    borrower, nor used after the block."""

    __slots__ = ("fd", "_st", "_release")

    def __init__(
        self, fd: int, st: os.stat_result | None, release: Callable[[], object] | None
    ) -> None:
        self.fd = fd
        self._st = st
        self._release = release

    def __enter__(self) -> InodeRef:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._release is not None:
            self._release()

    def stat(self) -> os.stat_result:
        """The inode's stat as of its resolution (taken now if it was not taken then). Use
        ``os.fstat(ref.fd)`` for a stat after a change."""
        if self._st is None:
            self._st = os.fstat(self.fd)
        return self._st


class _Cached:
    """One cached directory descriptor: lent to ``pins`` users; ``dropped`` once evicted (the
    last unpin then closes it)."""

    __slots__ = ("fd", "pins", "dropped")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pins = 0
        self.dropped = False


class DirFdCache:
    """Open directory descriptors by gfid, lent pinned (see the module notes)."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._dirs: OrderedDict[bytes, _Cached] = OrderedDict()

    def holds(self, gfid: bytes) -> bool:
        with self._lock:
            return gfid in self._dirs

    def pin(self, gfid: bytes) -> InodeRef | None:
        """The cached fd of ``gfid`` pinned, with its stat, or None (not cached, or removed
        behind our back: then evicted)."""
        with self._lock:
            c = self._dirs.get(gfid)
            if c is None:
                return None
            c.pins += 1
            self._dirs.move_to_end(gfid)
        try:
            st = os.fstat(c.fd)
        except BaseException:
            self._unpin(c)
            raise
        if st.st_nlink == 0:  # removed behind our back
            self._unpin(c)
            self.evict(gfid, only=c)
            return None
        return InodeRef(c.fd, st, lambda: self._unpin(c))

    def _unpin(self, c: _Cached) -> None:
        with self._lock:
            c.pins -= 1
            last = c.dropped and c.pins == 0
        if last:
            os.close(c.fd)

    @staticmethod
    def _drop(c: _Cached) -> bool:
        """Mark ``c`` evicted (the lock held); whether it can be closed now."""
        c.dropped = True
        return c.pins == 0

    def put(self, gfid: bytes, fd: int) -> None:
        """Remember a dup of directory ``fd`` (the caller keeps ``fd``)."""
        with self._lock:
            if gfid in self._dirs:
                return
            self._dirs[gfid] = _Cached(os.dup(fd))
            close = []
            while len(self._dirs) > self.size:
                _, old = self._dirs.popitem(last=False)
                if self._drop(old):
                    close.append(old.fd)
        for old_fd in close:
            os.close(old_fd)

    def evict(self, gfid: bytes, *, only: _Cached | None = None) -> None:
        """Forget the cached fd of ``gfid`` (with ``only``: if it is still that one)."""
        with self._lock:
            c = self._dirs.get(gfid)
            if c is None or (only is not None and c is not only):
                return
            del self._dirs[gfid]
            close = self._drop(c)
        if close:
            os.close(c.fd)

    def close(self) -> list[int]:
        """Forget every entry; the descriptors no one has pinned, for the caller to close (the
        others close at their last unpin)."""
        with self._lock:
            fds = []
            for c in self._dirs.values():
                if self._drop(c):
                    fds.append(c.fd)
            self._dirs.clear()
        return fds
