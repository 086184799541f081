"""In-memory lock tables of the brick: POSIX locks (LK) and GlusterFS's INODELK / ENTRYLK.

GlusterFS facts (glusterfs-fops.h, features/locks): LK commands GETLK 0, SETLK 1, SETLKW 2;
lock types F_RDLCK 0, F_WRLCK 1, F_UNLCK 2; ENTRYLK commands LOCK 0, UNLOCK 1, LOCK_NB 2 and
types RDLCK 0, WRLCK 1. A lock belongs to an *owner*: the client connection plus the
``lk_owner`` bytes of the caller's credential; locks of the same owner never conflict. A range
with length 0 runs to the end of the file.

* POSIX locks (per inode): read locks share, a write lock excludes; a new lock of an owner
  replaces that owner's locks on the range (splitting and merging as fcntl does), F_UNLCK
  removes the owner's locks on the range. GETLK answers the first conflicting lock, or None
  (F_UNLCK) when the lock could be granted.
* INODELK (per domain and inode): ranges as above, but locks are kept as taken (not merged,
  an owner may hold the same range twice); an unlock removes the newest of the owner's locks
  with exactly its range, of either type, EINVAL if there is none (no split).
* ENTRYLK (per domain and directory): a lock on a basename, or on the whole directory
  (basename None), which conflicts with every name. Two owners' locks on a name conflict
  whatever their types (read locks do not share); an unlock must name the lock's type.
* A range's start and len are checked as posix-locks checks them (``make_range``): a
  negative len locks the bytes before start.
These rules were checked answer by answer against glusterfsd 10.3
(``tests/interop/test_lock_semantics_interop.py``).
* What one client may hold: each table keeps at most ``max_per_client`` granted locks per
  client connection (``--max-locks``, ``DEFAULT_MAX_LOCKS``). A request that would take more
  is ENOLCK for that client alone, as fcntl(2) answers when the system's lock records run out;
  so is an LK unlock that would split a lock into two beyond the cap (POSIX lets an unlock
  fail so). glusterfsd holds whatever it is asked to, so a client could grow a real brick's
  lock lists, and the time every lock call on that inode takes, without end. Waiters are
  bounded by the outstanding-request limit (a blocked call is a deferred request), and a
  waiter granted later may pass the cap by the two locks a split adds.

Theory of operation. A contended *non-blocking* request fails with EAGAIN at once. A blocking
one (SETLKW, INODELK with F_SETLKW, ENTRYLK_LOCK) is queued with a callback and the call returns
False: the worker thread is not held. Whenever locks are released, the queue is scanned in
arrival order and each waiter that no longer conflicts is granted and its callback called (on
the releasing thread, after the table lock is dropped) — the FOP layer sends the deferred
reply from it, as GlusterFS's locks xlator unwinds blocked frames. ``release_client`` drops
every lock and waiter of a disconnected client.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Generic, NamedTuple, TypeVar

GF_LK_GETLK, GF_LK_SETLK, GF_LK_SETLKW = 0, 1, 2
F_RDLCK, F_WRLCK, F_UNLCK = 0, 1, 2
ENTRYLK_LOCK, ENTRYLK_UNLOCK, ENTRYLK_LOCK_NB = 0, 1, 2
ENTRYLK_RDLCK, ENTRYLK_WRLCK = 0, 1
EOF_END = (1 << 63) - 1
#: granted locks one client connection may hold in each table (``--max-locks``)
DEFAULT_MAX_LOCKS = 4096


class Owner(NamedTuple):
    """A lock owner: the client connection (any hashable id) and its ``lk_owner`` bytes. A
    tuple: every lock call compares owners with many locks, and a tuple compares in C."""

    client: Hashable
    lk_owner: bytes


@dataclass(frozen=True, slots=True)
class RangeLock:
    """A byte-range lock; ``end`` inclusive (``EOF_END`` for "to end of file")."""

    owner: Owner
    type: int
    start: int
    end: int

    @property
    def length(self) -> int:
        """fcntl ``l_len`` (0 = to end of file)."""
        return 0 if self.end == EOF_END else self.end - self.start + 1

    def overlaps(self, start: int, end: int) -> bool:
        return self.start <= end and start <= self.end


@dataclass(frozen=True, slots=True)
class EntryLock:
    owner: Owner
    type: int
    basename: str | None


#: a lock table's kind of lock
L = TypeVar("L", RangeLock, EntryLock)
#: the callback of a queued request: called with the lock once it is granted
Granted = Callable[[L], None]


def make_range(
    owner: Owner, type_: int, start: int, length: int, *, inodelk: bool = False
) -> RangeLock:
    """A ``RangeLock`` from fcntl's (start, len), checked as GlusterFS's locks xlator checks
    them. EINVAL for a bad type or a negative start, and for LK (``pl_lk``) when start + len is
    negative or past 2^63 - 1 (its 64-bit sum wraps negative); there a negative len locks the
    len bytes before start (fcntl(2)). An INODELK (``pl_common_inodelk``) refuses a negative
    len instead, and takes a range past 2^63 - 1 (gfrpc's then ends at the end of the file)."""
    if start < 0 or type_ not in (F_RDLCK, F_WRLCK, F_UNLCK):
        raise OSError(errno.EINVAL, "bad lock range or type")
    if inodelk:
        if length < 0:
            raise OSError(errno.EINVAL, "a negative inodelk length")
    elif not 0 <= start + length <= EOF_END:
        raise OSError(errno.EINVAL, "a lock range beyond off_t")
    elif length < 0:
        start, length = start + length, -length
    end = EOF_END if length == 0 else min(start + length - 1, EOF_END)
    return RangeLock(owner, type_, start, end)


def _range_conflict(a: RangeLock, b: RangeLock) -> bool:
    return (
        a.start <= b.end
        and b.start <= a.end
        and (a.type == F_WRLCK or b.type == F_WRLCK)
        and a.owner != b.owner
    )


def _range_blocker(granted: list[RangeLock], lk: RangeLock) -> RangeLock | None:
    """The first of ``granted`` that conflicts with ``lk``: ``_range_conflict`` in one loop,
    the cheap comparisons first (a lock call looks at every lock of its inode)."""
    start, end, owner = lk.start, lk.end, lk.owner
    if lk.type == F_WRLCK:
        for g in granted:
            if g.start <= end and start <= g.end and g.owner != owner:
                return g
        return None
    for g in granted:
        if g.type == F_WRLCK and g.start <= end and start <= g.end and g.owner != owner:
            return g
    return None


def _entry_conflict(a: EntryLock, b: EntryLock) -> bool:
    """Two owners' entry locks on the same name (or one on the whole directory) conflict
    whatever their types: GlusterFS's locks xlator does not share ENTRYLK_RDLCKs."""
    names = a.basename is None or b.basename is None or a.basename == b.basename
    return a.owner != b.owner and names


class _Space(Generic[L]):
    __slots__ = ("granted", "waiting")

    def __init__(self) -> None:
        self.granted: list[L] = []
        self.waiting: list[tuple[L, Granted[L]]] = []


class _Table(Generic[L]):
    """Granted locks and waiters per key, one lock for the whole table. With
    ``fair_to_waiters`` a request that conflicts with a queued one waits behind it (GlusterFS
    inodelk/entrylk check their blocked lists); POSIX locks only look at granted locks."""

    fair_to_waiters = True

    def __init__(
        self, conflict: Callable[[L, L], bool], max_per_client: int = DEFAULT_MAX_LOCKS
    ) -> None:
        if max_per_client < 1:
            raise ValueError(f"max locks per client must be at least 1, not {max_per_client}")
        self._conflict: Callable[[L, L], bool] = conflict
        self._lock = threading.Lock()
        self._spaces: dict[Hashable, _Space[L]] = {}
        self.max_per_client = max_per_client
        #: granted locks per client connection, in all of this table's keys
        self._held: dict[Hashable, int] = {}

    def held_by(self, client: Hashable) -> int:
        """How many granted locks ``client`` holds in this table."""
        with self._lock:
            return self._held.get(client, 0)

    def _room(self, client: Hashable, more: int) -> None:
        """ENOLCK if ``client`` may not hold ``more`` granted locks on top of what it has
        (caller holds the table lock)."""
        if more > 0 and self._held.get(client, 0) + more > self.max_per_client:
            raise OSError(errno.ENOLCK, f"this client holds {self.max_per_client} locks already")

    def _count(self, client: Hashable, delta: int) -> None:
        """``client`` holds ``delta`` granted locks more (caller holds the table lock)."""
        if delta:
            held = self._held.get(client, 0) + delta
            if held > 0:
                self._held[client] = held
            else:
                self._held.pop(client, None)

    def _grant(self, space: _Space[L], lk: L, *, check: bool = True) -> None:
        """Add ``lk`` to the granted locks; ``check``: ENOLCK beyond the client's cap (a
        waiter being woken is not checked: it was admitted when it asked)."""
        client = lk.owner.client
        if check:
            self._room(client, 1)
        space.granted.append(lk)
        self._count(client, 1)

    def _blocker(self, space: _Space[L], lk: L) -> L | None:
        return next((g for g in space.granted if self._conflict(g, lk)), None)

    def _acquire(self, key: Hashable, lk: L, block: bool, on_grant: Granted[L] | None) -> bool:
        with self._lock:
            space: _Space[L] = self._spaces.setdefault(key, _Space())
            if self._blocker(space, lk) is None and not (
                self.fair_to_waiters and any(self._conflict(w, lk) for w, _ in space.waiting)
            ):
                try:
                    self._grant(space, lk)
                except OSError:
                    if not space.granted and not space.waiting:
                        del self._spaces[key]
                    raise
                return True
            if not block or on_grant is None:
                if not space.granted and not space.waiting:
                    del self._spaces[key]
                raise OSError(errno.EAGAIN, "lock is held by another owner")
            space.waiting.append((lk, on_grant))
            return False

    def _wake(self, key: Hashable, space: _Space[L]) -> list[tuple[Granted[L], L]]:
        """Grant the waiters that no longer conflict (caller holds the table lock)."""
        ready = []
        still: list[tuple[L, Granted[L]]] = []
        for lk, cb in space.waiting:
            if self._blocker(space, lk) is None and not (
                self.fair_to_waiters and any(self._conflict(w, lk) for w, _ in still)
            ):
                self._grant(space, lk, check=False)
                ready.append((cb, lk))
            else:
                still.append((lk, cb))
        space.waiting = still
        if not space.granted and not space.waiting:
            del self._spaces[key]
        return ready

    def _unlock(
        self, key: Hashable, client: Hashable, keep: Callable[[list[L]], list[L]], what: str
    ) -> bool:
        """An unlock by ``client``: the granted locks under ``key`` become ``keep(granted)``
        (fewer, all of them the client's) and the waiters that no longer conflict are woken;
        EINVAL when ``keep`` removes none (the owner held no such lock)."""
        with self._lock:
            space = self._spaces.get(key)
            kept = keep(space.granted) if space is not None else []
            if space is None or len(kept) == len(space.granted):
                raise OSError(errno.EINVAL, f"no matching {what} to unlock")
            self._count(client, len(kept) - len(space.granted))
            space.granted = kept
            ready = self._wake(key, space)
        self._notify(ready)
        return True

    @staticmethod
    def _notify(ready: list[tuple[Granted[L], L]]) -> None:
        for cb, lk in ready:
            cb(lk)

    def release_client(self, client: Hashable) -> None:
        """Drop every lock and waiter of ``client`` (it disconnected)."""
        self._notify(self.drop_client(client))

    def drop_client(self, client: Hashable) -> list[tuple[Granted[L], L]]:
        """Drop every lock and waiter of ``client`` and return the waiters that are granted
        now, *without* telling them: the caller calls :meth:`notify` once every table has
        dropped the client, so no waiter runs while the dead client still holds a lock."""
        ready: list[tuple[Granted[L], L]] = []
        with self._lock:
            self._held.pop(client, None)
            for key, space in list(self._spaces.items()):
                space.granted = [g for g in space.granted if g.owner.client != client]
                space.waiting = [(w, cb) for w, cb in space.waiting if w.owner.client != client]
                ready += self._wake(key, space)
        return ready

    @staticmethod
    def notify(ready: list[tuple[Granted[L], L]]) -> None:
        """Tell the waiters :meth:`drop_client` granted."""
        _Table._notify(ready)

    def granted(self, key: Hashable) -> list[L]:
        with self._lock:
            space = self._spaces.get(key)
            return list(space.granted) if space else []


class PosixLocks(_Table[RangeLock]):
    """LK: fcntl-style record locks per inode (key: gfid)."""

    fair_to_waiters = False

    def __init__(self, max_per_client: int = DEFAULT_MAX_LOCKS) -> None:
        super().__init__(_range_conflict, max_per_client)

    def _blocker(self, space: _Space[RangeLock], lk: RangeLock) -> RangeLock | None:
        return _range_blocker(space.granted, lk)

    def getlk(self, gfid: bytes, lock: RangeLock) -> RangeLock | None:
        """F_GETLK: the first lock that would block ``lock``, or None (would be granted)."""
        with self._lock:
            space = self._spaces.get(gfid)
            return self._blocker(space, lock) if space else None

    def setlk(
        self,
        gfid: bytes,
        lock: RangeLock,
        *,
        block: bool = False,
        on_grant: Granted[RangeLock] | None = None,
    ) -> bool:
        """F_SETLK / F_SETLKW (``block``). True if granted now; False if queued (``on_grant``
        is called with the lock later); EAGAIN if contended and not blocking."""
        if lock.type == F_UNLCK:
            ready: list[tuple[Granted[RangeLock], RangeLock]] = []
            with self._lock:
                space = self._spaces.get(gfid)
                if space is not None:
                    # a split adds a lock: ENOLCK beyond the cap, and nothing changes
                    self._replace(space, _carve(space.granted, lock), lock.owner.client)
                    space.waiting = [
                        (w, cb)
                        for w, cb in space.waiting
                        if not (w.owner == lock.owner and w.overlaps(lock.start, lock.end))
                    ]
                    ready = self._wake(gfid, space)
            self._notify(ready)
            return True
        granted = self._acquire(gfid, lock, block, on_grant)
        if granted:  # a downgrade (write → read) may let others in
            with self._lock:
                space = self._spaces.get(gfid)
                ready = self._wake(gfid, space) if space else []
            self._notify(ready)
        return granted

    def _grant(self, space: _Space[RangeLock], lk: RangeLock, *, check: bool = True) -> None:
        """Add ``lk``: it replaces its owner's locks on its range (split at the edges) and
        merges with the owner's touching locks of its type. Only the owner's locks that
        touch it are looked at twice; the rest stay in place."""
        granted = space.granted
        start, end, owner = lk.start, lk.end, lk.owner
        near = [
            g for g in granted if g.start <= end + 1 and start <= g.end + 1 and g.owner == owner
        ]
        if not near:  # the usual lock: one more, at the end
            if check:
                self._room(owner.client, 1)
            granted.append(lk)
            self._count(owner.client, 1)
            return
        merged = lk
        pieces = []
        for g in _carve(near, lk):  # coalesce with the owner's touching locks of the same type
            if g.type == lk.type and g.start <= merged.end + 1 and merged.start <= g.end + 1:
                merged = replace(
                    merged, start=min(g.start, merged.start), end=max(g.end, merged.end)
                )
            else:
                pieces.append(g)
        gone = set(map(id, near))
        kept = [g for g in granted if id(g) not in gone]
        self._replace(space, [*kept, *pieces, merged], owner.client, check=check)

    def _replace(
        self,
        space: _Space[RangeLock],
        granted: list[RangeLock],
        client: Hashable,
        *,
        check: bool = True,
    ) -> None:
        """Make ``granted`` the key's granted locks: only ``client``'s differ from before
        (split, merged, added or taken away), so the difference in length is what the client
        holds more; ENOLCK beyond its cap when ``check`` (nothing changes then)."""
        delta = len(granted) - len(space.granted)
        if check:
            self._room(client, delta)
        space.granted = granted
        self._count(client, delta)

    def release_owner(self, gfid: bytes, owner: Owner) -> None:
        """Drop ``owner``'s locks on ``gfid`` (the last close of the file by that owner)."""
        self.setlk(gfid, RangeLock(owner, F_UNLCK, 0, EOF_END))


def _carve(granted: list[RangeLock], cut: RangeLock) -> list[RangeLock]:
    """``granted`` without ``cut.owner``'s locks on [cut.start, cut.end] (split at the edges)."""
    out = []
    start, end, owner = cut.start, cut.end, cut.owner
    for g in granted:
        if g.start > end or start > g.end or g.owner != owner:
            out.append(g)
            continue
        if g.start < cut.start:
            out.append(replace(g, end=cut.start - 1))
        if g.end > cut.end:
            out.append(replace(g, start=cut.end + 1))
    return out


class InodeLocks(_Table[RangeLock]):
    """INODELK / FINODELK: GlusterFS internal range locks per (domain, gfid)."""

    def __init__(self, max_per_client: int = DEFAULT_MAX_LOCKS) -> None:
        super().__init__(_range_conflict, max_per_client)

    def _blocker(self, space: _Space[RangeLock], lk: RangeLock) -> RangeLock | None:
        return _range_blocker(space.granted, lk)

    def lock(
        self,
        domain: str,
        gfid: bytes,
        lock: RangeLock,
        *,
        block: bool = False,
        on_grant: Granted[RangeLock] | None = None,
    ) -> bool:
        """Take ``lock`` (F_RDLCK/F_WRLCK) or, with F_UNLCK, release the newest of the owner's
        locks with exactly that range, whatever its type (EINVAL if none: the locks xlator
        neither splits an inodelk nor drops more than one, and it finds the newest first).
        Blocking semantics as ``PosixLocks.setlk``."""
        key = (domain, gfid)
        if lock.type != F_UNLCK:
            return self._acquire(key, lock, block, on_grant)
        return self._unlock(
            key,
            lock.owner.client,
            lambda granted: _without_one(
                granted,
                lambda g: (g.owner, g.start, g.end) == (lock.owner, lock.start, lock.end),
                newest=True,
            ),
            "inodelk",
        )


class EntryLocks(_Table[EntryLock]):
    """ENTRYLK / FENTRYLK: GlusterFS internal name locks per (domain, directory gfid)."""

    def __init__(self, max_per_client: int = DEFAULT_MAX_LOCKS) -> None:
        super().__init__(_entry_conflict, max_per_client)

    def entrylk(
        self,
        domain: str,
        gfid: bytes,
        owner: Owner,
        basename: str | None,
        cmd: int,
        type_: int = ENTRYLK_WRLCK,
        on_grant: Granted[EntryLock] | None = None,
    ) -> bool:
        """ENTRYLK_LOCK (blocking: queued, False), ENTRYLK_LOCK_NB (EAGAIN if contended) or
        ENTRYLK_UNLOCK (EINVAL if the owner holds no such lock)."""
        key = (domain, gfid)
        if cmd in (ENTRYLK_LOCK, ENTRYLK_LOCK_NB):
            if type_ not in (ENTRYLK_RDLCK, ENTRYLK_WRLCK):
                raise OSError(errno.EINVAL, "bad entrylk type")
            return self._acquire(
                key, EntryLock(owner, type_, basename), cmd == ENTRYLK_LOCK, on_grant
            )
        if cmd != ENTRYLK_UNLOCK:
            raise OSError(errno.EINVAL, "bad entrylk command")
        return self._unlock(
            key,
            owner.client,
            lambda granted: _without_one(
                granted, lambda g: (g.owner, g.basename, g.type) == (owner, basename, type_)
            ),
            "entrylk",
        )


def _without_one(granted: list[L], match: Callable[[L], bool], *, newest: bool = False) -> list[L]:
    """``granted`` (oldest first) less one lock that ``match``es, the oldest or the
    ``newest`` (an unlock: ENTRYLK's must name the same owner, name and type; INODELK's the
    same owner and range)."""
    order = range(len(granted) - 1, -1, -1) if newest else range(len(granted))
    for i in order:
        if match(granted[i]):
            return granted[:i] + granted[i + 1 :]
    return granted
