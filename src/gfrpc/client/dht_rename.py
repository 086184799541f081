"""Renaming a file on a distribute (DHT) volume, step for step as GlusterFS 10.3's DHT does.

Theory of operation. A file has a *hashed* brick (where its name hashes, from the parent's
layout) and a *cached* brick (where its data lives); when they differ the hashed brick holds a
linkto file naming the cached one (see ``dht.py``). A rename has four of them: ``src_hashed``,
``src_cached``, ``dst_hashed`` and, when the destination exists, ``dst_cached``. The data never
moves: it keeps its inode, hence its gfid, on ``src_cached``. What DHT (``dht-rename.c``)
does, and ``plan_rename`` writes down as a list of steps:

* **Destination data on the source's brick** (``src_cached == dst_cached``): remove the
  destination's linkto at ``dst_hashed`` (if it has one), RENAME on ``src_cached`` (replacing
  the old destination), then make a linkto for the new name at ``dst_hashed`` if the data is
  not there, and remove the old name's linkto at ``src_hashed``.
* **Otherwise** the rename happens on ``dst_hashed`` (the *rename subvolume*), so that the new
  name's hashed brick is where the name is replaced atomically. If the data is elsewhere, DHT
  first makes the *old* name exist on ``dst_hashed`` (a linkto file for it, unless
  ``dst_hashed`` is ``src_hashed`` and already holds one) and hard-links the data under the
  new name on ``src_cached``; then RENAME old -> new on ``dst_hashed`` (a data file when the
  data is there, else the linkto, which becomes the new name's linkto); then remove the old
  data name on ``src_cached``, the old linkto on ``src_hashed`` (when that is not
  ``dst_hashed``) and the old destination's data on ``dst_cached`` (when it was on a third
  brick).

A source found by a lookup everywhere (no linkto, or a stale one, at its hashed brick) first
gets its linkto there, as DHT's lookup heals it, since the plan builds on it.

The steps up to the critical one (the RENAME of the data or, when that happens on another
brick, the LINK on ``src_cached``) fail the rename and are undone (``dht_rename_cleanup``);
later ones only log, as in DHT: the file is already under its new name, and a missing or stale
linkto only costs a lookup everywhere.

Where the brick may refuse, DHT asks it to cope: linkto files are made with
``glusterfs-internal-fop`` (posix then hard-links the name to an existing inode of that gfid
instead of failing) and both MKNOD and LINK carry ``force-replace`` (posix replaces a stale
linkto file that holds the name). A gfrpc brick ignores those keys, so the client does the
same by hand when the brick answers EEXIST: it removes a stale linkto holding the name, or
LINKs the name to the linkto inode that already has the gfid.
"""

from __future__ import annotations

import errno
import logging
import posixpath
import stat
from dataclasses import dataclass
from typing import Any

from gfrpc.client import dht

from .connection import xattr_bytes
from .errors import fop_error
from .namespace import LOOKUP_XATTRS, Namespace, Node, ignore_enoent, is_linkto_reply

__all__ = [
    "FORCE_REPLACE_KEY",
    "INTERNAL_FOP_KEY",
    "Step",
    "make_linkto",
    "plan_rename",
    "rename_file",
    "rename_path",
]

log = logging.getLogger("gfrpc.client")

INTERNAL_FOP_KEY = "glusterfs-internal-fop"  # GLUSTERFS_INTERNAL_FOP_KEY
FORCE_REPLACE_KEY = "force-replace"  # GF_FORCE_REPLACE_KEY: posix replaces a stale linkto

# step kinds (what the executor does, on which name)
LINKTO_OLD = "linkto-old"  # make a linkto file for the OLD name pointing to src_cached
LINK_NEW = "link-new"  # hard-link the data under the NEW name on src_cached
RENAME = "rename"  # RENAME old -> new on the brick
LINKTO_NEW = "linkto-new"  # make a linkto file for the NEW name pointing to src_cached
UNLINK_OLD = "unlink-old"  # remove the OLD name (data name or linkto)
UNLINK_NEW = "unlink-new"  # remove the NEW name (old destination's data or linkto)


@dataclass(frozen=True)
class Step:
    """One brick call of a rename; ``critical`` ones fail (and undo) the whole rename."""

    kind: str
    brick: int
    critical: bool = False


def plan_rename(
    src_hashed: int, src_cached: int, dst_hashed: int, dst_cached: int | None
) -> list[Step]:
    """The brick calls DHT makes to rename a file (see the module essay), in order."""
    steps: list[Step] = []
    if src_cached == dst_cached:
        if dst_hashed != dst_cached:
            steps.append(Step(UNLINK_NEW, dst_hashed))
        steps.append(Step(RENAME, src_cached, critical=True))
        if dst_hashed != src_cached:
            steps.append(Step(LINKTO_NEW, dst_hashed))
        if src_hashed != src_cached:
            steps.append(Step(UNLINK_OLD, src_hashed))
        return steps
    if src_cached != dst_hashed:
        if dst_hashed != src_hashed:
            steps.append(Step(LINKTO_OLD, dst_hashed, critical=True))
        steps.append(Step(LINK_NEW, src_cached, critical=True))
    steps.append(Step(RENAME, dst_hashed, critical=src_cached == dst_hashed))
    if src_cached != dst_hashed:
        steps.append(Step(UNLINK_OLD, src_cached))
    if src_hashed not in (dst_hashed, src_cached):
        steps.append(Step(UNLINK_OLD, src_hashed))
    if dst_cached is not None and dst_cached not in (dst_hashed, src_cached):
        steps.append(Step(UNLINK_NEW, dst_cached))
    return steps


# --------------------------------------------------------------------------------------------
# brick calls that cope with stale linkto files


def _lookup(ns: Namespace, brick: int, pargfid: bytes, name: str, path: str) -> Any:
    """LOOKUP asking for the DHT xattrs; None when the brick has nothing usable by that name
    (ENOENT, or ENODATA: an entry without a gfid, e.g. a linkto file half made)."""
    try:
        return ns.bricks[brick].lookup(pargfid, name, LOOKUP_XATTRS, path=path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENODATA):
            return None
        raise


def _drop_stale_linkto(ns: Namespace, brick: int, pargfid: bytes, name: str, path: str) -> bool:
    """Remove ``name`` on ``brick`` if it is a linkto file (force-replace); True if removed."""
    if not is_linkto_reply(_lookup(ns, brick, pargfid, name, path)):
        return False
    _unlink(ns, brick, pargfid, name, path)
    return True


def _unlink(ns: Namespace, brick: int, pargfid: bytes, name: str, path: str) -> None:
    """UNLINK that treats an already missing name as done (as DHT's unlink callbacks do)."""
    try:
        ns.bricks[brick].unlink(pargfid, name, xdata={INTERNAL_FOP_KEY: "yes"}, path=path)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ESTALE):
            raise


def make_linkto(
    ns: Namespace, brick: int, pargfid: bytes, name: str, gfid: bytes, data_brick: int, path: str
) -> None:
    """Make ``name`` on ``brick`` a linkto file (gfid ``gfid``) pointing to ``data_brick``.

    A stale linkto holding the name is replaced; if the brick already has an inode with this
    gfid (another linkto name of the same file) the name becomes a hard link to it, which is
    what posix does for an internal MKNOD. Anything else holding the name is EEXIST.
    """
    target = ns.subvolumes[data_brick].encode("utf-8", "surrogateescape") + b"\0"
    xdata = {dht.LINKTO_XATTR: target, INTERNAL_FOP_KEY: "yes", FORCE_REPLACE_KEY: "yes"}
    c = ns.bricks[brick]
    for attempt in range(2):
        try:
            c.mknod(
                pargfid, name, stat.S_IFREG | dht.LINKFILE_MODE, gfid=gfid, xdata=xdata, path=path
            )
            return
        except OSError as exc:
            if exc.errno != errno.EEXIST or attempt:
                raise
        got = _lookup(ns, brick, pargfid, name, path)
        if got is not None:
            if not is_linkto_reply(got):
                raise fop_error(errno.EEXIST, path)
            points_to = dht.linkto_target(_xattrs_of(got))
            if bytes(got.prestat.ia_gfid) == gfid and points_to == ns.subvolumes[data_brick]:
                return  # already there (made by another client doing the same rename)
            _unlink(ns, brick, pargfid, name, path)
            continue
        # the name is free, so the gfid is taken: link the name to that inode if a linkto
        try:
            have = c.lookup_gfid(gfid, {dht.LINKTO_XATTR: 256}, path=path)
        except OSError:
            raise fop_error(errno.EEXIST, path) from None
        if not is_linkto_reply(have):
            raise fop_error(errno.EEXIST, path, "gfid held by a data file")
        c.link(gfid, pargfid, name, path=path)
        return


def _xattrs_of(rsp: Any) -> dict[str, bytes]:
    return {k: b for k, v in (rsp.xdata or {}).items() if (b := xattr_bytes(v)) is not None}


def _link_new(ns: Namespace, brick: int, gfid: bytes, pargfid: bytes, name: str, path: str) -> None:
    """LINK the data under the new name with force-replace (a stale linkto there goes)."""
    c = ns.bricks[brick]
    try:
        c.link(gfid, pargfid, name, xdata={FORCE_REPLACE_KEY: "yes"}, path=path)
    except OSError as exc:
        if exc.errno != errno.EEXIST or not _drop_stale_linkto(ns, brick, pargfid, name, path):
            raise
        c.link(gfid, pargfid, name, path=path)


# --------------------------------------------------------------------------------------------
# the rename


def rename_path(ns: Namespace, s: str, d: str) -> None:
    """``Volume.rename`` of normalized paths: directories on every brick, files DHT-style.

    Both names are looked up afresh first (another client may have renamed or replaced them),
    as DHT looks them up under its locks; a cached gfid gone stale is retried once.
    """
    sp_path, sname = posixpath.split(s)
    dp_path, dname = posixpath.split(d)

    def run() -> None:
        (sp, real_sp), (dp, real_dp) = ns._resolve_real(sp_path), ns._resolve_real(dp_path)
        if not sp.is_dir:  # as rename(2)'s path walk answers, before the names are looked at
            raise fop_error(errno.ENOTDIR, s)
        if not dp.is_dir:
            raise fop_error(errno.ENOTDIR, d)
        real_s, real_d = posixpath.join(real_sp, sname), posixpath.join(real_dp, dname)
        if ns._hashing:
            ns._forget(real_s)
            ns._forget(real_d)
        node = ns._resolve(real_s, follow=False)
        try:
            same = ns._resolve(real_d, follow=False).gfid == node.gfid
        except FileNotFoundError:
            same = False
        if same:  # two names of one file (or one name twice): rename(2) does nothing
            return
        if node.is_dir or not ns._hashing:  # directories: on every brick
            ns.bricks[node.brick].rename(sp.gfid, sname, dp.gfid, dname, path=s)
            for i, c in enumerate(ns.bricks):
                if i != node.brick and node.is_dir:
                    ignore_enoent(c.rename, sp.gfid, sname, dp.gfid, dname, path=s)
        else:
            try:
                old: Node | None = ns._resolve(real_d, follow=False)
            except FileNotFoundError:
                old = None
            rename_file(ns, node, sp, real_sp, sname, dp, real_dp, dname, s, d, old)
        ns._forget(real_s)
        ns._forget(real_d)

    ns._twice(s, run)


def rename_file(
    ns: Namespace,
    node: Node,
    sp: Node,
    sp_path: str,
    sname: str,
    dp: Node,
    dp_path: str,
    dname: str,
    s: str,
    d: str,
    old: Node | None,
) -> None:
    """Rename the non-directory ``node`` (``sname`` in ``sp``) to ``dname`` in ``dp``; ``old``
    is what ``dname`` names now (freshly looked up), if anything. ``s``/``d``: the paths for
    error messages."""
    if old is not None and old.gfid == node.gfid:
        return  # two names of one inode: rename(2) does nothing
    if old is not None and old.is_dir:
        raise fop_error(errno.EISDIR, d)
    src_hashed = ns._hashed(sp, sp_path, sname, s)
    dst_hashed = ns._hashed(dp, dp_path, dname, d)
    src_cached = node.brick
    if src_hashed != src_cached and node.linkto != src_hashed:
        # found by lookup everywhere: the old name's linkto is missing or stale; DHT's lookup
        # heals it, and the plan relies on it (it may become the new name's linkto)
        make_linkto(ns, src_hashed, sp.gfid, sname, node.gfid, src_cached, s)
    steps = plan_rename(src_hashed, src_cached, dst_hashed, old.brick if old else None)
    move = _Move(node, sp, sname, dp, dname, s, d)
    done: list[Step] = []
    for step in steps:
        try:
            _run(ns, step, move)
        except OSError as exc:
            if step.critical:
                _undo(ns, done, move)
                raise
            _after_failure(ns, step, exc, move, dst_hashed)
        done.append(step)
    stale = node.linkto
    if stale is not None and stale not in (src_hashed, src_cached, dst_hashed):
        _quietly(_unlink, ns, stale, sp.gfid, sname, s)  # a linkto left by an old layout


@dataclass(frozen=True)
class _Move:
    """What one file rename works on: the file ``node``, its old name ``sname`` in ``sp`` and
    its new name ``dname`` in ``dp``; ``s``/``d`` are the paths for messages."""

    node: Node
    sp: Node
    sname: str
    dp: Node
    dname: str
    s: str
    d: str


def _run(ns: Namespace, step: Step, m: _Move) -> None:
    c, src_cached = step.brick, m.node.brick
    if step.kind == LINKTO_OLD:
        make_linkto(ns, c, m.sp.gfid, m.sname, m.node.gfid, src_cached, m.s)
    elif step.kind == LINK_NEW:
        _link_new(ns, c, m.node.gfid, m.dp.gfid, m.dname, m.d)
    elif step.kind == RENAME:
        ns.bricks[c].rename(m.sp.gfid, m.sname, m.dp.gfid, m.dname, path=m.s)
    elif step.kind == LINKTO_NEW:
        make_linkto(ns, c, m.dp.gfid, m.dname, m.node.gfid, src_cached, m.d)
    elif step.kind == UNLINK_OLD:
        _unlink(ns, c, m.sp.gfid, m.sname, m.s)
    elif step.kind == UNLINK_NEW:
        _unlink(ns, c, m.dp.gfid, m.dname, m.d)
    else:  # pragma: no cover - plan_rename makes only the kinds above
        raise AssertionError(step.kind)


def _after_failure(ns: Namespace, step: Step, exc: OSError, m: _Move, dst_hashed: int) -> None:
    """A non-critical step failed: the data already has its new name. Log it; when the
    linkto could not be renamed into place, make the new name's linkto and drop the old one."""
    log.info(
        "rename %s -> %s: %s on %s failed (%s); continuing as DHT does",
        m.s,
        m.d,
        step.kind,
        ns.subvolumes[step.brick],
        exc.strerror or exc,
    )
    if step.kind == RENAME and step.brick == dst_hashed:
        _quietly(make_linkto, ns, dst_hashed, m.dp.gfid, m.dname, m.node.gfid, m.node.brick, m.d)
        _quietly(_unlink, ns, dst_hashed, m.sp.gfid, m.sname, m.s)


def _undo(ns: Namespace, done: list[Step], m: _Move) -> None:
    """Remove what the steps before a failed critical one created (``dht_rename_cleanup``)."""
    for step in reversed(done):
        if step.kind == LINKTO_OLD:
            _quietly(_unlink, ns, step.brick, m.sp.gfid, m.sname, m.s)
        elif step.kind == LINK_NEW:
            _quietly(_unlink, ns, step.brick, m.dp.gfid, m.dname, m.d)


def _quietly(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except OSError as exc:
        log.info(
            "DHT rename clean-up: %s failed: %s", getattr(fn, "__name__", fn), exc.strerror or exc
        )
