"""The ``single`` poller: one thread drives every endpoint.

Theory of operation. This is GlusterFS before 2012, and ``event-threads 1``. One thread waits
in ``epoll_wait`` (level-triggered) for every registered fd plus one ``eventfd`` used to wake
it. Because only this thread ever handles a pollable, exclusivity is free: no per-endpoint
handler bookkeeping is needed. Other threads ask for attention with :meth:`kick`, which puts
the pollable on a set and writes to the eventfd; the loop drains the set and handles each
one. After each handling the loop re-reads the pollable's interest and changes the epoll
registration only when it changed (one ``epoll_ctl`` at most per event). Each batch from
``epoll_wait`` is handled from a different place on each turn (``base.rotated``): the kernel
returns the fds that stay ready in the same order every time, and many streams handled in
that order were served unevenly.

Lending (``pollers/base.py``, ``FdClaims``): each fd has a *claim*, a lock the loop takes
without waiting around each handling. A caller that borrows the pollable holds the claim and
sets the fd's registration to nothing; an event or kick that finds the claim taken is
remembered (and the claim tried once more, in case it was given back meanwhile), and
``give_back`` kicks the pollable when something was missed or it is finished. Level-triggered
epoll still reports a hang-up on a lent fd (EPOLLHUP cannot be masked); the caller, woken by
the same hang-up, gives the pollable back at once.

What limits it: one core's worth of Python. With TLS every 16 KiB record is one decrypt call
in this thread; the GIL is released during the decrypt, but the work of all connections is
serialised here, so throughput tops out at what one thread can decrypt and parse.
"""

from __future__ import annotations

import logging
import os
import select
import threading

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


class SinglePoller(Poller):
    name = "single"

    def __init__(self) -> None:
        self._turn = 0  # batches so far: where the next one begins (base.rotated)
        self._epoll = select.epoll()
        self._wakefd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._epoll.register(self._wakefd, select.EPOLLIN)
        self._lock = threading.Lock()
        self._by_fd: dict[int, Pollable] = {}
        self._masks: dict[int, int] = {}
        self._claims = FdClaims()
        self._kicked: set[Pollable] = set()
        self._new: list[Pollable] = []
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._fds_closed = False

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="gfrpc-poll-single", daemon=True
                )
                self._thread.start()

    def register(self, pollable: Pollable) -> None:
        self.start()
        with self._lock:
            if self._stopping:
                raise RuntimeError("poller is stopped")
            self._new.append(pollable)
            os.eventfd_write(self._wakefd, 1)

    def kick(self, pollable: Pollable) -> None:
        with self._lock:
            if self._fds_closed:
                return
            self._kicked.add(pollable)
            os.eventfd_write(self._wakefd, 1)

    def pollable_count(self) -> int:
        with self._lock:
            return len(self._by_fd) + len(self._new)

    def _stop_accepting(self) -> list[Pollable] | None:
        with self._lock:
            if self._stopping:
                return None
            self._stopping = True
            return list(self._by_fd.values()) + list(self._new)

    def _wind_down(self, timeout: float) -> None:
        with self._lock:
            os.eventfd_write(self._wakefd, 1)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if thread is None or not thread.is_alive():
            with self._lock:
                self._fds_closed = True
                self._epoll.close()
                os.close(self._wakefd)

    # -- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            if self._stopping:  # set once, under the lock; read without it on every turn
                with self._lock:
                    if not self._by_fd and not self._new:
                        break
            events = self._epoll.poll(1.0)
            if len(events) > 1:  # a lone event (one small request) pays only this test
                self._turn += 1
                events = rotated(events, self._turn)
            for fd, ev in events:
                if fd == self._wakefd:
                    self._drain_wake()
                    continue
                p = self._by_fd.get(fd)
                if p is not None:
                    self._handle(
                        p,
                        bool(ev & select.EPOLLIN),
                        bool(ev & select.EPOLLOUT),
                        bool(ev & EPOLL_ERR),
                    )

    def _drain_wake(self) -> None:
        take_wakeup(self._wakefd)
        with self._lock:
            new, self._new = self._new, []
            kicked, self._kicked = self._kicked, set()
        for p in new:
            fd = p.fileno()
            self._by_fd[fd] = p
            self._masks[fd] = 0
            self._claims.add(fd)
            self._epoll.register(fd, 0)
            self._handle(p, False, False, False)
        for p in kicked:
            fd = p.fileno()
            if self._by_fd.get(fd) is p:
                self._handle(p, False, False, False)

    def _handle(self, p: Pollable, readable: bool, writable: bool, error: bool) -> None:
        fd = p.fileno()
        claim = self._claims.locks[fd]
        if not claim.acquire(False) and not self._claims.found_lent(fd, claim):
            return  # lent to a caller: it hears of this at give_back
        try:
            try:
                with self.baton:
                    alive = p.handle_events(readable, writable, error)
            except Exception:  # a bug in a handler must not kill the loop for everyone
                log.exception("handler failed; closing that connection")
                alive = False
            if not alive:
                with self._lock:
                    del self._by_fd[fd]
                    del self._masks[fd]
                    self._claims.remove(fd)
                    self._kicked.discard(p)
                try:
                    self._epoll.unregister(fd)
                except OSError:
                    pass
                p.finalize()
                return
            mask = epoll_mask(p.interest())
            if mask != self._masks[fd]:
                self._masks[fd] = mask
                self._epoll.modify(fd, mask)
        finally:
            claim.release()

    # -- lending ----------------------------------------------------------------------------

    def borrow(self, pollable: Pollable) -> bool:
        fd = pollable.fileno()
        if self._by_fd.get(fd) is not pollable or self._stopping:
            return False
        return self._claims.lend(fd, self._epoll, self._masks)

    def give_back(self, pollable: Pollable, alive: bool) -> None:
        if self._claims.give_back(pollable, self._epoll, self._masks, alive):
            self.kick(pollable)
