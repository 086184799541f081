"""Path resolution for ``Volume``: gfid lookups, the path cache and DHT placement.

* **Paths.** Every component is resolved with LOOKUP(parent gfid, basename), starting at the
  root gfid 00..01, and the gfid is cached per path. An operation that fails with ENOENT or
  ESTALE on a cached gfid drops the cached path (and its ancestors) and runs once more with
  fresh lookups; rename, unlink and rmdir drop what they change. A name missing from a
  directory learned less than ``MISS_TRUST_S`` (1 s, md-cache's default) ago, or from the
  root, is missing: that miss is one LOOKUP, not one per component of its path. The cache is
  locked, so one ``Volume`` can be shared between threads, and bounded (``pathcache.py``: at
  most ``CACHE_MAX`` paths, the oldest dropped first; a subtree is forgotten without a scan).
  On a one-brick volume unlink and rmdir send the name without looking it up (entries.py): the
  brick refuses a wrong type as the kernel does.
* **Distribute (DHT).** Files live on one brick, chosen by the hash of their name and the
  parent directory's layout (``trusted.glusterfs.dht`` on that directory on every brick,
  asked for in LOOKUP's xdata as DHT does, read once per directory). A lookup goes to the
  hashed brick, follows a *linkto* file to the brick named in it, and when the hashed brick
  has nothing asks every brick ("lookup everywhere"), unless DHT's ``lookup-optimize`` (on by
  default, the volfile's DHT option) lets the hashed brick's miss stand: the directory's
  layout carries the volume's commit hash (the root's ``trusted.glusterfs.dht.commithash``,
  0 before any rebalance), so every file in it is on its hashed brick or has a linkto there.
  Then a new file is one exclusive CREATE on its hashed brick (volume.py) and a missing name
  one LOOKUP; a directory this client makes gets the volume's commit hash, as DHT's mkdir
  gives it. Directories exist on every brick with
  the same gfid; a new directory gets a layout on each brick (``dht.new_directory_layouts``,
  weighted by brick size as DHT does), and a directory found without any layout gets one with
  commit hash 1, as DHT's self-heal writes. Listings (listing.py) read every brick in turn,
  skipping linkto files, and directories on all but the first brick. Renaming a file
  (``dht_rename.py``) never moves its data: the new name gets a linkto file on its hashed
  brick when the data is elsewhere, as DHT does.
* **Symbolic links** are followed the way gfapi does: always in the middle of a path, and for
  the last component unless the operation works on the link itself (``lstat``, ``readlink``,
  ``unlink``, ``rename``, ``symlink``). A relative target is taken from the link's directory,
  an absolute one from the volume's root (a volume has no other root); ``..`` in a target is
  applied to the link's resolved directory. More than 40 links in one resolution is ELOOP.
  The cache holds *resolved* paths only (no link in them), so a cached path never hides a
  link; a link's target is cached in its node.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gfrpc.client import dht
from gfrpc.programs.fops_types import ROOT_GFID

from .connection import BrickConnection, xattr_bytes
from .errors import NameMissing, fop_error, is_stale
from .pathcache import CACHE_MAX, PathCache
from .quickread import QUICK_READ_MAX

__all__ = [
    "LOOKUP_XATTRS",
    "MAX_SYMLINKS",
    "Namespace",
    "Node",
    "ignore_enoent",
    "is_linkto_entry",
    "is_linkto_reply",
    "node_of",
    "norm_path",
]

LOOKUP_XATTRS = {dht.LAYOUT_XATTR: 16, dht.LINKTO_XATTR: 256}  # what DHT asks LOOKUP for
MAX_SYMLINKS = 40  # links followed in one resolution before ELOOP (Linux's limit)
#: seconds a directory learned by a LOOKUP (or made here) is trusted to be the one its path
#: names, when a name in it is missing: GlusterFS's md-cache-timeout default (and FUSE's
#: entry-timeout), the time a stock client trusts what it has cached about another client's
#: changes. Older, a miss looks the path up again from the root (``_twice``) first.
MISS_TRUST_S = 1.0
NULL_GFID_BYTES = bytes(16)
#: listings add directories to the path cache only while it holds fewer paths than this (half
#: the bound: what a listing learns never pushes out the paths a caller resolved)
LEARN_MAX = CACHE_MAX // 2
#: seconds the bricks' sizes (STATFS) weight new layouts before they are asked again; DHT
#: asks at most once a second (its refresh interval, 0 by default, against a clock in seconds)
DU_REFRESH_S = 1.0


@dataclass
class Node:
    gfid: bytes
    mode: int
    brick: int  # brick holding a file's data (for a directory: any)
    linkto: int | None = None  # brick whose DHT linkto file led to it, if any
    layout: list[dht.LayoutRange | None] | None = None  # directories, read lazily
    target: str | None = None  # symbolic links: the target, read lazily
    big: bool = False  # a file its last LOOKUP saw bigger than QUICK_READ_MAX (read_small)
    #: when this client learned the node (a LOOKUP, or its own MKDIR or CREATE), monotonic
    seen: float = field(default_factory=time.monotonic)

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)


_UNREAD = object()  # a value not read yet


def node_of(iatt: Any, brick: int, linkto: int | None = None) -> Node:
    """The node of an entry a LOOKUP found on ``brick`` (``iatt``: its reply's ``prestat``)."""
    big = stat.S_ISREG(iatt.mode) and iatt.ia_size > QUICK_READ_MAX
    return Node(bytes(iatt.ia_gfid), iatt.mode, brick, linkto=linkto, big=big)


def norm_path(path: str | os.PathLike[str]) -> str:
    p = os.fspath(path)
    return posixpath.normpath("/" + p.lstrip("/"))


class Namespace:
    """Bricks, DHT subvolume names and the gfid cache; the resolution half of ``Volume``."""

    def __init__(
        self, bricks: Sequence[BrickConnection], subvolumes: Sequence[str] | None, kind: str
    ) -> None:
        self.bricks = list(bricks)
        self.subvolumes = list(subvolumes or [b.name for b in self.bricks])
        self.kind = kind
        self._lock = threading.RLock()
        self._cache = PathCache()  # bounded; forgets a subtree without a scan (pathcache.py)
        #: DHT's ``lookup-optimize`` (the volfile's, default on): see ``_miss_is_final``
        self.lookup_optimize = True
        self._volume_commit: int | None | object = _UNREAD
        self._chunks: tuple[float, list[int]] | None = None  # (when, _brick_chunks)
        #: see ``MISS_TRUST_S``; 0 makes every miss look its path up again
        self.miss_trust = MISS_TRUST_S

    @property
    def _hashing(self) -> bool:
        return len(self.bricks) > 1

    def _resolve(self, path: str, follow: bool = True) -> Node:
        """The node of a normalized ``path`` (the link itself when not ``follow``)."""
        return self._resolve_real(path, follow)[0]

    def _resolve_real(self, path: str, follow: bool = True) -> tuple[Node, str]:
        """(node, resolved path: the same object's path with no symbolic link in it)."""
        return self._walk(path, follow, [0])

    def _fresh_iatt(self, path: str, follow: bool = True) -> tuple[Node, Any]:
        """(node of ``path``, its iatt if a LOOKUP of this very resolution brought it, else
        None): an iatt as fresh as a STAT's, so the caller need not STAT again."""
        looked: dict[int, Any] = {}
        node = self._walk(path, follow, [0], looked)[0]
        return node, looked.get(id(node))

    def _walk(
        self, path: str, follow: bool, hops: list[int], looked: dict[int, Any] | None = None
    ) -> tuple[Node, str]:
        """(node, resolved path); ``looked`` gets the iatt of each node a LOOKUP made here, by
        the node's id."""
        with self._lock:
            node = self._cache.get(path)
        real = path
        if node is None:
            parent_path, name = posixpath.split(path)
            parent, real_parent = self._walk(parent_path, True, hops)
            if not parent.is_dir:
                raise fop_error(errno.ENOTDIR, path)
            real = posixpath.join(real_parent, name)
            with self._lock:
                node = self._cache.get(real)
            if node is None:
                try:
                    node, iatt = self._lookup_child(parent, real_parent, name, real)
                except FileNotFoundError as exc:
                    if type(exc) is FileNotFoundError and self._current(parent, real_parent):
                        raise NameMissing(exc.errno, exc.strerror, exc.filename) from None
                    raise
                if looked is not None:
                    looked[id(node)] = iatt
                with self._lock:
                    self._cache[real] = node
        if not (follow and node.is_symlink):
            return node, real
        hops[0] += 1
        if hops[0] > MAX_SYMLINKS:
            raise fop_error(errno.ELOOP, path)
        if node.target is None:
            node.target = self.bricks[node.brick].readlink(node.gfid, path=path)
        if not node.target:
            raise fop_error(errno.ENOENT, path)
        return self._walk(
            norm_path(posixpath.join(posixpath.dirname(real), node.target)), True, hops, looked
        )

    def _learn_dir(self, path: str, iatt: Any) -> None:
        """A listing found directory ``path`` (resolved) with ``iatt``: cache it as a LOOKUP
        would, unless it is known or the cache holds ``LEARN_MAX`` paths already (a brick
        that lists millions of directories must not make the cache grow with them)."""
        gfid = bytes(iatt.ia_gfid)
        if gfid == NULL_GFID_BYTES:  # an entry without a gfid: let a LOOKUP deal with it
            return
        with self._lock:
            if path not in self._cache and len(self._cache) < LEARN_MAX:
                self._cache[path] = Node(gfid, iatt.mode, 0)

    def _current(self, node: Node, path: str) -> bool:
        """Whether directory ``node`` at ``path`` surely is what ``path`` names now: the root,
        or learned less than ``miss_trust`` seconds ago. A name missing in it is missing (not
        a stale cache: ``NameMissing``), and costs one LOOKUP, not one per component."""
        return path == "/" or time.monotonic() - node.seen < self.miss_trust

    def _forget(self, path: str) -> None:
        """Drop ``path`` and everything cached below it (after rename/unlink/rmdir)."""
        with self._lock:
            self._cache.forget_tree(path)  # never the root: its gfid never changes

    def _forget_chain(self, path: str) -> None:
        """Drop ``path`` and its ancestors (one of their gfids went stale)."""
        with self._lock:
            while path != "/":
                self._cache.pop(path)
                path = posixpath.dirname(path)

    def _retry(self, path: str, op: Any, *, target: str | None = None, follow: bool = True) -> Any:
        """op(node of path); once more with fresh lookups when a cached gfid went stale
        (``target``: the path whose chain to look up again, default ``path``)."""
        return self._twice(target or path, lambda: op(self._resolve(path, follow)))

    def _in_parent(self, path: str, op: Any) -> Any:
        """op(parent node, resolved parent path, basename) with the same stale-gfid retry."""
        if path == "/":
            raise fop_error(errno.EBUSY, path)
        parent_path, name = posixpath.split(path)

        def run() -> Any:
            parent, real_parent = self._resolve_real(parent_path)
            if not parent.is_dir:
                raise fop_error(errno.ENOTDIR, path)
            return op(parent, real_parent, name)

        return self._twice(path, run)

    def _twice(self, target: str, attempt: Any) -> Any:
        """``attempt()``; if a cached gfid went stale, forget ``target``'s chain (everything,
        once a symbolic link was met: the stale path may hide behind one) and try again."""
        try:
            return attempt()
        except OSError as exc:
            if not is_stale(exc):
                raise
        if self._has_links():
            self._forget_all()
        else:
            self._forget_chain(target)
        return attempt()

    def _has_links(self) -> bool:
        """Whether a symbolic link was met: a stale path may then hide behind one."""
        with self._lock:
            return self._cache.has_links()

    def _forget_all(self) -> None:
        with self._lock:
            self._cache.forget_tree("/")  # the root stays

    def _try_lookup(
        self,
        i: int,
        pargfid: bytes,
        name: str,
        path: str,
        xdata: dict[str, Any] | None = None,
        *,
        final: bool = False,
    ) -> Any:
        """LOOKUP on brick ``i`` (asking ``xdata``, default what DHT asks); None when it has
        nothing usable by that name: ENOENT, or ENODATA (posix's answer for an entry without a
        gfid, such as a linkto file another client is making or a leftover of a failed one;
        DHT then looks elsewhere). With ``final`` (``_miss_is_final``) ENOENT is raised: there
        is nowhere else to look."""
        if xdata is None and self._hashing:
            xdata = LOOKUP_XATTRS
        try:
            return self.bricks[i].lookup(pargfid, name, xdata, path=path)
        except OSError as exc:
            if exc.errno == errno.ENOENT and final:
                raise
            if exc.errno in (errno.ENOENT, errno.ENODATA):
                return None
            raise

    def _lookup_child(
        self, parent: Node, parent_path: str, name: str, path: str
    ) -> tuple[Node, Any]:
        """(node, iatt) of ``name`` in ``parent``, the iatt from the brick that holds it."""
        if not self._hashing:
            ia = self.bricks[0].lookup(parent.gfid, name, path=path).prestat
            return node_of(ia, 0), ia
        h = self._hashed(parent, parent_path, name, path)
        final = self._miss_is_final(parent, parent_path)
        rsp = self._try_lookup(h, parent.gfid, name, path, final=final)
        found = self._follow(h, rsp, parent, name, path) if rsp is not None else None
        if found is not None:
            return found
        # DHT's "lookup everywhere"; the node's linkto stays None: the hashed brick has none
        # that leads to the data (unlink and rename deal with a stale one there)
        for i in range(len(self.bricks)):
            got = self._try_lookup(i, parent.gfid, name, path) if i != h else None
            if got is not None and not _linkto(got.prestat, got.xdata):
                return node_of(got.prestat, i), got.prestat
        raise fop_error(errno.ENOENT, path)

    def _follow(
        self, h: int, rsp: Any, parent: Node, name: str, path: str
    ) -> tuple[Node, Any] | None:
        ia = rsp.prestat
        if not _linkto(ia, rsp.xdata):
            return node_of(ia, h), ia
        target = dht.linkto_target(_xattrs(rsp.xdata))
        if target not in self.subvolumes:
            return None
        i = self.subvolumes.index(target)
        got = self._try_lookup(i, parent.gfid, name, path)
        if got is None or _linkto(got.prestat, got.xdata):
            return None
        return node_of(got.prestat, i, linkto=h), got.prestat

    def _miss_is_final(self, parent: Node, parent_path: str) -> bool:
        """DHT's ``lookup-optimize``: whether a name that the brick it hashes to lacks is
        missing everywhere. True when the parent's layout carries the volume's commit hash:
        the directory was laid out since the last rebalance, so every file in it lives on its
        hashed brick or has a linkto file there (rename and rebalance keep that). A layout
        self-heal wrote (commit hash 1), one the bricks disagree on, or a volume commit hash
        that cannot be read mean no: the caller looks everywhere."""
        if not (self._hashing and self.lookup_optimize):
            return False
        volume = self._volume_commit_hash()
        return (
            volume is not None
            and dht.merged_commit_hash(self._layout(parent, parent_path)) == volume
        )

    def _volume_commit_hash(self) -> int | None:
        """The volume's commit hash: the root's ``trusted.glusterfs.dht.commithash`` (written
        by rebalance), 0 where there is none (as DHT starts), None if unreadable; read once."""
        got = self._volume_commit
        if got is _UNREAD:
            # asked in a LOOKUP of the root, as DHT asks: posix fills a LOOKUP's xattrs
            # whoever the caller is (a GETXATTR of a trusted.* name needs root)
            try:
                rsp = self.bricks[0].lookup_gfid(ROOT_GFID, {dht.COMMITHASH_XATTR: 4}, path="/")
            except OSError:
                got = None
            else:
                value = _xattrs(rsp.xdata).get(dht.COMMITHASH_XATTR)
                got = 0 if value is None else dht.parse_commit_hash(value)
            self._volume_commit = got
        return got  # type: ignore[return-value]

    def _new_layout_commit_hash(self) -> int:
        """What a directory this client makes gets as its layout's commit hash, as DHT's mkdir
        gives it: the volume's with lookup-optimize, else ``LAYOUT_HASH_INVALID``."""
        volume = self._volume_commit_hash() if self.lookup_optimize else None
        return dht.LAYOUT_HASH_INVALID if volume is None else volume

    def _hashed(self, parent: Node, parent_path: str, name: str, path: str) -> int:
        if not self._hashing:
            return 0
        try:
            return dht.pick_subvolume(self._layout(parent, parent_path), name)
        except dht.LayoutError as exc:
            raise fop_error(errno.EIO, path, str(exc)) from exc

    def _layout(self, node: Node, path: str) -> list[dht.LayoutRange | None]:
        if node.layout is not None:
            return node.layout
        layouts: list[dht.LayoutRange | None] = []
        for c in self.bricks:
            try:
                rsp = c.lookup_gfid(node.gfid, {dht.LAYOUT_XATTR: 16}, path=path)
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.ESTALE):
                    raise
                layouts.append(None)
                continue
            raw = _xattrs(rsp.xdata).get(dht.LAYOUT_XATTR)
            layouts.append(dht.parse_layout(raw) if raw else None)
        if all(r is None for r in layouts):
            layouts = self._write_layout(node, path, dht.LAYOUT_HASH_INVALID)
        node.layout = layouts
        return layouts

    def _write_layout(self, node: Node, path: str, commit: int = 0) -> list[dht.LayoutRange | None]:
        """Give directory ``node`` a fresh DHT layout on every brick (weighted by size)."""
        chunks = self._brick_chunks(path)
        ranges = dht.new_directory_layouts(self.subvolumes, path, chunks=chunks, commit_hash=commit)
        for c, r in zip(self.bricks, ranges, strict=True):
            value = dht.encode_layout(r.start, r.stop, r.commit_hash, r.hash_type)
            c.setxattr(node.gfid, {dht.LAYOUT_XATTR: value}, path=path)
        return list(ranges)

    def _brick_chunks(self, path: str) -> list[int] | None:
        """Each brick's size in DHT's 1 MiB chunks, to weight a new layout (None: unknown, or
        one brick, whose one range covers every hash whatever its size). One STATFS per brick
        at most every ``DU_REFRESH_S``, as DHT refreshes its disk-usage figures
        (``dht_get_du_info``), not one per directory made."""
        if len(self.bricks) == 1:
            return None
        now = time.monotonic()
        with self._lock:
            cached = self._chunks
        if cached is not None and now - cached[0] < DU_REFRESH_S:
            return cached[1]
        try:
            sizes = [c.statfs(path=path) for c in self.bricks]
        except OSError:
            return None
        chunks = [dht.brick_chunks(s.blocks, s.bsize or 4096) for s in sizes]
        with self._lock:
            self._chunks = (now, chunks)
        return chunks


def _xattrs(xdata: Any) -> dict[str, bytes]:
    return {k: b for k, v in (xdata or {}).items() if (b := xattr_bytes(v)) is not None}


def _linkto(iatt: Any, xdata: Any) -> bool:
    return dht.is_linkto(iatt.mode, iatt.ia_size, _xattrs(xdata) if xdata else None)


def is_linkto_entry(entry: Any) -> bool:
    """Whether a READDIRP entry (asked for the linkto xattr) is a DHT linkto file."""
    return _linkto(entry.stat, entry.dict or None)


def is_linkto_reply(rsp: Any) -> bool:
    """Whether a LOOKUP reply (asked for the DHT xattrs) is a linkto file; False for None."""
    return rsp is not None and _linkto(rsp.prestat, rsp.xdata)


def ignore_enoent(fn: Any, *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ESTALE):
            raise
