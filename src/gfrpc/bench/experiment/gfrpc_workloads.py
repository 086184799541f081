"""The streams of the four workloads, as gfrpc's client runs them: one function per stream.

Theory of operation. Each maker below returns a *stream*: a function of one list that the
stream's thread calls once, after the start barrier. The stream makes its calls through one
``Volume`` (its own, or the one shared by all streams), appends the duration of **every**
call to that list (seconds, ``time.perf_counter``; the list is the thread's own, so no lock
is taken per call) and returns what it did: bytes for the streaming workloads, files or
calls for the others. The loops bind what they call to locals first and allocate nothing
per call beyond the call itself: the driver's own Python is charged to the client.

Files are opened with ``buffering=0``: each ``write``/``readinto`` is one ``File`` call
(one WRITE/READ on the wire per ``max_write``/``max_read`` bytes, 1 MiB by default, sent
and awaited before the call returns, as gfapi's ``glfs_write`` is synchronous). On the
wire:

* ``open(path, "wb")`` of a new file is LOOKUP (ENOENT) + CREATE; ``close`` is FLUSH +
  RELEASE; ``open(path, "rb")`` of a known file is OPEN (its gfid is cached).
* ``Volume.stat`` is one **STAT** by gfid: the path's gfid is in the volume's cache from
  the CREATE that made it or from an earlier LOOKUP, so there is no LOOKUP per call.
* ``Volume.unlink`` is UNLINK (on a distribute volume of several bricks also an UNLINK of a
  DHT linkto file on the hashed brick, when the data lives elsewhere).

A short write or read (the brick answered fewer bytes than asked) is an error here: the
workload knows the sizes, so a short reply means something went wrong on the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from itertools import cycle, islice
from typing import TYPE_CHECKING, Any

from gfrpc.errors import GfrpcError

if TYPE_CHECKING:
    from gfrpc.client.volume import Volume

__all__ = ["Stream", "create_files", "seq_read", "seq_write", "stat_files", "unlink_files"]

Stream = Callable[[list[float]], int]
"""One stream's work: called with its latency list, returns bytes or operations done."""


def _records(size: int, record: int) -> tuple[int, int]:
    """(full records, bytes in the short last one) of a file of ``size``."""
    return divmod(size, record)


def seq_write(vol: Volume, path: str, size: int, record: bytes) -> Stream:
    """Write a new file ``path`` of ``size`` bytes in ``len(record)``-byte write() calls of
    ``record`` (the last one shorter), then close it. Returns the bytes written."""
    tail = size % len(record)
    return _transfer(vol, path, "wb", "write", size, record, memoryview(record)[:tail], "write to")


def seq_read(vol: Volume, path: str, size: int, record: int) -> Stream:
    """Read ``size`` bytes of ``path`` in ``record``-byte readinto() calls (into one buffer
    of this stream), then close it. Returns the bytes read; fewer than asked is an error."""
    buf = memoryview(bytearray(record))
    return _transfer(vol, path, "rb", "readinto", size, buf, buf[: size % record], "read of")


def _transfer(
    vol: Volume, path: str, mode: str, method: str, size: int, whole: Any, last: Any, verb: str
) -> Stream:
    """Open ``path``, call ``method`` with ``whole`` for every full record and with ``last``
    for the short tail, each call timed and its count checked, then close it."""
    full, tail = _records(size, len(whole))
    rounds = ((whole, len(whole), full), (last, tail, 1 if tail else 0))

    def stream(lat: list[float]) -> int:
        clock, add = time.perf_counter, lat.append
        t0 = clock()
        f = vol.open(path, mode, buffering=0)
        add(clock() - t0)
        call = getattr(f, method)
        try:
            for chunk, want, count in rounds:
                for _ in range(count):
                    t0 = clock()
                    n = call(chunk)
                    add(clock() - t0)
                    if n != want:
                        raise GfrpcError(f"short {verb} {path}: {n} of {want} bytes")
        finally:
            t0 = clock()
            f.close()
            add(clock() - t0)
        return size

    return stream


def create_files(vol: Volume, paths: Sequence[str], data: bytes) -> Stream:
    """Create each of ``paths``, write ``data`` in one call, close: three timed calls per
    file. Returns the files made."""
    size = len(data)

    def stream(lat: list[float]) -> int:
        clock, add, open_ = time.perf_counter, lat.append, vol.open
        for path in paths:
            t0 = clock()
            f = open_(path, "wb", buffering=0)
            t1 = clock()
            try:
                n = f.write(data) if size else 0
                t2 = clock()
            finally:
                f.close()
            t3 = clock()
            add(t1 - t0)
            if size:
                add(t2 - t1)
            add(t3 - t2)
            if n != size:
                raise GfrpcError(f"short write to {path}: {n} of {size} bytes")
        return len(paths)

    return stream


def stat_files(vol: Volume, paths: Sequence[str], calls: int) -> Stream:
    """``calls`` STATs, round-robin over ``paths``. Returns the calls made."""

    def stream(lat: list[float]) -> int:
        clock, add, stat = time.perf_counter, lat.append, vol.stat
        for path in islice(cycle(paths), calls):
            t0 = clock()
            stat(path)
            add(clock() - t0)
        return calls

    return stream


def unlink_files(vol: Volume, paths: Sequence[str]) -> Stream:
    """Unlink each of ``paths``. Returns the files removed."""

    def stream(lat: list[float]) -> int:
        clock, add, unlink = time.perf_counter, lat.append, vol.unlink
        for path in paths:
            t0 = clock()
            unlink(path)
            add(clock() - t0)
        return len(paths)

    return stream
