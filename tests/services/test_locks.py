"""Brick lock tables: POSIX locks (LK), INODELK and ENTRYLK."""

from __future__ import annotations

import errno
from typing import Any

import pytest

from gfrpc.services.brick.locks import (
    ENTRYLK_LOCK,
    ENTRYLK_LOCK_NB,
    ENTRYLK_RDLCK,
    ENTRYLK_UNLOCK,
    ENTRYLK_WRLCK,
    EOF_END,
    F_RDLCK,
    F_UNLCK,
    F_WRLCK,
    EntryLocks,
    InodeLocks,
    Owner,
    PosixLocks,
    make_range,
)

G = bytes(15) + b"\x07"
A = Owner("conn-a", b"\x01")
A2 = Owner("conn-a", b"\x02")  # same client, another lk_owner: a different owner
B = Owner("conn-b", b"\x01")


def _errno_of(call: Any) -> int | None:
    with pytest.raises(OSError) as e:
        call()
    return e.value.errno


def test_posix_uncontended_and_getlk() -> None:
    """An uncontended lock is granted; GETLK reports the conflicting lock or None."""
    t = PosixLocks()
    assert t.setlk(G, make_range(A, F_WRLCK, 0, 100))
    blocker = t.getlk(G, make_range(B, F_RDLCK, 50, 10))
    assert blocker is not None and blocker.owner == A and blocker.type == F_WRLCK
    assert (blocker.start, blocker.length) == (0, 100)
    assert t.getlk(G, make_range(B, F_WRLCK, 100, 0)) is None  # past the range
    assert t.getlk(G, make_range(A, F_WRLCK, 0, 0)) is None  # own locks never conflict


def test_posix_nonblocking_conflict_is_eagain() -> None:
    """A contended F_SETLK fails with EAGAIN; read locks share."""
    t = PosixLocks()
    assert t.setlk(G, make_range(A, F_RDLCK, 0, 0))
    assert t.setlk(G, make_range(B, F_RDLCK, 10, 10))
    assert _errno_of(lambda: t.setlk(G, make_range(A2, F_WRLCK, 15, 1))) == errno.EAGAIN


def test_posix_blocking_waiter_granted_on_unlock() -> None:
    """F_SETLKW on a held range is queued and granted (callback) when the holder unlocks."""
    t = PosixLocks()
    granted: list[Any] = []
    t.setlk(G, make_range(A, F_WRLCK, 0, 10))
    assert not t.setlk(G, make_range(B, F_WRLCK, 5, 10), block=True, on_grant=granted.append)
    assert granted == []
    t.setlk(G, make_range(A, F_UNLCK, 0, 10))
    assert len(granted) == 1 and granted[0].owner == B
    assert [lk.owner for lk in t.granted(G)] == [B]


def test_posix_split_and_merge() -> None:
    """Unlocking the middle splits a lock; touching same-type locks of an owner merge."""
    t = PosixLocks()
    t.setlk(G, make_range(A, F_WRLCK, 0, 100))
    t.setlk(G, make_range(A, F_UNLCK, 40, 20))
    assert sorted((lk.start, lk.end) for lk in t.granted(G)) == [(0, 39), (60, 99)]
    t.setlk(G, make_range(A, F_WRLCK, 40, 20))
    assert [(lk.start, lk.end) for lk in t.granted(G)] == [(0, 99)]
    t.setlk(G, make_range(A, F_RDLCK, 10, 10))  # a type change replaces the sub-range
    assert sorted((lk.start, lk.end, lk.type) for lk in t.granted(G)) == [
        (0, 9, F_WRLCK),
        (10, 19, F_RDLCK),
        (20, 99, F_WRLCK),
    ]
    assert t.setlk(G, make_range(B, F_RDLCK, 12, 2))  # shares the downgraded part


def test_posix_release_client_wakes_waiters() -> None:
    """A disconnected client's locks are dropped and its waiters forgotten."""
    t = PosixLocks()
    got: list[Any] = []
    t.setlk(G, make_range(A, F_WRLCK, 0, 0))
    t.setlk(G, make_range(B, F_WRLCK, 0, 1), block=True, on_grant=got.append)
    t.release_client("conn-a")
    assert len(got) == 1 and t.granted(G)[0].owner == B
    t.release_client("conn-b")
    assert t.granted(G) == []


def test_bad_ranges_are_einval() -> None:
    """Negative start or length, or an unknown type, is EINVAL; length 0 runs to EOF."""
    assert _errno_of(lambda: make_range(A, F_WRLCK, -1, 1)) == errno.EINVAL
    assert _errno_of(lambda: make_range(A, 7, 0, 1)) == errno.EINVAL
    assert make_range(A, F_WRLCK, 5, 0).end == EOF_END


def test_inodelk_domains_and_contention() -> None:
    """INODELK: domains are independent; contention is EAGAIN or queued; unlock of a lock
    not held is EINVAL."""
    t = InodeLocks()
    assert t.lock("dom1", G, make_range(A, F_WRLCK, 0, 0))
    assert t.lock("dom2", G, make_range(B, F_WRLCK, 0, 0))
    assert _errno_of(lambda: t.lock("dom1", G, make_range(B, F_RDLCK, 0, 1))) == errno.EAGAIN
    got: list[Any] = []
    assert not t.lock("dom1", G, make_range(B, F_WRLCK, 0, 0), block=True, on_grant=got.append)
    assert _errno_of(lambda: t.lock("dom1", G, make_range(B, F_UNLCK, 0, 0))) == errno.EINVAL
    t.lock("dom1", G, make_range(A, F_UNLCK, 0, 0))
    assert len(got) == 1


def test_inodelk_new_request_waits_behind_queued_writer() -> None:
    """A reader arriving after a queued writer does not overtake it (no writer starvation)."""
    t = InodeLocks()
    t.lock("d", G, make_range(A, F_RDLCK, 0, 0))
    t.lock("d", G, make_range(B, F_WRLCK, 0, 0), block=True, on_grant=lambda lk: None)
    assert _errno_of(lambda: t.lock("d", G, make_range(A2, F_RDLCK, 0, 0))) == errno.EAGAIN


def test_entrylk_names_and_whole_directory() -> None:
    """ENTRYLK: same name or whole-directory locks conflict, different names do not; two
    owners' read locks conflict too (GlusterFS's locks xlator ignores the type); LOCK_NB gives
    EAGAIN; LOCK queues; unlock of an unheld lock, or naming another type, is EINVAL."""
    t = EntryLocks()
    assert t.entrylk("d", G, A, "x", ENTRYLK_LOCK_NB, ENTRYLK_WRLCK)
    assert t.entrylk("d", G, B, "y", ENTRYLK_LOCK_NB, ENTRYLK_WRLCK)
    assert _errno_of(lambda: t.entrylk("d", G, B, "x", ENTRYLK_LOCK_NB)) == errno.EAGAIN
    assert _errno_of(lambda: t.entrylk("d", G, B, None, ENTRYLK_LOCK_NB)) == errno.EAGAIN
    assert t.entrylk("other", G, B, "x", ENTRYLK_LOCK_NB)
    got: list[Any] = []
    assert not t.entrylk("d", G, B, "x", ENTRYLK_LOCK, ENTRYLK_WRLCK, on_grant=got.append)
    assert _errno_of(lambda: t.entrylk("d", G, B, "z", ENTRYLK_UNLOCK)) == errno.EINVAL
    assert t.entrylk("d", G, A, "x", ENTRYLK_UNLOCK)
    assert len(got) == 1 and got[0].basename == "x"
    r = EntryLocks()
    assert r.entrylk("d", G, A, "n", ENTRYLK_LOCK_NB, ENTRYLK_RDLCK)
    assert _errno_of(lambda: r.entrylk("d", G, B, "n", ENTRYLK_LOCK_NB, ENTRYLK_RDLCK)) == (
        errno.EAGAIN
    )
    assert _errno_of(lambda: r.entrylk("d", G, A, "n", ENTRYLK_UNLOCK, ENTRYLK_WRLCK)) == (
        errno.EINVAL
    )
    assert r.entrylk("d", G, A, "n", ENTRYLK_UNLOCK, ENTRYLK_RDLCK)


def test_inodelk_unlock_takes_exactly_one_lock_of_its_range() -> None:
    """An INODELK unlock removes one of the owner's locks with exactly its range, as taken:
    an unlock of part of a lock, or of a range covering two, is EINVAL and leaves them; a range
    held twice takes two unlocks; other owners' locks stay."""
    t = InodeLocks()
    t.lock("d", G, make_range(A, F_WRLCK, 0, 10))
    t.lock("d", G, make_range(A, F_WRLCK, 20, 10))
    t.lock("d", G, make_range(A, F_WRLCK, 20, 10))
    t.lock("d", G, make_range(B, F_RDLCK, 70, 10))
    assert _errno_of(lambda: t.lock("d", G, make_range(A, F_UNLCK, 0, 5))) == errno.EINVAL
    assert _errno_of(lambda: t.lock("d", G, make_range(A, F_UNLCK, 0, 30))) == errno.EINVAL
    assert _errno_of(lambda: t.lock("d", G, make_range(B, F_WRLCK, 3, 1))) == errno.EAGAIN
    assert t.lock("d", G, make_range(A, F_UNLCK, 0, 10))
    assert t.lock("d", G, make_range(B, F_WRLCK, 3, 1))
    assert t.lock("d", G, make_range(A, F_UNLCK, 20, 10))
    assert _errno_of(lambda: t.lock("d", G, make_range(B, F_WRLCK, 25, 1))) == errno.EAGAIN
    assert t.lock("d", G, make_range(A, F_UNLCK, 20, 10))
    assert t.lock("d", G, make_range(B, F_WRLCK, 25, 1))
    assert _errno_of(lambda: t.lock("d", G, make_range(A, F_UNLCK, 20, 10))) == errno.EINVAL
    assert _errno_of(lambda: t.lock("d", G, make_range(A, F_WRLCK, 75, 1))) == errno.EAGAIN


def test_ranges_are_checked_as_the_locks_xlator_checks_them() -> None:
    """LK: a negative start, or start + len negative or past 2^63 - 1, is EINVAL; a negative
    len locks the bytes before start. INODELK: a negative len is EINVAL, a range past 2^63 - 1
    is taken (to the end of the file)."""
    top = (1 << 63) - 1
    for start, length in ((-1, 5), (10, -11), (top - 4, 100)):
        assert _errno_of(lambda s=start, n=length: make_range(A, F_WRLCK, s, n)) == errno.EINVAL
    r = make_range(A, F_WRLCK, 500, -10)
    assert (r.start, r.end) == (490, 499)
    assert _errno_of(lambda: make_range(A, F_WRLCK, 500, -10, inodelk=True)) == errno.EINVAL
    r = make_range(A, F_WRLCK, top - 4, 100, inodelk=True)
    assert (r.start, r.end) == (top - 4, EOF_END)
    r = make_range(A, F_RDLCK, 7, 0)
    assert (r.start, r.end) == (7, EOF_END)


def test_entrylk_unlock_releases_one_of_an_owners_repeated_locks() -> None:
    """An owner may take the same ENTRYLK twice (its own locks never conflict); each unlock
    releases one of them, a third is EINVAL; only then may another owner take the name."""
    t = EntryLocks()
    assert t.entrylk("d", G, A, "x", ENTRYLK_LOCK_NB)
    assert t.entrylk("d", G, A, "x", ENTRYLK_LOCK_NB)
    assert t.entrylk("d", G, A, "x", ENTRYLK_UNLOCK)
    assert _errno_of(lambda: t.entrylk("d", G, B, "x", ENTRYLK_LOCK_NB)) == errno.EAGAIN
    assert t.entrylk("d", G, A, "x", ENTRYLK_UNLOCK)
    assert _errno_of(lambda: t.entrylk("d", G, A, "x", ENTRYLK_UNLOCK)) == errno.EINVAL
    assert t.entrylk("d", G, B, "x", ENTRYLK_LOCK_NB)


def test_a_new_lock_converts_every_lock_of_its_owner_under_it() -> None:
    """fcntl(2): a read lock over two of its owner's write locks converts both (another owner
    may then read anywhere). glusterfsd 10.3 left one of them a write lock after this very
    sequence of one owner on two connections (B0, B1), so its GETLK named a write lock at
    10-19 (a probe, 2026-12-07, notes 80); the random lock sequences of
    tests/interop/test_lock_semantics_interop.py keep each LK owner to one type for that."""
    t = PosixLocks()
    b0, b1, a = Owner("c0", b"b"), Owner("c1", b"b"), Owner("c0", b"a")
    steps = [
        (b0, F_RDLCK, 50, 1),
        (b1, F_RDLCK, 0, 10),
        (b0, F_WRLCK, 10, 10),
        (b0, F_UNLCK, 50, 1),
        (b0, F_WRLCK, 50, 1),
        (b0, F_RDLCK, 0, 0),
    ]
    for owner, type_, start, length in steps:
        assert t.setlk(G, make_range(owner, type_, start, length))
    assert t.getlk(G, make_range(a, F_RDLCK, 0, 0)) is None
    assert {(g.type, g.start) for g in t.granted(G) if g.owner == b0} == {(F_RDLCK, 0)}


def test_a_client_holds_at_most_max_per_client_locks_in_each_table() -> None:
    """Rule (locks.py, "What one client may hold"): at its cap a client gets ENOLCK for one
    more LK, INODELK or ENTRYLK lock, and for an LK unlock that would split a lock, and
    nothing changes then; another client is served meanwhile; a merge, an unlock and a
    disconnect give room back."""
    cap = 3
    lk = PosixLocks(max_per_client=cap)
    for start in (0, 10, 20):
        assert lk.setlk(G, make_range(A, F_WRLCK, start, 1))
    assert _errno_of(lambda: lk.setlk(G, make_range(A, F_WRLCK, 30, 1))) == errno.ENOLCK
    assert _errno_of(lambda: lk.setlk(G, make_range(A2, F_WRLCK, 30, 1))) == errno.ENOLCK
    assert lk.setlk(G, make_range(B, F_WRLCK, 30, 1))  # another connection
    assert lk.held_by("conn-a") == cap and lk.held_by("conn-b") == 1
    assert lk.setlk(G, make_range(A, F_WRLCK, 0, 11))  # merges two into one: room for one
    assert lk.held_by("conn-a") == 2
    assert lk.setlk(G, make_range(A, F_WRLCK, 40, 1))
    before = lk.granted(G)
    assert _errno_of(lambda: lk.setlk(G, make_range(A, F_UNLCK, 5, 1))) == errno.ENOLCK
    assert lk.granted(G) == before  # the refused split changed nothing
    assert lk.setlk(G, make_range(A, F_UNLCK, 0, 11))  # an unlock that splits nothing
    assert lk.held_by("conn-a") == 2
    lk.release_client("conn-a")
    assert lk.held_by("conn-a") == 0 and [g.owner for g in lk.granted(G)] == [B]

    inode = InodeLocks(max_per_client=cap)
    whole = make_range(A, F_WRLCK, 0, 0, inodelk=True)
    for _ in range(cap):  # an owner may hold the same range again and again
        assert inode.lock("dom", G, whole)
    assert _errno_of(lambda: inode.lock("dom", G, whole)) == errno.ENOLCK
    assert _errno_of(lambda: inode.lock("other", G, whole)) == errno.ENOLCK
    assert inode.lock("dom", G, make_range(A, F_UNLCK, 0, 0, inodelk=True))
    assert inode.lock("dom", G, whole)

    entry = EntryLocks(max_per_client=cap)
    for name in ("x", "y", "z"):
        assert entry.entrylk("dom", G, A, name, ENTRYLK_LOCK_NB)
    refused = _errno_of(lambda: entry.entrylk("dom", G, A, "w", ENTRYLK_LOCK_NB))
    assert refused == errno.ENOLCK
    assert entry.entrylk("dom", G, B, "w", ENTRYLK_LOCK_NB)
    assert entry.entrylk("dom", G, A, "x", ENTRYLK_UNLOCK, ENTRYLK_WRLCK)
    assert entry.entrylk("dom", G, A, "v", ENTRYLK_LOCK_NB)
    with pytest.raises(ValueError):
        PosixLocks(max_per_client=0)


def test_the_new_lock_replaces_only_its_owners_locks_on_its_range() -> None:
    """Rule: a lock of one owner splits and merges that owner's locks only; the others' stay
    as they were, in order, and a lock that touches none of its owner's is added at the end."""
    t = PosixLocks()
    t.setlk(G, make_range(A, F_RDLCK, 0, 100))
    t.setlk(G, make_range(B, F_RDLCK, 50, 100))
    t.setlk(G, make_range(A2, F_RDLCK, 200, 10))
    t.setlk(G, make_range(A, F_WRLCK, 300, 10))
    assert [(g.owner, g.start, g.end) for g in t.granted(G)] == [
        (A, 0, 99),
        (B, 50, 149),
        (A2, 200, 209),
        (A, 300, 309),
    ]
    t.setlk(G, make_range(A, F_RDLCK, 100, 200))  # touches A's first lock: merged with it
    assert [(g.owner, g.type, g.start, g.end) for g in t.granted(G)] == [
        (B, F_RDLCK, 50, 149),
        (A2, F_RDLCK, 200, 209),
        (A, F_WRLCK, 300, 309),
        (A, F_RDLCK, 0, 299),
    ]
