"""What the server and the client cost: CPU-seconds, memory and threads, read from /proc.

A :class:`ServerMeter` follows the server's pids (one gfrpc brick, or one glusterfsd). Take a
``reading()`` before and after the measured span; ``cpu_between`` gives the server's
CPU-seconds in between. A pid that went away counts as zero (its last CPU is lost, so a run
whose server died is visible as a failed run, not as a cheap one).
"""

from __future__ import annotations

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
        return Reading(time.perf_counter(), self.server_cpu(), _self_cpu())

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
