"""Names on a volume: stat, listings, and the FOPs that make, remove, rename and link entries.

The ``Volume`` methods that read or change the directory tree, as a base class of it
(``Volume(Entries)``, over ``Attributes`` and the path resolution of ``Namespace``). Where an
entry lives follows DHT: a file, link or symbolic link on the brick its name hashes to (or, for
a hard link, on its data's brick with a linkto file on the hashed one), a directory on every
brick with its layout; renames are DHT's (dht_rename.py). Listings stream (listing.py).
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import uuid
from collections.abc import Callable, Iterator

from .attributes import Attributes
from .dht_rename import make_linkto, rename_path
from .errors import fop_error
from .file import StatResult, stat_from_iatt
from .listing import DEFAULT_BATCH_BYTES, ScandirIterator, walk
from .namespace import Node, ignore_enoent, norm_path

__all__ = ["Entries"]


class Entries(Attributes):
    """stat, scandir/listdir/walk, mkdir/makedirs, unlink, rmdir, rename, symlink, readlink
    and link of ``Volume``."""

    umask: int  # applied to the modes of new entries (set by Volume)

    # -- metadata ---------------------------------------------------------------------------
    def stat(self, path: str | os.PathLike[str]) -> StatResult:
        """The attributes of ``path``, fresh from the brick, never from a cache: a STAT of a
        name this Volume knows, the reply of the LOOKUP that found a name it did not."""
        p = norm_path(path)
        return self._twice(p, lambda: self._fresh_stat(p, True))

    def lstat(self, path: str | os.PathLike[str]) -> StatResult:
        """Like ``stat``, but of a symbolic link itself rather than what it points to."""
        p = norm_path(path)
        return self._twice(p, lambda: self._fresh_stat(p, False))

    def _fresh_stat(self, p: str, follow: bool) -> StatResult:
        node, iatt = self._fresh_iatt(p, follow)
        if iatt is None:
            iatt = self.bricks[node.brick].stat(node.gfid, path=p)
        return stat_from_iatt(iatt)

    def exists(self, path: str | os.PathLike[str]) -> bool:
        try:
            self.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def is_dir(self, path: str | os.PathLike[str]) -> bool:
        try:
            return stat.S_ISDIR(self.stat(path).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False

    def scandir(
        self, path: str | os.PathLike[str] = "/", *, batch_bytes: int = DEFAULT_BATCH_BYTES
    ) -> ScandirIterator:
        """Entries of a directory as ``os.scandir`` gives them (without . and ..), streamed one
        READDIRP reply (at most ``batch_bytes``) at a time over every brick (listing.py); use
        it in a ``with`` block or exhaust it, so that its directory fd is released."""
        p = norm_path(path)

        def start() -> ScandirIterator:
            n, real = self._resolve_real(p)
            if not n.is_dir:
                raise fop_error(errno.ENOTDIR, p)
            return ScandirIterator(
                self.bricks,
                n.gfid,
                p,
                hashing=self._hashing,
                batch_bytes=batch_bytes,
                follow=self.stat,
                learn=self._learn_dir,
                real=real,
            )

        return self._twice(p, start)  # type: ignore[no-any-return]

    def listdir(self, path: str | os.PathLike[str] = "/") -> list[str]:
        with self.scandir(path) as it:
            return [e.name for e in it]

    def walk(
        self,
        top: str | os.PathLike[str] = "/",
        topdown: bool = True,
        onerror: Callable[[OSError], object] | None = None,
        followlinks: bool = False,
    ) -> Iterator[tuple[str, list[str], list[str]]]:
        """``os.walk`` on the volume: (dirpath, dirnames, filenames) for every directory under
        ``top``, from streaming listings (``dirnames`` may be pruned in place top-down)."""
        return walk(self, os.fspath(top), topdown, onerror, followlinks)

    def mkdir(self, path: str | os.PathLike[str], mode: int = 0o777) -> None:
        p = norm_path(path)
        if p == "/":
            raise fop_error(errno.EEXIST, p)

        def op(parent: Node, parent_path: str, name: str) -> None:
            perm, gfid = mode & ~self.umask & 0o7777, uuid.uuid4().bytes
            h = self._hashed(parent, parent_path, name, p)
            rsp = self.bricks[h].mkdir(parent.gfid, name, perm, umask=self.umask, gfid=gfid, path=p)
            for i, c in enumerate(self.bricks):
                if i != h:
                    try:
                        c.mkdir(parent.gfid, name, perm, umask=self.umask, gfid=gfid, path=p)
                    except FileExistsError:
                        pass
            node = Node(bytes(rsp.stat.ia_gfid), rsp.stat.mode, h)
            real = posixpath.join(parent_path, name)
            if self.kind == "distribute":
                node.layout = self._write_layout(node, real, self._new_layout_commit_hash())
            with self._lock:
                self._cache[real] = node

        self._in_parent(p, op)

    def makedirs(
        self, path: str | os.PathLike[str], mode: int = 0o777, exist_ok: bool = False
    ) -> None:
        """``mkdir`` of ``path`` and of the parents it lacks (as ``os.makedirs``). The MKDIR
        goes first: a parent that exists costs nothing more, a missing one (ENOENT) is made
        and the MKDIR sent again."""
        p = norm_path(path)
        try:
            try:
                self.mkdir(p, mode)
            except FileNotFoundError:
                if p == "/":
                    raise
                self.makedirs(posixpath.dirname(p), mode, exist_ok=True)
                self.mkdir(p, mode)
        except OSError as exc:
            if not (exist_ok and exc.errno == errno.EEXIST and self.is_dir(p)):
                raise

    def unlink(self, path: str | os.PathLike[str]) -> None:
        p = norm_path(path)

        def op(parent: Node, parent_path: str, name: str) -> None:
            real = posixpath.join(parent_path, name)
            if not self._hashing:
                # one brick: the name goes in one UNLINK, without a LOOKUP first; the brick
                # refuses a directory (EISDIR) and a missing name (ENOENT) as unlink(2) does
                self.bricks[0].unlink(parent.gfid, name, path=p)
                self._forget(real)
                return
            node = self._resolve(real, follow=False)
            if node.is_dir:
                raise fop_error(errno.EISDIR, p)
            self.bricks[node.brick].unlink(parent.gfid, name, path=p)
            self._forget(real)
            # then the linkto, on the hashed brick (DHT's unlink) and wherever one was found
            h = self._hashed(parent, parent_path, name, p)
            for i in {h, node.linkto or h} - {node.brick}:
                ignore_enoent(self.bricks[i].unlink, parent.gfid, name, path=p)

        self._in_parent(p, op)

    remove = unlink

    def rmdir(self, path: str | os.PathLike[str]) -> None:
        p = norm_path(path)

        def op(parent: Node, parent_path: str, name: str) -> None:
            real = posixpath.join(parent_path, name)
            if not self._hashing:
                # one brick: one RMDIR (ENOTDIR for a file, ENOTEMPTY, ENOENT from the brick)
                self.bricks[0].rmdir(parent.gfid, name, path=p)
                self._forget(real)
                return
            node = self._resolve(real, follow=False)
            if not node.is_dir:
                raise fop_error(errno.ENOTDIR, p)
            h = self._hashed(parent, parent_path, name, p)
            for i in [i for i in range(len(self.bricks)) if i != h] + [h]:  # hashed last
                if i == h:
                    self.bricks[i].rmdir(parent.gfid, name, path=p)
                else:
                    ignore_enoent(self.bricks[i].rmdir, parent.gfid, name, path=p)
            self._forget(real)

        self._in_parent(p, op)

    def rename(self, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        """Rename ``src`` to ``dst`` (replacing a file at ``dst``), DHT-style on distribute:
        a file's data stays on its brick (``dht_rename.py``)."""
        rename_path(self, norm_path(src), norm_path(dst))

    # -- links ------------------------------------------------------------------------------
    def symlink(self, target: str, path: str | os.PathLike[str]) -> None:
        """Make ``path`` a symbolic link to ``target`` (like ``os.symlink(target, path)``); it
        lives on the brick its name hashes to, as DHT places it."""
        p = norm_path(path)
        if not target or "\0" in target:
            raise fop_error(errno.ENOENT if not target else errno.EINVAL, p)

        def op(parent: Node, parent_path: str, name: str) -> None:
            h = self._hashed(parent, parent_path, name, p)
            rsp = self.bricks[h].symlink(parent.gfid, name, target, umask=self.umask, path=p)
            with self._lock:
                self._cache[posixpath.join(parent_path, name)] = Node(
                    bytes(rsp.stat.ia_gfid), rsp.stat.mode, h, target=target
                )

        self._in_parent(p, op)

    def readlink(self, path: str | os.PathLike[str]) -> str:
        """The target of the symbolic link ``path`` (EINVAL if it is not one)."""
        p = norm_path(path)

        def op(n: Node) -> str:
            if not n.is_symlink:
                raise fop_error(errno.EINVAL, p)
            return self.bricks[n.brick].readlink(n.gfid, path=p)

        return self._retry(p, op, follow=False)  # type: ignore[no-any-return]

    def link(self, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        """Make ``dst`` a new name (hard link) for the file ``src``. On a distribute volume the
        link is made on the file's brick, with a linkto file on ``dst``'s hashed brick, as DHT
        does."""
        s, d = norm_path(src), norm_path(dst)
        # link(2) looks up the old name before the new name's parent: a missing source is
        # ENOENT even where the new parent is not a directory (ENOTDIR) or a loop (ELOOP)
        self._twice(s, lambda: self._resolve(s, follow=False))

        def op(parent: Node, parent_path: str, name: str) -> None:
            node = self._resolve(s, follow=False)
            if node.is_dir:  # link(2) finds an existing name (EEXIST) before the directory
                try:
                    self._resolve(d, follow=False)
                except FileNotFoundError:
                    raise fop_error(errno.EPERM, s) from None
                raise fop_error(errno.EEXIST, d)
            self.bricks[node.brick].link(node.gfid, parent.gfid, name, path=d)
            h = self._hashed(parent, parent_path, name, d)
            if h != node.brick:
                make_linkto(self, h, parent.gfid, name, node.gfid, node.brick, d)
            self._forget(posixpath.join(parent_path, name))

        self._in_parent(d, op)
