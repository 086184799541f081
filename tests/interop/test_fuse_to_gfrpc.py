"""Real GlusterFS 10.3 clients on a gfrpc brick (no glusterd involved).

The brick runs in a subprocess (``python -m gfrpc.cli brick``) so the test's own GIL never
stalls it. First the FUSE client is started by the harness's ``fuse_mount`` from a hand-written
protocol/client volfile (reference §6.5) aimed at the brick's port and path. Workloads: fio
(write + crc32c verify), cp, ls -l, mv, rm -r, mkdir -p, stat; the files must then be in the
brick directory with the same bytes. Plain and TLS, with the pool and own-thread pollers.

Then the clients that find their volfile themselves: a gfrpc brick on 127.0.0.2:24007 (the
harness's glusterd holds 127.0.0.1:24007) answers GETSPEC with a client volfile for itself,
so ``mount -t glusterfs 127.0.0.2:/VOL`` and ``fio --ioengine=gfapi --brick=127.0.0.2`` work
against it, plain and TLS. GlusterFS puts TLS on the volfile connection only when
``/var/lib/glusterd/secure-access`` exists and then reads its identity from its default TLS
directory; the TLS runs make both true inside a private mount namespace, so the machine's own
files are never touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from gfrpc_daemons_support import (
    VOLFILE_HOST,
    GfrpcBrick,
    gfrpc_brick,
    run,
    run_client_script,
    tail,
)

from gfrpc.testing import need
from gfrpc.testing.realgluster import GLUSTERD_PORT, client_volfile, make_tls_material, port_open

pytestmark = pytest.mark.timeout(150)

FIO_SIZE = "64m"
FIO_JOBS = 4


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fio_write_verify(directory: Path) -> dict[str, float]:
    """fio sequential 1 MiB writes with crc32c verify; returns MB/s of the write and verify
    (read) phases. Fails on a non-zero exit or any job error."""
    out = run(
        [
            "fio",
            "--name=w",
            f"--directory={directory}",
            "--rw=write",
            "--bs=1m",
            f"--size={FIO_SIZE}",
            f"--numjobs={FIO_JOBS}",
            "--verify=crc32c",
            "--ioengine=psync",
            "--verify_state_save=0",
            "--group_reporting",
            "--output-format=json",
        ],
        timeout=120,
    )
    assert out.returncode == 0, f"fio failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    report = json.loads(out.stdout[out.stdout.index("{") :])
    job = report["jobs"][0]
    assert job["error"] == 0, job
    assert "verify" not in out.stderr.lower(), out.stderr
    return {
        "write_MBps": job["write"]["bw"] * 1024 / 1e6,
        "verify_read_MBps": job["read"]["bw"] * 1024 / 1e6,
    }


@pytest.fixture(scope="module")
def tls_material(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return make_tls_material(tmp_path_factory.mktemp("gfrpc-tls"))


@pytest.fixture
def tools() -> None:
    need(os.geteuid() == 0, "a gfrpc brick (trusted.* xattrs) and FUSE mounts need root")
    need(shutil.which("glusterfs"), "the glusterfs FUSE client is not installed")
    need(shutil.which("fio"), "fio is not installed")


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
@pytest.mark.parametrize("poller", ["pool", "own-thread"])
def test_real_fuse_client_on_gfrpc_brick(
    tools: None,
    fuse_mount: Callable[..., AbstractContextManager[Path]],
    tmp_path: Path,
    tls_material,
    poller: str,
    tls: bool,
    record_property,
) -> None:  # type: ignore[no-untyped-def]
    """A real GlusterFS FUSE client mounts a gfrpc brick; fio write+verify passes, and cp, ls -l,
    mv, rm -r, mkdir -p and stat work, leaving the same bytes in the brick directory."""
    extra: list[str] = []
    client_tls = None
    if tls:
        extra = [
            "--tls",
            "--tls-dir",
            str(tls_material.server.dir),
            "--ssl-allow",
            tls_material.client.cn,
        ]
        client_tls = tls_material.client.dir
    with gfrpc_brick(tmp_path, poller, *extra) as brick:
        volfile = client_volfile(
            remote_port=brick.port,
            remote_subvolume=str(brick.path),
            tls_dir=client_tls,
            name="fusetest-client-0",
        )
        try:
            with fuse_mount(volfile, timeout=30) as mnt:
                _workload(mnt, brick, tmp_path, record_property, poller, tls)
        except BaseException:
            print(f"--- gfrpc brick log ---\n{brick.log_tail()}")
            raise
    assert brick.proc.returncode == 0, brick.log_tail()
    print(brick.log_tail(3))


def _workload(
    mnt: Path,
    brick: GfrpcBrick,
    tmp_path: Path,
    record_property,  # type: ignore[no-untyped-def]
    poller: str,
    tls: bool,
) -> None:
    # mkdir -p, stat
    assert run(["mkdir", "-p", str(mnt / "a" / "b" / "c")]).returncode == 0
    st = run(["stat", "-c", "%F %a", str(mnt / "a" / "b")])
    assert st.returncode == 0 and st.stdout.strip() == "directory 755", st
    # fio write + verify
    fio_dir = mnt / "fio"
    fio_dir.mkdir()
    speeds = fio_write_verify(fio_dir)
    record_property("fio", speeds)
    print(f"fio {poller} {'tls' if tls else 'plain'}: {speeds}")
    for i in range(FIO_JOBS):
        name = f"w.{i}.0"
        assert (brick.path / "fio" / name).stat().st_size == 64 << 20
        assert sha256(brick.path / "fio" / name) == sha256(fio_dir / name)
    # cp in and out, ls -l
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(3 << 20) + b"tail")
    assert run(["cp", str(src), str(mnt / "a" / "b" / "c" / "copy.bin")]).returncode == 0
    back = tmp_path / "back.bin"
    assert run(["cp", str(mnt / "a" / "b" / "c" / "copy.bin"), str(back)]).returncode == 0
    assert sha256(back) == sha256(src)
    assert sha256(brick.path / "a" / "b" / "c" / "copy.bin") == sha256(src)
    ls = run(["ls", "-l", str(mnt / "a" / "b" / "c")])
    assert ls.returncode == 0 and "copy.bin" in ls.stdout
    assert str((3 << 20) + 4) in ls.stdout, ls.stdout
    # mv (rename across directories), stat of the result
    assert (
        run(
            ["mv", str(mnt / "a" / "b" / "c" / "copy.bin"), str(mnt / "a" / "moved.bin")]
        ).returncode
        == 0
    )
    st = run(["stat", "-c", "%s %F", str(mnt / "a" / "moved.bin")])
    assert st.stdout.strip() == f"{(3 << 20) + 4} regular file", st
    assert not (brick.path / "a" / "b" / "c" / "copy.bin").exists()
    assert sha256(brick.path / "a" / "moved.bin") == sha256(src)
    # rm -r
    assert run(["rm", "-r", str(mnt / "a"), str(fio_dir)]).returncode == 0
    assert sorted(p.name for p in mnt.iterdir()) == []
    assert sorted(p.name for p in brick.path.iterdir()) == [".glusterfs"]


# --------------------------------------------------------------------------------------------
# clients that fetch their volfile: mount -t glusterfs, fio --ioengine=gfapi


@pytest.fixture(params=[False, True], ids=["plain", "tls"])
def volfile_server_brick(
    request: pytest.FixtureRequest, tools: None, tmp_path: Path, tls_material
) -> Iterator[tuple[GfrpcBrick, bool]]:  # type: ignore[no-untyped-def]
    """A gfrpc brick on 127.0.0.2:24007, where clients ask for volfiles; with TLS it allows
    the test client's CN only."""
    tls = bool(request.param)
    need(
        not port_open(VOLFILE_HOST, GLUSTERD_PORT),
        f"{VOLFILE_HOST}:{GLUSTERD_PORT} is already taken by another process",
    )
    extra = (
        ["--tls", "--tls-dir", str(tls_material.server.dir), "--ssl-allow", tls_material.client.cn]
        if tls
        else []
    )
    with gfrpc_brick(tmp_path, "pool", *extra, host=VOLFILE_HOST, port=GLUSTERD_PORT) as brick:
        try:
            yield brick, tls
        except BaseException:
            print(f"--- gfrpc brick log ---\n{brick.log_tail()}")
            raise
    assert brick.proc.returncode == 0, brick.log_tail()


def test_mount_t_glusterfs_from_a_gfrpc_brick(
    volfile_server_brick: tuple[GfrpcBrick, bool], tmp_path: Path, tls_material
) -> None:  # type: ignore[no-untyped-def]
    """``mount -t glusterfs 127.0.0.2:/fusetest`` fetches its volfile from the gfrpc brick
    (GETSPEC on port 24007, over TLS when secure-access is on) and mounts it: the brick's files
    are listed and read through the mount, and files written through it are in the brick
    directory byte for byte."""
    brick, tls = volfile_server_brick
    (brick.path / "seeded.txt").write_bytes(b"from the brick side\n")
    blob = tmp_path / "blob"
    blob.write_bytes(os.urandom(5 << 20))
    mnt, log, out = tmp_path / "mnt", tmp_path / "mount.log", tmp_path / "seen"
    mnt.mkdir()
    body = f"""
mount -t glusterfs -o log-file={log} {VOLFILE_HOST}:/fusetest {mnt}
trap 'umount {mnt} || umount -l {mnt}' EXIT
ls {mnt} > {out}.ls
cat {mnt}/seeded.txt > {out}.cat
mkdir {mnt}/d
cp {blob} {mnt}/d/blob
df -k {mnt} > {out}.df
"""
    r = run_client_script(tmp_path, body, tls_material.client.dir if tls else None)
    assert r.returncode == 0, f"{r.stdout}{r.stderr}\n{tail(log)}"
    assert "seeded.txt" in (tmp_path / "seen.ls").read_text()
    assert (tmp_path / "seen.cat").read_bytes() == b"from the brick side\n"
    assert VOLFILE_HOST in (tmp_path / "seen.df").read_text()
    assert (brick.path / "d" / "blob").read_bytes() == blob.read_bytes()
    if tls:
        assert f"(CN {tls_material.client.cn})" in brick.log.read_text()
    assert not any(str(mnt) in line for line in open("/proc/mounts"))


def test_fio_gfapi_writes_to_a_gfrpc_brick(
    volfile_server_brick: tuple[GfrpcBrick, bool], tmp_path: Path, tls_material
) -> None:  # type: ignore[no-untyped-def]
    """``fio --ioengine=gfapi --volume=fusetest --brick=127.0.0.2`` (libgfapi: GETSPEC, then
    DUMP, SETVOLUME and the FOPs straight to the gfrpc brick, with TLS on both connections
    for the TLS brick) writes 4 x 64 MiB with crc32c verify and no error, and the files are
    in the brick directory."""
    brick, tls = volfile_server_brick
    report_file = tmp_path / "fio.json"
    body = (
        f"cd {tmp_path}\n"
        f"fio --name=g --ioengine=gfapi --volume=fusetest --brick={VOLFILE_HOST} "
        f"--rw=write --bs=1m --size={FIO_SIZE} --numjobs={FIO_JOBS} --verify=crc32c "
        f"--verify_state_save=0 --group_reporting --output-format=json "
        f"--output={report_file}\n"
    )
    r = run_client_script(tmp_path, body, tls_material.client.dir if tls else None)
    text = report_file.read_text() if report_file.exists() else ""
    assert r.returncode == 0, f"fio failed ({r.returncode}):\n{r.stdout}\n{r.stderr}\n{text}"
    job = json.loads(text[text.index("{") :])["jobs"][0]
    assert job["error"] == 0, job
    print(
        f"fio gfapi {'tls' if tls else 'plain'}: write {job['write']['bw'] * 1024 / 1e6:.0f} "
        f"MB/s, verify read {job['read']['bw'] * 1024 / 1e6:.0f} MB/s"
    )
    for i in range(FIO_JOBS):
        assert (brick.path / f"g.{i}.0").stat().st_size == 64 << 20
    if tls:
        assert f"(CN {tls_material.client.cn})" in brick.log.read_text()
