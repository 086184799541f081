"""The bytes of incomplete records a server holds, across all its connections.

Theory of operation
-------------------
*Memory of incomplete records* is one :class:`IncompleteBudget` per server, shared by all its
listeners. After each read an endpoint tells it how many bytes of incomplete records it holds,
and how many its current record still needs. While the total is over the limit (the budget is
*spent*):

* a connection reads at most ``SPENT_READ`` (16 KiB) at once unless it is a finisher, so a
  small request still arrives whole, and a new record's rest is known before it costs more;
* an endpoint that grows stops reading (``pause_for_memory``) unless it is let in as a
  *finisher*, to read its record to the end. What finishers read from then on, and what their
  records still need, count against a slack (a quarter of the limit) that all finishers
  share, and what they read stays counted until their records end or their connections go.
  (Counting only what the records still needed, as before notes 77, gave a place back as its
  finisher read: one peer that sent all but the last byte of records and stalled made a
  listener with a 256 MiB limit hold 6.6 GB.)

*Who is let in* when there is room: the peer machine (``peer_host``: an IPv4 address, an IPv6
/64) that holds least goes first; within one machine, holders in the order they were paused,
but first those whose connections had been open for ``finish_timeout`` when they were paused
(a client keeps its connections for the mount's life; a peer that opens connections to stall
records in them pauses young ones); laggards (below) after everyone else. When the one whose
turn it is does not fit, nobody goes ahead of it, so a stream of small records cannot starve
a big one, nor one machine's connections another's. (Before notes 77 the holders nearest to a
whole record went first; a record that began while others waited then came last, every time.)
When the total falls to three quarters of the limit (records completed, connections closed),
every paused endpoint reads again and nothing is counted on the slack. A well-behaved peer
whose requests arrive whole holds nothing and is never paused.

*A finisher has ``finish_timeout`` seconds* (5 by default) to complete its record while others
wait. A peer can announce records and stall in them, or send one byte a second, which the
frame timeout never catches; so, while holders are paused, the watchdog (once a second) pauses
a finisher that was let in (or began its current record) longer ago than that: a *laggard*.
A finisher whose input is held back for another reason (its replies unsent, its handler's
pause) gives up its place at once. Both keep what they read counted. When the holder whose
turn it is does not fit, laggards, and holders that stopped finishing longer than
``finish_timeout`` ago, are closed (``close_for_memory``), those that read most first, as few as
give it room. An honest record on a slow link is put back in the queue, and is closed only
when its memory is needed by someone who waited.

So the memory stays bounded: the limit, one read per poller thread that was reading when it
was crossed, ``SPENT_READ`` per connection, and the slack; and honest peers always make
progress: a thousand TLS streams each holding part of a 1 MiB WRITE, which paused one another
for good before finishers (issue 9's sweep at 1,000 connections, docs/ARCHITECTURE.md,
Performance notes 70), and honest clients beside a peer that stalls records on purpose (notes
73 and 77).
"""

from __future__ import annotations

import functools
import heapq
import ipaddress
import logging
import socket
import threading
import time
from collections import deque
from typing import Protocol

log = logging.getLogger("gfrpc.transport")


class BudgetHolder(Protocol):
    """What :class:`IncompleteBudget` needs of an endpoint."""

    def pause_for_memory(self) -> None:
        """Called under the budget's lock: set a flag, take no lock."""

    def resume_for_memory(self) -> None: ...

    def input_held_back(self) -> bool: ...

    def peer_text(self) -> str: ...

    @property
    def born(self) -> float:
        """When the connection was made (``time.monotonic()``)."""
        ...

    def peer_host(self) -> str:
        """Who the peer is, for sharing the finishers' slack fairly (``peer_host_key``)."""
        ...

    def close_for_memory(self, reason: str) -> None:
        """Close the connection, logged with ``reason``: what it holds is needed (any thread)."""
        ...


#: what a connection that is not a finisher reads at once while the budget is spent: a small
#: request still arrives whole, and a new record is known (its rest, ``left``) before it costs
#: more than this (module notes, "Memory of incomplete records")
SPENT_READ = 16 * 1024


@functools.lru_cache(maxsize=4096)
def peer_host_key(family: int, host: str) -> str:
    """The unit the budget shares its finishers' slack between: an IPv4 address, an IPv6
    address's /64 (one machine commonly has a whole /64; an IPv4 address mapped into IPv6
    counts as that address), or ``family:host`` for anything else (all UNIX peers are one)."""
    if family == socket.AF_INET6:
        try:
            addr = ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return host
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    if family == socket.AF_INET:
        return host
    return f"{family}:"


class IncompleteBudget:
    """The bytes of incomplete records a server holds, across all its connections."""

    def __init__(
        self, limit: int, *, finish_slack: int | None = None, finish_timeout: float = 5.0
    ) -> None:
        self.limit = limit
        #: what finishers may read beyond what they held when let in, together (module notes)
        self.finish_slack = limit // 4 if finish_slack is None else finish_slack
        #: seconds a finisher may take over its record while others wait (0: no limit)
        self.finish_timeout = finish_timeout
        self._lock = threading.Lock()
        self._charges: dict[BudgetHolder, int] = {}
        self._left: dict[BudgetHolder, int] = {}  # holders whose record's rest is known
        self._paused: set[BudgetHolder] = set()
        self._waiting: dict[BudgetHolder, float] = {}  # paused holder -> since when
        self._finishing: dict[BudgetHolder, int] = {}  # finisher -> what its record still needs
        self._since: dict[BudgetHolder, float] = {}  # finisher -> when its record's turn began
        self._laggards: set[BudgetHolder] = set()  # finishers that ran out of time
        self._reserved = 0  # sum of _finishing
        #: what a holder let in held then (0 once it completed a record): what it holds beyond
        #: that it read on the slack, and keeps counting there until it gives it up
        self._base: dict[BudgetHolder, int] = {}
        self._gain: dict[BudgetHolder, int] = {}  # holder -> what it holds beyond its base
        self._gained = 0  # sum of _gain
        self._dropped: dict[BudgetHolder, float] = {}  # a gain that stopped finishing -> when
        self._evicted: set[BudgetHolder] = set()  # closed to give their gain back, not gone yet
        self._blocked = 0  # what the holder whose turn it is needs, when it did not fit
        self._hosts: dict[BudgetHolder, str] = {}  # peer_host() of holders seen over the limit
        self._over_logged = False
        self.total = 0
        #: the total is over the limit (read without the lock: a hint for read sizes)
        self.spent = False

    @property
    def paused(self) -> int:
        with self._lock:
            return len(self._paused)

    @property
    def finishing(self) -> int:
        with self._lock:
            return len(self._finishing)

    @property
    def gained(self) -> int:
        """Bytes held beyond the limit's share by holders that were let in (at most the
        slack, give or take one read each)."""
        with self._lock:
            return self._gained

    def is_paused(self, ep: BudgetHolder) -> bool:
        with self._lock:
            return ep in self._paused

    def read_size(self, ep: object, size: int) -> int:
        """How much of ``size`` ``ep`` may read at once: all of it while the budget is not
        spent; else ``SPENT_READ``, or for a finisher what its record still needs and
        ``SPENT_READ`` more (so what it reads of the next record is small too). Called by
        the reading thread before each read while ``spent`` is true; no lock (a hint,
        checked again by ``charge`` after the read)."""
        if not self.spent:
            return size
        return min(size, self._finishing.get(ep, 0) + SPENT_READ)  # type: ignore[call-overload]

    def charge(self, ep: BudgetHolder, nbytes: int, left: int = 0) -> None:
        """``ep`` now holds ``nbytes`` of incomplete records (0 when detached), and its current
        record still needs ``left`` bytes (0: unknown, or none held)."""
        pause = False
        resume: list[BudgetHolder] = []
        with self._lock:
            old = self._charges.get(ep, 0)
            if nbytes:
                self._charges[ep] = nbytes
                if left:
                    self._left[ep] = left
                else:
                    self._left.pop(ep, None)
            else:
                self._charges.pop(ep, None)
                self._left.pop(ep, None)
                self._hosts.pop(ep, None)
                self._evicted.discard(ep)
            self.total += nbytes - old
            if self.limit <= 0:
                return
            self.spent = self.total > self.limit
            completed = nbytes < old  # a record was completed (or the connection went away)
            if completed:
                self._laggards.discard(ep)
            released = self._regain_locked(ep, nbytes, completed)
            was_finishing = self._finishing.pop(ep, None)
            if was_finishing is not None:
                self._reserved -= was_finishing
                new_one = completed or left > was_finishing  # a new record (or fragment)
                if (
                    nbytes
                    and left
                    and (not new_one or self._gained + self._reserved + left <= self.finish_slack)
                ):
                    self._finishing[ep] = left  # its record is still on its way
                    self._reserved += left
                    if new_one:
                        self._since[ep] = time.monotonic()
                else:
                    self._stop_finishing_locked(ep)
            if self._paused and self.total <= self.limit * 3 // 4:
                resume = list(self._paused)
                self._forget_locked()
            elif self._paused and (
                released or (was_finishing is not None and ep not in self._finishing)
            ):
                resume = self._admit_finishers_locked()  # a place came free
            if self.total > self.limit and nbytes > old and ep not in self._finishing:
                if ep in self._paused:
                    pause = True  # it read after all (a resume that came late): stop again
                elif not left or self._gained + self._reserved + left > self.finish_slack:
                    self._pause_locked(ep)
                    pause = True
                elif not self._paused:
                    self._admit_locked(ep, left)  # nobody waits: let in as it comes
                else:  # it fits, but others wait: it takes its turn among them
                    self._pause_locked(ep)
                    admitted = self._admit_finishers_locked()
                    if ep in admitted:
                        admitted.remove(ep)
                    else:
                        pause = True
                    resume += admitted
            if not nbytes and ep in self._paused:
                self._unpause_locked(ep)
                resume.append(ep)
            if pause:
                # under the lock, so that no resume decided after this can come before it
                ep.pause_for_memory()
            total, paused = self.total, len(self._paused)
            first_pause = pause and not self._over_logged
            if first_pause:
                self._over_logged = True
            elif not paused:
                self._over_logged = False
        if pause:
            log.log(
                logging.WARNING if first_pause else logging.DEBUG,
                "%s: pausing input: %d bytes of incomplete records held by all "
                "connections (limit %d), %d by this one; %d paused",
                ep.peer_text(),
                total,
                self.limit,
                nbytes,
                paused,
            )
        for e in resume:
            e.resume_for_memory()

    def _regain_locked(self, ep: BudgetHolder, nbytes: int, completed: bool) -> bool:
        """Count what ``ep``, if it was let in, now holds beyond its base; True when that fell
        (slack came free)."""
        base = self._base.get(ep)
        if base is None:
            return False
        if completed:  # what it holds of its next record came with a read of this one's end
            base = self._base[ep] = nbytes
        gain = max(0, nbytes - base)
        before = self._gain.get(ep, 0)
        self._gained += gain - before
        if gain:
            self._gain[ep] = gain
        else:
            self._gain.pop(ep, None)
            self._dropped.pop(ep, None)
            if ep not in self._finishing:
                del self._base[ep]
        return gain < before

    def _forget_locked(self) -> None:
        """Below the low-water mark: everyone reads again, and nothing is counted on the
        slack any more."""
        self._paused.clear()
        self._waiting.clear()
        self._finishing.clear()
        self._since.clear()
        self._laggards.clear()
        self._base.clear()
        self._gain.clear()
        self._dropped.clear()
        self._evicted.clear()
        self._hosts.clear()
        self._reserved = self._gained = self._blocked = 0

    def review(self, now: float | None = None) -> None:
        """While holders are paused: finishers whose input is held back for another reason,
        and finishers whose record took longer than ``finish_timeout``, give up their places
        to them; when the holder whose turn it is still does not fit, holders that stopped
        finishing that long ago are closed, as few as give it room (the watchdog, about once
        a second; module notes)."""
        late: list[BudgetHolder] = []
        evict: list[tuple[BudgetHolder, int]] = []
        with self._lock:
            if not self._paused:
                return
            now = time.monotonic() if now is None else now
            timeout = self.finish_timeout
            for ep in list(self._finishing):
                if ep.input_held_back():
                    self._drop_finisher_locked(ep, now)
                elif 0 < timeout < now - self._since[ep]:
                    self._drop_finisher_locked(ep, now)
                    self._laggards.add(ep)
                    self._pause_locked(ep)
                    ep.pause_for_memory()
                    late.append(ep)
            resume = self._admit_finishers_locked(now)
            late = [e for e in late if e in self._paused]  # not admitted again at once
            need = self._blocked
            if need and timeout > 0:
                room = self.finish_slack - self._gained - self._reserved
                stale = [
                    e
                    for e, when in self._dropped.items()
                    if e not in self._evicted and (e in self._laggards or now - when > timeout)
                ]
                for e in sorted(stale, key=self._gain.__getitem__, reverse=True):
                    if room >= need:
                        break
                    self._evicted.add(e)
                    evict.append((e, self._gain[e]))
                    room += self._gain[e]
            paused = len(self._paused)
        if late:
            log.info(
                "%s%s: pausing input: a record did not complete within %g s while %d "
                "connections waited for memory",
                late[0].peer_text(),
                f" and {len(late) - 1} more" if len(late) > 1 else "",
                self.finish_timeout,
                paused,
            )
        for e, gain in evict:
            e.close_for_memory(
                f"a record stalled for {self.finish_timeout:g} s or more while {paused} "
                f"connections waited for memory; giving back the {gain} bytes it read "
                "while let in"
            )
        for e in resume:
            e.resume_for_memory()

    def _admit_locked(self, ep: BudgetHolder, need: int, now: float | None = None) -> None:
        self._finishing[ep] = need
        self._reserved += need
        self._since[ep] = time.monotonic() if now is None else now
        if ep not in self._base:
            self._base[ep] = self._charges.get(ep, 0)
        self._dropped.pop(ep, None)

    def _drop_finisher_locked(self, ep: BudgetHolder, now: float) -> None:
        self._reserved -= self._finishing.pop(ep)
        del self._since[ep]
        self._stop_finishing_locked(ep, now)

    def _stop_finishing_locked(self, ep: BudgetHolder, now: float | None = None) -> None:
        """``ep`` is no longer a finisher: what it gained stays counted until given back."""
        self._since.pop(ep, None)
        if ep in self._gain:
            self._dropped[ep] = time.monotonic() if now is None else now
        else:
            self._base.pop(ep, None)

    def _pause_locked(self, ep: BudgetHolder) -> None:
        self._paused.add(ep)
        self._waiting.setdefault(ep, time.monotonic())

    def _unpause_locked(self, ep: BudgetHolder) -> None:
        self._paused.discard(ep)
        self._waiting.pop(ep, None)

    def _host_locked(self, ep: BudgetHolder) -> str:
        host = self._hosts.get(ep)
        if host is None:
            host = self._hosts[ep] = ep.peer_host()
        return host

    def _admit_finishers_locked(self, now: float | None = None) -> list[BudgetHolder]:
        """Admit waiting holders while the slack lasts; the paused ones among them are
        returned, to be resumed. The peer (``peer_host``) that holds least (incomplete
        records and finishers' needs) goes first; within it, holders in the order they were
        paused, but first those whose connections were older than ``finish_timeout`` when
        paused; laggards come after every other holder. When the one whose turn it is does
        not fit, nobody goes ahead of it: it waits for room (``_blocked``), so small records
        cannot starve a big one, nor one peer's holders another's."""
        self._blocked = 0
        room = self.finish_slack - self._gained - self._reserved
        resume: list[BudgetHolder] = []
        left, laggards = self._left, self._laggards
        waiting = [e for e in left if e not in self._finishing and e not in self._evicted]
        if not waiting:
            return resume
        host_of = self._host_locked
        now = time.monotonic() if now is None else now
        since, settled = self._waiting, self.finish_timeout

        def order(ep: BudgetHolder) -> tuple[int, float]:
            """In the order paused, holders of connections that had been open for
            ``finish_timeout`` when paused before those of younger ones."""
            paused = since.get(ep, now)
            return (0 if paused - ep.born >= settled else 1, paused)

        share: dict[str, int] = {}  # peer -> what it holds and its finishers still need
        for ep, held in self._charges.items():
            host = host_of(ep)
            share[host] = share.get(host, 0) + held + self._finishing.get(ep, 0)
        for late in (False, True):
            queues: dict[str, deque[BudgetHolder]] = {}
            for ep in sorted(waiting, key=order):
                if (ep in laggards) is late:
                    queues.setdefault(host_of(ep), deque()).append(ep)
            turns = [(share.get(host, 0), i, host) for i, host in enumerate(queues)]
            heapq.heapify(turns)
            while turns:
                held, i, host = heapq.heappop(turns)
                queue = queues[host]
                ep = queue[0]
                need = left[ep]
                if need > room:
                    self._blocked = need
                    return resume  # its turn: it waits for room, and everyone after it
                queue.popleft()
                if not ep.input_held_back():
                    self._admit_locked(ep, need, now)
                    room -= need
                    held += need
                    if ep in self._paused:
                        self._unpause_locked(ep)
                        resume.append(ep)
                if queue:
                    heapq.heappush(turns, (held, i, host))
        return resume
