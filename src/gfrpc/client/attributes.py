"""Attributes of what a path names: modes, owners, times, sizes, xattrs and STATFS.

The ``Volume`` methods that change or read an inode's attributes, as a base class of it
(``Volume(Attributes)``), on the path resolution of ``Namespace``. On distribute volumes a
directory exists on every brick, so its attributes are set on every brick (DHT does the same);
a file's only on the brick holding its data. STATFS is summed over the bricks as DHT does.
"""

from __future__ import annotations

import errno
import math
import os

from gfrpc.programs.fops_types import (
    GF_ATTR_ATIME_NOW,
    GF_ATTR_MTIME_NOW,
    GF_SET_ATTR_ATIME,
    GF_SET_ATTR_GID,
    GF_SET_ATTR_MODE,
    GF_SET_ATTR_MTIME,
    GF_SET_ATTR_UID,
)

from .connection import xattr_bytes
from .errors import fop_error
from .namespace import Namespace, Node, norm_path

__all__ = ["Attributes"]


class Attributes(Namespace):
    """chmod, chown, utime, truncate, xattrs and statvfs of ``Volume``."""

    def _setattr(self, p: str, valid: int, **fields: int) -> None:
        def op(n: Node) -> None:
            for i in range(len(self.bricks)) if n.is_dir else [n.brick]:
                self.bricks[i].setattr(n.gfid, valid, path=p, **fields)

        self._retry(p, op)

    def chmod(self, path: str | os.PathLike[str], mode: int) -> None:
        """Set the permission bits (``mode & 0o7777``) of what ``path`` names."""
        self._setattr(norm_path(path), GF_SET_ATTR_MODE, mode=mode & 0o7777)

    def chown(self, path: str | os.PathLike[str], uid: int, gid: int) -> None:
        """Set the owner and group; -1 leaves one unchanged (like ``os.chown``)."""
        valid = (GF_SET_ATTR_UID if uid != -1 else 0) | (GF_SET_ATTR_GID if gid != -1 else 0)
        if valid:
            self._setattr(norm_path(path), valid, uid=max(uid, 0), gid=max(gid, 0))

    def utime(
        self,
        path: str | os.PathLike[str],
        times: tuple[float, float] | None = None,
        *,
        ns: tuple[int, int] | None = None,
    ) -> None:
        """Set access and modification times like ``os.utime``: ``times`` in seconds or
        ``ns`` in nanoseconds, or the brick's current time when neither is given."""
        p = norm_path(path)
        if times is not None and ns is not None:
            raise ValueError("utime: give times or ns, not both")
        if times is None and ns is None:
            self._setattr(
                p, GF_SET_ATTR_ATIME | GF_SET_ATTR_MTIME | GF_ATTR_ATIME_NOW | GF_ATTR_MTIME_NOW
            )
            return
        if ns is None:
            assert times is not None
            ns = (_to_ns(times[0]), _to_ns(times[1]))
        self._setattr(p, GF_SET_ATTR_ATIME | GF_SET_ATTR_MTIME, atime_ns=ns[0], mtime_ns=ns[1])

    def truncate(self, path: str | os.PathLike[str], length: int) -> None:
        p = norm_path(path)
        self._retry(p, lambda n: self.bricks[n.brick].truncate(n.gfid, length, path=p))

    def getxattr(self, path: str | os.PathLike[str], name: str) -> bytes:
        p = norm_path(path)

        def op(n: Node) -> bytes:
            value = xattr_bytes(self.bricks[n.brick].getxattr(n.gfid, name, path=p).get(name))
            if value is None:
                raise fop_error(errno.ENODATA, p)
            return value

        return self._retry(p, op)  # type: ignore[no-any-return]

    def setxattr(
        self, path: str | os.PathLike[str], name: str, value: bytes | str, flags: int = 0
    ) -> None:
        p = norm_path(path)
        raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value

        def op(n: Node) -> None:
            for i in range(len(self.bricks)) if n.is_dir else [n.brick]:
                self.bricks[i].setxattr(n.gfid, {name: bytes(raw)}, flags, path=p)

        self._retry(p, op)

    def removexattr(self, path: str | os.PathLike[str], name: str) -> None:
        """Remove the extended attribute ``name`` (ENODATA if it is not set)."""
        p = norm_path(path)

        def op(n: Node) -> None:
            for i in range(len(self.bricks)) if n.is_dir else [n.brick]:
                self.bricks[i].removexattr(n.gfid, name, path=p)

        self._retry(p, op)

    def statvfs(self, path: str | os.PathLike[str] = "/") -> os.statvfs_result:
        """STATFS, summed over the bricks as DHT does."""
        p = norm_path(path)
        sts = self._retry(p, lambda n: [c.statfs(n.gfid, path=p) for c in self.bricks])
        first = sts[0]

        def total(field: str) -> int:
            return sum(int(getattr(s, field)) for s in sts)

        return os.statvfs_result(
            (
                first.bsize,
                first.frsize,
                total("blocks"),
                total("bfree"),
                total("bavail"),
                total("files"),
                total("ffree"),
                total("favail"),
                first.flag,
                first.namemax,
                first.fsid,
            )
        )


def _to_ns(seconds: float) -> int:
    """Seconds as nanoseconds the way ``os.utime`` splits them (whole seconds exactly)."""
    whole = math.floor(seconds)
    return whole * 1_000_000_000 + round((seconds - whole) * 1e9)
