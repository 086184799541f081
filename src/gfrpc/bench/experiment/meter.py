"""What the server and the client cost: CPU-seconds, memory and threads, read from /proc.

A :class:`ServerMeter` follows the server's pids (one gfrpc brick, or one glusterfsd). Take a
``reading()`` before and after the measured span; ``cpu_between`` gives the server's
CPU-seconds in between. A pid that went away counts as zero (its last CPU is lost, so a run
whose server died is visible as a failed run, not as a cheap one). ``idle_cores_between``
gives how many of the machine's cores were idle on average (``/proc/stat``'s idle and iowait,
counted in clock ticks of 10 ms: over a span of one second, within a few hundredths of a
core).
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass

from gfrpc.bench.procstat import rss_bytes, thread_count
from gfrpc.bench.transport import proc_cpu


@dataclass(frozen=True)
class Reading:
    at: float  # time.perf_counter()
    server_cpu_s: float | None
    client_cpu_s: float  # this process, all threads (gfrpc's client runs here)
    idle_s: float | None = None  # the whole machine's idle CPU-seconds since boot


def machine_idle_s(path: str = "/proc/stat") -> float | None:
    """Seconds the machine's CPUs have spent idle since boot, summed over the CPUs (the
    ``idle`` and ``iowait`` columns of ``/proc/stat``'s ``cpu`` line); None when unreadable."""
    try:
        with open(path) as f:
            fields = f.readline().split()
        if fields[0] != "cpu":
            return None
        return (int(fields[4]) + int(fields[5])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class ServerMeter:
    """CPU, RSS and threads of ``pids`` (an empty list: a server we cannot see)."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = list(pids)

    def server_cpu(self) -> float | None:
        if not self.pids:
            return None
        total = 0.0
        for pid in self.pids:
            try:
                total += proc_cpu(pid)
            except OSError:
                pass
        return total

    def reading(self) -> Reading:
        return Reading(time.perf_counter(), self.server_cpu(), _self_cpu(), machine_idle_s())

    def rss_mb(self) -> float | None:
        if not self.pids:
            return None
        try:
            return sum(rss_bytes(p) for p in self.pids) / (1 << 20)
        except OSError:
            return None

    def threads(self) -> int | None:
        if not self.pids:
            return None
        try:
            return sum(thread_count(p) for p in self.pids)
        except OSError:
            return None


def cpu_between(a: Reading, b: Reading) -> tuple[float, float | None, float]:
    """(wall seconds, server CPU-s or None, this process's CPU-s)."""
    server = (
        None
        if a.server_cpu_s is None or b.server_cpu_s is None
        else b.server_cpu_s - a.server_cpu_s
    )
    return (
        b.at - a.at,
        server,
        b.client_cpu_s - a.client_cpu_s,
    )


def idle_cores_between(a: Reading, b: Reading) -> float | None:
    """The machine's idle cores on average between two readings (None when unknown), within
    0 and the machine's core count: over a span of a few ticks the ticks' rounding alone could
    put it outside."""
    span = b.at - a.at
    if a.idle_s is None or b.idle_s is None or span <= 0:
        return None
    return min(max(0.0, b.idle_s - a.idle_s) / span, float(os.cpu_count() or 1))
