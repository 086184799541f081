"""The store's caches (issue 9, fewer syscalls per FOP) and the rule that invalidates each.

* the directory fd cache (``store.handles``): a cached fd follows its directory through a
  rename, RMDIR evicts it, a directory removed behind the brick's back is evicted at its next
  use (ESTALE), and a pinned fd is never closed under its user;
* the one-syscall STAT (``HandleIndex.stat_of``): a file's handle *is* the inode, so a file
  whose last name is gone is ESTALE, and hard links share one answer;
* the per-inode cache of ACLs and gfids (``store.inodecache``): a value is only answered for the
  same inode and ctime, only cached once the ctime has settled, and forgotten when the brick
  itself sets or removes an ACL or chmods the inode.

The store-level tests run with ``settle_ns = 0`` so that the values are cached at once: what is
tested is then the invalidation rule itself, not the clock.
"""

from __future__ import annotations

import errno
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from gfrpc.programs.fops_types import GF_SET_ATTR_MODE
from gfrpc.services.brick import posix_acl as pa
from gfrpc.services.brick.store import ROOT_GFID, Caller, PosixStore
from gfrpc.services.brick.store.handles import GFID_KEY
from gfrpc.services.brick.store.inodecache import InodeCache

USER = Caller(1000, 1000, ())


@pytest.fixture
def store(brick: Path) -> Iterator[PosixStore]:
    """A store whose inode caches keep values at once (no settle time)."""
    s = PosixStore(str(brick))
    s.acls.settle_ns = 0
    s.gfids.settle_ns = 0
    s.handle_checked.settle_ns = 0
    yield s
    s.close()


def _acl_for(uid: int, perm: int, others: int = 0) -> bytes:
    """An ACL granting ``uid`` ``perm`` (owner rwx, ``others`` to the group and the others)."""
    return pa.encode_acl(
        (
            pa.Ace(pa.USER_OBJ, 7),
            pa.Ace(pa.USER, perm, uid),
            pa.Ace(pa.GROUP_OBJ, others),
            pa.Ace(pa.MASK, 7),
            pa.Ace(pa.OTHER, others),
        )
    )


def _file(store: PosixStore, name: str, mode: int = 0o600) -> bytes:
    gfid, f, *_ = store.create(ROOT_GFID, name, 0, mode)
    f.close()
    return gfid


def _denied(store: PosixStore, gfid: bytes, mask: int) -> bool:
    try:
        store.access(gfid, mask, USER)
    except PermissionError:
        return True
    return False


# -- directory fds -----------------------------------------------------------------------------


def test_cached_dir_follows_a_rename(store: PosixStore, brick: Path) -> None:
    """A cached directory fd follows its directory through a rename: its gfid still resolves
    to it, and an entry made through it lands in the renamed directory."""
    d, *_ = store.mkdir(ROOT_GFID, "a", 0o755)
    assert store.handles.is_cached_dir(d)
    store.rename(ROOT_GFID, "a", ROOT_GFID, "b")
    store.mkdir(d, "child", 0o755)
    assert (brick / "b" / "child").is_dir() and not (brick / "a").exists()
    assert store.stat(d).ia_gfid == d


def test_rmdir_evicts_the_cached_fd(store: PosixStore) -> None:
    """RMDIR evicts the directory's cached fd: its gfid is ESTALE at once."""
    d, *_ = store.mkdir(ROOT_GFID, "gone", 0o755)
    assert store.handles.is_cached_dir(d)
    store.rmdir(ROOT_GFID, "gone")
    assert not store.handles.is_cached_dir(d)
    with pytest.raises(OSError) as e:
        store.stat(d)
    assert e.value.errno == errno.ESTALE


def test_dir_removed_behind_our_back_is_evicted(store: PosixStore, brick: Path) -> None:
    """A cached directory removed outside the brick (nlink 0) is evicted at its next use, and
    its gfid is ESTALE rather than the stat of a dead directory; a new directory made at the
    same name with the same gfid xattr does not bring the old fd back."""
    d, *_ = store.mkdir(ROOT_GFID, "outside", 0o755)
    os.rmdir(brick / "outside")
    for op in (store.stat, lambda g: store.access(g, os.R_OK, USER)):
        with pytest.raises(OSError) as e:
            op(d)
        assert e.value.errno == errno.ESTALE
    assert not store.handles.is_cached_dir(d)


def test_pinned_dir_fd_survives_eviction(store: PosixStore) -> None:
    """Evicting a cached directory fd while a request holds it pinned leaves the fd open until
    the request is done, then closes it (no descriptor in use is ever closed)."""
    d, *_ = store.mkdir(ROOT_GFID, "pinned", 0o755)
    ref = store.handles.pinned_dir(d)
    assert ref is not None
    with ref:
        store.handles.evict_dir(d)
        os.fstat(ref.fd)  # still this directory's descriptor
        assert os.readlink(f"/proc/self/fd/{ref.fd}").endswith("/pinned")
    with pytest.raises(OSError) as e:
        os.fstat(ref.fd)
    assert e.value.errno == errno.EBADF


def test_cache_overflow_keeps_pinned_fds(brick: Path) -> None:
    """The LRU bound evicts the oldest cached directory, but one pinned by a request stays open
    until it is unpinned."""
    with PosixStore(str(brick), dir_cache_size=1) as s:
        a, *_ = s.mkdir(ROOT_GFID, "a", 0o755)
        ref = s.handles.pinned_dir(a)
        assert ref is not None
        with ref:
            s.mkdir(ROOT_GFID, "b", 0o755)  # pushes "a" out
            assert not s.handles.is_cached_dir(a)
            assert os.readlink(f"/proc/self/fd/{ref.fd}").endswith("/a")
        assert s.stat(a).ia_gfid == a  # resolved again through its handle


def test_hash_dir_removed_behind_our_back_is_made_again(store: PosixStore, brick: Path) -> None:
    """Handles are made by their path below ``.glusterfs`` once their hash directory is known
    to exist; a hash directory removed outside the brick is made again for the next handle."""
    first = uuid.UUID("aabb0000-0000-4000-8000-000000000001").bytes
    second = uuid.UUID("aabb0000-0000-4000-8000-000000000002").bytes
    store.create(ROOT_GFID, "f", 0, 0o600, gfid_req=first)[1].close()
    l2 = brick / ".glusterfs" / "aa" / "bb"
    os.unlink(l2 / str(uuid.UUID(bytes=first)))
    os.rmdir(l2)
    store.create(ROOT_GFID, "g", 0, 0o600, gfid_req=second)[1].close()
    assert (l2 / str(uuid.UUID(bytes=second))).stat().st_ino == (brick / "g").stat().st_ino


# -- one-syscall STAT --------------------------------------------------------------------------


def test_stat_of_an_unlinked_file_is_estale(store: PosixStore) -> None:
    """A file's STAT reads its handle: once its last name is unlinked (the handle goes with
    it) the gfid is ESTALE."""
    g = _file(store, "f")
    store.unlink(ROOT_GFID, "f")
    with pytest.raises(OSError) as e:
        store.stat(g)
    assert e.value.errno == errno.ESTALE


def test_stat_of_a_hard_linked_file(store: PosixStore) -> None:
    """A file with two names has one STAT answer (nlink without the handle), and keeps it
    when one name goes."""
    g = _file(store, "f")
    store.link(g, ROOT_GFID, "g")
    assert store.stat(g).ia_nlink == 2
    store.unlink(ROOT_GFID, "f")
    assert store.stat(g).ia_nlink == 1 and store.stat(g).ia_gfid == g


# -- ACL cache ---------------------------------------------------------------------------------


def test_setxattr_of_the_acl_is_seen_at_once(store: PosixStore) -> None:
    """SETXATTR of the access ACL forgets the cached one: the next check uses the new ACL
    (granting, then taking away again)."""
    g = _file(store, "f")
    assert _denied(store, g, os.R_OK)  # cached: no ACL
    st = store.handles.stat_of(g)
    assert store.acls.get(st, pa.ACCESS_KEY) == (True, None)
    store.setxattr(g, {pa.ACCESS_KEY: _acl_for(USER.uid, 4)})
    assert store.acls.get(st, pa.ACCESS_KEY) == (False, None)  # forgotten, whatever the ctime
    assert not _denied(store, g, os.R_OK)
    store.setxattr(g, {pa.ACCESS_KEY: _acl_for(USER.uid, 0)})
    assert _denied(store, g, os.R_OK)


def test_removexattr_of_the_acl_is_seen_at_once(store: PosixStore) -> None:
    """REMOVEXATTR of the access ACL forgets the cached one."""
    g = _file(store, "f")
    store.setxattr(g, {pa.ACCESS_KEY: _acl_for(USER.uid, 4)})
    assert not _denied(store, g, os.R_OK)
    st = store.handles.stat_of(g)
    assert store.acls.get(st, pa.ACCESS_KEY)[0] is True
    store.removexattr(g, pa.ACCESS_KEY)
    assert store.acls.get(st, pa.ACCESS_KEY)[0] is False
    assert _denied(store, g, os.R_OK)


def test_chmod_is_seen_at_once(store: PosixStore) -> None:
    """SETATTR of the mode (which rewrites the ACL's mask) forgets the cached ACL: a named
    user's grant is narrowed by the new mask at once."""
    g = _file(store, "f")
    store.setxattr(g, {pa.ACCESS_KEY: _acl_for(USER.uid, 6)})
    assert not _denied(store, g, os.W_OK)
    st = store.handles.stat_of(g)
    assert store.acls.get(st, pa.ACCESS_KEY)[0] is True
    store.setattr(g, GF_SET_ATTR_MODE, mode=0o640)  # mask becomes r--
    assert store.acls.get(st, pa.ACCESS_KEY)[0] is False
    assert _denied(store, g, os.W_OK) and not _denied(store, g, os.R_OK)


def test_acl_of_a_directory_through_its_cached_fd(store: PosixStore) -> None:
    """A directory's ACL is read through its cached fd and forgotten on SETXATTR as well."""
    d, *_ = store.mkdir(ROOT_GFID, "d", 0o700)
    assert _denied(store, d, os.X_OK)
    store.setxattr(d, {pa.ACCESS_KEY: _acl_for(USER.uid, 1)})
    assert not _denied(store, d, os.X_OK)


def test_acl_change_outside_the_brick_is_seen(store: PosixStore, brick: Path) -> None:
    """An ACL set on the brick directory by someone else (no FOP) changes the inode's ctime,
    so the cached value is not answered any more."""
    g = _file(store, "f")
    assert _denied(store, g, os.R_OK)
    before = os.stat(brick / "f").st_ctime_ns
    deadline = time.monotonic() + 5
    while os.stat(brick / "f").st_ctime_ns == before:  # a change in a later clock tick
        os.setxattr(brick / "f", pa.ACCESS_KEY, _acl_for(USER.uid, 4))
        assert time.monotonic() < deadline
    assert not _denied(store, g, os.R_OK)


def test_default_acl_cache_follows_setxattr(store: PosixStore, brick: Path) -> None:
    """The parent's default ACL, cached for creations, is forgotten when SETXATTR sets it: the
    next entry inherits it."""
    d, *_ = store.mkdir(ROOT_GFID, "d", 0o777)
    store.create(d, "before", 0, 0o666)[1].close()
    st = store.handles.stat_of(d)  # carried to its stat after the creation
    assert store.acls.get(st, pa.DEFAULT_KEY) == (True, None)
    store.setxattr(d, {pa.DEFAULT_KEY: _acl_for(USER.uid, 4)})
    assert store.acls.get(st, pa.DEFAULT_KEY)[0] is False
    store.create(d, "after", 0, 0o666)[1].close()
    assert pa.ACCESS_KEY in os.listxattr(brick / "d" / "after")
    assert pa.ACCESS_KEY not in os.listxattr(brick / "d" / "before")


# -- gfid cache --------------------------------------------------------------------------------


def test_unlink_and_recreate_gets_the_new_gfid(store: PosixStore) -> None:
    """LOOKUP answers a cached gfid only for the same inode and ctime: a name unlinked and made
    again (even when the kernel reuses the inode number) looks up as the new entry."""
    for _ in range(20):
        old = _file(store, "f")
        assert store.lookup(ROOT_GFID, "f")[0].ia_gfid == old
        store.unlink(ROOT_GFID, "f")
        new = _file(store, "f")
        assert new != old
        assert store.lookup(ROOT_GFID, "f")[0].ia_gfid == new
        store.unlink(ROOT_GFID, "f")


def test_rename_over_a_cached_name(store: PosixStore) -> None:
    """A rename that replaces a looked-up (cached) entry: LOOKUP of the name gives the renamed
    entry's gfid, and the replaced one is ESTALE."""
    a, b = _file(store, "a"), _file(store, "b")
    assert store.lookup(ROOT_GFID, "b")[0].ia_gfid == b
    store.rename(ROOT_GFID, "a", ROOT_GFID, "b")
    assert store.lookup(ROOT_GFID, "b")[0].ia_gfid == a
    with pytest.raises(OSError) as e:
        store.stat(b)
    assert e.value.errno == errno.ESTALE


def test_directory_renamed_away_is_not_found_at_its_old_name(store: PosixStore) -> None:
    """A directory looked up (gfid and fd cached) and then renamed: its old name is ENOENT,
    its new name gives its gfid, and a new directory at the old name gets its own gfid."""
    d, *_ = store.mkdir(ROOT_GFID, "x", 0o755)
    assert store.lookup(ROOT_GFID, "x")[0].ia_gfid == d
    store.rename(ROOT_GFID, "x", ROOT_GFID, "y")
    with pytest.raises(FileNotFoundError):
        store.lookup(ROOT_GFID, "x")
    assert store.lookup(ROOT_GFID, "y")[0].ia_gfid == d
    e, *_ = store.mkdir(ROOT_GFID, "x", 0o755)
    assert e != d and store.lookup(ROOT_GFID, "x")[0].ia_gfid == e


def test_gfid_copied_outside_is_not_answered(store: PosixStore, brick: Path) -> None:
    """A cached gfid is never answered for an inode whose handle does not match: a copy made
    outside with the same trusted.gfid gets a gfid of its own, also after the original was
    looked up (cached) under both names' parent."""
    g = _file(store, "orig")
    assert store.lookup(ROOT_GFID, "orig")[0].ia_gfid == g
    (brick / "copy").write_bytes(b"")
    os.setxattr(brick / "copy", GFID_KEY, g)
    copy = store.lookup(ROOT_GFID, "copy")[0].ia_gfid
    assert copy != g
    assert store.lookup(ROOT_GFID, "orig")[0].ia_gfid == g


def test_readdirp_gfids_follow_a_recreated_name(store: PosixStore) -> None:
    """READDIRP's cached gfids follow an entry unlinked and made again between listings."""
    _file(store, "f")
    d = store.opendir(ROOT_GFID)
    try:
        first = {e.name: e.stat for e in store.readdir(d, 0, 65536, plus=True)[0]}
        store.unlink(ROOT_GFID, "f")
        new = _file(store, "f")
        again = {e.name: e.stat for e in store.readdir(d, 0, 65536, plus=True)[0]}
    finally:
        d.close()
    assert first["f"] is not None and again["f"] is not None
    assert first["f"].ia_gfid != new and again["f"].ia_gfid == new


# -- the cache itself --------------------------------------------------------------------------


def _st(ino: int, ctime_ns: int) -> os.stat_result:
    return cast(Any, SimpleNamespace(st_dev=1, st_ino=ino, st_ctime_ns=ctime_ns))


def test_inode_cache_needs_the_same_ctime() -> None:
    """A value is answered only for the same (dev, ino) and the same ctime."""
    c: InodeCache[bytes] = InodeCache(settle_ns=0)
    c.put(_st(5, 1000), "k", b"v")
    assert c.get(_st(5, 1000), "k") == (True, b"v")
    assert c.get(_st(5, 1001), "k") == (False, None)
    assert c.get(_st(5, 1000), "k") == (False, None)  # dropped by the mismatch
    assert c.get(_st(6, 1000), "k") == (False, None)


def test_inode_cache_waits_for_the_ctime_to_settle() -> None:
    """A value read from an inode changed in the last ``settle_ns`` is not cached (a change in
    the same coarse clock tick would keep the ctime); an older one is."""
    c: InodeCache[bytes] = InodeCache()
    now = time.time_ns()
    c.put(_st(1, now), "k", b"fresh")
    assert c.get(_st(1, now), "k") == (False, None)
    c.put(_st(2, now - 10 * c.settle_ns), "k", b"old")
    assert c.get(_st(2, now - 10 * c.settle_ns), "k") == (True, b"old")


def test_inode_cache_is_bounded_and_forgets() -> None:
    """The least recently used values go beyond ``size``; ``forget`` drops named keys."""
    c: InodeCache[int] = InodeCache(size=2, settle_ns=0)
    for i in range(3):
        c.put(_st(i, 1), "k", i)
    assert c.get(_st(0, 1), "k")[0] is False and c.get(_st(2, 1), "k") == (True, 2)
    c.forget(_st(2, 1), "k")
    assert c.get(_st(2, 1), "k")[0] is False


def test_fresh_store_does_not_cache_new_inodes(brick: Path) -> None:
    """With the default settle time, an inode made just now is read every time: an ACL set on
    it outside the brick right after a check is seen by the next check."""
    with PosixStore(str(brick)) as s:
        g, f, *_ = s.create(ROOT_GFID, "f", 0, 0o600)
        f.close()
        with pytest.raises(PermissionError):
            s.access(g, os.R_OK, USER)
        os.setxattr(brick / "f", pa.ACCESS_KEY, _acl_for(USER.uid, 4))
        s.access(g, os.R_OK, USER)


def test_inode_cache_keeps_the_bricks_own_value_at_once() -> None:
    """``put_own`` (a gfid the store has just set on an inode it made) is cached however fresh
    the ctime, and still only for that ctime."""
    c: InodeCache[bytes] = InodeCache()
    now = time.time_ns()
    c.put_own(_st(1, now), "k", b"mine")
    assert c.get(_st(1, now), "k") == (True, b"mine")
    assert c.get(_st(1, now + 1), "k") == (False, None)


def test_inode_cache_carries_a_value_across_the_bricks_own_change() -> None:
    """``carry`` moves a value from the ctime before to the ctime after a change, only when it
    was cached for exactly the ctime before (else nothing is cached)."""
    c: InodeCache[bytes] = InodeCache(settle_ns=0)
    c.put(_st(1, 10), "k", b"v")
    c.carry(_st(1, 10), _st(1, 20), "k")
    assert c.get(_st(1, 20), "k") == (True, b"v")
    c.carry(_st(1, 15), _st(1, 30), "k")  # cached at 20, not 15: stays at 20
    assert c.get(_st(1, 30), "k") == (False, None)
    c.carry(_st(2, 10), _st(2, 20), "k")  # never cached
    assert c.get(_st(2, 20), "k") == (False, None)


def test_a_file_made_and_written_is_looked_up_without_reading_its_gfid(
    brick: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the default settle time, a file the brick created and then wrote is looked up from
    the cache (its ``trusted.gfid`` is not read again), as fio's read pass looks up the files
    its create pass wrote; a directory the brick made too."""
    from gfrpc.services.brick.store import base

    with PosixStore(str(brick)) as s:
        g, f, *_ = s.create(ROOT_GFID, "f", 0, 0o644)
        try:
            s.write(f, 0, b"x" * 4096)
        finally:
            f.close()
        d, *_ = s.mkdir(ROOT_GFID, "d", 0o755)

        def no_read(fd: int) -> bytes | None:
            raise AssertionError("trusted.gfid read again")

        monkeypatch.setattr(base, "read_gfid", no_read)
        assert s.lookup(ROOT_GFID, "f")[0].ia_gfid == g
        assert s.lookup(ROOT_GFID, "d")[0].ia_gfid == d
        assert s.stat(g).ia_size == 4096


def test_a_files_handle_is_checked_once_per_ctime(
    store: PosixStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LOOKUP checks a file's gfid handle (``lstat``, the same inode?) once for each ctime of
    the file: a second LOOKUP of the unchanged file does not look at the handle again, and one
    after a change does."""
    g = _file(store, "f")
    store.setattr(g, GF_SET_ATTR_MODE, mode=0o640)  # a ctime the create did not cache
    assert store.lookup(ROOT_GFID, "f")[0].ia_gfid == g
    checked = []
    real = store.handles.handle_lstat
    monkeypatch.setattr(
        store.handles, "handle_lstat", lambda gfid: checked.append(gfid) or real(gfid)
    )
    assert store.lookup(ROOT_GFID, "f")[0].ia_gfid == g
    assert checked == []
    store.setattr(g, GF_SET_ATTR_MODE, mode=0o600)
    assert store.lookup(ROOT_GFID, "f")[0].ia_gfid == g
    assert checked == [g]


def test_a_handle_removed_outside_is_made_again_at_the_next_lookup(
    store: PosixStore, brick: Path
) -> None:
    """A file's handle removed behind the brick's back after its handle was checked (and that
    check cached): removing a hard link changes the file's link count and ctime, so the next
    LOOKUP checks the handle again, finds it missing and makes it again."""
    g = _file(store, "f")
    for _ in range(2):
        assert store.lookup(ROOT_GFID, "f")[0].ia_gfid == g
    handle = brick / ".glusterfs" / store.handles.handle_path(g)
    before = os.stat(brick / "f").st_ctime_ns
    handle.unlink()
    assert os.stat(brick / "f").st_ctime_ns != before  # the rule the cache rests on
    assert store.lookup(ROOT_GFID, "f")[0].ia_gfid == g
    assert handle.exists() and handle.stat().st_ino == (brick / "f").stat().st_ino


def test_a_new_files_gfid_is_claimed_without_an_lstat(
    store: PosixStore, brick: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CREATE whose ``gfid-req`` has no handle yet (the usual case) learns so from one
    ``faccessat``, without an ``lstat`` that fails; one whose gfid is taken is still refused."""
    looked = []
    real = store.handles.handle_lstat
    monkeypatch.setattr(
        store.handles, "handle_lstat", lambda gfid: looked.append(gfid) or real(gfid)
    )
    want = uuid.uuid4().bytes
    g, f, *_ = store.create(ROOT_GFID, "new", 0, 0o644, gfid_req=want)
    f.close()
    assert g == want and looked == [want]  # the one lstat: _make_handle's check after the link
    with pytest.raises(FileExistsError):
        store.create(ROOT_GFID, "other", 0, 0o644, gfid_req=want)


def test_hash_directories_are_made_as_needed(store: PosixStore, brick: Path) -> None:
    """A file's handle is made in its hash directory ``.glusterfs/<g0>/<g1>`` when that is not
    there yet, and when its first level is not there either; the handle is the file."""
    hidden = brick / ".glusterfs"
    assert not (hidden / "fd").exists()
    made = [bytes.fromhex("fd01" + "00" * 14), bytes.fromhex("fd02" + "00" * 14)]
    for i, want in enumerate(made):  # the first makes both levels, the second one
        g, f, *_ = store.create(ROOT_GFID, f"h{i}", 0, 0o644, gfid_req=want)
        f.close()
        handle = hidden / store.handles.handle_path(g)
        assert g == want and handle.stat().st_ino == (brick / f"h{i}").stat().st_ino
    assert (hidden / "fd" / "01").is_dir() and (hidden / "fd" / "02").is_dir()


# -- ACLs across the brick's own entry changes (Performance notes 63) ----------------------------


def test_inode_cache_carries_and_keeps_nothing_after_a_forget() -> None:
    """With ``since`` (a ``generation`` taken before the change), ``carry`` and ``put_own`` do
    nothing once any value of any inode was forgotten after it was taken."""
    c: InodeCache[bytes] = InodeCache(settle_ns=0)
    c.put(_st(1, 10), "k", b"v")
    since = c.generation
    c.forget(_st(9, 1), "k")  # another inode's value, in another thread
    c.carry(_st(1, 10), _st(1, 20), "k", since=since)
    c.put_own(_st(2, 5), "k", b"w", since=since)
    assert c.get(_st(1, 20), "k") == (False, None)
    assert c.get(_st(2, 5), "k") == (False, None)
    since = c.generation
    c.put(_st(1, 10), "k", b"v")
    c.carry(_st(1, 10), _st(1, 20), "k", since=since)
    c.put_own(_st(2, 5), "k", b"w", since=since)
    assert c.get(_st(1, 20), "k") == (True, b"v")
    assert c.get(_st(2, 5), "k") == (True, b"w")


def _acl_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ACL keys read from disk from now on (every ``os.getxattr`` of one is recorded)."""
    reads: list[str] = []
    real = os.getxattr

    def counted(path: Any, key: str, *args: Any, **kw: Any) -> bytes:
        if key in (pa.ACCESS_KEY, pa.DEFAULT_KEY):
            reads.append(key)
        return real(path, key, *args, **kw)

    monkeypatch.setattr(os, "getxattr", counted)
    return reads


def test_a_directory_being_filled_has_its_acls_read_not_at_all(
    brick: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the default settle time, a directory the brick made for a user and then fills
    (CREATE, MKDIR, LINK, and a user's RENAME, UNLINK, RMDIR in it, each changing its ctime)
    has its ACLs read from disk no more: a FUSE user's access checks on it and on what is
    made in it (a file made and then written too), and each creation's look at its default
    ACL, are answered from what the brick made and carried."""
    with PosixStore(str(brick)) as s:
        d, *_ = s.mkdir(ROOT_GFID, "d", 0o777, owner=USER)
        reads = _acl_reads(monkeypatch)
        for i in range(5):
            s.access(d, os.W_OK | os.X_OK, USER)
            g, f, *_ = s.create(d, f"f{i}", 0, 0o644, owner=USER)
            try:
                s.write(f, 0, b"x" * 4096, caller=USER)
            finally:
                f.close()
            s.access(g, os.R_OK, USER)
            s.access(d, os.W_OK | os.X_OK, USER)
            sub, *_ = s.mkdir(d, f"d{i}", 0o755, owner=USER)
            s.access(sub, os.X_OK, USER)
            s.link(g, d, f"l{i}")
            s.rename(d, f"l{i}", d, f"m{i}", keep_acls=True)
            s.unlink(d, f"m{i}", keep_acls=True)
            s.rmdir(d, f"d{i}", keep_acls=True)
        assert reads == []


def test_an_acl_set_on_a_directory_being_filled_is_seen_at_once(
    brick: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What is carried never hides the brick's own ACL changes: a default ACL set on the busy
    directory reaches the next entry made in it (and that entry's inherited access ACL is read,
    not taken for none), an access ACL set on it is checked at once, and a chmod is too."""
    with PosixStore(str(brick)) as s:
        d, *_ = s.mkdir(ROOT_GFID, "d", 0o700)
        s.create(d, "a", 0, 0o600)[1].close()
        assert _denied(s, d, os.X_OK)
        s.setxattr(d, {pa.ACCESS_KEY: _acl_for(USER.uid, 3)})
        assert not _denied(s, d, os.W_OK | os.X_OK)
        s.create(d, "b", 0, 0o600)[1].close()
        s.setxattr(d, {pa.DEFAULT_KEY: _acl_for(USER.uid, 4)})
        g, f, *_ = s.create(d, "c", 0, 0o640)
        f.close()
        assert not _denied(s, g, os.R_OK)  # USER's read comes from the inherited ACL
        s.setattr(d, GF_SET_ATTR_MODE, mode=0o600)  # the mask: USER's grant is gone
        assert _denied(s, d, os.X_OK)


def test_no_acl_is_carried_past_another_threads_acl_change(
    brick: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard: when the brick forgets any ACL while an entry FOP runs (another thread's
    SETXATTR of an ACL, here made from inside the UNLINK), that FOP carries nothing, and the
    directory's ACL is read from disk at the next check."""
    with PosixStore(str(brick)) as s:
        d, *_ = s.mkdir(ROOT_GFID, "d", 0o777)
        other = _file(s, "other")
        s.create(d, "f", 0, 0o644)[1].close()
        real_remove = s.handles.remove_handle

        def remove_then_other_thread(*args: Any, **kw: Any) -> None:
            real_remove(*args, **kw)
            s.setxattr(other, {pa.ACCESS_KEY: _acl_for(USER.uid, 4)})

        monkeypatch.setattr(s.handles, "remove_handle", remove_then_other_thread)
        s.unlink(d, "f", keep_acls=True)
        reads = _acl_reads(monkeypatch)
        s.access(d, os.W_OK | os.X_OK, USER)
        assert reads == [pa.ACCESS_KEY]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("uid", "kept"), [(1000, True), (0, False)])
def test_a_users_removals_keep_the_parents_acls_and_roots_spend_nothing_on_them(
    brick: Path, uid: int, kept: bool
) -> None:
    """Over the wire: a FUSE user's UNLINK, RMDIR and RENAME carry the parent's ACLs to its new
    ctime (its next checks read none); root's checks read no ACL, so its removals carry none
    (the parent's cached access ACL is left at the ctime before)."""
    from brick_fops_support import cred, running_brick

    from gfrpc.programs import fops as fp

    with running_brick(brick, "single", io_threads=0) as h:
        root = h.client()
        made = root.call(fp.FopProc.MKDIR, fp.GfxMkdirReq(pargfid=ROOT_GFID, bname="d", mode=0o777))
        d = bytes(made.stat.ia_gfid)
        assert (
            root.call(fp.FopProc.MKDIR, fp.GfxMkdirReq(pargfid=d, bname="s", mode=0o777)).op_ret
            == 0
        )
        for name in ("a", "b"):
            g = root.create(d, name)
            assert root.release(bytes(g.stat.ia_gfid), g.fd).op_ret == 0
        user = h.client(cred=cred(uid, uid))
        store = h.server.fops.store
        store.acls.settle_ns = 0
        store.access(d, os.W_OK | os.X_OK, USER)  # d's access ACL (none) cached now
        calls = [
            (fp.FopProc.UNLINK, fp.GfxUnlinkReq(pargfid=d, bname="a")),
            (fp.FopProc.RMDIR, fp.GfxRmdirReq(pargfid=d, bname="s")),
            (fp.FopProc.RENAME, fp.GfxRenameReq(oldgfid=d, newgfid=d, oldbname="b", newbname="c")),
        ]
        for proc, req in calls:
            assert user.call(proc, req).op_ret == 0, proc
            now = store.handles.stat_of(d)
            assert store.acls.get(now, pa.ACCESS_KEY) == ((True, None) if kept else (False, None))
            if not kept:
                store.access(d, os.W_OK | os.X_OK, USER)  # cached again for the next one


def test_a_new_entry_is_not_taken_to_have_no_acl_while_its_parents_is_being_set(
    brick: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard's second half: while the brick sets a directory's default ACL in another
    thread (its ``changing`` block entered, the xattr written, not yet forgotten), a CREATE
    there that took its parent's stat before the write and then made the file (which
    inherits the new ACL) keeps no "no ACL" for it, and carries nothing."""
    from contextlib import contextmanager

    shut_out = _acl_for(2000, 0, others=5)  # 2000 named, with nothing; the others r-x
    with PosixStore(str(brick)) as s:
        d, *_ = s.mkdir(ROOT_GFID, "d", 0o777, owner=USER)
        other = s.acls.changing(s.handles.stat_of(d), pa.ACCESS_KEY, pa.DEFAULT_KEY)
        real_stripe = s._stripe

        @contextmanager
        def stripe_while_another_thread_sets_the_default(*args: Any) -> Iterator[None]:
            other.__enter__()
            os.setxattr(brick / "d", pa.DEFAULT_KEY, shut_out)
            with real_stripe(*args):
                yield

        monkeypatch.setattr(s, "_stripe", stripe_while_another_thread_sets_the_default)
        g, f, *_ = s.create(d, "x", 0, 0o644, owner=USER)
        f.close()
        other.__exit__(None, None, None)
        assert pa.ACCESS_KEY in os.listxattr(brick / "d" / "x")  # inherited
        assert s.acls.get(s.handles.stat_of(g), pa.ACCESS_KEY) != (True, None)
        with pytest.raises(PermissionError):  # the others may read; 2000 is named, with nothing
            s.access(g, os.R_OK, Caller(2000, 2000, ()))
