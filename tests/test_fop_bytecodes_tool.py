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
    SUCCESS and op_ret >= 0 (it exits 1 otherwise; the create phase's first LOOKUP is meant to
    find nothing), and it prints bytecodes, Python calls and CPU time per record for each
    phase asked for, and with ``--by-fop`` each FOP's bytecodes."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "fop-bytecodes"),
            "--phase",
            "read,stat,create",
            "--rounds",
            "1",
            "--by-fop",
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
        for m in re.finditer(
            r"^(read|stat|create)\s+\S+\s+(\d+)\s+([\d.]+)\s+([\d.]+)$", out.stdout, re.M
        )
    }
    assert set(rows) == {"read", "stat", "create"}, out.stdout
    for bytecodes, calls, cpu in rows.values():
        assert int(bytecodes) > 100 and float(calls) > 5 and float(cpu) > 0
    by_fop = out.stdout.split("bytecodes per FOP", 1)[1]
    create_row = next(line for line in by_fop.splitlines() if line.startswith("create"))
    for fop in ("LOOKUP", "CREATE", "WRITE", "FLUSH", "RELEASE"):
        assert re.search(rf"\b{fop} \d+", create_row), create_row
