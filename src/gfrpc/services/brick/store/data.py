"""Data operations of ``PosixStore``: read, write, sync, truncate, allocate, seek and copy.

The store owns every system call on the brick's data, as GlusterFS's posix xlator does; the FOP
actors (``fops.io``) only translate between the wire and these methods. Each method works on an
open file (an ``OpenFile`` from OPEN/CREATE, or an anonymous one the FOP layer opened by gfid
for one call), *pinned* for the duration (``store.fds``), and answers the iatts the reply
carries, built by ``store.iatt``.

Facts kept here:

* READ for a reply (``read_out``) of at least ``BIG`` bytes that the file holds is not read
  here: it answers a ``FileRegion`` of a duplicate descriptor, and the transport has the
  kernel send the file's pages with ``sendfile(2)`` (a TLS connection reads them into the
  message instead). The length is fixed by the ``fstat`` taken now; a file cut shorter before
  the send is padded with zeros (``transport/outqueue.py``). At most ``MAX_REGIONS`` regions
  of the process hold a descriptor at once; past that a READ copies as before.
* WRITE writes the whole buffer (a view of the received record, never copied), looping over
  short ``pwrite``\\s; a ``pwrite`` that writes nothing ends the loop and the reply says how
  much was written (posix answers ``op_ret`` = bytes written). When the end of the payload is
  still in the socket (``transport/tail.py``: a big WRITE without TLS whose bytes had all
  arrived), that end goes from the socket into the file with ``splice(2)``, one copy instead
  of two; a file opened O_APPEND or O_DIRECT gets it read and copied as before, and so does
  every file of a file system that refused splice once where ``pwrite`` then wrote the same
  bytes (its ``st_dev`` is remembered: ``_REFUSE_SPLICE``). ``sync``
  (the request's O_SYNC/O_DSYNC) makes the data durable (``fdatasync``) before the reply.
* A write, an allocation or a truncation *by a caller other than root* clears set-uid, and
  set-gid when it is group-executable or the caller is not in the file's group, as the kernel
  does for an unprivileged writer (``privs_to_drop``); a real brick writes as root and keeps
  them. Writes and allocations clear them before the change, truncation after it (as the
  brick has always done).
* ``fallocate(2)`` is called through ctypes because ``os.posix_fallocate`` takes no mode
  flags. ZEROFILL uses FALLOC_FL_ZERO_RANGE and, where the file system lacks it (tmpfs),
  punches a hole and allocates it again. DISCARD punches a hole keeping the size.
* SEEK is ``lseek`` with SEEK_DATA or SEEK_HOLE; COPY_FILE_RANGE is ``copy_file_range(2)``
  (posix calls it with no fallback either: an error is the reply's errno).
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat as st_
from collections.abc import Callable
from typing import Final

from gfrpc.programs.fops_types import IattValue
from gfrpc.services.brick.store.base import (
    Caller,
    Owned,
    StoreBase,
    Target,
    iatt_of,
    privs_to_drop,
)
from gfrpc.services.brick.store.fds import OpenDir, OpenFile
from gfrpc.services.brick.store.handles import proc_path
from gfrpc.services.brick.store.iatt import check_gfid
from gfrpc.transport.baton import BATON, BIG
from gfrpc.transport.outqueue import MIN_REGION, FileRegion
from gfrpc.transport.tail import UnreadTail

FALLOC_FL_KEEP_SIZE: Final = 0x01
FALLOC_FL_PUNCH_HOLE: Final = 0x02
FALLOC_FL_ZERO_RANGE: Final = 0x10
MAX_OFFSET: Final = (1 << 63) - 1  # off_t
#: the block a truncation may free beyond the bytes it cuts (the one its new end falls in)
_BLOCK: Final = 4096
#: open flags under which a WRITE's tail is read and copied instead of spliced: splice(2)
#: refuses an O_APPEND file, and O_DIRECT wants aligned buffers
_NO_SPLICE: Final = os.O_APPEND | os.O_DIRECT
#: the devices (``st_dev``) whose file system refused splice(2) into a file that ``pwrite``
#: then wrote (a short list: one entry per file system the brick meets that lacks splice)
_REFUSE_SPLICE: Final[set[int]] = set()
#: at most this many READ replies of the process wait to be sent as file regions, each holding
#: a descriptor; past it READs copy (a peer that never reads its replies cannot spend the
#: brick's descriptors, only slow the others down to the copying path)
MAX_REGIONS: Final = 1024
_libc = ctypes.CDLL(None, use_errno=True)
_fallocate_fn = _libc.fallocate
_fallocate_fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
_fallocate_fn.restype = ctypes.c_int


def _fallocate(fd: int, mode: int, offset: int, length: int) -> None:
    """fallocate(2) with its mode flags (``os.posix_fallocate`` has none)."""
    if not (0 <= offset <= MAX_OFFSET and 0 < length <= MAX_OFFSET):
        raise OSError(errno.EINVAL, "bad fallocate range")
    if _fallocate_fn(fd, mode, offset, length) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _drop_privs(fd: int, st: os.stat_result, caller: Caller | None) -> bool:
    """Clear set-uid/set-gid on ``fd`` as the kernel does when ``caller`` modifies it; whether
    there were any."""
    if caller is not None and caller.uid != 0:
        kill = privs_to_drop(st.st_mode, st.st_gid, caller)
        if kill:
            os.fchmod(fd, st_.S_IMODE(st.st_mode) & ~kill)
            return True
    return False


def _pwrite_outside(fd: int, data: memoryview, offset: int) -> int:
    """``os.pwrite`` with the poller's baton handed over (a big copy: transport/baton.py)."""
    return BATON.call_outside(os.pwrite, fd, data, offset)


def _pwrite_all(
    pwrite: Callable[[int, memoryview, int], int], fd: int, view: memoryview, offset: int
) -> int:
    """``pwrite`` all of ``view`` at ``offset``, looping over short writes; bytes written (a
    write that writes nothing ends the loop)."""
    done, total = 0, len(view)
    while done < total:
        n = pwrite(fd, view[done:] if done else view, offset + done)
        if n <= 0:
            break
        done += n
    return done


class DataOps(StoreBase):
    """The data FOPs of ``PosixStore`` (see the module notes)."""

    @staticmethod
    def read(f: OpenFile, offset: int, size: int) -> tuple[bytes, IattValue]:
        """READ: up to ``size`` bytes at ``offset`` (short at EOF), and the file's iatt."""
        with f.pinned() as fd:
            if size >= BIG:  # the copy runs baton-free (transport/baton.py)
                data = BATON.call_outside(os.pread, fd, size, offset)
            else:
                data = os.pread(fd, size, offset) if size else b""
            st = os.fstat(fd)
        return data, iatt_of(f.gfid, st)

    @staticmethod
    def read_out(f: OpenFile, offset: int, size: int) -> tuple[bytes | FileRegion, IattValue]:
        """READ for a reply: as :meth:`read`, but a big read comes as a ``FileRegion`` for the
        transport to send (see the module notes), with the file's iatt as it is now."""
        if size < BIG or f.flags & os.O_ACCMODE == os.O_WRONLY or FileRegion.live() >= MAX_REGIONS:
            return DataOps.read(f, offset, size)  # (a write-only file fails there: EBADF)
        with f.pinned() as fd:
            st = os.fstat(fd)
            count = min(size, st.st_size - offset)
            region = FileRegion(os.dup(fd), offset, count) if count >= MIN_REGION else None
        if region is None:  # little or nothing left to read: the plain way
            return DataOps.read(f, offset, size)
        return region, iatt_of(f.gfid, st)

    def write(
        self,
        f: OpenFile,
        offset: int,
        data: bytes | bytearray | memoryview,
        *,
        sync: bool = False,
        caller: Caller | None = None,
        tail: UnreadTail | None = None,
    ) -> tuple[int, IattValue, IattValue]:
        """WRITE ``data`` (any buffer, not copied) at ``offset``: (bytes written, prestat,
        poststat). ``sync``: fdatasync before returning; ``caller``: who writes (set-id bits);
        ``tail``: the end of ``data`` still in the socket, spliced into the file."""
        since = self.acls.generation
        with f.pinned() as fd:
            pre = os.fstat(fd)
            chmodded = _drop_privs(fd, pre, caller)
            total = len(data)
            view = data if isinstance(data, memoryview) else memoryview(data)
            pwrite = _pwrite_outside if total >= BIG else os.pwrite
            if (
                tail is not None
                and tail.remaining
                and not f.flags & _NO_SPLICE
                and pre.st_dev not in _REFUSE_SPLICE
            ):
                head = total - tail.remaining
                done = _pwrite_all(pwrite, fd, view[:head], offset)
                if done == head:
                    done += BATON.call_outside(tail.splice_to, fd, offset + head)
                    if done < total:  # the socket had less, or the file refused: copy the rest
                        tail.fill()
                        copied = _pwrite_all(pwrite, fd, view[done:], offset + done)
                        if tail.refused and copied == total - done:  # splice, not the write
                            _REFUSE_SPLICE.add(pre.st_dev)
                        done += copied
            else:
                if tail is not None:
                    tail.fill()
                done = _pwrite_all(pwrite, fd, view, offset)
            if sync:
                os.fdatasync(fd)
            post = os.fstat(fd)
        self._changed_not_gfid(pre, post)  # new bytes, the same gfid and handle
        if caller is not None and caller.uid and not chmodded:
            # and the same ACL, kept for a caller whose checks read it (not root's)
            self._changed_not_acls(pre, post, since)
        gfid = f.gfid
        return done, iatt_of(gfid, pre), iatt_of(gfid, post)

    @staticmethod
    def fsync(f: OpenFile | OpenDir, datasync: bool = False) -> tuple[IattValue, IattValue]:
        """FSYNC / FSYNCDIR (``datasync``: fdatasync): (prestat, poststat)."""
        with f.pinned() as fd:
            pre = os.fstat(fd)
            (os.fdatasync if datasync else os.fsync)(fd)
            post = os.fstat(fd)
        return iatt_of(f.gfid, pre), iatt_of(f.gfid, post)

    def truncate(
        self, target: Target, size: int, *, caller: Caller | None = None
    ) -> tuple[IattValue, IattValue]:
        """TRUNCATE / FTRUNCATE: (prestat, poststat); ``caller`` as for :meth:`write`."""
        gfid = self._gfid_of(target)
        if isinstance(target, OpenFile):
            with target.pinned() as fd:
                pre = os.fstat(fd)
                os.ftruncate(fd, size)
                _drop_privs(fd, os.fstat(fd), caller)
                return iatt_of(gfid, pre), iatt_of(gfid, os.fstat(fd))
        with self._ref(target) as ip_ref:
            ip = ip_ref.fd
            pre = ip_ref.stat()
            if st_.S_ISDIR(pre.st_mode):
                raise OSError(errno.EISDIR, "is a directory")
            if not st_.S_ISREG(pre.st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            with Owned(os.open(proc_path(ip), os.O_WRONLY | os.O_CLOEXEC)) as wfd:
                os.ftruncate(wfd, size)
                _drop_privs(wfd, os.fstat(wfd), caller)
            return iatt_of(gfid, pre), iatt_of(gfid, os.fstat(ip))

    def bytes_a_truncate_frees(self, gfid: bytes, size: int) -> int:
        """At most what a TRUNCATE or FTRUNCATE of ``gfid``'s file to ``size`` would free now:
        its allocation, but no more than the bytes past ``size`` (and their last block). 0 for
        anything that is not a regular file, and for a gfid that is not valid or has no
        handle (the FOP itself will say why). One ``lstat`` of the handle; nothing changes."""
        try:
            handle = self.handles.handle_path(check_gfid(gfid))
            st = os.stat(handle, dir_fd=self.handles.hidden_fd, follow_symlinks=False)
        except (OSError, ValueError):
            return 0
        if not st_.S_ISREG(st.st_mode) or size >= st.st_size:
            return 0
        return min(int(st.st_blocks) * 512, st.st_size - size + _BLOCK)

    @staticmethod
    def fallocate(
        f: OpenFile, offset: int, length: int, mode: int = 0, *, caller: Caller | None = None
    ) -> tuple[IattValue, IattValue]:
        """FALLOCATE with fallocate(2)'s ``mode`` flags: (prestat, poststat). ZERO_RANGE alone
        falls back as ZEROFILL does."""
        with f.pinned() as fd:
            pre = os.fstat(fd)
            _drop_privs(fd, pre, caller)
            if mode == FALLOC_FL_ZERO_RANGE:
                try:
                    _fallocate(fd, FALLOC_FL_ZERO_RANGE, offset, length)
                except OSError as exc:  # e.g. tmpfs: punch a hole, then allocate it again
                    if exc.errno not in (errno.EOPNOTSUPP, errno.ENOSYS):
                        raise
                    _fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length)
                    _fallocate(fd, 0, offset, length)
            else:
                _fallocate(fd, mode, offset, length)
            post = os.fstat(fd)
        return iatt_of(f.gfid, pre), iatt_of(f.gfid, post)

    @classmethod
    def discard(
        cls, f: OpenFile, offset: int, length: int, *, caller: Caller | None = None
    ) -> tuple[IattValue, IattValue]:
        """DISCARD: punch a hole, keeping the size."""
        mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
        return cls.fallocate(f, offset, length, mode, caller=caller)

    @classmethod
    def zerofill(
        cls, f: OpenFile, offset: int, length: int, *, caller: Caller | None = None
    ) -> tuple[IattValue, IattValue]:
        """ZEROFILL: zero the range (FALLOC_FL_ZERO_RANGE, or a hole allocated again)."""
        return cls.fallocate(f, offset, length, FALLOC_FL_ZERO_RANGE, caller=caller)

    @staticmethod
    def seek(f: OpenFile, offset: int, *, hole: bool = False) -> int:
        """SEEK: the next data (``hole=False``, SEEK_DATA) or hole (SEEK_HOLE) from ``offset``."""
        with f.pinned() as fd:
            return os.lseek(fd, offset, os.SEEK_HOLE if hole else os.SEEK_DATA)

    @staticmethod
    def copy_file_range(
        src: OpenFile,
        dst: OpenFile,
        size: int,
        off_in: int,
        off_out: int,
        *,
        caller: Caller | None = None,
    ) -> tuple[int, IattValue, IattValue, IattValue]:
        """COPY_FILE_RANGE: (bytes copied, source iatt, target prestat, target poststat)."""
        with src.pinned() as ifd, dst.pinned() as ofd:
            pre = os.fstat(ofd)
            _drop_privs(ofd, pre, caller)
            n = os.copy_file_range(ifd, ofd, size, off_in, off_out)
            stat, post = os.fstat(ifd), os.fstat(ofd)
        return n, iatt_of(src.gfid, stat), iatt_of(dst.gfid, pre), iatt_of(dst.gfid, post)
