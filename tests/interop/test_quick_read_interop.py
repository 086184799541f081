"""A stock FUSE mount of a gfrpc volume (``gfrpc mgmtd`` + ``gfrpc brick --mgmt``) gets
glusterd's default client graph, so its quick-read reads small files from the bytes their
LOOKUP brought back: the right bytes, and no READ reaches the brick for them. Plain and TLS.
"""

from __future__ import annotations

import os
import re
from contextlib import ExitStack
from pathlib import Path

import pytest
from gfrpc_daemons_support import (
    VOLFILE_HOST,
    gfrpc_brick,
    gfrpc_mgmtd,
    run_client_script,
    tail,
    wait_for_log,
)

from gfrpc.testing import need
from gfrpc.testing.realgluster import GLUSTERD_PORT, make_tls_material, port_open

pytestmark = pytest.mark.timeout(180)

VOLUME = "qv"


@pytest.fixture(scope="module")
def tls_material(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return make_tls_material(tmp_path_factory.mktemp("quick-read-tls"))


def _fops_served(log: Path) -> dict[str, int]:
    m = re.search(r"FOPs served: (.*)", log.read_text(errors="replace"))
    assert m, tail(log)
    return {k: int(v) for k, v in (p.split("=") for p in m.group(1).split() if "=" in p)}


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_fuse_reads_small_files_from_their_lookup(tls: bool, tmp_path: Path, tls_material) -> None:  # type: ignore[no-untyped-def]
    """Ten 4 KiB files written through one mount read back byte for byte through a fresh one,
    whose quick-read serves them from the LOOKUP content: the brick serves at most the few
    READs of the one 200 KiB file (over the 64 KiB the brick answers in a LOOKUP), which reads
    back whole too."""
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
    src = tmp_path / "src"
    src.mkdir()
    for i in range(10):
        (src / f"s{i}").write_bytes(os.urandom(4096))
    (src / "big").write_bytes(os.urandom(200 << 10))
    # by name, not by a listing: a READDIRP fills the kernel's dentries without the LOOKUPs
    # that bring quick-read the bytes (so with glusterd too)
    names = sorted(f.name for f in src.iterdir())
    mnt, log, back = tmp_path / "mnt", tmp_path / "mount.log", tmp_path / "back"
    mnt.mkdir()
    back.mkdir()
    body = f"""
mount -t glusterfs -o log-file={log} {VOLFILE_HOST}:/{VOLUME} {mnt}
cp {src}/* {mnt}/
umount {mnt}
mount -t glusterfs -o log-file={log} {VOLFILE_HOST}:/{VOLUME} {mnt}
trap 'umount {mnt} || umount -l {mnt}' EXIT
for f in {" ".join(names)}; do cat {mnt}/$f > {back}/$f; done
"""
    with ExitStack() as stack:
        mgmtd = stack.enter_context(
            gfrpc_mgmtd(
                tmp_path, "--volume", f"{VOLUME}={VOLFILE_HOST}:{tmp_path / 'b0'}", *mgmt_tls
            )
        )
        brick = stack.enter_context(
            gfrpc_brick(
                tmp_path,
                "pool",
                "--mgmt",
                VOLFILE_HOST,
                *brick_tls,
                host=VOLFILE_HOST,
                name="b0",
                volname=VOLUME,
            )
        )
        wait_for_log(mgmtd.log, r"signed in on port", mgmtd.proc)
        r = run_client_script(tmp_path, body, tls_material.client.dir if tls else None)
        assert r.returncode == 0, f"{r.stdout}{r.stderr}\n{tail(log)}\n{brick.log_tail()}"
    for f in src.iterdir():
        assert (back / f.name).read_bytes() == f.read_bytes(), f.name
    served = _fops_served(brick.log)
    assert served.get("LOOKUP", 0) >= 11
    assert 1 <= served.get("READ", 0) <= 4, served
