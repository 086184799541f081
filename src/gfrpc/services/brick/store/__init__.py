"""The brick's storage layer: GlusterFS posix-xlator semantics over an ordinary directory.

Theory of operation. Files live as ordinary files under the brick directory ``DIR`` (a user can
read them without gfrpc). Clients never name paths: they name an inode by gfid, or an entry by
(parent gfid, name). The gfid → inode index is GlusterFS's own ``.glusterfs`` handle layout (see
``store.handles`` for the layout, why it was chosen, and how symlinks planted in ``DIR`` are never
followed). Every method raises ``OSError`` carrying the errno GlusterFS would send; an unknown
gfid is ``ESTALE``, as the server's gfid resolution reports it.

The store owns every system call on the brick's data, as GlusterFS's posix xlator does: the
FOP actors only translate between the wire and its methods. The iatts it answers are the wire's
``gfx_iattx`` values, built in one place (``store.iatt``). Its parts: ``store.base``
(resolution, gfid assignment, handle repair), ``store.entries`` (namespace operations),
``store.data`` (read, write, sync, truncate, allocate, seek, copy) and this module (inode,
directory and xattr operations).

Gfid rules (posix ``posix_gfid_set`` / ``posix_gfid_heal`` / ``posix_handle_hard`` /
``posix_handle_soft``): the root is ``00000000-0000-0000-0000-000000000001`` (ino 1). A gfid is
*taken* when it is null, the root's, or its handle leads to another live inode: a file handle
(hard link) of another inode that still has a name, or a directory handle (symlink) that
resolves to another directory. A stale handle (a file handle that is its inode's last link, a
directory handle that no longer resolves) does not take its gfid: it is removed and replaced,
as posix replaces it. No inode is ever given a taken gfid, so a client's ``gfid-req`` can never
make another object unreachable:

* create/mkdir/mknod/symlink use the client's ``gfid-req`` when given and a random uuid
  otherwise; a taken ``gfid-req`` *refuses* the creation with EEXIST before anything is made
  (posix fails such a creation in its handle check), a null one with EINVAL; the one exception
  is DHT's internal MKNOD of a linkto file (``glusterfs-internal-fop``, trusted callers only),
  which hard-links the new name to the live regular file that has that gfid, as posix does;
* an entry found without ``trusted.gfid`` (made outside gfrpc) gets the lookup's ``gfid-req``
  if it is free, and a *fresh* uuid if it is taken (posix's lookup never fails because of its
  ``gfid-req`` either, but it sets the gfid before the handle check fails, which leaves the
  entry unusable; gfrpc checks first). The gfid is set with ``XATTR_CREATE`` so two racing
  lookups agree;
* unlike posix, which only logs it, a lookup also repairs a handle that no longer matches its
  entry: a stale one is re-pointed, and an entry whose gfid is taken (a copy made with
  ``cp -a``, or an entry damaged by a wrong ``gfid-req`` elsewhere) is given a new gfid.

Orphans after a crash: an entry or a handle left half-made by a ``kill -9`` is repaired
lazily, as posix does (whose start-up only empties ``.glusterfs/unlink``, which gfrpc does not
use): an entry without gfid or handle gets them at its next lookup, and an orphaned handle is
stale by the rule above, so a later creation, ``gfid-req`` or lookup replaces it.

Concurrency. Methods are called from many worker threads at once. Creation of an entry and the
healing of a gfid hold a lock striped by (parent gfid, name), so a lookup cannot give a fresh
entry a second gfid between its creation and its ``trusted.gfid`` (the race posix papers over
with its "fresh file" timestamp check). Directory renames also take a store-wide lock so their
handle updates happen in the same order as the renames themselves.

System calls per FOP (issue 9; ``tools/fop-syscalls`` counts them, side by side with
glusterfsd). Inodes are reached through ``HandleIndex.inode`` (a cached directory fd lent for the
call, no ``dup``/``close``), a STAT is one ``lstat`` of a file's handle or one ``fstat`` of a
cached directory fd, handles are made and removed by paths below ``.glusterfs`` (our own hex
names) instead of opening their hash directory, and ACLs and gfids are cached per inode while
its ctime holds (``store.inodecache``, which explains why that is safe). LOOKUP first tries one
``fstatat`` of the name with its cached gfid and a matching handle; READDIRP entries are one
``fstatat`` each when their gfid is cached. Everything that can change what is cached goes
through a fresh stat, so a stale value is never answered: a rename or unlink + recreate gives
another inode or ctime, RMDIR evicts the directory fd, a directory removed behind our back is
evicted at its next use.

Permissions. New entries get ``mode & ~umask`` (what the brick's posix-acl xlator applies when
no default ACL is inherited) regardless of the process umask, and the caller's (uid, gid) when
``owner`` is given, with the parent's gid if it is set-gid; under a default ACL the umask is
ignored and the kernel's inherited ACL is narrowed by the create mode. ``access()`` checks mode
bits and the POSIX access ACL for a given caller; the other methods run with the brick's own
(root) rights (the FOP layer's ``access.py`` decides who may call them).
"""

from __future__ import annotations

import errno
import os
import stat as st_
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from gfrpc.programs.fops_types import (
    GF_SET_ATTR_ATIME,
    GF_SET_ATTR_GID,
    GF_SET_ATTR_MODE,
    GF_SET_ATTR_MTIME,
    GF_SET_ATTR_UID,
    ROOT_GFID,
    IattValue,
)
from gfrpc.services.brick import posix_acl
from gfrpc.services.brick.store import xattr as xp
from gfrpc.services.brick.store.base import (
    CACHED_ACL_KEYS,
    Caller,
    Owned,
    RenameResult,
    Target,
    iatt_of,
    in_group,
    privs_to_drop,
)
from gfrpc.services.brick.store.data import DataOps
from gfrpc.services.brick.store.entries import EntryOps, Made, NewEntry
from gfrpc.services.brick.store.fds import DirEntry, FdTable, OpenDir, OpenFile, d_type_of
from gfrpc.services.brick.store.handles import (
    GFID_KEY,
    HIDDEN_DIR,
    O_PATH_NOFOLLOW,
    proc_path,
)
from gfrpc.services.brick.store.iatt import check_gfid, iatt_fields, statfs_fields
from gfrpc.wire.xdr import XdrStruct

__all__ = [
    "Caller",
    "DirEntry",
    "FdTable",
    "Made",
    "NewEntry",
    "OpenDir",
    "OpenFile",
    "PosixStore",
    "RenameResult",
    "Target",
    "ROOT_GFID",
    "iatt_fields",
    "in_group",
    "privs_to_drop",
]

_CREATE_EXCL = os.O_CREAT | os.O_EXCL
_NOT_FOR_OPEN = os.O_CREAT | os.O_EXCL | os.O_NOCTTY | os.O_DIRECTORY | os.O_PATH | os.O_NOFOLLOW


class PosixStore(EntryOps, DataOps):
    """The storage of one brick directory (thread-safe; see the module notes)."""

    # -- inode operations -----------------------------------------------------------------------

    def readlink(self, gfid: bytes) -> str:
        """READLINK: the symlink's target as stored (EINVAL if not a symlink)."""
        gfid = check_gfid(gfid)
        if not st_.S_ISLNK(self.handles.stat_of(gfid).st_mode):
            raise OSError(errno.EINVAL, "not a symlink")
        return os.readlink(self.handles.handle_path(gfid), dir_fd=self.handles.hidden_fd)

    def open(self, gfid: bytes, flags: int) -> OpenFile:
        """OPEN a regular file. As posix answers: EINVAL for a device node, ELOOP for a
        symlink; then as open(2) answers it: EEXIST for O_CREAT|O_EXCL (the file is there),
        ENOTDIR for O_DIRECTORY, ENXIO for a socket. EISDIR for every directory (posix opens
        one read-only; clients list with OPENDIR) and EPERM for a fifo (posix opens it, and
        without O_NONBLOCK that waits for a writer: it froze a whole glusterfsd 10.3 brick;
        clients open fifos locally)."""
        gfid = check_gfid(gfid)
        with self.handles.inode(gfid) as ip_ref:
            ip = ip_ref.fd
            mode = ip_ref.stat().st_mode
            if st_.S_ISCHR(mode) or st_.S_ISBLK(mode):
                raise OSError(errno.EINVAL, "device nodes are not opened on the brick")
            if st_.S_ISLNK(mode):
                raise OSError(errno.ELOOP, "is a symlink")
            if flags & _CREATE_EXCL == _CREATE_EXCL:
                raise OSError(errno.EEXIST, "O_CREAT|O_EXCL of an existing file")
            if st_.S_ISDIR(mode):
                raise OSError(errno.EISDIR, "is a directory")
            if flags & os.O_DIRECTORY:
                raise OSError(errno.ENOTDIR, "O_DIRECTORY of a file")
            if st_.S_ISSOCK(mode):
                raise OSError(errno.ENXIO, "a socket")
            if not st_.S_ISREG(mode):
                raise OSError(errno.EPERM, "fifos are not opened on the brick")
            fd = os.open(proc_path(ip), (flags & ~_NOT_FOR_OPEN) | os.O_CLOEXEC)
        return OpenFile(fd, gfid, flags)

    def setattr(
        self,
        target: Target,
        valid: int,
        *,
        mode: int = 0,
        uid: int = 0,
        gid: int = 0,
        atime: int = 0,
        atime_nsec: int = 0,
        mtime: int = 0,
        mtime_nsec: int = 0,
    ) -> tuple[IattValue, IattValue]:
        """SETATTR / FSETATTR with GlusterFS ``valid`` bits (GF_SET_ATTR_*): chown, then chmod
        (skipped for symlinks), then utimes (an unset time keeps its value). SIZE and CTIME are
        ignored, as by posix. Returns (prestat, poststat)."""
        gfid = self._gfid_of(target)
        with self._ref(target) as fd_ref:
            fd = fd_ref.fd
            pre = fd_ref.stat()
            path = proc_path(fd)
            if valid & (GF_SET_ATTR_UID | GF_SET_ATTR_GID):
                os.chown(
                    path,
                    uid if valid & GF_SET_ATTR_UID else -1,
                    gid if valid & GF_SET_ATTR_GID else -1,
                )
            if valid & GF_SET_ATTR_MODE and not st_.S_ISLNK(pre.st_mode):
                with self.acls.changing(pre, *CACHED_ACL_KEYS):  # a chmod rewrites the mask
                    os.chmod(path, mode & 0o7777)
            if valid & (GF_SET_ATTR_ATIME | GF_SET_ATTR_MTIME):
                a = (
                    atime * 1_000_000_000 + atime_nsec
                    if valid & GF_SET_ATTR_ATIME
                    else pre.st_atime_ns
                )
                m = (
                    mtime * 1_000_000_000 + mtime_nsec
                    if valid & GF_SET_ATTR_MTIME
                    else pre.st_mtime_ns
                )
                os.utime(path, ns=(a, m))
            return iatt_of(gfid, pre), iatt_of(gfid, os.fstat(fd))

    def statfs(self, target: Target = ROOT_GFID) -> XdrStruct:
        """STATFS of the file system holding ``target``: a ``fops_types.GfStatfs``."""
        with self._ref(target) as fd_ref:
            fd = fd_ref.fd
            return statfs_fields(os.statvfs(proc_path(fd)))

    # -- directories --------------------------------------------------------------------------

    def opendir(self, gfid: bytes) -> OpenDir:
        gfid = check_gfid(gfid)
        with self.handles.inode(gfid) as ip_ref:
            ip = ip_ref.fd
            if not st_.S_ISDIR(ip_ref.stat().st_mode):
                raise OSError(errno.ENOTDIR, "not a directory")
            fd = os.open(proc_path(ip), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return OpenDir(fd, gfid, hide=HIDDEN_DIR if gfid == ROOT_GFID else None)

    def readdir(
        self, d: OpenDir, offset: int, size: int, *, plus: bool = False
    ) -> tuple[list[DirEntry], bool]:
        """READDIR(P) from cookie ``offset`` (0 = start): (entries, reached_end). ``size``
        bounds the encoded reply as GlusterFS does (at least one entry is returned)."""
        slots = d.entries_after(offset)
        out: list[DirEntry] = []
        used = 0
        done = 0
        with d.pinned() as fd:
            for s in slots:
                cost = (192 if plus else 32) + ((len(os.fsencode(s.name)) + 3) & ~3)
                if done and used + cost > size:
                    break
                used += cost
                done += 1
                ent = self._dirent(d, fd, s.name, s.d_ino, s.d_type, s.cookie, plus)
                if ent is not None:
                    out.append(ent)
        return out, done == len(slots)

    def _dirent(
        self, d: OpenDir, fd: int, name: str, d_ino: int, d_type: int, cookie: int, plus: bool
    ) -> DirEntry | None:
        gfid: bytes | None
        if name == "." or (name == ".." and d.gfid == ROOT_GFID):
            st, gfid = os.fstat(fd), d.gfid  # the root's ".." is the root: never look above it
        else:
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return None
            gfid = None
            if plus:  # the gfid: cached for this inode and ctime, or read through an O_PATH fd
                hit, gfid = self.gfids.get(st, GFID_KEY)
                if not hit:
                    try:
                        efd = os.open(name, O_PATH_NOFOLLOW, dir_fd=fd)
                    except FileNotFoundError:
                        return None
                    with Owned(efd):
                        st = os.fstat(efd)
                        gfid = self._gfid_at(efd, st)
        if not plus:
            return DirEntry(st.st_ino if name in (".", "..") else d_ino, cookie, d_type, name)
        stat = iatt_of(gfid, st) if gfid is not None else iatt_fields(None, st)
        return DirEntry(
            stat.ia_ino if gfid else st.st_ino, cookie, d_type_of(st.st_mode), name, stat
        )

    # -- extended attributes ------------------------------------------------------------------

    def getxattr(
        self, target: Target, name: str | None = None, *, internal: bool = False
    ) -> dict[str, bytes]:
        """GETXATTR of one key, or of all visible keys when ``name`` is None."""
        with self._ref(target) as fd_ref:
            fd = fd_ref.fd
            path = proc_path(fd)
            if name is not None:
                xp.check_get(name, internal=internal)
                return {name: os.getxattr(path, name)}
            listed = [k for k in os.listxattr(path) if xp.listed(k, internal=internal)]
            return _xattr_values(path, listed, ALL_XATTRS_MAX, or_fail=True)

    def named_xattrs(
        self,
        gfid: bytes,
        keys: Iterable[str],
        content_size: int = -1,
        *,
        internal: bool = False,
        reader: Caller | None = None,
    ) -> tuple[dict[str, bytes], bytes | None]:
        """What a LOOKUP or READDIRP names in its xdata: the xattrs among ``keys`` that the
        inode has and the caller may read (one ``listxattr``, then a ``getxattr`` only for the
        keys it lists), and, with ``content_size`` >= 0, the whole file when it is a regular
        file of exactly that size (quick-read's content; else None). Ask for content only for
        an inode whose iatt says it is a regular file: its bytes and xattrs are then read
        through one fd, opened by its gfid handle without following links or blocking, and
        checked to be a regular file of that size before any read, and, with ``reader``, one
        that caller may read (the mode bits and the access ACL of that same fstat; the xattrs
        are answered either way)."""
        if type(keys) is tuple:
            wanted: Sequence[str] = xp.readable_names(keys, internal=internal)
        else:
            wanted = [k for k in keys if xp.readable(k, internal=internal)]
        if content_size >= 0:
            # never blocking on a FIFO, nor taking a terminal as the brick's: the handle's
            # inode is checked to be a regular file once it is open
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
            try:
                fd = os.open(self.handles.handle_path(gfid), flags, dir_fd=self.handles.hidden_fd)
            except OSError:
                return self.named_xattrs(gfid, wanted, internal=internal)
            try:
                st = os.fstat(fd)
                content = None
                if (
                    st_.S_ISREG(st.st_mode)
                    and st.st_size == content_size
                    and (reader is None or self._may_read(fd, st, reader))
                ):
                    data = os.pread(fd, content_size + 1, 0) if content_size else b""
                    content = data if len(data) == content_size else None
                return (_present_xattrs(fd, wanted) if wanted else {}), content
            finally:
                os.close(fd)
        if not wanted:
            return {}, None
        with self._ref(gfid) as fd_ref:
            return _present_xattrs(proc_path(fd_ref.fd), wanted), None

    def _may_read(self, fd: int, st: os.stat_result, caller: Caller) -> bool:
        """Whether ``caller`` may read the inode open as ``fd`` (whose stat is ``st``)."""
        try:
            self.require_at(fd, st, os.R_OK, caller)
        except OSError:
            return False
        return True

    def listxattr(self, target: Target, *, internal: bool = False) -> list[str]:
        with self._ref(target) as fd_ref:
            fd = fd_ref.fd
            return [k for k in os.listxattr(proc_path(fd)) if xp.listed(k, internal=internal)]

    def setxattr(
        self,
        target: Target,
        xattrs: Mapping[str, bytes] | Iterable[tuple[str, bytes]],
        flags: int = 0,
    ) -> None:
        """SETXATTR of every pair (bytes stored as given); ``flags`` XATTR_CREATE/REPLACE."""
        items = list(xattrs.items() if isinstance(xattrs, Mapping) else xattrs)
        for key, _ in items:
            xp.check_set(key)
        acl = any(key in posix_acl.ACL_KEYS for key, _ in items)
        with self._ref(target) as fd_ref:
            fd = fd_ref.fd
            with self._acls_changing(fd_ref.stat(), acl):
                for key, value in items:
                    os.setxattr(proc_path(fd), key, value, flags)

    def removexattr(self, target: Target, name: str) -> None:
        xp.check_remove(name)
        with self._ref(target) as fd_ref:
            fd = fd_ref.fd
            with self._acls_changing(fd_ref.stat(), name in posix_acl.ACL_KEYS):
                os.removexattr(proc_path(fd), name)


#: the bytes of xattr values one LOOKUP or READDIRP entry answers for the keys its xdata names
#: (a few kilobytes of names could otherwise ask for a thousand 64 KiB values on file systems
#: that keep them, such as XFS: a 64 MiB reply; DHT, md-cache and the ACL keys ask for far less)
NAMED_XATTRS_MAX: Final = 64 * 1024
#: the bytes of values a GETXATTR of all of an inode's xattrs answers; beyond it, E2BIG (as
#: Linux's listxattr when the names pass 64 KiB), not a reply as big as the file system keeps
ALL_XATTRS_MAX: Final = 1 << 20


def _present_xattrs(where: int | str, keys: Sequence[str]) -> dict[str, bytes]:
    """The values of those ``keys`` that the inode at ``where`` (an fd or a path) lists, in
    the order named, while their bytes stay within :data:`NAMED_XATTRS_MAX` (the rest are left
    out, as keys the inode lacks are)."""
    present = os.listxattr(where)
    return _xattr_values(where, [k for k in keys if k in present], NAMED_XATTRS_MAX)


def _xattr_values(
    where: int | str, keys: list[str], most: int = 0, *, or_fail: bool = False
) -> dict[str, bytes]:
    """The values of ``keys`` at ``where`` (an fd or a path); a key removed meanwhile (ENODATA)
    is left out. With ``most``, reading stops at the first value that would take the values'
    bytes past it, and with ``or_fail`` that is E2BIG."""
    out = {}
    total = 0
    for key in keys:
        try:
            value = os.getxattr(where, key)
        except OSError as e:
            if e.errno != errno.ENODATA:
                raise
            continue
        total += len(value)
        if most and total > most:
            if or_fail:
                raise OSError(errno.E2BIG, f"the xattr values pass the {most} bytes answered")
            break
        out[key] = value
    return out
