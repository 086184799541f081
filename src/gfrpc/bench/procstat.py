"""What a process costs, read from ``/proc``: RSS, open descriptors, threads; and whether a
series of such samples is flat.

Theory of operation. ``/proc/PID/status`` gives ``VmRSS`` (kB) and ``Threads``;
``/proc/PID/fd`` holds one symlink per open descriptor. Counting the entries is cheap; reading
their targets lets a caller leave out descriptors that belong to a bounded cache by design
(the brick keeps one descriptor per ``.glusterfs/xx`` hash directory, at most 256, opened on
first use and kept), so that "no fd growth" can be asked of the rest with a tolerance of 0,
once the process has finished what it was doing (:func:`settled_fd_count`).

Flatness is judged on the *last half* of a run: a least-squares line through the samples of
that half, and its rise over the half's span is the growth. A line is robust against one
noisy sample (a garbage-collection peak), where "last minus first" is not. RSS also moves
when malloc gives memory back to the kernel and takes it again (tens of MiB for a process
moving MiB-sized records), which can tilt a line by chance; a leak also sets new highs, so
RSS counts as growing only if the line rises *and* the last half's peak passes the first
half's peak by the same limit (:meth:`Growth.within`).
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

MiB = 1 << 20


def cpu_ticks() -> tuple[int, int]:
    """(steal, all) CPU ticks of the whole machine since boot, from ``/proc/stat``'s ``cpu``
    line: steal is the time the hypervisor ran something else while this VM had work; (0, 0)
    where there is no such file."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return 0, 0
    if not fields or fields[0] != "cpu":
        return 0, 0
    # user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
    ticks = [int(v) for v in fields[1:9]]
    return (ticks[7] if len(ticks) > 7 else 0), sum(ticks)


def steal_share(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """The share of the machine's CPU time between two :func:`cpu_ticks` that was stolen,
    or None when no tick passed."""
    total = after[1] - before[1]
    if total <= 0:
        return None
    return max(0, after[0] - before[0]) / total


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of ``pid`` in bytes (``VmRSS``)."""
    return _status_field(pid, "VmRSS") * 1024


def thread_count(pid: int | str = "self") -> int:
    """Threads of ``pid`` (``Threads`` in /proc/PID/status)."""
    return _status_field(pid, "Threads")


def _status_field(pid: int | str, name: str) -> int:
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(name.encode() + b":"):
                return int(line.split()[1])
    raise OSError(f"/proc/{pid}/status has no {name}")


def fd_targets(pid: int | str = "self") -> list[str]:
    """What each open descriptor of ``pid`` points to (``socket:[N]``, a path, ...)."""
    out = []
    base = f"/proc/{pid}/fd"
    for n in os.listdir(base):
        try:
            out.append(os.readlink(f"{base}/{n}"))
        except OSError:  # closed between listdir and readlink
            continue
    return out


def fd_count(pid: int | str = "self", *, exclude: re.Pattern[str] | None = None) -> int:
    """Open descriptors of ``pid``; with ``exclude``, those whose target matches it (``search``)
    are not counted (e.g. :data:`HASH_DIR_CACHE`)."""
    if exclude is None:
        return len(os.listdir(f"/proc/{pid}/fd"))
    return sum(1 for t in fd_targets(pid) if not exclude.search(t))


#: the brick's cache of first-level ``.glusterfs/xx`` hash directories (≤ 256, kept for life)
HASH_DIR_CACHE = re.compile(r"/\.glusterfs/[0-9a-f]{2}$")


def settled_fd_count(
    pid: int | str,
    *,
    exclude: re.Pattern[str] | None = None,
    timeout: float = 1.0,
    interval: float = 0.02,
) -> tuple[int, int]:
    """``(counted, excluded)`` descriptors of a process that has just been left alone: the
    lowest count seen until 5 readings in a row agree or ``timeout`` passes. Work the process
    still finishes (a fire-and-forget RELEASE a client sent last) only ever closes
    descriptors, so the minimum is the settled value, and a leak survives it."""
    best: tuple[int, int] | None = None
    same, last = 0, -1
    deadline = time.monotonic() + timeout
    while True:
        targets = fd_targets(pid)
        counted = sum(1 for t in targets if exclude is None or not exclude.search(t))
        now = (counted, len(targets) - counted)
        if best is None or now[0] < best[0]:
            best = now
        same = same + 1 if counted == last else 1
        last = counted
        if same >= 5 or time.monotonic() >= deadline:
            return best
        time.sleep(interval)


@dataclass(frozen=True)
class Growth:
    """How a series moved over the last half of its time span."""

    first: float
    last: float
    maximum: float  # the largest sample of the last half
    rise: float  # fitted rise over the last half (same unit as the samples)
    points: int  # samples in the last half
    new_peak: float = 0.0  # last half's maximum minus the first half's (0 without a first half)

    def limit(self, absolute: float, relative: float = 0.0) -> float:
        return max(absolute, relative * self.first)

    def within(self, absolute: float, relative: float = 0.0) -> bool:
        """False only if the fitted ``rise`` *and* the ``new_peak`` both pass
        ``max(absolute, relative × the value at the half-way mark)``: a leak raises the trend
        and sets new highs; an allocator that gives memory back and takes it again makes a
        noisy trend under an old high."""
        lim = self.limit(absolute, relative)
        return self.rise <= lim or self.new_peak <= lim


def last_half_growth(times: Sequence[float], values: Sequence[float]) -> Growth:
    """Fit a line through the samples whose time is in the last half of the span; its rise
    over that half is the growth. Fewer than 2 samples there: no growth measurable (0)."""
    if len(times) != len(values):
        raise ValueError("times and values differ in length")
    if not values:
        return Growth(0.0, 0.0, 0.0, 0.0, 0)
    t0, t1 = times[0], times[-1]
    mid = t0 + (t1 - t0) / 2
    pts = [(t, v) for t, v in zip(times, values, strict=True) if t >= mid]
    first = pts[0][1] if pts else values[-1]
    if len(pts) < 2:
        return Growth(first, values[-1], first, 0.0, len(pts))
    n = len(pts)
    mt = sum(t for t, _ in pts) / n
    mv = sum(v for _, v in pts) / n
    var = sum((t - mt) ** 2 for t, _ in pts)
    slope = 0.0 if var == 0 else sum((t - mt) * (v - mv) for t, v in pts) / var
    span = pts[-1][0] - pts[0][0]
    top = max(v for _, v in pts)
    before = [v for t, v in zip(times, values, strict=True) if t < mid]
    return Growth(first, values[-1], top, slope * span, n, top - max(before) if before else 0.0)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of already sorted values, nearest rank; 0 when empty."""
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return float(sorted_values[k])
