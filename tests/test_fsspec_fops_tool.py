"""tools/fsspec-fops, the count of FOPs per fsspec operation (docs/ARCHITECTURE.md,
"Performance notes" 30-35), keeps working and keeps what those notes gained."""

from __future__ import annotations

import re

import pytest

from tools_support import run_tool


@pytest.mark.timeout(180)
def test_fsspec_fops_counts_every_operation() -> None:
    """Rule: the tool exits 0 and prints a cold and a warm count for each of its sixteen
    operations; warm, a missing name is one LOOKUP, a new file written into the known
    directory sends nothing but its CREATE, WRITE and RELEASE, and ``du`` sends no LOOKUP."""
    out = run_tool("fsspec-fops")
    assert out.returncode == 0, out.stderr
    rows = {
        m.group(1).strip(): (int(m.group(2)), int(m.group(3)), m.group(4))
        for m in re.finditer(r"^(.{18}) +(\d+) +(\d+)  (.*)$", out.stdout, re.M)
        if m.group(1).strip() != "operation"
    }
    assert len(rows) == 16, out.stdout
    assert rows["exists, missing"][1:] == (1, "LOOKUP 1"), rows["exists, missing"]
    assert sorted(rows["pipe_file, new"][2].split(", ")) == ["CREATE 1", "RELEASE 1", "WRITE 1"]
    assert "LOOKUP" not in rows["du /a"][2], rows["du /a"]
