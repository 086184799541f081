"""Facts the brick reads from an inode's xattrs, cached by inode and validated by its ctime.

Theory of operation. Some FOPs read the same xattr of the same inode again and again: every
access check of a caller other than root reads the POSIX access ACL (``system.posix_acl_access``)
of the object, every creation the parent's default ACL, every READDIRP entry and LOOKUP its
``trusted.gfid``. Each is one ``getxattr`` system call plus, when the key is absent, a Python
exception. This cache remembers such a value per (st_dev, st_ino, key), together with the
inode's ``st_ctime_ns`` when the value was read, and answers it only for a stat with the same
ctime.

Why the ctime is enough. The kernel updates an inode's ctime on every change of its xattrs
(ACLs and ``trusted.gfid`` included), of its mode (a chmod also rewrites the ACL's mask) and of
its link count; ctime cannot be set by a user (utimes sets atime and mtime only). So a changed
value always comes with a changed ctime, whoever changed it: a FOP of this brick, another
process on the brick directory, an admin's ``setfacl``. An inode number reused after its inode
was deleted has the ctime of the new inode's creation, later than any the cache holds. One
hole is left: ctime is taken from the kernel's coarse clock (one tick, 1 to 10 ms), so a change
in the same tick as the read would keep the ctime. Hence the *settle* rule (git's "racily
clean" index entries): a value is only cached when the inode's ctime is more than ``settle_ns``
(50 ms) old when it is stored; any later change then gets a later tick, so a different ctime.
An inode changed in the last 50 ms is simply read every time. The store also forgets the ACLs
of an inode it chmods, or whose ACL keys it sets or removes (``forget``), so no correctness rests
on the clock for the brick's own changes.

The brick's own writes, the two exceptions to the settle rule (first for ``trusted.gfid``):
``put_own`` caches at once the gfid the store has just set on an inode it made (CREATE,
MKDIR, MKNOD, SYMLINK), and ``carry`` moves a cached gfid from the ctime before to the ctime
after a change the store itself made that does not touch it (a WRITE). Without them every
file would be read again at its first LOOKUP after it was written: fio's smallfile read pass,
which looks up each new file once, paid an ``open``, ``fstat``, ``getxattr`` and ``close`` more
for every file (Performance notes 61). What the settle rule guarded there is an outside change
of the same inode in the same tick: a local ``setfattr`` of ``trusted.gfid``, or an inode the
brick removed whose number a process on the brick's directory (not a client: every entry a
client makes gets its gfid through ``put_own``) reuses at once. A LOOKUP checks that the gfid's
handle is this very inode (``StoreBase._handle_matches``) before it answers a cached gfid for
the first time at a ctime, and keeps the result for that ctime (``StoreBase.handle_checked``:
a file's handle is a hard link, so removing or replacing it changes the file's link count and
ctime); a READDIRP entry could show the old gfid until the inode next changes. Both need root
on the brick's host, in the tick of a brick's own change.

The same two exceptions for the POSIX ACLs, with one more guard. Every entry a FOP adds,
removes or renames changes its directory's ctime, so in a directory being filled every access
check of a FUSE user (search and write permission on the parent) and every creation (the
parent's default ACL) read the parent's ACLs again: the settle rule never let them in. Now
CREATE, MKDIR, MKNOD, SYMLINK and LINK ``carry`` the parent's cached ACLs from its stat
before to its stat after, UNLINK, RMDIR and RENAME too for a caller other than root (whose
checks read no ACL), and a user's WRITE the file's (``StoreBase._changed_not_acls``; not
when it cleared a set-id bit); and an entry made for a user in a directory without a default ACL
is ``put_own`` with no ACL of its own
(``StoreBase._made_without_acl``: the kernel copies none, and the store never sets one from a
creation's xdata). The guard: both take ``since``, the cache's ``generation`` (a count of
``forget`` calls) from before the first stat, and do nothing if any ACL was forgotten since,
or while any ACL change of the brick's own is under way. The store makes every such change
(SETXATTR or REMOVEXATTR of an ACL key, a chmod) inside ``changing``, which forgets the
inode's ACLs when it ends. So a value read before such a change in another thread, or put at
a ctime the change went past, is never carried to a ctime after it; nor is a new entry taken
to have no ACL while its directory's default ACL was being set. An outside ``setfacl`` on
the brick's directory during one of these FOPs (microseconds) would be carried, as the
outside ``setfattr`` above would: GlusterFS's own posix-acl never rereads an ACL changed
behind its back.

What it never does: it caches values, not access decisions (the mode, owner and group come from
the caller's fresh stat each time), and never a path or a descriptor, so it cannot make any
object reachable; a miss costs exactly what the uncached read cost. Bounded: the least recently
used entries go beyond ``size``.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final, Generic, TypeVar

T = TypeVar("T")
#: how old an inode's ctime must be before a value read from it is cached (see above)
SETTLE_NS: Final = 50_000_000


class InodeCache(Generic[T]):
    """``key`` values of inodes, by (st_dev, st_ino), valid while the ctime is unchanged."""

    def __init__(self, size: int = 16384, *, settle_ns: int = SETTLE_NS) -> None:
        self.size = size
        self.settle_ns = settle_ns
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[int, int, str], tuple[int, T]] = OrderedDict()
        self._forgets = 0
        self._changing = 0  # changes of cached keys under way (``changing``)

    @property
    def generation(self) -> int:
        """How many ``forget`` calls there have been. Taken before a change, it tells ``carry``
        and ``put_own`` (their ``since``) whether the brick has changed a cached key of any
        inode meanwhile, in any thread."""
        return self._forgets

    def get(self, st: os.stat_result, key: str) -> tuple[bool, T | None]:
        """(True, value) when the value of ``key`` read at ``st``'s ctime is known."""
        k = (st.st_dev, st.st_ino, key)
        with self._lock:
            found = self._items.get(k)
            if found is None:
                return False, None
            if found[0] != st.st_ctime_ns:
                del self._items[k]
                return False, None
            self._items.move_to_end(k)
            return True, found[1]

    def put(self, st: os.stat_result, key: str, value: T) -> None:
        """Remember ``value`` of ``key``, read after ``st`` was taken, if ``st``'s ctime has
        settled (is older than ``settle_ns``)."""
        if time.time_ns() - st.st_ctime_ns <= self.settle_ns:
            return
        with self._lock:
            self._items[(st.st_dev, st.st_ino, key)] = (st.st_ctime_ns, value)
            self._items.move_to_end((st.st_dev, st.st_ino, key))
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def put_own(self, st: os.stat_result, key: str, value: T, *, since: int | None = None) -> None:
        """Remember ``value`` of ``key``, which the brick itself has just set on the inode it
        made (or knows it made it without), at ``st``'s ctime (taken after that) however
        fresh (the module notes). With ``since`` (a ``generation``), only if nothing was
        forgotten since then."""
        k = (st.st_dev, st.st_ino, key)
        with self._lock:
            if since is not None and (since != self._forgets or self._changing):
                return
            self._items[k] = (st.st_ctime_ns, value)
            self._items.move_to_end(k)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def carry(
        self,
        before: os.stat_result,
        after: os.stat_result,
        *keys: str,
        since: int | None = None,
    ) -> None:
        """The brick itself changed the inode between the stats ``before`` and ``after``
        without touching ``keys``: values cached at ``before``'s ctime hold at ``after``'s.
        With ``since`` (a ``generation`` taken before ``before``), only if nothing was
        forgotten since then."""
        dev, ino, then = before.st_dev, before.st_ino, before.st_ctime_ns
        items = self._items
        with self._lock:
            if since is not None and (since != self._forgets or self._changing):
                return
            for key in keys:
                found = items.get((dev, ino, key))
                if found is not None and found[0] == then:
                    items[dev, ino, key] = (after.st_ctime_ns, found[1])

    @contextmanager
    def changing(self, st: os.stat_result, *keys: str) -> Iterator[None]:
        """Around the brick's own change of ``keys`` of ``st``'s inode: while it is under way
        no ``since``-guarded ``carry`` or ``put_own`` of any inode is done, and at its end
        (whatever the outcome) the inode's values are forgotten and the generation moves on.
        So a FOP that read a value before the change, or whose new entry inherited from a
        directory the change was changing, never keeps it past the change."""
        with self._lock:
            self._changing += 1
        try:
            yield
        finally:
            self.forget(st, *keys)  # before the change stops counting as under way
            with self._lock:
                self._changing -= 1

    def forget(self, st: os.stat_result, *keys: str) -> None:
        """Drop the values of ``keys`` of ``st``'s inode (after the brick changed them)."""
        with self._lock:
            self._forgets += 1
            for key in keys:
                self._items.pop((st.st_dev, st.st_ino, key), None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
