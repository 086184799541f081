"""Shared machinery of ``PosixStore``: resolution, gfid assignment and handle repair.

See ``store/__init__.py`` for the theory of operation; this module holds what the entry
operations (``store.entries``), the data operations (``store.data``) and the inode operations
(``store``) all need.
"""

from __future__ import annotations

import errno
import logging
import os
import stat as st_
import threading
import uuid
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Final

from gfrpc.programs.fops_types import NULL_GFID, ROOT_GFID, IattValue
from gfrpc.services.brick import posix_acl
from gfrpc.services.brick.store.dirfds import InodeRef
from gfrpc.services.brick.store.fds import OpenDir, OpenFile
from gfrpc.services.brick.store.handles import (
    GFID_KEY,
    HIDDEN_DIR,
    O_PATH_NOFOLLOW,
    HandleIndex,
    check_name,
    is_dir_handle,
    parse_dir_handle,
    proc_path,
    read_gfid,
    set_gfid_once,
)
from gfrpc.services.brick.store.iatt import check_gfid, gfid_str, iatt_fields
from gfrpc.services.brick.store.inodecache import InodeCache

log = logging.getLogger("gfrpc.brick.store")

Target = bytes | OpenFile | OpenDir
STRIPES = 64
MAKEABLE = (st_.S_IFREG, st_.S_IFCHR, st_.S_IFBLK, st_.S_IFIFO, st_.S_IFSOCK)


def not_a_parent(pargfid: bytes) -> OSError:
    """The error of a named FOP whose parent is not a directory: EPERM, as GlusterFS 10.3's
    server resolver answers before posix sees the call (checked against a real brick,
    tests/interop/test_entry_errors_interop.py); the kernel would say ENOTDIR."""
    return OSError(errno.EPERM, f"{gfid_str(pargfid)} is not a directory")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks (from the RPC credential): uid, primary gid, supplementary groups."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class RenameResult:
    """What a RENAME reply carries (gfx_rename_rsp)."""

    stat: IattValue
    preoldparent: IattValue
    postoldparent: IattValue
    prenewparent: IattValue
    postnewparent: IattValue


class Owned:
    """``with Owned(fd) as fd:`` closes ``fd`` on exit."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __enter__(self) -> int:
        return self.fd

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def iatt_of(gfid: bytes | None, st: os.stat_result) -> IattValue:
    """The iatt of an inode the store manages: a non-directory with a gfid has its handle link."""
    return iatt_fields(gfid, st, handle_link=gfid is not None and gfid != NULL_GFID)


def in_group(caller: Caller, gid: int) -> bool:
    return caller.gid == gid or gid in caller.groups


def privs_to_drop(mode: int, gid: int, caller: Caller) -> int:
    """The set-uid/set-gid bits the kernel clears when ``caller`` modifies a file of ``mode``
    owned by group ``gid``."""
    if caller.uid == 0 or not st_.S_ISREG(mode):
        return 0
    kill = mode & st_.S_ISUID
    if mode & st_.S_ISGID and (mode & st_.S_IXGRP or not in_group(caller, gid)):
        kill |= st_.S_ISGID
    return kill


def check_access(st: os.stat_result, mask: int, caller: Caller) -> None:
    mask &= os.R_OK | os.W_OK | os.X_OK
    mode = st.st_mode
    if caller.uid == 0:
        if mask & os.X_OK and not st_.S_ISDIR(mode) and not mode & 0o111:
            raise OSError(errno.EACCES, "no execute bit set")
        return
    if caller.uid == st.st_uid:
        bits = (mode >> 6) & 7
    elif st.st_gid == caller.gid or st.st_gid in caller.groups:
        bits = (mode >> 3) & 7
    else:
        bits = mode & 7
    if mask & ~bits:
        raise OSError(errno.EACCES, "permission denied")


#: the ACLs the store reads and caches: a directory has both, any other inode the first
CACHED_ACL_KEYS: Final = (posix_acl.ACCESS_KEY, posix_acl.DEFAULT_KEY)


def check_permits(st: os.stat_result, acl: posix_acl.Acl | None, mask: int, caller: Caller) -> None:
    """EACCES unless ``caller`` (not root) may ``mask`` the inode ``st`` with access ACL
    ``acl`` (``posix_acl.permits``)."""
    if not posix_acl.permits(
        st.st_mode, st.st_uid, st.st_gid, acl, caller.uid, caller.gid, caller.groups, mask
    ):
        raise OSError(errno.EACCES, "permission denied")


class StoreBase:
    """Brick root, handle index and the lookup/gfid logic (no public entry operations)."""

    def __init__(self, directory: str, *, dir_cache_size: int = 1024) -> None:
        self.directory = os.path.abspath(directory)
        self.handles = HandleIndex(self.directory, dir_cache_size=dir_cache_size)
        # Lock order: a stripe (a rename: its stripes in index order), then _dir_renames, which
        # a directory rename holds across rename(2) and its handle update, and which the gfid
        # check takes to tell a stale directory handle from one that is mid-rename.
        self._stripes = [threading.Lock() for _ in range(STRIPES)]
        self._dir_renames = threading.Lock()
        #: ACLs (decoded, None when absent) and gfids by inode (``store.inodecache``)
        self.acls: InodeCache[posix_acl.Acl | None] = InodeCache()
        self.gfids: InodeCache[bytes] = InodeCache()
        #: the gfids of non-directories whose handle was seen to be that very inode, by inode:
        #: a LOOKUP that finds one for the entry's ctime needs no ``lstat`` of the handle. A
        #: handle is a hard link, so the inode's link count and ctime change whenever it is
        #: removed or replaced (``store.inodecache``, the brick's own writes)
        self.handle_checked: InodeCache[bytes] = InodeCache()

    def close(self) -> None:
        self.handles.close()

    def __enter__(self) -> StoreBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- resolution ---------------------------------------------------------------------------

    def resolve(self, gfid: bytes) -> str:
        """The current path of ``gfid`` as the kernel reports it (for logs and ``pathinfo``
        only: nothing in the store ever operates on a path). Non-directories resolve to their
        ``.glusterfs`` handle, as in posix."""
        with self.handles.inode(check_gfid(gfid)) as ref:
            return os.readlink(proc_path(ref.fd))

    def _ref(self, target: Target) -> InodeRef:
        """The target inode for one ``with`` block (an fd target pinned, a gfid resolved)."""
        if isinstance(target, OpenFile | OpenDir):
            pin = target.pinned()
            return InodeRef(pin.__enter__(), None, lambda: pin.__exit__(None, None, None))
        return self.handles.inode(check_gfid(target))

    def stat_acl(
        self, target: Target, key: str = posix_acl.ACCESS_KEY
    ) -> tuple[os.stat_result, posix_acl.Acl | None]:
        """The target's stat and its ACL ``key`` (None when it has none, and for a symlink):
        one ``fstat``/``lstat``, and one ``getxattr`` unless the ACL is cached."""
        if isinstance(target, bytes):
            gfid = check_gfid(target)
            ref = self.handles.pinned_dir(gfid)
            if ref is None:
                st = self.handles.stat_of(gfid)
                if not st_.S_ISDIR(st.st_mode):  # a non-directory: through its handle
                    path = self.handles.handle_xattr_path(gfid)
                    return st, self._acl(st, key, path, follow=False)
                ref = self.handles.inode(gfid)  # a directory stat_of just cached
        else:
            ref = self._ref(target)
        with ref:
            st = ref.stat()
            return st, self._acl(st, key, proc_path(ref.fd), follow=True)

    def access(self, target: Target, mask: int, caller: Caller | None = None) -> None:
        """ACCESS: EACCES unless ``caller`` (default: this process) has ``mask`` (R/W/X_OK):
        the mode bits and the POSIX access ACL (``posix_acl.permits``) for anyone but root;
        root needs an x bit to execute a non-directory."""
        if caller is None:
            caller = Caller(os.geteuid(), os.getegid(), tuple(os.getgroups()))
        if caller.uid == 0:
            check_access(self._stat_only(target), mask, caller)
            return
        st, acl = self.stat_acl(target)
        check_permits(st, acl, mask, caller)

    def require_at(self, fd: int, st: os.stat_result, mask: int, caller: Caller) -> None:
        """:meth:`access`'s rules for the inode open as ``fd``, whose stat is ``st`` (no system
        call but the ACL's ``getxattr`` when it is not cached)."""
        if caller.uid == 0:
            check_access(st, mask, caller)
            return
        check_permits(
            st, self._acl(st, posix_acl.ACCESS_KEY, proc_path(fd), follow=True), mask, caller
        )

    def _acl(
        self, st: os.stat_result, key: str, path: str, *, follow: bool
    ) -> posix_acl.Acl | None:
        """The ACL ``key`` of the inode ``st`` (reached by ``path``), cached by inode."""
        if st_.S_ISLNK(st.st_mode):
            return None
        hit, acl = self.acls.get(st, key)
        if hit:
            return acl
        try:
            acl = posix_acl.decode_acl(os.getxattr(path, key, follow_symlinks=follow))
        except OSError as e:  # none set, no ACL support, or not one the kernel made
            if e.errno not in (errno.ENODATA, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            acl = None
        self.acls.put(st, key, acl)
        return acl

    def _gfid_at(self, fd: int, st: os.stat_result) -> bytes | None:
        """The ``trusted.gfid`` of the inode behind ``fd`` (whose stat is ``st``), cached."""
        hit, gfid = self.gfids.get(st, GFID_KEY)
        if hit:
            return gfid
        gfid = read_gfid(fd)
        if gfid is not None:
            self.gfids.put(st, GFID_KEY, gfid)
        return gfid

    def _made_with_gfid(self, st: os.stat_result, gfid: bytes) -> None:
        """An inode this store has just made (``st``, its last stat) got ``gfid`` and its
        handle, which ``_make_handle`` checked: known at its first LOOKUP (``put_own``)."""
        self.gfids.put_own(st, GFID_KEY, gfid)
        if not st_.S_ISDIR(st.st_mode):
            self.handle_checked.put_own(st, GFID_KEY, gfid)

    def _changed_not_gfid(self, before: os.stat_result, after: os.stat_result) -> None:
        """This store changed the inode between ``before`` and ``after`` without touching its
        gfid or handle (a WRITE): what was known of them holds (``carry``)."""
        self.gfids.carry(before, after, GFID_KEY)
        self.handle_checked.carry(before, after, GFID_KEY)

    def _changed_not_acls(self, before: os.stat_result, after: os.stat_result, since: int) -> None:
        """This store added, removed or renamed an entry of the directory, or wrote to the
        file, whose stats before and after are ``before`` and ``after`` (``since``:
        ``acls.generation`` taken before ``before``). That changes its ctime, not its ACLs:
        what was cached of them holds, unless the store forgot an ACL of any inode meanwhile
        (``InodeCache.carry``)."""
        self.acls.carry(before, after, *CACHED_ACL_KEYS, since=since)

    def _acls_changing(self, st: os.stat_result, acl: bool) -> AbstractContextManager[None]:
        """Around a change this store makes to the inode ``st``: when ``acl`` (it sets or
        removes an ACL), ``InodeCache.changing`` of its cached ACLs, else nothing."""
        return self.acls.changing(st, *CACHED_ACL_KEYS) if acl else nullcontext()

    def _made_without_acl(self, st: os.stat_result, owner: Caller | None, since: int) -> None:
        """An inode this store has just made (``st``, its last stat) in a directory without a
        default ACL has no ACL of its own (the kernel copies none, and the store sets none):
        known at its first access check, unless the store forgot an ACL of any inode since
        ``since`` (``InodeCache.put_own``). Only for an ``owner`` other than root: root's own
        checks read no ACL, so its entries are left to the settle rule."""
        if owner is None or not owner.uid or st_.S_ISLNK(st.st_mode):
            return  # root's, or a symlink (whose ACLs are never read)
        self.acls.put_own(st, posix_acl.ACCESS_KEY, None, since=since)
        if st_.S_ISDIR(st.st_mode):
            self.acls.put_own(st, posix_acl.DEFAULT_KEY, None, since=since)

    def _gfid_of(self, target: Target) -> bytes:
        return target.gfid if isinstance(target, OpenFile | OpenDir) else check_gfid(target)

    def _parent(self, pargfid: bytes) -> InodeRef:
        """The directory ``pargfid`` for one ``with`` block; ``stat()`` is its stat now. One
        that is not a directory is EPERM, as GlusterFS's server resolver answers a named FOP
        whose parent is of another type (``not_a_parent``)."""
        ref = self.handles.inode(pargfid)
        try:
            if not st_.S_ISDIR(ref.stat().st_mode):
                raise not_a_parent(pargfid)
        except BaseException:
            ref.__exit__()
            raise
        return ref

    @staticmethod
    def _entry_name(pargfid: bytes, name: str) -> None:
        check_name(name)
        if pargfid == ROOT_GFID and name == HIDDEN_DIR:
            raise OSError(errno.EPERM, f"{HIDDEN_DIR} is not accessible")

    def _stripe(self, pargfid: bytes, name: str) -> threading.Lock:
        return self._stripes[hash((pargfid, name)) % STRIPES]

    # -- lookup and stat ----------------------------------------------------------------------

    def lookup(
        self, pargfid: bytes, name: str, gfid_req: bytes | None = None
    ) -> tuple[IattValue, IattValue]:
        """LOOKUP of ``name`` in ``pargfid``: (entry iatt, parent iatt). Gives an entry without a
        gfid ``gfid_req`` or a new one. Never follows a symlink. FileNotFoundError when there
        is no such entry."""
        entry, parent = self.lookup_entry(pargfid, name, gfid_req)
        if entry is None:
            raise OSError(errno.ENOENT, name)
        return entry, parent

    def lookup_entry(
        self,
        pargfid: bytes,
        name: str,
        gfid_req: bytes | None = None,
        searcher: Caller | None = None,
    ) -> tuple[IattValue | None, IattValue]:
        """The LOOKUP FOP's :meth:`lookup`: (None, parent iatt) when there is no such entry,
        and, with ``searcher``, EACCES first unless that caller may search ``pargfid``
        (``access.X``). For a directory parent, the search permission is checked on the same
        stat the reply's parent iatt comes from: one ``fstat`` of the parent, not two."""
        pargfid = check_gfid(pargfid)
        if name in (".", ".."):
            if searcher is not None:
                self.access(pargfid, os.X_OK, searcher)
            return self._lookup_dot(pargfid, name)
        if searcher is None:
            self._entry_name(pargfid, name)
        with self.handles.inode(pargfid) as parent:
            pst = parent.stat()
            is_dir = st_.S_ISDIR(pst.st_mode)
            if searcher is not None:  # the search permission comes before the name's checks
                if not is_dir:  # but after the parent's type, as GlusterFS's resolver answers
                    raise not_a_parent(pargfid)
                self.require_at(parent.fd, pst, os.X_OK, searcher)
                self._entry_name(pargfid, name)
            if not is_dir:
                raise not_a_parent(pargfid)
            pfd = parent.fd
            try:
                known = self._known_entry(pfd, pargfid, name)
            except FileNotFoundError:
                return None, iatt_of(pargfid, pst)
            if known is not None:
                return iatt_of(known[0], known[1]), iatt_of(pargfid, pst)
            try:
                efd = os.open(name, O_PATH_NOFOLLOW, dir_fd=pfd)
            except FileNotFoundError:
                return None, iatt_of(pargfid, pst)
            with Owned(efd):
                st = os.fstat(efd)
                if (st.st_dev, st.st_ino) == self.handles.hidden_id:
                    return None, iatt_of(pargfid, pst)
                gfid = self._gfid_at(efd, st)
                if gfid is None or not self._handle_matches(gfid, pargfid, name, st):
                    gfid = self._ensure_gfid(pfd, pargfid, name, efd, st, gfid_req)
                    st = os.fstat(efd)  # its ctime changed
                elif not st_.S_ISDIR(st.st_mode):
                    self.handle_checked.put(st, GFID_KEY, gfid)
                if st_.S_ISDIR(st.st_mode):
                    self.handles.cache_dir(gfid, efd)
            return iatt_of(gfid, st), iatt_of(pargfid, pst)

    def _known_entry(
        self, pfd: int, pargfid: bytes, name: str
    ) -> tuple[bytes, os.stat_result] | None:
        """LOOKUP's fast path: the entry's gfid and stat when its gfid is cached for exactly
        this inode and ctime (``store.inodecache``) and its handle matches (for a file, once per
        ctime: ``handle_checked``), and, for a directory, its fd is cached already; None
        otherwise (then the full path runs)."""
        st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        if (st.st_dev, st.st_ino) == self.handles.hidden_id:
            raise OSError(errno.ENOENT, name)
        is_dir = st_.S_ISDIR(st.st_mode)
        if not is_dir:
            hit, gfid = self.handle_checked.get(st, GFID_KEY)
            if hit and gfid is not None:
                return gfid, st
        hit, gfid = self.gfids.get(st, GFID_KEY)
        if not hit or gfid is None:
            return None
        if is_dir and not self.handles.is_cached_dir(gfid):
            return None
        if not self._handle_matches(gfid, pargfid, name, st):
            return None
        if not is_dir:
            self.handle_checked.put(st, GFID_KEY, gfid)
        return gfid, st

    def entry_owner(self, pargfid: bytes, name: str) -> int:
        """The uid of the entry ``name`` of ``pargfid`` (ENOENT if there is none), from one
        ``fstatat`` of it; "." and ".." as LOOKUP answers them."""
        pargfid = check_gfid(pargfid)
        if name in (".", ".."):
            return self._lookup_dot(pargfid, name)[0].ia_uid
        self._entry_name(pargfid, name)
        with self._parent(pargfid) as parent:
            st = os.stat(name, dir_fd=parent.fd, follow_symlinks=False)
        if (st.st_dev, st.st_ino) == self.handles.hidden_id:
            raise OSError(errno.ENOENT, name)
        return st.st_uid

    def _lookup_dot(self, pargfid: bytes, name: str) -> tuple[IattValue, IattValue]:
        """LOOKUP of "." (the directory itself; gfapi resolves the root this way) or ".." (its
        parent, from the directory's handle; the brick root is its own parent, so nothing
        above DIR is ever looked at)."""
        with self._parent(pargfid) as parent:
            here = iatt_of(pargfid, parent.stat())
        if name == "." or pargfid == ROOT_GFID:
            return here, here
        found = self.handles.handle_lstat(pargfid)
        parsed = parse_dir_handle(found[1]) if found is not None and found[1] else None
        if parsed is None:
            raise OSError(errno.ESTALE, f"no parent known for {gfid_str(pargfid)}")
        return self.stat(parsed[0]), here

    def stat(self, target: Target) -> IattValue:
        """STAT / FSTAT / nameless LOOKUP by gfid."""
        return iatt_of(self._gfid_of(target), self._stat_only(target))

    def _stat_only(self, target: Target) -> os.stat_result:
        """The target's stat, in one system call."""
        if isinstance(target, OpenFile | OpenDir):
            with target.pinned() as fd:
                return os.fstat(fd)
        return self.handles.stat_of(check_gfid(target))

    # -- gfid assignment (see "Gfid rules" in store/__init__.py) ------------------------------

    def _ensure_gfid(
        self,
        pfd: int,
        pargfid: bytes,
        name: str,
        efd: int,
        st: os.stat_result,
        gfid_req: bytes | None,
    ) -> bytes:
        gfid = read_gfid(efd)
        if gfid is not None and self._handle_matches(gfid, pargfid, name, st):
            return gfid
        with self._stripe(pargfid, name):
            gfid = read_gfid(efd)
            if gfid is None:
                gfid = set_gfid_once(efd, self._wanted_gfid(gfid_req, st, pargfid, name))
            if not self._handle_matches(gfid, pargfid, name, st):
                gfid = self._repair_handle(gfid, pfd, pargfid, name, efd, st)
        return gfid

    def _wanted_gfid(
        self, gfid_req: bytes | None, st: os.stat_result, pargfid: bytes, name: str
    ) -> bytes:
        """The gfid a LOOKUP gives an entry that has none: the client's ``gfid-req`` if it is
        free, else a fresh one (a lookup never fails because of its ``gfid-req``)."""
        if gfid_req is None or bytes(gfid_req) == NULL_GFID:
            return uuid.uuid4().bytes
        want = check_gfid(gfid_req)
        if not self._gfid_taken(want, st):
            return want
        fresh = uuid.uuid4().bytes
        log.warning(
            "lookup of %s in %s asked for gfid %s, which another inode has; gave %s",
            name,
            gfid_str(pargfid),
            gfid_str(want),
            gfid_str(fresh),
        )
        return fresh

    def _gfid_taken(self, gfid: bytes, st: os.stat_result | None) -> bool:
        """Whether ``gfid`` belongs to an inode other than ``st``'s (None: an inode still to be
        made), so must not be given to it: always for the null and the root gfid; for others
        when their handle leads to another live inode (a file handle with other names, a
        directory handle that resolves). A stale handle (a file handle that is its inode's
        last link, a directory handle that no longer resolves) is removed on the way and the
        gfid is free again, as posix replaces such handles."""
        if gfid in (NULL_GFID, ROOT_GFID):
            return True
        if st is None and not self.handles.handle_exists(gfid):
            return False  # the usual case: a new entry's gfid-req has no handle
        found = self.handles.handle_lstat(gfid)
        if found is None:
            return False
        hst, target = found
        if not is_dir_handle(target):  # a hard link to a non-directory
            if st is not None and (hst.st_dev, hst.st_ino) == (st.st_dev, st.st_ino):
                return False
            if hst.st_nlink > 1:
                return True
            self.handles.remove_handle(gfid, ino=hst.st_ino, only_if_last=True)
            return False
        try:
            ost = self._dir_handle_stat(gfid)
        except OSError as e:
            if e.errno != errno.ESTALE:
                raise
            with self._dir_renames:  # not mid-rename: a directory rename holds this lock
                try:
                    ost = self._dir_handle_stat(gfid)
                except OSError as e2:
                    if e2.errno != errno.ESTALE:
                        raise
                    self.handles.remove_handle(gfid, ino=hst.st_ino)
                    return False
        return st is None or (ost.st_dev, ost.st_ino) != (st.st_dev, st.st_ino)

    def _dir_handle_stat(self, gfid: bytes) -> os.stat_result:
        with self.handles.inode(gfid) as ref:
            return ref.stat()

    def _handle_matches(self, gfid: bytes, pargfid: bytes, name: str, st: os.stat_result) -> bool:
        found = self.handles.handle_lstat(gfid)
        if found is None:
            return False
        hst, target = found
        if st_.S_ISDIR(st.st_mode):
            return target is not None and parse_dir_handle(target) == (pargfid, name)
        return (hst.st_dev, hst.st_ino) == (st.st_dev, st.st_ino)

    def _repair_handle(
        self, gfid: bytes, pfd: int, pargfid: bytes, name: str, efd: int, st: os.stat_result
    ) -> bytes:
        """Make the handle of an entry whose ``trusted.gfid`` has none, or a wrong one. An
        entry carrying a gfid that another live inode owns (a ``cp -a`` copy, or the root's)
        gets a new gfid rather than taking the other inode's identity."""
        if self._gfid_taken(gfid, st):
            new = uuid.uuid4().bytes
            log.warning(
                "entry %s in %s has gfid %s, which another inode owns; new gfid %s",
                name,
                gfid_str(pargfid),
                gfid_str(gfid),
                gfid_str(new),
            )
            os.setxattr(proc_path(efd), GFID_KEY, new)
            gfid = new
        self._make_handle(gfid, pfd, pargfid, name, st)
        return gfid

    def _make_handle(
        self, gfid: bytes, pfd: int, pargfid: bytes, name: str, st: os.stat_result
    ) -> None:
        """Give the entry ``name`` (inode ``st``) the handle of ``gfid``, never taking the
        handle of another live inode: ESTALE if one appeared meanwhile."""
        if st_.S_ISDIR(st.st_mode):
            try:
                self.handles.set_dir_handle(gfid, pargfid, name, replace=False)
                return
            except FileExistsError:
                pass
            if self._gfid_taken(gfid, st):
                raise OSError(errno.ESTALE, f"gfid {gfid_str(gfid)} was taken meanwhile")
            self.handles.set_dir_handle(gfid, pargfid, name)
            return
        try:
            self.handles.link_file_handle(gfid, pfd, name)
        except FileExistsError:
            pass
        found = self.handles.handle_lstat(gfid)
        if found is None or (found[0].st_dev, found[0].st_ino) != (st.st_dev, st.st_ino):
            raise OSError(errno.ESTALE, f"{name} changed while its handle was made")
