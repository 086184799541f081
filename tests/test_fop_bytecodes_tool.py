"""tools/fop-bytecodes, the deterministic per-FOP measure of issue 9 (docs/ARCHITECTURE.md,
"Performance notes" 5), keeps working: its requests are all answered and it prints counts."""

from __future__ import annotations

import re

import pytest

from tools_support import run_tool


@pytest.mark.timeout(180)
def test_fop_bytecodes_counts_every_phase_without_a_refused_request() -> None:
    """Rule: the tool exits 0 only if the brick answered every record of its phases with
    SUCCESS and op_ret >= 0 (it exits 1 otherwise; the create phase's first LOOKUP is meant to
    find nothing), and it prints bytecodes, Python calls and CPU time per record for each
    phase asked for, and with ``--by-fop`` each FOP's bytecodes."""
    out = run_tool(
        "fop-bytecodes", "--phase", "read,qread,stat,create,mkdir", "--rounds", "1", "--by-fop"
    )
    assert out.returncode == 0, out.stderr
    rows = {
        m.group(1): m.groups()[1:]
        for m in re.finditer(
            r"^(read|qread|stat|create|mkdir)\s+\S+\s+(\d+)\s+([\d.]+)\s+([\d.]+)$",
            out.stdout,
            re.M,
        )
    }
    assert set(rows) == {"read", "qread", "stat", "create", "mkdir"}, out.stdout
    for bytecodes, calls, cpu in rows.values():
        assert int(bytecodes) > 100 and float(calls) > 5 and float(cpu) > 0
    by_fop = out.stdout.split("bytecodes per FOP", 1)[1]
    create_row = next(line for line in by_fop.splitlines() if line.startswith("create"))
    for fop in ("LOOKUP", "CREATE", "WRITE", "FLUSH", "RELEASE"):
        assert re.search(rf"\b{fop} \d+", create_row), create_row
    mkdir_row = next(line for line in by_fop.splitlines() if line.startswith("mkdir"))
    assert re.search(r"\bMKDIR \d+", mkdir_row), mkdir_row
