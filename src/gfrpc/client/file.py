"""File objects, stat results and directory entries of the client API.

:class:`File` is an ``io.RawIOBase`` over one remote fd (OPEN/CREATE on a brick).
``Volume.open`` wraps it in ``io.BufferedReader``/``BufferedWriter``/``BufferedRandom`` as the
built-in ``open()`` does. Theory of operation of its data path:

* A ``write(b)`` is cut into records of at most ``max_write`` bytes (default 1 MiB), each sent
  as a WRITE at an explicit offset with a *view* of ``b`` as payload (the transport copies a
  mutable buffer once when it queues it, and keeps ``bytes`` by reference). Up to ``window``
  WRITEs are in flight; when the window is full the oldest reply is awaited. Every reply is
  awaited before ``write`` returns; the *first* failure (in offset order) is raised and
  nothing is sent after it was seen. A short write returns the bytes written before it, so a
  BufferedWriter retries the rest.
* ``readinto(b)`` works the same way with READs of at most ``max_read`` bytes, copying each
  reply's data into ``b`` (one copy: the record buffer into the caller's memory). A short READ
  is end of file; later replies are discarded.
* Append mode (``'a'``) does not send O_APPEND: several pipelined appends could land in any
  order. The position starts at the file size (FSTAT) and writes use explicit offsets, so
  appends from *one* writer are ordered; concurrent appenders are not coordinated.
* ``close()`` sends the RELEASE (whose reply GlusterFS ignores) and does not wait for it.
  FUSE and gfapi send a FLUSH first and wait for it; on the brick a FLUSH drops the POSIX
  locks of the caller's lock owner (GlusterFS's locks translator), and in the client it is
  where write-behind reports what it held back. This client takes no locks and has no
  write-behind (every WRITE's reply is checked before ``write`` returns), so the FLUSH would
  only cost a round trip, for written files as for read ones (Performance notes 31). Should
  the client ever take locks, close must flush again.
* After the brick connection was re-established (``BrickConnection.generation`` moved on), the
  old fd no longer exists on the brick: the next call first reopens the file by gfid with its
  open flags minus O_CREAT, O_EXCL and O_TRUNC (GlusterFS's client_reopen), then goes on at
  the same position. A file whose fd died with a connection (or whose connection is down when
  it is closed) is closed without FLUSH/RELEASE, and closing never reconnects.
"""

from __future__ import annotations

import io
import os
import stat as _stat
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gfrpc.programs import fops

from .connection import check

if TYPE_CHECKING:
    from .connection import BrickConnection

__all__ = ["DirEntry", "File", "StatResult", "stat_from_iatt"]

DEFAULT_WINDOW = 8
#: bytes ``File.readall`` asks for before it asks for the file's size: a smaller file is read
#: with that one READ (its reply is short), which is the common case of small-file reads
FIRST_READ = 128 << 10
#: the most ``File.readall`` sets aside on the strength of the size a brick reports: past it the
#: buffer grows only as data arrives, so a brick that claims a huge size cannot make the client
#: allocate it
SIZE_HINT_MAX = 256 << 20


@dataclass(frozen=True, slots=True)
class StatResult:
    """What ``os.stat`` returns, from a brick's iatt, plus the GlusterFS ``gfid``."""

    st_mode: int
    st_ino: int
    st_dev: int
    st_nlink: int
    st_uid: int
    st_gid: int
    st_size: int
    st_atime: float
    st_mtime: float
    st_ctime: float
    st_atime_ns: int
    st_mtime_ns: int
    st_ctime_ns: int
    st_blksize: int
    st_blocks: int
    st_rdev: int
    gfid: uuid.UUID

    def to_os(self) -> os.stat_result:
        """The same values as an ``os.stat_result``."""
        return os.stat_result(
            (
                self.st_mode,
                self.st_ino,
                self.st_dev,
                self.st_nlink,
                self.st_uid,
                self.st_gid,
                self.st_size,
                int(self.st_atime),
                int(self.st_mtime),
                int(self.st_ctime),
                self.st_atime,
                self.st_mtime,
                self.st_ctime,
                self.st_atime_ns,
                self.st_mtime_ns,
                self.st_ctime_ns,
                self.st_blksize,
                self.st_blocks,
                self.st_rdev,
            )
        )


_GFIDS: dict[bytes, uuid.UUID] = {}  # gfid bytes -> UUID, of the files stat'ed lately
_GFIDS_MAX = 4096  # cleared when full: a UUID costs more to make than a STAT to decode


def gfid_uuid(gfid: bytes | memoryview) -> uuid.UUID:
    """The UUID of a 16-byte gfid (the same object for the same gfid while it is cached)."""
    key = bytes(gfid)
    u = _GFIDS.get(key)
    if u is None:
        if len(_GFIDS) >= _GFIDS_MAX:
            _GFIDS.clear()
        u = _GFIDS[key] = uuid.UUID(bytes=key)
    return u


def stat_from_iatt(iatt: Any) -> StatResult:
    """A StatResult from a gfx_iattx (``fops_types.Iatt``): ``st_X`` is ``ia_X``, the
    times are ``ia_Xtime`` + ``ia_Xtime_nsec``, the mode is the iatt's POSIX mode."""
    atime = iatt.ia_atime * 1_000_000_000 + iatt.ia_atime_nsec
    mtime = iatt.ia_mtime * 1_000_000_000 + iatt.ia_mtime_nsec
    ctime = iatt.ia_ctime * 1_000_000_000 + iatt.ia_ctime_nsec
    return StatResult(
        iatt.mode,
        iatt.ia_ino,
        iatt.ia_dev,
        iatt.ia_nlink,
        iatt.ia_uid,
        iatt.ia_gid,
        iatt.ia_size,
        atime / 1e9,
        mtime / 1e9,
        ctime / 1e9,
        atime,
        mtime,
        ctime,
        iatt.ia_blksize,
        iatt.ia_blocks,
        iatt.ia_rdev,
        gfid_uuid(iatt.ia_gfid),
    )


class DirEntry:
    """One ``scandir`` entry, like ``os.DirEntry``: ``name``, ``path``, ``inode()``,
    ``is_dir()``, ``is_file()``, ``is_symlink()`` and ``stat()``, from the iatt READDIRP gave.

    Only a symbolic link ever costs a call: ``is_dir()``/``is_file()`` follow it by default
    (as ``os.DirEntry`` does; a dangling link is neither) with one STAT, cached, and so does
    ``stat(follow_symlinks=True)``. Unlike ``os.DirEntry``, ``stat()`` defaults to the entry
    itself (the READDIRP stat, no call), which is what listings print."""

    __slots__ = ("name", "path", "_iatt", "_stat", "_follow", "_target")

    def __init__(
        self,
        name: str,
        path: str,
        st: StatResult | None,
        follow: Callable[[str], StatResult] | None = None,
        *,
        iatt: Any = None,
    ) -> None:
        if st is None and iatt is None:
            raise ValueError("DirEntry needs a StatResult or an iatt")
        self.name = name
        self.path = path
        self._iatt = iatt  # the wire's iatt, turned into a StatResult when first asked for
        self._stat = st
        self._follow = follow  # STAT of a path, following links (None: never follow)
        self._target: StatResult | None = None

    @classmethod
    def from_iatt(
        cls, name: str, path: str, iatt: Any, follow: Callable[[str], StatResult] | None = None
    ) -> DirEntry:
        """An entry of a READDIRP reply (its StatResult is made only if ``stat()`` is called)."""
        return cls(name, path, None, follow, iatt=iatt)

    def _own(self) -> StatResult:
        if self._stat is None:
            self._stat = stat_from_iatt(self._iatt)
            self._iatt = None
        return self._stat

    def _own_mode(self) -> int:
        return int(self._iatt.mode if self._stat is None else self._stat.st_mode)

    def _followed(self, strict: bool) -> StatResult | None:
        """The stat of what a symbolic link points to (None when dangling and not strict)."""
        if not _stat.S_ISLNK(self._own_mode()) or self._follow is None:
            return self._own()
        if self._target is None:
            try:
                self._target = self._follow(self.path)
            except (FileNotFoundError, NotADirectoryError):
                if strict:
                    raise
                return None
        return self._target

    def _mode(self, follow_symlinks: bool) -> int:
        if not follow_symlinks or not _stat.S_ISLNK(self._own_mode()):
            return self._own_mode()
        st = self._followed(False)
        return 0 if st is None else st.st_mode

    def is_dir(self, *, follow_symlinks: bool = True) -> bool:
        return _stat.S_ISDIR(self._mode(follow_symlinks))

    def is_file(self, *, follow_symlinks: bool = True) -> bool:
        return _stat.S_ISREG(self._mode(follow_symlinks))

    def is_symlink(self) -> bool:
        return _stat.S_ISLNK(self._own_mode())

    def is_junction(self) -> bool:
        return False

    def stat(self, *, follow_symlinks: bool = False) -> StatResult:
        if not follow_symlinks:
            return self._own()
        st = self._followed(True)
        assert st is not None
        return st

    def inode(self) -> int:
        return int(self._iatt.ia_ino if self._stat is None else self._stat.st_ino)

    def __fspath__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        return f"<DirEntry {self.name!r}>"


class File(io.RawIOBase):
    """An open remote file (one fd on the brick that holds its data); see the module essay."""

    def __init__(
        self,
        conn: BrickConnection,
        gfid: bytes,
        fd: int,
        path: str,
        *,
        readable: bool,
        writable: bool,
        append: bool = False,
        max_write: int = 1 << 20,
        max_read: int = 1 << 20,
        window: int = DEFAULT_WINDOW,
        flags: int | None = None,
        on_close: Callable[[File], None] | None = None,
    ) -> None:
        super().__init__()
        if max_write < 1 or max_read < 1 or window < 1:
            raise ValueError("max_write, max_read and window must be at least 1")
        self.conn = conn
        self.gfid = gfid
        self.fd = fd
        self.name = path
        self._readable = readable
        self._writable = writable
        self._append = append
        self.max_write = max_write
        self.max_read = max_read
        self.window = window
        self._pos = 0
        self._on_close = on_close
        if flags is None:
            flags = os.O_RDWR if readable and writable else os.O_WRONLY if writable else 0
        self._reopen_flags = flags & ~(os.O_CREAT | os.O_EXCL | os.O_TRUNC)
        self._generation = conn.generation
        if append:
            self._pos = self.stat().st_size

    def __repr__(self) -> str:
        return f"<gfrpc.client.File name={self.name!r} fd={self.fd}>"

    # -- io.RawIOBase -----------------------------------------------------------------------
    def readable(self) -> bool:
        return self._readable

    def writable(self) -> bool:
        return self._writable

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._checkClosed()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.stat().st_size + offset
        else:
            raise ValueError(f"invalid whence ({whence})")
        if pos < 0:
            raise OSError(22, "Invalid argument", self.name)
        self._pos = pos
        return pos

    def _check_open(self, allowed: bool, what: str) -> None:
        """ValueError when closed; io.UnsupportedOperation unless the mode allows ``what``."""
        self._checkClosed()
        if not allowed:
            raise io.UnsupportedOperation(f"File not open for {what}")

    def _at_position(self, transfer: Callable[[memoryview, int], int], buffer: Any) -> int:
        """``transfer`` (pread_into or pwrite) of ``buffer`` at the position, which then moves
        on by the bytes transferred."""
        n = transfer(memoryview(buffer).cast("B"), self._pos)
        self._pos += n
        return n

    def readinto(self, buffer: Any) -> int:
        self._check_open(self._readable, "reading")
        return self._at_position(self.pread_into, buffer)

    def readall(self) -> bytes:
        """The rest of the file. A short READ is its end, so a small file is one READ of
        :data:`FIRST_READ` bytes; a bigger one is then read at once (pipelined) after an FSTAT
        for its size, asking for one byte more than that to see the end without another call,
        and on in steps of ``window`` records if it grew meanwhile. The size only sizes the
        buffer, up to :data:`SIZE_HINT_MAX`: what is read is what the READs bring."""
        self._checkClosed()
        start = self._pos
        out = bytearray(min(self.max_read, FIRST_READ))
        n = self.pread_into(memoryview(out), start)
        if n == len(out):  # full: the end is not seen yet
            first, size = out, self.stat().st_size
            out = bytearray(min(max(size - start, n), n + SIZE_HINT_MAX) + 1)
            out[:n] = first
            while True:
                n += self.pread_into(memoryview(out)[n:], start + n)
                if n < len(out):
                    break
                out += bytes(self.max_read * self.window)  # there is more: read on, pipelined
        del out[n:]
        self._pos = start + n
        return bytes(out)

    def write(self, data: Any) -> int:
        self._check_open(self._writable, "writing")
        return self._at_position(self.pwrite, data)

    def truncate(self, size: int | None = None) -> int:
        self._check_open(self._writable, "writing")
        size = self._pos if size is None else size
        self.conn.fop(
            fops.FopProc.FTRUNCATE,
            fops.GfxFtruncateReq(gfid=self.gfid, fd=self._remote_fd(), offset=size),
            path=self.name,
        )
        return size

    def fileno(self) -> int:
        raise io.UnsupportedOperation("a remote GlusterFS file has no local file descriptor")

    def close(self) -> None:
        if self.closed:
            return
        try:
            super().close()  # no FLUSH: nothing to flush (module notes)
        finally:
            if self._fd_alive():
                self.conn.release(self.gfid, self.fd)
            if self._on_close is not None:
                self._on_close(self)

    def _fd_alive(self) -> bool:
        """Whether our fd still exists on the brick: it dies with the connection that opened
        it (the brick closes a client's fds when it goes), and closing never reconnects."""
        return self._generation == self.conn.generation and self.conn.connected

    def _remote_fd(self) -> int:
        """This file's fd on the brick; reopened by gfid first if the connection was
        re-established since it was opened (see the module docstring)."""
        self.conn.live_client()
        generation = self.conn.generation
        if generation != self._generation:
            self.fd = self.conn.open(self.gfid, self._reopen_flags, path=self.name)
            self._generation = generation
        return self.fd

    # -- GlusterFS extras -------------------------------------------------------------------
    def stat(self) -> StatResult:
        """FSTAT of the open file."""
        return stat_from_iatt(self.conn.fstat(self.gfid, self._remote_fd(), path=self.name))

    def fsync(self, datasync: bool = False) -> None:
        self.conn.fsync(self.gfid, self._remote_fd(), datasync=datasync, path=self.name)

    def pwrite(self, data: memoryview, offset: int) -> int:
        """Write all of ``data`` at ``offset`` with pipelined WRITEs; bytes written. What fits
        in one WRITE is one synchronous call (no pipeline, no Future)."""
        if 0 < len(data) <= self.max_write:
            rsp = self.conn.write_wait(self.gfid, self._remote_fd(), offset, data)
            check(rsp, self.name)
            return min(int(rsp.op_ret), len(data))
        pieces = [
            (off, min(self.max_write, len(data) - off))
            for off in range(0, len(data), self.max_write)
        ]
        fd = self._remote_fd()

        def submit(off: int, n: int) -> Future[tuple[Any, memoryview]]:
            return self.conn.write_async(self.gfid, fd, offset + off, data[off : off + n])

        return self._pipeline(pieces, submit, None)

    def pread_into(self, view: memoryview, offset: int) -> int:
        """Fill ``view`` from ``offset`` with pipelined READs; bytes read (less at EOF). What
        fits in one READ is one synchronous call (no pipeline, no Future)."""
        n = len(view)
        if 0 < n <= self.max_read:
            rsp, data = self.conn.read_wait(self.gfid, self._remote_fd(), offset, n)
            check(rsp, self.name)
            got = min(int(rsp.op_ret), n)
            if got:
                part = data[:n]
                view[: len(part)] = part
            return got
        pieces = [
            (off, min(self.max_read, len(view) - off)) for off in range(0, len(view), self.max_read)
        ]
        fd = self._remote_fd()

        def submit(off: int, n: int) -> Future[tuple[Any, memoryview]]:
            return self.conn.read_async(self.gfid, fd, offset + off, n)

        def land(off: int, data: memoryview) -> None:
            view[off : off + len(data)] = data

        return self._pipeline(pieces, submit, land)

    def _pipeline(
        self,
        pieces: list[tuple[int, int]],
        submit: Callable[[int, int], Future[tuple[Any, memoryview]]],
        land: Callable[[int, memoryview], None] | None,
    ) -> int:
        """Run ``pieces`` (offset, length) with at most ``window`` in flight, in order.

        Returns the length of the contiguous prefix done; raises the first error in offset
        order (only if it comes before any short reply)."""
        inflight: deque[tuple[int, int, Future[tuple[Any, memoryview]]]] = deque()
        done = 0
        stop = False
        error: BaseException | None = None
        it = iter(pieces)
        while True:
            while not stop and len(inflight) < self.window:
                piece = next(it, None)
                if piece is None:
                    break
                inflight.append((piece[0], piece[1], submit(*piece)))
            if not inflight:
                break
            off, n, fut = inflight.popleft()
            try:
                rsp, data = fut.result()
                check(rsp, self.name)
            except BaseException as exc:
                if not stop:
                    error, stop = exc, True
                continue
            if stop:
                continue
            got = int(rsp.op_ret)
            if land is not None and got:
                land(off, data[:n])
            done = off + min(got, n)
            if got < n:
                stop = True
        if error is not None:
            raise error
        return done
