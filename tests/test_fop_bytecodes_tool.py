"""tools/fop-bytecodes, the deterministic per-FOP measure of issue 9 (docs/ARCHITECTURE.md,
"Performance notes" 5), keeps working: its requests are all answered and it prints counts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(180)
def test_fop_bytecodes_counts_every_phase_without_a_refused_request() -> None:
    """Rule: the tool exits 0 only if the brick answered every record of its phases with
    SUCCESS and op_ret >= 0 (it exits 1 otherwise), and it prints bytecodes, Python calls and
    CPU time per record for each phase asked for."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "fop-bytecodes"),
            "--phase",
            "read,stat",
            "--rounds",
            "1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    rows = {
        m.group(1): m.groups()[1:]
        for m in re.finditer(r"^(read|stat)\s+\S+\s+(\d+)\s+([\d.]+)\s+([\d.]+)$", out.stdout, re.M)
    }
    assert set(rows) == {"read", "stat"}, out.stdout
    for bytecodes, calls, cpu in rows.values():
        assert int(bytecodes) > 100 and float(calls) > 5 and float(cpu) > 0
