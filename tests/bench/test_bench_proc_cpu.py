"""How the bench reads a server's CPU time (``bench.transport.proc_cpu``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gfrpc.bench.transport import proc_cpu

pytestmark = pytest.mark.timeout(60)

_TICK = 1 / os.sysconf("SC_CLK_TCK")


def _stat_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    fields = data[data.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) * _TICK


def test_proc_cpu_counts_every_thread_finer_than_a_tick() -> None:
    """Rule: ``proc_cpu(pid)`` is another process's CPU time, its finished threads included,
    within a clock tick of what /proc/PID/stat says, and not rounded to ticks (a child that
    burns CPU in a thread that then ends, then waits on its stdin)."""
    code = (
        "import sys, threading, time\n"
        "def burn():\n"
        "    end = time.process_time() + 0.25\n"
        "    while time.process_time() < end: pass\n"
        "t = threading.Thread(target=burn); t.start(); t.join()\n"
        "print('done', flush=True); sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "done\n"
        got, ticks = proc_cpu(child.pid), _stat_cpu(child.pid)
        assert got >= 0.25
        assert abs(got - ticks) <= 2 * _TICK
        assert abs(got / _TICK - round(got / _TICK)) > 1e-9  # not a whole number of ticks
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)


def test_proc_cpu_of_a_reaped_process_is_an_oserror() -> None:
    """Rule: a process that is gone raises OSError (the meter counts it as zero), whichever
    way the time is read."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    with pytest.raises(OSError):
        proc_cpu(child.pid)
