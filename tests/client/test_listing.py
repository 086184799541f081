"""Streaming listings (gfrpc.client.listing): ``Volume.scandir`` one READDIRP reply at a time,
its DirEntry stats, fd release, DHT merging, and ``Volume.walk`` against ``os.walk``."""

from __future__ import annotations

import errno
import os
import posixpath
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from client_support import brick_port, distribute_volfile, start_brick

from gfrpc.client import Volume
from gfrpc.programs.fops import FopProc
from gfrpc.testing.waiting import wait_for

pytestmark = pytest.mark.timeout(60)

N_BIG = 5000


@pytest.fixture
def one(tmp_path: Path) -> Iterator[Volume]:
    server = start_brick(tmp_path / "b", "lv")
    try:
        with Volume.connect_brick(
            "127.0.0.1", brick_port(server), str(tmp_path / "b"), "lv", poller="single"
        ) as vol:
            yield vol
    finally:
        server.stop()


@pytest.fixture
def brick_process(tmp_path: Path) -> Iterator[tuple[Volume, Path]]:
    """A Volume on a gfrpc brick in another process (so that tracemalloc sees the client only,
    and the brick has its own core), its directory on tmpfs when there is one (fast set-up)."""
    shm = Path("/dev/shm")
    base = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path
    brick, log = base / "pb", tmp_path / "pb.log"
    brick.mkdir()
    argv = [sys.executable, "-m", "gfrpc.cli", "brick", "--dir", str(brick), "--port", "0"]
    argv += ["--host", "127.0.0.1", "--volname", "lv", "--poller", "single"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        found: list[int] = []

        def ready() -> bool:
            m = re.search(r"ready on 127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
            assert proc.poll() is None, log.read_text()
            if m:
                found.append(int(m.group(1)))
            return bool(m)

        wait_for(ready, 30.0, "the brick process's 'ready' line")
        with Volume.connect_brick("127.0.0.1", found[0], str(brick), "lv", poller="single") as vol:
            yield vol, brick
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if base != tmp_path:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def two(tmp_path: Path) -> Iterator[Volume]:
    dirs = [tmp_path / "b0", tmp_path / "b1"]
    servers = [start_brick(d, "ldv") for d in dirs]
    try:
        volfile = distribute_volfile("ldv", [brick_port(s) for s in servers], dirs)
        with Volume.from_volfile(volfile, volname="ldv", poller="single") as vol:
            yield vol
    finally:
        for s in servers:
            s.stop()


class Recorder:
    """Wraps a BrickConnection's directory calls to record them (and what was consumed)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.calls: list[str] = []
        self.reply_sizes: list[int] = []
        self.consumed_at_call: list[int] = []
        self.consumed = 0
        self._readdirp, self._opendir, self._release = conn.readdirp, conn.opendir, conn.release
        self._fop = conn.fop
        conn.readdirp, conn.opendir, conn.release, conn.fop = (
            self.readdirp,
            self.opendir,
            self.release,
            self.fop,
        )

    def readdirp(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("READDIRP")
        self.consumed_at_call.append(self.consumed)
        out = self._readdirp(*args, **kwargs)
        self.reply_sizes.append(len(out))
        return out

    def opendir(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("OPENDIR")
        return self._opendir(*args, **kwargs)

    def release(self, gfid: bytes, fd: int, *, directory: bool = False) -> None:
        self.calls.append("RELEASEDIR" if directory else "RELEASE")
        self._release(gfid, fd, directory=directory)

    def fop(self, proc: Any, *args: Any, **kwargs: Any) -> Any:
        if proc not in (FopProc.READDIRP, FopProc.OPENDIR):
            self.calls.append(FopProc(proc).name)
        return self._fop(proc, *args, **kwargs)

    def undo(self) -> None:
        for name in ("readdirp", "opendir", "release", "fop"):
            delattr(self.conn, name)


def test_scandir_holds_one_batch_of_a_5000_entry_directory(
    brick_process: tuple[Volume, Path],
) -> None:
    """Listing 5,000 entries with small READDIRP replies: every reply is asked for only once
    the previous one was consumed (one batch in memory, ``peak_buffered`` = the largest
    reply), and the client's peak traced memory while streaming stays under 256 KiB (a list
    of the same 5,000 DirEntries takes about 5 MB)."""
    one, brick = brick_process
    one.mkdir("/big")
    names = [f"file-{i:05d}" for i in range(N_BIG)]
    for name in names:  # made in the brick's directory: the brick lists what is on its disk
        (brick / "big" / name).touch()

    rec = Recorder(one.bricks[0])
    try:
        seen = []
        with one.scandir("/big", batch_bytes=4096) as it:
            for e in it:
                rec.consumed += 1
                seen.append(e.name)
            peak, batches = it.peak_buffered, it.batches
    finally:
        rec.undo()
    assert sorted(seen) == names
    sizes = rec.reply_sizes
    assert sum(sizes) == N_BIG + 2  # . and .. come in the first reply
    assert batches == len([n for n in sizes if n]) > 50
    assert peak == max(sizes) < 100
    # the k-th READDIRP is sent when exactly the entries of the replies before it were handed out
    for k, at in enumerate(rec.consumed_at_call):
        assert at == max(sum(sizes[:k]) - 2, 0), (k, at)

    tracemalloc.start()
    try:
        assert sum(1 for _ in one.scandir("/big", batch_bytes=4096)) == N_BIG
        peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak_bytes < 256 * 1024, peak_bytes


def test_entries_carry_their_stat_and_the_fd_is_released(one: Volume) -> None:
    """DirEntry's stat, inode, is_dir/is_file/is_symlink come from READDIRP (no STAT or
    LOOKUP while listing) and equal lstat's; OPENDIR is matched by RELEASEDIR when the
    iterator is exhausted, closed early, or left by a ``with`` block."""
    one.mkdir("/d")
    one.mkdir("/d/sub")
    one.write_bytes("/d/f", b"12345")
    one.symlink("f", "/d/ln")
    one.symlink("sub", "/d/dirln")
    want = {n: one.lstat(f"/d/{n}") for n in ("sub", "f", "ln", "dirln")}

    rec = Recorder(one.bricks[0])
    try:
        entries = {e.name: e for e in one.scandir("/d")}  # exhausted
        assert rec.calls == ["OPENDIR", "READDIRP", "READDIRP", "RELEASEDIR"]
        for name, st in want.items():
            e = entries[name]
            assert e.path == f"/d/{name}" and os.fspath(e) == e.path
            assert e.stat() == st and e.inode() == st.st_ino
            assert e.is_symlink() == stat.S_ISLNK(st.st_mode)
        assert entries["f"].is_file() and not entries["f"].is_dir()
        assert entries["sub"].is_dir() and not entries["sub"].is_file()
        assert rec.calls[-1] == "RELEASEDIR"  # nothing asked about non-links
        # links are followed like os.DirEntry: one STAT each, then cached
        assert entries["dirln"].is_dir() and not entries["dirln"].is_dir(follow_symlinks=False)
        assert entries["ln"].is_file() and entries["ln"].stat(follow_symlinks=True).st_size == 5
        assert entries["ln"].is_file()
        assert rec.calls.count("STAT") == 2

        rec.calls.clear()
        it = one.scandir("/d", batch_bytes=64)
        next(it)
        it.close()
        it.close()  # idempotent
        assert list(it) == []
        assert _one_pass(rec.calls)

        rec.calls.clear()
        with one.scandir("/d", batch_bytes=64) as it:
            next(it)
        assert _one_pass(rec.calls)

        rec.calls.clear()  # dropped before its end: released from another thread, soon
        it = one.scandir("/d", batch_bytes=64)
        next(it)
        del it
        wait_for(
            lambda: rec.calls[-1:] == ["RELEASEDIR"], 10.0, "the dropped iterator's RELEASEDIR"
        )
        assert _one_pass(rec.calls)
    finally:
        rec.undo()


def _one_pass(calls: list[str]) -> bool:
    """OPENDIR, some READDIRPs (at least one, fewer than the 6 a full pass takes), RELEASEDIR."""
    middle = calls[1:-1]
    return (
        calls[0] == "OPENDIR"
        and calls[-1] == "RELEASEDIR"
        and 1 <= len(middle) < 6
        and set(middle) == {"READDIRP"}
    )


def test_scandir_errors_come_at_the_call(one: Volume) -> None:
    """A missing path is FileNotFoundError and a file NotADirectoryError when scandir is
    called (as os.scandir), with no fd left open."""
    one.write_bytes("/file", b"x")
    with pytest.raises(FileNotFoundError):
        one.scandir("/nope")
    with pytest.raises(NotADirectoryError):
        one.scandir("/file")
    with pytest.raises(OSError) as info:
        one.listdir("/file")
    assert info.value.errno == errno.ENOTDIR


def test_distribute_listing_merges_bricks_without_linktos_or_duplicate_dirs(two: Volume) -> None:
    """On two bricks: files of both bricks are listed once each, directories (which exist on
    both) once, and DHT linkto files (left by renames to a name hashing elsewhere) never; every
    brick's fd is released."""
    vol = two
    vol.mkdir("/m")
    model = set()
    for i in range(40):
        vol.write_bytes(f"/m/f{i}", b"x")
        model.add(f"f{i}")
    for i in range(5):
        vol.mkdir(f"/m/d{i}")
        model.add(f"d{i}")
    for i in range(0, 40, 2):  # renames: some leave a linkto on the new name's hashed brick
        vol.rename(f"/m/f{i}", f"/m/r{i}")
        model.discard(f"f{i}")
        model.add(f"r{i}")
    on_brick = [vol.bricks[i] for i in range(2)]
    recs = [Recorder(c) for c in on_brick]
    try:
        names = [e.name for e in vol.scandir("/m", batch_bytes=512)]
    finally:
        for r in recs:
            r.undo()
    assert sorted(names) == sorted(model)
    for r in recs:
        assert r.calls.count("OPENDIR") == r.calls.count("RELEASEDIR") == 1
    assert all(sum(r.reply_sizes) > 2 for r in recs)  # both bricks held entries


def _make_tree(vol: Volume, local: Path) -> None:
    """The same small tree on the volume and in a local directory (with a link to a dir)."""
    for d in ("a", "a/b", "a/b/c", "e", "e/f"):
        vol.mkdir(f"/t/{d}")
        (local / d).mkdir()
    for f in ("top.txt", "a/x", "a/b/y", "a/b/c/z", "e/f/w"):
        vol.write_bytes(f"/t/{f}", b"data")
        (local / f).write_bytes(b"data")
    vol.symlink("../e", "/t/a/toe")
    (local / "a" / "toe").symlink_to("../e")


def _rel(root: str, rows: list[tuple[str, list[str], list[str]]]) -> list[tuple[str, ...]]:
    return [(posixpath.relpath(p, root), tuple(sorted(d)), tuple(sorted(f))) for p, d, f in rows]


@pytest.mark.parametrize("followlinks", [False, True])
@pytest.mark.parametrize("topdown", [True, False])
def test_walk_matches_os_walk(
    one: Volume, tmp_path: Path, topdown: bool, followlinks: bool
) -> None:
    """Volume.walk yields what os.walk yields for the same tree (top-down and bottom-up, with
    and without following links): a link to a directory is in dirnames, entered only with
    followlinks; top-down a parent comes before its children, bottom-up after them."""
    one.mkdir("/t")
    local = tmp_path / "local"
    local.mkdir()
    _make_tree(one, local)
    got = _rel("/t", list(one.walk("/t", topdown=topdown, followlinks=followlinks)))
    want = _rel(str(local), list(os.walk(local, topdown=topdown, followlinks=followlinks)))
    assert sorted(got) == sorted(want)
    order = [p for p, _, _ in got]
    for p in order:
        parent = posixpath.dirname(p)
        if p != "." and parent in order:
            before = order.index(parent) < order.index(p)
            assert before == topdown, (p, order)


@pytest.mark.parametrize("n_bricks", [1, 2])
def test_a_walk_looks_up_no_directory_a_listing_found(tmp_path: Path, n_bricks: int) -> None:
    """A listing's entries bring what a LOOKUP of them would, so a Volume that knows nothing
    enters every directory below a walk's top by the gfid its parent's READDIRP gave: the
    walk's LOOKUPs (its top, and the link it meets) do not grow with the directories it
    enters (one brick, and two with DHT)."""
    dirs = [tmp_path / f"b{i}" for i in range(n_bricks)]
    servers = [start_brick(d, "wv") for d in dirs]
    ports = [brick_port(s) for s in servers]
    try:

        def connect() -> Volume:
            if n_bricks == 1:
                return Volume.connect_brick("127.0.0.1", ports[0], str(dirs[0]), "wv")
            return Volume.from_volfile(distribute_volfile("wv", ports, dirs), volname="wv")

        def lookups_of_a_walk() -> tuple[int, int]:
            with connect() as vol:
                recs = [Recorder(c) for c in vol.bricks]
                entered = len(list(vol.walk("/t")))
                return entered, sum(r.calls.count("LOOKUP") for r in recs)

        with connect() as maker:
            maker.mkdir("/t")
            local = tmp_path / "local"
            local.mkdir()
            _make_tree(maker, local)
        entered, lookups = lookups_of_a_walk()
        with connect() as maker:
            for k in range(5):
                maker.makedirs(f"/t/a/b/more{k}/deeper")
        assert lookups_of_a_walk() == (entered + 10, lookups)
    finally:
        for s in servers:
            s.stop()


def test_listings_learn_directories_only_up_to_a_bound(
    one: Volume, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing adds the directories it finds to the path cache only while the cache holds
    fewer than LEARN_MAX paths: a brick that lists ever more directories cannot make the
    client keep them all (they are still listed, and resolved by LOOKUP when used)."""
    from gfrpc.client import namespace

    one.makedirs("/big")
    for i in range(20):
        one.mkdir(f"/big/d{i}")
    fresh = Volume.connect_brick(
        one.bricks[0].host, one.bricks[0].port, one.bricks[0].brick_path, "lv", poller="single"
    )
    with fresh:
        fresh.stat("/big")
        bound = len(fresh._cache) + 5
        monkeypatch.setattr(namespace, "LEARN_MAX", bound)
        assert len(fresh.listdir("/big")) == 20
        assert len(fresh._cache) == bound
        assert sorted(fresh.listdir("/big/d17")) == []  # an unlearned one: looked up


def test_walk_prunes_and_reports_errors(one: Volume, tmp_path: Path) -> None:
    """Top-down, names removed from dirnames are not entered; a missing top goes to onerror
    (and nothing is yielded), as with os.walk."""
    one.mkdir("/t")
    local = tmp_path / "local"
    local.mkdir()
    _make_tree(one, local)
    seen = []
    for path, dirs, _ in one.walk("/t"):
        seen.append(path)
        if "a" in dirs:
            dirs.remove("a")
    assert sorted(seen) == ["/t", "/t/e", "/t/e/f"]
    errors: list[OSError] = []
    assert list(one.walk("/missing", onerror=errors.append)) == []
    assert len(errors) == 1 and isinstance(errors[0], FileNotFoundError)
    assert list(one.walk("/missing")) == []
