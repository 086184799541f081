"""What a poller drives, and what every poller promises.

A *pollable* is anything with a file descriptor that a poller watches: an ``Endpoint`` (one
connection) or a ``Listener``. The poller asks it what it wants (``interest()``), tells it
what happened (``handle_events()``), and when ``handle_events`` answers ``False`` the poller
stops watching the fd and calls ``finalize()`` once, on the same thread. That is the only
place an fd is closed, so no fd is ever closed while another thread still polls or reads it.

The rule that makes the three models safe: **exactly one thread handles a given pollable at a
time.** Other threads never touch its input; they change what it wants (more output queued,
reading paused or resumed, a close requested) and call ``poller.kick(pollable)``, which makes
the poller run ``handle_events(False, False, False)`` on the pollable's handling thread and
then watch the new interest.

*Lending* (``borrow`` / ``give_back``): a thread that is about to wait for input on one
pollable (a synchronous RPC caller waiting for its reply) may ask the poller for that
pollable. When the poller is not handling it, ``borrow`` makes the caller its handling thread
and stops watching its fd, so the kernel wakes the caller itself when the reply comes: no
poller wake-up and no hand-off back. The caller then calls ``handle_events`` exactly as the
poller would, for a short while, and ``give_back`` returns the pollable; whatever the poller
was asked meanwhile (a kick) is handled then. The rule above still holds: one handling thread
at a time. A poller that cannot lend (``own-thread``, whose thread per connection already is
the one woken) answers False, and the caller waits as before.

The bottom of this module holds the kernel plumbing the pollers share: the epoll mask of an
interest, and the eventfd that wakes a poller's thread.
"""

from __future__ import annotations

import abc
import os
import select
import threading
from typing import Final, Protocol

from gfrpc.transport.baton import NO_BATON, Baton, NoBaton


class Pollable(Protocol):
    def fileno(self) -> int: ...

    def interest(self) -> tuple[bool, bool]:
        """(want to read, want to write) right now."""
        ...

    def handle_events(self, readable: bool, writable: bool, error: bool) -> bool:
        """Do the work the events allow; return False when the pollable is finished."""
        ...

    def finalize(self) -> None:
        """Called once, after the poller has stopped watching the fd: close it, notify."""
        ...

    def abort(self, reason: Exception) -> None:
        """Ask the pollable to finish (used when the poller stops)."""
        ...


class Poller(abc.ABC):
    """Drives pollables. Chosen once, by name, with :func:`gfrpc.transport.make_poller`."""

    name: str = ""
    #: held around every ``handle_events`` (``baton.py``); ``make_poller(..., baton=True)``
    #: sets the process's baton, the default holds nothing
    baton: Baton | NoBaton = NO_BATON

    @abc.abstractmethod
    def start(self) -> None:
        """Start the poller's threads (idempotent)."""

    @abc.abstractmethod
    def register(self, pollable: Pollable) -> None:
        """Start watching ``pollable`` and run its first ``handle_events`` soon."""

    @abc.abstractmethod
    def kick(self, pollable: Pollable) -> None:
        """Make the handling thread look at ``pollable`` again (thread-safe)."""

    def stop(self, timeout: float = 5.0) -> None:
        """Abort every pollable, wait for their cleanup, and stop the threads."""
        pollables = self._stop_accepting()
        if pollables is None:
            return
        for p in pollables:
            p.abort(RuntimeError("poller stopped"))
        self._wind_down(timeout)

    def borrow(self, pollable: Pollable) -> bool:
        """Make the calling thread ``pollable``'s handling thread until :meth:`give_back`:
        True when the poller was not handling it (the poller then neither watches its fd nor
        handles it); False leaves it to the poller. This poller does not lend."""
        return False

    def give_back(self, pollable: Pollable, alive: bool) -> None:
        """Return a borrowed ``pollable`` (``alive``: its last ``handle_events`` answered
        True); the poller watches its interest again and handles what it missed."""
        raise RuntimeError(f"the {self.name} poller lends nothing")

    @abc.abstractmethod
    def _stop_accepting(self) -> list[Pollable] | None:
        """Refuse new pollables; return those to abort (None: stopped already, nothing to do)."""

    @abc.abstractmethod
    def _wind_down(self, timeout: float) -> None:
        """After the aborts: wait (up to ``timeout``) for the threads, release the poller's fds."""

    @abc.abstractmethod
    def pollable_count(self) -> int:
        """How many pollables are being watched (for leak checks)."""

    def __enter__(self) -> Poller:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- kernel plumbing shared by the pollers ---------------------------------------------------

#: epoll reports these whatever was asked: the fd failed or both directions are shut
EPOLL_ERR: Final = select.EPOLLERR | select.EPOLLHUP


def epoll_mask(interest: tuple[bool, bool]) -> int:
    """The epoll events for ``interest()``; reading also asks for RDHUP (the peer's FIN)."""
    read, write = interest
    return (select.EPOLLIN | select.EPOLLRDHUP if read else 0) | (select.EPOLLOUT if write else 0)


def rotated(events: list[tuple[int, int]], turn: int) -> list[tuple[int, int]]:
    """One ``epoll.poll()`` batch, begun at a different place on each ``turn``.

    A level-triggered epoll hands back the fds that stay ready in the same order every time
    (the kernel queues each one again behind the others as it reports it), so a thread that
    handles a batch front to back serves the same connections first on every turn. With 100
    streaming writers on one thread, the last few wrote 0.6 of the median writer's records
    (docs/ARCHITECTURE.md, "Performance notes", 48); begun one place further on each turn,
    every connection takes every place in turn. ``pool`` takes one event per wait and needs
    none of this."""
    n = len(events)
    if n < 2:
        return events
    k = turn % n
    return events[k:] + events[:k] if k else events


def take_wakeup(wakefd: int) -> bool:
    """Read the eventfd other threads write to wake a poller; False if it held nothing."""
    try:
        os.eventfd_read(wakefd)
    except BlockingIOError:
        return False
    return True


class FdClaims:
    """Who handles each fd of a poller whose thread handles the fds it finds ready (``single``,
    and each shard of ``sharded``), for lending. A claim is a lock per fd: the poller's thread
    takes it without waiting around each handling, a borrower holds it for a whole lend. An
    fd whose claim the thread found taken (an event or a kick for a lent pollable) is kept in
    ``missed`` until ``give_back``. ``masks`` is the poller's record of each fd's epoll
    registration: while an fd is lent, only its borrower changes it."""

    def __init__(self) -> None:
        self.locks: dict[int, threading.Lock] = {}
        self.missed: set[int] = set()

    def add(self, fd: int) -> None:
        self.locks[fd] = threading.Lock()

    def remove(self, fd: int) -> None:
        del self.locks[fd]
        self.missed.discard(fd)

    def found_lent(self, fd: int, claim: threading.Lock) -> bool:
        """The poller's thread could not take ``claim``: remember that, then try once more in
        case it was given back meanwhile (True: taken now, handle the fd)."""
        self.missed.add(fd)
        if not claim.acquire(False):
            return False  # the borrower sees ``missed`` when it gives the fd back
        self.missed.discard(fd)
        return True

    def lend(self, fd: int, epoll: select.epoll, masks: dict[int, int]) -> bool:
        """Take the claim of ``fd`` for the calling thread and stop watching the fd."""
        claim = self.locks.get(fd)
        if claim is None or not claim.acquire(False):
            return False
        try:
            if masks[fd]:
                masks[fd] = 0
                epoll.modify(fd, 0)
        except (OSError, ValueError, KeyError):  # retired, or the poller closed, meanwhile
            claim.release()
            return False
        return True

    def give_back(
        self, pollable: Pollable, epoll: select.epoll, masks: dict[int, int], alive: bool
    ) -> bool:
        """Watch a lent fd's interest again and release its claim; True when the poller's
        thread must look at the pollable (it missed something, or the pollable is finished)."""
        fd = pollable.fileno()
        claim = self.locks.get(fd)
        if claim is None:
            return False
        try:
            if alive:
                mask = epoll_mask(pollable.interest())
                if mask != masks[fd]:
                    masks[fd] = mask
                    epoll.modify(fd, mask)
        except (OSError, ValueError, KeyError):
            alive = False
        finally:
            claim.release()
        if alive and fd not in self.missed:
            return False
        self.missed.discard(fd)
        return True
