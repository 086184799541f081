"""Open files and directories of the brick, and the per-connection fd table.

Theory of operation. A client refers to an open file by an int64 the server chose (GlusterFS's
``fdtable``: the lowest free slot, from 0; ``-2`` is the anonymous fd and never allocated). One
``FdTable`` lives per client connection; RELEASE / RELEASEDIR of an unknown number is harmless,
and ``close_all()`` on disconnect leaves nothing open.

Open-fd cap. GlusterFS's fdtable grows without bound, so one client can hold every descriptor
the brick process may open, and then every other client's OPEN/CREATE/OPENDIR fails too. Here
each table holds at most ``max_open`` fds (``DEFAULT_MAX_OPEN_FDS`` = 4096 unless the brick is
configured otherwise); one more is EMFILE for that connection alone, as open(2) answers a
process at its own limit. Why 4096: a FUSE mount funnels every process of its machine through
one connection, and each such process may keep the usual 1024 (RLIMIT_NOFILE's default soft
limit) open, so a busy mount legitimately needs several times that; glusterd's systemd unit
gives a brick 65536 descriptors, so 4096 still leaves room for a dozen such clients plus the
brick's own. Anonymous fds (opened for one call) are not counted.

FOP handlers run on a worker pool, so a RELEASE can arrive while a READ on the same fd is still
running on another thread. An ``OpenFile`` is therefore *pinned* for each use: ``close()`` only
marks it closing, and the OS descriptor is closed when the last user unpins it. No thread can
ever use a descriptor number that was closed and reused meanwhile.

Directory listings and cookies. Python has no ``telldir``/``seekdir``, and a cookie must stay
meaningful after entries come and go. Each entry's cookie is a 48-bit hash of its name; a
listing is the snapshot of the directory sorted by cookie,
"." and ".." first with cookies 1 and 2. An entry's ``d_off`` is its own cookie, and READDIR at
offset X continues with the first entry whose cookie is greater than X, so a listing resumes
correctly from any earlier cookie, even on another fd. A snapshot is taken at offset 0 (a
rewind) or on the first call of an fd, and later pages are served from it; entries created
after the snapshot show up on the next rewind, as POSIX allows. Equal hashes of two names are
made distinct by bumping the later one, so no entry can be skipped at a page boundary.

Why 48 bits and not 63 as ext4: GlusterFS's DHT folds the subvolume number into the ``d_off``
it passes up (``gf_itransform``). An offset below 2**61 / N (N subvolumes) is kept exactly
(``d_off * N + n``); a larger one loses its lowest ``log2(N) + 1`` bits, and a listing that
resumes from such a truncated cookie returns its last entry again, forever. 48-bit cookies
stay exact for up to 8192 subvolumes.
"""

from __future__ import annotations

import bisect
import errno
import hashlib
import heapq
import os
import stat as st_
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass

from gfrpc.errors import ConfigError
from gfrpc.programs.fops_types import IattValue

DT_UNKNOWN, DT_FIFO, DT_CHR, DT_DIR, DT_BLK, DT_REG, DT_LNK, DT_SOCK = 0, 1, 2, 4, 6, 8, 10, 12
_COOKIE_MASK = (1 << 48) - 1  # see the module docstring: DHT keeps these exact
_FIRST_NAME_COOKIE = 3
#: open fds one connection may hold (see the module docstring); read when a table is made
DEFAULT_MAX_OPEN_FDS = 4096


def d_type_of(mode: int) -> int:
    """``DT_*`` of an ``st_mode``."""
    return {
        st_.S_IFIFO: DT_FIFO,
        st_.S_IFCHR: DT_CHR,
        st_.S_IFDIR: DT_DIR,
        st_.S_IFBLK: DT_BLK,
        st_.S_IFREG: DT_REG,
        st_.S_IFLNK: DT_LNK,
        st_.S_IFSOCK: DT_SOCK,
    }.get(st_.S_IFMT(mode), DT_UNKNOWN)


def name_cookie(name: str) -> int:
    """The stable 48-bit cookie of an entry name (never 0, 1 or 2)."""
    digest = hashlib.blake2b(os.fsencode(name), digest_size=8).digest()
    return max(int.from_bytes(digest, "big") & _COOKIE_MASK, _FIRST_NAME_COOKIE)


@dataclass(frozen=True, slots=True)
class DirEntry:
    """One READDIR / READDIRP entry. ``stat`` is set by READDIRP only; an entry with no gfid
    yet has ``stat.ia_gfid`` all zero (the client looks it up, as with GlusterFS)."""

    d_ino: int
    d_off: int
    d_type: int
    name: str
    stat: IattValue | None = None


class _Pinned:
    """Shared use/close protocol of open files and directories."""

    def __init__(self, fd: int, gfid: bytes) -> None:
        self.fd = fd
        self.gfid = gfid
        self._lock = threading.Lock()
        self._users = 0
        self._closing = False

    def pinned(self) -> AbstractContextManager[int]:
        """Use the OS descriptor for one ``with`` block; EBADF once the object is released.
        (The object is its own context manager: a use keeps no state but the count, so
        nested and concurrent uses share it; a generator-based one cost about 120 bytecodes
        per use.)"""
        return self

    def __enter__(self) -> int:
        with self._lock:
            if self._closing:
                raise OSError(errno.EBADF, "file descriptor released")
            self._users += 1
        return self.fd

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._users -= 1
            last = self._closing and self._users == 0
        if last:
            os.close(self.fd)

    def close(self) -> None:
        """Release: the descriptor is closed now, or when its last user finishes."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            now = self._users == 0
        if now:
            os.close(self.fd)

    @property
    def closed(self) -> bool:
        return self._closing


class OpenFile(_Pinned):
    """An open regular file (``flags`` as given to open/create)."""

    def __init__(self, fd: int, gfid: bytes, flags: int) -> None:
        super().__init__(fd, gfid)
        self.flags = flags


@dataclass(frozen=True, slots=True)
class _Slot:
    cookie: int
    name: str
    d_ino: int
    d_type: int


class OpenDir(_Pinned):
    """An open directory (``fd`` is O_RDONLY) and its listing snapshot."""

    def __init__(self, fd: int, gfid: bytes, *, hide: str | None = None) -> None:
        super().__init__(fd, gfid)
        self._hide = hide
        self._snapshot: list[_Slot] | None = None
        self._cookies: list[int] = []
        self._snap_lock = threading.Lock()

    def entries_after(self, offset: int) -> list[_Slot]:
        """The snapshot's entries with a cookie greater than ``offset`` (fresh at offset 0)."""
        with self._snap_lock:
            if self._snapshot is None or offset == 0:
                with self.pinned() as fd:
                    self._snapshot = self._take_snapshot(fd)
                self._cookies = [s.cookie for s in self._snapshot]
            start = bisect.bisect_right(self._cookies, offset)
            return self._snapshot[start:]

    def _take_snapshot(self, fd: int) -> list[_Slot]:
        rows: list[tuple[int, str, int, int]] = []
        with os.scandir(fd) as it:
            for e in it:
                if e.name == self._hide:
                    continue
                if e.is_dir(follow_symlinks=False):
                    dt = DT_DIR
                elif e.is_file(follow_symlinks=False):
                    dt = DT_REG
                elif e.is_symlink():
                    dt = DT_LNK
                else:
                    try:
                        dt = d_type_of(e.stat(follow_symlinks=False).st_mode)
                    except FileNotFoundError:
                        continue
                rows.append((name_cookie(e.name), e.name, e.inode(), dt))
        rows.sort()
        me = os.fstat(fd)
        slots = [_Slot(1, ".", me.st_ino, DT_DIR), _Slot(2, "..", 0, DT_DIR)]
        last = 2
        for cookie, name, ino, dt in rows:
            cookie = max(cookie, last + 1)  # equal hashes: keep cookies distinct and ordered
            slots.append(_Slot(cookie, name, ino, dt))
            last = cookie
        return slots


class FdTable:
    """Per-connection map of int64 fd numbers to open files/dirs (lowest free number first),
    holding at most ``max_open`` of them (None: ``DEFAULT_MAX_OPEN_FDS`` at construction)."""

    def __init__(self, max_open: int | None = None) -> None:
        if max_open is None:
            max_open = DEFAULT_MAX_OPEN_FDS
        if max_open < 1:
            raise ConfigError(f"max open fds must be at least 1, not {max_open}")
        self.max_open = max_open
        self._lock = threading.Lock()
        self._objs: dict[int, OpenFile | OpenDir] = {}
        self._free: list[int] = []
        self._next = 0

    def check_room(self) -> None:
        """EMFILE if the table is full (lets a caller refuse before it opens or creates)."""
        with self._lock:
            if len(self._objs) >= self.max_open:
                raise OSError(errno.EMFILE, f"this client has {self.max_open} fds open already")

    def add(self, obj: OpenFile | OpenDir) -> int:
        """Register ``obj`` under the lowest free number. When the table is full ``obj`` is
        closed and EMFILE raised, so a refused open never leaks a descriptor."""
        with self._lock:
            if len(self._objs) < self.max_open:
                if self._free:
                    n = heapq.heappop(self._free)
                else:
                    n = self._next
                    self._next += 1
                self._objs[n] = obj
                return n
        obj.close()
        raise OSError(errno.EMFILE, f"this client has {self.max_open} fds open already")

    def get(self, n: int) -> OpenFile | OpenDir:
        """The object of fd number ``n``; EBADF if unknown."""
        with self._lock:
            obj = self._objs.get(n)
        if obj is None:
            raise OSError(errno.EBADF, f"unknown fd {n}")
        return obj

    def get_file(self, n: int, on_dir: int = errno.EBADF) -> OpenFile:
        """The open file of fd number ``n``; a directory's fd is ``on_dir`` (the errno the
        kernel gives the call on a directory: posix makes it there, and gfrpc answers as
        glusterfsd does)."""
        obj = self.get(n)
        if not isinstance(obj, OpenFile):
            raise OSError(on_dir, f"fd {n} is a directory")
        return obj

    def get_dir(self, n: int) -> OpenDir:
        """The open directory of fd number ``n``; EINVAL for a file's fd, as posix answers a
        READDIR on one (its fd has no directory stream)."""
        obj = self.get(n)
        if not isinstance(obj, OpenDir):
            raise OSError(errno.EINVAL, f"fd {n} is not a directory")
        return obj

    def release(self, n: int) -> None:
        """RELEASE: close and forget fd number ``n`` (unknown numbers are ignored)."""
        with self._lock:
            obj = self._objs.pop(n, None)
            if obj is not None:
                heapq.heappush(self._free, n)
        if obj is not None:
            obj.close()

    releasedir = release

    def close_all(self) -> None:
        """The client disconnected: release every fd it had."""
        with self._lock:
            objs = list(self._objs.values())
            self._objs.clear()
            self._free.clear()
            self._next = 0
        for obj in objs:
            obj.close()

    def __len__(self) -> int:
        with self._lock:
            return len(self._objs)
