"""``make demo`` for real, tiny: every client x server pair, TLS off and on, in one run.

The run goes through the Makefile's ``demo`` target (the README's main command) with small
sizes, so it exercises what a user runs: the re-exec into a private network namespace, the
private glusterd and glusterfsd, the gfrpc bricks behind gfrpc mgmtd, fio's gfapi engine with
and without TLS, gfrpc's client, the table and the JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gfrpc.testing import need

ROOT = Path(__file__).resolve().parents[2]
PAIRS = {("fio", "glusterfsd"), ("fio", "gfrpc"), ("gfrpc", "glusterfsd"), ("gfrpc", "gfrpc")}


def _prerequisites() -> None:
    need(os.geteuid() == 0, "gfrpc bench's real rows need root")
    for tool in ("glusterd", "glusterfsd", "fio", "unshare", "make"):
        need(shutil.which(tool), f"{tool} is not installed")


@pytest.mark.timeout(900)
def test_make_demo_tiny_runs_every_pair_with_and_without_tls(tmp_path: Path) -> None:
    """Every client x server pair, TLS off and on, gives a row with a positive value; the fio
    rows carry fio's own report (its version and one job per stream); glusterfsd is the
    reference (ratio 1.0) and the other rows have a ratio; the table names each pair; nothing
    of the run is left behind."""
    _prerequisites()
    out = tmp_path / "bench.json"
    args = (
        f"--workload seq-write --streams 2 --size 4M --repeats 1 --json {out} "
        f"--client fio,gfrpc --server gfrpc,glusterfsd --tls both"
    )
    before = set(os.listdir("/proc"))
    venv = Path(sys.executable).parent.parent
    r = subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(ROOT),
            # this test's own venv, and never reinstalled from here: `-o` keeps make from
            # pip-installing ROOT into it (a clone of the repository would take it over)
            "-o",
            f"{venv}/.installed",
            "demo",
            f"DEMO_ARGS={args}",
            f"VENV={venv}",
        ],
        capture_output=True,
        text=True,
        timeout=850,
    )
    assert r.returncode == 0, f"make demo failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    doc = json.loads(out.read_text())
    rows = doc["results"]
    seen = {(row["client"], row["server"], row["tls"]) for row in rows}
    assert seen == {(c, s, t) for c, s in PAIRS for t in (False, True)}, r.stdout
    for row in rows:
        # a failed run leaves its row without a value; the notes say why
        assert row["value"] is not None, (row, doc["notes"])
        assert row["value"] > 0 and row["unit"] == "MB/s" and len(row["runs"]) == 1, row
        assert row["bytes_total"] == 2 * 4 * (1 << 20), row
        # /proc counts CPU in 10 ms ticks: a tiny run may read 0.00, never None
        assert row["server_cpu_s"] is not None and row["server_cpu_s"] >= 0, row
        assert row["server_busy_cores"] is not None, row
        if (row["client"], row["server"]) == ("fio", "glusterfsd"):
            assert row["ratio_to_reference"] == pytest.approx(1.0)
        else:
            assert row["ratio_to_reference"] > 0, row
        if row["client"] == "fio":
            fio = row["evidence"][0]
            assert fio["fio_version"].startswith("fio-") and fio["jobs"] == 2, row
            assert row["latency_ms"] is not None
        else:
            assert row["latency_ms"]["p50"] > 0
    assert sum(row["server_cpu_s"] for row in rows) > 0
    for needle in ("fio", "glusterfsd", "gfrpc", "TLS"):
        assert needle in r.stdout
    assert doc["machine"]["glusterfs"] and doc["machine"]["fio"]
    # every process the run started is gone (the run's children were all in its namespace)
    leftovers = []
    for pid in set(os.listdir("/proc")) - before:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "gfrpc-bench" in cmd or "gb-" in cmd:
            leftovers.append(f"{pid}: {cmd[:200]}")
    assert not leftovers, leftovers
