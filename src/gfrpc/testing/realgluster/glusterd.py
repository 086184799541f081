"""Start a real GlusterFS 10 (a private glusterd + glusterfsd bricks) from Python.

Used by the interop tests and by ``gfrpc bench`` to compare gfrpc with the real brick;
import it as :mod:`gfrpc.testing.realgluster`. Nothing here imports pytest: a
missing prerequisite (not root, binaries missing, port 24007 taken, glusterd or a brick not
coming up) raises :class:`GlusterUnavailable`, whose message says what is missing.

Everything the launcher creates lives under one private temporary directory (``root``):
glusterd's working directory (instead of /var/lib/glusterd), its run directory (pid files),
its CLI unix socket, its log, the brick directories, the TLS files and FUSE mount points.
See docs/INTEROP.md for what cannot be isolated (a few hard-coded paths under /var).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gfrpc.testing.certs import TLSMaterial
from gfrpc.testing.realgluster.base import (
    BRICK_PORT_RANGE,
    CLI_TIMEOUT,
    GLUSTERD_ADDRESS,
    GLUSTERD_PORT,
    LOG_DIR,
    START_TIMEOUT,
    SYSTEM_WORKDIR,
    TMP_PREFIX,
    VOLUME_LOG_SUBDIRS,
    GlusterError,
    brick_host,
    brick_log_path,
    check_prerequisites,
    client_volfile,
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
    run,
    stop_pid,
)

# --------------------------------------------------------------------------------------------
# glusterd and volumes


@dataclass
class BrickInfo:
    """One brick of a harness volume; ``port``/``pid`` are 0 and ``socket`` None until started."""

    path: Path
    port: int = 0  # TCP port of the brick (glusterfsd)
    pid: int = 0  # pid of the brick process
    socket: str | None = None  # the brick's unix socket (-S), removed at teardown

    @property
    def log(self) -> Path:
        return brick_log_path(self.path)


@dataclass
class GlusterVolume:
    """A volume of the harness's glusterd: plain distribute over ``bricks`` (one by default).

    ``brick_path``/``port``/``pid``/``brick_socket`` describe brick 0; ``bricks`` lists all of
    them in glusterd's order.
    """

    name: str
    host: str  # the host name in the brick spec (resolves to loopback)
    brick_path: Path
    port: int  # TCP port of brick 0 (glusterfsd); 0 while the volume is not started
    pid: int  # pid of brick 0's process; 0 while the volume is not started
    glusterd_address: tuple[str, int] = GLUSTERD_ADDRESS
    tls: bool = False
    tls_dir: Path | None = None  # client-side glusterfs.pem/.key/.ca (gfrpc --tls-dir)
    server_tls_dir: Path | None = None  # the files the brick uses (ssl.own-cert etc.)
    options: dict[str, str] = field(default_factory=dict)
    brick_socket: str | None = None  # brick 0's unix socket (-S), removed at teardown
    bricks: list[BrickInfo] = field(default_factory=list)

    @property
    def brick(self) -> str:
        """The brick spec as glusterd knows it: ``host:/path``."""
        return f"{self.host}:{self.brick_path}"

    @property
    def address(self) -> tuple[str, int]:
        """Where a client connects for I/O."""
        return ("127.0.0.1", self.port)

    @property
    def brick_log(self) -> Path:
        return brick_log_path(self.brick_path)

    def client_volfile(
        self,
        *,
        tls_dir: Path | str | None = None,
        port: int | None = None,
        host: str = "127.0.0.1",
        name: str | None = None,
        extra_options: dict[str, str] | None = None,
    ) -> str:
        """A hand-written protocol/client volfile (reference §6.5) aimed at this brick.

        With TLS the client identity defaults to ``self.tls_dir``; pass ``port`` to point the
        same graph at another server (e.g. a gfrpc brick).
        """
        if tls_dir is None and self.tls:
            tls_dir = self.tls_dir
        return client_volfile(
            remote_port=port or self.port,
            remote_subvolume=str(self.brick_path),
            remote_host=host,
            tls_dir=tls_dir,
            name=name or f"{self.name}-client-0",
            extra_options=extra_options,
        )


class GlusterD:
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

    def _remove_volume_files(self, name: str) -> None:
        """Remove what a (stopped) volume left outside our tree: brick logs, brick sockets and
        the empty per-volume log dirs glusterd makes at hard-coded places (rmdir: only if empty).
        """
        for brick in self._history.get(name, []):
            with contextlib.suppress(OSError):
                brick_log_path(brick).unlink()
        vol = self.volumes.get(name)
        for sock in [b.socket for b in vol.bricks if b.socket] if vol else []:
            with contextlib.suppress(OSError):
                os.unlink(sock)
            self._brick_sockets.discard(sock)
        for sub in VOLUME_LOG_SUBDIRS:
            with contextlib.suppress(OSError):
                (LOG_DIR / sub / name).rmdir()

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

    # ---- CLI ---------------------------------------------------------------------------------

    def cli(
        self, *args: str, xml: bool = False, check: bool = True, timeout: float = CLI_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run ``gluster --mode=script ...`` against our glusterd's private socket."""
        argv = [
            "gluster",
            f"--glusterd-sock={self.sockfile}",
            f"--log-file={self.cli_logfile}",
            "--mode=script",
            *args,
        ]
        if xml:
            argv.append("--xml")
        try:
            r = run(argv, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise GlusterError(
                f"`{' '.join(argv)}` timed out after {timeout:.0f}s\n" + self.logs()
            ) from e
        if check and r.returncode != 0:
            raise GlusterError(
                f"`{' '.join(argv)}` failed ({r.returncode}): "
                f"{(r.stdout + r.stderr).strip()}\n" + self.logs()
            )
        return r

    def volume_status(self, name: str) -> list[dict[str, str]]:
        """Bricks of ``name`` from ``volume status --xml``: hostname, path, status, port, pid."""
        r = self.cli("volume", "status", name, xml=True, check=False)
        try:
            tree = ET.fromstring(r.stdout)
        except ET.ParseError as e:
            raise GlusterError(f"unparsable volume status output: {r.stdout!r} {r.stderr!r}") from e
        if (tree.findtext("opRet") or "-1") != "0":
            raise GlusterError(f"volume status {name}: {tree.findtext('opErrstr')}")
        nodes = []
        for node in tree.iter("node"):
            nodes.append(
                {child.tag: (child.text or "").strip() for child in node if child.tag != "ports"}
                | {"tcp": (node.findtext("ports/tcp") or "").strip()}
            )
        return nodes

    # ---- volumes -----------------------------------------------------------------------------

    def create_volume(
        self,
        name: str | None = None,
        *,
        bricks: int = 1,
        tls: TLSMaterial | None = None,
        options: dict[str, str] | None = None,
        start: bool = True,
    ) -> GlusterVolume:
        """Create a plain distribute volume of ``bricks`` bricks (``force``), set ``options``
        (and the TLS ones), and unless ``start=False`` start it and return once every brick
        serves its port.

        Brick directories: ``bricks_dir/<name>`` for one brick, ``bricks_dir/<name>/b0..bN-1``
        otherwise; they may already exist (e.g. with a file system mounted there).
        """
        if bricks < 1:
            raise ValueError(f"a volume needs at least one brick, not {bricks}")
        name = name or f"gfrpc-{uuid.uuid4().hex[:8]}"
        top = self.bricks_dir / name
        paths = [top] if bricks == 1 else [top / f"b{i}" for i in range(bricks)]
        for path in paths:
            path.mkdir(parents=True, exist_ok=True)
        opts: dict[str, str] = {}
        if tls is not None:
            opts |= {
                "ssl.own-cert": str(tls.server.cert),
                "ssl.private-key": str(tls.server.key),
                "ssl.ca-list": str(tls.server.ca),
                "client.ssl": "on",
                "server.ssl": "on",
            }
        opts |= options or {}
        self._history[name] = paths
        self.cli("volume", "create", name, *(f"{self.host}:{p}" for p in paths), "force")
        self._created.add(name)
        for k, v in opts.items():
            self.cli("volume", "set", name, k, v)
        vol = GlusterVolume(
            name=name,
            host=self.host,
            brick_path=paths[0],
            port=0,
            pid=0,
            tls=tls is not None,
            tls_dir=tls.client.dir if tls else None,
            server_tls_dir=tls.server.dir if tls else None,
            options=opts,
            bricks=[BrickInfo(p) for p in paths],
        )
        self.volumes[name] = vol
        return self.start_volume(name) if start else vol

    def start_volume(self, name: str) -> GlusterVolume:
        """Start a volume made by ``create_volume(..., start=False)``; returns once every brick
        serves its port, with the bricks' ports, pids and sockets filled in."""
        vol = self.volumes.get(name)
        if vol is None or name not in self._created:
            raise GlusterError(f"refusing to start volume {name!r}: not created by this harness")
        r = self.cli("volume", "start", name, check=False)
        require(
            r.returncode == 0,
            f"`gluster volume start {name}` failed: "
            f"{(r.stdout + r.stderr).strip()}\n" + self.logs(*(b.log for b in vol.bricks)),
        )
        vol.bricks = self._wait_bricks_online(name, [b.path for b in vol.bricks])
        return self._adopt(vol)

    def restart_bricks(self, name: str) -> GlusterVolume:
        """Stop every brick process of a started volume of ours (by pid), then bring them back
        with ``gluster volume start NAME force``, as an operator would after a brick crash.
        Returns once they serve again, with the new ports and pids filled in."""
        vol = self.volumes.get(name)
        if vol is None or name not in self._created:
            raise GlusterError(f"refusing to restart volume {name!r}: not created by this harness")
        for b in vol.bricks:
            if self._is_ours(b.pid):
                stop_pid(b.pid)
        r = self.cli("volume", "start", name, "force", check=False)
        require(
            r.returncode == 0,
            f"`gluster volume start {name} force` failed: "
            f"{(r.stdout + r.stderr).strip()}\n" + self.logs(*(b.log for b in vol.bricks)),
        )
        old_pids = {b.pid for b in vol.bricks}
        vol.bricks = self._wait_bricks_online(name, [b.path for b in vol.bricks], not_pids=old_pids)
        return self._adopt(vol)

    def _adopt(self, vol: GlusterVolume) -> GlusterVolume:
        """Note the running bricks' unix sockets (for cleanup) and brick 0's address."""
        for b in vol.bricks:
            args = cmdline(b.pid)
            if "-S" in args and args.index("-S") + 1 < len(args):
                b.socket = args[args.index("-S") + 1]
                self._brick_sockets.add(b.socket)
        b0 = vol.bricks[0]
        vol.brick_path, vol.port, vol.pid, vol.brick_socket = b0.path, b0.port, b0.pid, b0.socket
        return vol

    def _wait_bricks_online(
        self, name: str, paths: list[Path], *, not_pids: set[int] | frozenset[int] = frozenset()
    ) -> list[BrickInfo]:
        """Wait until every brick in ``paths`` is online and its port accepts connections;
        returns them in glusterd's order (that of ``volume status``)."""
        wanted = {str(p): p for p in paths}
        deadline = time.monotonic() + START_TIMEOUT
        last: list[dict[str, str]] = []
        while time.monotonic() < deadline:
            last = self.volume_status(name)
            up: list[BrickInfo] = []
            for node in last:
                port = node.get("port") or node.get("tcp") or ""
                path = node.get("path", "")
                if (
                    path in wanted
                    and node.get("status") == "1"
                    and port.isdigit()
                    and int(port) > 0
                    and node.get("pid", "").isdigit()
                    and int(node["pid"]) not in not_pids
                    and port_open("127.0.0.1", int(port))
                ):
                    up.append(BrickInfo(wanted[path], int(port), int(node["pid"])))
            if {str(b.path) for b in up} == set(wanted):
                return up
            time.sleep(0.2)
        require(
            False,
            f"bricks {sorted(wanted)} of volume {name} did not all come online "
            f"within {START_TIMEOUT:.0f}s (status: {last})\n"
            + self.logs(*(brick_log_path(p) for p in paths)),
        )
        raise AssertionError("unreachable")

    def delete_volume(self, name: str) -> None:
        """Stop and delete a volume this harness created, make sure its bricks are gone, and
        remove their logs and sockets."""
        if name not in self._created:
            raise GlusterError(f"refusing to delete volume {name!r}: not created by this harness")
        vol = self.volumes.get(name)
        self.cli("volume", "stop", name, "force", check=False)
        self.cli("volume", "delete", name)
        self._created.discard(name)
        for b in vol.bricks if vol is not None else []:
            if self._is_ours(b.pid):
                stop_pid(b.pid)
        self._remove_volume_files(name)
        self.volumes.pop(name, None)

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
