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

Open directory descriptors are cached by gfid (an open fd follows its directory through any
rename, so the cache needs no invalidation except on rmdir). Callers always get their own
``dup`` of a cached fd, taken under the cache lock, so eviction never closes a descriptor in use.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat as st_
import threading
import uuid
from collections import OrderedDict

from gfrpc.errors import ConfigError
from gfrpc.programs.fops_types import ROOT_GFID
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
    """A client-supplied entry name: one component. '/', NUL, '', '.', '..' → EINVAL."""
    if not name or name in (".", "..") or "/" in name or "\x00" in name:
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


def set_gfid_once(fd: int, gfid: bytes) -> bytes:
    """Give the inode ``gfid`` unless it already has one (XATTR_CREATE); return its gfid."""
    try:
        os.setxattr(proc_path(fd), GFID_KEY, gfid, os.XATTR_CREATE)
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


class HandleIndex:
    """Owns the brick root fd, ``.glusterfs`` and the gfid → inode resolution."""

    def __init__(self, directory: str, *, dir_cache_size: int = 1024) -> None:
        try:
            self.root_fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as e:
            raise ConfigError(f"brick directory {directory}: {e.strerror}") from e
        self._lock = threading.Lock()
        self._level1: dict[int, int] = {}
        self._dirs: OrderedDict[bytes, int] = OrderedDict()
        self._dir_cache_size = dir_cache_size
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
            fds = [*self._level1.values(), *self._dirs.values(), self.hidden_fd, self.root_fd]
            self._level1.clear()
            self._dirs.clear()
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
        return f"{gfid[0]:02x}/{gfid[1]:02x}/{gfid_str(gfid)}"

    def handle_lstat(self, gfid: bytes) -> tuple[os.stat_result, str | None] | None:
        """lstat of the handle and, for a directory handle, its symlink target; None if absent."""
        path = self.handle_path(gfid)
        try:
            st = os.stat(path, dir_fd=self.hidden_fd, follow_symlinks=False)
            target = None
            if st_.S_ISLNK(st.st_mode) and st.st_nlink == 1:
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
        cached = self._cached_dir(gfid)
        if cached is not None:
            return cached
        path = self.handle_path(gfid)
        try:
            fd = os.open(path, O_PATH_NOFOLLOW, dir_fd=self.hidden_fd)
        except (FileNotFoundError, NotADirectoryError):
            raise OSError(errno.ESTALE, f"no inode with gfid {gfid_str(gfid)}") from None
        try:
            st = os.fstat(fd)
            if not (st_.S_ISLNK(st.st_mode) and st.st_nlink == 1):
                return fd  # a file's handle is a hard link to the inode itself
            target = os.readlink(path, dir_fd=self.hidden_fd)
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        parsed = parse_dir_handle(target)
        if parsed is not None or target == ROOT_HANDLE_TARGET:
            return self._open_dir_via(gfid, parsed)
        # a symlink that is not a directory handle: a symbolic link's own handle (hard link)
        return os.open(path, O_PATH_NOFOLLOW, dir_fd=self.hidden_fd)

    def _open_dir_via(self, gfid: bytes, parsed: tuple[bytes, str] | None) -> int:
        if parsed is None:  # a second "../../.." handle: never trust it
            raise OSError(errno.ESTALE, f"bad directory handle for {gfid_str(gfid)}")
        parent, name = parsed
        pfd = self.open_inode(parent)
        try:
            fd = os.open(name, O_PATH_DIR, dir_fd=pfd)
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                raise
            raise OSError(errno.ESTALE, f"stale directory handle for {gfid_str(gfid)}") from e
        finally:
            os.close(pfd)
        try:
            if read_gfid(fd) != gfid:
                raise OSError(errno.ESTALE, f"stale directory handle for {gfid_str(gfid)}")
        except BaseException:
            os.close(fd)
            raise
        self.cache_dir(gfid, fd)
        return fd

    # -- directory fd cache ----------------------------------------------------------------------

    def _cached_dir(self, gfid: bytes) -> int | None:
        with self._lock:
            fd = self._dirs.get(gfid)
            if fd is None:
                return None
            if os.fstat(fd).st_nlink == 0:  # removed behind our back
                del self._dirs[gfid]
                os.close(fd)
                return None
            self._dirs.move_to_end(gfid)
            return os.dup(fd)

    def cache_dir(self, gfid: bytes, fd: int) -> None:
        """Remember a dup of directory ``fd`` (the caller keeps ``fd``)."""
        if gfid == ROOT_GFID:
            return
        with self._lock:
            if gfid in self._dirs:
                return
            self._dirs[gfid] = os.dup(fd)
            while len(self._dirs) > self._dir_cache_size:
                _, old = self._dirs.popitem(last=False)
                os.close(old)

    def evict_dir(self, gfid: bytes) -> None:
        with self._lock:
            fd = self._dirs.pop(gfid, None)
        if fd is not None:
            os.close(fd)

    # -- creating and removing handles -------------------------------------------------------------

    def link_file_handle(self, gfid: bytes, dirfd: int, name: str) -> None:
        """Hard-link the entry ``name`` of ``dirfd`` (not followed) as the handle of ``gfid``."""
        l2 = self.hash_dir(gfid, create=True)
        try:
            os.link(name, gfid_str(gfid), src_dir_fd=dirfd, dst_dir_fd=l2, follow_symlinks=False)
        finally:
            os.close(l2)

    def set_dir_handle(
        self, gfid: bytes, parent: bytes, name: str, *, replace: bool = True
    ) -> None:
        """Create or atomically replace the symlink handle of directory ``gfid``; with
        ``replace=False`` only create it (FileExistsError if a handle is there)."""
        l2 = self.hash_dir(gfid, create=True)
        try:
            if not replace:
                os.symlink(dir_handle_target(parent, name), gfid_str(gfid), dir_fd=l2)
                return
            tmp = f".{gfid_str(gfid)}.{uuid.uuid4().hex}"
            os.symlink(dir_handle_target(parent, name), tmp, dir_fd=l2)
            os.replace(tmp, gfid_str(gfid), src_dir_fd=l2, dst_dir_fd=l2)
        finally:
            os.close(l2)

    def remove_handle(
        self, gfid: bytes, *, ino: int | None = None, only_if_last: bool = False
    ) -> None:
        """Unlink the handle of ``gfid``; with ``ino`` only if it is that inode, with
        ``only_if_last`` only if the handle is the inode's last link. Missing is fine."""
        if gfid == ROOT_GFID:
            return
        self.evict_dir(gfid)
        try:
            l2 = self.hash_dir(gfid)
        except FileNotFoundError:
            return
        try:
            name = gfid_str(gfid)
            try:
                st = os.stat(name, dir_fd=l2, follow_symlinks=False)
            except FileNotFoundError:
                return
            if ino is not None and st.st_ino != ino:
                return
            if only_if_last and st.st_nlink != 1:
                return
            try:
                os.unlink(name, dir_fd=l2)
            except FileNotFoundError:
                pass
        finally:
            os.close(l2)
