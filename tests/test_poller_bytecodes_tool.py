"""tools/poller-bytecodes, the per-request count of a real brick's poller thread (issue 9,
docs/ARCHITECTURE.md "Performance notes" 10), keeps working."""

from __future__ import annotations

import re

import pytest

from tools_support import run_tool


@pytest.mark.timeout(180)
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
@pytest.mark.parametrize("phase", ["stat", "create"])
def test_poller_bytecodes_counts_the_transport_too(phase: str, tls: bool) -> None:
    """Rule: the tool exits 0 only if the brick answered every request of the phase as it
    should (it exits non-zero otherwise), and the functions it lists for the poller thread
    include the transport's read and the RPC server's dispatch, not only the FOP."""
    tls_flag = ["--tls"] if tls else []
    out = run_tool("poller-bytecodes", "--phase", phase, "-n", "10", "--top", "200", *tls_flag)
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    m = re.match(rf"{phase}: (\d+) bytecodes per request", first)
    assert m and int(m.group(1)) > 500, out.stdout
    assert "transport/endpoint.py:_read" in out.stdout
    assert "rpc/dispatch.py:dispatch" in out.stdout


@pytest.mark.timeout(180)
def test_poller_bytecodes_measures_the_poller_threads_cpu() -> None:
    """Rule: with ``--cpu`` the tool traces nothing and prints the brick's poller thread's CPU
    per request: a positive time, below the wall time of a request one at a time."""
    out = run_tool("poller-bytecodes", "--phase", "stat", "-n", "50", "--cpu")
    assert out.returncode == 0, out.stderr
    m = re.match(
        r"stat: ([\d.]+) us of the brick's poller thread's CPU per request \(50 requests, "
        r"one at a time; wall ([\d.]+) us\)",
        out.stdout,
    )
    assert m, out.stdout
    assert 0 < float(m.group(1)) < float(m.group(2))
