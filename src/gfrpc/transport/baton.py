"""The baton: at most one poller thread at a time runs Python work for small requests.

Theory of operation. Every blocking call that CPython makes (``epoll_wait``, ``recv``,
``sendmsg``, ``lstat``, ``open``, ``pwrite``...) lets go of the GIL and takes it back when the
call returns. With one busy thread that costs nothing. With two busy poller threads, the
other one may take the GIL at any of those calls, so two requests' Python runs interleave
on two cores, each thread picking up where the other left the interpreter's caches. Measured
with fio's smallfile create pass (24 jobs, 4 KiB files) on 2 cores: brick CPU per file 833 µs
with ``pool`` x2 and 725 µs with ``sharded`` x2, against 542 µs with the one-thread
``single`` (docs/ARCHITECTURE.md, Performance notes 9).

The baton is a plain lock that a poller thread holds while it handles one pollable's events
(``Poller`` runs ``handle_events`` under ``poller.baton``). A second poller thread with work
waits on the baton, so the GIL changes threads between handlings, not in the middle of one:
each request's Python runs through on one thread. With it the same creates cost 596 and
613 µs. The number of context switches did not fall (about two per created file, with and
without it, from /proc): what the baton saves is interleaving, not wake-ups. Threads that are
not poller threads (io-threads, a client's callers) never take it, and neither does a
poller thread handling a streaming connection (see "Counted" below).

It is handed over for work that runs outside the GIL and is long enough for another thread's
Python to overlap it: a socket read straight into a big record, the decryption of a big TLS
read, the encryption of a big TLS message, a big ``pread`` or ``pwrite``
(:meth:`Baton.call_outside`, for at least ``BIG`` bytes). That keeps what several poller
threads buy on large I/O (OpenSSL and the kernel's copies run in parallel) while small
requests run one thread at a time, as they would under the GIL anyway.

Lock order, which makes it deadlock-free: a thread takes the baton only while it holds no
other lock (at the top of a handling, and when it takes it back after a hand-over), and it
hands it over only where it holds no other lock either. So no thread ever waits for the
baton while holding something that the baton's holder may wait for.

Counted: what a poller needs to know is whether *its own* handling just did such work,
with or without the baton. ``Baton.big_work()`` tells that: the calling thread's own count
of ``call_outside`` calls, kept per thread (a ``threading.local``), held or not, so another
thread's work never shows in it. The
``sharded`` and ``pool`` pollers read it before and after each handling: the connections that
do such work are then handled without the baton at all (their Python is a small part of a
big record's handling, and waiting for the baton between the big parts cost more than it
saved), until ``QUIET_HANDLINGS`` handlings in a row without such work; ``sharded`` also
spreads them over its threads (``pollers/sharded.py``) and keeps the others on one thread.

With ``--baton off`` (``make_poller(..., baton=False)``) the pollers take nothing: the
threading models as they are, GIL interleaving included, for those who study them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final, TypeVar

__all__ = ["BATON", "BIG", "NO_BATON", "QUIET_HANDLINGS", "Baton", "NoBaton"]

T = TypeVar("T")

#: work on at least this many bytes is done with the baton handed over (see above): a copy or
#: a cipher pass of 64 KiB takes tens of microseconds, more than a hand-off costs
BIG: Final = 64 << 10

#: handlings in a row without big work that make a heavy (baton-free) connection light again
QUIET_HANDLINGS: Final = 256

_get_ident = threading.get_ident


class _PerThreadCount(threading.local):
    """``n``: the calling thread's own count (0 in a thread that never counted)."""

    n = 0


class Baton:
    """The process-wide baton (one lock, and which thread holds it)."""

    __slots__ = ("_lock", "_holder", "_big")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder = 0
        self._big = _PerThreadCount()

    def __enter__(self) -> None:
        self._lock.acquire()
        self._holder = _get_ident()

    def __exit__(self, *exc: object) -> None:
        self._holder = 0
        self._lock.release()

    def held(self) -> bool:
        """Whether the calling thread holds the baton."""
        return self._holder == _get_ident()

    def big_work(self) -> int:
        """How many times the calling thread has called :meth:`call_outside`, holding the
        baton or not (each thread has its own count; module notes)."""
        return self._big.n

    def call_outside(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` with the baton handed over if the calling thread holds it.

        The caller must hold no other lock (see the module notes); the baton is taken back
        before this returns or raises. Counted in the calling thread's :meth:`big_work`.
        """
        self._big.n += 1
        if self._holder != _get_ident():
            return fn(*args)
        self._holder = 0
        self._lock.release()
        try:
            return fn(*args)
        finally:
            self._lock.acquire()
            self._holder = _get_ident()


class NoBaton:
    """What a poller made with ``baton=False`` holds: nothing."""

    __slots__ = ()

    def big_work(self) -> int:
        """Nothing is counted without a baton."""
        return 0

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


#: the one baton of the process: the GIL it stands in front of is the process's too
BATON: Final = Baton()
NO_BATON: Final = NoBaton()
