"""The gfid → inode index of the brick: GlusterFS's own ``.glusterfs`` handle layout.

Theory of operation. Every inode the brick has seen carries its gfid in the xattr
``trusted.gfid`` (16 raw bytes) and has a *handle* named after the gfid::

    DIR/.glusterfs/<g0>/<g1>/<gfid-uuid-string>      g0, g1 = first two gfid bytes in hex

* non-directories (files, symlinks, devices, fifos, sockets): the handle is a **hard link** to
  the inode, so the inode is reachable by gfid whatever its name(s) — renames and extra links
  need no index update, and posix reports ``nlink - 1``;
* directories: the handle is a **symlink** ``../../<p0>/<p1>/<parent-gfid>/<basename>``,
  i.e. "the entry <basename> in the directory whose handle is <parent-gfid>"; the root's
  handle (``.glusterfs/00/00/00000000-0000-0000-0000-000000000001``) is ``../../..``. A rename
  of a directory rewrites one symlink; its descendants' handles stay valid because they name
  their parent by gfid.

Why this design rather than an sqlite index: it is what GlusterFS 10's posix xlator keeps on
disk (``posix-handle.c``), so a real ``glusterfsd`` can serve a gfrpc brick directory (and the
other way round); the index lives in the same filesystem as the data, so it is crash-consistent
with it without a second journal; file renames and hard links cost nothing; and a file stays an
ordinary file a user can read. ``.glusterfs`` itself is hidden from clients (readdir skips it in
the root, lookup/mkdir/rmdir of it give EPERM as in posix-entry-ops.c).

Safety. Client input never becomes a path: entries are reached as (directory fd, one checked
name) with ``O_NOFOLLOW``, directories are opened one component at a time from the brick's own
fd, and inodes are then handled through ``O_PATH`` descriptors (``/proc/self/fd/N`` for the
calls that have no fd form: xattrs, utimes, chmod, re-open). Symlinks planted in the brick are
thus never followed, whatever their target. A directory opened through its handle is checked to
carry the expected gfid (``ESTALE`` otherwise). Hash directories are created mode 0700 (GlusterFS
creates ``.glusterfs`` 0600 and the hash levels 0700; 0700 for all is equivalent for root).
A handle is made, read and removed by its path below ``hidden_fd`` (``<g0>/<g1>/<uuid>``, our own
hex names, one system call), once its hash directory is known to exist (made or found once per
index; made again if it vanished).

Open directory descriptors are cached by gfid and lent pinned (``store.dirfds``).
``inode(gfid)`` lends a descriptor for one ``with`` block (an ``InodeRef``): a cached
directory's own fd, the root's fd, or a file's handle opened for the block. ``stat_of(gfid)``
answers a file's stat with one ``lstat`` of its handle (the hard link *is* the inode), a
directory's with one ``fstat`` of its cached fd.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat as st_
import threading
import uuid
from collections.abc import Callable
from typing import Final

from gfrpc.errors import ConfigError
from gfrpc.programs.fops_types import ROOT_GFID
from gfrpc.services.brick.store.dirfds import DirFdCache, InodeRef
from gfrpc.services.brick.store.iatt import gfid_str

GFID_KEY = "trusted.gfid"
HIDDEN_DIR = ".glusterfs"
ROOT_HANDLE_TARGET = "../../.."
log = logging.getLogger("gfrpc.brick.store")
UNLINK_DIR = "unlink"  # below .glusterfs: files GlusterFS unlinked while they were open

O_PATH_NOFOLLOW = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
O_PATH_DIR = O_PATH_NOFOLLOW | os.O_DIRECTORY

_DIR_HANDLE_RE = re.compile(
    r"\.\./\.\./([0-9a-f]{2})/([0-9a-f]{2})/"
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/([^/\x00]+)",
    re.S,
)


def proc_path(fd: int) -> str:
    """The magic link that reaches exactly ``fd``'s inode (no path walk, no symlink follow)."""
    return f"/proc/self/fd/{fd}"


def check_name(name: str) -> str:
    """A client-supplied entry name: one component. '/' → EPERM (GlusterFS's server resolver
    refuses a name that spans directories so); NUL, '', '.', '..' → EINVAL."""
    if "/" in name:
        raise OSError(errno.EPERM, f"entry name {name!r} spans directories")
    if not name or name in (".", "..") or "\x00" in name:
        raise OSError(errno.EINVAL, f"invalid entry name {name!r}")
    return name


def read_gfid(fd: int) -> bytes | None:
    """The ``trusted.gfid`` of the inode behind ``fd`` (any fd, O_PATH included), or None."""
    try:
        value = os.getxattr(proc_path(fd), GFID_KEY)
    except OSError as e:
        if e.errno == errno.ENODATA:
            return None
        raise
    return value if len(value) == 16 else None


def set_gfid_once(fd: int, gfid: bytes, *, opened: bool = False) -> bytes:
    """Give the inode ``gfid`` unless it already has one (XATTR_CREATE); return its gfid.
    ``opened``: ``fd`` is open for I/O (not O_PATH), so the xattr is set through it directly
    rather than through its ``/proc`` path."""
    try:
        os.setxattr(fd if opened else proc_path(fd), GFID_KEY, gfid, os.XATTR_CREATE)
        return gfid
    except OSError as e:
        if e.errno != errno.EEXIST:
            raise
    current = read_gfid(fd)
    if current is None:
        raise OSError(errno.EIO, "malformed trusted.gfid on the brick")
    return current


def dir_handle_target(parent: bytes, name: str) -> str:
    return f"../../{parent[0]:02x}/{parent[1]:02x}/{gfid_str(parent)}/{name}"


def parse_dir_handle(target: str) -> tuple[bytes, str] | None:
    """(parent gfid, name) of a directory handle's target, None if malformed or the root's."""
    m = _DIR_HANDLE_RE.fullmatch(target)
    if m is None:
        return None
    parent = uuid.UUID(m.group(3)).bytes
    name = m.group(4)
    if m.group(1) != f"{parent[0]:02x}" or m.group(2) != f"{parent[1]:02x}" or name in (".", ".."):
        return None
    return parent, name


def is_dir_handle(target: str | None) -> bool:
    """Whether a handle's symlink target (``handle_lstat``'s second value) is a directory
    handle: ``../../<p0>/<p1>/<parent>/<name>`` or the root's ``../../..``. A symlink *file*
    whose last name is gone also shows a target (its own text), and is not one."""
    return target is not None and (
        target == ROOT_HANDLE_TARGET or parse_dir_handle(target) is not None
    )


#: how many times a handle seen just as a rename replaced it is looked at again
_REPLACED_RETRIES = 4


def maybe_dir_handle(st: os.stat_result) -> bool:
    """Whether a handle with this lstat may be a directory's (its target then tells): a symlink
    with one link, or with **none**. A directory rename replaces the handle with ``rename(2)``
    of a new symlink over it; a walk that reached the old symlink just before sees it with no
    link left (taken for a file's hard link, it would read as an orphan: the gfid would look
    free while the directory lives). A file's handle is a hard link, so a symlink *file* shows
    two links or more while it has a name."""
    return st_.S_ISLNK(st.st_mode) and st.st_nlink <= 1


def _open_or_mkdir(dirfd: int, name: str, *, create: bool = True) -> int:
    try:
        return os.open(name, O_PATH_DIR, dir_fd=dirfd)
    except FileNotFoundError:
        if not create:
            raise
    try:
        os.mkdir(name, 0o700, dir_fd=dirfd)
    except FileExistsError:
        pass
    return os.open(name, O_PATH_DIR, dir_fd=dirfd)


def _mkdir_once(dirfd: int, path: str) -> None:
    """``mkdirat`` of ``path`` below ``dirfd``; one that is there already is fine."""
    try:
        os.mkdir(path, 0o700, dir_fd=dirfd)
    except FileExistsError:
        pass


#: handle paths by gfid (a path is a pure function of its gfid)
_HANDLE_PATHS: dict[bytes, str] = {}
#: how many it keeps before it starts again: as many inodes as a GlusterFS server's inode
#: table keeps (``network.inode-lru-limit``, 16384), about 3 MB. At 4096, fio's 4,800 new
#: files were forgotten between the create pass and the read pass (Performance notes 61).
_HANDLE_PATHS_MAX: Final = 16384


class HandleIndex:
    """Owns the brick root fd, ``.glusterfs`` and the gfid → inode resolution."""

    def __init__(self, directory: str, *, dir_cache_size: int = 1024) -> None:
        try:
            self.root_fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as e:
            raise ConfigError(f"brick directory {directory}: {e.strerror}") from e
        self._lock = threading.Lock()
        self._level1: dict[int, int] = {}
        #: cached directory descriptors by gfid, lent pinned (``store.dirfds``)
        self.dirs = DirFdCache(dir_cache_size)
        self.is_cached_dir = self.dirs.holds
        self.evict_dir = self.dirs.evict
        self._hash_dirs: set[int] = set()  # <g0><g1> hash directories known to exist
        try:
            self._init_root()
            self.hidden_fd = _open_or_mkdir(self.root_fd, HIDDEN_DIR)
            st = os.fstat(self.hidden_fd)
            self.hidden_id = (st.st_dev, st.st_ino)
            self._ensure_root_handle()
            self._empty_unlink_dir()
        except OSError as e:
            os.close(self.root_fd)
            raise ConfigError(f"brick directory {directory}: {e}") from e

    def _init_root(self) -> None:
        try:
            current = set_gfid_once(self.root_fd, ROOT_GFID)
        except PermissionError as e:
            raise ConfigError("trusted.* xattrs need CAP_SYS_ADMIN: run the brick as root") from e
        if current != ROOT_GFID:
            raise ConfigError(f"brick root has gfid {gfid_str(current)}, expected the root gfid")

    def _ensure_root_handle(self) -> None:
        l2 = self.hash_dir(ROOT_GFID, create=True)
        try:
            os.symlink(ROOT_HANDLE_TARGET, gfid_str(ROOT_GFID), dir_fd=l2)
        except FileExistsError:
            pass
        finally:
            os.close(l2)

    def _empty_unlink_dir(self) -> None:
        """Empty ``.glusterfs/unlink`` as posix does at start-up: GlusterFS moves a file there
        when it is unlinked while still open, and after a restart nothing has it open any
        more. gfrpc itself never puts anything there; this is for directories a real brick
        served before. Symlinks are removed, never followed."""
        try:
            if not st_.S_ISDIR(
                os.stat(UNLINK_DIR, dir_fd=self.hidden_fd, follow_symlinks=False).st_mode
            ):
                return
        except FileNotFoundError:
            return
        for _, dirs, files, dfd in os.fwalk(
            UNLINK_DIR, dir_fd=self.hidden_fd, topdown=False, follow_symlinks=False
        ):
            for name in files + dirs:
                try:
                    try:
                        os.unlink(name, dir_fd=dfd)  # files, and symlinks even to directories
                    except (IsADirectoryError, PermissionError):  # EISDIR / Linux's EPERM
                        os.rmdir(name, dir_fd=dfd)
                except FileNotFoundError:
                    pass
                except OSError as e:  # as posix: warn, and start anyway
                    log.warning(
                        "could not remove %s from %s/%s: %s",
                        name,
                        HIDDEN_DIR,
                        UNLINK_DIR,
                        e.strerror,
                    )

    def close(self) -> None:
        with self._lock:
            fds = [*self._level1.values(), self.hidden_fd, self.root_fd]
            self._level1.clear()
        fds += self.dirs.close()
        for fd in fds:
            os.close(fd)

    # -- the two hash levels -------------------------------------------------------------------

    def hash_dir(self, gfid: bytes, *, create: bool = False) -> int:
        """A new O_PATH fd on ``.glusterfs/<g0>/<g1>`` (FileNotFoundError if absent)."""
        with self._lock:
            l1 = self._level1.get(gfid[0])
            if l1 is None:
                l1 = _open_or_mkdir(self.hidden_fd, f"{gfid[0]:02x}", create=create)
                self._level1[gfid[0]] = l1
            return _open_or_mkdir(l1, f"{gfid[1]:02x}", create=create)

    @staticmethod
    def handle_path(gfid: bytes) -> str:
        """The handle's path below ``.glusterfs``: ``<g0>/<g1>/<uuid>`` (our own hex names
        only, so it is walked in one system call from ``hidden_fd``)."""
        path = _HANDLE_PATHS.get(gfid) if type(gfid) is bytes else None
        if path is None:
            path = f"{gfid[0]:02x}/{gfid[1]:02x}/{gfid_str(gfid)}"
            if len(_HANDLE_PATHS) >= _HANDLE_PATHS_MAX:  # bounded: cleared when full
                _HANDLE_PATHS.clear()
            _HANDLE_PATHS[bytes(gfid)] = path
        return path

    def handle_exists(self, gfid: bytes) -> bool:
        """Whether the handle of ``gfid`` is there (not followed): ``faccessat``, which answers
        an absent one without an exception. For creations, whose gfid has none as a rule."""
        return os.access(
            self.handle_path(gfid), os.F_OK, dir_fd=self.hidden_fd, follow_symlinks=False
        )

    def handle_lstat(self, gfid: bytes) -> tuple[os.stat_result, str | None] | None:
        """lstat of the handle and, for a directory handle, its symlink target; None if absent.
        A symlink seen with no link left is one that a rename replaced under us (see
        ``maybe_dir_handle``): the stat is taken again, so that it is the current handle's."""
        path = self.handle_path(gfid)
        try:
            for _ in range(_REPLACED_RETRIES):
                st = os.stat(path, dir_fd=self.hidden_fd, follow_symlinks=False)
                if st.st_nlink or not st_.S_ISLNK(st.st_mode):
                    break
            target = None
            if maybe_dir_handle(st):
                target = os.readlink(path, dir_fd=self.hidden_fd)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st, target

    # -- gfid → O_PATH fd ----------------------------------------------------------------------

    def open_inode(self, gfid: bytes) -> int:
        """A new O_PATH fd on the inode with ``gfid``; ESTALE if no such inode (as the server's
        gfid resolution reports it)."""
        if gfid == ROOT_GFID:
            return os.dup(self.root_fd)
        cached = self.dirs.pin(gfid)
        if cached is not None:
            with cached:
                return os.dup(cached.fd)
        return self._open_handle(gfid)[0]

    def _open_handle(self, gfid: bytes) -> tuple[int, os.stat_result | None]:
        """``open_inode`` without the cache: through the handle (a directory's is cached);
        a non-directory's stat comes with it."""
        path = self.handle_path(gfid)
        try:
            fd = os.open(path, O_PATH_NOFOLLOW, dir_fd=self.hidden_fd)
        except (FileNotFoundError, NotADirectoryError):
            raise OSError(errno.ESTALE, f"no inode with gfid {gfid_str(gfid)}") from None
        try:
            st = os.fstat(fd)
            if not maybe_dir_handle(st):
                return fd, st  # a file's handle is a hard link to the inode itself
            target = os.readlink(path, dir_fd=self.hidden_fd)
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        parsed = parse_dir_handle(target)
        if parsed is not None or target == ROOT_HANDLE_TARGET:
            return self._open_dir_via(gfid, parsed), None
        # a symlink that is not a directory handle: a symbolic link's own handle (hard link)
        return os.open(path, O_PATH_NOFOLLOW, dir_fd=self.hidden_fd), None

    def _open_dir_via(self, gfid: bytes, parsed: tuple[bytes, str] | None) -> int:
        if parsed is None:  # a second "../../.." handle: never trust it
            raise OSError(errno.ESTALE, f"bad directory handle for {gfid_str(gfid)}")
        parent, name = parsed
        with self.inode(parent) as pref:
            try:
                fd = os.open(name, O_PATH_DIR, dir_fd=pref.fd)
            except OSError as e:
                if e.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    raise
                raise OSError(errno.ESTALE, f"stale directory handle for {gfid_str(gfid)}") from e
        try:
            if read_gfid(fd) != gfid:
                raise OSError(errno.ESTALE, f"stale directory handle for {gfid_str(gfid)}")
        except BaseException:
            os.close(fd)
            raise
        self.cache_dir(gfid, fd)
        return fd

    def pinned_dir(self, gfid: bytes) -> InodeRef | None:
        """The root's or a cached directory's fd (with its stat) for one ``with`` block, or
        None when ``gfid`` is not among them (not a directory, or not cached)."""
        if gfid == ROOT_GFID:
            return InodeRef(self.root_fd, None, None)
        return self.dirs.pin(gfid)

    def handle_xattr_path(self, gfid: bytes) -> str:
        """A path for the xattr calls on a non-directory's handle, to be used without
        following (``follow_symlinks=False``): the handle *is* the inode (a hard link)."""
        return f"{proc_path(self.hidden_fd)}/{self.handle_path(gfid)}"

    def inode(self, gfid: bytes) -> InodeRef:
        """The inode with ``gfid`` for one ``with`` block (ESTALE if there is none): a cached
        directory's fd pinned, the root's fd, or a new O_PATH fd closed at the end."""
        if gfid == ROOT_GFID:
            return InodeRef(self.root_fd, None, None)
        cached = self.dirs.pin(gfid)
        if cached is not None:
            return cached
        fd, st = self._open_handle(gfid)
        return InodeRef(fd, st, lambda: os.close(fd))

    def stat_of(self, gfid: bytes) -> os.stat_result:
        """The stat of the inode with ``gfid`` (ESTALE if there is none) in one system call
        when it can: a cached directory's ``fstat``, or a non-directory's handle ``lstat``
        (the handle is a hard link to the inode itself)."""
        if gfid != ROOT_GFID:
            cached = self.dirs.pin(gfid)
            if cached is not None:
                with cached:
                    return cached.stat()
            try:
                st = os.stat(self.handle_path(gfid), dir_fd=self.hidden_fd, follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError):
                raise OSError(errno.ESTALE, f"no inode with gfid {gfid_str(gfid)}") from None
            if not maybe_dir_handle(st):
                return st
        with self.inode(gfid) as ref:
            return ref.stat()

    # -- directory fd cache (store.dirfds) ---------------------------------------------------

    def cache_dir(self, gfid: bytes, fd: int) -> None:
        """Remember a dup of directory ``fd`` (the caller keeps ``fd``); never the root's."""
        if gfid != ROOT_GFID:
            self.dirs.put(gfid, fd)

    # -- creating and removing handles -------------------------------------------------------------

    def _ensure_hash_dir(self, gfid: bytes) -> None:
        """Make ``.glusterfs/<g0>/<g1>`` unless this index made or found it already (then no
        system call: the handle is reached by its path below ``hidden_fd``). A new one is one
        ``mkdirat``: most new gfids of a young brick fall in a hash directory not made yet, and
        an ``open`` that fails first costs a system call and an exception more."""
        key = gfid[0] << 8 | gfid[1]
        if key in self._hash_dirs:
            return
        level1 = f"{gfid[0]:02x}"
        level2 = f"{level1}/{gfid[1]:02x}"
        try:
            os.mkdir(level2, 0o700, dir_fd=self.hidden_fd)
        except FileExistsError:
            pass
        except FileNotFoundError:  # its first level is not there either
            _mkdir_once(self.hidden_fd, level1)
            _mkdir_once(self.hidden_fd, level2)
        self._hash_dirs.add(key)

    def _in_hash_dir(self, gfid: bytes, op: Callable[[], None]) -> None:
        """Run ``op`` (which makes the handle of ``gfid``) once its hash directory is there;
        once more after making it again if ``op`` finds it gone (ENOENT)."""
        self._ensure_hash_dir(gfid)
        try:
            op()
        except FileNotFoundError:  # removed behind our back (or the source entry is gone)
            self._hash_dirs.discard(gfid[0] << 8 | gfid[1])
            self._ensure_hash_dir(gfid)
            op()

    def link_file_handle(self, gfid: bytes, dirfd: int, name: str) -> None:
        """Hard-link the entry ``name`` of ``dirfd`` (not followed) as the handle of ``gfid``."""
        path = self.handle_path(gfid)
        self._in_hash_dir(
            gfid,
            lambda: os.link(
                name, path, src_dir_fd=dirfd, dst_dir_fd=self.hidden_fd, follow_symlinks=False
            ),
        )

    def set_dir_handle(
        self, gfid: bytes, parent: bytes, name: str, *, replace: bool = True
    ) -> None:
        """Create or atomically replace the symlink handle of directory ``gfid``; with
        ``replace=False`` only create it (FileExistsError if a handle is there)."""
        target = dir_handle_target(parent, name)
        path = self.handle_path(gfid)

        def make() -> None:
            if not replace:
                os.symlink(target, path, dir_fd=self.hidden_fd)
                return
            # a name of its own beside the handle, renamed over it (a MKDIR needs none)
            tmp = f"{path[:6]}.{gfid_str(gfid)}.{uuid.uuid4().hex}"
            os.symlink(target, tmp, dir_fd=self.hidden_fd)
            os.replace(tmp, path, src_dir_fd=self.hidden_fd, dst_dir_fd=self.hidden_fd)

        self._in_hash_dir(gfid, make)

    def remove_handle(
        self, gfid: bytes, *, ino: int | None = None, only_if_last: bool = False
    ) -> None:
        """Unlink the handle of ``gfid``; with ``ino`` only if it is that inode, with
        ``only_if_last`` only if the handle is the inode's last link. Missing is fine."""
        if gfid == ROOT_GFID:
            return
        self.evict_dir(gfid)
        path = self.handle_path(gfid)
        try:
            st = os.stat(path, dir_fd=self.hidden_fd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return
        if ino is not None and st.st_ino != ino:
            return
        if only_if_last and st.st_nlink != 1:
            return
        try:
            os.unlink(path, dir_fd=self.hidden_fd)
        except FileNotFoundError:
            pass
