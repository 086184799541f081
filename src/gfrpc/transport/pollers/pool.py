"""The ``pool`` poller: N threads on one epoll, EPOLLONESHOT, re-armed after handling.

Theory of operation. This is GlusterFS's ``event-threads N`` (multi-threaded epoll since 3.7).
Every fd is registered with ``EPOLLONESHOT``: when the kernel reports an event on it, the fd
is disarmed, so no other thread can receive an event for it until it is re-armed with
``EPOLL_CTL_MOD``. Each thread asks ``epoll_wait`` for **one** event at a time, handles it and
only then re-arms the fd with the pollable's current interest. So at most one thread handles a
given pollable, and the load spreads over the threads connection by connection.

Kicks from other threads (more output queued, reading resumed, close requested) cannot simply
``EPOLL_CTL_MOD`` the fd: re-arming while a handler runs would let a second thread in (the
GlusterFS bug of issue #3698). Instead each pollable has a small state under a lock:
``busy`` (a thread is handling it) and ``again`` (something asked for attention meanwhile).
A kick on an idle pollable is queued on an eventfd and handled by whichever thread wakes;
a kick on a busy one sets ``again`` and the busy thread loops once more before re-arming.
An event that arrives for a busy pollable (possible only through a kick's handling) is folded
the same way. Re-arming happens exactly once, by the thread that clears ``busy``.

Lending (``pollers/base.py``) uses the same state: ``borrow`` sets ``busy`` on an idle slot and
disarms its fd, so no pool thread gets it; kicks meanwhile set ``again``. ``give_back``
re-arms it and clears ``busy``, or, when something was missed or the pollable is finished,
queues it for a pool thread, which handles it and re-arms as after any kick.

With the baton (the brick's default; ``transport/baton.py``) a handling runs under it, except
a *heavy* connection's: one whose last handlings did big work outside the GIL (the thread's
own ``Baton.big_work()`` count moved while it was handled). Such a connection is handled
without the baton, as on ``sharded``, until ``QUIET_HANDLINGS`` handlings in a row without
such work make it light again; nothing moves, any thread still takes its next event. A
stream's handling is mostly work outside the GIL, and waiting to take the baton back between
its parts cost more than the baton saved: fio's 24 TLS streams into ``pool`` x2 ran as with
``--baton off``, and STAT callers beside a writer got 10-26 % more STATs per second
(docs/ARCHITECTURE.md, Performance notes 51).

What limits it: the GIL. Two threads can decrypt in parallel (OpenSSL releases the GIL) but
the Python work between records is serialised; with more threads than cores, hand-offs of
the GIL cost CPU.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections import deque

from gfrpc.transport.baton import QUIET_HANDLINGS
from gfrpc.transport.pollers.base import EPOLL_ERR, Pollable, Poller, epoll_mask, take_wakeup

log = logging.getLogger("gfrpc.transport.poller")

_ONESHOT = select.EPOLLONESHOT


class _Slot:
    """Handling state of one pollable."""

    __slots__ = ("pollable", "fd", "busy", "again", "dead", "heavy", "quiet")

    def __init__(self, pollable: Pollable) -> None:
        self.pollable = pollable
        self.fd = pollable.fileno()
        self.busy = False
        self.again = False
        self.dead = False
        self.heavy = False  # its handlings do big work outside the GIL: run without the baton
        self.quiet = 0  # while heavy: handlings in a row without such work


class PoolPoller(Poller):
    name = "pool"

    def __init__(self, event_threads: int = 2) -> None:
        if event_threads < 1:
            raise ValueError("event-threads must be at least 1")
        self.event_threads = event_threads
        self._epoll = select.epoll()
        self._wakefd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC | os.EFD_SEMAPHORE)
        self._epoll.register(self._wakefd, select.EPOLLIN)
        self._lock = threading.Lock()
        self._slots: dict[int, _Slot] = {}
        self._by_pollable: dict[int, _Slot] = {}
        self._queue: deque[_Slot] = deque()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._closed = threading.Event()

    def start(self) -> None:
        with self._lock:
            if self._threads:
                return
            for i in range(self.event_threads):
                t = threading.Thread(target=self._run, name=f"gfrpc-poll-{i}", daemon=True)
                self._threads.append(t)
                t.start()

    def register(self, pollable: Pollable) -> None:
        self.start()
        slot = _Slot(pollable)
        with self._lock:
            if self._stopping:
                raise RuntimeError("poller is stopped")
            self._slots[slot.fd] = slot
            self._by_pollable[id(pollable)] = slot
            slot.busy = True  # disarmed until its first handling re-arms it
            self._epoll.register(slot.fd, _ONESHOT)
            self._queue.append(slot)
            os.eventfd_write(self._wakefd, 1)

    def kick(self, pollable: Pollable) -> None:
        with self._lock:
            slot = self._by_pollable.get(id(pollable))
            if slot is None or slot.dead:
                return
            if slot.busy:
                slot.again = True
                return
            slot.busy = True
            self._queue.append(slot)
            os.eventfd_write(self._wakefd, 1)

    def pollable_count(self) -> int:
        return len(self._slots)  # one read of one dict: no lock needed for a snapshot

    def _stop_accepting(self) -> list[Pollable] | None:
        with self._lock:
            if self._stopping:
                return None
            self._stopping = True
            return [s.pollable for s in self._slots.values()]

    def _wind_down(self, timeout: float) -> None:
        with self._lock:
            if not self._closed.is_set():
                os.eventfd_write(self._wakefd, len(self._threads) + 1)
        me = threading.current_thread()
        for t in self._threads:
            if t is not me:
                t.join(timeout)
        with self._lock:
            if not any(t.is_alive() for t in self._threads) and not self._closed.is_set():
                self._closed.set()
                self._epoll.close()
                os.close(self._wakefd)

    # -- worker threads ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            # ``_stopping`` only ever turns true, and ``_wind_down`` then wakes every thread
            # through the eventfd: a plain read here, the lock only once it is set
            if self._stopping:
                with self._lock:
                    if not self._slots:
                        break
            try:
                events = self._epoll.poll(1.0, 1)
            except OSError:  # epoll closed by the last thread out
                break
            for fd, ev in events:
                if fd == self._wakefd:
                    self._take_queued()
                    continue
                with self._lock:
                    slot = self._slots.get(fd)
                    if slot is None or slot.dead:
                        continue
                    if slot.busy:
                        slot.again = True
                        continue
                    slot.busy = True
                self._dispatch(
                    slot,
                    bool(ev & select.EPOLLIN),
                    bool(ev & select.EPOLLOUT),
                    bool(ev & EPOLL_ERR),
                )

    def _take_queued(self) -> None:
        if not take_wakeup(self._wakefd):
            return
        with self._lock:
            slot = self._queue.popleft() if self._queue else None
        if slot is not None:
            self._dispatch(slot, False, False, False)

    def _dispatch(self, slot: _Slot, readable: bool, writable: bool, error: bool) -> None:
        """Handle ``slot`` (we own ``busy``), loop while kicked, then re-arm exactly once."""
        p = slot.pollable
        baton = self.baton
        while True:
            before = baton.big_work()
            try:
                if slot.heavy:  # a streaming connection: handled without the baton (notes)
                    alive = p.handle_events(readable, writable, error)
                else:
                    with baton:
                        alive = p.handle_events(readable, writable, error)
            except Exception:
                log.exception("handler failed; closing that connection")
                alive = False
            if not alive:
                self._retire(slot)
                return
            if baton.big_work() != before:
                slot.heavy = True
                slot.quiet = 0
            elif slot.heavy:
                slot.quiet += 1
                if slot.quiet >= QUIET_HANDLINGS:
                    slot.heavy = False
            with self._lock:
                if slot.again:
                    slot.again = False
                    readable = writable = error = False
                    continue
                slot.busy = False
                # re-arm under the lock, so a concurrent retire cannot close the fd between
                self._epoll.modify(slot.fd, epoll_mask(p.interest()) | _ONESHOT)
            return

    def borrow(self, pollable: Pollable) -> bool:
        with self._lock:
            slot = self._by_pollable.get(id(pollable))
            if slot is None or slot.dead or slot.busy or self._stopping:
                return False
            slot.busy = True
            try:
                self._epoll.modify(slot.fd, _ONESHOT)  # disarmed: no pool thread gets it
            except (OSError, ValueError):
                slot.busy = False
                return False
            return True

    def give_back(self, pollable: Pollable, alive: bool) -> None:
        with self._lock:
            slot = self._by_pollable.get(id(pollable))
            if slot is None or slot.dead:
                return
            if alive and not slot.again:
                slot.busy = False
                try:
                    self._epoll.modify(slot.fd, epoll_mask(pollable.interest()) | _ONESHOT)
                    return
                except (OSError, ValueError):
                    slot.busy = True
            slot.again = False
            self._queue.append(slot)  # still busy: a pool thread handles it and re-arms
            os.eventfd_write(self._wakefd, 1)

    def _retire(self, slot: _Slot) -> None:
        with self._lock:
            slot.dead = True
            del self._slots[slot.fd]
            del self._by_pollable[id(slot.pollable)]
            try:
                self._epoll.unregister(slot.fd)
            except OSError:
                pass
        slot.pollable.finalize()
