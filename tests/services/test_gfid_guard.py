"""Gfid guard: no ``gfid-req`` (LOOKUP, CREATE, MKDIR, MKNOD, SYMLINK) can make another object
unreachable. Checked against the store and over the wire with a brick.

The rule (``store.py``, "Gfid rules"): the null gfid, the root gfid and a gfid whose handle
leads to another live inode are never given to an inode. LOOKUP then gives a fresh gfid, the
creations are refused with EEXIST; a stale handle is replaced.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from brick_fops_support import P, running_brick

from gfrpc.programs import fops as fp
from gfrpc.programs.fops_types import NULL_GFID
from gfrpc.services.brick.store import ROOT_GFID, PosixStore
from gfrpc.services.brick.store.handles import HIDDEN_DIR, HandleIndex


class Victims:
    """Live objects a wrong gfid-req could steal from: a directory with a child, a file with
    data, and the root."""

    def __init__(self, store: PosixStore) -> None:
        self.store = store
        self.dir, *_ = store.mkdir(ROOT_GFID, "vdir", 0o755)
        self.child, f, *_ = store.create(self.dir, "child", 0, 0o644)
        store.write(f, 0, b"child data")
        f.close()
        self.file, f, *_ = store.create(ROOT_GFID, "vfile", 0, 0o644)
        store.write(f, 0, b"file data")
        f.close()

    def gfids(self) -> dict[str, bytes]:
        return {"root": ROOT_GFID, "dir": self.dir, "file": self.file}

    def check_reachable(self, store: PosixStore | None = None) -> None:
        """Every victim still answers by gfid and by name, with its own data."""
        s = store or self.store
        assert s.stat(ROOT_GFID).ia_gfid == ROOT_GFID
        assert s.lookup(ROOT_GFID, ".")[0].ia_ino == 1
        assert s.lookup(ROOT_GFID, "vdir")[0].ia_gfid == self.dir
        assert stat.S_ISDIR(s.stat(self.dir).mode)
        assert s.lookup(self.dir, "child")[0].ia_gfid == self.child
        assert s.lookup(ROOT_GFID, "vfile")[0].ia_gfid == self.file
        for gfid, data in ((self.child, b"child data"), (self.file, b"file data")):
            f = s.open(gfid, os.O_RDONLY)
            try:
                assert s.read(f, 0, 100)[0] == data
            finally:
                f.close()


def _outside(brick: Path, name: str, kind: str) -> Path:
    """An entry made directly in the brick directory (so it has no gfid yet)."""
    p = brick / name
    if kind == "dir":
        p.mkdir()
    else:
        p.write_bytes(b"outside")
    return p


# -- LOOKUP ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["file", "dir"])
@pytest.mark.parametrize("victim", ["root", "dir", "file"])
def test_lookup_never_takes_a_live_gfid(
    store: PosixStore, brick: Path, victim: str, kind: str
) -> None:
    """LOOKUP of an entry without a gfid whose gfid-req is the root's or a live inode's gives
    the entry a fresh gfid; the victim stays reachable and the entry is usable."""
    v = Victims(store)
    want = v.gfids()[victim]
    _outside(brick, "newcomer", kind)
    ia, _ = store.lookup(ROOT_GFID, "newcomer", gfid_req=want)
    assert ia.ia_gfid not in (want, NULL_GFID, ROOT_GFID)
    assert os.getxattr(brick / "newcomer", "trusted.gfid") == ia.ia_gfid
    assert store.stat(ia.ia_gfid).ia_gfid == ia.ia_gfid  # the newcomer is reachable
    assert store.lookup(ROOT_GFID, "newcomer", gfid_req=want)[0].ia_gfid == ia.ia_gfid
    v.check_reachable()
    with PosixStore(str(brick)) as fresh:  # nothing relied on a cached descriptor
        v.check_reachable(fresh)
        assert fresh.stat(ia.ia_gfid).ia_gfid == ia.ia_gfid


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_lookup_null_gfid_req_gets_a_fresh_gfid(store: PosixStore, brick: Path, kind: str) -> None:
    """A null gfid-req is no request: the entry gets a fresh, non-null gfid."""
    _outside(brick, "n", kind)
    ia, _ = store.lookup(ROOT_GFID, "n", gfid_req=NULL_GFID)
    assert ia.ia_gfid not in (NULL_GFID, ROOT_GFID)


def test_lookup_free_gfid_req_is_honoured(store: PosixStore, brick: Path) -> None:
    """A gfid-req nobody has is given as asked (what replicas rely on)."""
    want = uuid.uuid4().bytes
    _outside(brick, "x", "file")
    assert store.lookup(ROOT_GFID, "x", gfid_req=want)[0].ia_gfid == want


@pytest.mark.parametrize("stale", ["file", "dir"])
def test_lookup_replaces_a_stale_handle(store: PosixStore, brick: Path, stale: str) -> None:
    """A handle whose inode is gone (a file handle left as the last link, a directory handle
    that no longer resolves) does not own its gfid: a gfid-req of it is honoured and the handle
    now leads to the new entry, as posix replaces stale handles."""
    if stale == "file":
        old, f, *_ = store.create(ROOT_GFID, "gone", 0, 0o644)
        f.close()
        os.unlink(brick / "gone")  # behind the store's back: the handle is an orphan
    else:
        old, *_ = store.mkdir(ROOT_GFID, "gone", 0o755)
        os.rmdir(brick / "gone")
    for kind in ("file", "dir"):
        name = f"heir-{kind}"
        _outside(brick, name, kind)
        with PosixStore(str(brick)) as fresh:
            ia, _ = fresh.lookup(ROOT_GFID, name, gfid_req=old)
            assert ia.ia_gfid == old
            st = os.lstat(brick / name)
            assert fresh.stat(old).mode == st.st_mode
        os.rename(brick / name, brick / f"{name}.done")  # the next heir may take it too
        if kind == "file":
            os.unlink(brick / f"{name}.done")
        else:
            os.rmdir(brick / f"{name}.done")


def test_entry_damaged_with_the_root_gfid_is_healed(store: PosixStore, brick: Path) -> None:
    """An entry that carries the root gfid (what the unguarded lookup left behind) gets a new
    gfid at its next lookup instead of answering ESTALE for ever; the root is untouched."""
    v = Victims(store)
    p = _outside(brick, "damaged", "file")
    os.setxattr(p, "trusted.gfid", ROOT_GFID)
    ia, _ = store.lookup(ROOT_GFID, "damaged")
    assert ia.ia_gfid not in (ROOT_GFID, NULL_GFID)
    assert store.stat(ia.ia_gfid).ia_size == len(b"outside")
    v.check_reachable()


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_entry_carrying_a_live_dirs_gfid_never_takes_its_handle(
    store: PosixStore, brick: Path, kind: str
) -> None:
    """An entry whose trusted.gfid is a live directory's (a copy, or earlier damage) gets a new
    gfid at lookup; the directory keeps its handle and its children stay reachable."""
    v = Victims(store)
    p = _outside(brick, "carrier", kind)
    os.setxattr(p, "trusted.gfid", v.dir)
    with PosixStore(str(brick)) as fresh:
        ia, _ = fresh.lookup(ROOT_GFID, "carrier")
        assert ia.ia_gfid != v.dir
        v.check_reachable(fresh)


# -- creations -----------------------------------------------------------------------------------

Maker = Callable[[PosixStore, bytes, str, bytes], Any]
MAKERS: dict[str, Maker] = {
    "create": lambda s, p, n, g: s.create(p, n, 0, 0o644, gfid_req=g)[1].close(),
    "mkdir": lambda s, p, n, g: s.mkdir(p, n, 0o755, gfid_req=g),
    "mknod": lambda s, p, n, g: s.mknod(p, n, stat.S_IFIFO | 0o644, gfid_req=g),
    "symlink": lambda s, p, n, g: s.symlink(p, n, "target", gfid_req=g),
}


@pytest.mark.parametrize("maker", sorted(MAKERS))
@pytest.mark.parametrize("victim", ["root", "dir", "file"])
def test_creation_with_a_live_gfid_req_is_refused(
    store: PosixStore, brick: Path, maker: str, victim: str
) -> None:
    """CREATE/MKDIR/MKNOD/SYMLINK whose gfid-req is the root's or a live inode's fail with
    EEXIST, leave no entry behind and leave the victim reachable."""
    v = Victims(store)
    with pytest.raises(OSError) as e:
        MAKERS[maker](store, ROOT_GFID, "newcomer", v.gfids()[victim])
    assert e.value.errno == errno.EEXIST
    assert not os.path.lexists(brick / "newcomer")
    v.check_reachable()


@pytest.mark.parametrize("maker", sorted(MAKERS))
def test_creation_with_a_null_gfid_req_is_refused(
    store: PosixStore, brick: Path, maker: str
) -> None:
    """A null gfid-req in a creation is EINVAL (posix's null-gfid check), nothing is made."""
    with pytest.raises(OSError) as e:
        MAKERS[maker](store, ROOT_GFID, "n", NULL_GFID)
    assert e.value.errno == errno.EINVAL
    assert not os.path.lexists(brick / "n")


@pytest.mark.parametrize("maker", sorted(MAKERS))
@pytest.mark.parametrize("stale", ["file", "dir"])
def test_creation_replaces_a_stale_handle(
    store: PosixStore, brick: Path, maker: str, stale: str
) -> None:
    """A creation whose gfid-req names a stale handle (its inode gone) gets that gfid."""
    if stale == "file":
        old, f, *_ = store.create(ROOT_GFID, "gone", 0, 0o644)
        f.close()
        os.unlink(brick / "gone")
    else:
        old, *_ = store.mkdir(ROOT_GFID, "gone", 0o755)
        os.rmdir(brick / "gone")
    with PosixStore(str(brick)) as fresh:
        MAKERS[maker](fresh, ROOT_GFID, "heir", old)
        assert fresh.lookup(ROOT_GFID, "heir")[0].ia_gfid == old
        assert fresh.stat(old).mode == os.lstat(brick / "heir").st_mode


def test_a_symlink_handle_orphan_is_stale_not_a_directory(store: PosixStore, brick: Path) -> None:
    """The handle of a symbolic link whose name is gone is a symlink with one link, like a
    directory handle; it is recognised as an orphan and replaced."""
    old, *_ = store.symlink(ROOT_GFID, "sl", "some/target")
    os.unlink(brick / "sl")
    g, *_ = store.mkdir(ROOT_GFID, "heir", 0o755, gfid_req=old)
    assert g == old
    assert store.lookup(ROOT_GFID, "heir")[0].ia_gfid == old


def test_handle_layout_after_refusals(store: PosixStore, brick: Path) -> None:
    """After refused requests every handle in .glusterfs still belongs to its own inode."""
    v = Victims(store)
    for maker in MAKERS.values():
        for g in v.gfids().values():
            with pytest.raises(OSError):
                maker(store, ROOT_GFID, "x", g)
    _outside(brick, "o", "file")
    store.lookup(ROOT_GFID, "o", gfid_req=v.file)
    idx = HandleIndex(str(brick))
    try:
        for gfid, path in (
            (v.dir, brick / "vdir"),
            (v.child, brick / "vdir" / "child"),
            (v.file, brick / "vfile"),
        ):
            fd = idx.open_inode(gfid)
            try:
                assert os.getxattr(f"/proc/self/fd/{fd}", "trusted.gfid") == gfid
                assert os.fstat(fd).st_ino == os.lstat(path).st_ino
            finally:
                os.close(fd)
    finally:
        idx.close()
    assert (brick / HIDDEN_DIR).is_dir()


# -- over the wire -------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_wire_lookup_and_mkdir_cannot_steal_a_gfid(brick: Path) -> None:
    """Over the wire: LOOKUP with gfid-req of the root / a live dir / a live file answers the
    entry with a fresh gfid; MKDIR and CREATE with such a gfid-req answer EEXIST; the victims'
    children and data stay reachable by gfid."""
    with running_brick(brick, "single") as h:
        c = h.client()
        d = c.mkdir(ROOT_GFID, "vdir")
        assert d.op_ret == 0
        dgfid = bytes(d.stat.ia_gfid)
        r = c.create(dgfid, "child")
        assert r.op_ret == 0
        child = bytes(r.stat.ia_gfid)
        assert c.write(child, r.fd, 0, b"payload").op_ret == 7
        c.release(child, r.fd)
        for i, want in enumerate((ROOT_GFID, dgfid, child)):
            for kind in ("file", "dir"):
                name = f"out-{i}-{kind}"
                _outside(brick, name, kind)
                rsp = c.lookup(ROOT_GFID, name, xdata={"gfid-req": uuid.UUID(bytes=want)})
                assert rsp.op_ret == 0, rsp
                got = bytes(rsp.prestat.ia_gfid)
                assert got not in (want, NULL_GFID, ROOT_GFID)
                again = c.call(P.LOOKUP, fp.GfxLookupReq(gfid=got))
                assert (again.op_ret, bytes(again.prestat.ia_gfid)) == (0, got)
            for proc, req in (
                (
                    P.MKDIR,
                    fp.GfxMkdirReq(
                        pargfid=ROOT_GFID,
                        bname=f"m{i}",
                        mode=0o755,
                        xdata={"gfid-req": uuid.UUID(bytes=want)},
                    ),
                ),
                (
                    P.CREATE,
                    fp.GfxCreateReq(
                        pargfid=ROOT_GFID,
                        bname=f"c{i}",
                        mode=0o644,
                        flags=os.O_RDWR | os.O_CREAT,
                        xdata={"gfid-req": uuid.UUID(bytes=want)},
                    ),
                ),
            ):
                rsp = c.call(proc, req)
                assert (rsp.op_ret, rsp.op_errno) == (-1, errno.EEXIST)
        lk = c.lookup(dgfid, "child")
        assert (lk.op_ret, bytes(lk.prestat.ia_gfid)) == (0, child)
        root = c.call(P.LOOKUP, fp.GfxLookupReq(gfid=ROOT_GFID))
        assert (root.op_ret, root.prestat.ia_ino) == (0, 1)
        fd = c.call(P.OPEN, fp.GfxOpenReq(gfid=child, flags=os.O_RDONLY))
        assert fd.op_ret == 0
        rsp, data = c.read(child, fd.fd, 0, 100)
        assert data == b"payload"


def test_start_up_empties_glusterfs_unlink(brick: Path) -> None:
    """As posix at start-up, the store empties ``.glusterfs/unlink`` (files unlinked while open
    under a real brick) and keeps the directory; a symlink in it is removed, not followed."""
    with PosixStore(str(brick)):
        pass
    unlink = brick / HIDDEN_DIR / "unlink"
    unlink.mkdir(mode=0o600)
    (unlink / str(uuid.uuid4())).write_bytes(b"was open when unlinked")
    (unlink / "sub").mkdir()
    (unlink / "sub" / "deep").write_bytes(b"x")
    outside = brick.parent / "outside-target"
    outside.mkdir()
    (outside / "precious").write_bytes(b"keep")
    (unlink / "link").symlink_to(outside)
    with PosixStore(str(brick)):
        pass
    assert unlink.is_dir() and list(unlink.iterdir()) == []
    assert (outside / "precious").read_bytes() == b"keep"


@pytest.mark.timeout(60)
def test_racing_requests_never_take_a_directory_being_renamed(
    store: PosixStore, brick: Path
) -> None:
    """While a directory is renamed back and forth, creations and lookups asking for its gfid
    from other threads never take it: afterwards it and its child answer by gfid, every other
    entry has a gfid of its own, and nothing deadlocked (lock order stripe -> dir renames)."""
    v = Victims(store)
    stop = threading.Event()
    errors: list[BaseException] = []

    def renamer() -> None:
        try:
            names = ("vdir", "vdir2")
            i = 0
            while not stop.is_set():
                store.rename(ROOT_GFID, names[i % 2], ROOT_GFID, names[(i + 1) % 2])
                i += 1
            if i % 2:
                store.rename(ROOT_GFID, "vdir2", ROOT_GFID, "vdir")
        except BaseException as e:  # reported below
            errors.append(e)

    def thief(t: int) -> None:
        try:
            for i in range(40):
                for maker in ("create", "mkdir"):
                    try:
                        MAKERS[maker](store, ROOT_GFID, f"t{t}-{maker}{i}", v.dir)
                        errors.append(AssertionError(f"{maker} took the directory's gfid"))
                    except OSError as e:
                        assert e.errno in (errno.EEXIST, errno.ESTALE), e
                _outside(brick, f"t{t}-out{i}", "dir" if i % 2 else "file")
                ia, _ = store.lookup(ROOT_GFID, f"t{t}-out{i}", gfid_req=v.dir)
                assert ia.ia_gfid != v.dir
        except BaseException as e:
            errors.append(e)

    r = threading.Thread(target=renamer)
    thieves = [threading.Thread(target=thief, args=(t,)) for t in range(4)]
    r.start()
    for t in thieves:
        t.start()
    for t in thieves:
        t.join(50)
    stop.set()
    r.join(10)
    assert not r.is_alive() and not any(t.is_alive() for t in thieves)
    assert not errors, errors[:3]
    v.check_reachable()
    with PosixStore(str(brick)) as fresh:
        v.check_reachable(fresh)
        seen = {
            fresh.lookup(ROOT_GFID, p.name)[0].ia_gfid
            for p in brick.iterdir()
            if p.name != HIDDEN_DIR
        }
        assert len(seen) == len([p for p in brick.iterdir() if p.name != HIDDEN_DIR])


def test_a_directory_handle_caught_mid_replace_still_owns_its_gfid(
    store: PosixStore, brick: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A walk that reaches a directory's handle just as a rename replaces it sees the old
    symlink with no link left. That gfid is still taken (MKDIR and LOOKUP with it as gfid-req
    get no share of it) and a STAT by gfid still answers the directory. This is the
    interleaving the stress test above once hit, made deterministic: every other lstat of the
    handle (the first of each look included) returns the replaced symlink's stat."""
    v = Victims(store)
    index = store.handles
    path = index.handle_path(v.dir)
    old_fd = os.open(path, os.O_PATH | os.O_NOFOLLOW, dir_fd=index.hidden_fd)
    try:
        store.rename(ROOT_GFID, "vdir", ROOT_GFID, "vdir2")  # the handle is a new symlink now
        replaced = os.fstat(old_fd)
    finally:
        os.close(old_fd)
    assert stat.S_ISLNK(replaced.st_mode) and replaced.st_nlink == 0
    real_stat = os.stat
    looks = itertools.count()

    def every_other_look_is_stale(p: Any, *a: Any, **kw: Any) -> os.stat_result:
        """The handle's lstat: the replaced symlink, then the current one, in turn."""
        if p == path and next(looks) % 2 == 0:
            return replaced
        return real_stat(p, *a, **kw)

    monkeypatch.setattr(os, "stat", every_other_look_is_stale)
    with pytest.raises(OSError) as refused:
        store.mkdir(ROOT_GFID, "thief", 0o755, gfid_req=v.dir)
    assert refused.value.errno == errno.EEXIST
    _outside(brick, "newcomer", "dir")
    assert store.lookup(ROOT_GFID, "newcomer", gfid_req=v.dir)[0].ia_gfid != v.dir
    with PosixStore(str(brick)) as fresh:  # no cached directory fd: STAT goes by the handle
        assert stat.S_ISDIR(fresh.stat(v.dir).mode)
    monkeypatch.undo()
    store.rename(ROOT_GFID, "vdir2", ROOT_GFID, "vdir")
    v.check_reachable()
