"""The ``sharded`` poller: N threads, each with its own epoll; a pollable stays on one of them.

Theory of operation. This is Ceph's AsyncMessenger (``ms_async_op_threads``: a fixed set of
workers, each one thread with its own event loop, a connection bound to one worker when it is
created), which no GlusterFS release has had. A *shard* is one thread, one ``select.epoll``
and one ``eventfd`` that other threads write to when they need it. A pollable lives on one
shard at a time (where, see "Placement" below): its every ``handle_events``, its interest
changes (``epoll.modify``) and its ``finalize()`` run on that shard's thread. Exclusivity is
by construction, as in ``single``: no busy/again bookkeeping, no shared queue, no lock on the
way from ``epoll_wait`` to the handler.

Level-triggered, not edge-triggered, on purpose. An endpoint reads a bounded amount per event
(one socket read; with TLS, up to four) so that one fast peer cannot starve the others of
its shard, and it leaves input in the socket while reading is paused. Level-triggered epoll
reports such an fd again on the next ``epoll_wait``; edge-triggered would not report it until
more bytes arrived, and every endpoint would have to read until EAGAIN. It also reports the
fds that stay ready in the same order every time, so each batch is handled from a different
place on each turn (``base.rotated``; without it, of 100 streams on one shard the last few
were served 0.6 of the median's share). Level-triggered costs
nothing extra here: the shard keeps each fd's registered mask and calls ``epoll.modify`` only
when ``interest()`` changed after a handling (writes left pending, reading paused or
resumed). A steady request/reply connection makes **no** ``epoll_ctl`` per request; ``pool``
makes one per event (its EPOLLONESHOT re-arm).

Kicks (output queued, reading resumed, a close requested) put the pollable on its shard's
kicked list. From another thread the kick also writes the shard's eventfd, only if no wake-up
is pending yet (coalesced: a burst of kicks costs one write and one read). From the shard's
own thread (a handler that queues output on its own connection) no write is needed: the loop
looks at its kicked list before it sleeps again. Each kicked pollable is then handled with no
events, as the contract asks, and its interest re-read.

Lending (``pollers/base.py``, ``FdClaims``) works as in ``single``, per shard: each fd has a
claim that the shard's thread takes without waiting around each handling; a borrower holds it
and sets the fd's registration to nothing, and what the shard found meanwhile is remembered and
kicked at ``give_back``.

Stopping: every shard thread leaves its loop once the poller is stopping and it watches
nothing, and closes its own epoll and eventfd on the way out (under its lock, so a late kick
never writes to a closed, perhaps reused, fd number).

Placement, with the baton (the brick's default; ``transport/baton.py``). Under the GIL a
second poller thread buys something only where work runs outside it: a big socket read, a
big TLS decryption or encryption, a big ``pwrite``, which the handler does with the baton
handed over. For small requests it only costs: each thread sleeps and wakes on its own, and
the two hand the GIL and the baton to and fro (a small-file create cost the brick 366 µs on
two shards against 293 µs on one thread; docs/ARCHITECTURE.md, Performance notes 44). So a
new pollable goes to the *home* shard (the first), and a connection moves when it turns
*heavy*, the first time one of its handlings does such work (the shard thread's own
``Baton.big_work()`` count moved while it was handled): to the shard with the fewest such
heavy connections; on a tie, away from the home shard (then staying where it is).
Small-request connections thus share one thread, as with ``single``, while streaming ones
spread over all of them, as before, and the first streaming connection leaves the light
ones their thread: with one writer beside four
STAT callers on two shards, the callers got 26-38 % more STATs per second than when the
writer stayed home on the tie, and the writer as much less (``tools/mixed-load``;
docs/ARCHITECTURE.md, Performance notes 45). A heavy connection stays heavy, and where it
moved, until it closes or goes ``QUIET_HANDLINGS`` handlings in a row without such work:
then it is light again and goes back to the home shard (a FUSE mount, one connection per
brick for all its work, that copied a big file and then only looks up and lists). A stream
does such work at least once per record, so it never gets that far; a connection that
switches between the two kinds of work moves at most once per ``QUIET_HANDLINGS``
handlings.

A heavy connection is handled **without the baton**. Its handling is mostly work outside the
GIL, with a little Python between the parts (a record's header, the reply); with the baton,
each part meant handing it over and waiting to take it back from the other thread, which
ran its own handling's Python meanwhile. fio's 24 TLS streams into ``sharded`` x2 went from
0.84x to 0.96x of glusterfsd x2 (medians of five alternated runs), seq-read without TLS from
1.01x to 1.14x, and a writer beside four STAT callers wrote faster while the callers got more
STATs per second too (docs/ARCHITECTURE.md, Performance notes 50). Light connections keep the
baton: their Python still runs one thread at a time, and a streaming connection's little
Python may interleave with it.

The move runs on the shard's thread at the end of a handling, while it holds the fd's claim
(so the fd is not lent) and the poller's lock (so ``stop()`` finds the pollable on one shard
or the other): the fd leaves the old epoll, ``_shard_of`` names the new shard, and the
pollable joins the new shard's ``new`` list, whose first handling (no events, as after a
kick) re-reads its interest. A kick that still reached the old shard finds the pollable gone
there and is covered by that first handling, which comes after it.

Without the baton (``baton=False``: the models as they are, for study) nothing is counted,
and pollables are pinned by count for good: to the shard that watches the fewest (ties go
round-robin), least-loaded rather than plain round-robin, so that after churn (a batch of
clients gone from one shard) the emptied shard is refilled first. (Ceph also binds a
connection to a worker by load.) The listener counts as one pollable.

When it wins against ``pool``: many connections with modest traffic each (small-file and
metadata work, the 1,000-client scale), and handlers run inline on the poller thread. There
is no re-arm syscall per event, no lock per event, events of several ready connections come
back from one ``epoll_wait``, and a kick never wakes a second thread to run it. What it
gives up: a few busy connections that became heavy together land on different shards, but a
heavy connection moves only once while it stays heavy: two that turn busy later, after their
first big record placed them, may share a thread while another sleeps, where ``pool`` would
run them on two threads; on a 2-core machine with the client beside the brick that sharing
measured faster than two threads, TLS or not (docs/ARCHITECTURE.md, Performance notes 49;
with more cores, and the client elsewhere, it may not be).
And in a burst of many new streams, each stream's first record is read on the home shard
before the stream moves, while ``pool`` hands every ready connection to whichever thread is
free: at 100 and 1,000 streaming connections ``sharded`` x2 moved 0.97x and 0.90x of ``pool``
x2's MB/s (medians of four sweeps) at 1.3x and 1.8x its p99 per call, the p99 being the streams'
first records, the later ones waiting less than on ``pool`` (notes 47, 48 and 49). It is
the brick's default, for the small-request rows (note 47).
"""

from __future__ import annotations

import itertools
import logging
import os
import select
import threading

from gfrpc.transport.baton import QUIET_HANDLINGS, Baton
from gfrpc.transport.pollers.base import (
    EPOLL_ERR,
    FdClaims,
    Pollable,
    Poller,
    epoll_mask,
    rotated,
    take_wakeup,
)

log = logging.getLogger("gfrpc.transport.poller")

_IDLE_WAIT = 1.0  # seconds a quiet shard sleeps before it looks at the stop flag again


class _Shard:
    """One thread, one epoll, one eventfd, and the pollables pinned to them.

    ``by_fd`` and ``masks`` change only on the shard's thread (under ``lock``, so that
    ``stop()`` can take a consistent list); ``kicked``, ``new`` and ``wake_pending`` are
    written by any thread under ``lock``.
    """

    def __init__(self, index: int) -> None:
        self.index = index
        self.epoll = select.epoll()
        self.wakefd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.epoll.register(self.wakefd, select.EPOLLIN)
        self.lock = threading.Lock()
        self.by_fd: dict[int, Pollable] = {}
        self.masks: dict[int, int] = {}
        self.claims = FdClaims()  # taken while handled or lent
        self.kicked: dict[int, Pollable] = {}  # id -> pollable: coalesced, in kick order
        self.new: list[Pollable] = []
        self.heavy: set[int] = set()  # ids of the heavy pollables here (see "Placement")
        self.quiet: dict[int, int] = {}  # heavy id -> handlings in a row without big work
        self.wake_pending = False
        self.turn = 0  # batches so far: where the next one begins (base.rotated)
        self.thread: threading.Thread | None = None
        self.ident: int | None = None  # the shard thread's id, once it runs
        self.stopping = False
        self.closed = False

    def load(self) -> int:
        return len(self.by_fd) + len(self.new)

    def wake_locked(self) -> None:
        """Make the shard's thread look at its lists (caller holds ``lock``)."""
        if self.wake_pending or threading.get_ident() == self.ident:
            return  # a write is on its way, or we are the shard: it looks before it sleeps
        self.wake_pending = True
        os.eventfd_write(self.wakefd, 1)

    def close_fds_locked(self) -> None:
        if not self.closed:
            self.closed = True
            self.epoll.close()
            os.close(self.wakefd)


class ShardedPoller(Poller):
    name = "sharded"

    def __init__(self, event_threads: int = 2) -> None:
        if event_threads < 1:
            raise ValueError("event-threads must be at least 1")
        self.event_threads = event_threads
        self._lock = threading.Lock()  # start, register, stop; never taken per event
        self._shards = [_Shard(i) for i in range(event_threads)]
        self._shard_of: dict[int, _Shard] = {}  # id(pollable) -> its shard
        self._next = itertools.cycle(range(event_threads))  # where a tie search starts
        self._started = False
        self._stopping = False

    def start(self) -> None:
        with self._lock:
            if self._started or self._stopping:
                return
            self._started = True
            for shard in self._shards:
                shard.thread = threading.Thread(
                    target=self._run, args=(shard,), name=f"gfrpc-shard-{shard.index}", daemon=True
                )
                shard.thread.start()

    def register(self, pollable: Pollable) -> None:
        self.start()
        with self._lock:
            if self._stopping:
                raise RuntimeError("poller is stopped")
            shard = self._shards[0] if self._places() else self._least_loaded()
            self._shard_of[id(pollable)] = shard
            with shard.lock:
                shard.new.append(pollable)
                shard.wake_locked()

    def _places(self) -> bool:
        """Whether pollables start on the home shard and heavy ones spread ("Placement")."""
        return isinstance(self.baton, Baton)

    def _least_loaded(self) -> _Shard:
        """The shard watching the fewest pollables; among equals, round-robin."""
        first = next(self._next)
        n = len(self._shards)
        order = [self._shards[(first + i) % n] for i in range(n)]
        return min(order, key=_Shard.load)

    def kick(self, pollable: Pollable) -> None:
        shard = self._shard_of.get(id(pollable))  # one dict read: no poller lock per kick
        if shard is None:
            return
        with shard.lock:
            if shard.closed:
                return
            shard.kicked[id(pollable)] = pollable
            shard.wake_locked()

    def pollable_count(self) -> int:
        return sum(s.load() for s in self._shards)  # a snapshot; each term is one read

    def shard_loads(self) -> list[int]:
        """How many pollables each shard watches (for tests and diagnostics)."""
        return [s.load() for s in self._shards]

    def heavy_loads(self) -> list[int]:
        """How many heavy pollables each shard watches (for tests and diagnostics)."""
        return [len(s.heavy) for s in self._shards]

    def _stop_accepting(self) -> list[Pollable] | None:
        with self._lock:
            if self._stopping:
                return None
            self._stopping = True
            found: list[Pollable] = []
            for shard in self._shards:
                with shard.lock:
                    shard.stopping = True
                    found += shard.by_fd.values()
                    found += shard.new
            return found

    def _wind_down(self, timeout: float) -> None:
        me = threading.current_thread()
        for shard in self._shards:
            with shard.lock:
                if not shard.closed:
                    os.eventfd_write(shard.wakefd, 1)  # look at the stop flag now
        for shard in self._shards:
            thread = shard.thread
            if thread is None:  # never started: nobody else will close its fds
                with shard.lock:
                    shard.close_fds_locked()
            elif thread is not me:
                thread.join(timeout)

    # -- a shard's thread -------------------------------------------------------------------

    def _run(self, shard: _Shard) -> None:
        shard.ident = threading.get_ident()
        epoll = shard.epoll
        wakefd = shard.wakefd
        by_fd = shard.by_fd
        try:
            while True:
                if shard.stopping:
                    with shard.lock:
                        if not by_fd and not shard.new:
                            return
                # own-thread kicks are not written to the eventfd: do not sleep past them
                wait = 0.0 if (shard.kicked or shard.new) else _IDLE_WAIT
                woken = False
                events = epoll.poll(wait)
                if len(events) > 1:  # a lone event (one small request) pays only this test
                    shard.turn += 1
                    events = rotated(events, shard.turn)
                for fd, ev in events:
                    if fd == wakefd:
                        woken = True
                        continue
                    p = by_fd.get(fd)
                    if p is not None:  # None: retired earlier in this batch
                        self._handle(
                            shard,
                            p,
                            bool(ev & select.EPOLLIN),
                            bool(ev & select.EPOLLOUT),
                            bool(ev & EPOLL_ERR),
                        )
                if woken or shard.kicked or shard.new:
                    self._drain(shard, woken)
        finally:
            with shard.lock:
                shard.close_fds_locked()

    def _drain(self, shard: _Shard, woken: bool) -> None:
        """Watch the newly registered pollables and handle the kicked ones, once each."""
        if woken:
            take_wakeup(shard.wakefd)
        with shard.lock:
            new, shard.new = shard.new, []
            kicked, shard.kicked = shard.kicked, {}
            shard.wake_pending = False
            for p in new:
                fd = p.fileno()
                shard.by_fd[fd] = p
                shard.masks[fd] = 0
                shard.claims.add(fd)
        for p in new:
            kicked.pop(id(p), None)  # its first handling below covers the kick
            try:
                shard.epoll.register(p.fileno(), 0)
            except OSError as exc:  # not a pollable fd any more: finish it, keep the shard
                log.warning("cannot watch fd %d: %s", p.fileno(), exc)
                self._retire(shard, p, p.fileno())
                continue
            self._handle(shard, p, False, False, False)
        for p in kicked.values():
            if shard.by_fd.get(p.fileno()) is p:  # not retired, its fd number not reused
                self._handle(shard, p, False, False, False)

    def _handle(
        self, shard: _Shard, p: Pollable, readable: bool, writable: bool, error: bool
    ) -> None:
        fd = p.fileno()
        claim = shard.claims.locks[fd]
        if not claim.acquire(False) and not shard.claims.found_lent(fd, claim):
            return  # lent to a caller: it hears of this at give_back
        try:
            baton = self.baton
            key = id(p)
            heavy = key in shard.heavy
            before = baton.big_work()
            try:
                if heavy:  # a streaming connection: handled without the baton (notes)
                    alive = p.handle_events(readable, writable, error)
                else:
                    with baton:
                        alive = p.handle_events(readable, writable, error)
            except Exception:  # a bug in a handler must not kill the shard for everyone
                log.exception("handler failed; closing that connection")
                alive = False
            if not alive:
                self._retire(shard, p, fd)
                return
            if baton.big_work() != before:
                if key not in shard.heavy:
                    if self._spread(shard, p, fd):
                        return
                else:
                    shard.quiet.pop(key, None)
            elif heavy:
                quiet = shard.quiet.get(key, 0) + 1
                if quiet < QUIET_HANDLINGS:
                    shard.quiet[key] = quiet
                elif self._settle(shard, p, fd):
                    return
            mask = epoll_mask(p.interest())
            if mask != shard.masks[fd]:
                shard.masks[fd] = mask
                shard.epoll.modify(fd, mask)
        finally:
            claim.release()

    # -- lending ----------------------------------------------------------------------------

    def borrow(self, pollable: Pollable) -> bool:
        shard = self._shard_of.get(id(pollable))
        fd = pollable.fileno()
        if shard is None or shard.by_fd.get(fd) is not pollable or shard.stopping:
            return False
        return shard.claims.lend(fd, shard.epoll, shard.masks)

    def give_back(self, pollable: Pollable, alive: bool) -> None:
        shard = self._shard_of.get(id(pollable))
        if shard is not None and shard.claims.give_back(pollable, shard.epoll, shard.masks, alive):
            self.kick(pollable)

    # -- placement ----------------------------------------------------------------------------

    def _spread(self, shard: _Shard, p: Pollable, fd: int) -> bool:
        """``p`` has just turned heavy on ``shard`` (whose thread this is, holding the fd's
        claim): count it on the shard with the fewest heavy pollables (on a tie, a shard other
        than the home one, and then ``shard`` itself), and move it there. True when it moved
        (the module notes say how)."""
        with self._lock:
            if self._stopping:
                return False
            home = self._shards[0]
            target = min(self._shards, key=lambda s: (len(s.heavy), s is home, s is not shard))
            if target is shard:
                with shard.lock:
                    shard.heavy.add(id(p))
                return False
            self._move_locked(shard, p, fd, target, heavy=True)
        return True

    def _settle(self, shard: _Shard, p: Pollable, fd: int) -> bool:
        """``p``, heavy on ``shard`` (whose thread this is, holding the fd's claim), has gone
        ``QUIET_HANDLINGS`` handlings without big work: it is light again, and goes back to
        the home shard. True when it moved."""
        with self._lock:
            if self._stopping:
                return False
            with shard.lock:
                shard.heavy.discard(id(p))
                shard.quiet.pop(id(p), None)
            home = self._shards[0]
            if shard is home:
                return False
            self._move_locked(shard, p, fd, home, heavy=False)
        return True

    def _move_locked(
        self, shard: _Shard, p: Pollable, fd: int, target: _Shard, *, heavy: bool
    ) -> None:
        """Move ``p`` from ``shard`` to ``target`` (the caller holds the poller's lock and,
        on ``shard``'s thread, the fd's claim); its first handling there has no events."""
        with shard.lock:
            _unwatch_locked(shard, p, fd)
        self._shard_of[id(p)] = target
        with target.lock:
            if heavy:
                target.heavy.add(id(p))
            target.new.append(p)
            target.wake_locked()

    def _retire(self, shard: _Shard, p: Pollable, fd: int) -> None:
        """Stop watching ``p`` and finalize it, on its shard's thread."""
        with shard.lock:
            _unwatch_locked(shard, p, fd)
        self._shard_of.pop(id(p), None)  # later kicks find no shard: they are no-ops
        p.finalize()


def _unwatch_locked(shard: _Shard, p: Pollable, fd: int) -> None:
    """Forget ``p`` (on ``fd``) on ``shard`` and stop watching its fd (caller holds
    ``shard.lock``, on the shard's thread): for a move and for a retirement alike."""
    shard.heavy.discard(id(p))
    shard.quiet.pop(id(p), None)
    del shard.by_fd[fd]
    del shard.masks[fd]
    shard.claims.remove(fd)
    shard.kicked.pop(id(p), None)
    try:
        shard.epoll.unregister(fd)
    except OSError:
        pass
