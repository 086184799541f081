"""``tools/sched-wait``: it reports the CPU and run-queue wait of the processes it recognises
while the command it runs is alive, and exits with that command's status."""

from __future__ import annotations

import re
import sys

import pytest

from tools_support import run_tool

pytestmark = pytest.mark.timeout(60)

# a child that looks like a gfrpc brick to the tool (its command line has "gfrpc" and " brick")
# and burns about half a second of CPU before it exits with status 3
_BUSY_BRICK = (
    "import time\n"
    "end = time.process_time() + 0.5\n"
    "while time.process_time() < end: pass\n"
    "raise SystemExit(3)\n"
)


def test_a_brick_like_child_is_reported_with_its_cpu_and_its_status_passes_through() -> None:
    """The child's thread shows up as a gfrpc brick with at least 0.3 s of CPU, in the kind's
    total and in the list of busy threads, and the tool exits 3 as the child did."""
    out = run_tool(
        "sched-wait", "--min-cpu", "0.1", "--", sys.executable, "-c", _BUSY_BRICK, "gfrpc", "brick"
    )
    assert out.returncode == 3, out.stderr
    total = re.search(r"gfrpc-brick\s+wait\s+([\d.]+)\s+cpu\s+([\d.]+)", out.stderr)
    assert total is not None, out.stderr
    assert float(total.group(2)) >= 0.3
    assert re.search(r"gfrpc-brick:\d+:\d+\s+wait", out.stderr), out.stderr


def test_without_a_command_it_says_so() -> None:
    """No command after ``--`` is a usage error, not a traceback."""
    out = run_tool("sched-wait")
    assert out.returncode == 2
    assert "give a command" in out.stderr
    assert "Traceback" not in out.stderr
