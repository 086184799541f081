"""gfrpc's DHT placement and volfile reading against a real GlusterFS 10.3 distribute volume.

A 3-brick plain distribute volume is created on the harness's glusterd (bricks under its temp
tree, ``force``), mounted with the real FUSE client from the volfile glusterd wrote (read and
re-rendered by gfrpc's volfile module, pointed at the bricks' ports), and files are created
through the mount. Each file's brick, found by looking into the brick directories, must be the
one ``pick_subvolume`` predicts from the layout xattrs read off the bricks.

On a 2-brick volume gfrpc's own client renames files (chains of renames, renames over existing
files) and the bricks must then hold what GlusterFS's DHT leaves: one data file, a linkto on
the new name's hashed brick iff the data is elsewhere, nothing stale; a FUSE mount agrees.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import itertools
import os
import random
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gfrpc.client import volfile as vf
from gfrpc.client.dht import (
    LAYOUT_XATTR,
    LINKTO_XATTR,
    LayoutRange,
    brick_chunks,
    dm_hash,
    hash_name,
    is_linkto,
    linkto_target,
    new_directory_layouts,
    parse_layout,
    pick_subvolume,
)
from gfrpc.client.volume import Volume
from gfrpc.testing import need
from gfrpc.testing.realgluster import GlusterD, run, unmount

N_BRICKS = 3

pytestmark = pytest.mark.timeout(300)


@dataclass
class DhtVolume:
    name: str
    volfile: vf.Volfile  # the client graph glusterd wrote, aimed at 127.0.0.1:<brick port>
    subvolumes: list[str]  # DHT subvolume (client xlator) names, in DHT order
    bricks: list[Path]  # brick directory of each subvolume, same order
    shared_brick_count: int


@contextlib.contextmanager
def _distribute_volume(gd: GlusterD, name: str, n_bricks: int) -> Iterator[DhtVolume]:
    """Start a plain distribute volume of ``n_bricks`` bricks (the launcher's
    ``create_volume``) and read back the client graph glusterd wrote; at exit delete it (the
    launcher stops its bricks and removes what GlusterFS left outside our tree)."""
    try:
        vol = gd.create_volume(name, bricks=n_bricks)
        # the client graph glusterd serves (GETSPEC); aim each client at its brick's port
        volfile = vf.parse((gd.workdir / "vols" / name / f"{name}.tcp-fuse.vol").read_text())
        assert vf.check_supported(volfile) == "distribute"
        by_path = {str(b.path): b for b in vol.bricks}
        order = vf.distribute_layout_order(volfile)
        specs = {s.name: s for s in vf.client_bricks(volfile)}
        for client in order:
            xl = volfile[client]
            xl.options["remote-host"] = "127.0.0.1"
            xl.options["remote-port"] = str(by_path[specs[client].remote_subvolume].port)
        brick_vol = vf.parse(
            next((gd.workdir / "vols" / name).glob(f"{name}.*-b0.vol")).read_text()
        )
        posix = next(x for x in brick_vol.volumes if x.type == "storage/posix")
        yield DhtVolume(
            name=name,
            volfile=volfile,
            subvolumes=order,
            bricks=[by_path[specs[c].remote_subvolume].path for c in order],
            shared_brick_count=int(posix.options.get("shared-brick-count", "1")),
        )
    finally:
        if name in gd.volumes:
            gd.delete_volume(name)


@pytest.fixture(scope="module")
def dht_volume(glusterd: GlusterD) -> Iterator[DhtVolume]:
    """A started 3-brick plain distribute volume (bricks share one file system)."""
    name = f"gfrpc-dht-{glusterd.root.name[-6:]}"
    top = glusterd.bricks_dir / name
    try:
        with _distribute_volume(glusterd, name, N_BRICKS) as vol:
            yield vol
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _names(prefix: str, count: int) -> list[str]:
    """Varied names: ASCII, dots, rsync temp names, spaces, UTF-8 (also as the last bytes)."""
    patterns = [
        "{p}file-{i:03d}",
        "{p}{i}.tar.gz",
        "{p}a.b.c{i}",
        ".{p}hidden{i}",
        "..{p}dd{i}",
        ".{p}name{i}.AbC123",
        ".{p}x{i}.",
        ".{i}{p}.y",
        "{p}ñandú-{i}",
        "{p}日本語-{i}.txt",
        "{p}{i}é",
        "{p}{i}日",
        "{p}z€{i}",
        "{p}with space {i}",
        "{p}emoji-😀-{i}",
        "{p}" + "L" * 120 + "{i}",
        "{p}UPPER{i}.TXT",
        "{p}{i}",
    ]
    out: list[str] = []
    i = 0
    while len(out) < count:
        out.append(patterns[i % len(patterns)].format(p=prefix, i=i))
        i += 1
    return out


def _layouts(vol: DhtVolume, rel: str) -> list[LayoutRange]:
    return [parse_layout(os.getxattr(b / rel, LAYOUT_XATTR)) for b in vol.bricks]


def _data_bricks(vol: DhtVolume, rel: str) -> list[int]:
    """Indexes of the bricks that hold ``rel`` as a real (non-linkto) file."""
    found = []
    for i, b in enumerate(vol.bricks):
        p = b / rel
        try:
            st = p.lstat()
        except FileNotFoundError:
            continue
        xattrs = {k: os.getxattr(p, k) for k in os.listxattr(p)}
        if not is_linkto(st.st_mode, st.st_size, xattrs):
            found.append(i)
    return found


def _chunks(vol: DhtVolume) -> list[int]:
    """Each brick's weight as DHT sees it (posix divides f_blocks by shared-brick-count)."""
    out = []
    for b in vol.bricks:
        s = os.statvfs(b)
        shared = vol.shared_brick_count if len(vol.bricks) > 1 else 1
        out.append(brick_chunks(s.f_blocks, s.f_bsize, shared))
    return out


@contextlib.contextmanager
def _dht_mount(
    glusterd: GlusterD, vol: DhtVolume, *, extra_args: tuple[str, ...] = ()
) -> Iterator[Path]:
    """A real FUSE mount of ``vol`` that is ready for new names in its root: the launcher's
    mount is live once one LOOKUP of the root answers, but DHT heals the root's layout (writes
    it on every brick) in that first LOOKUP only over the subvolumes it has heard from, and a
    MKDIR whose parent's layout still has a hole fails with EIO (seen once in CI). So look the
    root up again until every brick holds a range of a layout that covers all 2**32 hashes."""
    with glusterd.fuse_mount(vf.render(vol.volfile), extra_args=extra_args) as mnt:
        deadline = time.monotonic() + 20
        while True:
            os.stat(mnt)  # GlusterFS's FUSE getattr of the root is a LOOKUP: DHT heals there
            try:
                ranges = sorted((r.start, r.stop) for r in _layouts(vol, ""))
            except OSError:  # a brick without the layout xattr yet
                ranges = []
            if _covers_all_hashes(ranges):
                break
            assert time.monotonic() < deadline, f"root layout not healed: {ranges}"
            time.sleep(0.05)  # nothing to wait on: the bricks' xattrs are plain files
        yield mnt


def _covers_all_hashes(ranges: list[tuple[int, int]]) -> bool:
    """True when the sorted (start, stop) ranges are all non-empty and tile 0..2**32-1."""
    if not ranges or any(b < a for a, b in ranges):
        return False
    nxt = 0
    for a, b in ranges:
        if a != nxt:
            return False
        nxt = b + 1
    return nxt == 2**32


def test_files_land_where_pick_subvolume_says(glusterd: GlusterD, dht_volume: DhtVolume) -> None:
    """Rule: every file created through a real FUSE mount sits on the brick that
    pick_subvolume(layout xattrs read from the bricks, name) names, in the root and in a
    subdirectory, for ASCII, dotted, rsync-temp-like and UTF-8 names."""
    vol = dht_volume
    with _dht_mount(glusterd, vol) as mnt:
        (mnt / "sub").mkdir()
        cases = [("", n) for n in _names("", 200)] + [("sub", n) for n in _names("s-", 80)]
        for d, n in cases:
            (mnt / d / n).write_bytes(n.encode())
    counts = [0] * N_BRICKS
    for d in ("", "sub"):
        layouts = _layouts(vol, d)
        for dd, n in cases:
            if dd != d:
                continue
            where = _data_bricks(vol, f"{d}/{n}" if d else n)
            assert len(where) == 1, f"{d}/{n}: data on bricks {where}"
            assert where[0] == pick_subvolume(layouts, n), (
                f"{d}/{n!r} (hash 0x{hash_name(n):08x}) is on {vol.subvolumes[where[0]]}; "
                f"layouts {layouts}"
            )
            counts[where[0]] += 1
    assert all(counts), f"names should spread over all bricks: {counts}"


def test_new_directory_layout_matches_glusterfs(glusterd: GlusterD, dht_volume: DhtVolume) -> None:
    """Rule: a directory made through GlusterFS gets the ranges new_directory_layouts computes
    (rotation start = hash(path) % n over name-sorted subvolumes; weighted by brick chunks)."""
    vol = dht_volume
    paths = ["/", "/d1", "/d2", "/dir-three", "/d1/inner", "/日本"]
    with _dht_mount(glusterd, vol) as mnt:
        for p in paths[1:]:
            (mnt / p.lstrip("/")).mkdir()
    chunks = _chunks(vol)
    for p in paths:
        got = _layouts(vol, p.lstrip("/"))
        # mkdir writes the volume commit hash (0: never rebalanced); the root's layout is
        # written by self-heal, which marks it DHT_LAYOUT_HASH_INVALID (1)
        commit = 1 if p == "/" else 0
        want = new_directory_layouts(vol.subvolumes, p, chunks=chunks, commit_hash=commit)
        assert got == want, f"{p}: bricks have {got}, computed {want} (chunks {chunks})"


def test_rsync_rename_keeps_brick_and_rename_makes_linkto(
    glusterd: GlusterD, dht_volume: DhtVolume
) -> None:
    """Rule: a rename from the rsync temp name '.NAME.XXXXXX' to NAME needs no move and no
    linkto file; a rename to a name hashed elsewhere leaves a linkto file (mode 01000, empty,
    trusted.glusterfs.dht.linkto = the data's subvolume) on the new name's hashed brick."""
    vol = dht_volume
    with _dht_mount(glusterd, vol) as mnt:
        (mnt / "mv").mkdir()
        for i in range(10):
            (mnt / "mv" / f".target{i}.Xy12ab").write_bytes(b"x")
            os.rename(mnt / "mv" / f".target{i}.Xy12ab", mnt / "mv" / f"target{i}")
        layouts = _layouts(vol, "mv")
        moved = []
        for i in range(40):
            src, dst = f"src{i}", f"dst{i}"
            if pick_subvolume(layouts, src) != pick_subvolume(layouts, dst):
                (mnt / "mv" / src).write_bytes(b"y")
                os.rename(mnt / "mv" / src, mnt / "mv" / dst)
                moved.append((src, dst))
            if len(moved) == 5:
                break
    for i in range(10):
        home = pick_subvolume(layouts, f"target{i}")
        assert _data_bricks(vol, f"mv/target{i}") == [home]
        present = [j for j, b in enumerate(vol.bricks) if (b / "mv" / f"target{i}").exists()]
        assert present == [home], f"target{i}: entries on {present}, no linkto expected"
    assert moved, "no src/dst pair with different hashed bricks found"
    for src, dst in moved:
        cached, hashed = pick_subvolume(layouts, src), pick_subvolume(layouts, dst)
        assert _data_bricks(vol, f"mv/{dst}") == [cached]
        link = vol.bricks[hashed] / "mv" / dst
        st = link.lstat()
        xattrs = {k: os.getxattr(link, k) for k in os.listxattr(link)}
        assert stat.S_IMODE(st.st_mode) == 0o1000 and st.st_size == 0
        assert is_linkto(st.st_mode, st.st_size, xattrs)
        assert LINKTO_XATTR in xattrs
        assert linkto_target(xattrs) == vol.subvolumes[cached]


def test_dm_hash_equals_libglusterfs() -> None:
    """Rule: dm_hash is bit-exact with gf_dm_hashfn of the installed libglusterfs, for empty,
    short, block-sized, long and non-ASCII inputs (sign-extended trailing bytes)."""
    path = ctypes.util.find_library("glusterfs") or "libglusterfs.so.0"
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        need(False, f"libglusterfs not loadable ({e})")
        raise AssertionError("unreachable") from e
    fn = lib.gf_dm_hashfn
    fn.restype, fn.argtypes = ctypes.c_uint32, [ctypes.c_char_p, ctypes.c_int]
    samples = [n.encode() for n in _names("h", 120)] + [b"", b"/", bytes(range(256))]
    samples += [bytes([0x80 + k]) * n for k in range(3) for n in range(1, 40)]
    for data in samples:
        assert dm_hash(data) == fn(data, len(data)), data


def test_weighted_rebalance_splits_by_brick_size(glusterd: GlusterD) -> None:
    """Rule: with weighted-rebalance (the default) a new directory's ranges are proportional to
    the bricks' sizes in 1 MiB chunks: bricks on tmpfs of 32 and 96 MiB get 1/4 and 3/4."""
    name = f"gfrpc-dhtw-{glusterd.root.name[-6:]}"
    top = glusterd.bricks_dir / name
    mounts = [top / "b0", top / "b1"]  # the brick directories create_volume(bricks=2) uses
    mounted: list[Path] = []
    try:
        for m, size in zip(mounts, ("32m", "96m"), strict=True):
            m.mkdir(parents=True)
            r = run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(m)])
            need(r.returncode == 0, f"cannot mount a tmpfs for a brick: {r.stderr.strip()}")
            mounted.append(m)
        with _distribute_volume(glusterd, name, len(mounts)) as vol:
            assert vol.shared_brick_count == 1
            with _dht_mount(glusterd, vol) as mnt:
                for d in ("w1", "w2", "w3"):
                    (mnt / d).mkdir()
            chunks = _chunks(vol)
            assert sorted(chunks) == [32, 96]
            for d in ("w1", "w2", "w3"):
                got = _layouts(vol, d)
                assert got == new_directory_layouts(vol.subvolumes, f"/{d}", chunks=chunks)
                assert got != new_directory_layouts(vol.subvolumes, f"/{d}")
    finally:
        for m in mounted:
            unmount(m)
        shutil.rmtree(top, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# renames by gfrpc's client on a real 2-brick volume


@pytest.fixture(scope="module")
def dht2_volume(glusterd: GlusterD) -> Iterator[DhtVolume]:
    """A started 2-brick plain distribute volume."""
    name = f"gfrpc-dht2-{glusterd.root.name[-6:]}"
    try:
        with _distribute_volume(glusterd, name, 2) as vol:
            yield vol
    finally:
        shutil.rmtree(glusterd.bricks_dir / name, ignore_errors=True)


def _check_bricks(vol: DhtVolume, rel: str, want: dict[str, tuple[bytes, bytes]]) -> dict[str, int]:
    """Assert DHT's state on directory ``rel`` of the bricks for the files ``want`` ({name:
    (gfid, content)}): one data file each with that gfid, a linkto (same gfid, naming the
    data's subvolume) on the hashed brick iff the data is elsewhere, no other entry.
    Returns {name: data brick}."""
    layouts = _layouts(vol, rel)
    seen: dict[tuple[int, str], tuple[bool, str | None, bytes]] = {}
    for i, b in enumerate(vol.bricks):
        for p in (b / rel).iterdir():
            st = p.lstat()
            xattrs = {k: os.getxattr(p, k) for k in os.listxattr(p)}
            seen[(i, p.name)] = (
                is_linkto(st.st_mode, st.st_size, xattrs),
                linkto_target(xattrs),
                xattrs["trusted.gfid"],
            )
    where: dict[str, int] = {}
    for name, (gfid, content) in want.items():
        data = [i for i in range(len(vol.bricks)) if (i, name) in seen and not seen[(i, name)][0]]
        assert len(data) == 1, f"{name}: data on bricks {data}; bricks hold {sorted(seen)}"
        c = where[name] = data[0]
        assert seen[(c, name)][2] == gfid, f"{name}: gfid changed"
        assert (vol.bricks[c] / rel / name).read_bytes() == content
        h = pick_subvolume(layouts, name)
        if h != c:
            assert seen.get((h, name)) == (True, vol.subvolumes[c], gfid), (
                f"{name}: no linkto to brick {c} on hashed brick {h}: {seen.get((h, name))}"
            )
    expected = {(c, n) for n, c in where.items()} | {(pick_subvolume(layouts, n), n) for n in want}
    assert set(seen) == expected, f"stale entries: {sorted(set(seen) - expected)}"
    return where


def _brick_gfid(vol: DhtVolume, rel: str) -> bytes:
    return os.getxattr(vol.bricks[_data_bricks(vol, rel)[0]] / rel, "trusted.gfid")


def test_gfrpc_rename_chain_on_a_real_volume(glusterd: GlusterD, dht2_volume: DhtVolume) -> None:
    """Rule: gfrpc's client renames a file 30 times (a -> n1 -> n2 ..., random names, so the
    source is reached directly and through a linkto and the new name hashes to either brick)
    without an error; after each rename the real bricks hold one data file with the original
    gfid, the right linkto and nothing stale; a FUSE mount then lists and reads the file, the
    same holds while renames through FUSE (GlusterFS's DHT) and gfrpc alternate, and after
    gfrpc unlinks it both bricks' directories are empty."""
    vol = dht2_volume
    content = os.urandom(5000)
    rng = random.Random(10)
    kinds = set()
    with Volume.from_volfile(vf.render(vol.volfile), volname=vol.name) as v:
        v.mkdir("/chain")
        v.write_bytes("/chain/a", content)
        gfid = _brick_gfid(vol, "chain/a")
        name = "a"
        for _ in range(30):
            new = f"n{rng.getrandbits(40):x}"
            v.rename(f"/chain/{name}", f"/chain/{new}")
            where = _check_bricks(vol, "chain", {new: (gfid, content)})
            layouts = _layouts(vol, "chain")
            kinds.add(
                (
                    pick_subvolume(layouts, name) == where[new],
                    pick_subvolume(layouts, new) == where[new],
                )
            )
            assert v.listdir("/chain") == [new]
            name = new
        assert kinds == set(itertools.product((True, False), repeat=2)), kinds
        assert v.read_bytes(f"/chain/{name}") == content
        no_cache = ("--entry-timeout=0", "--attribute-timeout=0", "--negative-timeout=0")
        with _dht_mount(glusterd, vol, extra_args=no_cache) as mnt:
            assert os.listdir(mnt / "chain") == [name]
            assert (mnt / "chain" / name).read_bytes() == content
            for k in range(6):  # alternate with GlusterFS's own DHT (renames through FUSE)
                new = f"m{k}-{rng.getrandbits(32):x}"
                if k % 2:
                    v.rename(f"/chain/{name}", f"/chain/{new}")
                else:
                    os.rename(mnt / "chain" / name, mnt / "chain" / new)
                _check_bricks(vol, "chain", {new: (gfid, content)})
                assert os.listdir(mnt / "chain") == v.listdir("/chain") == [new]
                name = new
        v.unlink(f"/chain/{name}")
        assert v.listdir("/chain") == []
    assert not [p for b in vol.bricks for p in (b / "chain").iterdir()]


def test_gfrpc_rename_over_existing_files_on_a_real_volume(
    glusterd: GlusterD, dht2_volume: DhtVolume
) -> None:
    """Rule: for each of the 16 placements (source data on brick 0/1, reached directly or
    through a linkto; destination the same), gfrpc's rename over an existing file leaves the
    source's data and gfid on its brick under the new name, a linkto iff the new name hashes
    elsewhere, and no trace of the old destination or the old name; FUSE sees the same."""
    vol = dht2_volume
    taken: set[str] = set()
    with Volume.from_volfile(vf.render(vol.volfile), volname=vol.name) as v:
        v.mkdir("/over")
        layouts = _layouts(vol, "over")

        def name_on(brick: int, prefix: str) -> str:
            for i in itertools.count():
                name = f"{prefix}{i}"
                if name not in taken and pick_subvolume(layouts, name) == brick:
                    taken.add(name)
                    return name
            raise AssertionError("unreachable")

        def place(cached: int, hashed: int, data: bytes) -> str:
            first = name_on(cached, "f")
            v.write_bytes(f"/over/{first}", data)
            if hashed == cached:
                return first
            final = name_on(hashed, "g")
            v.rename(f"/over/{first}", f"/over/{final}")
            return final

        final: dict[str, tuple[bytes, bytes]] = {}
        for k, (sc, sh, dc, dh) in enumerate(itertools.product((0, 1), repeat=4)):
            src, dst = place(sc, sh, b"src%d" % k), place(dc, dh, b"old%d" % k)
            gfid = _brick_gfid(vol, f"over/{src}")
            v.rename(f"/over/{src}", f"/over/{dst}")
            final[dst] = (gfid, b"src%d" % k)
            where = _check_bricks(vol, "over", final)
            assert where[dst] == sc, (sc, sh, dc, dh)
            assert v.read_bytes(f"/over/{dst}") == b"src%d" % k
        assert sorted(v.listdir("/over")) == sorted(final)
        with _dht_mount(glusterd, vol) as mnt:
            assert sorted(os.listdir(mnt / "over")) == sorted(final)
            for name, (_, data) in final.items():
                assert (mnt / "over" / name).read_bytes() == data


def _count_fops(v: Volume) -> list[tuple[str, str | None]]:
    """Record the FOPs every brick connection of ``v`` sends from now on, with the name a
    named FOP carries; the list they fill."""
    sent: list[tuple[str, str | None]] = []
    for conn in v.bricks:
        fop = conn.fop

        def counted(proc: Any, req: Any, *args: Any, _fop: Any = fop, **kwargs: Any) -> Any:
            sent.append((proc.name, getattr(req, "bname", None)))
            return _fop(proc, req, *args, **kwargs)

        conn.fop = counted  # type: ignore[method-assign]
    return sent


def test_lookup_optimize_agrees_with_fuse(glusterd: GlusterD, dht_volume: DhtVolume) -> None:
    """Rule (DHT's lookup-optimize, on in glusterd's graph): in a directory FUSE made (layout
    commit hash 0, the volume's), gfrpc's client makes a new file with one CREATE on the brick
    the name hashes to and no LOOKUP, a missing name is FileNotFoundError after one LOOKUP;
    in the root (commit hash 1, written by self-heal) a missing name is still looked up on
    every brick. The FUSE mount sees every file gfrpc made, with its bytes."""
    vol = dht_volume
    names = _names("lo-", 24)
    with _dht_mount(glusterd, vol) as mnt:
        (mnt / "lo").mkdir()
        with Volume.from_volfile(vf.render(vol.volfile), volname=vol.name) as v:
            assert v.lookup_optimize
            assert not v.exists("/lo/warm")  # resolves /lo, reads its layout
            sent = _count_fops(v)
            for n in names:
                v.write_bytes(f"/lo/{n}", n.encode())
            ops = [op for op, _ in sent]
            assert "LOOKUP" not in ops and ops.count("CREATE") == len(names), ops
            # a missing name in a current directory is one try: one LOOKUP in /lo, one per
            # brick in the root
            assert not v.exists("/none-in-root")  # warms the root's layout
            sent.clear()
            assert not v.exists("/lo/none")
            assert sent.count(("LOOKUP", "none")) == 1, sent
            assert not v.exists("/none-in-root-2")
            assert sent.count(("LOOKUP", "none-in-root-2")) == N_BRICKS, sent
        layouts = _layouts(vol, "lo")
        for n in names:
            assert _data_bricks(vol, f"lo/{n}") == [pick_subvolume(layouts, n)], n
            assert (mnt / "lo" / n).read_bytes() == n.encode()
        assert sorted(os.listdir(mnt / "lo")) == sorted(names)
