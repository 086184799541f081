"""gfrpc's client: symbolic links (made, read, followed), hard links, chmod, chown, utime and
removexattr, against real gfrpc bricks (one brick, and a two-brick distribute volume)."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from client_support import brick_port, distribute_volfile, start_brick

from gfrpc.client import Volume, dht

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def one(tmp_path: Path) -> Iterator[tuple[Volume, Path]]:
    server = start_brick(tmp_path / "b", "v")
    try:
        with Volume.connect_brick("127.0.0.1", brick_port(server), str(tmp_path / "b"), "v") as vol:
            yield vol, tmp_path / "b"
    finally:
        server.stop()


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Volume, list[Path]]]:
    dirs = [tmp_path / "b0", tmp_path / "b1"]
    servers = [start_brick(d, "dv") for d in dirs]
    try:
        volfile = distribute_volfile("dv", [brick_port(s) for s in servers], dirs)
        with Volume.from_volfile(volfile, volname="dv") as vol:
            yield vol, dirs
    finally:
        for s in servers:
            s.stop()


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    """The same object, unchanged: inode, type and mode, size, links, mtime and ctime."""
    fields = ("st_ino", "st_mode", "st_size", "st_nlink", "st_mtime_ns", "st_ctime_ns")
    return all(getattr(a, f) == getattr(b, f) for f in fields)


def test_symlinks_are_made_read_and_followed(one: tuple[Volume, Path]) -> None:
    """symlink stores the target as given; readlink returns it; stat, open and listdir follow
    links (relative to the link's directory, absolute from the volume root, in the middle of a
    path too), while lstat, readlink and unlink work on the link itself."""
    vol, root = one
    vol.makedirs("/real/sub")
    vol.write_bytes("/real/sub/file", b"payload")
    vol.symlink("sub/file", "/real/rel")
    vol.symlink("/real/sub", "/abs-dir")
    vol.symlink("../real/sub/file", "/real/sub/../up")  # a path with .. in it, made lexically
    assert os.readlink(root / "real" / "rel") == "sub/file"  # an ordinary link on the brick
    assert vol.readlink("/real/rel") == "sub/file"
    assert vol.read_bytes("/real/rel") == b"payload"
    assert vol.read_bytes("/abs-dir/file") == b"payload"  # a link in the middle of a path
    assert vol.listdir("/abs-dir") == ["file"]
    assert vol.read_bytes("/real/up") == b"payload"
    assert stat.S_ISLNK(vol.lstat("/real/rel").st_mode)
    assert stat.S_ISREG(vol.stat("/real/rel").st_mode)
    assert vol.stat("/real/rel").st_ino == vol.stat("/real/sub/file").st_ino
    with pytest.raises(OSError) as notlink:
        vol.readlink("/real/sub/file")
    assert notlink.value.errno == errno.EINVAL
    fresh = Volume.connect_brick("127.0.0.1", vol.bricks[0].port, str(root), "v")
    with fresh:  # names it has not resolved: answered from their LOOKUPs
        assert stat.S_ISLNK(fresh.lstat("/real/rel").st_mode)
        assert _same(fresh.stat("/real/rel"), vol.stat("/real/sub/file"))
        assert fresh.stat("/abs-dir").st_ino == vol.stat("/real/sub").st_ino
    vol.unlink("/real/rel")
    assert not vol.exists("/real/rel")
    assert vol.read_bytes("/real/sub/file") == b"payload"


def test_dangling_and_looping_links(one: tuple[Volume, Path]) -> None:
    """A link to nothing does not exist for stat (ENOENT) but lstat sees it; a cycle of links
    fails with ELOOP; a file written through a link lands in the target."""
    vol, root = one
    vol.symlink("nowhere", "/dangling")
    assert not vol.exists("/dangling")
    assert stat.S_ISLNK(vol.lstat("/dangling").st_mode)
    vol.symlink("loop-b", "/loop-a")
    vol.symlink("loop-a", "/loop-b")
    with pytest.raises(OSError) as loop:
        vol.stat("/loop-a")
    assert loop.value.errno == errno.ELOOP
    vol.write_bytes("/target", b"old")
    vol.symlink("target", "/alias")
    with vol.open("/alias", "wb") as f:
        f.write(b"new")
    assert (root / "target").read_bytes() == b"new"
    assert os.path.islink(root / "alias")


def test_hard_links_share_the_inode(one: tuple[Volume, Path]) -> None:
    """link makes a second name for the same inode (same gfid, nlink 2); a directory cannot
    be hard-linked (EPERM); removing one name leaves the other."""
    vol, root = one
    vol.write_bytes("/a", b"shared")
    vol.link("/a", "/b")
    assert vol.stat("/a").gfid == vol.stat("/b").gfid
    assert vol.stat("/b").st_nlink == 2
    assert os.stat(root / "a").st_ino == os.stat(root / "b").st_ino
    vol.mkdir("/dir")
    with pytest.raises(OSError) as isdir:
        vol.link("/dir", "/dir2")
    assert isdir.value.errno == errno.EPERM
    vol.unlink("/a")
    assert vol.read_bytes("/b") == b"shared"


def test_chmod_chown_utime_and_removexattr(one: tuple[Volume, Path]) -> None:
    """chmod sets the permission bits, chown the owner (-1 keeps a field), utime the times
    (given in seconds or ns, or the brick's now), removexattr drops one attribute."""
    vol, root = one
    vol.write_bytes("/f", b"x")
    vol.chmod("/f", 0o640)
    assert stat.S_IMODE(os.stat(root / "f").st_mode) == 0o640
    assert stat.S_IMODE(vol.stat("/f").st_mode) == 0o640
    vol.chown("/f", 1234, -1)
    assert (os.stat(root / "f").st_uid, os.stat(root / "f").st_gid) == (1234, 0)
    vol.chown("/f", -1, 99)
    assert (vol.stat("/f").st_uid, vol.stat("/f").st_gid) == (1234, 99)
    vol.utime("/f", ns=(1_600_000_000_123_456_789, 1_500_000_000_987_654_321))
    st = os.stat(root / "f")
    assert (st.st_atime_ns, st.st_mtime_ns) == (
        1_600_000_000_123_456_789,
        1_500_000_000_987_654_321,
    )
    assert vol.stat("/f").st_mtime_ns == 1_500_000_000_987_654_321
    vol.utime("/f", (1_400_000_000.5, 1_400_000_001.25))
    assert os.stat(root / "f").st_mtime_ns == 1_400_000_001_250_000_000
    vol.utime("/f")
    assert os.stat(root / "f").st_mtime > 1_700_000_000
    vol.setxattr("/f", "user.colour", b"blue")
    vol.removexattr("/f", "user.colour")
    with pytest.raises(OSError) as gone:
        vol.getxattr("/f", "user.colour")
    assert gone.value.errno == errno.ENODATA
    with pytest.raises(OSError) as again:
        vol.removexattr("/f", "user.colour")
    assert again.value.errno == errno.ENODATA


def test_links_and_modes_on_a_distribute_volume(two: tuple[Volume, list[Path]]) -> None:
    """On two bricks a symlink lives on the brick its name hashes to, a hard link whose name
    hashes elsewhere gets a DHT linkto file there, and chmod of a directory reaches both
    bricks."""
    vol, dirs = two
    vol.mkdir("/d")
    layouts = [dht.parse_layout(os.getxattr(d / "d", dht.LAYOUT_XATTR)) for d in dirs]
    vol.write_bytes("/d/data", b"abc")
    home = dht.pick_subvolume(layouts, "data")
    for i in range(50):
        vol.symlink("data", f"/d/s{i}")
        hashed = dht.pick_subvolume(layouts, f"s{i}")
        assert os.path.islink(dirs[hashed] / "d" / f"s{i}")
        assert not os.path.lexists(dirs[1 - hashed] / "d" / f"s{i}")
    assert vol.read_bytes("/d/s7") == b"abc"
    other = next(f"h{i}" for i in range(1000) if dht.pick_subvolume(layouts, f"h{i}") != home)
    vol.link("/d/data", f"/d/{other}")
    assert (dirs[home] / "d" / other).read_bytes() == b"abc"
    linkto = dirs[1 - home] / "d" / other
    assert (
        dht.linkto_target({dht.LINKTO_XATTR: os.getxattr(linkto, dht.LINKTO_XATTR)})
        == vol.subvolumes[home]
    )
    assert vol.read_bytes(f"/d/{other}") == b"abc"
    again = Volume.from_volfile(
        distribute_volfile("dv", [c.port for c in vol.bricks], dirs), volname="dv"
    )
    with again:  # it knows no name: the LOOKUP through the linkto, from the data's brick
        assert _same(again.stat(f"/d/{other}"), vol.stat("/d/data"))
        assert stat.S_ISLNK(again.lstat("/d/s7").st_mode) and again.stat("/d/s7").st_size == 3
    assert sorted(vol.listdir("/d")) == sorted(["data", other, *(f"s{i}" for i in range(50))])
    vol.chmod("/d", 0o700)
    assert all(stat.S_IMODE(os.stat(d / "d").st_mode) == 0o700 for d in dirs)


def test_the_kernel_clients_answers_where_the_brick_would_say_otherwise(
    one: tuple[Volume, Path],
) -> None:
    """As the kernel's client answers (found by tests/interop/test_client_differential_
    interop.py): an exclusive create of a name that is a symlink is EEXIST (the link is not
    followed); a RENAME into or out of a "directory" that is a file is ENOTDIR; a hard link of
    a directory onto an existing name is EEXIST; a RENAME between two names of one file does
    nothing and leaves both."""
    v, brick = one
    v.mkdir("/d")
    v.write_bytes("/f", b"f")
    v.symlink("f", "/ln")
    v.symlink("nowhere", "/dangling")
    for name in ("/ln", "/dangling"):
        with pytest.raises(FileExistsError):
            v.open(name, "xb")
    assert not (brick / "nowhere").exists()
    with pytest.raises(NotADirectoryError):
        v.rename("/f/x", "/d/x")
    with pytest.raises(NotADirectoryError):
        v.rename("/d", "/f/d")
    with pytest.raises(FileExistsError):
        v.link("/d", "/f")
    with pytest.raises(PermissionError):
        v.link("/d", "/d2")
    v.link("/f", "/g")
    v.rename("/f", "/g")
    v.rename("/g", "/g")
    assert v.read_bytes("/f") == b"f" == v.read_bytes("/g")
    assert v.stat("/f").st_nlink == 2 and (brick / "f").exists() and (brick / "g").exists()


def test_a_hard_link_looks_up_its_source_first(one: tuple[Volume, Path]) -> None:
    """As link(2) does: the old name is looked up before the new name's parent, so a missing
    source is ENOENT even where the new parent is a file (ENOTDIR) or a looping symlink
    (ELOOP); with the source there, those errors come back."""
    v, _ = one
    v.write_bytes("/f", b"f")
    v.symlink("loop/x", "/loop")
    for parent in ("/f", "/loop"):
        with pytest.raises(FileNotFoundError):
            v.link("/missing", f"{parent}/new")
    with pytest.raises(NotADirectoryError):
        v.link("/f", "/f/new")
    with pytest.raises(OSError) as looped:
        v.link("/f", "/loop/new")
    assert looped.value.errno == errno.ELOOP
