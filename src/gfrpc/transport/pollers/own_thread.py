"""The ``own-thread`` poller: one thread per connection (the 2011 "gatling gun").

Theory of operation. Each pollable (connection or listener) gets a thread of its own that
loops on ``poll()`` over two fds: the socket and an ``eventfd`` that other threads write to
when they kick it (output queued, reading resumed, close requested). Only that thread handles
the pollable, so exclusivity is by construction. Sockets stay **non-blocking**, exactly as in
the other models; the thread only blocks in ``poll()``. (GlusterFS's own-thread code used
blocking TLS calls with a private ``poll()`` inside, a poor fit that made teardown racy.)

Cleanup, which the seed patch lacked: when ``handle_events`` reports the pollable finished,
the thread itself calls ``finalize()`` (closing the socket and notifying the upper layer),
closes its eventfd and returns. ``stop()`` aborts every pollable and joins every thread, so
no fd and no thread outlives its connection.

What limits it: threads. Every connection's thread competes for the GIL; with TLS each 16 KiB
record is a GIL release and re-acquire, and with 24 busy connections on 2 cores the hand-offs
cost more CPU than the single or pool models spend.
"""

from __future__ import annotations

import logging
import os
import select
import threading

from gfrpc.transport.pollers.base import Pollable, Poller, take_wakeup

log = logging.getLogger("gfrpc.transport.poller")

_IN = select.POLLIN | select.POLLRDHUP
_ERR = select.POLLERR | select.POLLHUP | select.POLLNVAL


class _Runner:
    __slots__ = ("pollable", "wakefd", "thread")

    def __init__(self, pollable: Pollable) -> None:
        self.pollable = pollable
        self.wakefd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.thread: threading.Thread | None = None


class OwnThreadPoller(Poller):
    name = "own-thread"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runners: dict[int, _Runner] = {}
        self._stopping = False
        self._to_join: list[_Runner] = []  # the runners stop() waits for

    def start(self) -> None:
        pass  # threads start with their pollables

    def register(self, pollable: Pollable) -> None:
        runner = _Runner(pollable)
        with self._lock:
            if self._stopping:
                os.close(runner.wakefd)
                raise RuntimeError("poller is stopped")
            self._runners[id(pollable)] = runner
        t = threading.Thread(
            target=self._run, args=(runner,), daemon=True, name=f"gfrpc-conn-{pollable.fileno()}"
        )
        runner.thread = t
        t.start()

    def kick(self, pollable: Pollable) -> None:
        with self._lock:
            runner = self._runners.get(id(pollable))
            if runner is None:
                return
            os.eventfd_write(runner.wakefd, 1)

    def pollable_count(self) -> int:
        return len(self._runners)  # one read of one dict: no lock needed for a snapshot

    def _stop_accepting(self) -> list[Pollable] | None:
        with self._lock:
            self._stopping = True
            self._to_join = list(self._runners.values())
        return [r.pollable for r in self._to_join]

    def _wind_down(self, timeout: float) -> None:
        me = threading.current_thread()
        for r in self._to_join:
            if r.thread is not None and r.thread is not me:
                r.thread.join(timeout)

    def _run(self, runner: _Runner) -> None:
        p = runner.pollable
        fd = p.fileno()
        poll = select.poll()
        poll.register(runner.wakefd, select.POLLIN)
        readable = writable = error = False
        try:
            while True:
                try:
                    with self.baton:
                        alive = p.handle_events(readable, writable, error)
                except Exception:
                    log.exception("handler failed; closing that connection")
                    alive = False
                if not alive:
                    break
                want_read, want_write = p.interest()
                poll.register(fd, (_IN if want_read else 0) | (select.POLLOUT if want_write else 0))
                readable = writable = error = False
                for efd, ev in poll.poll():
                    if efd == runner.wakefd:
                        take_wakeup(runner.wakefd)
                    else:
                        readable = bool(ev & _IN)
                        writable = bool(ev & select.POLLOUT)
                        error = bool(ev & _ERR)
        finally:
            with self._lock:
                del self._runners[id(p)]
                os.close(runner.wakefd)
            p.finalize()
