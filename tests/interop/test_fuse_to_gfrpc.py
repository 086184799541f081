"""Real GlusterFS 10.3 clients on a gfrpc brick (no glusterd involved).

The brick runs in a subprocess (``python -m gfrpc.cli brick``) so the test's own GIL never
stalls it. First the FUSE client is started by the harness's ``fuse_mount`` from a hand-written
protocol/client volfile (reference §6.5) aimed at the brick's port and path. Workloads: fio
(write + crc32c verify), cp, ls -l, mv, rm -r, mkdir -p, stat; the files must then be in the
brick directory with the same bytes. Plain and TLS, with the pool and own-thread pollers.

Then the clients that find their volfile themselves: a gfrpc brick on 127.0.0.2:24007 (the
harness's glusterd holds 127.0.0.1:24007) answers GETSPEC with a client volfile for itself,
so ``mount -t glusterfs 127.0.0.2:/VOL`` and ``fio --ioengine=gfapi --brick=127.0.0.2`` work
against it. These are plain TCP only: GlusterFS uses TLS on the volfile connection only when
the machine-wide ``/var/lib/glusterd/secure-access`` exists, which a test must not create.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from gluster import (
    GLUSTERD_PORT,
    client_volfile,
    cmdline,
    make_tls_material,
    need,
    port_open,
    stop_pid,
    unmount,
)

pytestmark = pytest.mark.timeout(150)

FIO_SIZE = "64m"
FIO_JOBS = 4


@dataclass
class GfrpcBrick:
    proc: subprocess.Popen[bytes]
    port: int
    path: Path
    log: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no brick log)"


@contextmanager
def gfrpc_brick(workdir: Path, poller: str, *extra: str, host: str = "127.0.0.1",
                port: int = 0) -> Iterator[GfrpcBrick]:
    """``gfrpc brick`` in a subprocess; yields once its "ready on HOST:PORT" line is logged."""
    brick = workdir / "brick"
    brick.mkdir()
    log = workdir / "brick.log"
    argv = [sys.executable, "-m", "gfrpc.cli", "brick", "--dir", str(brick), "--port", str(port),
            "--host", host, "--volname", "fusetest", "--poller", poller, *extra]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        port = 0
        while not port:
            m = re.search(rf"ready on {re.escape(host)}:(\d+)", log.read_text(errors="replace"))
            if m:
                port = int(m.group(1))
            elif proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gfrpc brick did not start:\n{log.read_text(errors='replace')}")
            else:
                time.sleep(0.05)
        yield GfrpcBrick(proc, port, brick, log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def fio_write_verify(directory: Path) -> dict[str, float]:
    """fio sequential 1 MiB writes with crc32c verify; returns MB/s of the write and verify
    (read) phases. Fails on a non-zero exit or any job error."""
    out = run(["fio", "--name=w", f"--directory={directory}", "--rw=write", "--bs=1m",
               f"--size={FIO_SIZE}", f"--numjobs={FIO_JOBS}", "--verify=crc32c",
               "--ioengine=psync", "--verify_state_save=0", "--group_reporting",
               "--output-format=json"], timeout=120)
    assert out.returncode == 0, f"fio failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    report = json.loads(out.stdout[out.stdout.index("{"):])
    job = report["jobs"][0]
    assert job["error"] == 0, job
    assert "verify" not in out.stderr.lower(), out.stderr
    return {"write_MBps": job["write"]["bw"] * 1024 / 1e6,
            "verify_read_MBps": job["read"]["bw"] * 1024 / 1e6}


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
        tools: None, fuse_mount: Callable[..., AbstractContextManager[Path]], tmp_path: Path,
        tls_material, poller: str, tls: bool, record_property) -> None:  # type: ignore[no-untyped-def]
    """A real GlusterFS FUSE client mounts a gfrpc brick; fio write+verify passes, and cp, ls -l,
    mv, rm -r, mkdir -p and stat work, leaving the same bytes in the brick directory."""
    extra: list[str] = []
    client_tls = None
    if tls:
        extra = ["--tls", "--tls-dir", str(tls_material.server.dir),
                 "--ssl-allow", tls_material.client.cn]
        client_tls = tls_material.client.dir
    with gfrpc_brick(tmp_path, poller, *extra) as brick:
        volfile = client_volfile(remote_port=brick.port, remote_subvolume=str(brick.path),
                                 tls_dir=client_tls, name="fusetest-client-0")
        try:
            with fuse_mount(volfile, timeout=30) as mnt:
                _workload(mnt, brick, tmp_path, record_property, poller, tls)
        except BaseException:
            print(f"--- gfrpc brick log ---\n{brick.log_tail()}")
            raise
    assert brick.proc.returncode == 0, brick.log_tail()
    print(brick.log_tail(3))


def _workload(mnt: Path, brick: GfrpcBrick, tmp_path: Path, record_property,  # type: ignore[no-untyped-def]
              poller: str, tls: bool) -> None:
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
    assert run(["mv", str(mnt / "a" / "b" / "c" / "copy.bin"), str(mnt / "a" / "moved.bin")]
               ).returncode == 0
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

VOLFILE_HOST = "127.0.0.2"  # loopback, but not the address the harness's glusterd binds


@pytest.fixture
def volfile_server_brick(tools: None, tmp_path: Path) -> Iterator[GfrpcBrick]:
    """A plain gfrpc brick listening on 127.0.0.2:24007, where clients ask for volfiles."""
    need(not port_open(VOLFILE_HOST, GLUSTERD_PORT),
         f"{VOLFILE_HOST}:{GLUSTERD_PORT} is already taken by another process")
    with gfrpc_brick(tmp_path, "pool", host=VOLFILE_HOST, port=GLUSTERD_PORT) as brick:
        try:
            yield brick
        except BaseException:
            print(f"--- gfrpc brick log ---\n{brick.log_tail()}")
            raise
    assert brick.proc.returncode == 0, brick.log_tail()


@contextmanager
def mount_t_glusterfs(source: str, mnt: Path, log: Path) -> Iterator[Path]:
    """``mount -t glusterfs SOURCE MNT``; at exit umount, and stop the client by its pid (found
    by our private mount point in its command line) if it has not gone by itself."""
    mnt.mkdir()
    r = run(["mount", "-t", "glusterfs", "-o", f"log-file={log}", source, str(mnt)], timeout=60)
    assert r.returncode == 0, f"mount failed: {r.stdout}{r.stderr}\n{_tail(log)}"
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()
            and str(mnt) in cmdline(int(p)) and "glusterfs" in " ".join(cmdline(int(p))[:1])]
    try:
        yield mnt
    finally:
        unmount(mnt)
        for pid in pids:
            stop_pid(pid)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path})"


def test_mount_t_glusterfs_from_a_gfrpc_brick(volfile_server_brick: GfrpcBrick,
                                              tmp_path: Path) -> None:
    """``mount -t glusterfs 127.0.0.2:/fusetest`` fetches its volfile from the gfrpc brick
    (GETSPEC on port 24007) and mounts it: files written through the mount are in the brick
    directory byte for byte, and the brick's files are listed and read through the mount."""
    brick = volfile_server_brick
    (brick.path / "seeded.txt").write_bytes(b"from the brick side\n")
    blob = os.urandom(5 << 20)
    with mount_t_glusterfs(f"{VOLFILE_HOST}:/fusetest", tmp_path / "mnt",
                           tmp_path / "mount.log") as mnt:
        assert "seeded.txt" in os.listdir(mnt)
        assert (mnt / "seeded.txt").read_bytes() == b"from the brick side\n"
        (mnt / "d").mkdir()
        (mnt / "d" / "blob").write_bytes(blob)
        assert (brick.path / "d" / "blob").read_bytes() == blob
        df = run(["df", "-k", str(mnt)])
        assert df.returncode == 0 and VOLFILE_HOST in df.stdout, df
    assert not any(str(tmp_path / "mnt") in line for line in open("/proc/mounts"))


def test_fio_gfapi_writes_to_a_gfrpc_brick(volfile_server_brick: GfrpcBrick,
                                          tmp_path: Path) -> None:
    """``fio --ioengine=gfapi --volume=fusetest --brick=127.0.0.2`` (libgfapi: GETSPEC, then
    DUMP, SETVOLUME and the FOPs straight to the gfrpc brick) writes 4 x 64 MiB with crc32c
    verify and no error, and the files are in the brick directory."""
    brick = volfile_server_brick
    out = run(["fio", "--name=g", "--ioengine=gfapi", "--volume=fusetest",
               f"--brick={VOLFILE_HOST}", "--rw=write", "--bs=1m", f"--size={FIO_SIZE}",
               f"--numjobs={FIO_JOBS}", "--verify=crc32c", "--verify_state_save=0",
               "--group_reporting", "--output-format=json"], timeout=120)
    assert out.returncode == 0, f"fio failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    report = json.loads(out.stdout[out.stdout.index("{"):])
    job = report["jobs"][0]
    assert job["error"] == 0, job
    print(f"fio gfapi: write {job['write']['bw'] * 1024 / 1e6:.0f} MB/s, "
          f"verify read {job['read']['bw'] * 1024 / 1e6:.0f} MB/s")
    for i in range(FIO_JOBS):
        assert (brick.path / f"g.{i}.0").stat().st_size == 64 << 20
