"""A gfrpc cluster (``gfrpc mgmtd`` + two ``gfrpc brick --mgmt``) used by stock GlusterFS 10
clients that find everything themselves: ``mount -t glusterfs 127.0.0.2:/VOL`` and
``fio --ioengine=gfapi``, plus gfrpc's own client through ``gluster://``. Plain, and TLS on
both the management and the I/O connections.

The daemon listens on 127.0.0.2:24007, beside the harness's glusterd on 127.0.0.1:24007. TLS
clients run in a private mount namespace (see ``gfrpc_daemons_support.run_client_script``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from gfrpc_daemons_support import (
    VOLFILE_HOST,
    GfrpcBrick,
    gfrpc_brick,
    gfrpc_mgmtd,
    run_client_script,
    tail,
    wait_for_log,
)

from gfrpc.client import Volume, dht
from gfrpc.testing import need
from gfrpc.testing.realgluster import GLUSTERD_PORT, make_tls_material, port_open

pytestmark = pytest.mark.timeout(180)

VOLUME = "cv"


@pytest.fixture(scope="module")
def tls_material(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return make_tls_material(tmp_path_factory.mktemp("cluster-tls"))


@pytest.fixture(params=[False, True], ids=["plain", "tls"])
def cluster(
    request: pytest.FixtureRequest, tmp_path: Path, tls_material
) -> Iterator[tuple[GfrpcBrick, list[GfrpcBrick], bool]]:  # type: ignore[no-untyped-def]
    """mgmtd with volume cv over bricks b0 and b1, both signed in."""
    tls = bool(request.param)
    need(os.geteuid() == 0, "gfrpc bricks (trusted.* xattrs) and FUSE mounts need root")
    need(
        not port_open(VOLFILE_HOST, GLUSTERD_PORT),
        f"{VOLFILE_HOST}:{GLUSTERD_PORT} is already taken by another process",
    )
    server = tls_material.server.dir
    mgmt_tls = ["--tls", "--tls-dir", str(server), "--io-tls"] if tls else []
    brick_tls = (
        ["--tls", "--tls-dir", str(server), "--ssl-allow", tls_material.client.cn, "--mgmt-tls"]
        if tls
        else []
    )
    paths = [tmp_path / "b0", tmp_path / "b1"]
    with ExitStack() as stack:
        mgmtd = stack.enter_context(
            gfrpc_mgmtd(
                tmp_path,
                "--volume",
                f"{VOLUME}=" + ",".join(f"{VOLFILE_HOST}:{p}" for p in paths),
                *mgmt_tls,
            )
        )
        bricks = [
            stack.enter_context(
                gfrpc_brick(
                    tmp_path,
                    "pool",
                    "--mgmt",
                    VOLFILE_HOST,
                    *brick_tls,
                    host=VOLFILE_HOST,
                    name=p.name,
                    volname=VOLUME,
                )
            )
            for p in paths
        ]
        wait_for_log(mgmtd.log, r"signed in on port", mgmtd.proc, count=2)
        try:
            yield mgmtd, bricks, tls
        except BaseException:
            for d in (mgmtd, *bricks):
                print(f"--- {d.log.name} ---\n{d.log_tail()}")
            raise
    assert all(b.proc.returncode == 0 for b in bricks)
    assert "signed out" in mgmtd.log.read_text()


def test_mount_fio_and_gfrpc_client_on_a_gfrpc_cluster(
    cluster: tuple[GfrpcBrick, list[GfrpcBrick], bool], tmp_path: Path, tls_material
) -> None:  # type: ignore[no-untyped-def]
    """``mount -t glusterfs 127.0.0.2:/cv`` (GETSPEC and PORTBYBRICK at gfrpc mgmtd) spreads
    files over both gfrpc bricks the way DHT hashes them and lists them all; fio's gfapi
    engine writes 4 x 32 MiB with crc32c verify; gfrpc's client reads what both wrote."""
    mgmtd, bricks, tls = cluster
    mnt, log, out = tmp_path / "mnt", tmp_path / "mount.log", tmp_path / "seen"
    mnt.mkdir()
    blob = tmp_path / "blob"
    blob.write_bytes(os.urandom(3 << 20))
    report = tmp_path / "fio.json"
    body = f"""
mount -t glusterfs -o log-file={log} {VOLFILE_HOST}:/{VOLUME} {mnt}
trap 'umount {mnt} || umount -l {mnt}' EXIT
mkdir {mnt}/d
for i in $(seq 0 23); do echo "file $i" > {mnt}/d/f$i; done
cp {blob} {mnt}/blob
ls {mnt}/d > {out}.ls
cd {tmp_path}
fio --name=g --ioengine=gfapi --volume={VOLUME} --brick={VOLFILE_HOST} --rw=write --bs=1m \\
    --size=32m --numjobs=4 --verify=crc32c --verify_state_save=0 --group_reporting \\
    --output-format=json --output={report}
"""
    r = run_client_script(tmp_path, body, tls_material.client.dir if tls else None)
    assert r.returncode == 0, f"{r.stdout}{r.stderr}\n{tail(log)}"
    names = [f"f{i}" for i in range(24)]
    assert sorted((tmp_path / "seen.ls").read_text().split()) == sorted(names)
    roots = [b.path for b in bricks]
    layouts = [dht.parse_layout(os.getxattr(p / "d", dht.LAYOUT_XATTR)) for p in roots]
    for n in names:
        home = roots[dht.pick_subvolume(layouts, n)]
        assert (home / "d" / n).read_text() == n.replace("f", "file ") + "\n"
        assert not any((p / "d" / n).exists() for p in roots if p != home)
    assert all(any((p / "d").iterdir()) for p in roots)
    text = report.read_text()
    assert json.loads(text[text.index("{") :])["jobs"][0]["error"] == 0
    assert sorted(f.name for p in roots for f in p.glob("g.*")) == [f"g.{i}.0" for i in range(4)]
    client_tls = tls_material.client.dir if tls else None
    with Volume.connect(
        f"gluster://{VOLFILE_HOST}/{VOLUME}", tls=client_tls, mgmt_tls=client_tls
    ) as vol:
        assert vol.kind == "distribute" and len(vol.bricks) == 2
        assert sorted(vol.listdir("/d")) == sorted(names)
        assert vol.read_bytes("/blob") == blob.read_bytes()
        assert vol.stat("/g.2.0").st_size == 32 << 20
    assert not any(str(mnt) in line for line in open("/proc/mounts"))
