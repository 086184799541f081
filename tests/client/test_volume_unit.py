"""Volume, File and DHT placement against in-memory fake bricks (no sockets).

``FakeBrick`` implements the typed FOP methods of ``BrickConnection`` over a dict of inodes,
with posix-brick semantics where the client depends on them (gfid-req honoured, errno values,
xattrs asked for in LOOKUP/READDIRP xdata returned in the reply, a small file's bytes to a
LOOKUP that asks for them).
"""

from __future__ import annotations

import errno
import io
import os
import stat
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gfrpc.client import dht
from gfrpc.client.errors import fop_error
from gfrpc.client.file import File, stat_from_iatt
from gfrpc.client.namespace import DU_REFRESH_S
from gfrpc.client.quickread import ACL_KEY, CONTENT_KEY, QUICK_READ_MAX
from gfrpc.client.volume import Volume
from gfrpc.errors import ConfigError, NotConnectedError
from gfrpc.programs import fops
from gfrpc.programs.fops_types import ROOT_GFID, GfStatfs, GfxDirplist, Iatt

pytestmark = pytest.mark.timeout(30)
VOLFILES = Path(__file__).resolve().parents[1] / "fixtures" / "volfiles"


@dataclass
class Inode:
    gfid: bytes
    mode: int
    data: bytearray = field(default_factory=bytearray)
    xattrs: dict[str, bytes] = field(default_factory=dict)
    children: dict[str, bytes] = field(default_factory=dict)
    nlink: int = 1


class FakeBrick:
    """One brick's namespace in memory, answering like BrickConnection's typed methods."""

    def __init__(self, name: str, *, blocks: int = 1 << 20, delay: float = 0.0) -> None:
        self.name = name
        self.brick_path = f"/bricks/{name}"
        self.port = 49152
        self.generation = 1
        self.inodes = {ROOT_GFID: Inode(ROOT_GFID, stat.S_IFDIR | 0o755)}
        self.fds: dict[int, bytes] = {}
        self.blocks = blocks
        self.calls: list[tuple[str, Any]] = []
        self.fail_write_at: dict[int, int] = {}  # offset -> errno
        self.inflight = self.max_inflight = 0
        self.delay = delay
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(8) if delay else None

    # -- plumbing ----------------------------------------------------------------------------
    def connect(self) -> None:
        self.calls.append(("connect", None))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()

    def live_client(self) -> None:
        """Always connected (reconnect is tested against a real gfrpc brick)."""

    connected = True

    def _get(self, gfid: bytes, code: int = errno.ESTALE) -> Inode:
        ino = self.inodes.get(bytes(gfid))
        if ino is None:
            raise fop_error(code)
        return ino

    def _child(self, pargfid: bytes, name: str, path: str | None) -> Inode:
        gfid = self._get(pargfid).children.get(name)
        if gfid is None:
            raise fop_error(errno.ENOENT, path)
        return self.inodes[gfid]

    def iatt(self, ino: Inode) -> Any:
        return Iatt(
            ia_gfid=ino.gfid,
            ia_ino=int.from_bytes(ino.gfid[8:], "big"),
            ia_size=len(ino.data),
            mode=ino.mode,
            ia_nlink=1,
            ia_blksize=4096,
            ia_mtime=1_700_000_000,
            ia_mtime_nsec=5,
        )

    def _asked(self, ino: Inode, xdata: dict[str, Any] | None) -> dict[str, Any] | None:
        """The xattrs named in ``xdata``, and quick-read's content as posix answers it: the
        bytes of a regular file no bigger than the size asked, to anyone."""
        if not xdata:
            return None
        out = {k: ino.xattrs[k] for k in xdata if k in ino.xattrs}
        limit = xdata.get(CONTENT_KEY)
        if limit is not None and stat.S_ISREG(ino.mode) and len(ino.data) <= limit.value:
            out[CONTENT_KEY] = bytes(ino.data)
        return out

    def _new(
        self, pargfid: bytes, name: str, mode: int, gfid: bytes | None, path: str | None
    ) -> Inode:
        parent = self._get(pargfid, errno.ENOENT)
        if name in parent.children:
            raise fop_error(errno.EEXIST, path)
        ino = Inode(gfid or uuid.uuid4().bytes, mode)
        self.inodes[ino.gfid] = ino
        parent.children[name] = ino.gfid
        return ino

    def _fd(self, gfid: bytes) -> int:
        fd = len(self.fds) + 1
        self.fds[fd] = gfid
        return fd

    # -- FOPs --------------------------------------------------------------------------------
    def lookup(self, pargfid: bytes, name: str, xdata: Any = None, *, path: Any = None) -> Any:
        self.calls.append(("lookup", name))
        ino = self._child(pargfid, name, path)
        return fops.GfxCommon2IattRsp(prestat=self.iatt(ino), xdata=self._asked(ino, xdata))

    def lookup_gfid(self, gfid: bytes, xdata: Any = None, *, path: Any = None) -> Any:
        ino = self._get(gfid)
        return fops.GfxCommon2IattRsp(prestat=self.iatt(ino), xdata=self._asked(ino, xdata))

    def lookup_root(self) -> Any:
        return self.lookup_gfid(ROOT_GFID)

    def stat(self, gfid: bytes, *, path: Any = None) -> Any:
        self.calls.append(("stat", path))
        return self.iatt(self._get(gfid))

    def fstat(self, gfid: bytes, fd: int, *, path: Any = None) -> Any:
        self.calls.append(("fstat", fd))
        return self.iatt(self._get(gfid))

    def create(
        self,
        pargfid: bytes,
        name: str,
        flags: int,
        mode: int,
        *,
        umask: int = 0,
        gfid: Any = None,
        xdata: Any = None,
        path: Any = None,
    ) -> Any:
        self.calls.append(("create", name))
        ino = self._new(pargfid, name, stat.S_IFREG | mode, gfid, path)
        return fops.GfxCreateRsp(stat=self.iatt(ino), fd=self._fd(ino.gfid))

    def open(self, gfid: bytes, flags: int, *, path: Any = None) -> int:
        self.calls.append(("open", path))
        ino = self._get(gfid)
        if flags & os.O_TRUNC:
            del ino.data[:]
        return self._fd(ino.gfid)

    def _later(self, fn: Any) -> Future[Any]:
        with self._lock:
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)

        def run() -> Any:
            time.sleep(self.delay)
            with self._lock:
                self.inflight -= 1
            return fn()

        if self._pool is not None:
            return self._pool.submit(run)
        f: Future[Any] = Future()
        f.set_result(run())
        return f

    def write_async(self, gfid: bytes, fd: int, offset: int, data: Any) -> Future[Any]:
        payload = bytes(data)
        self.calls.append(("write", (offset, len(payload))))

        def do() -> Any:
            if offset in self.fail_write_at:
                return fops.GfxCommon2IattRsp(op_ret=-1, op_errno=self.fail_write_at[offset]), b""
            ino = self._get(gfid)
            if len(ino.data) < offset:
                ino.data.extend(bytes(offset - len(ino.data)))
            ino.data[offset : offset + len(payload)] = payload
            return fops.GfxCommon2IattRsp(op_ret=len(payload)), memoryview(b"")

        return self._later(do)

    def read_async(self, gfid: bytes, fd: int, offset: int, size: int) -> Future[Any]:
        self.calls.append(("read", (offset, size)))

        def do() -> Any:
            chunk = bytes(self._get(gfid).data[offset : offset + size])
            return fops.GfxReadRsp(op_ret=len(chunk)), memoryview(chunk)

        return self._later(do)

    def write_wait(self, gfid: bytes, fd: int, offset: int, data: Any) -> Any:
        return self.write_async(gfid, fd, offset, data).result()[0]

    def read_wait(self, gfid: bytes, fd: int, offset: int, size: int) -> Any:
        return self.read_async(gfid, fd, offset, size).result()

    def flush(self, gfid: bytes, fd: int, *, path: Any = None) -> None:
        self.calls.append(("flush", fd))

    def fsync(self, gfid: bytes, fd: int, *, datasync: bool = False, path: Any = None) -> None:
        pass

    def release(self, gfid: bytes, fd: int, *, directory: bool = False) -> None:
        self.calls.append(("releasedir" if directory else "release", fd))
        self.fds.pop(fd, None)

    def fop(self, proc: Any, req: Any, payload: Any = None, *, path: Any = None) -> Any:
        assert proc == fops.FopProc.FTRUNCATE
        del self._get(req.gfid).data[req.offset :]
        return fops.GfxCommon2IattRsp()

    def mkdir(
        self,
        pargfid: bytes,
        name: str,
        mode: int,
        *,
        umask: int = 0,
        gfid: Any = None,
        xdata: Any = None,
        path: Any = None,
    ) -> Any:
        self.calls.append(("mkdir", name))
        ino = self._new(pargfid, name, stat.S_IFDIR | mode, gfid, path)
        return fops.GfxCommon3IattRsp(stat=self.iatt(ino))

    def mknod(
        self,
        pargfid: bytes,
        name: str,
        mode: int,
        *,
        gfid: Any = None,
        xdata: Any = None,
        path: Any = None,
    ) -> Any:
        if gfid in self.inodes:  # a gfrpc brick refuses a gfid in use
            raise fop_error(errno.EEXIST, path)
        ino = self._new(pargfid, name, mode, gfid, path)
        ino.xattrs.update(
            {k: bytes(v) for k, v in (xdata or {}).items() if k.startswith("trusted.")}
        )
        return fops.GfxCommon3IattRsp(stat=self.iatt(ino))

    def link(
        self, gfid: bytes, newpar: bytes, newname: str, *, xdata: Any = None, path: Any = None
    ) -> Any:
        ino = self._get(gfid)
        if newname in self._get(newpar).children:
            raise fop_error(errno.EEXIST, path)
        self.inodes[newpar].children[newname] = gfid
        ino.nlink += 1
        return fops.GfxCommon3IattRsp(stat=self.iatt(ino))

    def unlink(self, pargfid: bytes, name: str, *, xdata: Any = None, path: Any = None) -> None:
        self.calls.append(("unlink", name))
        if stat.S_ISDIR(self._child(pargfid, name, path).mode):
            raise fop_error(errno.EISDIR, path)  # as unlink(2), and both bricks
        self._remove(pargfid, name)

    def rmdir(self, pargfid: bytes, name: str, *, path: Any = None) -> None:
        self.calls.append(("rmdir", name))
        ino = self._child(pargfid, name, path)
        if not stat.S_ISDIR(ino.mode):
            raise fop_error(errno.ENOTDIR, path)
        if ino.children:
            raise fop_error(errno.ENOTEMPTY, path)
        self._remove(pargfid, name)

    def _remove(self, pargfid: bytes, name: str) -> None:
        ino = self.inodes[self.inodes[pargfid].children.pop(name)]
        ino.nlink -= 1
        if not ino.nlink:
            del self.inodes[ino.gfid]

    def rename(
        self,
        oldpar: bytes,
        oldname: str,
        newpar: bytes,
        newname: str,
        *,
        xdata: Any = None,
        path: Any = None,
    ) -> Any:
        ino = self._child(oldpar, oldname, path)
        del self.inodes[oldpar].children[oldname]
        old = self.inodes[newpar].children.get(newname)
        if old is not None and old != ino.gfid:
            self.inodes[old].nlink -= 1
            if not self.inodes[old].nlink:
                del self.inodes[old]
        self.inodes[newpar].children[newname] = ino.gfid
        return fops.GfxRenameRsp(stat=self.iatt(ino))

    def truncate(self, gfid: bytes, length: int, *, path: Any = None) -> Any:
        del self._get(gfid).data[length:]

    def getxattr(self, gfid: bytes, name: str, *, path: Any = None) -> dict[str, Any]:
        ino = self._get(gfid)
        if name not in ino.xattrs:
            raise fop_error(errno.ENODATA, path)
        return {name: ino.xattrs[name]}

    def setxattr(
        self, gfid: bytes, xattrs: dict[str, Any], flags: int = 0, *, path: Any = None
    ) -> None:
        self._get(gfid).xattrs.update({k: bytes(v) for k, v in xattrs.items()})

    def statfs(self, gfid: bytes = ROOT_GFID, *, path: Any = None) -> Any:
        return GfStatfs(
            bsize=4096,
            frsize=4096,
            blocks=self.blocks,
            bfree=10,
            bavail=9,
            files=100,
            ffree=50,
            favail=50,
            namemax=255,
        )

    def opendir(self, gfid: bytes, *, path: Any = None) -> int:
        return self._fd(self._get(gfid).gfid)

    def readdirp(
        self,
        gfid: bytes,
        fd: int,
        offset: int,
        size: int = 0,
        xdata: Any = None,
        *,
        path: Any = None,
    ) -> list[Any]:
        names = [".", ".."] + list(self._get(gfid).children)
        out = []
        for i, name in enumerate(names[offset : offset + 2], start=offset + 1):  # 2 per call
            ino = (
                self.inodes[gfid]
                if name in (".", "..")
                else self.inodes[self.inodes[gfid].children[name]]
            )
            out.append(
                GfxDirplist(
                    d_ino=0,
                    d_off=i,
                    d_len=len(name),
                    d_type=0,
                    name=name,
                    stat=self.iatt(ino),
                    dict=self._asked(ino, xdata),
                )
            )
        return out


SUBVOLS = ["v-client-0", "v-client-1", "v-client-2"]


def make_volume(n: int = 1, kind: str | None = None, **kw: Any) -> tuple[Volume, list[FakeBrick]]:
    bricks = [FakeBrick(SUBVOLS[i], blocks=(1 << 20) * (i + 1)) for i in range(n)]
    vol = Volume(
        bricks,
        volname="v",
        subvolumes=SUBVOLS[:n],  # type: ignore[arg-type]
        kind=kind or ("distribute" if n > 1 else "plain"),
        **kw,
    )
    vol._start()
    return vol, bricks


def where(bricks: list[FakeBrick], *path: str) -> list[int]:
    """Indices of the bricks holding ``path`` (a regular non-linkto entry)."""
    out = []
    for i, b in enumerate(bricks):
        ino = b.inodes[ROOT_GFID]
        try:
            for part in path:
                ino = b.inodes[ino.children[part]]
        except KeyError:
            continue
        if not dht.is_linkto(ino.mode, len(ino.data), ino.xattrs):
            out.append(i)
    return out


def read_by_file(vol: Volume, path: str) -> bytes:
    """The whole file by OPEN and READs (``File.readall``): what ``read_bytes`` does for a file
    that its LOOKUP cannot bring."""
    with vol.open(path, "rb", buffering=0) as f:
        return bytes(f.readall())


# --------------------------------------------------------------------------------------------
# single brick


def test_write_read_round_trip_in_records_of_max_write() -> None:
    """A write is cut into WRITEs of at most max_write bytes at consecutive offsets; reads are
    cut the same way; the bytes come back identical."""
    vol, (b,) = make_volume(max_write=1000, max_read=700)
    data = os.urandom(4500)
    with vol.open("/f", "wb") as f:
        assert isinstance(f, io.BufferedWriter)
        f.write(data)
    writes = [a for op, a in b.calls if op == "write"]
    assert writes == [(0, 1000), (1000, 1000), (2000, 1000), (3000, 1000), (4000, 500)]
    assert vol.read_bytes("/f") == data
    assert all(n <= 700 for op, (_, n) in [c for c in b.calls if c[0] == "read"])
    assert vol.stat("/f").st_size == 4500


def test_a_call_that_fits_one_record_is_one_synchronous_fop() -> None:
    """An unbuffered write() or readinto() of at most max_write/max_read bytes is one WRITE or
    READ at the file position; a failed WRITE raises its errno with the path, a READ at EOF
    returns what there was."""
    vol, (b,) = make_volume(max_write=1000, max_read=1000)
    with vol.open("/one", "wb", buffering=0) as f:
        assert f.write(b"a" * 1000) == 1000 and f.write(b"b" * 10) == 10
    assert [a for op, a in b.calls if op == "write"] == [(0, 1000), (1000, 10)]
    buf = bytearray(1000)
    with vol.open("/one", "rb", buffering=0) as r:
        assert r.readinto(buf) == 1000 and bytes(buf) == b"a" * 1000
        assert r.readinto(buf) == 10 and bytes(buf[:10]) == b"b" * 10
        assert r.readinto(buf) == 0
    b.fail_write_at = {1010: errno.ENOSPC}
    with vol.open("/one", "ab", buffering=0) as f, pytest.raises(OSError) as info:
        f.write(b"c" * 5)
    assert info.value.errno == errno.ENOSPC and info.value.filename == "/one"


def test_pipelined_writes_respect_the_window() -> None:
    """With slow replies, up to ``window`` WRITEs are in flight at once and never more."""
    b = FakeBrick("v-client-0", delay=0.005)
    vol = Volume([b], volname="v", max_write=100, max_read=100, window=4)  # type: ignore[list-item]
    vol._start()
    with vol.open("/w", "wb", buffering=0) as f:
        assert f.write(os.urandom(100 * 40)) == 4000
    assert 1 < b.max_inflight <= 4
    b.max_inflight = 0
    assert len(read_by_file(vol, "/w")) == 4000
    assert 1 < b.max_inflight <= 4
    b.close()


def test_first_write_error_is_reported_and_sending_stops() -> None:
    """When WRITEs fail, the error of the lowest offset is raised and no WRITE is sent after
    the failure was seen (at most ``window`` beyond the failing one)."""
    b = FakeBrick("v-client-0", delay=0.002)
    vol = Volume([b], volname="v", max_write=10, window=3)  # type: ignore[list-item]
    vol._start()
    b.fail_write_at = {20: errno.ENOSPC, 30: errno.EIO}
    f = vol.open("/e", "wb", buffering=0)
    with pytest.raises(OSError) as info:
        f.write(bytes(200))
    assert info.value.errno == errno.ENOSPC
    assert len([c for c in b.calls if c[0] == "write"]) <= 2 + 3
    b.close()


def test_short_read_is_end_of_file_and_readinto_fills_buffers() -> None:
    """readinto returns the bytes up to EOF; seek/tell follow; SEEK_END uses FSTAT."""
    vol, _ = make_volume(max_read=3)
    vol.write_bytes("/r", b"abcdefgh")
    with vol.open("/r", "rb", buffering=0) as f:
        buf = bytearray(5)
        assert f.readinto(buf) == 5 and buf == bytearray(b"abcde")
        assert f.tell() == 5
        assert f.readinto(buf) == 3 and buf[:3] == bytearray(b"fgh")
        assert f.readinto(buf) == 0
        assert f.seek(-2, os.SEEK_END) == 6 and f.read() == b"gh"


def test_modes_append_exclusive_and_update() -> None:
    """'ab' appends at the end, 'xb' refuses an existing file, 'r+b' reads and writes, a
    missing file in 'rb' is FileNotFoundError, a directory is IsADirectoryError."""
    vol, _ = make_volume()
    vol.write_bytes("/m", b"123")
    with vol.open("/m", "ab") as f:
        f.write(b"45")
    with vol.open("/m", "r+b") as f:
        assert isinstance(f, io.BufferedRandom)
        f.seek(1)
        f.write(b"x")
    assert vol.read_bytes("/m") == b"1x345"
    with pytest.raises(FileExistsError):
        vol.open("/m", "xb")
    with pytest.raises(FileNotFoundError):
        vol.open("/missing", "rb")
    vol.mkdir("/dir")
    with pytest.raises(IsADirectoryError):
        vol.open("/dir", "rb")
    with pytest.raises(ValueError):
        vol.open("/m", "rt")
    with vol.open("/m", "wb") as f:  # truncates
        f.write(b"z")
    assert vol.read_bytes("/m") == b"z"


def _fresh_volume_on(bricks: list[FakeBrick]) -> Volume:
    """Another Volume over the same fake bricks: it knows no path yet."""
    vol = Volume(
        bricks,  # type: ignore[arg-type]
        volname="v",
        subvolumes=SUBVOLS[: len(bricks)],
        kind="distribute" if len(bricks) > 1 else "plain",
    )
    vol._start()
    return vol


def test_a_new_file_on_one_brick_is_one_exclusive_create_without_a_lookup() -> None:
    """On a one-brick volume, opening a name the Volume does not know for writing ('wb', 'ab',
    'xb') sends one CREATE and no LOOKUP; a volume of several bricks still looks the name up
    first (it may live on any brick)."""
    vol, (b,) = make_volume()
    for i, mode in enumerate(("wb", "ab", "xb", "w+b")):
        b.calls.clear()
        with vol.open(f"/n{i}", mode, buffering=0) as f:
            f.write(b"x")
        assert [op for op, _ in b.calls if op in ("lookup", "create")] == ["create"], mode
        assert vol.read_bytes(f"/n{i}") == b"x"
    vol3, bricks = make_volume(3)
    for x in bricks:
        x.calls.clear()
    vol3.write_bytes("/d1", b"y")
    assert any(op == "lookup" for x in bricks for op, _ in x.calls)


def test_an_existing_name_unknown_to_the_volume_is_opened_as_before() -> None:
    """When the exclusive CREATE finds the name taken, the name is looked up and opened as
    without that step: 'wb' truncates the existing file, 'ab' appends to it, 'xb' is
    FileExistsError at once (no LOOKUP), a directory is IsADirectoryError."""
    vol, (b,) = make_volume()
    vol.write_bytes("/e", b"12345")
    vol.mkdir("/dir")
    other = _fresh_volume_on([b])
    b.calls.clear()
    with other.open("/e", "ab") as f:
        f.write(b"6")
    assert [op for op, _ in b.calls if op in ("lookup", "create")] == ["create", "lookup"]
    assert vol.read_bytes("/e") == b"123456"
    with _fresh_volume_on([b]).open("/e", "wb") as f:
        f.write(b"z")
    assert vol.read_bytes("/e") == b"z"
    b.calls.clear()
    with pytest.raises(FileExistsError):
        _fresh_volume_on([b]).open("/e", "xb")
    assert [op for op, _ in b.calls if op in ("lookup", "create")] == ["create"]
    with pytest.raises(IsADirectoryError):
        _fresh_volume_on([b]).open("/dir", "wb")


def test_a_stat_of_a_name_not_known_is_its_lookup_and_of_a_known_one_a_fresh_stat() -> None:
    """stat, lstat, exists and is_dir of a name the Volume has not resolved answer from the
    LOOKUP that finds it (no STAT after it); a name it knows gets a STAT, so a change made
    through another Volume shows; on a distribute volume too."""
    vol, (b,) = make_volume()
    vol.mkdir("/d")
    vol.write_bytes("/d/f", b"12345")
    other = _fresh_volume_on([b])
    other.stat("/d")
    b.calls.clear()
    st = other.stat("/d/f")
    assert st.st_size == 5 and stat.S_ISREG(st.st_mode)
    assert [c[0] for c in b.calls] == ["lookup"]
    b.calls.clear()
    assert _fresh_volume_on([b]).is_dir("/d") and _fresh_volume_on([b]).exists("/d/f")
    assert stat.S_ISDIR(_fresh_volume_on([b]).lstat("/d").st_mode)
    assert [c[0] for c in b.calls if c[0] in ("lookup", "stat")] == ["lookup"] * 4
    vol.write_bytes("/d/f", b"1234567")
    b.calls.clear()
    assert other.stat("/d/f").st_size == 7  # known: a STAT, fresh
    assert [c[0] for c in b.calls] == ["stat"]
    vol3, bricks = make_volume(3)
    vol3.mkdir("/e")
    vol3.write_bytes("/e/h", b"abc")
    fresh = _fresh_volume_on(bricks)
    fresh.stat("/e")
    for x in bricks:
        x.calls.clear()
    assert fresh.stat("/e/h").st_size == 3
    assert not any(c[0] == "stat" for x in bricks for c in x.calls)


def test_makedirs_sends_the_mkdir_first() -> None:
    """makedirs of a directory whose parent exists is one MKDIR, with no look at the parent
    first; missing parents are made, then the directory; an existing directory passes with
    exist_ok and is FileExistsError without it; a file in the way is NotADirectoryError, as
    os.makedirs gives."""
    vol, (b,) = make_volume()
    vol.mkdir("/p")
    b.calls.clear()
    vol.makedirs("/p/q")
    assert [c for c in b.calls if c[0] in ("lookup", "stat", "mkdir")] == [("mkdir", "q")]
    vol.makedirs("/p/x/y/z")
    assert vol.is_dir("/p/x/y/z") and _fresh_volume_on([b]).is_dir("/p/x/y")
    vol.makedirs("/p/q", exist_ok=True)
    vol.makedirs("/", exist_ok=True)
    with pytest.raises(FileExistsError):
        vol.makedirs("/p/q")
    vol.write_bytes("/p/f", b"")
    with pytest.raises(NotADirectoryError):
        vol.makedirs("/p/f/g")
    with pytest.raises(FileExistsError):
        vol.makedirs("/p/f", exist_ok=True)


def test_one_brick_removes_a_name_it_does_not_know_without_a_lookup() -> None:
    """On a one-brick volume, unlink and rmdir of a name the Volume has not resolved are one
    UNLINK or RMDIR (only the parent is looked up), and the brick's refusals stand as unlink(2)
    and rmdir(2) give them: a directory is IsADirectoryError, a file given to rmdir
    NotADirectoryError, a missing name FileNotFoundError with the path, and nothing refused
    is removed. On a distribute volume the name is still looked up first (to find its brick)."""
    vol, (b,) = make_volume()
    vol.mkdir("/d")
    vol.mkdir("/d/sub")
    for name in ("f", "g"):
        vol.write_bytes(f"/d/{name}", b"x")
    other = _fresh_volume_on([b])
    b.calls.clear()
    other.unlink("/d/f")
    other.rmdir("/d/sub")
    assert [c for c in b.calls if c[0] in ("lookup", "unlink", "rmdir")] == [
        ("lookup", "d"),
        ("unlink", "f"),
        ("rmdir", "sub"),
    ]
    assert not vol.exists("/d/f") and not vol.exists("/d/sub")
    vol.mkdir("/d/sub2")
    with pytest.raises(IsADirectoryError):
        _fresh_volume_on([b]).unlink("/d/sub2")
    with pytest.raises(NotADirectoryError):
        _fresh_volume_on([b]).rmdir("/d/g")
    with pytest.raises(FileNotFoundError) as missing:
        _fresh_volume_on([b]).unlink("/d/none")
    assert missing.value.filename == "/d/none"
    assert vol.is_dir("/d/sub2") and vol.read_bytes("/d/g") == b"x"
    # a name this Volume had resolved is forgotten with the file
    other.read_bytes("/d/g")
    other.unlink("/d/g")
    assert not other.exists("/d/g")
    vol3, bricks = make_volume(3)
    vol3.mkdir("/e")
    vol3.write_bytes("/e/h", b"y")
    fresh = _fresh_volume_on(bricks)
    for x in bricks:
        x.calls.clear()
    fresh.unlink("/e/h")
    assert any(c == ("lookup", "h") for x in bricks for c in x.calls)


def test_a_refused_exclusive_create_falls_back_and_a_lost_answer_does_not() -> None:
    """A brick that refuses the CREATE before it looks at the name (EACCES: no write
    permission on the directory) does not hide an existing file the caller may open: it is
    looked up and opened. A CREATE that got no answer (the connection is gone) is raised as it
    is, with no second call after it."""
    vol, (b,) = make_volume()
    vol.write_bytes("/p", b"old")
    real_create = b.create

    def refuse(*args: Any, **kw: Any) -> Any:
        b.calls.append(("create", args[1]))
        raise fop_error(errno.EACCES, kw.get("path"))

    b.create = refuse  # type: ignore[method-assign]
    with _fresh_volume_on([b]).open("/p", "ab") as f:
        f.write(b"+")
    assert vol.read_bytes("/p") == b"old+"
    with pytest.raises(PermissionError):  # a new name: the refusal stands
        _fresh_volume_on([b]).open("/q", "wb")

    def lost(*args: Any, **kw: Any) -> Any:
        b.calls.append(("create", args[1]))
        raise NotConnectedError("connection lost")

    b.create = lost  # type: ignore[method-assign]
    b.calls.clear()
    with pytest.raises(NotConnectedError):
        _fresh_volume_on([b]).open("/r", "wb")
    assert [op for op, _ in b.calls if op in ("lookup", "create")] == ["create"]
    b.create = real_create  # type: ignore[method-assign]


def test_close_releases_and_volume_close_releases_open_files() -> None:
    """File.close sends RELEASE; Volume.close releases files still open."""
    vol, (b,) = make_volume()
    f = vol.open("/c", "wb")
    f.write(b"x")
    vol.close()
    assert [op for op, _ in b.calls if op in ("flush", "release")] == ["release"]
    assert f.closed and not b.fds


def test_a_file_closes_with_release_alone() -> None:
    """A file holds nothing to flush (this client takes no locks and has no write-behind: each
    WRITE's reply is checked before write returns): its close sends RELEASE and no FLUSH,
    opened for reading ('rb'), for reading and writing ('r+b') or for writing ('wb'); what the
    buffered file still held is written, and answered, before the RELEASE."""
    vol, (b,) = make_volume()
    vol.write_bytes("/r", b"abc")
    assert [op for op, _ in b.calls if op in ("flush", "release")] == ["release"]
    b.calls.clear()
    assert read_by_file(vol, "/r") == b"abc"
    assert [op for op, _ in b.calls if op in ("flush", "release")] == ["release"]
    assert not b.fds
    b.calls.clear()
    with vol.open("/r", "r+b") as f:
        assert f.read() == b"abc"
        f.seek(0)
        f.write(b"xyz")
    assert bytes(b.inodes[b.inodes[ROOT_GFID].children["r"]].data) == b"xyz"
    assert [op for op, _ in b.calls if op in ("write", "flush", "release")] == [
        "write",
        "release",
    ]
    assert not b.fds


def test_readall_reads_a_small_file_with_one_read_and_a_big_one_to_its_end() -> None:
    """``File.readall`` of a file smaller than FIRST_READ is one READ (short: the end) and no
    FSTAT; a bigger file (here over several max_read records) is read whole after one FSTAT,
    asking for one byte past its size so that no extra READ is needed to see the end; a file
    that grows while it is read is read on to a short READ; an empty file is one READ."""
    vol, (b,) = make_volume(max_read=64 << 10)
    small, big = os.urandom(4096), os.urandom(3 * (64 << 10) + 5)
    vol.write_bytes("/small", small)
    vol.write_bytes("/big", big)
    vol.write_bytes("/empty", b"")
    for name, data in (("small", small), ("empty", b"")):
        b.calls.clear()
        assert read_by_file(vol, f"/{name}") == data
        assert [op for op, _ in b.calls if op in ("read", "fstat")] == ["read"]
    b.calls.clear()
    assert read_by_file(vol, "/big") == big
    reads = [arg for op, arg in b.calls if op == "read"]
    assert [op for op, _ in b.calls if op == "fstat"] == ["fstat"]
    assert sum(size for _, size in reads) == len(big) + 1 and len(reads) == 4
    grow = b.inodes[b.inodes[ROOT_GFID].children["big"]]
    real_fstat = b.fstat

    def fstat_then_grow(gfid: bytes, fd: int, *, path: Any = None) -> Any:
        got = real_fstat(gfid, fd, path=path)
        grow.data += b"tail" * 40_000  # appended after the size was taken
        return got

    b.fstat = fstat_then_grow  # type: ignore[method-assign]
    assert read_by_file(vol, "/big") == big + b"tail" * 40_000


def test_readall_does_not_allocate_the_size_a_brick_claims() -> None:
    """A brick whose FSTAT claims an exabyte for a file of 200 KiB: ``read_bytes`` sets aside at
    most SIZE_HINT_MAX on that claim and returns the bytes the READs brought, no MemoryError."""
    vol, (b,) = make_volume(max_read=64 << 10)
    data = os.urandom(200 << 10)
    vol.write_bytes("/liar", data)
    real_fstat = b.fstat

    def huge(gfid: bytes, fd: int, *, path: Any = None) -> Any:
        got = real_fstat(gfid, fd, path=path)
        return Iatt(ia_gfid=got.ia_gfid, ia_size=1 << 60, mode=got.mode, ia_nlink=1)

    b.fstat = huge  # type: ignore[method-assign]
    assert vol.read_bytes("/liar") == data


def test_namespace_operations_and_errors() -> None:
    """mkdir/makedirs/listdir/scandir/rename/unlink/rmdir/truncate/xattrs/statvfs behave like
    os.*, with OSError subclasses carrying the brick's errno and the path."""
    vol, _ = make_volume()
    vol.makedirs("/a/b/c")
    vol.makedirs("/a/b/c", exist_ok=True)
    with pytest.raises(FileExistsError):
        vol.makedirs("/a/b/c")
    vol.write_bytes("/a/b/file", b"12345")
    assert sorted(vol.listdir("/a/b")) == ["c", "file"]
    entries = {e.name: e for e in vol.scandir("/a/b")}
    assert entries["c"].is_dir() and entries["file"].is_file()
    assert entries["file"].stat().st_size == 5 and entries["file"].path == "/a/b/file"
    vol.rename("/a/b/file", "/a/moved")
    assert not vol.exists("/a/b/file") and vol.read_bytes("/a/moved") == b"12345"
    vol.truncate("/a/moved", 2)
    assert vol.stat("/a/moved").st_size == 2
    vol.setxattr("/a/moved", "user.k", "v")
    assert vol.getxattr("/a/moved", "user.k") == b"v"
    with pytest.raises(OSError) as info:
        vol.getxattr("/a/moved", "user.none")
    assert info.value.errno == errno.ENODATA
    with pytest.raises(OSError) as info:
        vol.rmdir("/a")
    assert info.value.errno == errno.ENOTEMPTY and info.value.filename == "/a"
    with pytest.raises(IsADirectoryError):
        vol.unlink("/a/b")
    with pytest.raises(NotADirectoryError):
        vol.listdir("/a/moved")
    with pytest.raises(NotADirectoryError):
        vol.stat("/a/moved/x")
    vol.unlink("/a/moved")
    with pytest.raises(FileNotFoundError) as nf:
        vol.unlink("/a/moved")
    assert nf.value.filename == "/a/moved"
    vol.rmdir("/a/b/c")
    assert vol.listdir("/a/b") == []
    assert vol.statvfs().f_bavail == 9
    assert vol.is_dir("/a") and not vol.is_dir("/nothing")


def test_stale_cached_gfid_is_looked_up_again() -> None:
    """A path whose file was replaced behind our back (new gfid) is re-resolved once: the
    ESTALE of the cached gfid is not shown to the caller."""
    vol, (b,) = make_volume()
    vol.write_bytes("/s", b"old")
    assert vol.stat("/s").st_size == 3
    root = b.inodes[ROOT_GFID]
    del b.inodes[root.children.pop("s")]
    b.create(ROOT_GFID, "s", 0, 0o644)
    b.inodes[root.children["s"]].data += b"newer"
    assert vol.stat("/s").st_size == 5
    assert vol.read_bytes("/s") == b"newer"
    del b.inodes[root.children.pop("s")]  # again, and this time open it straight away
    b.create(ROOT_GFID, "s", 0, 0o644)
    b.inodes[root.children["s"]].data += b"newest"
    assert vol.read_bytes("/s") == b"newest"


def test_a_missing_name_is_one_lookup_where_its_directory_is_current() -> None:
    """A name missing from a directory learned less than ``miss_trust`` seconds ago (or from
    the root) is one LOOKUP, however deep, and its FileNotFoundError names the path; where the
    directory is older its path is looked up again from the root before the miss stands, so a
    directory another client replaced shows the new one's entries."""
    vol, (b,) = make_volume()
    vol.makedirs("/a/b/c")
    other = _fresh_volume_on([b])
    other.miss_trust = 3600.0  # current however slow this machine is
    assert other.is_dir("/a/b/c")
    b.calls.clear()
    with pytest.raises(FileNotFoundError) as missing:
        other.stat("/a/b/c/none")
    assert missing.value.filename == "/a/b/c/none" and missing.value.errno == errno.ENOENT
    assert [c[0] for c in b.calls] == ["lookup"]
    b.calls.clear()
    assert not other.exists("/a/b/c/none") and not other.exists("/none")
    assert not other.is_dir("/a/b/c/none/deeper")
    assert [c[0] for c in b.calls] == ["lookup"] * 3
    # the other Volume replaces /a/b/c; ours still has the old gfid cached
    vol.rename("/a/b/c", "/a/b/old")
    vol.makedirs("/a/b/c")
    vol.write_bytes("/a/b/c/new", b"x")
    other.miss_trust = 0.0  # as if a second had passed
    b.calls.clear()
    assert other.exists("/a/b/c/new")
    # the miss in the old directory, then /a, /a/b, /a/b/c and the name again
    assert [c[0] for c in b.calls] == ["lookup"] * 5
    b.calls.clear()
    other.miss_trust = 60.0
    assert not other.exists("/a/b/c/none")
    assert [c[0] for c in b.calls] == ["lookup"]


def test_stat_result_from_iatt() -> None:
    """StatResult carries the iatt's fields, times with nanoseconds, and the gfid; to_os()
    gives an os.stat_result with the same values."""
    gfid = uuid.uuid4().bytes
    st = stat_from_iatt(
        Iatt(
            ia_gfid=gfid,
            ia_ino=7,
            ia_size=9,
            mode=stat.S_IFREG | 0o640,
            ia_nlink=2,
            ia_uid=3,
            ia_gid=4,
            ia_mtime=10,
            ia_mtime_nsec=5,
            ia_blocks=8,
            ia_blksize=4096,
        )
    )
    assert (st.st_ino, st.st_size, st.st_nlink, st.st_uid, st.st_gid) == (7, 9, 2, 3, 4)
    assert st.st_mtime_ns == 10_000_000_005 and st.st_mtime == pytest.approx(10.000000005)
    assert st.gfid == uuid.UUID(bytes=gfid)
    o = st.to_os()
    assert o.st_mode == st.st_mode and o.st_mtime_ns == st.st_mtime_ns and o.st_blocks == 8


def test_gfid_uuids_are_remembered_within_a_bound() -> None:
    """The UUID of a gfid is made once and handed out again (STAT of the same file), and the
    map of them never holds more than its bound."""
    from gfrpc.client import file as file_mod

    gfid = uuid.uuid4().bytes
    first = file_mod.gfid_uuid(gfid)
    assert first == uuid.UUID(bytes=gfid)
    assert file_mod.gfid_uuid(memoryview(gfid)) is first
    for _ in range(file_mod._GFIDS_MAX + 10):
        file_mod.gfid_uuid(uuid.uuid4().bytes)
    assert len(file_mod._GFIDS) <= file_mod._GFIDS_MAX
    assert file_mod.gfid_uuid(gfid) == first


def test_file_rejects_wrong_direction_and_has_no_fileno() -> None:
    """A read-only File refuses write, a write-only one refuses read; fileno() is unsupported."""
    vol, _ = make_volume()
    vol.write_bytes("/d", b"x")
    with vol.open("/d", "rb", buffering=0) as f:
        assert isinstance(f, File)
        with pytest.raises(io.UnsupportedOperation):
            f.write(b"y")
        with pytest.raises(io.UnsupportedOperation):
            f.fileno()


def test_threads_share_one_volume() -> None:
    """Many threads writing and reading their own files through one Volume see their data."""
    b = FakeBrick("v-client-0", delay=0.0005)
    vol = Volume([b], volname="v", max_write=64)  # type: ignore[list-item]
    vol._start()
    vol.mkdir("/t")

    def one(i: int) -> bool:
        blob = os.urandom(1000 + i)
        vol.write_bytes(f"/t/{i}", blob)
        return vol.read_bytes(f"/t/{i}") == blob

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(one, range(16)))
    assert len(vol.listdir("/t")) == 16
    b.close()


# --------------------------------------------------------------------------------------------
# distribute


def test_dht_root_without_layout_gets_one_and_files_land_on_hashed_brick() -> None:
    """A root without layout xattrs is given one on every brick (commit hash 1, as self-heal);
    each new file is created on the brick whose range holds its name's hash; a lookup goes
    to that brick."""
    vol, bricks = make_volume(3)
    for i in range(30):
        vol.write_bytes(f"/f{i}", b"%d" % i)
    layouts = [dht.parse_layout(b.inodes[ROOT_GFID].xattrs[dht.LAYOUT_XATTR]) for b in bricks]
    assert all(r.commit_hash == dht.LAYOUT_HASH_INVALID for r in layouts)
    spread = set()
    for i in range(30):
        home = dht.pick_subvolume(layouts, f"f{i}")
        assert where(bricks, f"f{i}") == [home]
        spread.add(home)
    assert spread == {0, 1, 2}
    assert sorted(vol.listdir("/")) == sorted(f"f{i}" for i in range(30))


def test_dht_mkdir_everywhere_same_gfid_and_weighted_layout() -> None:
    """mkdir creates the directory on every brick with one gfid and writes the layout
    dht.new_directory_layouts gives for the bricks' sizes (statfs)."""
    vol, bricks = make_volume(3)
    vol.mkdir("/dir")
    gfids = {b.inodes[ROOT_GFID].children["dir"] for b in bricks}
    assert len(gfids) == 1
    gfid = gfids.pop()
    chunks = [dht.brick_chunks(b.blocks, 4096) for b in bricks]
    want = dht.new_directory_layouts(SUBVOLS, "/dir", chunks=chunks)
    got = [dht.parse_layout(b.inodes[gfid].xattrs[dht.LAYOUT_XATTR]) for b in bricks]
    assert got == want
    assert vol.listdir("/") == ["dir"]  # merged: one entry, not three
    vol.rmdir("/dir")
    assert all("dir" not in b.inodes[ROOT_GFID].children for b in bricks)


def test_new_layouts_ask_the_bricks_sizes_at_most_once_a_second() -> None:
    """The bricks' sizes that weight a new directory's layout are asked (STATFS, one per
    brick) at most once every DU_REFRESH_S, as DHT refreshes its disk-usage figures, and not
    at all on a distribute volume of one brick (its one range covers every hash); a layout
    made with the cached sizes is what new_directory_layouts gives for them."""
    asked: list[str] = []

    def counting(b: FakeBrick) -> None:
        real = b.statfs
        b.statfs = lambda *a, **kw: (asked.append(b.name), real(*a, **kw))[1]  # type: ignore[method-assign]

    vol, bricks = make_volume(3)
    for x in bricks:
        counting(x)
    vol.makedirs("/w/x/y")
    assert sorted(asked) == sorted(SUBVOLS[:3])
    gfid = bricks[0].inodes[bricks[0].inodes[ROOT_GFID].children["w"]].children["x"]
    chunks = [dht.brick_chunks(b.blocks, 4096) for b in bricks]
    want = dht.new_directory_layouts(SUBVOLS, "/w/x", chunks=chunks)
    assert [dht.parse_layout(b.inodes[gfid].xattrs[dht.LAYOUT_XATTR]) for b in bricks] == want
    vol._chunks = (vol._chunks[0] - DU_REFRESH_S, vol._chunks[1])  # as if a second had passed
    vol.mkdir("/w/z")
    assert sorted(asked) == sorted(SUBVOLS[:3] * 2)
    asked.clear()
    one, (b,) = make_volume(1, kind="distribute")
    counting(b)
    one.makedirs("/p/q")
    assert asked == []
    assert b.inodes[b.inodes[ROOT_GFID].children["p"]].xattrs[dht.LAYOUT_XATTR]


def test_dht_lookup_follows_linkto_and_listing_hides_it() -> None:
    """A linkto file on the hashed brick sends the lookup to the brick it names; listings
    skip linkto files; unlink removes data and linkto."""
    vol, bricks = make_volume(3)
    vol.exists("/x")  # a lookup lays the root out
    layouts = [dht.parse_layout(b.inodes[ROOT_GFID].xattrs[dht.LAYOUT_XATTR]) for b in bricks]
    h = dht.pick_subvolume(layouts, "lf")
    data_brick = (h + 1) % 3
    ino = bricks[data_brick].create(ROOT_GFID, "lf", 0, 0o644)
    gfid = bytes(ino.stat.ia_gfid)
    bricks[data_brick].inodes[gfid].data += b"payload"
    bricks[h].mknod(
        ROOT_GFID,
        "lf",
        stat.S_IFREG | stat.S_ISVTX,
        gfid=gfid,
        xdata={dht.LINKTO_XATTR: SUBVOLS[data_brick].encode() + b"\0"},
    )
    assert vol.read_bytes("/lf") == b"payload"
    assert vol.listdir("/") == ["lf"]
    vol.unlink("/lf")
    assert all("lf" not in b.inodes[ROOT_GFID].children for b in bricks)


def test_dht_lookup_everywhere_when_hashed_brick_misses() -> None:
    """A file that is not on its hashed brick (and has no linkto) is still found."""
    vol, bricks = make_volume(3)
    vol.exists("/x")
    layouts = [dht.parse_layout(b.inodes[ROOT_GFID].xattrs[dht.LAYOUT_XATTR]) for b in bricks]
    other = (dht.pick_subvolume(layouts, "stray") + 2) % 3
    ino = bricks[other].create(ROOT_GFID, "stray", 0, 0o644)
    bricks[other].inodes[bytes(ino.stat.ia_gfid)].data += b"here"
    assert vol.read_bytes("/stray") == b"here"


def test_dht_rename_to_other_hash_leaves_linkto() -> None:
    """Renaming a file to a name that hashes to another brick keeps the data where it is and
    puts a linkto (mode 01000, linkto xattr = the data brick's subvolume) on the new hashed
    brick; reading the new name works, the old name is gone, the listing shows it once."""
    vol, bricks = make_volume(3)
    vol.write_bytes("/src", b"data")
    layouts = [dht.parse_layout(b.inodes[ROOT_GFID].xattrs[dht.LAYOUT_XATTR]) for b in bricks]
    c = dht.pick_subvolume(layouts, "src")
    dst = next(f"dst{i}" for i in range(100) if dht.pick_subvolume(layouts, f"dst{i}") != c)
    h = dht.pick_subvolume(layouts, dst)
    vol.rename("/src", f"/{dst}")
    assert where(bricks, dst) == [c]
    link = bricks[h].inodes[bricks[h].inodes[ROOT_GFID].children[dst]]
    assert dht.is_linkto(link.mode, len(link.data), link.xattrs)
    assert dht.linkto_target(link.xattrs) == SUBVOLS[c]
    assert vol.listdir("/") == [dst]
    assert vol.read_bytes(f"/{dst}") == b"data"
    assert not vol.exists("/src")
    vol2 = Volume(bricks, volname="v", subvolumes=SUBVOLS, kind="distribute")  # type: ignore[arg-type]
    vol2._start()
    assert vol2.read_bytes(f"/{dst}") == b"data"  # a fresh client follows the linkto


def test_unsupported_volume_types_are_refused_by_name() -> None:
    """A replicate volfile is refused before any connection, naming the type."""
    text = (VOLFILES / "rep.tcp-fuse.vol").read_text()
    with pytest.raises(ConfigError, match="replicate"):
        Volume.from_volfile(text, volname="rep", poller="single")


def _calls(b: FakeBrick) -> list[str]:
    return [op for op, _ in b.calls]


def test_a_small_file_readable_by_all_is_one_lookup_and_the_rest_is_opened() -> None:
    """``read_bytes`` of a small file that owner, group and others may all read, with no ACL, is
    one LOOKUP whose reply brings the bytes (known name or not); a file bigger than
    QUICK_READ_MAX, one that some class may not read (the brick sent its bytes anyway, as
    posix does), one with an access ACL, and bytes of another size than the iatt's are opened
    and read instead (a file a LOOKUP saw too big is opened at once the next time, with no
    LOOKUP); a directory is IsADirectoryError and a missing name FileNotFoundError."""
    vol, (b,) = make_volume()
    small = os.urandom(4096)
    for name in ("pub", "g640", "o600", "acl", "liar"):
        vol.write_bytes(f"/{name}", small)
    vol.write_bytes("/big", os.urandom(QUICK_READ_MAX + 1))
    vol.mkdir("/dir")
    root = b.inodes[ROOT_GFID]
    b.inodes[root.children["g640"]].mode = stat.S_IFREG | 0o640
    b.inodes[root.children["o600"]].mode = stat.S_IFREG | 0o600
    b.inodes[root.children["acl"]].xattrs[ACL_KEY] = b"\2\0\0\0"
    for reader in (vol, _fresh_volume_on([b])):  # a known name, then an unknown one
        b.calls.clear()
        assert reader.read_bytes("/pub") == small
        assert _calls(b) == ["lookup"]
        for name in ("big", "g640", "o600", "acl"):
            b.calls.clear()
            assert reader.read_bytes(f"/{name}") == b.inodes[root.children[name]].data
            assert _calls(b)[:2] == ["lookup", "open"], name
        b.calls.clear()
        reader.read_bytes("/big")  # its LOOKUP saw it too big: now it is opened at once
        assert _calls(b)[0] == "open"
    real_asked = b._asked

    def short(ino: Inode, xdata: Any) -> Any:
        out = real_asked(ino, xdata)
        if out and CONTENT_KEY in out:
            out[CONTENT_KEY] = out[CONTENT_KEY][:-1]
        return out

    b._asked = short  # type: ignore[method-assign]
    b.calls.clear()
    assert vol.read_bytes("/liar") == small
    assert "open" in _calls(b)
    b._asked = real_asked  # type: ignore[method-assign]
    with pytest.raises(IsADirectoryError):
        vol.read_bytes("/dir")
    with pytest.raises(FileNotFoundError):
        vol.read_bytes("/none")


def test_a_small_file_on_a_distribute_volume_is_one_lookup_on_its_brick() -> None:
    """On a distribute volume the LOOKUP that brings a small file's bytes goes to the brick the
    name hashes to (one LOOKUP in all, no OPEN); a name whose data is elsewhere (a linkto on the
    hashed brick, after a rename) is followed and read as before."""
    vol, bricks = make_volume(3)
    vol.mkdir("/d")
    data = {f"f{i}": os.urandom(100 + i) for i in range(12)}
    for name, body in data.items():
        vol.write_bytes(f"/d/{name}", body)
    vol.rename("/d/f0", "/d/moved")
    fresh = _fresh_volume_on(bricks)
    fresh.listdir("/d")  # resolves /d (and reads its layout) outside the counted calls
    for name, body in data.items():
        want = data["f0"] if name == "f0" else body
        name = "moved" if name == "f0" else name
        for x in bricks:
            x.calls.clear()
        assert fresh.read_bytes(f"/d/{name}") == want
        calls = [c for x in bricks for c in _calls(x)]
        if where(bricks, "d", name) == [fresh._hashed(fresh._resolve("/d"), "/d", name, "")]:
            assert calls == ["lookup"], name
        else:
            assert "open" in calls, name


def _lookups(bricks: list[FakeBrick], *ops: str, name: str | None = None) -> list[str]:
    """The calls ``ops`` (default: LOOKUPs) the bricks received (of ``name`` only, when given),
    and clear their logs."""
    got = [
        op
        for x in bricks
        for op, arg in x.calls
        if op in (ops or ("lookup",)) and name in (None, arg)
    ]
    for x in bricks:
        x.calls.clear()
    return got


def test_lookup_optimize_trusts_the_hashed_brick_where_the_commit_hashes_agree() -> None:
    """DHT's lookup-optimize: in a directory whose layout carries the volume's commit hash (0
    when the root has no ``trusted.glusterfs.dht.commithash``, as mkdir writes it) a new file is
    one exclusive CREATE on the brick its name hashes to, with no LOOKUP, and a missing name is
    one LOOKUP; where the hashes differ (the root's self-healed layout, commit hash 1; a
    rebalanced volume whose root says 7) or with ``lookup_optimize`` off, a missing name is
    looked up on every brick. A directory made on the rebalanced volume gets its hash, 7."""
    vol, bricks = make_volume(3)
    vol.mkdir("/d")
    dgfid = bricks[0].inodes[ROOT_GFID].children["d"]
    assert {
        dht.parse_layout(x.inodes[dgfid].xattrs[dht.LAYOUT_XATTR]).commit_hash for x in bricks
    } == {0}
    fresh = _fresh_volume_on(bricks)
    fresh.miss_trust = 3600.0  # directories stay current however slow this machine is
    assert not fresh.exists("/d/warm") and not fresh.exists("/warm")  # layouts read
    _lookups(bricks)
    with fresh.open("/d/new", "wb") as f:
        f.write(b"x")
    assert _lookups(bricks, "lookup", "create") == ["create"]
    assert where(bricks, "d", "new") == [fresh._hashed(fresh._resolve("/d"), "/d", "new", "")]
    # a name missing from a directory just looked up is missing (one try)
    assert not fresh.exists("/d/none")
    assert _lookups(bricks, name="none") == ["lookup"]
    assert not fresh.exists("/none")  # the root: commit hash 1
    assert _lookups(bricks, name="none") == ["lookup"] * 3
    off = _fresh_volume_on(bricks)
    off.lookup_optimize = False
    off.miss_trust = 3600.0
    assert not off.exists("/d/warm")
    _lookups(bricks)
    assert not off.exists("/d/none")
    assert _lookups(bricks, name="none") == ["lookup"] * 3
    for x in bricks:
        x.inodes[ROOT_GFID].xattrs[dht.COMMITHASH_XATTR] = b"7\0"
    moved = _fresh_volume_on(bricks)
    moved.miss_trust = 3600.0
    assert not moved.exists("/d/warm")
    _lookups(bricks)
    assert not moved.exists("/d/none")
    assert _lookups(bricks, name="none") == ["lookup"] * 3
    moved.mkdir("/e")
    egfid = bricks[0].inodes[ROOT_GFID].children["e"]
    assert {
        dht.parse_layout(x.inodes[egfid].xattrs[dht.LAYOUT_XATTR]).commit_hash for x in bricks
    } == {7}
    _lookups(bricks)
    assert not moved.exists("/e/none")
    assert _lookups(bricks, name="none") == ["lookup"]


def test_write_bytes_writes_from_the_callers_buffer_and_a_short_write_is_eio() -> None:
    """``write_bytes`` of 4 KiB is one CREATE and one WRITE of exactly those bytes (no 1 MiB
    buffer in between), data over max_write goes in max_write WRITEs, empty data makes an
    empty file with no WRITE, and a WRITE that takes fewer bytes than sent is EIO, not a
    silent short count."""
    vol, (b,) = make_volume(max_write=64 << 10)
    small, big = os.urandom(4096), os.urandom(3 * (64 << 10) + 1)
    real = b.write_wait
    sources: list[object] = []

    def seen(gfid: bytes, fd: int, offset: int, data: Any) -> Any:
        sources.append(memoryview(data).obj)
        return real(gfid, fd, offset, data)

    b.write_wait = seen  # type: ignore[method-assign]
    b.calls.clear()
    assert vol.write_bytes("/s", small) == 4096
    assert sources == [small]  # the caller's bytes object itself, not a copy in a buffer
    assert [c for c in b.calls if c[0] in ("create", "write")] == [
        ("create", "s"),
        ("write", (0, 4096)),
    ]
    assert vol.write_bytes("/b", bytearray(big)) == len(big)
    assert read_by_file(vol, "/b") == big and read_by_file(vol, "/s") == small
    b.calls.clear()
    assert vol.write_bytes("/e", b"") == 0
    assert [c[0] for c in b.calls if c[0] == "write"] == []

    def short(gfid: bytes, fd: int, offset: int, data: Any) -> Any:
        rsp = real(gfid, fd, offset, data)
        return fops.GfxCommon2IattRsp(op_ret=rsp.op_ret - 1)

    b.write_wait = short  # type: ignore[method-assign]
    with pytest.raises(OSError) as info:
        vol.write_bytes("/short", small)
    assert info.value.errno == errno.EIO
