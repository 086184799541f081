"""PosixStore: the brick's storage layer (gfids, handles, entry/inode ops, safety, fds)."""

from __future__ import annotations

import errno
import os
import stat
import threading
import uuid
from pathlib import Path

import pytest

from gfrpc.programs.fops_types import (
    GF_SET_ATTR_ATIME,
    GF_SET_ATTR_GID,
    GF_SET_ATTR_MODE,
    GF_SET_ATTR_UID,
    IATT_GFID,
    IATT_INO,
    NULL_GFID,
)
from gfrpc.services.brick.store import (
    ROOT_GFID,
    Caller,
    FdTable,
    OpenFile,
    PosixStore,
    iatt_fields,
)
from gfrpc.services.brick.store import data as store_data
from gfrpc.services.brick.store.iatt import gfid_to_ino
from gfrpc.transport.outqueue import FileRegion


def _errno(exc: pytest.ExceptionInfo[OSError]) -> int | None:
    return exc.value.errno


def _handle(brick: Path, gfid: bytes) -> Path:
    return brick / ".glusterfs" / f"{gfid[0]:02x}" / f"{gfid[1]:02x}" / str(uuid.UUID(bytes=gfid))


def _snapshot(tree: Path) -> dict[str, tuple[int, int, int, tuple[str, ...]]]:
    """Everything observable about a directory tree (names, sizes, mtimes, modes, xattrs)."""
    out = {}
    for p in [tree, *sorted(tree.rglob("*"))]:
        st = p.lstat()
        xattrs = () if p.is_symlink() else tuple(sorted(os.listxattr(p)))
        out[str(p)] = (st.st_size, st.st_mtime_ns, st.st_mode, xattrs)
    return out


# -- gfids and the root ------------------------------------------------------------------------


def test_root_gfid_and_ino(store: PosixStore, brick: Path) -> None:
    """The root is gfid 00…01 with ino 1, stored in trusted.gfid, with the ../../.. handle."""
    ia = store.stat(ROOT_GFID)
    assert ia.ia_gfid == ROOT_GFID and ia.ia_ino == 1 and stat.S_ISDIR(ia.mode)
    assert os.getxattr(brick, "trusted.gfid") == ROOT_GFID
    assert os.readlink(_handle(brick, ROOT_GFID)) == "../../.."
    assert store.resolve(ROOT_GFID) == str(brick)


def test_lookup_of_dot_and_dotdot_stays_inside_the_brick(store: PosixStore) -> None:
    """LOOKUP(dir, ".") is the directory itself (gfapi resolves the root this way) and
    LOOKUP(dir, "..") its parent, with the directory as postparent; ".." of the root is the
    root, never the directory above the brick; "." under a file is EPERM (a parent that is not
    a directory, as GlusterFS's server resolver answers)."""
    entry, parent = store.lookup(ROOT_GFID, ".")
    assert entry.ia_gfid == parent.ia_gfid == ROOT_GFID
    entry, parent = store.lookup(ROOT_GFID, "..")
    assert entry.ia_gfid == parent.ia_gfid == ROOT_GFID and entry.ia_ino == 1
    dg, *_ = store.mkdir(ROOT_GFID, "d", 0o755)
    sg, *_ = store.mkdir(dg, "sub", 0o755)
    entry, parent = store.lookup(sg, "..")
    assert (entry.ia_gfid, parent.ia_gfid) == (dg, sg)
    assert store.lookup(sg, ".")[0].ia_gfid == sg
    fg, f, *_ = store.create(dg, "f", 0, 0o644)
    f.close()
    with pytest.raises(OSError) as exc:
        store.lookup(fg, ".")
    assert _errno(exc) == errno.EPERM


def test_gfids_stable_across_restart(brick: Path) -> None:
    """A new PosixStore on the same directory sees the same gfids (xattrs + handles on disk)."""
    with PosixStore(str(brick)) as s1:
        fg, f, *_ = s1.create(ROOT_GFID, "f", 0, 0o644)
        f.close()
        dg, *_ = s1.mkdir(ROOT_GFID, "d", 0o755)
        sg, *_ = s1.mkdir(dg, "sub", 0o755)
    with PosixStore(str(brick)) as s2:
        assert s2.lookup(ROOT_GFID, "f")[0].ia_gfid == fg
        assert s2.lookup(ROOT_GFID, "d")[0].ia_gfid == dg
        assert s2.stat(sg).ia_gfid == sg  # resolved through the handle chain only
        assert s2.resolve(sg) == str(brick / "d" / "sub")


def test_ino_is_derived_from_gfid(store: PosixStore) -> None:
    """ia_ino = last 8 bytes of the gfid, big-endian (gfid_to_ino)."""
    gfid = bytes(range(16))
    _, ia, _, _ = store.mkdir(ROOT_GFID, "x", 0o755, gfid_req=gfid)
    assert ia.ia_ino == int.from_bytes(gfid[8:], "big") == 0x08090A0B0C0D0E0F


def test_gfid_req_honoured(store: PosixStore, brick: Path) -> None:
    """create/mkdir/mknod/symlink use the client's gfid-req, stored as 16 raw bytes."""
    reqs = [uuid.uuid4().bytes for _ in range(4)]
    g1, f, ia1, _, _ = store.create(ROOT_GFID, "f", 0, 0o644, gfid_req=reqs[0])
    f.close()
    g2, ia2, _, _ = store.mkdir(ROOT_GFID, "d", 0o755, gfid_req=reqs[1])
    g3, ia3, _, _ = store.mknod(ROOT_GFID, "p", stat.S_IFIFO | 0o600, gfid_req=reqs[2])
    g4, ia4, _, _ = store.symlink(ROOT_GFID, "l", "f", gfid_req=reqs[3])
    assert [g1, g2, g3, g4] == reqs
    assert [ia.ia_gfid for ia in (ia1, ia2, ia3, ia4)] == reqs
    assert os.getxattr(brick / "f", "trusted.gfid") == reqs[0]
    assert os.getxattr(brick / "l", "trusted.gfid", follow_symlinks=False) == reqs[3]
    assert os.readlink(_handle(brick, reqs[1])) == f"../../00/00/{uuid.UUID(bytes=ROOT_GFID)}/d"
    assert os.stat(_handle(brick, reqs[0])).st_ino == os.stat(brick / "f").st_ino


def test_create_of_existing_file_keeps_its_gfid(store: PosixStore) -> None:
    """CREATE without O_EXCL of an existing file opens it; a retried gfid-req is no conflict,
    and a refused gfid-req leaves no entry behind."""
    req = uuid.uuid4().bytes
    g, f, *_ = store.create(ROOT_GFID, "f", os.O_RDWR, 0o644, gfid_req=req)
    f.close()
    g2, f2, ia, _, _ = store.create(ROOT_GFID, "f", os.O_RDWR, 0o644, gfid_req=req)
    f2.close()
    assert g == g2 == req == ia.ia_gfid
    with pytest.raises(OSError) as e:
        store.create(ROOT_GFID, "other", os.O_RDWR, 0o644, gfid_req=req)
    assert _errno(e) == errno.EEXIST
    with pytest.raises(OSError) as e:
        store.lookup(ROOT_GFID, "other")
    assert _errno(e) == errno.ENOENT
    assert store.stat(req).ia_gfid == req


def test_gfid_req_in_use_or_null_is_refused(store: PosixStore) -> None:
    """A gfid-req that names a live inode gives EEXIST; a null one EINVAL."""
    g, *_ = store.mkdir(ROOT_GFID, "d", 0o755)
    with pytest.raises(OSError) as e:
        store.mkdir(ROOT_GFID, "d2", 0o755, gfid_req=g)
    assert _errno(e) == errno.EEXIST
    with pytest.raises(OSError) as e:
        store.mkdir(ROOT_GFID, "d3", 0o755, gfid_req=ROOT_GFID)
    assert _errno(e) == errno.EEXIST
    with pytest.raises(OSError) as e:
        store.mkdir(ROOT_GFID, "d4", 0o755, gfid_req=NULL_GFID)
    assert _errno(e) == errno.EINVAL


def test_outside_files_get_a_gfid_on_first_lookup(store: PosixStore, brick: Path) -> None:
    """Entries made without gfrpc get gfid-req (or a new gfid) and a handle on first lookup."""
    (brick / "plain.txt").write_bytes(b"data")
    (brick / "dir").mkdir()
    req = uuid.uuid4().bytes
    ia, parent = store.lookup(ROOT_GFID, "plain.txt", gfid_req=req)
    assert ia.ia_gfid == req and parent.ia_gfid == ROOT_GFID and ia.ia_size == 4
    assert ia.ia_nlink == 1  # the handle's link is hidden, as posix does
    assert os.stat(_handle(brick, req)).st_ino == os.stat(brick / "plain.txt").st_ino
    dia, _ = store.lookup(ROOT_GFID, "dir")
    assert dia.ia_gfid not in (req, NULL_GFID)
    assert store.lookup(ROOT_GFID, "dir", gfid_req=req)[0].ia_gfid == dia.ia_gfid  # stable
    assert os.readlink(_handle(brick, dia.ia_gfid)).endswith("/dir")


def test_concurrent_first_lookups_agree(store: PosixStore, brick: Path) -> None:
    """Racing first lookups of an outside-made file all see one gfid."""
    (brick / "race").write_bytes(b"")
    seen: set[bytes] = set()
    barrier = threading.Barrier(16)

    def look() -> None:
        barrier.wait()
        seen.add(store.lookup(ROOT_GFID, "race", gfid_req=uuid.uuid4().bytes)[0].ia_gfid)

    threads = [threading.Thread(target=look) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 1


def test_copied_gfid_gets_a_new_one(store: PosixStore, brick: Path) -> None:
    """A copy that carries another live file's trusted.gfid (cp -a) gets its own gfid."""
    g, f, *_ = store.create(ROOT_GFID, "orig", 0, 0o644)
    f.close()
    (brick / "copy").write_bytes(b"")
    os.setxattr(brick / "copy", "trusted.gfid", g)
    ia, _ = store.lookup(ROOT_GFID, "copy")
    assert ia.ia_gfid != g
    assert store.lookup(ROOT_GFID, "orig")[0].ia_gfid == g


def test_externally_moved_dir_handle_is_repaired(store: PosixStore, brick: Path) -> None:
    """A directory moved behind the store's back is found again by the next lookup."""
    g, *_ = store.mkdir(ROOT_GFID, "a", 0o755)
    os.rename(brick / "a", brick / "b")
    with PosixStore(str(brick)) as fresh:  # no cached fd
        with pytest.raises(OSError) as e:
            fresh.stat(g)
        assert _errno(e) == errno.ESTALE
        assert fresh.lookup(ROOT_GFID, "b")[0].ia_gfid == g
        assert fresh.stat(g).ia_gfid == g


# -- renames and links -------------------------------------------------------------------------


def test_rename_keeps_gfid(store: PosixStore, brick: Path) -> None:
    """Renamed files and directories keep their gfid; children of a renamed dir resolve."""
    fg, f, *_ = store.create(ROOT_GFID, "f", 0, 0o644)
    f.close()
    dg, *_ = store.mkdir(ROOT_GFID, "d", 0o755)
    cg, *_ = store.mkdir(dg, "child", 0o755)
    r = store.rename(ROOT_GFID, "f", dg, "g")
    assert r.stat.ia_gfid == fg and r.postnewparent.ia_gfid == dg
    r = store.rename(ROOT_GFID, "d", ROOT_GFID, "e")
    assert r.stat.ia_gfid == dg
    assert store.lookup(ROOT_GFID, "e")[0].ia_gfid == dg
    assert store.lookup(dg, "g")[0].ia_gfid == fg
    with PosixStore(str(brick)) as fresh:
        assert fresh.resolve(cg) == str(brick / "e" / "child")
        assert fresh.stat(cg).ia_gfid == cg


def test_rename_over_victim_drops_its_handle(store: PosixStore, brick: Path) -> None:
    """Replacing a file by rename removes the victim's handle when it was its last name."""
    ag, fa, *_ = store.create(ROOT_GFID, "a", 0, 0o644)
    bg, fb, *_ = store.create(ROOT_GFID, "b", 0, 0o644)
    fa.close()
    fb.close()
    store.rename(ROOT_GFID, "a", ROOT_GFID, "b")
    assert not _handle(brick, bg).exists()
    assert store.lookup(ROOT_GFID, "b")[0].ia_gfid == ag


def test_hard_link_shares_gfid(store: PosixStore, brick: Path) -> None:
    """LINK gives the same gfid; the handle lives until the last name is unlinked."""
    g, f, *_ = store.create(ROOT_GFID, "one", 0, 0o644)
    f.close()
    ia, _, _ = store.link(g, ROOT_GFID, "two")
    assert ia.ia_gfid == g and ia.ia_nlink == 2
    assert store.lookup(ROOT_GFID, "two")[0].ia_gfid == g
    store.unlink(ROOT_GFID, "one")
    assert _handle(brick, g).exists() and store.stat(g).ia_nlink == 1
    store.unlink(ROOT_GFID, "two")
    assert not _handle(brick, g).exists()
    with pytest.raises(OSError) as e:
        store.stat(g)
    assert _errno(e) == errno.ESTALE
    dg, *_ = store.mkdir(ROOT_GFID, "d", 0o755)
    with pytest.raises(OSError) as e:
        store.link(dg, ROOT_GFID, "dlink")
    assert _errno(e) == errno.EPERM


def test_rmdir_removes_dir_handle(store: PosixStore, brick: Path) -> None:
    """RMDIR removes the directory's symlink handle."""
    g, *_ = store.mkdir(ROOT_GFID, "d", 0o755)
    store.rmdir(ROOT_GFID, "d")
    assert not os.path.lexists(_handle(brick, g))


# -- safety ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a/b", "a\x00b", ".", "..", "", "/etc"])
def test_hostile_names_refused(store: PosixStore, name: str) -> None:
    """Names with NUL, '.', '..' or empty are EINVAL for every entry operation (LOOKUP of '.'
    and '..' excepted: see test_lookup_of_dot_and_dotdot_stays_inside_the_brick), and names
    with '/' EPERM (as GlusterFS's server resolver answers them)."""
    calls = [
        *([] if name in (".", "..") else [lambda: store.lookup(ROOT_GFID, name)]),
        lambda: store.mkdir(ROOT_GFID, name, 0o755),
        lambda: store.create(ROOT_GFID, name, 0, 0o644),
        lambda: store.mknod(ROOT_GFID, name, stat.S_IFIFO | 0o644),
        lambda: store.symlink(ROOT_GFID, name, "x"),
        lambda: store.unlink(ROOT_GFID, name),
        lambda: store.rmdir(ROOT_GFID, name),
        lambda: store.rename(ROOT_GFID, name, ROOT_GFID, "z"),
    ]
    for call in calls:
        with pytest.raises(OSError) as e:
            call()
        assert _errno(e) == (errno.EPERM if "/" in name else errno.EINVAL)


def test_index_dir_is_not_reachable(store: PosixStore) -> None:
    """.glusterfs in the root: lookup/mkdir/create/rmdir/unlink/rename give EPERM."""
    calls = [
        lambda: store.lookup(ROOT_GFID, ".glusterfs"),
        lambda: store.mkdir(ROOT_GFID, ".glusterfs", 0o755),
        lambda: store.create(ROOT_GFID, ".glusterfs", 0, 0o644),
        lambda: store.rmdir(ROOT_GFID, ".glusterfs"),
        lambda: store.unlink(ROOT_GFID, ".glusterfs"),
        lambda: store.rename(ROOT_GFID, ".glusterfs", ROOT_GFID, "x"),
    ]
    for call in calls:
        with pytest.raises(OSError) as e:
            call()
        assert _errno(e) == errno.EPERM


def test_hostile_symlinks_are_never_followed(
    store: PosixStore, brick: Path, tmp_path: Path
) -> None:
    """Symlinks planted in the brick (absolute, ../..) are reported, never followed: nothing
    outside the brick is read, created or changed."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    os.symlink(str(outside), brick / "abs")
    os.symlink("../outside", brick / "rel")
    os.symlink(str(outside / "secret"), brick / "file")
    before = _snapshot(outside)

    for name in ("abs", "rel", "file"):
        ia, _ = store.lookup(ROOT_GFID, name)
        assert stat.S_ISLNK(ia.mode)
        with pytest.raises(OSError) as e:  # as a parent directory: EPERM, as glusterfsd's
            store.create(ia.ia_gfid, "planted", 0, 0o644)
        assert _errno(e) == errno.EPERM
        with pytest.raises(OSError) as e:
            store.mkdir(ia.ia_gfid, "planted", 0o755)
        assert _errno(e) == errno.EPERM
        with pytest.raises(OSError) as e:
            store.opendir(ia.ia_gfid)
        assert _errno(e) == errno.ENOTDIR
        with pytest.raises(OSError) as e:
            store.open(ia.ia_gfid, os.O_RDWR)
        assert _errno(e) == errno.ELOOP
        with pytest.raises(OSError) as e:
            store.truncate(ia.ia_gfid, 0)
        assert _errno(e) == errno.EINVAL
        # inode ops act on the link itself
        store.setxattr(ia.ia_gfid, {"trusted.planted": b"x"})
        store.setattr(ia.ia_gfid, GF_SET_ATTR_MODE | GF_SET_ATTR_ATIME, mode=0o777, atime=5)
        assert store.readlink(ia.ia_gfid) == os.readlink(brick / name)
        with pytest.raises(OSError) as e:  # create over the link: not followed
            store.create(ROOT_GFID, name, os.O_WRONLY | os.O_TRUNC, 0o644)
        assert _errno(e) == errno.ELOOP

    # a directory swapped for a symlink behind the store's back: ESTALE, not followed
    dg, *_ = store.mkdir(ROOT_GFID, "d", 0o755)
    os.rmdir(brick / "d")
    os.symlink(str(outside), brick / "d")
    with PosixStore(str(brick)) as fresh:
        with pytest.raises(OSError) as e:
            fresh.create(dg, "planted", 0, 0o644)
        assert _errno(e) == errno.ESTALE
    # a tampered directory handle pointing outside is not followed either (it is not a
    # well-formed directory handle, so it is taken for what it is: a symlink)
    g2, *_ = store.mkdir(ROOT_GFID, "d2", 0o755)
    h = _handle(brick, g2)
    h.unlink()
    os.symlink("../../../../outside", h)
    with PosixStore(str(brick)) as fresh:
        with pytest.raises(OSError) as e:
            fresh.mkdir(g2, "planted", 0o755)
        assert _errno(e) == errno.EPERM
    assert _snapshot(outside) == before


# -- directories -------------------------------------------------------------------------------


def _list_all(store: PosixStore, gfid: bytes, size: int, plus: bool = False) -> list[str]:
    names: list[str] = []
    offset = 0
    while True:
        d = store.opendir(gfid)  # a new fd for every page: cookies must still work
        try:
            entries, eof = store.readdir(d, offset, size, plus=plus)
        finally:
            d.close()
        names += [e.name for e in entries]
        if eof:
            return names
        offset = entries[-1].d_off


def test_readdir_resumes_by_cookie_and_hides_index(store: PosixStore, brick: Path) -> None:
    """Listing in small pages, resumed from each page's last d_off (even on a new fd), yields
    every entry once, '.' and '..' first, never .glusterfs."""
    for i in range(60):
        (brick / f"file-{i:03d}").write_bytes(b"")
    names = _list_all(store, ROOT_GFID, size=300)
    assert names[:2] == [".", ".."]
    assert sorted(names[2:]) == sorted(f"file-{i:03d}" for i in range(60))
    assert ".glusterfs" not in names
    d = store.opendir(ROOT_GFID)
    first, eof = store.readdir(d, 0, 300)
    assert not eof
    again, _ = store.readdir(d, first[2].d_off, 300)  # resume from an earlier cookie
    assert again[0].name == first[3].name
    d.close()


def _dht_fold(d_off: int, subvol: int, count: int) -> int:
    """GlusterFS DHT's folding of a brick's d_off with its subvolume number (gf_itransform),
    followed by the unfolding it does before asking that brick again (gf_dirent_orig_offset):
    the offset the brick gets back. Written from the formulas, for 63-bit offsets."""
    bits = max(count - 1, 0).bit_length()
    top = 1 << 62
    present = (1 << 63) - 1
    if d_off & ~(present >> (bits + 1)):  # a "huge" d_off: low bits are dropped
        folded = top | ((d_off >> 1) & (~0 << bits)) | subvol
        return ((folded & ~top) & (~0 << bits)) << 1 & ((1 << 64) - 1)
    return (d_off * count + subvol) // count


@pytest.mark.parametrize("subvolumes", [2, 3, 16, 1000])
def test_readdir_cookies_survive_dht_folding(
    store: PosixStore, brick: Path, subvolumes: int
) -> None:
    """A distribute client folds the subvolume number into every d_off and gives the brick
    back the unfolded value: the cookies are small enough to come back exactly, so a listing
    resumed through DHT ends instead of repeating its last entry forever."""
    for i in range(200):
        (brick / f"entry-{i:03d}").write_bytes(b"")
    d = store.opendir(ROOT_GFID)
    seen: list[str] = []
    offset = 0
    for _ in range(100):
        entries, eof = store.readdir(d, offset, 600)
        for e in entries:
            assert _dht_fold(e.d_off, subvolumes - 1, subvolumes) == e.d_off
        seen += [e.name for e in entries]
        if eof:
            break
        offset = _dht_fold(entries[-1].d_off, subvolumes - 1, subvolumes)
    d.close()
    assert sorted(seen) == sorted([".", "..", *(f"entry-{i:03d}" for i in range(200))])


def test_readdirp_gives_stats_and_gfids(store: PosixStore, brick: Path) -> None:
    """READDIRP entries carry iatts: gfid-derived ino for known entries, a null gfid for
    entries nobody looked up yet; the root's '..' is the root itself."""
    g, f, *_ = store.create(ROOT_GFID, "known", 0, 0o644)
    f.close()
    (brick / "unknown").write_bytes(b"abc")
    d = store.opendir(ROOT_GFID)
    entries, eof = store.readdir(d, 0, 1 << 20, plus=True)
    d.close()
    assert eof
    by_name = {e.name: e for e in entries}
    assert by_name["known"].stat is not None and by_name["known"].stat.ia_gfid == g
    assert by_name["known"].d_ino == by_name["known"].stat.ia_ino
    unknown = by_name["unknown"].stat
    assert unknown is not None and unknown.ia_gfid == NULL_GFID and unknown.ia_size == 3
    dotdot = by_name[".."].stat
    assert dotdot is not None and dotdot.ia_gfid == ROOT_GFID and dotdot.ia_ino == 1


# -- xattrs ------------------------------------------------------------------------------------


def test_xattr_round_trip_binary(store: PosixStore) -> None:
    """Binary xattrs (DHT layouts) come back byte for byte; flags give EEXIST/ENODATA."""
    g, *_ = store.mkdir(ROOT_GFID, "d", 0o755)
    layout = bytes([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF])
    store.setxattr(g, {"trusted.glusterfs.dht": layout, "user.blob": bytes(range(256))})
    assert store.getxattr(g, "trusted.glusterfs.dht") == {"trusted.glusterfs.dht": layout}
    everything = store.getxattr(g)
    assert everything == {"trusted.glusterfs.dht": layout, "user.blob": bytes(range(256))}
    assert sorted(store.listxattr(g)) == ["trusted.glusterfs.dht", "user.blob"]
    with pytest.raises(OSError) as e:
        store.setxattr(g, {"user.blob": b"x"}, os.XATTR_CREATE)
    assert _errno(e) == errno.EEXIST
    with pytest.raises(OSError) as e:
        store.setxattr(g, {"user.none": b"x"}, os.XATTR_REPLACE)
    assert _errno(e) == errno.ENODATA
    store.removexattr(g, "user.blob")
    with pytest.raises(OSError) as e:
        store.getxattr(g, "user.blob")
    assert _errno(e) == errno.ENODATA


def test_internal_xattrs(store: PosixStore, brick: Path) -> None:
    """trusted.gfid: readable by name, hidden from listings, EPERM to set or remove;
    gfid2path and mdata keys are hidden from normal clients."""
    g, *_ = store.mkdir(ROOT_GFID, "d", 0o755)
    assert store.getxattr(g, "trusted.gfid") == {"trusted.gfid": g}
    assert "trusted.gfid" not in store.listxattr(g)
    for call in (
        lambda: store.setxattr(g, {"trusted.gfid": bytes(16)}),
        lambda: store.removexattr(g, "trusted.gfid"),
        lambda: store.setxattr(g, {"trusted.glusterfs.volume-id": bytes(16)}),
    ):
        with pytest.raises(OSError) as e:
            call()
        assert _errno(e) == errno.EPERM
    assert os.getxattr(brick / "d", "trusted.gfid") == g
    os.setxattr(brick / "d", "trusted.gfid2path.abc", b"x/y")
    os.setxattr(brick / "d", "trusted.glusterfs.mdata", b"m")
    assert store.listxattr(g) == []
    assert store.listxattr(g, internal=True) == ["trusted.glusterfs.mdata"]
    for key in ("trusted.gfid2path.abc", "trusted.glusterfs.mdata"):
        with pytest.raises(OSError) as e:
            store.getxattr(g, key)
        assert _errno(e) == errno.ENODATA


# -- errno passthrough and attributes ---------------------------------------------------------


def test_errno_passthrough(store: PosixStore) -> None:
    """Kernel errors reach the caller unchanged; unknown gfids are ESTALE; a parent that is
    not a directory is EPERM."""
    fg, f, *_ = store.create(ROOT_GFID, "file", 0, 0o644)
    f.close()
    dg, *_ = store.mkdir(ROOT_GFID, "dir", 0o755)
    store.mkdir(dg, "inner", 0o755)
    cases = [
        (lambda: store.lookup(ROOT_GFID, "missing"), errno.ENOENT),
        (lambda: store.mkdir(ROOT_GFID, "dir", 0o755), errno.EEXIST),
        (lambda: store.create(ROOT_GFID, "file", 0, 0o644), errno.EEXIST),
        (lambda: store.rmdir(ROOT_GFID, "dir"), errno.ENOTEMPTY),
        (lambda: store.rmdir(ROOT_GFID, "file"), errno.ENOTDIR),
        (lambda: store.unlink(ROOT_GFID, "dir"), errno.EISDIR),
        # a parent that is not a directory: EPERM, as GlusterFS's server resolver answers
        (lambda: store.lookup(fg, "x"), errno.EPERM),
        (lambda: store.create(fg, "x", 0, 0o644), errno.EPERM),
        (lambda: store.open(dg, os.O_RDONLY), errno.EISDIR),
        (lambda: store.opendir(fg), errno.ENOTDIR),
        (lambda: store.readlink(fg), errno.EINVAL),
        (lambda: store.stat(uuid.uuid4().bytes), errno.ESTALE),
        (lambda: store.stat(b"short"), errno.EINVAL),
        (lambda: store.rename(ROOT_GFID, "dir", dg, "loop"), errno.EINVAL),
    ]
    for call, code in cases:
        with pytest.raises(OSError) as e:
            call()
        assert _errno(e) == code, call


def test_access_checks_mode_bits(store: PosixStore) -> None:
    """ACCESS as a non-owner follows the mode bits (EACCES); root may read/write anything."""
    g, f, *_ = store.create(ROOT_GFID, "f", 0, 0o640, owner=Caller(1000, 1000))
    f.close()
    store.access(g, os.R_OK | os.W_OK, Caller(1000, 1000))
    store.access(g, os.R_OK, Caller(2000, 1000))
    for caller, mask in (
        (Caller(2000, 1000), os.W_OK),
        (Caller(2000, 2000), os.R_OK),
        (Caller(1000, 1000), os.X_OK),
        (Caller(0, 0), os.X_OK),
    ):
        with pytest.raises(OSError) as e:
            store.access(g, mask, caller)
        assert _errno(e) == errno.EACCES
    store.access(g, os.R_OK | os.W_OK, Caller(0, 0))


def test_create_mode_umask_and_owner(store: PosixStore, brick: Path) -> None:
    """New entries get mode & ~umask exactly, less the set-uid and set-gid bits (as
    glusterfsd's), the caller's uid/gid, the parent's gid if the parent is set-gid (which a
    new directory inherits)."""
    old = os.umask(0o077)  # the process umask must not matter
    try:
        g, f, ia, pre, post = store.create(
            ROOT_GFID, "f", 0, 0o666, umask=0o022, owner=Caller(1234, 5678)
        )
        f.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(ia.mode) == 0o644 and (ia.ia_uid, ia.ia_gid) == (1234, 5678)
    assert (brick / "f").stat().st_uid == 1234
    assert post.ia_mtime_nsec != pre.ia_mtime_nsec or post.ia_mtime != pre.ia_mtime
    g2, f2, ia2, _, _ = store.create(ROOT_GFID, "suid", 0, 0o7755, owner=Caller(1, 1))
    f2.close()
    assert stat.S_IMODE(ia2.mode) == 0o1755
    dg, dia, _, _ = store.mkdir(ROOT_GFID, "sg", 0o2775, umask=0o002, owner=Caller(1, 4242))
    assert stat.S_IMODE(dia.mode) == 0o775
    store.setattr(dg, GF_SET_ATTR_MODE, mode=0o2775)
    _, inner, _, _ = store.mkdir(dg, "inner", 0o6755, owner=Caller(7, 7))
    assert inner.ia_gid == 4242 and stat.S_IMODE(inner.mode) == 0o2755
    _, sym, _, _ = store.symlink(ROOT_GFID, "s", "target", owner=Caller(9, 9))
    assert stat.S_ISLNK(sym.mode) and sym.ia_uid == 9


def test_setattr_valid_bits(store: PosixStore) -> None:
    """setattr applies only the valid bits: an unset time keeps its value."""
    g, f, *_ = store.create(ROOT_GFID, "f", 0, 0o644)
    f.close()
    store.setattr(g, GF_SET_ATTR_ATIME | GF_SET_ATTR_MODE, mode=0o600, atime=1000, atime_nsec=7)
    pre, post = store.setattr(g, GF_SET_ATTR_UID | GF_SET_ATTR_GID, uid=11, gid=22)
    assert (post.ia_uid, post.ia_gid) == (11, 22) and stat.S_IMODE(post.mode) == 0o600
    assert (post.ia_atime, post.ia_atime_nsec) == (1000, 7)
    assert post.ia_mtime == pre.ia_mtime
    pre, post = store.setattr(g, 0)
    assert pre == post


def test_io_truncate_statfs(store: PosixStore) -> None:
    """read/write go through pread/pwrite (memoryviews accepted) and answer the iatts the reply
    carries; truncate and statfs work."""
    g, f, *_ = store.create(ROOT_GFID, "f", 0, 0o644)
    n, pre, post = store.write(f, 0, memoryview(bytearray(b"hello world")))
    assert (n, pre.ia_size, post.ia_size, post.ia_gfid) == (11, 0, 11, g)
    data, st = store.read(f, 6, 100)
    assert (data, st.ia_size, st.ia_ino) == (b"world", 11, int.from_bytes(g[8:], "big"))
    assert store.read(f, 0, 0)[0] == b""
    pre, post = store.fsync(f)
    assert pre.ia_size == post.ia_size == 11
    pre, post = store.truncate(f, 5)
    assert (pre.ia_size, post.ia_size) == (11, 5)
    f.close()
    _, post = store.truncate(g, 2)
    f2 = store.open(g, os.O_RDONLY)
    assert store.read(f2, 0, 100)[0] == b"he"
    f2.close()
    fs = store.statfs()
    assert fs.bsize > 0 and fs.blocks > 0 and fs.namemax >= 255
    assert len(fs.pack()) == 88  # a gf_statfs, ready for the wire


def test_iatt_fields_rules() -> None:
    """ino from gfid, rdev as major<<32|minor, blocks capped to the size, handle link hidden."""
    st = os.stat_result(
        (
            stat.S_IFREG | 0o644,
            99,
            5,
            2,
            1,
            2,
            1000,
            1,
            2,
            3,
            1.0,
            2.0,
            3.0,
            1_000_000_005,
            2_000_000_006,
            3_000_000_007,
            4096,
            64,
            os.makedev(8, 3),
        )
    )
    gfid = bytes(8) + (42).to_bytes(8, "big")
    ia = iatt_fields(gfid, st, handle_link=True)
    assert ia.ia_ino == 42 and ia.ia_nlink == 1 and ia.ia_blocks == 2
    assert ia.ia_rdev == (8 << 32) | 3
    assert (ia.ia_atime, ia.ia_atime_nsec, ia.ia_ctime_nsec) == (1, 5, 7)
    assert ia.ia_btime == 0 and ia.mode == stat.S_IFREG | 0o644
    assert iatt_fields(None, st).ia_ino == (1 << 64) - 1


def test_iatt_of_real_files(store: PosixStore, brick: Path) -> None:
    """What the store answers is the iatt a GlusterFS 10.3 posix brick sends: S_IF* bits in
    mode, ino = the gfid's last 8 bytes (root: 1), flags 0x17ff, the .glusterfs link hidden
    from a file's nlink (not a directory's), blocks capped, btime 0, split a/m/ctime."""
    g, f, *_ = store.create(ROOT_GFID, "f", 0, 0o640)
    store.write(f, 0, b"x" * 5000)
    f.close()
    dg, *_ = store.mkdir(ROOT_GFID, "d", 0o755)
    lg, *_ = store.symlink(ROOT_GFID, "l", "f")
    for gfid, path, kind in (
        (g, brick / "f", stat.S_IFREG),
        (dg, brick / "d", stat.S_IFDIR),
        (lg, brick / "l", stat.S_IFLNK),
        (ROOT_GFID, brick, stat.S_IFDIR),
    ):
        st = os.lstat(path)
        ia = store.stat(gfid)
        assert stat.S_IFMT(ia.mode) == kind and ia.mode == st.st_mode
        assert (ia.ia_gfid, ia.ia_flags) == (gfid, 0x17FF)
        assert ia.ia_ino == int.from_bytes(gfid[8:], "big")
        hidden = 0 if kind == stat.S_IFDIR else 1
        assert ia.ia_nlink == st.st_nlink - hidden
        assert (ia.ia_size, ia.ia_uid, ia.ia_gid) == (st.st_size, st.st_uid, st.st_gid)
        assert ia.ia_blocks == min(st.st_blocks, (st.st_size + 511) // 512)
        assert ia.ia_mtime * 10**9 + ia.ia_mtime_nsec == st.st_mtime_ns
        assert ia.ia_ctime * 10**9 + ia.ia_ctime_nsec == st.st_ctime_ns
        assert (ia.ia_btime, ia.ia_btime_nsec, ia.ia_attributes) == (0, 0, 0)
        assert (ia.ia_dev, ia.ia_blksize) == (st.st_dev, st.st_blksize)
        assert len(ia.pack()) == 148  # a gfx_iattx, ready for the wire
    assert store.stat(ROOT_GFID).ia_ino == 1
    assert store.stat(g).ia_nlink == 1


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_iatt_rdev_is_major_minor() -> None:
    """ia_rdev is GlusterFS's ia_makedev: major << 32 | minor (not the kernel dev_t)."""
    st = os.stat("/dev/null")
    ia = iatt_fields(ROOT_GFID, st)
    assert stat.S_ISCHR(ia.mode)
    assert ia.ia_rdev == (os.major(st.st_rdev) << 32) | os.minor(st.st_rdev)


def test_null_gfid_iatt() -> None:
    """Without a gfid, ino is 2**64-1 (posix's -1) and IATT_INO is not set; IATT_GFID is."""
    ia = iatt_fields(None, os.stat("/"))
    assert (ia.ia_gfid, ia.ia_ino, ia.ia_flags) == (NULL_GFID, (1 << 64) - 1, 0x16FF)
    assert ia.ia_flags & IATT_GFID and not ia.ia_flags & IATT_INO
    assert gfid_to_ino(bytes(range(16))) == 0x08090A0B0C0D0E0F


# -- fd table and concurrency ------------------------------------------------------------------


def test_fd_table_release_and_close_all(store: PosixStore) -> None:
    """Numbers are the lowest free ones; unknown releases are harmless; close_all closes all."""
    table = FdTable()
    g, f, *_ = store.create(ROOT_GFID, "f", 0, 0o644)
    d = store.opendir(ROOT_GFID)
    assert table.add(f) == 0 and table.add(d) == 1
    table.release(12345)
    table.releasedir(-2)
    table.release(0)
    f2 = store.open(g, os.O_RDONLY)
    assert table.add(f2) == 0
    with pytest.raises(OSError) as e:
        table.get(7)
    assert _errno(e) == errno.EBADF
    os_fds = [f2.fd, d.fd]
    table.close_all()
    assert len(table) == 0
    for fd in os_fds:
        with pytest.raises(OSError):
            os.fstat(fd)
    with pytest.raises(OSError) as e:
        store.read(f2, 0, 1)
    assert _errno(e) == errno.EBADF


def test_read_out_hands_big_reads_to_the_transport(store: PosixStore) -> None:
    """READ for a reply (``read_out``): at least BIG bytes that the file holds come as a
    FileRegion of the file's bytes on a descriptor of its own (the file may be released at
    once), counted from the fstat, with the iatt of that moment; a small read, a read whose
    end of file leaves less than a region, and a write-only file go the plain way (EBADF for
    the last, as before)."""
    payload = bytes(range(256)) * 1024  # 256 KiB
    g, f, *_ = store.create(ROOT_GFID, "big", os.O_RDWR, 0o644)
    store.write(f, 0, payload)
    region, st = store.read_out(f, 1000, 200_000)
    assert isinstance(region, FileRegion) and st.ia_size == len(payload)
    assert (region.offset, len(region)) == (1000, 200_000) and region.fd != f.fd
    tail, _ = store.read_out(f, 200_000, 1 << 20)  # 62,144 bytes left: clamped, still a region
    assert isinstance(tail, FileRegion) and len(tail) == len(payload) - 200_000
    f.close()  # a RELEASE before the send: the region's descriptor is its own
    assert region.take() == payload[1000:201_000]
    assert tail.take() == payload[200_000:]
    f2 = store.open(g, os.O_RDONLY)
    small, _ = store.read_out(f2, 0, 4096)
    assert small == payload[:4096]
    near_end, _ = store.read_out(f2, len(payload) - 100, 1 << 20)
    assert near_end == payload[-100:]
    past_end, _ = store.read_out(f2, len(payload) + 5, 1 << 20)
    assert past_end == b""
    f2.close()
    wo = store.open(g, os.O_WRONLY)
    with pytest.raises(OSError) as e:
        store.read_out(wo, 0, 1 << 20)
    assert _errno(e) == errno.EBADF
    wo.close()


def test_read_out_copies_once_the_regions_bound_is_reached(
    store: PosixStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most ``MAX_REGIONS`` file regions of the process hold a descriptor: with that many
    live, a big READ copies (bytes, the same data) instead of keeping one more open; once a
    region is closed, the next READ is a region again."""
    payload = os.urandom(300_000)
    _, f, *_ = store.create(ROOT_GFID, "bound", os.O_RDWR, 0o644)
    store.write(f, 0, payload)
    base = FileRegion.live()
    monkeypatch.setattr(store_data, "MAX_REGIONS", base + 1)
    held, _ = store.read_out(f, 0, 100_000)
    assert isinstance(held, FileRegion) and FileRegion.live() == base + 1
    copied, _ = store.read_out(f, 0, 100_000)
    assert copied == payload[:100_000]
    held.close()
    assert FileRegion.live() == base
    again, _ = store.read_out(f, 0, 100_000)
    assert isinstance(again, FileRegion)
    assert again.take() == payload[:100_000] and FileRegion.live() == base
    f.close()


def test_release_during_use_defers_close(store: PosixStore) -> None:
    """A RELEASE racing a READ closes the descriptor only once the READ is done."""
    _, f, *_ = store.create(ROOT_GFID, "f", 0, 0o644)
    store.write(f, 0, b"abc")
    with f.pinned() as fd:
        f.close()
        assert os.pread(fd, 3, 0) == b"abc"
    with pytest.raises(OSError):
        os.fstat(fd)


def test_concurrent_writers_get_exactly_their_bytes(store: PosixStore, brick: Path) -> None:
    """24 threads creating and writing their own file at once end with exactly their bytes."""
    results: dict[int, bytes] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(24)

    def work(i: int) -> None:
        try:
            barrier.wait()
            g, f, *_ = store.create(ROOT_GFID, f"w{i}", 0, 0o644)
            payload = bytes([i]) * (64 * 1024 + i)
            view = memoryview(payload)
            for off in range(0, len(payload), 8192):
                store.write(f, off, view[off : off + 8192])
            f.close()
            results[i] = payload
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, payload in results.items():
        assert (brick / f"w{i}").read_bytes() == payload
    assert len(results) == 24


def test_open_file_object_type() -> None:
    """OpenFile keeps the flags it was opened with (the FOP layer reports them)."""
    r, w = os.pipe()
    os.close(w)
    f = OpenFile(r, bytes(16), os.O_RDONLY)
    assert f.flags == os.O_RDONLY and not f.closed
    f.close()
    f.close()
    assert f.closed


@pytest.mark.timeout(30)
@pytest.mark.parametrize("flags", [os.O_RDWR, os.O_RDWR | os.O_APPEND], ids=["plain", "append"])
def test_write_moves_a_payload_end_still_in_the_socket_into_the_file(
    store: PosixStore, flags: int
) -> None:
    """WRITE with an unread tail (``transport/tail.py``): the head of the payload from memory
    and its end from the socket land in the file in order, the reply counting them all; an
    O_APPEND file (which splice(2) refuses) gets the end read and copied, the same bytes."""
    import socket as socket_

    from gfrpc.transport.tail import UnreadTail

    payload = bytes((i * 7 + i // 251) % 256 for i in range(300_000))
    head = 50_000
    record = bytearray(payload[:head]) + bytearray(len(payload) - head)
    a, b = socket_.socketpair()
    b.setsockopt(socket_.SOL_SOCKET, socket_.SO_SNDBUF, 1 << 20)  # all of it queued at once
    a.setblocking(False)
    try:
        b.sendall(payload[head:])
        tail = UnreadTail(a, memoryview(record)[head:])
        g, f, *_ = store.create(ROOT_GFID, "spliced", flags, 0o644)
        n, pre, post = store.write(f, 0, memoryview(record), tail=tail)
        assert (n, pre.ia_size, post.ia_size, tail.remaining) == (len(payload), 0, len(payload), 0)
        assert store.read(f, 0, len(payload))[0] == payload
        f.close()
    finally:
        a.close()
        b.close()


@pytest.mark.timeout(30)
def test_write_copies_where_the_file_system_refuses_splice(
    store: PosixStore, brick: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file splice(2) refuses (EINVAL, as from a file system without splice support; here
    a descriptor open O_APPEND behind the store's back) gets a WRITE's unread end copied with
    ``pwrite``: all of the bytes, in order. The file system is remembered (its ``st_dev``)
    only once ``pwrite`` wrote what splice refused, and its next WRITE does not try splice."""
    import socket as socket_

    from gfrpc.transport.tail import UnreadTail

    monkeypatch.setattr(store_data, "_REFUSE_SPLICE", set())
    payload = bytes((i * 7 + i // 251) % 256 for i in range(300_000))
    head = 50_000
    g, f, *_ = store.create(ROOT_GFID, "no-splice", 0, 0o644)
    f.close()
    path = brick / "no-splice"
    fd = os.open(path, os.O_RDWR | os.O_APPEND)
    refusing = OpenFile(fd, g, os.O_RDWR)  # the store sees no O_APPEND: splice is tried
    a, b = socket_.socketpair()
    b.setsockopt(socket_.SOL_SOCKET, socket_.SO_SNDBUF, 1 << 20)
    a.setblocking(False)
    try:
        tails = []
        for _ in range(2):
            record = bytearray(payload[:head]) + bytearray(len(payload) - head)
            b.sendall(payload[head:])
            tail = UnreadTail(a, memoryview(record)[head:])
            tails.append(tail)
            at = os.fstat(fd).st_size  # O_APPEND writes at the end whatever the offset
            n, pre, post = store.write(refusing, at, memoryview(record), tail=tail)
            assert (n, post.ia_size - pre.ia_size, tail.remaining) == (len(payload),) * 2 + (0,)
        assert path.read_bytes() == payload * 2
        assert tails[0].refused and not tails[1].refused  # the second never tried splice
        assert store_data._REFUSE_SPLICE == {os.fstat(fd).st_dev}
    finally:
        refusing.close()
        a.close()
        b.close()
