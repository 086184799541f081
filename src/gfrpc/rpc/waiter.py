"""The completion a synchronous call sleeps on, and the thread's doorbell that wakes it.

Theory of operation. A synchronous ``RpcClient.call`` sends its CALL and sleeps until the
transport's input thread (a poller) has the reply. The input thread must wake it, and *how*
it wakes it decides what the call costs under the GIL.

With a lock (``_thread.allocate_lock``, released by the input thread), the wake-up is a
futex wake made while the input thread holds the GIL. On a machine with few cores the kernel
often runs the woken thread at once, in place of the input thread (wake-up preemption); the
woken thread needs the GIL, which the descheduled input thread still holds, so it sleeps
again, and the input thread comes back: two context switches that do nothing, per reply.
With 24 threads waiting on one client, ``gfrpc bench --workload stat`` counted 7 voluntary
and 2 involuntary context switches per STAT in the client process, and ``py-spy --gil`` put a
quarter of the input thread's time on the ``release()`` line.

So the waiting thread sleeps in ``read(2)`` on its own *doorbell*, an ``eventfd`` made on the
thread's first call and kept for its life, and the input thread rings it with ``write(2)``,
which CPython makes with the GIL released: a woken thread that runs at once finds the GIL
free and does its work (decode the reply, send its next call) while the input thread waits
its turn. The same run: 2.5 voluntary and 0.6 involuntary switches per STAT, STAT/s up by
half (docs/ARCHITECTURE.md, "Performance notes", 36).

A doorbell can ring for nothing: a caller interrupted while it waited (KeyboardInterrupt)
leaves the late ring behind, and a reply that comes before its caller looks finds nobody
asleep. So a waiter reads the doorbell only while its own outcome is missing, and reads it
again after a ring that brought nothing. The eventfd is closed when its thread ends and no
waiter holds it any more (a waiter keeps its doorbell, not the bare descriptor, so a late
ring never writes to a reused descriptor). A child process made by ``fork`` starts with no
doorbells: it must not share its parent's. Where ``os.eventfd`` is missing, or making one
fails (no descriptors left), the thread's doorbell is a lock (:class:`LockBell`), rung with
the GIL held as before.

The server's worker pool (``workers.py``) wakes an idle io-thread the same way, on the
worker's doorbell.

Completion is first-wins, as for a Future: the outcome is appended to a list (atomic under
the GIL) and only the completer whose outcome came first rings; a reply racing a
frame-timeout or a disconnect completes the call once, and the loser gets InvalidStateError.
A completion made on the waiting thread itself (a caller that reads its own reply, see
``Endpoint.read_until``) rings nobody.
"""

from __future__ import annotations

import os
import threading
from _thread import allocate_lock
from concurrent.futures import InvalidStateError
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gfrpc.rpc.calls import Reply

__all__ = ["BellWaiter", "Doorbell", "EventfdBell", "LockBell", "Waiter", "doorbell"]

_Outcome = tuple["Reply | None", "BaseException | None"]

_HAVE_EVENTFD = hasattr(os, "eventfd")


class EventfdBell:
    """One thread's eventfd: ``ring`` from any thread (GIL released), ``wait`` on the
    owner's."""

    __slots__ = ("fd", "owner")

    def __init__(self) -> None:
        self.fd = os.eventfd(0)  # close-on-exec
        self.owner = threading.get_ident()

    def ring(self) -> None:
        os.eventfd_write(self.fd, 1)

    def wait(self) -> None:
        os.eventfd_read(self.fd)

    def __del__(self) -> None:
        fd = getattr(self, "fd", -1)  # unset when os.eventfd failed
        self.fd = -1
        if fd >= 0:
            os.close(fd)


class LockBell:
    """The fallback: a held lock that ``ring`` releases (rings coalesce) and ``wait``
    takes back. Its ring is made with the GIL held."""

    __slots__ = ("_lock", "owner")

    def __init__(self) -> None:
        self._lock = allocate_lock()
        self._lock.acquire()
        self.owner = threading.get_ident()

    def ring(self) -> None:
        try:
            self._lock.release()
        except RuntimeError:  # rung already and not yet heard
            pass

    def wait(self) -> None:
        self._lock.acquire()


Doorbell = EventfdBell | LockBell


class _Doorbells(threading.local):
    bell: Doorbell | None = None


_local = _Doorbells()


def _forget_doorbells() -> None:
    global _local
    _local = _Doorbells()


if _HAVE_EVENTFD:
    os.register_at_fork(after_in_child=_forget_doorbells)


def doorbell() -> Doorbell:
    """The calling thread's doorbell, made on its first use: an eventfd, or a lock where
    there is no eventfd (or none could be made: no descriptors left)."""
    local = _local
    bell = local.bell
    if bell is None:
        bell = local.bell = _new_doorbell()
    return bell


def _new_doorbell() -> Doorbell:
    if _HAVE_EVENTFD:
        try:
            return EventfdBell()
        except OSError:  # EMFILE, ENFILE: a lock will do
            pass
    return LockBell()


class BellWaiter:
    """The completion of one synchronous call, on its thread's doorbell (see the module
    docstring)."""

    __slots__ = ("_bell", "_outcome")

    def __init__(self) -> None:
        self._bell = doorbell()
        self._outcome: list[_Outcome] = []

    def done(self) -> bool:
        return bool(self._outcome)

    def _complete(self, outcome: _Outcome) -> None:
        out = self._outcome
        if out:
            raise InvalidStateError("the call is already complete")
        out.append(outcome)
        if out[0] is not outcome:
            raise InvalidStateError("the call is already complete")
        bell = self._bell
        if bell.owner != threading.get_ident():
            bell.ring()

    def set_result(self, result: Reply) -> None:
        self._complete((result, None))

    def set_exception(self, exception: BaseException | None) -> None:
        self._complete((None, exception))

    def result(self) -> Reply:
        """Wait for the reply (on the thread that made the waiter); raise what the call
        failed with. A second call returns the same outcome at once."""
        out = self._outcome
        while not out:
            self._bell.wait()
        reply, error = out[0]
        if error is not None:
            raise error
        assert reply is not None
        return reply


Waiter = BellWaiter
