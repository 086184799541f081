"""gfrpc's client (Volume, File, the put/get/ls/stat/rm/mkdir CLI) against a real GlusterFS 10.3.

Volumes are found the gfapi way: GETSPEC at the harness's glusterd (127.0.0.1:24007), the
portmapper for each brick's port, then DUMP + SETVOLUME at the real glusterfsd. Data written by
gfrpc is read back through a real FUSE mount of the same brick, and the other way round.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gfrpc.cli import main as cli_main
from gfrpc.client import dht
from gfrpc.client.mgmt import fetch_volfile
from gfrpc.client.quickread import ACL_KEY, CONTENT_KEY, content_request
from gfrpc.client.volume import Volume
from gfrpc.errors import ConfigError, TransportError
from gfrpc.services.brick import posix_acl as pa
from gfrpc.testing import need
from gfrpc.testing.realgluster import GlusterD, GlusterVolume
from gfrpc.transport import make_poller

pytestmark = pytest.mark.timeout(300)

BIG = 64 << 20
MiB = 1 << 20


def _url(vol: GlusterVolume, path: str = "") -> str:
    return f"gluster://127.0.0.1/{vol.name}{path}"


def _volume(request: pytest.FixtureRequest, kind: str) -> GlusterVolume:
    vol: GlusterVolume = request.getfixturevalue(
        "gluster_volume_tls" if kind == "tls" else "gluster_volume"
    )
    return vol


def _connect(vol: GlusterVolume, **kwargs: Any) -> Volume:
    return Volume.connect(_url(vol), tls=vol.tls_dir if vol.tls else None, **kwargs)


def _record_calls(vol: Volume, *methods: str) -> list[tuple[str, str | None]]:
    """Wrap ``methods`` of the volume's first brick connection so that each call appends
    (method, the name it was given: its second positional argument, if a str)."""
    sent: list[tuple[str, str | None]] = []
    conn = vol.bricks[0]
    for method in methods:
        real = getattr(conn, method)

        def recorded(*args: Any, _real: Any = real, _method: str = method, **kw: Any) -> Any:
            name = args[1] if len(args) > 1 and isinstance(args[1], str) else None
            sent.append((_method, name))
            return _real(*args, **kw)

        setattr(conn, method, recorded)
    return sent


def _report(what: str, nbytes: int, seconds: float) -> None:
    print(f"{what}: {nbytes / MiB:.0f} MiB in {seconds:.2f} s = {nbytes / MiB / seconds:.1f} MiB/s")


@pytest.mark.parametrize("poller", ["pool", "own-thread"])
@pytest.mark.parametrize("kind", ["plain", "tls"])
def test_volume_round_trip(request: pytest.FixtureRequest, kind: str, poller: str) -> None:
    """Through GETSPEC + portmapper (TLS on the I/O path for the TLS volume), with the pool and
    own-thread pollers: mkdir, a 64 MiB write read back with an equal sha256, stat size,
    listdir, rename and unlink all agree with what the real brick stores."""
    vol = _volume(request, kind)
    data = os.urandom(BIG)
    top = f"/rt-{poller}"
    with _connect(vol, poller=poller) as v:
        assert v.kind == "distribute" and len(v.bricks) == 1
        assert v.bricks[0].port == vol.port  # the portmapper's answer
        v.mkdir(top)
        t0 = time.perf_counter()
        with v.open(f"{top}/big", "wb") as f:
            assert f.write(data) == BIG
        t1 = time.perf_counter()
        with v.open(f"{top}/big", "rb") as f:
            back = f.read()
        t2 = time.perf_counter()
        _report(f"{kind}/{poller} write", BIG, t1 - t0)
        _report(f"{kind}/{poller} read", BIG, t2 - t1)
        assert hashlib.sha256(back).digest() == hashlib.sha256(data).digest()
        assert v.stat(f"{top}/big").st_size == BIG
        assert (vol.brick_path / top[1:] / "big").stat().st_size == BIG
        assert v.listdir(top) == ["big"]
        v.rename(f"{top}/big", f"{top}/moved")
        assert v.listdir(top) == ["moved"]
        assert not v.exists(f"{top}/big")
        v.unlink(f"{top}/moved")
        assert v.listdir(top) == []
        v.rmdir(top)
        assert not (vol.brick_path / top[1:]).exists()


def test_names_a_volume_does_not_know_are_opened_as_posix_says(
    gluster_volume: GlusterVolume,
) -> None:
    """Against the real glusterfsd, a Volume that has not resolved a name makes a new file with
    one exclusive CREATE, and a taken name is handled as before: 'wb' truncates the file another
    Volume wrote, 'ab' appends to it, 'xb' is FileExistsError, a directory is
    IsADirectoryError; what the brick stores agrees."""
    top = "/names"
    with _connect(gluster_volume) as a:
        a.mkdir(top)
        a.write_bytes(f"{top}/f", b"12345")
        a.mkdir(f"{top}/d")
    on_brick = gluster_volume.brick_path / top[1:] / "f"
    with _connect(gluster_volume) as b:
        with b.open(f"{top}/f", "ab") as f:
            f.write(b"6")
        assert on_brick.read_bytes() == b"123456"
    with _connect(gluster_volume) as c:
        with c.open(f"{top}/f", "wb") as f:
            f.write(b"z")
        assert on_brick.read_bytes() == b"z"
    with _connect(gluster_volume) as d:
        with pytest.raises(FileExistsError):
            d.open(f"{top}/f", "xb")
        with pytest.raises(IsADirectoryError):
            d.open(f"{top}/d", "wb")
        looked = _record_calls(d, "lookup")
        with d.open(f"{top}/new", "xb") as f:
            f.write(b"new")
        assert looked == []  # one CREATE made it: nothing was looked up
        assert (gluster_volume.brick_path / top[1:] / "new").read_bytes() == b"new"
        for name in ("f", "new"):
            d.unlink(f"{top}/{name}")
        d.rmdir(f"{top}/d")
        d.rmdir(top)


def test_names_a_volume_does_not_know_are_removed_in_one_call(
    gluster_volume: GlusterVolume,
) -> None:
    """Against the real glusterfsd, a Volume that has not resolved a name removes it with one
    UNLINK or RMDIR (no LOOKUP of the name), and glusterfsd's refusals are what unlink(2) and
    rmdir(2) give: a directory is IsADirectoryError, a file given to rmdir NotADirectoryError,
    a missing name FileNotFoundError, a full directory ENOTEMPTY; what the brick stores agrees."""
    top = "/removed"
    on_brick = gluster_volume.brick_path / top[1:]
    with _connect(gluster_volume) as a:
        a.mkdir(top)
        for name in ("f", "g"):
            a.write_bytes(f"{top}/{name}", b"x")
        a.mkdir(f"{top}/d")
        a.mkdir(f"{top}/full")
        a.write_bytes(f"{top}/full/h", b"y")
    with _connect(gluster_volume) as b:
        looked = _record_calls(b, "lookup")
        b.unlink(f"{top}/f")
        b.rmdir(f"{top}/d")
        assert looked == [("lookup", top[1:])]  # the parent, once; not the names removed
        assert sorted(p.name for p in on_brick.iterdir()) == ["full", "g"]
    with _connect(gluster_volume) as c:
        with pytest.raises(IsADirectoryError):
            c.unlink(f"{top}/full")
        with pytest.raises(NotADirectoryError):
            c.rmdir(f"{top}/g")
        with pytest.raises(FileNotFoundError):
            c.unlink(f"{top}/none")
        with pytest.raises(OSError) as full:
            c.rmdir(f"{top}/full")
        assert full.value.errno == errno.ENOTEMPTY
        assert (on_brick / "full" / "h").read_bytes() == b"y" and (on_brick / "g").is_file()
        c.unlink(f"{top}/full/h")
        c.rmdir(f"{top}/full")
        c.unlink(f"{top}/g")
        c.rmdir(top)
    assert not on_brick.exists()


def test_a_stat_of_a_name_not_known_is_answered_by_its_lookup(
    gluster_volume: GlusterVolume,
) -> None:
    """Against the real glusterfsd, stat and lstat of a name the Volume has not resolved send
    the LOOKUP only, and what they give is what glusterfsd's STAT gives and what the brick's
    file system says (inode, type and mode, size, links, times)."""
    top = "/statted"
    with _connect(gluster_volume) as a:
        a.mkdir(top)
        a.write_bytes(f"{top}/f", b"12345")
        a.symlink("f", f"{top}/l")
    with _connect(gluster_volume) as b:
        b.stat(top)
        sent = _record_calls(b, "lookup", "stat")
        got, link = b.stat(f"{top}/f"), b.lstat(f"{top}/l")
        assert sent == [("lookup", "f"), ("lookup", "l")]
        again = b.stat(f"{top}/f")  # known now: a STAT
        assert [m for m, _ in sent] == ["lookup", "lookup", "stat"]
    on_brick = os.stat(gluster_volume.brick_path / top[1:] / "f")
    fields = ("st_mode", "st_size", "st_mtime_ns", "st_ctime_ns", "st_uid", "st_gid")
    for f in fields:
        assert getattr(got, f) == getattr(again, f) == getattr(on_brick, f), f
    assert got.st_ino == again.st_ino and got.st_nlink == again.st_nlink == 1
    assert stat.S_ISLNK(link.st_mode) and link.st_size == 1
    with _connect(gluster_volume) as c:
        for name in ("l", "f"):
            c.unlink(f"{top}/{name}")
        c.rmdir(top)


def test_small_files_come_in_one_lookup_and_only_to_callers_posix_lets_read(
    gluster_volume: GlusterVolume,
) -> None:
    """Against the real glusterfsd: ``read_bytes`` of a small file every class may read is one
    LOOKUP (posix brings the bytes). posix brings the bytes of a file only its owner may read
    too, and the ACL of a file that has one (an entry refusing uid 1000, mode still 0644);
    yet uid 1000's ``read_bytes`` of either is PermissionError (the client opens them and the
    brick refuses), never the bytes."""
    top = "/qread"
    with _connect(gluster_volume) as a:
        a.mkdir(top)
        for name in ("pub", "own", "acl"):
            a.write_bytes(f"{top}/{name}", f"secret-{name}".encode())
        a.chmod(f"{top}/own", 0o600)
    backend = gluster_volume.brick_path / top[1:] / "acl"
    refuse_1000 = (
        pa.Ace(pa.USER_OBJ, 6),
        pa.Ace(pa.USER, 0, 1000),
        pa.Ace(pa.GROUP_OBJ, 4),
        pa.Ace(pa.MASK, 4),
        pa.Ace(pa.OTHER, 4),
    )
    try:
        os.setxattr(backend, pa.ACCESS_KEY, pa.encode_acl(refuse_1000))
    except OSError as exc:
        need(False, f"{backend.parent}: no POSIX ACLs ({exc.strerror})")
    assert stat.S_IMODE(backend.stat().st_mode) == 0o644
    with _connect(gluster_volume, uid=1000, gid=1000) as u:
        parent = u._resolve(top).gfid
        sent: list[str] = []
        fop = u.bricks[0].fop

        def counted(proc: Any, *args: Any, **kwargs: Any) -> Any:
            sent.append(proc.name)
            return fop(proc, *args, **kwargs)

        u.bricks[0].fop = counted  # type: ignore[method-assign]
        assert u.read_bytes(f"{top}/pub") == b"secret-pub"
        assert sent == ["LOOKUP"]
        for name in ("own", "acl"):
            rsp = u.bricks[0].lookup(parent, name, content_request())
            assert bytes(rsp.xdata[CONTENT_KEY]) == f"secret-{name}".encode()  # posix sent them
            assert (ACL_KEY in rsp.xdata) == (name == "acl")
            with pytest.raises(PermissionError):
                u.read_bytes(f"{top}/{name}")
    with _connect(gluster_volume) as a:
        for name in ("pub", "own", "acl"):
            a.unlink(f"{top}/{name}")
        a.rmdir(top)


@pytest.mark.parametrize("kind", ["plain", "tls"])
def test_fuse_and_gfrpc_read_each_others_files(
    request: pytest.FixtureRequest, kind: str, fuse_mount: Any
) -> None:
    """A 64 MiB file written by gfrpc reads back identically through a real FUSE mount of the
    same brick (TLS for the TLS volume), and a file written through FUSE reads back
    identically through gfrpc; directories made by either side are seen by the other."""
    vol = _volume(request, kind)
    data, fuse_data = os.urandom(BIG), os.urandom(3 * MiB + 17)
    with _connect(vol) as v, fuse_mount(vol.client_volfile()) as mnt:
        v.makedirs("/fx/sub", exist_ok=True)
        with v.open("/fx/sub/from-gfrpc", "wb") as f:
            f.write(data)
        got = (mnt / "fx" / "sub" / "from-gfrpc").read_bytes()
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
        (mnt / "fx" / "fuse-dir").mkdir()
        (mnt / "fx" / "fuse-dir" / "from-fuse").write_bytes(fuse_data)
        assert sorted(v.listdir("/fx")) == ["fuse-dir", "sub"]
        assert v.read_bytes("/fx/fuse-dir/from-fuse") == fuse_data
        st = v.stat("/fx/fuse-dir/from-fuse")
        assert st.st_size == len(fuse_data)
        assert st.st_ino == os.stat(mnt / "fx" / "fuse-dir" / "from-fuse").st_ino
        v.unlink("/fx/sub/from-gfrpc")
        assert not (mnt / "fx" / "sub" / "from-gfrpc").exists()


def test_links_and_attributes_on_a_real_brick(
    gluster_volume: GlusterVolume, fuse_mount: Any
) -> None:
    """Against real glusterfsd: a symlink made by gfrpc is an ordinary link on the brick and
    readable through FUSE, and gfrpc follows one made through FUSE; a hard link shares the
    inode; chmod, chown, utime and removexattr reach the brick's files."""
    vol = gluster_volume
    brick = vol.brick_path
    with _connect(vol) as v, fuse_mount(vol.client_volfile()) as mnt:
        v.makedirs("/ln/real", exist_ok=True)
        v.write_bytes("/ln/real/data", b"linked")
        v.symlink("real/data", "/ln/rel")
        assert os.readlink(brick / "ln" / "rel") == "real/data"
        assert os.readlink(mnt / "ln" / "rel") == "real/data"
        assert (mnt / "ln" / "rel").read_bytes() == b"linked"
        os.symlink("real", mnt / "ln" / "fuse-dir-link")
        assert v.readlink("/ln/fuse-dir-link") == "real"
        assert v.read_bytes("/ln/fuse-dir-link/data") == b"linked"
        assert v.listdir("/ln/fuse-dir-link") == ["data"]
        v.link("/ln/real/data", "/ln/hard")
        assert (
            os.stat(brick / "ln" / "hard").st_ino == os.stat(brick / "ln" / "real" / "data").st_ino
        )
        assert v.stat("/ln/hard").st_nlink == 2
        v.chmod("/ln/hard", 0o604)
        v.chown("/ln/hard", 4321, 765)
        v.utime("/ln/hard", ns=(1_600_000_000_000_000_001, 1_500_000_000_000_000_002))
        st = os.stat(brick / "ln" / "real" / "data")
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o604, 4321, 765)
        assert (st.st_atime_ns, st.st_mtime_ns) == (
            1_600_000_000_000_000_001,
            1_500_000_000_000_000_002,
        )
        v.setxattr("/ln/hard", "user.tag", b"t")
        v.removexattr("/ln/hard", "user.tag")
        with pytest.raises(OSError) as gone:
            v.getxattr("/ln/hard", "user.tag")
        assert gone.value.errno == errno.ENODATA
        for name in ("rel", "fuse-dir-link", "hard"):
            v.unlink(f"/ln/{name}")
        assert v.read_bytes("/ln/real/data") == b"linked"


def test_many_threads_share_one_volume(gluster_volume: GlusterVolume) -> None:
    """One Volume used from 8 threads at once (each writing and reading its own 4 MiB file
    with a 256 KiB record size, so many WRITE/READ calls are in flight together)."""
    from concurrent.futures import ThreadPoolExecutor

    with _connect(gluster_volume, max_write=256 << 10, max_read=256 << 10) as v:
        v.makedirs("/threads", exist_ok=True)

        def one(i: int) -> bool:
            blob = os.urandom(4 * MiB)
            v.write_bytes(f"/threads/t{i}", blob)
            return v.read_bytes(f"/threads/t{i}") == blob

        with ThreadPoolExecutor(8) as pool:
            assert all(pool.map(one, range(8)))
        assert sorted(v.listdir("/threads")) == [f"t{i}" for i in range(8)]


def test_file_object_semantics(gluster_volume: GlusterVolume) -> None:
    """Seek/tell/readinto/append/r+b/truncate/xattrs/statvfs behave like local files."""
    with _connect(gluster_volume) as v:
        v.write_bytes("/sem", b"0123456789")
        with v.open("/sem", "r+b") as f:
            f.seek(4)
            f.write(b"xy")
            f.seek(-2, os.SEEK_END)
            assert f.read() == b"89"
            f.seek(0)
            buf = bytearray(6)
            assert f.readinto(buf) == 6 and bytes(buf) == b"0123xy"
        with v.open("/sem", "ab") as f:
            f.write(b"!")
        assert v.read_bytes("/sem") == b"0123xy6789!"
        v.truncate("/sem", 3)
        assert v.read_bytes("/sem") == b"012"
        v.setxattr("/sem", "user.gfrpc", b"value")
        assert v.getxattr("/sem", "user.gfrpc") == b"value"
        with pytest.raises(OSError) as info:
            v.getxattr("/sem", "user.missing")
        assert info.value.errno == errno.ENODATA
        sv = v.statvfs("/")
        assert sv.f_blocks > 0 and sv.f_bsize > 0
        with pytest.raises(FileExistsError):
            v.open("/sem", "xb")
        with pytest.raises(FileNotFoundError):
            v.open("/nope/x", "rb")
        with pytest.raises(IsADirectoryError):
            v.open("/", "rb")
        v.unlink("/sem")


def test_connect_brick_directly_and_through_portmapper(gluster_volume: GlusterVolume) -> None:
    """connect_brick reaches the glusterfsd on its own port, and through port 24007 (DUMP
    lists the portmapper, so the client asks PORTBYBRICK and hops, as protocol/client does)."""
    vol = gluster_volume
    for port in (vol.port, 24007):
        with Volume.connect_brick("127.0.0.1", port, str(vol.brick_path), vol.name) as v:
            assert v.bricks[0].port == vol.port
            assert v.stat("/").st_ino == 1


def test_connect_errors_are_clear(
    glusterd: GlusterD, gluster_volume: GlusterVolume, gluster_volume_tls: GlusterVolume
) -> None:
    """Unknown volume: ENOENT from GETSPEC; unknown brick path: ENOENT naming it; plain TCP to
    a TLS brick: a transport error, not a hang."""
    with pytest.raises(OSError) as info:
        Volume.connect("gluster://127.0.0.1/no-such-volume", timeout=5)
    assert info.value.errno == errno.ENOENT and "no-such-volume" in str(info.value)
    with pytest.raises(OSError) as info:
        Volume.connect_brick("127.0.0.1", gluster_volume.port, "/not/a/brick", timeout=5)
    assert "/not/a/brick" in str(info.value)
    with pytest.raises((TransportError, OSError)):
        Volume.connect_brick(
            "127.0.0.1", gluster_volume_tls.port, str(gluster_volume_tls.brick_path), timeout=5
        )


def test_tls_from_the_volfile(gluster_volume_tls: GlusterVolume) -> None:
    """Without tls=, the ssl-enabled/ssl-own-cert options glusterd wrote into the client
    volfile are used for the brick connection."""
    with Volume.connect(_url(gluster_volume_tls)) as v:
        v.write_bytes("/from-volfile-tls", b"x" * 1000)
        assert v.stat("/from-volfile-tls").st_size == 1000
        v.unlink("/from-volfile-tls")


def test_cli_round_trip(
    gluster_volume: GlusterVolume, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """gfrpc mkdir/put/ls/stat/get/rm through gluster:// URLs, and the --brick form."""
    vol = gluster_volume
    src, out = tmp_path / "src.bin", tmp_path / "out.bin"
    src.write_bytes(os.urandom(5 * MiB + 3))
    assert cli_main(["mkdir", "-p", _url(vol, "/cli/a")]) == 0
    assert cli_main(["put", str(src), _url(vol, "/cli/a/file.bin")]) == 0
    assert cli_main(["put", str(src), _url(vol, "/cli/")]) == 0  # into a directory
    capsys.readouterr()
    assert cli_main(["ls", _url(vol, "/cli")]) == 0
    assert capsys.readouterr().out.split() == ["a", "src.bin"]
    assert cli_main(["ls", "-l", _url(vol, "/cli/a")]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]  # after ls -l's "total" line
    assert line.startswith("-rw") and line.endswith(" file.bin") and str(5 * MiB + 3) in line
    assert cli_main(["stat", _url(vol, "/cli/a/file.bin")]) == 0
    text = capsys.readouterr().out
    assert f"Size: {5 * MiB + 3}" in text and "GFID: " in text and "regular file" in text
    assert cli_main(["get", _url(vol, "/cli/a/file.bin"), str(out)]) == 0
    assert out.read_bytes() == src.read_bytes()
    brick = f"127.0.0.1:{vol.port}:{vol.brick_path}"
    assert cli_main(["put", str(src), "--brick", brick, "/cli/a/via-brick"]) == 0
    assert cli_main(["ls", "--brick", brick, "/cli/a"]) == 0
    assert capsys.readouterr().out.split() == ["file.bin", "via-brick"]
    assert cli_main(["rm", "--brick", brick, "/cli/a/via-brick"]) == 0
    assert cli_main(["rm", _url(vol, "/cli/a/file.bin")]) == 0
    assert cli_main(["rm", _url(vol, "/cli/src.bin")]) == 0
    assert cli_main(["rm", "-d", _url(vol, "/cli/a")]) == 0
    assert cli_main(["rm", "-d", "--brick", brick, "/cli"]) == 0
    assert cli_main(["stat", _url(vol, "/cli")]) == 1
    assert "No such file or directory" in capsys.readouterr().err


def test_cli_tls_round_trip(gluster_volume_tls: GlusterVolume, tmp_path: Path) -> None:
    """put/get with --tls --tls-dir through a gluster:// URL of the TLS volume."""
    vol = gluster_volume_tls
    src, out = tmp_path / "s", tmp_path / "o"
    src.write_bytes(os.urandom(2 * MiB))
    tls = ["--tls", "--tls-dir", str(vol.tls_dir)]
    assert cli_main(["put", str(src), _url(vol, "/cli-tls"), *tls]) == 0
    assert cli_main(["get", _url(vol, "/cli-tls"), str(out), *tls]) == 0
    assert out.read_bytes() == src.read_bytes()
    assert cli_main(["rm", _url(vol, "/cli-tls"), *tls]) == 0


# --------------------------------------------------------------------------------------------
# a plain distribute volume of 3 bricks


def test_distribute_volume_with_real_dht_client(glusterd: GlusterD, fuse_mount: Any) -> None:
    """On a 3-brick distribute volume, files gfrpc creates land on the brick DHT's hash and
    the directory layout choose, directories exist on every brick with a layout xattr, and a
    real FUSE client running glusterd's own DHT graph reads gfrpc's files and vice versa;
    a rename to a name hashing elsewhere leaves a linkto file that both clients follow."""
    name = f"gfrpc-cdht-{glusterd.root.name[-6:]}"
    top = glusterd.bricks_dir / name
    try:
        dist = glusterd.create_volume(name, bricks=3)
        bricks = [b.path for b in dist.bricks]
        with Volume.connect(f"gluster://127.0.0.1/{name}") as v:
            assert v.kind == "distribute" and len(v.bricks) == 3
            by_sub = {c.name: Path(c.brick_path) for c in v.bricks}
            v.mkdir("/d")
            for b in bricks:
                raw = os.getxattr(b / "d", dht.LAYOUT_XATTR)
                assert len(raw) == 16
            layouts = [
                dht.parse_layout(os.getxattr(by_sub[s] / "d", dht.LAYOUT_XATTR))
                for s in v.subvolumes
            ]
            blobs = {f"f{i}": os.urandom(1000 + i) for i in range(20)}
            for fname, blob in blobs.items():
                v.write_bytes(f"/d/{fname}", blob)
                home = by_sub[v.subvolumes[dht.pick_subvolume(layouts, fname)]]
                assert (home / "d" / fname).read_bytes() == blob
            assert sorted(v.listdir("/d")) == sorted(blobs)
            f0_home = dht.pick_subvolume(layouts, "f0")
            moved = next(
                f"renamed-{i}"
                for i in range(1000)
                if dht.pick_subvolume(layouts, f"renamed-{i}") != f0_home
            )
            v.rename("/d/f0", f"/d/{moved}")
            link = by_sub[v.subvolumes[dht.pick_subvolume(layouts, moved)]] / "d" / moved
            assert dht.is_linkto(
                link.stat().st_mode,
                link.stat().st_size,
                {dht.LINKTO_XATTR: os.getxattr(link, dht.LINKTO_XATTR)},
            )
            assert (
                dht.linkto_target({dht.LINKTO_XATTR: os.getxattr(link, dht.LINKTO_XATTR)})
                == v.subvolumes[f0_home]
            )
            poller = make_poller("single")
            poller.start()
            try:
                volfile = fetch_volfile("127.0.0.1", name, poller=poller)
            finally:
                poller.stop()
            with fuse_mount(volfile) as mnt:
                names = sorted(os.listdir(mnt / "d"))
                assert names == sorted([n for n in blobs if n != "f0"] + [moved])
                for fname, blob in blobs.items():
                    target = moved if fname == "f0" else fname
                    assert (mnt / "d" / target).read_bytes() == blob
                (mnt / "d" / "fuse-made").write_bytes(b"hello dht")
                (mnt / "fuse-dir").mkdir()
            assert v.read_bytes("/d/fuse-made") == b"hello dht"
            fuse_home = by_sub[v.subvolumes[dht.pick_subvolume(layouts, "fuse-made")]]
            assert (fuse_home / "d" / "fuse-made").read_bytes() == b"hello dht"
            assert v.read_bytes(f"/d/{moved}") == blobs["f0"]
            assert "fuse-dir" in v.listdir("/")
            assert sorted(v.listdir("/d")) == sorted(names + ["fuse-made"])
            for fname in v.listdir("/d"):
                v.unlink(f"/d/{fname}")
            v.rmdir("/d")
            assert all(not (b / "d").exists() for b in bricks)
    finally:
        if name in glusterd.volumes:
            glusterd.delete_volume(name)
        shutil.rmtree(top, ignore_errors=True)


def test_replicated_volume_is_refused_by_type(glusterd: GlusterD) -> None:
    """A volume type gfrpc does not implement is refused at connect, naming the type."""
    name = f"gfrpc-crep-{glusterd.root.name[-6:]}"
    top = glusterd.bricks_dir / name
    bricks = [top / f"r{i}" for i in range(2)]
    for b in bricks:
        b.mkdir(parents=True)
    try:
        glusterd.cli(
            "volume",
            "create",
            name,
            "replica",
            "2",
            *(f"{glusterd.host}:{b}" for b in bricks),
            "force",
        )
        with pytest.raises(ConfigError, match="replicate"):
            Volume.connect(f"gluster://127.0.0.1/{name}")
    finally:
        glusterd.cli("volume", "delete", name, check=False)
        shutil.rmtree(top, ignore_errors=True)


def test_client_reconnects_after_the_real_brick_restarts(glusterd: GlusterD) -> None:
    """When a real glusterfsd is stopped and started again (``volume start force``), gfrpc's
    client asks glusterd's portmapper again, runs a fresh SETVOLUME, reopens its open file by
    gfid, and the bytes written before and after the restart are all on the brick."""
    name = f"gfrpc-crec-{glusterd.root.name[-6:]}"
    top = glusterd.bricks_dir / name
    first, second = os.urandom(3 * MiB), os.urandom(3 * MiB)
    try:
        vol = glusterd.create_volume(name)
        with Volume.connect(f"gluster://127.0.0.1/{name}") as v:
            conn = v.bricks[0]
            conn.reconnect_interval = 0
            f = v.open("/survivor", "wb")
            f.write(first)
            f.flush()
            lost = threading.Event()
            assert conn.client is not None
            conn.client.on_disconnect = lambda _c, _r: lost.set()
            old_pid = vol.pid
            vol = glusterd.restart_bricks(name)
            assert lost.wait(30), "the client did not see the brick go away"
            assert vol.pid != old_pid
            f.write(second)
            f.close()
            assert conn.generation == 2
            assert conn.port == vol.port  # the portmapper's new answer
            assert v.read_bytes("/survivor") == first + second
        assert (vol.brick_path / "survivor").read_bytes() == first + second
    finally:
        if name in glusterd.volumes:
            glusterd.delete_volume(name)
        shutil.rmtree(top, ignore_errors=True)
