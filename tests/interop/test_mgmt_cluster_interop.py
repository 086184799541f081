"""Issue 10's interop, end to end: a gfrpc cluster run the way a GlusterFS cluster is run.

One module-scoped cluster: ``gfrpc mgmtd --workdir W`` on 127.0.0.2:24007 (where the FUSE client
and gfapi look; the harness's glusterd may hold 127.0.0.1:24007), and the **stock** ``gluster``
CLI on ``W/glusterd.socket`` creating and starting volume ``v`` of two gfrpc bricks
``127.0.0.2:/...`` (a client asks the port mapper on the brick's host), which the daemon
spawns. The tests then run in file order, each on what the one before left: the real FUSE
client copies a tree in, fio (gfapi) writes with crc32c verify, gfrpc's ``gluster://`` client
reads it all back; ``client.ssl``/``server.ssl`` on, stop, start, and the same again over TLS
(the clients' TLS files are provided in a private mount namespace only, see
``mgmt_cluster_support.client_script``; the bricks get theirs from mgmtd's ``--tls-dir``);
mgmtd restarted after SIGTERM and after ``kill -9`` keeps the volume and adopts the running
bricks; ``--xml`` info and status match the state. Everything is stopped by pid at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from gfrpc_daemons_support import VOLFILE_HOST
from mgmt_cluster_support import (
    Mgmtd,
    brick_processes,
    client_script,
    fail_with,
    stop_bricks,
)

from gfrpc.client import Volume
from gfrpc.errors import GfrpcError
from gfrpc.testing import need
from gfrpc.testing.realgluster import (
    GLUSTERD_PORT,
    TLSMaterial,
    make_tls_material,
    mounts_under,
    port_open,
    unmount,
)
from gfrpc.testing.waiting import wait_for

pytestmark = pytest.mark.timeout(90)

VOLUME = "v"
SOURCES = Path(__file__).resolve().parents[2] / "src" / "gfrpc" / "wire"  # in the copied tree
FIO_SIZE = "8m"
FIO_JOBS = 2


@dataclass
class Cluster:
    root: Path
    mgmtd: Mgmtd
    bricks: list[str]  # HOST:/path as given to volume create
    paths: list[Path]
    tls: TLSMaterial
    options: dict[str, str]  # what the tests have set with ``volume set``
    tree: Path  # what the clients copy in: gfrpc's wire sources and a 3 MiB random file

    @property
    def tls_on(self) -> bool:
        return self.options.get("client.ssl") == "on"

    def status(self) -> ET.Element:
        out = self.mgmtd.check("volume", "status", VOLUME, "--xml")
        return ET.fromstring(out)

    def online(self) -> dict[str, tuple[int, int]]:
        """path -> (port, pid) of the bricks ``volume status --xml`` shows online."""
        nodes = self.status().findall("volStatus/volumes/volume/node")
        return {
            n.findtext("path", ""): (int(n.findtext("port", "0")), int(n.findtext("pid", "0")))
            for n in nodes
            if n.findtext("status") == "1"
        }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """mgmtd with volume v (two bricks) created and started by the stock CLI."""
    need(os.geteuid() == 0, "gfrpc bricks (trusted.* xattrs) and FUSE mounts need root")
    for binary in ("gluster", "glusterfs", "fio"):
        need(shutil.which(binary), f"`{binary}` is not installed")
    need(os.path.exists("/dev/fuse"), "/dev/fuse is missing")
    need(
        not port_open(VOLFILE_HOST, GLUSTERD_PORT),
        f"{VOLFILE_HOST}:{GLUSTERD_PORT} is already taken by another process",
    )
    root = tmp_path_factory.mktemp("mgmt-cluster")
    tls = make_tls_material(root / "tls")
    # bricks named by mgmtd's own address: a GlusterFS client asks the port mapper at the
    # brick's host, port 24007, and 127.0.0.1:24007 may be the harness's glusterd (the CLI
    # refuses localhost and 127.0.0.1 as brick hosts, not 127.0.0.2)
    host = VOLFILE_HOST
    paths = [root / "b1", root / "b2"]
    mgmtd = Mgmtd(root / "w", VOLFILE_HOST, "--tls-dir", str(tls.server.dir))
    tree = root / "tree"
    shutil.copytree(SOURCES, tree, ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "blob.bin").write_bytes(os.urandom(3 << 20))
    c = Cluster(root, mgmtd, [f"{host}:{p}" for p in paths], paths, tls, {}, tree)
    try:
        mgmtd.start()
        out = mgmtd.check("volume", "create", VOLUME, *c.bricks, "force")
        assert (
            out.strip()
            == f"volume create: {VOLUME}: success: please start the volume to access data"
        )
        assert mgmtd.check("volume", "start", VOLUME).strip() == f"volume start: {VOLUME}: success"
        yield c
    finally:
        for m in mounts_under(root):
            unmount(m)
        if mgmtd.proc is not None and mgmtd.proc.poll() is None:
            mgmtd.gluster("volume", "stop", VOLUME, "force")
            mgmtd.stop()
        stop_bricks(root)
        shutil.rmtree(root, ignore_errors=True)


def _copy_in(c: Cluster, name: str, tls: bool) -> None:
    """A FUSE mount of v copies the tree in as /NAME and ``diff -r`` matches; unmounted after."""
    work = c.root / f"client-{name}"
    mnt, log = work / "mnt", work / "fuse.log"
    body = (
        f"mkdir -p {mnt}\n"
        f"mount -t glusterfs -o log-file={log} {VOLFILE_HOST}:/{VOLUME} {mnt}\n"
        f"trap 'umount {mnt} || umount -l {mnt}' EXIT\n"
        f"cp -r {c.tree} {mnt}/{name}\n"
        f"diff -r {c.tree} {mnt}/{name}\n"
    )
    r = client_script(work, body, c.tls.client.dir if tls else None)
    if r.returncode != 0:
        fail_with("mount, copy and diff", r, log, c.mgmtd.log)


def _read_back(c: Cluster, name: str, tls: bool) -> None:
    """gfrpc's client (gluster://) reads /NAME back, file by file equal to the tree."""
    client_tls = c.tls.client.dir if tls else None
    with Volume.connect(f"gluster://{VOLFILE_HOST}/{VOLUME}", tls=client_tls) as vol:
        assert vol.kind == "distribute" and len(vol.bricks) == 2
        for src in sorted(c.tree.rglob("*")):
            rel = f"/{name}/{src.relative_to(c.tree)}"
            if src.is_dir():
                assert vol.stat(rel)
            else:
                assert vol.read_bytes(rel) == src.read_bytes(), rel


def test_the_stock_cli_started_two_gfrpc_bricks(cluster: Cluster) -> None:
    """``gluster volume create`` + ``start`` made one ``gfrpc brick`` process per brick, each
    online in ``volume status`` with the pid and port of that process (49152 and up)."""
    online = cluster.online()
    assert sorted(online) == [str(p) for p in cluster.paths]
    procs = brick_processes(cluster.root)
    for path, (port, pid) in online.items():
        assert procs[path] == [pid]
        assert port >= 49152
    text = cluster.mgmtd.check("volume", "status", VOLUME)
    assert text.count(" Y ") == 2, text


def test_fuse_mount_copies_a_tree_in(cluster: Cluster) -> None:
    """``mount -t glusterfs 127.0.0.2:/v`` (GETSPEC and PORTBYBRICK at mgmtd) copies a tree in
    and ``diff -r`` matches; the files are spread over both brick directories."""
    _copy_in(cluster, "plain", tls=False)
    homes = [p for p in cluster.paths if any((p / "plain").rglob("*.py"))]
    assert homes == cluster.paths


def test_fio_gfapi_writes_with_crc32c_verify(cluster: Cluster) -> None:
    """``fio --ioengine=gfapi --volume=v --brick=127.0.0.2 --verify=crc32c`` writes and
    verifies without an error, and its files are in the brick directories."""
    work = cluster.root / "fio"
    work.mkdir()
    report = work / "fio.json"
    body = (
        f"cd {work}\n"
        f"fio --name=g --ioengine=gfapi --volume={VOLUME} --brick={VOLFILE_HOST} "
        f"--rw=write --bs=256k --size={FIO_SIZE} --numjobs={FIO_JOBS} --verify=crc32c "
        f"--verify_state_save=0 --group_reporting --output-format=json --output={report}\n"
    )
    r = client_script(work, body, None)
    text = report.read_text() if report.exists() else ""
    if r.returncode != 0:
        fail_with(f"fio\n{text}", r, cluster.mgmtd.log)
    assert json.loads(text[text.index("{") :])["jobs"][0]["error"] == 0
    names = sorted(f.name for p in cluster.paths for f in p.glob("g.*"))
    assert names == [f"g.{i}.0" for i in range(FIO_JOBS)]


def test_gfrpc_client_reads_the_same_files(cluster: Cluster) -> None:
    """gfrpc's ``gluster://127.0.0.2/v`` client reads back what the FUSE mount wrote, byte for
    byte, and sees fio's files at their full size."""
    _read_back(cluster, "plain", tls=False)
    with Volume.connect(f"gluster://{VOLFILE_HOST}/{VOLUME}") as vol:
        for i in range(FIO_JOBS):
            assert vol.stat(f"/g.{i}.0").st_size == 8 << 20


def test_tls_on_then_stop_and_start(cluster: Cluster) -> None:
    """``volume set v client.ssl on``, ``server.ssl on`` (and ``auth.ssl-allow`` the client's
    CN), stop, start: the bricks run with ``--tls`` and the daemon's TLS directory, a FUSE
    mount (TLS files in its private mount namespace) copies a tree in, and gfrpc's client
    reads it back over TLS; a client without a certificate, or with one from another CA,
    is refused."""
    g = cluster.mgmtd
    for key, value in [
        ("client.ssl", "on"),
        ("server.ssl", "on"),
        ("auth.ssl-allow", cluster.tls.client.cn),
    ]:
        assert g.check("volume", "set", VOLUME, key, value).strip() == "volume set: success"
        cluster.options[key] = value
    assert g.check("volume", "stop", VOLUME).strip() == f"volume stop: {VOLUME}: success"
    assert brick_processes(cluster.root) == {}
    g.check("volume", "start", VOLUME)
    procs = brick_processes(cluster.root)
    assert sorted(procs) == [str(p) for p in cluster.paths]
    for pids in procs.values():
        argv = Path(f"/proc/{pids[0]}/cmdline").read_bytes().split(b"\0")
        assert b"--tls" in argv and str(cluster.tls.server.dir).encode() in argv
    _copy_in(cluster, "tls", tls=True)
    _read_back(cluster, "tls", tls=True)
    _read_back(cluster, "plain", tls=True)  # written before, still there
    no_cert = cluster.tls.client.client_context(with_cert=False)
    for who in (no_cert, cluster.tls.untrusted_client.dir):
        with pytest.raises(GfrpcError):
            Volume.connect(f"gluster://{VOLFILE_HOST}/{VOLUME}", tls=who, timeout=5).close()


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_mgmtd_restart_adopts_the_running_bricks(cluster: Cluster, how: str) -> None:
    """mgmtd stopped (SIGTERM, then ``kill -9``) and started again: the volume is still there
    (``volume info``), the bricks kept running and were adopted (same pids, one process per
    brick path), they sign in again (online with the same ports), and a new mount works."""
    g = cluster.mgmtd
    before = cluster.online()
    assert len(before) == 2
    status = g.stop(getattr(signal, how))
    assert status == (0 if how == "SIGTERM" else -signal.SIGKILL)
    g.start()
    info = ET.fromstring(g.check("volume", "info", VOLUME, "--xml"))
    assert info.findtext("volInfo/volumes/volume/statusStr") == "Started"
    assert brick_processes(cluster.root) == {p: [pid] for p, (_, pid) in before.items()}
    wait_for(lambda: cluster.online() == before, 15, "the adopted bricks to sign in", interval=0.2)
    g.check("volume", "start", VOLUME, "force")  # starts nothing: all are running
    assert brick_processes(cluster.root) == {p: [pid] for p, (_, pid) in before.items()}
    _copy_in(cluster, f"after-{how.lower()}", tls=cluster.tls_on)


def test_xml_info_and_status_match_the_state(cluster: Cluster) -> None:
    """``volume info --xml`` and ``volume status --xml`` parse, and name, id (the one the
    bricks store), type, status, brick paths, options, and each brick's port and pid
    (the process serving it, listening there) match the state."""
    g = cluster.mgmtd
    v = ET.fromstring(g.check("volume", "info", VOLUME, "--xml")).find("volInfo/volumes/volume")
    assert v is not None
    stored_id = os.getxattr(cluster.paths[0], "trusted.glusterfs.volume-id")
    assert v.findtext("name") == VOLUME
    assert v.findtext("id") == str(uuid.UUID(bytes=stored_id))
    assert (v.findtext("statusStr"), v.findtext("typeStr")) == ("Started", "Distribute")
    assert (v.findtext("brickCount"), v.findtext("status")) == ("2", "1")
    assert [b.findtext("name") for b in v.iter("brick")] == cluster.bricks
    opts = {o.findtext("name"): o.findtext("value") for o in v.iter("option")}
    assert opts == cluster.options
    root = cluster.status()
    assert root.findtext("opRet") == "0"
    vol = root.find("volStatus/volumes/volume")
    assert vol is not None and vol.findtext("volName") == VOLUME
    nodes = vol.findall("node")
    assert [n.findtext("path") for n in nodes] == [str(p) for p in cluster.paths]
    procs = brick_processes(cluster.root)
    for n in nodes:
        path, port, pid = n.findtext("path", ""), n.findtext("port", ""), n.findtext("pid", "")
        assert n.findtext("status") == "1"
        assert [int(pid)] == procs[path]
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert argv[argv.index(b"--port") + 1] == port.encode()
        assert port_open("127.0.0.1", int(port))
