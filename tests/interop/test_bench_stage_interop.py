"""The bench's stage in its private namespace, with a real glusterd and fio: every target of
glusterfsd and gfrpc specs, TLS on and off, answers gfrpc's client and fio's gfapi engine, and
nothing is left behind.

The isolated stage runs in a child started by ``run_in_namespace`` (``unshare --net
--mount``), as ``gfrpc bench`` runs it; the child writes what it saw to a JSON file the test
checks. The ``--no-isolate`` layout runs in a child with a fresh network namespace only (the
host's mount namespace), so that other tests' glusterd on 127.0.0.1:24007 is not in its way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gfrpc.bench.experiment.isolation import run_in_namespace, should_isolate
from gfrpc.testing import need
from gfrpc.testing.realgluster import pid_alive

pytestmark = pytest.mark.timeout(120)

SCRIPT = r"""
import json, subprocess, sys, time
from pathlib import Path
from gfrpc.bench.experiment.isolation import enter_private_network
from gfrpc.bench.experiment.model import ServerSpec
from gfrpc.bench.experiment.stage import Stage
from gfrpc.client.volume import Volume

out_path = Path(sys.argv[1])
out = {"targets": {}, "fio": {}, "t": {}, "pids": []}
t0 = time.monotonic()
enter_private_network()
mounts_before = Path("/proc/self/mounts").read_text()
specs = [ServerSpec("glusterfsd", False), ServerSpec("glusterfsd", True),
         ServerSpec("gfrpc", False, "pool", 2), ServerSpec("gfrpc", True, "own-thread", 2)]
try:
    with Stage(specs, store_bytes=256 << 20) as st:  # in /tmp: glusterd's socket path is short
        out["t"]["up"] = time.monotonic() - t0
        out.update(notes=st.notes, gluster_missing=st.glusterfsd_missing,
                   fio_missing=st.fio_missing, secure_access=st.secure_access,
                   scratch=str(st.scratch))
        out["pids"] += st.started_pids()
        for spec in specs:
            t = st.target(spec)
            out["pids"] += t.server_pids
            with Volume.connect(t.url, tls=t.tls_dir, mgmt_tls=t.mgmt_tls_dir,
                                timeout=30) as v:
                v.write_bytes("/probe", b"stage" * 20000)
                ok = v.read_bytes("/probe") == b"stage" * 20000
            out["targets"][t.volname] = dict(ok=ok, url=t.url, fio_host=t.fio_host,
                                             tls=t.tls_dir is not None, brick=t.brick,
                                             pids=t.server_pids)
        out["t"]["gfrpc"] = time.monotonic() - t0
        for spec in specs[2:]:
            t = st.target(spec)
            r = subprocess.run(["fio", "--name=stage", "--ioengine=gfapi",
                                f"--volume={t.volname}", f"--brick={t.fio_host}", "--rw=write",
                                "--bs=1m", "--size=4m", "--numjobs=1", "--output-format=json"],
                               capture_output=True, text=True, timeout=90, cwd=st.scratch)
            text = r.stdout
            job = json.loads(text[text.index("{"):])["jobs"][0] if "{" in text else {}
            out["fio"][t.volname] = dict(rc=r.returncode, stderr=r.stderr[-800:],
                                         written=job.get("write", {}).get("io_bytes"),
                                         error=job.get("error"))
        out["t"]["fio"] = time.monotonic() - t0
finally:
    out["t"]["closed"] = time.monotonic() - t0
    out["mounts_left"] = sorted(set(Path("/proc/self/mounts").read_text().splitlines())
                                - set(mounts_before.splitlines()))
    out_path.write_text(json.dumps(out))
"""


def test_isolated_stage_serves_gfrpc_client_and_fio_then_cleans_up(tmp_path: Path) -> None:
    """Rule: in the private namespace one Stage serves glusterfsd and gfrpc targets, TLS on and
    off, with management TLS on for the run; each target takes a write and a read from
    gfrpc's client, fio's gfapi engine writes 1 x 4 MiB to a plain and a TLS gfrpc target
    through mgmtd on port 24007; afterwards no process we started lives, no mount is left
    and the scratch tree is gone."""
    need(should_isolate(), "needs root and a working `unshare --net --mount`")
    for binary in ("glusterd", "glusterfsd", "gluster", "fio"):
        need(shutil.which(binary), f"`{binary}` is not installed")
    script, out_path = tmp_path / "stage.py", tmp_path / "out.json"
    script.write_text(SCRIPT)
    rc = run_in_namespace([sys.executable, str(script), str(out_path)], timeout=110)
    out = json.loads(out_path.read_text()) if out_path.exists() else {}
    print(json.dumps(out, indent=1))
    need(out.get("gluster_missing") is None, f"glusterd: {out.get('gluster_missing')}")
    need(out.get("fio_missing") is None, f"fio: {out.get('fio_missing')}")
    assert rc == 0, out
    assert out["secure_access"]
    assert sorted(out["targets"]) == [
        "gb-gfrpc-own-thread-tls",
        "gb-gfrpc-pool-x2",
        "gb-glusterfsd-x2",
        "gb-glusterfsd-x2-tls",
    ]
    assert all(t["ok"] for t in out["targets"].values())
    fio_hosts = {name: t["fio_host"] for name, t in out["targets"].items()}
    assert fio_hosts == {
        "gb-glusterfsd-x2": "127.0.0.1",
        "gb-glusterfsd-x2-tls": "127.0.0.1",
        "gb-gfrpc-pool-x2": "127.0.0.2",
        "gb-gfrpc-own-thread-tls": "127.0.0.3",
    }
    for name, run in out["fio"].items():
        assert run["rc"] == 0 and run["error"] == 0, (name, run)
        assert run["written"] == 4 << 20, (name, run)
    assert len(set(out["pids"])) == 4 + 2 + 1  # 2 glusterfsd, 2 gfrpc bricks, 2 mgmtd, glusterd
    alive = [p for p in out["pids"] if pid_alive(p)]
    assert not alive, [(p, Path(f"/proc/{p}/cmdline").read_bytes()) for p in alive]
    assert out["mounts_left"] == []
    assert not Path(out["scratch"]).exists()
    assert not any(out["scratch"] in _cmdline(p) for p in _all_pids())


HOST_LAYOUT_SCRIPT = r"""
import json, subprocess, sys
from pathlib import Path
from gfrpc.bench.experiment.isolation import enter_private_network
from gfrpc.bench.experiment.model import ServerSpec
from gfrpc.bench.experiment.stage import Stage
from gfrpc.testing.realgluster import pid_alive, port_open
from gfrpc.client.volume import Volume

out_path = Path(sys.argv[1])
enter_private_network()  # a fresh network namespace only: the mount namespace is the host's
specs = [ServerSpec("glusterfsd", False), ServerSpec("glusterfsd", True),
         ServerSpec("gfrpc", False, "single", 1), ServerSpec("gfrpc", True, "pool", 2)]
out = {}
with Stage(specs, isolated=False, store_bytes=256 << 20) as st:
    out.update(gluster_missing=st.glusterfsd_missing, fio_missing=st.fio_missing,
               secure_access=st.secure_access)
    targets = [st.target(s) for s in specs]
    pids = st.started_pids()
    out["pids"] = pids
    out["fio_hosts"] = [t.fio_host for t in targets]
    out["mgmt_tls"] = [t.mgmt_tls_dir is not None for t in targets]
    out["ok"] = []
    for t in targets:
        with Volume.connect(t.url, tls=t.tls_dir, timeout=30) as v:
            v.write_bytes("/probe", b"host" * 1000)
            out["ok"].append(v.read_bytes("/probe") == b"host" * 1000)
    t = targets[2]
    r = subprocess.run(["fio", "--name=stage", "--ioengine=gfapi", f"--volume={t.volname}",
                        f"--brick={t.fio_host}", "--rw=write", "--bs=1m", "--size=4m",
                        "--numjobs=1", "--output-format=json"], capture_output=True,
                       text=True, timeout=90, cwd=st.scratch)
    job = json.loads(r.stdout[r.stdout.index("{"):])["jobs"][0] if "{" in r.stdout else {}
    out["fio"] = dict(rc=r.returncode, stderr=r.stderr[-800:], error=job.get("error"),
                      written=job.get("write", {}).get("io_bytes"))
    scratch = st.scratch
out["scratch_left"] = scratch is None or scratch.exists()
out["alive"] = [p for p in pids if pid_alive(p)]
out["ports_open"] = [h for h in ("127.0.0.1", "127.0.0.2", "127.0.0.3") if port_open(h, 24007)]
out_path.write_text(json.dumps(out))
"""


def test_stage_in_the_host_namespace_serves_plain_fio_and_no_tls_fio(tmp_path: Path) -> None:
    """Rule: without isolation (`--no-isolate`) the stage takes port 24007 where it is free
    (glusterd on 127.0.0.1, gfrpc's mgmtd on 127.0.0.2/.3) with plain management: every
    target answers gfrpc's client, fio reaches the plain ones, the TLS ones have no fio host
    (no overlay outside a private mount namespace); afterwards the servers are gone, the
    ports free and the scratch removed. It runs in a fresh network namespace only, so that
    a glusterd of other tests on this machine's 127.0.0.1:24007 is not in its way."""
    need(os.geteuid() == 0 and shutil.which("unshare"), "needs root and unshare")
    for binary in ("glusterd", "glusterfsd", "gluster", "fio"):
        need(shutil.which(binary), f"`{binary}` is not installed")
    script, out_path = tmp_path / "host.py", tmp_path / "out.json"
    script.write_text(HOST_LAYOUT_SCRIPT)
    r = subprocess.run(
        ["unshare", "--net", "--", sys.executable, str(script), str(out_path)],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(out_path.read_text())
    need(out["gluster_missing"] is None, f"glusterd: {out['gluster_missing']}")
    assert out["fio_missing"] is None and not out["secure_access"]
    assert len(out["pids"]) == 4 + 2 + 1  # 2 glusterfsd, 2 gfrpc bricks, 2 mgmtd, glusterd
    assert out["fio_hosts"] == ["127.0.0.1", None, "127.0.0.2", None]
    assert out["mgmt_tls"] == [False] * 4 and out["ok"] == [True] * 4
    assert out["fio"]["rc"] == 0 and out["fio"]["error"] == 0, out["fio"]
    assert out["fio"]["written"] == 4 << 20
    assert not out["scratch_left"] and out["alive"] == [] and out["ports_open"] == []


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""
