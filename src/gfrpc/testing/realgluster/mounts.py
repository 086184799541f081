"""FUSE mounts of a real GlusterFS client: list the mounts under a directory, unmount
(lazily if need be), and run ``glusterfs`` on a hand-written volfile until the mount serves I/O.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from gfrpc.testing.realgluster.base import GlusterError, require
from gfrpc.testing.realgluster.processes import collect_logs, run, stop_pid


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root`` (from /proc/mounts), deepest first."""
    found = []
    try:
        with open("/proc/mounts") as f:
            for line in f:
                fields = line.split()
                if len(fields) < 2:
                    continue
                mnt = fields[1].replace("\\040", " ")
                if mnt == str(root) or mnt.startswith(str(root) + "/"):
                    found.append(mnt)
    except OSError:
        pass
    return sorted(found, key=len, reverse=True)


def is_mounted(mountpoint: Path, fstype: str | None = None) -> bool:
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 3 and fields[1] == str(mountpoint):
                return fstype is None or fields[2] == fstype
    return False


def unmount(mountpoint: Path | str) -> None:
    """umount, falling back to a lazy umount."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        if run(["umount", str(mountpoint)], timeout=15).returncode == 0:
            return
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        run(["umount", "-l", str(mountpoint)], timeout=15)


@contextlib.contextmanager
def fuse_mount(
    volfile_text: str,
    *,
    workdir: Path,
    timeout: float = 20.0,
    extra_args: Sequence[str] = (),
    log_sink: list[Path] | None = None,
) -> Iterator[Path]:
    """Run ``glusterfs -N --volfile=F --pid-file=P MNT`` and yield MNT once it serves I/O.

    The mount is live when it is listed in /proc/mounts *and* a ``stat`` of its root succeeds
    (the first lookup only succeeds once the client has connected to its brick). At exit: umount
    (lazy umount as fallback), then the client process is stopped by pid.
    """
    require(shutil.which("glusterfs"), "the glusterfs FUSE client binary is not installed")
    require(os.path.exists("/dev/fuse"), "/dev/fuse is missing (no FUSE in this environment)")
    workdir.mkdir(parents=True, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix="fuse-", dir=workdir))
    volfile, pidfile, logfile, mnt = d / "client.vol", d / "client.pid", d / "client.log", d / "m"
    mnt.mkdir()
    volfile.write_text(volfile_text)
    if log_sink is not None:
        log_sink.append(logfile)
    argv = [
        "glusterfs",
        "-N",
        f"--volfile={volfile}",
        f"--pid-file={pidfile}",
        f"--log-file={logfile}",
        *extra_args,
        str(mnt),
    ]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        last_err = "not mounted yet"
        while True:
            if proc.poll() is not None:
                raise GlusterError(
                    f"glusterfs FUSE client exited ({proc.returncode}) before the "
                    f"mount was live\n" + collect_logs([logfile], 60)
                )
            if is_mounted(mnt, "fuse.glusterfs"):
                try:
                    r = run(["stat", "-c", "%i", str(mnt)], timeout=10)
                    if r.returncode == 0:
                        break
                    last_err = r.stderr.strip()
                except subprocess.TimeoutExpired:
                    last_err = "stat of the mount root timed out"
            if time.monotonic() > deadline:
                raise GlusterError(
                    f"FUSE mount {mnt} not live within {timeout:.0f}s "
                    f"({last_err})\n" + collect_logs([logfile], 60)
                )
            time.sleep(0.1)
        yield mnt
    finally:
        if is_mounted(mnt):
            unmount(mnt)
        stop_pid(proc.pid, popen=proc)
        if is_mounted(mnt):
            unmount(mnt)
        if not is_mounted(mnt):
            shutil.rmtree(d, ignore_errors=True)
