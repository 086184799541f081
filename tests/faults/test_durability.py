"""Durability of a gfrpc brick killed with SIGKILL (issue 6, section 4).

Rules checked:

* every byte a client wrote and fsynced, with the reply received, reads back after ``kill -9``
  and a restart, under the same gfid and the same name;
* a ``kill -9`` during concurrent creates and renames leaves a brick where every acknowledged
  entry is found by LOOKUP, and where nothing left half-done (an entry without gfid or handle,
  a handle without entry, a stale directory handle) breaks a later operation: creating the same
  name again, creating with the orphan's gfid as ``gfid-req``, or ``rm -r`` of the tree.

Orphans are not swept at start-up: posix's start-up only empties ``.glusterfs/unlink`` (which
gfrpc does not use); a half-made entry is repaired at its next lookup and an orphaned handle is
stale, so whatever wants its gfid or name replaces it (see ``store.py``, "Orphans after a
crash"). ``test_crash_leftovers_do_not_break_later_operations`` builds each such leftover on
disk, so the rule is checked whatever moment the random kill happens to hit.
"""

from __future__ import annotations

import errno
import hashlib
import os
import random
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from durability_support import ROOT, BrickProcess, RawClient

from gfrpc.transport import Poller, make_poller


@pytest.fixture
def poller() -> Iterator[Poller]:
    p = make_poller("single")
    p.start()
    yield p
    p.stop()


@pytest.fixture
def brick(xattr_dir: Path) -> Iterator[BrickProcess]:
    b = BrickProcess(xattr_dir, xattr_dir.parent / "brick.log")
    yield b
    b.stop()


def _gfid(rsp: object) -> bytes:
    return bytes(rsp.prestat.ia_gfid)  # type: ignore[attr-defined]


# -- 1. fsynced data survives kill -9 ---------------------------------------------------------


@pytest.mark.timeout(180)
def test_fsynced_writes_survive_kill_9(brick: BrickProcess, poller: Poller) -> None:
    """200 files written and fsynced (reply received) read back byte for byte (sha256) under
    the same gfid and name after kill -9 and a restart; the kill lands while another client is
    still writing."""
    rng = random.Random(6)
    brick.start()
    c = RawClient(brick, poller)
    d = c.mkdir(ROOT, "data", uuid.uuid4().bytes)
    assert d.op_ret == 0
    dgfid = bytes(d.stat.ia_gfid)
    acked: dict[str, tuple[bytes, str, int]] = {}
    for i in range(200):
        size = rng.choice((1, 511, 4096, 65536, 65537, 131_072))
        data = rng.randbytes(size)
        want = uuid.uuid4().bytes
        r = c.create(dgfid, f"f{i:03d}", want)
        assert r.op_ret == 0 and bytes(r.stat.ia_gfid) == want, r
        assert c.write(want, r.fd, 0, data).op_ret == size
        assert c.fsync(want, r.fd).op_ret == 0
        acked[f"f{i:03d}"] = (want, hashlib.sha256(data).hexdigest(), size)
        if i % 2:  # half of them are still open when the brick dies
            c.release(want, r.fd)

    busy = threading.Event()
    stop = threading.Event()

    def keep_writing() -> None:
        w = RawClient(brick, poller, frame_timeout=10)
        try:
            n = 0
            while not stop.is_set():
                r = w.create(dgfid, f"late{n}")
                if r.op_ret != 0:
                    return
                w.write(bytes(r.stat.ia_gfid), r.fd, 0, rng.randbytes(100_000))
                n += 1
                if n >= 3:
                    busy.set()
        except OSError:
            return  # the brick died under us: expected
        finally:
            busy.set()
            w.close()

    t = threading.Thread(target=keep_writing, name="late-writer")
    t.start()
    assert busy.wait(60)
    brick.kill9()
    stop.set()
    t.join(60)
    assert not t.is_alive()
    c.close()

    brick.start()
    c = RawClient(brick, poller)
    try:
        lk = c.lookup(ROOT, "data")
        assert (lk.op_ret, _gfid(lk)) == (0, dgfid)
        for name, (gfid, digest, size) in acked.items():
            by_name = c.lookup(dgfid, name)
            assert (by_name.op_ret, _gfid(by_name)) == (0, gfid), name
            by_gfid = c.lookup_gfid(gfid)
            assert (by_gfid.op_ret, by_gfid.prestat.ia_size) == (0, size), name
            data = c.read_all(gfid)
            assert hashlib.sha256(data).hexdigest() == digest, name
    finally:
        c.close()


# -- 2. kill -9 during concurrent creates and renames -------------------------------------------


@dataclass
class Worker:
    """What one worker did: every gfid it asked for, and which operations were acknowledged.
    Each round: CREATE f<r> (gfid F) ; RENAME f<r> -> cur (replacing the last round's file) ;
    MKDIR d<r> (gfid D) ; RENAME d<r> -> e<r>."""

    index: int
    dir_gfid: bytes = b""
    files: list[bytes] = field(default_factory=list)
    dirs: list[bytes] = field(default_factory=list)
    acked: list[tuple[str, int]] = field(default_factory=list)  # (op, round)

    def done(self, op: str, r: int) -> bool:
        return (op, r) in self.acked


def _work(w: Worker, client: RawClient, acks: threading.Semaphore, stop: threading.Event) -> None:
    par = w.dir_gfid
    try:
        r = 0
        while not stop.is_set():
            w.files.append(uuid.uuid4().bytes)
            rsp = client.create(par, f"f{r}", w.files[r])
            if rsp.op_ret != 0:
                return
            client.write(w.files[r], rsp.fd, 0, b"x" * 1000)
            client.release(w.files[r], rsp.fd)
            w.acked.append(("create", r))
            acks.release()
            if client.rename(par, f"f{r}", par, "cur").op_ret != 0:
                return
            w.acked.append(("rename", r))
            acks.release()
            w.dirs.append(uuid.uuid4().bytes)
            if client.mkdir(par, f"d{r}", w.dirs[r]).op_ret != 0:
                return
            w.acked.append(("mkdir", r))
            acks.release()
            if client.rename(par, f"d{r}", par, f"e{r}").op_ret != 0:
                return
            w.acked.append(("rendir", r))
            acks.release()
            r += 1
    except OSError:
        return  # ENOTCONN / timeout once the brick is killed


def _names_of(c: RawClient, par: bytes, names: list[str]) -> dict[str, bytes]:
    out = {}
    for n in names:
        lk = c.lookup(par, n)
        if lk.op_ret == 0:
            out[n] = _gfid(lk)
        else:
            assert lk.op_errno == errno.ENOENT, (n, lk.op_errno)
    return out


def _check_worker(c: RawClient, w: Worker) -> set[bytes]:
    """Every acknowledged entry of ``w`` is found; returns the gfids that have a name."""
    rounds = len(w.files)
    names = ["cur"] + [f"{p}{r}" for r in range(rounds) for p in ("f", "d", "e")]
    found = _names_of(c, w.dir_gfid, names)
    for r in range(rounds):
        f = w.files[r]
        if w.done("create", r) and not w.done("create", r + 1):
            # the newest acknowledged file: at f<r>, or at cur if its rename happened
            assert found.get(f"f{r}") == f or found.get("cur") == f, (w.index, r)
        if w.done("rename", r):
            assert f"f{r}" not in found, (w.index, r)
            if not w.done("rename", r + 1):  # the newest acknowledged rename onto cur
                later = [w.files[x] for x in (r, r + 1) if x < rounds]
                assert found.get("cur") in later, (w.index, r)
        if w.done("mkdir", r):
            d = w.dirs[r]
            if w.done("rendir", r):
                assert found.get(f"e{r}") == d and f"d{r}" not in found, (w.index, r)
            else:
                assert d in (found.get(f"d{r}"), found.get(f"e{r}")), (w.index, r)
            assert c.lookup_gfid(d).op_ret == 0, (w.index, r)  # nameless works after lookup
    for gfid in found.values():
        assert c.lookup_gfid(gfid).op_ret == 0
    return set(found.values())


def _orphans_do_not_break_later_ops(c: RawClient, workers: list[Worker], live: set[bytes]) -> int:
    """Every gfid a worker asked for that no name carries now can be asked for again by a new
    creation; every name can be created again once removed; rm -r of the tree works. Returns
    how many gfids were reused."""
    m = c.mkdir(ROOT, "reuse", uuid.uuid4().bytes)
    assert m.op_ret == 0
    reuse = bytes(m.stat.ia_gfid)
    reused = 0
    for w in workers:
        for kind, gfids in (("file", w.files), ("dir", w.dirs)):
            for i, g in enumerate(gfids):
                name = f"w{w.index}-{kind}{i}"
                if g in live:
                    rsp = c.create(reuse, name, g) if kind == "file" else c.mkdir(reuse, name, g)
                    assert (rsp.op_ret, rsp.op_errno) == (-1, errno.EEXIST), name
                    continue
                if kind == "file":
                    rsp = c.create(reuse, name, g)
                    assert rsp.op_ret == 0, (name, rsp.op_errno)
                    c.release(g, rsp.fd)
                else:
                    rsp = c.mkdir(reuse, name, g)
                    assert rsp.op_ret == 0, (name, rsp.op_errno)
                assert bytes(rsp.stat.ia_gfid) == g
                assert _gfid(c.lookup_gfid(g)) == g
                reused += 1
        # the same names again: remove what is there, create anew
        par = w.dir_gfid
        for n in c.listdir(par):
            c.remove_tree(par, n)
        for n in ("f0", "cur"):
            rsp = c.create(par, n)
            assert rsp.op_ret == 0, (w.index, n, rsp.op_errno)
            c.release(bytes(rsp.stat.ia_gfid), rsp.fd)
        assert c.mkdir(par, "d0").op_ret == 0
    c.remove_tree(ROOT, "tree")
    c.remove_tree(ROOT, "reuse")
    assert c.listdir(ROOT) == []
    return reused


WORKERS = 50
CONNECTIONS = 5


@pytest.mark.timeout(240)
def test_kill_9_during_concurrent_creates_and_renames(brick: BrickProcess, poller: Poller) -> None:
    """kill -9 while 50 workers create, rename over each other's leftovers, mkdir and rename
    directories: after a restart every acknowledged entry is found by name and by gfid, and
    no orphan breaks a creation of the same name, a creation with the orphan's gfid, or rm -r."""
    brick.start()
    setup = RawClient(brick, poller)
    tree = setup.mkdir(ROOT, "tree", uuid.uuid4().bytes)
    assert tree.op_ret == 0
    tgfid = bytes(tree.stat.ia_gfid)
    workers = [Worker(i) for i in range(WORKERS)]
    for w in workers:
        m = setup.mkdir(tgfid, f"w{w.index}", uuid.uuid4().bytes)
        assert m.op_ret == 0
        w.dir_gfid = bytes(m.stat.ia_gfid)
    setup.close()
    clients = [RawClient(brick, poller, frame_timeout=20) for _ in range(CONNECTIONS)]
    acks = threading.Semaphore(0)
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=_work,
            args=(w, clients[w.index % CONNECTIONS], acks, stop),
            name=f"worker-{w.index}",
        )
        for w in workers
    ]
    for t in threads:
        t.start()
    for _ in range(300):  # kill once 300 operations were acknowledged, mid-flight
        assert acks.acquire(timeout=60), brick.tail()
    brick.kill9()
    stop.set()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    for cl in clients:
        cl.close()

    brick.start()
    c = RawClient(brick, poller)
    try:
        live: set[bytes] = set()
        for w in workers:
            live |= _check_worker(c, w)
        reused = _orphans_do_not_break_later_ops(c, workers, live)
        assert reused > 0
    finally:
        c.close()


# -- 3. every leftover a kill can leave, built on disk ---------------------------------------------


def _handle(brick: Path, gfid: bytes) -> Path:
    s = str(uuid.UUID(bytes=gfid))
    return brick / ".glusterfs" / s[0:2] / s[2:4] / s


@pytest.mark.timeout(120)
def test_crash_leftovers_do_not_break_later_operations(brick: BrickProcess, poller: Poller) -> None:
    """Each state a kill -9 can leave between two steps of an entry operation (entry without
    gfid; entry with gfid but no handle; handle whose entry is gone, for a file and a symlink;
    directory handle still naming the old place of a renamed directory; a replaced file whose
    handle was not yet removed; a half-written directory-handle temp link) is repaired or
    replaced by the next operation that meets it."""
    brick.start()
    c = RawClient(brick, poller)
    made = {n: c.create(ROOT, n, uuid.uuid4().bytes) for n in ("gone", "victim", "keep")}
    for r in made.values():
        assert r.op_ret == 0
        c.release(bytes(r.stat.ia_gfid), r.fd)
    gone, victim, keep = (bytes(made[n].stat.ia_gfid) for n in ("gone", "victim", "keep"))
    sl = c.symlink(ROOT, "sl", "target", uuid.uuid4().bytes)
    assert sl.op_ret == 0
    slg = bytes(sl.stat.ia_gfid)
    moved = c.mkdir(ROOT, "moved", uuid.uuid4().bytes)
    assert moved.op_ret == 0
    movedg = bytes(moved.stat.ia_gfid)
    assert c.create(movedg, "inner").op_ret == 0
    c.close()
    brick.stop()

    d = brick.directory
    (d / "no-gfid").write_bytes(b"made, then killed before trusted.gfid")
    (d / "no-gfid-dir").mkdir(mode=0o700)
    (d / "no-handle").write_bytes(b"gfid set, killed before the handle")
    nohandle = uuid.uuid4().bytes
    os.setxattr(d / "no-handle", "trusted.gfid", nohandle)
    os.unlink(d / "gone")  # unlink killed before the handle went
    os.unlink(d / "sl")
    os.rename(d / "keep", d / "victim")  # rename over a victim, killed before its handle went
    os.rename(d / "moved", d / "moved2")  # directory rename killed before its handle moved
    hdir = _handle(d, movedg).parent
    os.symlink(
        "../../00/00/00000000-0000-0000-0000-000000000001/x",
        hdir / f".{uuid.UUID(bytes=movedg)}.{uuid.uuid4().hex}",
    )  # temp link
    for g in (gone, slg, victim):
        assert os.lstat(_handle(d, g)).st_nlink == 1  # truly orphaned

    brick.start()
    c = RawClient(brick, poller)
    try:
        # lookups repair half-made entries and the moved directory's handle
        for n in ("no-gfid", "no-gfid-dir", "no-handle", "moved2"):
            lk = c.lookup(ROOT, n)
            assert lk.op_ret == 0, (n, lk.op_errno)
            assert c.lookup_gfid(_gfid(lk)).op_ret == 0, n
        assert _gfid(c.lookup(ROOT, "no-handle")) == nohandle
        assert _gfid(c.lookup(ROOT, "moved2")) == movedg
        assert c.lookup(movedg, "inner").op_ret == 0
        assert _gfid(c.lookup(ROOT, "victim")) == keep
        # orphaned handles give their gfid to whoever asks for it
        for i, g in enumerate((gone, slg, victim)):
            r = c.create(ROOT, f"heir{i}", g)
            assert (r.op_ret, bytes(r.stat.ia_gfid)) == (0, g), i
            c.release(g, r.fd)
            assert c.read_all(g) == b""
        # the same names again
        for n in ("gone", "sl", "moved"):
            r = c.create(ROOT, n)
            assert r.op_ret == 0, n
            c.release(bytes(r.stat.ia_gfid), r.fd)
        # a directory may be made again under the moved directory's old name, and rm -r works
        assert c.mkdir(ROOT, "moved-again").op_ret == 0
        for n in c.listdir(ROOT):
            c.remove_tree(ROOT, n)
        assert c.listdir(ROOT) == []
        assert not [p for p in d.iterdir() if p.name != ".glusterfs"]
    finally:
        c.close()
