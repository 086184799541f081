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
  were reading (a peer that announces a record and stalls);
* replies wait to be sent and the kernel took none of them for ``send_timeout`` seconds (a
  peer that stops reading would keep them, up to ``max_unsent_bytes``, for good; GlusterFS
  sets a TCP user timeout of 42 s on its sockets, ``transport.tcp-user-timeout``).

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

*Memory of incomplete records* is one ``IncompleteBudget`` per server (``budget.py``), shared
by all its listeners: the guard hands it to each endpoint, and the watchdog has it review its
finishers once a second, as it reviews any budget a server adds with ``review_also`` (the RPC
server's reply budget, ``rpc/reply_budget.py``, which asks endpoints ``unsent_for``: how long
their replies waited with none taken, as the watchdog saw it).
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

from gfrpc.transport.budget import IncompleteBudget
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
    max_reply_bytes: int = 256 << 20  # replies in the making or unsent, whole server (rpc)
    finish_timeout: float = 5.0  # over the memory budget, a finisher's record must end within (s)
    send_timeout: float = 60.0  # replies waiting for the peer to read must progress within (s)

    def expired(
        self,
        age: float,
        idle: float,
        *,
        handshaking: bool,
        requests: int,
        partial: int | None,
        unsent_for: float = 0.0,
    ) -> str | None:
        """Why a connection ``age`` seconds old, with no input for ``idle`` seconds, must be
        closed now, or None. ``handshaking``: its TLS handshake is not finished; ``requests``:
        whole records received; ``partial``: bytes of a partial record it holds while we read
        (None when it holds none, or reading is paused); ``unsent_for``: seconds that replies
        have waited for the kernel to take them with none taken (0: none wait)."""
        if handshaking:
            if 0 < self.handshake_timeout < age:
                return f"TLS handshake not finished within {self.handshake_timeout:g} s"
        elif requests == 0 and 0 < self.first_request_timeout < age:
            return f"no complete request within {self.first_request_timeout:g} s of connecting"
        if partial is not None and 0 < self.frame_timeout < idle:
            return f"partial record ({partial} bytes) made no progress for {self.frame_timeout:g} s"
        if 0 < self.send_timeout < unsent_for:
            return f"the peer read none of our replies for {self.send_timeout:g} s"
        return None

    def timeouts(self) -> list[float]:
        return [
            t
            for t in (
                self.handshake_timeout,
                self.first_request_timeout,
                self.frame_timeout,
                self.finish_timeout,
                self.send_timeout,
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


class Reviewed(Protocol):
    """A server-wide budget the watchdog reviews once a round (``IncompleteBudget``, the RPC
    server's reply budget)."""

    def review(self) -> None: ...


class Watchdog:
    """The one thread per process that checks every watched endpoint's deadlines."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: set[Endpoint] = set()
        self._budgets: weakref.WeakSet[Reviewed] = weakref.WeakSet()
        self._interval = 1.0
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._last_trim = time.monotonic()

    def watch(self, ep: Endpoint, shortest: float, budgets: tuple[Reviewed, ...] = ()) -> None:
        with self._lock:
            self._watched.add(ep)
            self._budgets.update(budgets)
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
        #: what the watchdog reviews once a round besides the endpoints' deadlines
        self.reviewed: tuple[Reviewed, ...] = (self.budget,)

    def review_also(self, budget: Reviewed) -> None:
        """Have the watchdog review ``budget`` too, once a round, while connections are
        watched (the RPC server's reply budget)."""
        self.reviewed = (*self.reviewed, budget)

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
            WATCHDOG.watch(ep, self._shortest, self.reviewed)

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
