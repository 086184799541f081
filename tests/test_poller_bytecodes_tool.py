"""tools/poller-bytecodes, the per-request count of a real brick's poller thread (issue 9,
docs/ARCHITECTURE.md "Performance notes" 10), keeps working."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(180)
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
@pytest.mark.parametrize("phase", ["stat", "create"])
def test_poller_bytecodes_counts_the_transport_too(phase: str, tls: bool) -> None:
    """Rule: the tool exits 0 only if the brick answered every request of the phase as it
    should (it exits non-zero otherwise), and the functions it lists for the poller thread
    include the transport's read and the RPC server's dispatch, not only the FOP."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "poller-bytecodes"),
            "--phase",
            phase,
            "-n",
            "10",
            "--top",
            "200",
            *(["--tls"] if tls else []),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    m = re.match(rf"{phase}: (\d+) bytecodes per request", first)
    assert m and int(m.group(1)) > 500, out.stdout
    assert "transport/endpoint.py:_read" in out.stdout
    assert "rpc/server.py:_dispatch" in out.stdout
