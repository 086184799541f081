"""tools/lock-table-bench: what filling one inode with locks costs the lock tables."""

from __future__ import annotations

import re

import pytest

from tools_support import run_tool


@pytest.mark.timeout(120)
def test_lock_table_bench_prints_one_line_per_count() -> None:
    """Rule: the tool exits 0 and prints one line for each count: the time to fill the LK and
    INODELK tables and another client's LK on the full inode."""
    out = run_tool("lock-table-bench", "64", "128")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2
    for n, line in zip((64, 128), lines, strict=True):
        m = re.fullmatch(
            rf"{n} locks: LK fill ([\d.]+) s, another client's LK ([\d.]+) ms; "
            r"INODELK fill ([\d.]+) s",
            line,
        )
        assert m, line
