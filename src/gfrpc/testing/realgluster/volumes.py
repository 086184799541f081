"""The volumes of the harness's glusterd, and the ``gluster`` CLI that makes them.

:class:`VolumeOps` is the half of :class:`~gfrpc.testing.realgluster.glusterd.GlusterD` that
runs ``gluster --mode=script`` on the private CLI socket: create (plain distribute, ``force``,
options and TLS set one by one), start and wait until every brick serves its port (from
``volume status --xml``), restart the bricks, delete, and remove what a volume left outside
the private tree. Only volumes this harness created may be started, restarted or deleted.
:class:`GlusterVolume` and :class:`BrickInfo` describe them.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gfrpc.testing.certs import TLSMaterial
from gfrpc.testing.realgluster.base import (
    CLI_TIMEOUT,
    GLUSTERD_ADDRESS,
    LOG_DIR,
    START_TIMEOUT,
    VOLUME_LOG_SUBDIRS,
    GlusterError,
    brick_log_path,
    client_volfile,
    require,
)
from gfrpc.testing.realgluster.processes import cmdline, port_open, run, stop_pid

__all__ = ["BrickInfo", "GlusterVolume", "VolumeOps"]


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


class VolumeOps:
    """The CLI and volumes of ``GlusterD`` (its base class; see the module docstring)."""

    host: str  # the host name in brick specs
    sockfile: Path  # glusterd's CLI socket
    cli_logfile: Path
    bricks_dir: Path
    volumes: dict[str, GlusterVolume]
    _created: set[str]  # volumes that exist now and are ours to delete
    _history: dict[str, list[Path]]  # every volume ever created -> brick paths
    _brick_sockets: set[str]

    if TYPE_CHECKING:  # GlusterD's

        def logs(self, *extra: Path, lines: int = 40) -> str: ...

        def _is_ours(self, pid: int) -> bool: ...

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
