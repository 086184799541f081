"""Smoke test of ``gfrpc bench-write``: tiny sizes, the gfrpc brick only (no glusterd)."""

from __future__ import annotations

import json
import os
import re

import pytest

from gfrpc.bench.write import GfrpcBrick, run_cell
from gfrpc.cli import main as cli_main
from gfrpc.transport import make_poller

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the gfrpc brick needs root "
                                "(trusted.* xattrs)")
MiB = 1 << 20


def test_tiny_run_prints_both_rows_with_positive_numbers(tmp_path, capsys):
    """2 streams x 2 MiB to the gfrpc brick, TLS off and on: a row each, positive MB/s and
    CPU, no glusterfsd ratio (not measured), the aim line, and the JSON file."""
    out = tmp_path / "w.json"
    rc = cli_main(["bench-write", "--targets", "gfrpc-brick", "--streams", "2", "--size-mb", "2",
                   "--tls", "both", "--json", str(out), "--quiet", "--tmpdir", str(tmp_path)])
    assert rc == 0
    text = capsys.readouterr().out
    for tls in ("off", "on"):
        m = re.search(rf"^gfrpc-brick\s+{tls}\s+2\s+(\d+)\s+([\d.]+)", text, re.M)
        assert m and int(m.group(1)) > 0 and float(m.group(2)) > 0, text
    assert not re.search(r"^glusterfsd", text, re.M)
    assert "with TLS on: not measured" in text
    data = json.loads(out.read_text())
    assert {(r["target"], r["tls"]) for r in data["rows"]} == {("gfrpc-brick", False),
                                                                ("gfrpc-brick", True)}
    for r in data["rows"]:
        assert r["bytes"] == 2 * 2 * MiB
        assert r["mb_per_s"] > 0 and r["seconds"] > 0 and r["cpu_s_per_gb"] > 0
        assert r["mbps_ratio"] is None
    assert data["aim"]["met"] is None
    assert [p for p in tmp_path.iterdir() if p.name.startswith("gfrpc-bench-write-")] == []


def test_streams_write_files_of_the_right_size(tmp_path):
    """Each stream leaves one file of exactly the asked size on the brick (kept here), in
    records of the asked size, the last one short."""
    brick = GfrpcBrick(tmp_path / "brick", volname="gfrpc-bench", tls_dir=None)
    poller = make_poller("pool", 2)
    poller.start()
    try:
        sample = run_cell(brick, streams=3, tls_ctx=None, poller=poller, tag="t",
                          file_size=2 * MiB + 1000, record_size=MiB, keep=True)
    finally:
        poller.stop()
        brick.stop()
    assert sample["bytes"] == 3 * (2 * MiB + 1000)
    assert sample["mb_per_s"] > 0 and sample["client_cpu_s"] >= 0
    for p in sample["paths"]:
        assert (tmp_path / "brick" / p.lstrip("/")).stat().st_size == 2 * MiB + 1000
