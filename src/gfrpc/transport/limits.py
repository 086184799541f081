"""What one peer may cost a server: timeouts, a connection limit and a memory budget.

Theory of operation
-------------------
A server hands every listener a :class:`ConnectionGuard` built from its :class:`ServerLimits`;
the listener asks it before keeping an accepted socket (``try_admit``: the connection limit)
and gives it to each endpoint, which reports to it (``attach``/``detach``, ``charge``).

*Timeouts* are checked by one :class:`Watchdog` thread per process (never a thread or a timer
per connection): it wakes a few times per shortest timeout, walks the endpoints it watches and
calls ``check_deadlines(now)`` on each, which closes the connection with a logged reason when

* its TLS handshake has not finished ``handshake_timeout`` seconds after it connected;
* it has not sent one complete request ``first_request_timeout`` seconds after it connected
  (a connection that completed a request, even only a DUMP or a PING, is never closed for
  being idle: a mount keeps its volfile connection open for its whole life);
* part of a record is buffered and no byte arrived for ``frame_timeout`` seconds while we
  were reading (a peer that announces a record and stalls).

Walking 4,096 endpoints costs about a millisecond, so the scan stays cheap. The same thread
trims the shared pool of recycled record bodies.

*Memory back to the system.* A closed endpoint is freed by reference counting as soon as its
last user lets go: it drops its handler and its close reason's traceback, which both refer back
to it (``lifecycle.GONE``; before, each closed connection and its OpenSSL buffers waited for a
full collection of the cyclic garbage collector, docs/ARCHITECTURE.md, Performance notes 74).
The watchdog keeps no snapshot of the endpoints between its rounds, for the same reason. But
glibc keeps in its heaps what is freed, and after a thousand TLS connections closed the brick
stayed near its peak (notes 72). So when a server that had ``TRIM_FROM`` or more connections
open is down to half of its peak, a short-lived thread asks the allocator to give the freed
memory back (``malloc_trim``: tens of milliseconds for hundreds of MB, with the GIL let go, and
not on the poller thread that saw the connection go), and the peak starts again from there; it
goes on at each further halving down to ``TRIM_DOWN_TO`` connections, so the last quarter of a
mass disconnect is given back too (notes 76): a few calls after a mass disconnect, none under
steady use. No collection is forced.

*Memory of incomplete records* is one :class:`IncompleteBudget` per server, shared by all its
listeners. After each read an endpoint tells it how many bytes of incomplete records it holds,
and how many its current record still needs. While the total is over the limit, an endpoint
that grows stops reading (``pause_for_memory``) unless it becomes a *finisher*: the rest of its
record must fit in a slack (a quarter of the limit) that all finishers share. Finishers read on
until their records are whole, which frees what they held; when one leaves, the paused holders
nearest to a whole record take the slack it gave back. When the total falls to three quarters
of the limit (records completed, connections closed, e.g. by the frame timeout), every paused
endpoint reads again. A well-behaved peer whose requests arrive whole holds nothing and is
never paused.

So the memory stays bounded (the limit, one read per connection that was reading when the
limit was crossed, and the slack) and honest peers always make progress. Without finishers,
a thousand TLS streams each holding part of a 1 MiB WRITE paused one another for good: every
holder was stopped, so no record completed and the total never fell (issue 9's sweep at 1,000
connections, docs/ARCHITECTURE.md, Performance notes 70). A hog that announces a record
larger than the slack is never a finisher, and the frame timeout closes it. A finisher whose
input is held back for another reason (its replies unsent, its handler's pause) gives up its
place when the watchdog looks, once a second.

*A finisher has ``finish_timeout`` seconds* (5 by default) to complete its record while others
wait. A peer can announce records and stall in the middle of them, or send one byte a second,
which the frame timeout never catches; if it held the finishers' places that way, every honest
holder would stay paused for as long as it liked. So, while holders are paused, the watchdog
pauses a finisher that was admitted (or began its current record) longer ago than that, and
gives its place to the others. Such a *laggard* comes after every other holder when places are
given out again, and a laggard paused with no new byte meets the frame timeout like any
stalled record. An honest record on a slow link is only put back in the queue: it is admitted
again when the others are done.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gfrpc.wire.record import BodyPool

if TYPE_CHECKING:
    from gfrpc.transport.endpoint import Endpoint

log = logging.getLogger("gfrpc.transport")

#: recycled large record bodies of every connection of this process (see wire/record.py)
BODY_POOL = BodyPool(lock=threading.Lock())


@dataclass(frozen=True)
class ServerLimits:
    """Per-server limits on what one peer may cost; 0 turns a limit off."""

    handshake_timeout: float = 10.0  # TLS handshake must finish within (s)
    first_request_timeout: float = 30.0  # a complete request must arrive within (s)
    frame_timeout: float = 60.0  # a partial record must progress within (s)
    max_connections: int = 4096  # accepted connections alive at once
    max_incomplete_bytes: int = 256 << 20  # bytes of incomplete records, whole server
    max_unsent_bytes: int = 16 << 20  # a connection's unsent replies before it is paused
    finish_timeout: float = 5.0  # over the memory budget, a finisher's record must end within (s)

    def expired(
        self,
        age: float,
        idle: float,
        *,
        handshaking: bool,
        requests: int,
        partial: int | None,
    ) -> str | None:
        """Why a connection ``age`` seconds old, with no input for ``idle`` seconds, must be
        closed now, or None. ``handshaking``: its TLS handshake is not finished; ``requests``:
        whole records received; ``partial``: bytes of a partial record it holds while we read
        (None when it holds none, or reading is paused)."""
        if handshaking:
            if 0 < self.handshake_timeout < age:
                return f"TLS handshake not finished within {self.handshake_timeout:g} s"
        elif requests == 0 and 0 < self.first_request_timeout < age:
            return f"no complete request within {self.first_request_timeout:g} s of connecting"
        if partial is not None and 0 < self.frame_timeout < idle:
            return f"partial record ({partial} bytes) made no progress for {self.frame_timeout:g} s"
        return None

    def timeouts(self) -> list[float]:
        return [
            t
            for t in (
                self.handshake_timeout,
                self.first_request_timeout,
                self.frame_timeout,
                self.finish_timeout,
            )
            if t > 0
        ]


#: connections a server must have had open at once before closing them gives memory back
TRIM_FROM = 256
#: once that began, it goes on at each halving down to this many connections
TRIM_DOWN_TO = 16


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
        return trim
    except (OSError, AttributeError):  # not glibc
        return None


def release_freed_memory() -> bool:
    """Ask the C allocator to give freed memory back to the system (glibc's ``malloc_trim``,
    called with the GIL let go); False where there is no such call."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def release_freed_memory_soon() -> None:
    """``release_freed_memory`` on a thread of its own (the caller may be a poller thread)."""
    threading.Thread(target=release_freed_memory, name="gfrpc-release", daemon=True).start()


class BudgetHolder(Protocol):
    """What :class:`IncompleteBudget` needs of an endpoint."""

    def pause_for_memory(self) -> None:
        """Called under the budget's lock: set a flag, take no lock."""

    def resume_for_memory(self) -> None: ...

    def input_held_back(self) -> bool: ...

    def peer_text(self) -> str: ...


class IncompleteBudget:
    """The bytes of incomplete records a server holds, across all its connections."""

    def __init__(
        self, limit: int, *, finish_slack: int | None = None, finish_timeout: float = 5.0
    ) -> None:
        self.limit = limit
        #: what the finishers' records may still need, together (module notes)
        self.finish_slack = limit // 4 if finish_slack is None else finish_slack
        #: seconds a finisher may take over its record while others wait (0: no limit)
        self.finish_timeout = finish_timeout
        self._lock = threading.Lock()
        self._charges: dict[BudgetHolder, int] = {}
        self._left: dict[BudgetHolder, int] = {}  # holders whose record's rest is known
        self._paused: set[BudgetHolder] = set()
        self._finishing: dict[BudgetHolder, int] = {}  # finisher -> what it may still need
        self._since: dict[BudgetHolder, float] = {}  # finisher -> when its record's turn began
        self._laggards: set[BudgetHolder] = set()  # finishers that ran out of time
        self._reserved = 0  # sum of _finishing
        self._over_logged = False
        self.total = 0

    @property
    def paused(self) -> int:
        with self._lock:
            return len(self._paused)

    @property
    def finishing(self) -> int:
        with self._lock:
            return len(self._finishing)

    def is_paused(self, ep: BudgetHolder) -> bool:
        with self._lock:
            return ep in self._paused

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
            self.total += nbytes - old
            if self.limit <= 0:
                return
            if nbytes < old:  # a record was completed (or the connection went away)
                self._laggards.discard(ep)
            was_finishing = self._finishing.pop(ep, None)
            if was_finishing is not None:
                self._reserved -= was_finishing
                if nbytes and left and self._reserved + left <= self.finish_slack:
                    self._finishing[ep] = left  # its record is still on its way
                    self._reserved += left
                    if nbytes < old or left > was_finishing:  # and it is a new one
                        self._since[ep] = time.monotonic()
                else:
                    del self._since[ep]
            if self._paused and self.total <= self.limit * 3 // 4:
                resume = list(self._paused)
                self._paused.clear()
                self._finishing.clear()
                self._since.clear()
                self._laggards.clear()
                self._reserved = 0
            elif self._paused and was_finishing is not None and ep not in self._finishing:
                resume = self._admit_finishers_locked()  # a place came free
            if self.total > self.limit and nbytes > old and ep not in self._finishing:
                if ep in self._paused:
                    pause = True  # it read after all (a resume that came late): stop again
                elif left and self._reserved + left <= self.finish_slack:
                    self._admit_locked(ep, left)  # it is reading: admitted as it comes
                else:
                    self._paused.add(ep)
                    pause = True
            if not nbytes and ep in self._paused:
                self._paused.discard(ep)
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

    def review(self, now: float | None = None) -> None:
        """While holders are paused, finishers whose input is held back for another reason,
        and finishers whose record took longer than ``finish_timeout``, give up their places
        to them (the watchdog, about once a second; module notes)."""
        late: list[BudgetHolder] = []
        with self._lock:
            if not self._paused:
                return
            now = time.monotonic() if now is None else now
            timeout = self.finish_timeout
            for ep in list(self._finishing):
                if ep.input_held_back():
                    self._drop_finisher_locked(ep)
                elif 0 < timeout < now - self._since[ep]:
                    self._drop_finisher_locked(ep)
                    self._laggards.add(ep)
                    self._paused.add(ep)
                    ep.pause_for_memory()
                    late.append(ep)
            resume = self._admit_finishers_locked(now)
            late = [e for e in late if e in self._paused]  # not admitted again at once
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
        for e in resume:
            e.resume_for_memory()

    def _admit_locked(self, ep: BudgetHolder, need: int, now: float | None = None) -> None:
        self._finishing[ep] = need
        self._reserved += need
        self._since[ep] = time.monotonic() if now is None else now

    def _drop_finisher_locked(self, ep: BudgetHolder) -> None:
        self._reserved -= self._finishing.pop(ep)
        del self._since[ep]

    def _admit_finishers_locked(self, now: float | None = None) -> list[BudgetHolder]:
        """Admit the holders nearest to a whole record while the slack lasts, laggards last;
        the paused ones among them are returned, to be resumed."""
        room = self.finish_slack - self._reserved
        resume: list[BudgetHolder] = []
        if room <= 0:
            return resume
        left, laggards = self._left, self._laggards
        waiting = [e for e in left if e not in self._finishing]
        for ep in sorted(waiting, key=lambda e: (e in laggards, left[e])):
            need = left[ep]
            if need > room:
                break
            if ep.input_held_back():
                continue
            self._admit_locked(ep, need, now)
            room -= need
            if ep in self._paused:
                self._paused.discard(ep)
                resume.append(ep)
        return resume


class Watchdog:
    """The one thread per process that checks every watched endpoint's deadlines."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: set[Endpoint] = set()
        self._budgets: weakref.WeakSet[IncompleteBudget] = weakref.WeakSet()
        self._interval = 1.0
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._last_trim = time.monotonic()

    def watch(self, ep: Endpoint, shortest: float, budget: IncompleteBudget | None = None) -> None:
        with self._lock:
            self._watched.add(ep)
            if budget is not None:
                self._budgets.add(budget)
            interval = min(1.0, max(0.02, shortest / 5))
            if interval < self._interval:
                self._interval = interval
                self._wake.set()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="gfrpc-watchdog", daemon=True
                )
                self._thread.start()

    def unwatch(self, ep: Endpoint) -> None:
        with self._lock:
            self._watched.discard(ep)

    @property
    def watched(self) -> int:
        with self._lock:
            return len(self._watched)

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._check_all(time.monotonic())

    def _check_all(self, now: float) -> None:
        """One round of checks. Its own call, so that the snapshot of the endpoints goes when
        the round ends: kept over the wait, it would keep closed ones (and their buffers)
        alive for another interval, past the memory release of a mass disconnect."""
        with self._lock:
            endpoints = list(self._watched)
        for ep in endpoints:
            try:
                ep.check_deadlines(now)
            except Exception:  # one broken endpoint must not stop the checks for all
                log.exception("deadline check failed")
        with self._lock:
            budgets = list(self._budgets)
        for budget in budgets:
            try:
                budget.review()
            except Exception:
                log.exception("budget review failed")
        if now - self._last_trim > 5.0:
            self._last_trim = now
            BODY_POOL.trim(10.0)


WATCHDOG = Watchdog()


class ConnectionGuard:
    """What a listener and its endpoints share: limits, the live count, the budget."""

    def __init__(self, limits: ServerLimits, budget: IncompleteBudget | None = None) -> None:
        self.limits = limits
        self.budget = (
            budget
            if budget is not None
            else IncompleteBudget(limits.max_incomplete_bytes, finish_timeout=limits.finish_timeout)
        )
        self._lock = threading.Lock()
        self.live = 0
        self._peak = 0  # most connections open at once since memory was last given back
        self._trimming = False  # a peak of TRIM_FROM or more is being given back, halving down
        self.refused = 0
        self._refused_logged = 0
        self._last_log = 0.0
        self._shortest = min(limits.timeouts(), default=0.0)

    def try_admit(self) -> bool:
        """Count one more connection, or refuse it (logged at most every 10 s)."""
        with self._lock:
            limit = self.limits.max_connections
            if limit <= 0 or self.live < limit:
                self.live += 1
                if self.live > self._peak:
                    self._peak = self.live
                return True
            self.refused += 1
            now = time.monotonic()
            if now - self._last_log < 10.0:
                return False
            self._last_log = now
            count, self._refused_logged = self.refused - self._refused_logged, self.refused
        log.warning(
            "refusing connections: %d connections open (max-connections %d); "
            "%d refused since the last message",
            limit,
            limit,
            count,
        )
        return False

    def attach(self, ep: Endpoint) -> None:
        if self._shortest > 0:
            WATCHDOG.watch(ep, self._shortest, self.budget)

    def detach(self, ep: Endpoint | None) -> None:
        """An admitted connection is gone (``ep`` None: it never became an endpoint)."""
        with self._lock:
            self.live -= 1
            if self._peak >= TRIM_FROM:
                self._trimming = True
            trim = self._trimming and self.live * 2 <= self._peak
            if self.live <= TRIM_DOWN_TO:
                self._trimming = False
            if trim:
                self._peak = self.live
        if ep is not None:
            WATCHDOG.unwatch(ep)
            self.budget.charge(ep, 0)
        if trim:  # (module notes)
            release_freed_memory_soon()
