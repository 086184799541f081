"""Start a real GlusterFS 10 (a private glusterd + glusterfsd bricks) from Python.

Used by the interop tests and by ``gfrpc bench`` to compare gfrpc with the real brick;
import it as :mod:`gfrpc.testing.realgluster`. Nothing here imports pytest: a
missing prerequisite (not root, binaries missing, port 24007 taken, glusterd or a brick not
coming up) raises :class:`GlusterUnavailable`, whose message says what is missing.

Everything the launcher creates lives under one private temporary directory (``root``):
glusterd's working directory (instead of /var/lib/glusterd), its run directory (pid files),
its CLI unix socket, its log, the brick directories, the TLS files and FUSE mount points.
See docs/INTEROP.md for what cannot be isolated (a few hard-coded paths under /var).

This module runs the daemon (start, stop and its sweep of our processes, logs, FUSE mounts);
its base class :class:`~gfrpc.testing.realgluster.volumes.VolumeOps` (volumes.py) runs the
``gluster`` CLI and the volumes it makes, described by :class:`GlusterVolume` and
:class:`BrickInfo` (re-exported here).
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

from gfrpc.testing.realgluster.base import (
    BRICK_PORT_RANGE,
    GLUSTERD_ADDRESS,
    GLUSTERD_PORT,
    START_TIMEOUT,
    SYSTEM_WORKDIR,
    TMP_PREFIX,
    GlusterError,
    brick_host,
    check_prerequisites,
    require,
)
from gfrpc.testing.realgluster.mounts import fuse_mount, mounts_under, unmount
from gfrpc.testing.realgluster.processes import (
    cmdline,
    collect_logs,
    listener_pids,
    pid_alive,
    port_open,
    read_pidfile,
    stop_pid,
)
from gfrpc.testing.realgluster.volumes import BrickInfo, GlusterVolume, VolumeOps

__all__ = ["BrickInfo", "GlusterD", "GlusterVolume"]


class GlusterD(VolumeOps):
    """A private glusterd (``glusterd -N``) on 127.0.0.1:24007 with its own state directories.

    Use ``GlusterD.start()``; ``stop()`` deletes the volumes it created, stops their bricks,
    stops glusterd by pid and removes the temporary tree. All waits have timeouts.
    """

    def __init__(self, root: Path, host: str) -> None:
        self.root = root
        self.host = host
        self.address = GLUSTERD_ADDRESS
        self.workdir = root / "glusterd"  # replaces /var/lib/glusterd
        self.rundir = root / "run"  # pid files (replaces /var/run/gluster for most files)
        self.sockfile = self.rundir / "glusterd.socket"  # CLI socket
        self.logdir = root / "log"
        self.logfile = self.logdir / "glusterd.log"
        self.cli_logfile = self.logdir / "cli.log"
        self.volfile = root / "glusterd.vol"
        self.pidfile = self.rundir / "glusterd.pid"
        self.bricks_dir = root / "bricks"
        self.mounts_dir = root / "mnt"
        self.proc: subprocess.Popen[bytes] | None = None
        self.volumes: dict[str, GlusterVolume] = {}
        self._created: set[str] = set()  # volumes that exist now and are ours to delete
        self._history: dict[str, list[Path]] = {}  # every volume ever created -> brick paths
        self._brick_sockets: set[str] = set()
        self._fuse_logs: list[Path] = []

    # ---- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        host: str | None = None,
        *,
        parent: str | Path | None = None,
        prefix: str = TMP_PREFIX,
        allow_secure_access: bool = False,
    ) -> GlusterD:
        """Check the prerequisites and start glusterd; its private tree (volume state and
        brick directories) is a new temp dir under ``parent`` (default: the system temp dir).
        ``allow_secure_access``: start even when management TLS is on (``secure-access``).
        Raises GlusterUnavailable when GlusterFS cannot run here."""
        check_prerequisites(allow_secure_access=allow_secure_access)
        host = host or brick_host()
        root = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        gd = cls(root, host)
        try:
            gd._start()
        except BaseException:
            gd.stop()
            raise
        return gd

    def _start(self) -> None:
        for d in (self.workdir, self.rundir, self.logdir, self.bricks_dir, self.mounts_dir):
            d.mkdir(parents=True)
        # group option files (`volume set V group X`) come from the working directory
        if (SYSTEM_WORKDIR / "groups").is_dir():
            shutil.copytree(SYSTEM_WORKDIR / "groups", self.workdir / "groups")
        self.volfile.write_text(
            "volume management\n"
            "    type mgmt/glusterd\n"
            f"    option working-directory {self.workdir}\n"
            f"    option run-directory {self.rundir}\n"
            f"    option glusterd-sockfile {self.sockfile}\n"
            "    option transport-type socket\n"
            f"    option transport.socket.listen-port {GLUSTERD_PORT}\n"
            "    option transport.socket.bind-address 127.0.0.1\n"
            "    option transport.socket.keepalive-time 10\n"
            "    option transport.socket.keepalive-interval 2\n"
            "    option transport.socket.read-fail-log off\n"
            "    option ping-timeout 0\n"
            "    option event-threads 1\n"
            f"    option base-port {BRICK_PORT_RANGE[0]}\n"
            f"    option max-port {BRICK_PORT_RANGE[1]}\n"
            "end-volume\n"
        )
        holders = listener_pids(GLUSTERD_PORT)
        if holders or port_open("127.0.0.1", GLUSTERD_PORT, 0.5):
            who = "; ".join(f"pid {p}: {' '.join(c.split())[:160]}" for p, c in holders)
            hint = (
                " It looks like a leftover of an earlier interop or benchmark run: stop it "
                "by its pid."
                if "gfrpc-" in who
                else ""
            )
            require(
                False,
                f"port {GLUSTERD_PORT} is already in use by another process "
                f"({who or 'owner unknown'}); a private glusterd must run there. "
                f"Stop that glusterd/gfrpc daemon or wait until the port is free.{hint}",
            )
        argv = [
            "glusterd",
            "-N",
            "-f",
            str(self.volfile),
            "-l",
            str(self.logfile),
            "-p",
            str(self.pidfile),
            "-L",
            "INFO",
        ]
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.root,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                require(
                    False,
                    f"glusterd exited with status {self.proc.returncode} at start-up "
                    f"(port {GLUSTERD_PORT} taken?)\n" + self.logs(),
                )
            if self.sockfile.exists() and port_open("127.0.0.1", GLUSTERD_PORT, 0.5):
                pids = [p for p, _ in listener_pids(GLUSTERD_PORT)]
                if pids and self.proc.pid not in pids:
                    require(
                        False,
                        f"port {GLUSTERD_PORT} is served by pid(s) {pids}, not by our "
                        f"glusterd {self.proc.pid}",
                    )
                r = self.cli("volume", "list", check=False)
                if r.returncode == 0:
                    return
            if time.monotonic() > deadline:
                require(
                    False, f"glusterd did not come up within {START_TIMEOUT:.0f}s\n" + self.logs()
                )
            time.sleep(0.1)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self) -> None:
        """Tear everything down; safe to call twice and after a partial start."""
        errors: list[str] = []
        # FUSE mounts first: nothing below may be removed through a live mount
        for mnt in mounts_under(self.root):
            unmount(mnt)
        if self.proc is not None and self.proc.poll() is None:
            for name in list(self._created):
                try:
                    self.delete_volume(name)
                except Exception as e:  # keep going: the rest must still be cleaned
                    errors.append(f"delete volume {name}: {e}")
        # bricks (and any other daemon glusterd started for us) write pid files in our rundir
        for pidfile in sorted(self.rundir.rglob("*.pid")) if self.rundir.exists() else []:
            pid = read_pidfile(pidfile)
            if pid and pidfile != self.pidfile and self._is_ours(pid):
                stop_pid(pid)
        if self.proc is not None:
            stop_pid(self.proc.pid, popen=self.proc)
        # a last sweep for processes whose command line names our private tree
        for pid in self._our_stray_pids():
            stop_pid(pid)
        for mnt in mounts_under(self.root):
            unmount(mnt)
        for sock in self._brick_sockets:
            with contextlib.suppress(OSError):
                os.unlink(sock)
        for name in self._history:
            self._remove_volume_files(name)
        self.volumes.clear()
        if not mounts_under(self.root):
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            errors.append(f"left {self.root} in place: still mounted {mounts_under(self.root)}")
        if errors:
            raise GlusterError("interop teardown problems: " + "; ".join(errors))

    def _is_ours(self, pid: int) -> bool:
        if pid <= 0:
            return False
        args = cmdline(pid)
        return bool(args) and any(str(self.root) in a for a in args)

    def _our_stray_pids(self) -> list[int]:
        me = os.getpid()
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != me and pid_alive(int(entry)):
                args = cmdline(int(entry))
                if args and Path(args[0]).name.startswith("gluster") and self._is_ours(int(entry)):
                    found.append(int(entry))
        return found

    # ---- diagnostics -------------------------------------------------------------------------

    def logs(self, *extra: Path, lines: int = 40) -> str:
        """Tails of glusterd's, the CLI's, our bricks' and FUSE clients' logs (+ ``extra``)."""
        paths = [self.logfile, self.cli_logfile]
        paths += [b.log for v in self.volumes.values() for b in v.bricks]
        paths += self._fuse_logs[-2:]
        paths += [p for p in extra if p not in paths]
        return collect_logs([p for p in paths if p.exists()] or paths[:1], lines)

    # ---- FUSE --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def fuse_mount(
        self, volfile_text: str, *, timeout: float = 20.0, extra_args: Sequence[str] = ()
    ) -> Iterator[Path]:
        """Mount a hand-written volfile with the real FUSE client; yields the mount point."""
        with fuse_mount(
            volfile_text,
            workdir=self.mounts_dir,
            timeout=timeout,
            extra_args=extra_args,
            log_sink=self._fuse_logs,
        ) as mnt:
            yield mnt
