"""Tests of gfrpc.client.dht_rename: DHT's rename plan (sans-IO, every brick combination) and
renames on a two-brick distribute volume of gfrpc bricks, checked on the bricks' directories.

After any rename the bricks must hold exactly one data file per name, with its gfid unchanged,
a linkto file (mode 01000, ``trusted.glusterfs.dht.linkto`` = the data's subvolume, same gfid)
on the name's hashed brick exactly when the data is elsewhere, and nothing else: no leftover
linkto of an old name, no old destination.
"""

from __future__ import annotations

import errno
import itertools
import os
import random
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from client_support import brick_port, distribute_volfile

from gfrpc.client import Volume, dht
from gfrpc.client.dht_rename import (
    LINK_NEW,
    LINKTO_NEW,
    LINKTO_OLD,
    RENAME,
    UNLINK_NEW,
    UNLINK_OLD,
    make_linkto,
    plan_rename,
)
from gfrpc.client.namespace import Namespace, Node
from gfrpc.services.brick import BrickConfig, BrickServer

pytestmark = pytest.mark.timeout(120)

# --------------------------------------------------------------------------------------------
# the plan, on a model of the bricks: {name: ("data" | "link", gfid, data brick)} per brick


def _apply(bricks: list[dict[str, tuple[str, str, int]]], steps: Any, src_cached: int) -> None:
    for st in steps:
        b = bricks[st.brick]
        if st.kind == LINKTO_OLD:
            assert b.get("s", ("link",))[0] == "link", "would replace data"
            b["s"] = ("link", "G", src_cached)
        elif st.kind == LINK_NEW:
            assert b.get("d", ("link",))[0] == "link", "link over data"
            b["d"] = b["s"]
        elif st.kind == RENAME:
            b["d"] = b.pop("s")  # KeyError: nothing to rename
        elif st.kind == LINKTO_NEW:
            b["d"] = ("link", "G", src_cached)
        elif st.kind == UNLINK_OLD:
            b.pop("s", None)
        elif st.kind == UNLINK_NEW:
            b.pop("d", None)


@pytest.mark.parametrize("n", [2, 3])
def test_plan_leaves_one_data_file_and_the_right_linkto(n: int) -> None:
    """Rule: for every (src hashed, src cached, dst hashed, dst cached or none) on 2 and 3
    bricks, DHT's steps leave the data (gfid G) under the new name on its own brick only, a
    linkto to it on the new hashed brick iff that is another brick, no old name anywhere and
    no trace of the old destination; exactly one step is critical unless the data is renamed
    in place."""
    for sh, sc, dh in itertools.product(range(n), repeat=3):
        for dc in [None, *range(n)]:
            bricks: list[dict[str, tuple[str, str, int]]] = [{} for _ in range(n)]
            bricks[sc]["s"] = ("data", "G", sc)
            if sh != sc:
                bricks[sh]["s"] = ("link", "G", sc)
            if dc is not None:
                bricks[dc]["d"] = ("data", "D", dc)
                if dh != dc:
                    bricks[dh]["d"] = ("link", "D", dc)
            steps = plan_rename(sh, sc, dh, dc)
            _apply(bricks, steps, sc)
            case = (sh, sc, dh, dc, steps)
            assert bricks[sc].get("d") == ("data", "G", sc), case
            for i, b in enumerate(bricks):
                assert "s" not in b, case
                if i == dh and dh != sc:
                    assert b.get("d") == ("link", "G", sc), case
                elif i != sc:
                    assert "d" not in b, case
            assert any(s.critical for s in steps), case


# --------------------------------------------------------------------------------------------
# a two-brick volume of gfrpc bricks


def _brick(directory: Path) -> BrickServer:
    directory.mkdir(parents=True, exist_ok=True)
    server = BrickServer(
        BrickConfig(
            directory=str(directory), port=0, host="127.0.0.1", volname="rv", poller="single"
        )
    )
    server.start()
    return server


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Volume, list[Path]]]:
    dirs = [tmp_path / "b0", tmp_path / "b1"]
    servers = [_brick(d) for d in dirs]
    try:
        volfile = distribute_volfile("rv", [brick_port(s) for s in servers], dirs)
        with Volume.from_volfile(volfile, volname="rv") as vol:
            yield vol, dirs
    finally:
        for s in servers:
            s.stop()


def check_bricks(
    dirs: list[Path], rel: str, subvolumes: list[str], want: dict[str, tuple[bytes, bytes]]
) -> dict[str, int]:
    """Assert the DHT rules on directory ``rel`` of every brick for the files ``want``
    ({name: (gfid, content)}) and that nothing else is there; returns {name: data brick}."""
    layouts = [dht.parse_layout(os.getxattr(d / rel, dht.LAYOUT_XATTR)) for d in dirs]
    seen: dict[tuple[int, str], tuple[bool, str | None, bytes]] = {}
    for i, d in enumerate(dirs):
        for p in (d / rel).iterdir():
            st = p.lstat()
            if stat.S_ISDIR(st.st_mode):
                continue
            xattrs = {k: os.getxattr(p, k) for k in os.listxattr(p)}
            link = dht.is_linkto(st.st_mode, st.st_size, xattrs)
            seen[(i, p.name)] = (link, dht.linkto_target(xattrs), xattrs["trusted.gfid"])
    where: dict[str, int] = {}
    for name, (gfid, content) in want.items():
        data = [i for i in range(len(dirs)) if (i, name) in seen and not seen[(i, name)][0]]
        assert len(data) == 1, f"{name}: data files on bricks {data}"
        c = where[name] = data[0]
        assert seen[(c, name)][2] == gfid, f"{name}: gfid changed"
        assert (dirs[c] / rel / name).read_bytes() == content
        h = dht.pick_subvolume(layouts, name)
        if h != c:
            assert seen.get((h, name)) == (True, subvolumes[c], gfid), (
                f"{name}: no linkto on hashed brick {h} for data on {c}: {seen.get((h, name))}"
            )
    expected = {(c, n) for n, c in where.items()}
    expected |= {(dht.pick_subvolume(layouts, n), n) for n in want}
    assert set(seen) == expected, f"stale entries: {sorted(set(seen) - expected)}"
    return where


def _gfid(dirs: list[Path], rel: str) -> bytes:
    for d in dirs:
        p = d / rel
        if p.exists() and p.stat().st_size:
            return os.getxattr(p, "trusted.gfid")
    raise AssertionError(f"no data file {rel}")


def _name_on(layouts: list[dht.LayoutRange], brick: int, prefix: str, taken: set[str]) -> str:
    for i in itertools.count():
        name = f"{prefix}{i}"
        if name not in taken and dht.pick_subvolume(layouts, name) == brick:
            taken.add(name)
            return name
    raise AssertionError("unreachable")


def test_chain_of_renames_keeps_one_data_file(two: tuple[Volume, list[Path]]) -> None:
    """Rule: a chain a -> n1 -> n2 -> ... of 30 renames to random names (data reached directly
    and through a linkto, new names hashing to either brick) never fails and after each rename
    the bricks hold one data file with the original gfid, the right linkto and nothing stale;
    listing, stat, read and unlink work through the new name."""
    vol, dirs = two
    vol.mkdir("/d")
    content = os.urandom(3000)
    vol.write_bytes("/d/a", content)
    gfid = _gfid(dirs, "d/a")
    rng = random.Random(7)
    name, kinds = "a", set()
    for _ in range(30):
        new = f"n{rng.getrandbits(40):x}"
        vol.rename(f"/d/{name}", f"/d/{new}")
        before = check_bricks(dirs, "d", vol.subvolumes, {new: (gfid, content)})
        layouts = [dht.parse_layout(os.getxattr(d / "d", dht.LAYOUT_XATTR)) for d in dirs]
        kinds.add(
            (
                dht.pick_subvolume(layouts, name) == before[new],
                dht.pick_subvolume(layouts, new) == before[new],
            )
        )
        assert vol.listdir("/d") == [new]
        assert vol.stat(f"/d/{new}").st_size == len(content)
        assert vol.read_bytes(f"/d/{new}") == content
        assert not vol.exists(f"/d/{name}")
        name = new
    assert kinds == {(a, b) for a in (True, False) for b in (True, False)}, kinds
    vol.unlink(f"/d/{name}")
    assert vol.listdir("/d") == []
    assert not [p for d in dirs for p in (d / "d").iterdir()]


@pytest.mark.parametrize(
    ("src_cached", "src_hashed", "dst_cached", "dst_hashed"),
    list(itertools.product((0, 1), repeat=4)),
)
def test_rename_over_an_existing_file(
    two: tuple[Volume, list[Path]],
    src_cached: int,
    src_hashed: int,
    dst_cached: int,
    dst_hashed: int,
) -> None:
    """Rule: renaming over an existing file, for every placement of the source (data on its
    hashed brick or behind a linkto) and of the destination (the same, on either brick),
    replaces the destination: its data and linkto go, the source's data keeps its gfid and
    brick, the new name gets a linkto iff it hashes elsewhere, the old name disappears."""
    vol, dirs = two
    vol.mkdir("/o")
    layouts = [dht.parse_layout(os.getxattr(d / "o", dht.LAYOUT_XATTR)) for d in dirs]
    taken: set[str] = set()

    def place(cached: int, hashed: int, data: bytes) -> str:
        first = _name_on(layouts, cached, "f", taken)
        vol.write_bytes(f"/o/{first}", data)
        if hashed == cached:
            return first
        final = _name_on(layouts, hashed, "g", taken)
        vol.rename(f"/o/{first}", f"/o/{final}")
        return final

    src = place(src_cached, src_hashed, b"source")
    dst = place(dst_cached, dst_hashed, b"old destination")
    gfid = _gfid(dirs, f"o/{src}")
    check_bricks(
        dirs,
        "o",
        vol.subvolumes,
        {src: (gfid, b"source"), dst: (_gfid(dirs, f"o/{dst}"), b"old destination")},
    )
    vol.rename(f"/o/{src}", f"/o/{dst}")
    where = check_bricks(dirs, "o", vol.subvolumes, {dst: (gfid, b"source")})
    assert where[dst] == src_cached
    assert vol.listdir("/o") == [dst]
    assert vol.read_bytes(f"/o/{dst}") == b"source"
    with pytest.raises(FileNotFoundError):
        vol.stat(f"/o/{src}")
    vol.unlink(f"/o/{dst}")
    assert not [p for d in dirs for p in (d / "o").iterdir()]


def test_stale_linkto_files_are_replaced(two: tuple[Volume, list[Path]]) -> None:
    """Rule (DHT's force-replace): a stale linkto file of another gfid holding the name a
    rename needs (the new name on the data's brick, the old name on the new hashed brick) is
    replaced, not an EEXIST; a data file holding it is EEXIST for a linkto."""
    vol, dirs = two
    vol.mkdir("/s")
    layouts = [dht.parse_layout(os.getxattr(d / "s", dht.LAYOUT_XATTR)) for d in dirs]
    taken: set[str] = set()
    src, dst = _name_on(layouts, 0, "a", taken), _name_on(layouts, 1, "b", taken)
    vol.write_bytes(f"/s/{src}", b"x")
    gfid = _gfid(dirs, f"s/{src}")
    pgfid = os.getxattr(dirs[0] / "s", "trusted.gfid")
    for brick, name in ((0, dst), (1, src)):  # leftovers of an interrupted rename elsewhere
        make_linkto(vol, brick, pgfid, name, uuid.uuid4().bytes, 1 - brick, f"/s/{name}")
    vol.rename(f"/s/{src}", f"/s/{dst}")
    check_bricks(dirs, "s", vol.subvolumes, {dst: (gfid, b"x")})
    with pytest.raises(FileExistsError):  # a data file is never replaced by a linkto
        make_linkto(vol, 0, pgfid, dst, uuid.uuid4().bytes, 1, f"/s/{dst}")


@pytest.mark.parametrize("leftover", ["missing", "stale"])
def test_source_without_its_linkto_is_healed_first(
    two: tuple[Volume, list[Path]], leftover: str
) -> None:
    """Rule: a source whose hashed brick has a stale linkto for it (another gfid, pointing to
    the wrong brick), or none with lookup-optimize off, is found by lookup everywhere, and
    renaming it to a name hashing to that same brick leaves a correct linkto (its gfid, its
    data brick), not the stale one renamed. With lookup-optimize on (GlusterFS's default) a
    file moved off its hashed brick behind DHT's back, with no linkto, is not found, as DHT
    does not find it either: its directory was laid out with the volume's commit hash."""
    vol, dirs = two
    vol.mkdir("/m")
    layouts = [dht.parse_layout(os.getxattr(d / "m", dht.LAYOUT_XATTR)) for d in dirs]
    taken: set[str] = set()
    first, src, dst = (
        _name_on(layouts, 0, "y", taken),
        _name_on(layouts, 1, "x", taken),
        _name_on(layouts, 1, "z", taken),
    )
    vol.write_bytes(f"/m/{first}", b"data")
    gfid = _gfid(dirs, f"m/{first}")
    pgfid = os.getxattr(dirs[0] / "m", "trusted.gfid")
    vol.bricks[0].rename(pgfid, first, pgfid, src)  # behind DHT's back: no linkto made
    if leftover == "stale":
        make_linkto(vol, 1, pgfid, src, uuid.uuid4().bytes, 1, f"/m/{src}")
    vol._forget_all()
    if leftover == "missing":
        assert vol.lookup_optimize
        with pytest.raises(FileNotFoundError):
            vol.read_bytes(f"/m/{src}")
        vol.lookup_optimize = False
    assert vol.read_bytes(f"/m/{src}") == b"data"
    vol.rename(f"/m/{src}", f"/m/{dst}")
    check_bricks(dirs, "m", vol.subvolumes, {dst: (gfid, b"data")})
    assert vol.listdir("/m") == [dst]


def test_rename_to_another_name_of_the_same_file_does_nothing(
    two: tuple[Volume, list[Path]],
) -> None:
    """Rule (rename(2)): renaming a name onto another hard link of the same inode succeeds
    and changes nothing."""
    vol, dirs = two
    vol.mkdir("/h")
    vol.write_bytes("/h/one", b"1")
    vol.link("/h/one", "/h/two")
    vol.rename("/h/one", "/h/two")
    assert sorted(vol.listdir("/h")) == ["one", "two"]
    with pytest.raises(IsADirectoryError):
        vol.rename("/h/one", "/h")
    vol.mkdir("/h/sub")
    with pytest.raises(IsADirectoryError):
        vol.rename("/h/one", "/h/sub")
    assert vol.read_bytes("/h/one") == b"1"


# --------------------------------------------------------------------------------------------
# lookups that meet ENODATA


class _FakeBrick:
    """A brick answering LOOKUP from a table; ``ENODATA`` entries raise it."""

    def __init__(self, entries: dict[str, Any]) -> None:
        self.entries, self.name = entries, "x"

    def lookup(self, pargfid: bytes, name: str, xdata: Any = None, *, path: str = "") -> Any:
        got = self.entries.get(name)
        if got is None or isinstance(got, int):
            raise OSError(got or errno.ENOENT, os.strerror(got or errno.ENOENT), path)
        return got

    def lookup_gfid(self, gfid: bytes, xdata: Any = None, *, path: str = "") -> Any:
        """The root, with no commit hash (a volume never rebalanced)."""
        return _reply(gfid, stat.S_IFDIR | 0o755, 0)


def _reply(gfid: bytes, mode: int, size: int, xdata: dict[str, Any] | None = None) -> Any:
    return SimpleNamespace(
        prestat=SimpleNamespace(ia_gfid=gfid, mode=mode, ia_size=size), xdata=xdata
    )


def test_enodata_from_a_linkto_lookup_never_escapes() -> None:
    """Rule: a LOOKUP answered ENODATA (an entry without a gfid: a linkto being made, or left
    half made) counts as "nothing here": the name is found on the other brick by DHT's lookup
    everywhere, or is ENOENT, never ENODATA."""
    gfid = uuid.uuid4().bytes
    data = _reply(gfid, stat.S_IFREG | 0o644, 5)
    ns = Namespace(
        [
            _FakeBrick({"f": errno.ENODATA, "g": errno.ENODATA}),  # type: ignore[list-item]
            _FakeBrick({"f": data, "h": errno.ENODATA}),
        ],
        ["v-client-0", "v-client-1"],
        "distribute",
    )
    root = Node(
        b"\0" * 15 + b"\1",
        stat.S_IFDIR | 0o755,
        0,
        layout=[dht.LayoutRange(0, 0xFFFFFFFF), dht.LayoutRange(0, 0)],
    )
    ns._cache["/"] = root
    node = ns._resolve("/f")
    assert (node.gfid, node.brick) == (gfid, 1)
    for name in ("g", "h"):
        with pytest.raises(FileNotFoundError):
            ns._resolve(f"/{name}")
