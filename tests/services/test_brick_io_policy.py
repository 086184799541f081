"""Where the brick runs FOPs (``--io-threads``, ``--io-policy``): the rule is a measured policy,
and every policy serves the same FOPs with the same answers.

* ``--io-threads 0``: no pool; every FOP runs on the poller thread that read it.
* ``--io-policy slow`` (N > 0): FOPs that may block for long (``fops.MAY_BLOCK``: disk data,
  syncs, listings, removals) go to the io-threads, the rest run inline; a READ or WRITE of at
  most ``fops.INLINE_IO`` bytes (1 MiB) runs inline too, and so do an UNLINK, a RENAME, a
  TRUNCATE and an FTRUNCATE that free at most that much (the name they remove or replace, the
  end they cut off); RMDIR always runs inline.
* ``--io-policy all``: every FOP goes to the io-threads (the earlier rule).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from brick_fops_support import ROOT, P, running_brick

from gfrpc.errors import ConfigError
from gfrpc.programs import fops as fp
from gfrpc.services.brick import fops as brick_fops
from gfrpc.services.brick.fops import MAY_BLOCK
from gfrpc.services.brick.fops.entry import MAX_CONTENT
from gfrpc.services.brick.fops.inode import READDIR_MAX, READDIRP_XATTRS_MAX
from gfrpc.services.brick.fops.io import MAX_READ
from gfrpc.services.brick.fops.xattr import XATTROP_ADD_ARRAY, XATTROP_GET_AND_SET
from gfrpc.services.brick.server import inline_fops
from gfrpc.services.brick.store import ALL_XATTRS_MAX, NAMED_XATTRS_MAX, PosixStore

pytestmark = pytest.mark.timeout(60)


def test_slow_policy_inlines_exactly_what_cannot_block_long() -> None:
    """Rule: under ``slow`` the inline FOPs are all served FOPs but MAY_BLOCK; under ``all``
    none; an unknown policy is a ConfigError naming the choices."""
    assert inline_fops("slow") == frozenset(fp.PROCEDURES) - MAY_BLOCK
    assert {P.READ, P.WRITE, P.FSYNC, P.READDIRP, P.UNLINK, P.RENAME} <= MAY_BLOCK
    assert {P.LOOKUP, P.STAT, P.CREATE, P.OPEN, P.FLUSH, P.INODELK, P.RMDIR} <= inline_fops("slow")
    assert inline_fops("all") == frozenset()
    with pytest.raises(ConfigError, match="slow, all"):
        inline_fops("fast")


@pytest.fixture
def threads_seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, set[str]]]:
    """The names of the threads that ran each FOP's actor (STAT and READ watched)."""
    seen: dict[str, set[str]] = {"STAT": set(), "READ": set()}
    actors = dict(brick_fops.ACTORS)
    for proc in (P.STAT, P.READ):
        real = actors[proc]

        def watched(*args: object, _real: object = real, _name: str = proc.name) -> object:
            seen[_name].add(threading.current_thread().name)
            return _real(*args)  # type: ignore[operator]

        actors[proc] = watched  # type: ignore[assignment]
    monkeypatch.setattr(brick_fops, "ACTORS", actors)
    yield seen


@pytest.mark.parametrize(
    ("io", "stat_on_pool", "small_read_on_pool", "mib_read_on_pool", "big_read_on_pool"),
    [
        ((0, "slow"), False, False, False, False),
        ((4, "slow"), False, False, False, True),
        ((4, "all"), True, True, True, True),
    ],
    ids=["io-threads-0", "slow", "all"],
)
@pytest.mark.parametrize("poller", ["single", "pool", "own-thread"])
def test_each_policy_serves_a_file_life_cycle_on_the_threads_it_names(
    xattr_dir: Path,
    threads_seen: dict[str, set[str]],
    poller: str,
    io: tuple[int, str],
    stat_on_pool: bool,
    small_read_on_pool: bool,
    mib_read_on_pool: bool,
    big_read_on_pool: bool,
) -> None:
    """Rule: under every poller and policy, CREATE, WRITE, READ, STAT, RELEASE, UNLINK answer
    as always; STAT, a 5-byte READ, a READ asking for 1 MiB (inline under ``slow``) and one
    asking for 2 MiB (over ``fops.INLINE_IO``) run on an io-thread exactly when the policy
    says so."""
    io_threads, io_policy = io
    with running_brick(xattr_dir, poller, io_threads=io_threads, io_policy=io_policy) as brick:
        assert (brick.server.rpc.workers is None) == (io_threads == 0)
        c = brick.client()
        made = c.create(ROOT, "f")
        assert made.op_ret == 0, made
        gfid = bytes(made.stat.ia_gfid)
        assert c.write(gfid, made.fd, 0, b"hello").op_ret == 5
        rsp, data = c.read(gfid, made.fd, 0, 5)
        assert (rsp.op_ret, data) == (5, b"hello")
        small_read = set(threads_seen["READ"])
        threads_seen["READ"].clear()
        rsp, data = c.read(gfid, made.fd, 0, brick_fops.INLINE_IO)
        assert (rsp.op_ret, data) == (5, b"hello")
        mib_read = set(threads_seen["READ"])
        threads_seen["READ"].clear()
        rsp, data = c.read(gfid, made.fd, 0, 2 * brick_fops.INLINE_IO)
        assert (rsp.op_ret, data) == (5, b"hello")
        big_read = set(threads_seen["READ"])
        assert c.call(P.STAT, fp.GfxStatReq(gfid=gfid)).stat.ia_size == 5
        assert c.release(gfid, made.fd).op_ret == 0
        assert c.call(P.UNLINK, fp.GfxUnlinkReq(pargfid=ROOT, bname="f")).op_ret == 0

    def on_pool(threads: set[str]) -> bool:
        return any(t.startswith("gfrpc-rpc-worker") for t in threads)

    assert on_pool(threads_seen["STAT"]) is stat_on_pool, threads_seen
    assert on_pool(small_read) is small_read_on_pool, small_read
    assert on_pool(mib_read) is mib_read_on_pool, mib_read
    assert on_pool(big_read) is big_read_on_pool, big_read


def _thread_by_name(monkeypatch: pytest.MonkeyPatch, watch: dict[P, str]) -> dict[str, str]:
    """Which thread ran each watched FOP, by the name in its arguments: ``watch`` maps a FOP to
    the argument field that names its entry."""
    seen: dict[str, str] = {}
    actors = dict(brick_fops.ACTORS)
    for proc, field in watch.items():
        real = actors[proc]

        def watched(svc: object, call: object, _real: object = real, _field: str = field) -> object:
            seen[getattr(call.args, _field)] = threading.current_thread().name  # type: ignore[attr-defined]
            return _real(svc, call)  # type: ignore[operator]

        actors[proc] = watched  # type: ignore[assignment]
    monkeypatch.setattr(brick_fops, "ACTORS", actors)
    return seen


def _made(c: Any, name: str, size: int, *, release: bool = True) -> tuple[bytes, int]:
    """A new file ``name`` in the brick's root holding ``size`` bytes (written in 1 MiB
    records): its gfid and fd (released unless ``release`` is false)."""
    made = c.create(ROOT, name)
    gfid = bytes(made.stat.ia_gfid)
    for off in range(0, size, 1 << 20):
        chunk = b"x" * min(1 << 20, size - off)
        assert c.write(gfid, made.fd, off, chunk).op_ret == len(chunk)
    if release:
        assert c.release(gfid, made.fd).op_ret == 0
    return gfid, made.fd


@pytest.mark.parametrize("poller", ["single", "pool"])
def test_an_unlink_goes_to_the_io_threads_only_when_it_frees_much(
    xattr_dir: Path, monkeypatch: pytest.MonkeyPatch, poller: str
) -> None:
    """Rule (``slow``): an UNLINK runs on the poller thread unless it would free more than
    ``fops.INLINE_IO`` bytes, i.e. the last name of a bigger file: a 5-byte file, a missing
    name and a 2 MiB file that has another hard link run inline; the 2 MiB file's last name
    goes to an io-thread. Each answers as always."""
    seen = _thread_by_name(monkeypatch, {P.UNLINK: "bname"})

    def unlink(c: object, name: str) -> int:
        req = fp.GfxUnlinkReq(pargfid=ROOT, bname=name)
        return int(c.call(P.UNLINK, req).op_errno)  # type: ignore[attr-defined]

    with running_brick(xattr_dir, poller, io_threads=4, io_policy="slow") as brick:
        c = brick.client()
        _made(c, "small", 5)
        gfid, _ = _made(c, "big", 2 * brick_fops.INLINE_IO)
        link = fp.GfxLinkReq(oldgfid=gfid, newgfid=ROOT, newbname="alias")
        assert c.call(P.LINK, link).op_ret == 0
        assert [unlink(c, n) for n in ("small", "none", "big", "alias")] == [0, 2, 0, 0]

    def on_pool(name: str) -> bool:
        return seen[name].startswith("gfrpc-rpc-worker")

    assert [on_pool(n) for n in ("small", "none", "big", "alias")] == [False, False, False, True]


@pytest.mark.parametrize("poller", ["single", "pool"])
def test_a_rename_goes_to_the_io_threads_only_when_the_name_it_replaces_frees_much(
    xattr_dir: Path, monkeypatch: pytest.MonkeyPatch, poller: str
) -> None:
    """Rule (``slow``): a RENAME runs on the poller thread unless the name it replaces is the
    last name of a file of more than ``fops.INLINE_IO`` bytes: onto a new name, over a 5-byte
    file and over a 2 MiB file that has another hard link it runs inline; over the 2 MiB
    file's last name it goes to an io-thread. Each answers as always, and the replaced
    files are gone."""
    seen = _thread_by_name(monkeypatch, {P.RENAME: "newbname"})

    def rename(c: object, old: str, new: str) -> int:
        req = fp.GfxRenameReq(oldgfid=ROOT, newgfid=ROOT, oldbname=old, newbname=new)
        return int(c.call(P.RENAME, req).op_ret)  # type: ignore[attr-defined]

    with running_brick(xattr_dir, poller, io_threads=4, io_policy="slow") as brick:
        c = brick.client()
        for name, size in (("a", 1), ("b", 1), ("c", 1), ("small", 5)):
            _made(c, name, size)
        gfid, _ = _made(c, "big", 2 << 20)
        link = fp.GfxLinkReq(oldgfid=gfid, newgfid=ROOT, newbname="alias")
        assert c.call(P.LINK, link).op_ret == 0
        moves = (("a", "fresh"), ("b", "small"), ("c", "alias"), ("fresh", "big"))
        assert [rename(c, old, new) for old, new in moves] == [0, 0, 0, 0]
        listed = {e.name for e in brick.directory.iterdir()}
        assert {"small", "alias", "big"} <= listed
        assert not {"a", "b", "c", "fresh"} & listed

    def on_pool(name: str) -> bool:
        return seen[name].startswith("gfrpc-rpc-worker")

    assert [on_pool(n) for n in ("fresh", "small", "alias", "big")] == [False, False, False, True]


@pytest.mark.parametrize("poller", ["single", "pool"])
def test_a_truncation_goes_to_the_io_threads_only_when_it_frees_much(
    xattr_dir: Path, monkeypatch: pytest.MonkeyPatch, poller: str
) -> None:
    """Rule (``slow``): TRUNCATE and FTRUNCATE run on the poller thread unless they would
    free more than ``fops.INLINE_IO`` bytes: a 5-byte file cut to 0, a file grown to 4 MiB
    and a 2 MiB file cut by 10 bytes run inline; a 2 MiB file cut to 0 goes to an io-thread,
    by gfid and by fd alike. Each answers with the size asked."""
    seen: list[tuple[str, int, bool]] = []
    actors = dict(brick_fops.ACTORS)
    for proc in (P.TRUNCATE, P.FTRUNCATE):
        real = actors[proc]

        def watched(
            svc: object, call: object, _real: object = real, _name: str = proc.name
        ) -> object:
            pooled = threading.current_thread().name.startswith("gfrpc-rpc-worker")
            seen.append((_name, call.args.offset, pooled))  # type: ignore[attr-defined]
            return _real(svc, call)  # type: ignore[operator]

        actors[proc] = watched  # type: ignore[assignment]
    monkeypatch.setattr(brick_fops, "ACTORS", actors)
    big = 2 << 20

    with running_brick(xattr_dir, poller, io_threads=4, io_policy="slow") as brick:
        c = brick.client()

        def cut(gfid: bytes, size: int, fd: int | None = None) -> int:
            if fd is None:
                rsp = c.call(P.TRUNCATE, fp.GfxTruncateReq(gfid=gfid, offset=size))
            else:
                req = fp.GfxFtruncateReq(gfid=gfid, fd=fd, offset=size)
                rsp = c.call(P.FTRUNCATE, req)
            assert rsp.op_ret == 0, rsp
            return int(rsp.poststat.ia_size)

        small, small_fd = _made(c, "small", 5, release=False)
        grown, _ = _made(c, "grown", 5, release=False)
        by_gfid, _ = _made(c, "big", big, release=False)
        by_fd, fd = _made(c, "big-fd", big, release=False)
        sizes = [
            cut(small, 0, small_fd),
            cut(grown, 4 << 20),
            cut(by_gfid, big - 10),
            cut(by_gfid, 0),
            cut(by_fd, 0, fd),
        ]
        assert sizes == [0, 4 << 20, big - 10, 0, 0]

    assert seen == [
        ("FTRUNCATE", 0, False),
        ("TRUNCATE", 4 << 20, False),
        ("TRUNCATE", big - 10, False),
        ("TRUNCATE", 0, True),
        ("FTRUNCATE", 0, True),
    ]


@pytest.mark.parametrize("poller", ["single", "pool"])
def test_rmdir_runs_on_the_poller_thread(
    xattr_dir: Path, monkeypatch: pytest.MonkeyPatch, poller: str
) -> None:
    """Rule (``slow``): RMDIR runs on the poller thread, of an empty directory (removed) and
    of a full one (ENOTEMPTY at once), and so does the RENAME of a directory to a new name."""
    seen = _thread_by_name(monkeypatch, {P.RENAME: "newbname", P.RMDIR: "bname"})

    def rmdir(c: object, name: str) -> int:
        req = fp.GfxRmdirReq(pargfid=ROOT, bname=name)
        return int(c.call(P.RMDIR, req).op_errno)  # type: ignore[attr-defined]

    with running_brick(xattr_dir, poller, io_threads=4, io_policy="slow") as brick:
        c = brick.client()
        assert c.mkdir(ROOT, "empty").op_ret == 0
        full = bytes(c.mkdir(ROOT, "full").stat.ia_gfid)
        assert c.mkdir(full, "inside").op_ret == 0
        assert [rmdir(c, d) for d in ("empty", "full")] == [0, 39]  # ENOTEMPTY
        req = fp.GfxRenameReq(oldgfid=ROOT, newgfid=ROOT, oldbname="full", newbname="moved")
        assert c.call(P.RENAME, req).op_ret == 0

    def on_pool(name: str) -> bool:
        return seen[name].startswith("gfrpc-rpc-worker")

    assert [on_pool(n) for n in ("empty", "full", "moved")] == [False, False, False]


def test_the_unlink_rule_reads_hostile_arguments_safely(store: PosixStore, brick: Path) -> None:
    """Rule: the UNLINK, RENAME and truncation predicates run before any check of the request,
    so whatever a client sends only picks a thread: truncated arguments, a name length past
    the record or past NAME_MAX, a name with '/', '..', or one that reaches outside the brick,
    an unknown or null gfid: all run inline (the FOP itself then refuses them), and they
    never look at a file outside the brick (a big file beside the brick is not seen)."""
    svc = brick_fops.FopService(store)
    outside = brick.parent / f"{brick.name}-outside"
    with open(outside, "wb") as f:
        f.write(b"x" * (2 * brick_fops.INLINE_IO))  # allocated, big
    try:

        def args(pargfid: bytes, name: bytes, length: int | None = None) -> memoryview:
            n = len(name) if length is None else length
            pad = b"\0" * (-len(name) % 4)
            return memoryview(pargfid + n.to_bytes(4, "big") + name + pad + bytes(12))

        cases = [
            memoryview(b""),
            memoryview(ROOT[:10]),
            args(ROOT, b"x", length=1 << 31),
            args(ROOT, b"y" * 300),
            args(ROOT, b"a/b"),
            args(ROOT, b".."),
            args(ROOT, f"../{outside.name}".encode()),
            args(b"\x07" * 16, b"f"),
        ]
        assert all(svc._unlink_frees_little(a) for a in cases)
        assert store.bytes_an_unlink_frees(ROOT, f"../{outside.name}") == 0
        # RENAME's: the same new names (and parents) after a good old name, and old names
        # that do not parse
        old_name = (3).to_bytes(4, "big") + b"old\0"
        renames = [memoryview(ROOT + bytes(a[:16]) + old_name + bytes(a[16:])) for a in cases[2:]]
        renames += [
            memoryview(ROOT + ROOT[:8]),
            memoryview(ROOT + ROOT + (1 << 31).to_bytes(4, "big")),
            memoryview(ROOT + ROOT + (300).to_bytes(4, "big") + bytes(300)),
        ]
        assert all(svc._rename_frees_little(a) for a in renames)
        # the truncations': short arguments, gfids that are no file's, the null gfid
        cuts = [memoryview(b""), memoryview(ROOT), memoryview(b"\x07" * 16 + bytes(16))]
        cuts += [memoryview(bytes(32)), memoryview(b"\xff" * 32)]
        assert all(svc._truncate_frees_little(a) for a in cuts)
        assert all(svc._ftruncate_frees_little(a) for a in cuts)

    finally:
        outside.unlink()


def test_a_read_reserves_no_more_than_the_fop_serves(store: PosixStore) -> None:
    """Rule: the reply a READ, READDIR or READDIRP reserves in the server's reply budget is
    the size it asks for, capped by what the FOP serves at most (MAX_READ, READDIR_MAX), so a
    READ that asks for 4 GiB cannot take the server's whole budget while its reply waits; a
    READDIRP that names xattrs in its xdata reserves what their values may add, and a
    GETXATTR what one value or all of them (as far as the brick answers) may be."""
    procedures = brick_fops.FopService(store).program().procedures

    def asking(size: int) -> memoryview:  # gfid, fd, offset, size, flag, xdata
        return memoryview(ROOT + bytes(16) + size.to_bytes(4, "big") + bytes(8))

    def reserved(proc: int, size: int) -> int:
        reply_size = procedures[proc].reply_size
        assert reply_size is not None
        return reply_size(asking(size))

    assert reserved(P.READ, 4096) == 4096 + 256
    assert reserved(P.READ, 0xFFFFFFFF) == MAX_READ + 256
    for proc in (P.READDIR, P.READDIRP):
        assert reserved(proc, 4096) == 4096 + 256
        assert reserved(proc, 0xFFFFFFFF) == READDIR_MAX + 256
    # a READDIRP whose xdata names keys: their values too, as far as the brick answers them
    reply_size = procedures[P.READDIRP].reply_size
    assert reply_size is not None
    naming = fp.GfxReaddirpReq(gfid=ROOT, fd=1, offset=0, size=4096, xdata={"user.k": b""})
    assert reply_size(memoryview(naming.pack())) == (
        4096 + 256 + READDIRP_XATTRS_MAX + NAMED_XATTRS_MAX
    )
    bare = fp.GfxReaddirpReq(gfid=ROOT, fd=1, offset=0, size=4096)
    assert reply_size(memoryview(bare.pack())) == 4096 + 256
    # GETXATTR, FGETXATTR: one value, or all of them up to what the brick answers
    one, every = (64 << 10) + 4096, ALL_XATTRS_MAX + (64 << 10) + 4096
    for proc, req in (
        (P.GETXATTR, lambda n: fp.GfxGetxattrReq(gfid=ROOT, namelen=len(n), name=n)),
        (P.FGETXATTR, lambda n: fp.GfxFgetxattrReq(gfid=ROOT, fd=3, namelen=len(n), name=n)),
    ):
        reply_size = procedures[proc].reply_size
        assert reply_size is not None
        assert reply_size(memoryview(req("user.k").pack())) == one
        assert reply_size(memoryview(req("").pack())) == every


def test_a_lookup_or_xattrop_reserves_what_its_reply_may_hold(store: PosixStore) -> None:
    """Rule: a LOOKUP whose xdata names keys reserves quick-read's content, the named xattrs'
    values and its own size (the keys echoed); one without xdata reserves nothing (0, a small
    reply, takes the path of a request without a prediction). An XATTROP or FXATTROP answers
    values no longer than its operands, under the same keys, so it reserves about its own
    size."""
    procedures = brick_fops.FopService(store).program().procedures

    def reserved(proc: int, req: Any) -> int:
        reply_size = procedures[proc].reply_size
        assert reply_size is not None
        return reply_size(memoryview(req.pack()))

    assert reserved(P.LOOKUP, fp.GfxLookupReq(pargfid=ROOT, bname="name")) == 0
    assert reserved(P.LOOKUP, fp.GfxLookupReq(gfid=ROOT)) == 0
    naming = fp.GfxLookupReq(pargfid=ROOT, bname="name", xdata={"glusterfs.content": 1 << 16})
    assert reserved(P.LOOKUP, naming) > len(naming.pack()) + MAX_CONTENT + NAMED_XATTRS_MAX
    changes = {"trusted.afr.v": bytes(12)}
    for op in (XATTROP_ADD_ARRAY, XATTROP_GET_AND_SET):
        for proc, req in (
            (P.XATTROP, fp.GfxXattropReq(gfid=ROOT, flags=op, dict=changes)),
            (P.FXATTROP, fp.GfxFxattropReq(gfid=ROOT, fd=3, flags=op, dict=changes)),
        ):
            size = len(req.pack())
            assert size < reserved(proc, req) <= size + 4096
