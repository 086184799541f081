"""The stage of ``gfrpc bench``: start every server the run needs, hand out a Target per
ServerSpec, and take it all down again.

Theory of operation. :class:`Stage` works in one of two layouts.

* **Isolated** (root, in the private namespace of :mod:`.isolation`; the stage brings ``lo``
  up itself): the scratch tree is a private tmpfs (``store_bytes`` for all servers together,
  plus headroom); a private glusterd on 127.0.0.1:24007 with one one-brick volume per
  (TLS, event-threads) of the glusterfsd specs; one gfrpc brick per gfrpc spec, its volume
  served by a gfrpc mgmtd on port 24007 of 127.0.0.2 (plain I/O) or 127.0.0.3 (``--io-tls``),
  so fio's gfapi engine (``--brick=HOST``, always port 24007) reaches every target. When any
  spec wants TLS, the whole run has management TLS on: the secure-access overlay is mounted
  before glusterd starts, with the client identity of the run's throwaway TLS material
  (:func:`gfrpc.testing.realgluster.make_tls_material`), and both mgmtds use ``--tls``.
  gfrpc bricks listen on their mgmtd's address: GlusterFS clients ask ``remote-host``:24007
  for a brick's port, and on 127.0.0.1 that is glusterd.
* **Not isolated** (``--no-isolate``, not root, or no ``unshare``): management is plain
  and the scratch tree is under /dev/shm (tmpfs) when it exists. As root (unless
  ``use_port_24007=False``) the same servers as above are tried in the machine's own
  network namespace: glusterd where 127.0.0.1:24007 is free, the mgmtds on 127.0.0.2/.3:24007
  where free (else on 127.0.0.1 at a free port, out of fio's reach); fio cannot run TLS rows
  (no overlay outside the namespace). Otherwise: gfrpc bricks with one mgmtd per I/O-TLS
  setting on 127.0.0.1 at a free port, no glusterd, no fio.

:meth:`Stage.start` never raises for a missing GlusterFS, fio or root: it records one line in
``glusterfsd_missing`` / ``fio_missing`` / ``gfrpc_missing``, and :meth:`Stage.target` raises
:class:`TargetUnavailable` with it. A gfrpc server that does not come up raises
:class:`~.stage_gfrpc.StageError` (after cleaning up). Everything started is stopped by pid
in :meth:`Stage.close` (also after Ctrl-C, or SIGTERM while the stage is open: it is turned
into SystemExit then), the mounts are undone and the scratch tree removed. ``start()`` also
raises this process's soft RLIMIT_NOFILE to the hard limit (inherited by the servers): the
connection sweep holds 1,000 connections on each side.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from gfrpc.bench.experiment.isolation import (
    IsolationError,
    Overlay,
    enter_private_network,
    in_private_namespace,
    secure_access_overlay,
)
from gfrpc.bench.experiment.model import ServerSpec, Target
from gfrpc.bench.experiment.stage_gfrpc import (
    GfrpcLayout,
    GfrpcServers,
    StageError,
    finish_gfrpc_servers,
    launch_gfrpc_servers,
)
from gfrpc.bench.experiment.stage_gluster import (
    fio_missing,
    gluster_missing,
    start_glusterd_volumes,
)
from gfrpc.client.url import DEFAULT_PORT, parse_url
from gfrpc.errors import ConfigError
from gfrpc.testing import realgluster as rg

__all__ = ["Stage", "StageError", "TargetUnavailable", "external_target"]

ISOLATED_MGMT_HOSTS = {False: "127.0.0.2", True: "127.0.0.3"}
GLUSTERD_HOST = "127.0.0.1"
HEADROOM = 256 << 20


class TargetUnavailable(ConfigError):
    """This server configuration is not running in this stage; the message says why."""


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["(no reason given)"])[0]


class Stage:
    """The servers for ``specs`` (see the module docstring). Use as a context manager, or
    ``start()`` ... ``close()``."""

    def __init__(
        self,
        specs: list[ServerSpec],
        *,
        scratch_parent: Path | None = None,
        store_bytes: int = 2 << 30,
        say: Callable[[str], None] = lambda m: None,
        want_fio: bool = True,
        isolated: bool | None = None,
        use_port_24007: bool | None = None,
    ) -> None:
        self.specs = list(dict.fromkeys(specs))
        self.scratch_parent = scratch_parent
        self.store_bytes = store_bytes
        self.say = say
        self.want_fio = want_fio
        self.isolated = in_private_namespace() if isolated is None else isolated
        self.port_24007 = (
            (self.isolated or os.geteuid() == 0) if use_port_24007 is None else use_port_24007
        )
        self.glusterfsd_missing: str | None = None
        self.fio_missing: str | None = None
        self.gfrpc_missing: str | None = None
        self.notes: list[str] = []  # one line each, for the user
        self.details: list[str] = []  # multi-line diagnostics (log tails), for --verbose
        self.scratch: Path | None = None
        self.material: rg.TLSMaterial | None = None
        self.secure_access = False
        self._tmpfs = False
        self._overlay: Overlay | None = None
        self._gfrpc = GfrpcServers()
        self._glusterds: list[rg.GlusterD] = []
        self._targets: dict[ServerSpec, Target] = {}
        self._old_sigterm: Any = None
        self._closed = False

    # -- life cycle ------------------------------------------------------------------------------
    def __enter__(self) -> Stage:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start everything for ``specs``; see the module docstring for what is recorded
        instead of raised."""
        self._catch_sigterm()
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        _raise_nofile_limit()
        if self.isolated:
            enter_private_network()
        gfrpc_specs = [s for s in self.specs if s.kind == "gfrpc"]
        gluster_specs = [s for s in self.specs if s.kind == "glusterfsd"]
        root = os.geteuid() == 0
        self.gfrpc_missing = (
            None if root else "needs root: the gfrpc brick keeps GlusterFS's trusted.* xattrs"
        )
        self.glusterfsd_missing = gluster_missing(self.port_24007) if gluster_specs else None
        self.fio_missing = fio_missing(self.port_24007) if self.want_fio else "not wanted"
        self.scratch = self._make_scratch()
        if any(s.tls for s in self.specs):
            self.say("making throwaway TLS material")
            self.material = rg.make_tls_material(self.scratch / "tls")
        if (
            self.isolated
            and self.material is not None
            and (self.fio_missing is None or (gluster_specs and self.glusterfsd_missing is None))
        ):
            try:
                self._overlay = secure_access_overlay(self.material.client.dir, self.scratch)
                self.secure_access = True
                self.notes.append(
                    "management TLS on (secure-access in a private mount "
                    "namespace) for the whole run"
                )
            except (IsolationError, OSError) as e:
                self.notes.append(f"no management TLS: {e}; fio cannot run the TLS rows")
        elif self.material is not None and self.fio_missing is None:
            self.notes.append(
                "fio cannot run the TLS rows outside the private namespace "
                "(GlusterFS takes its TLS identity from fixed paths)"
            )
        layout = self._gfrpc_layout()
        if gfrpc_specs and self.gfrpc_missing is None:
            self.say(f"starting {len(gfrpc_specs)} gfrpc brick(s) and their mgmtd")
            launch_gfrpc_servers(gfrpc_specs, self.scratch / "gfrpc", layout, self._gfrpc)
        if gluster_specs and self.glusterfsd_missing is None:
            self.say("starting a private glusterd and its volumes")
            try:
                volumes = start_glusterd_volumes(
                    gluster_specs,
                    self.scratch,
                    self.material,
                    secure_access=self.secure_access,
                    started=self._glusterds,
                )
            except (rg.GlusterUnavailable, rg.GlusterError) as e:
                self.glusterfsd_missing = f"glusterd did not come up: {_first_line(str(e))}"
                self.details.append(f"glusterd: {e}")
                self._stop_glusterds()
            else:
                for spec in gluster_specs:
                    self._targets[spec] = self._gluster_target(
                        spec, volumes[(spec.tls, spec.event_threads)]
                    )
        if self._gfrpc.bricks:
            finish_gfrpc_servers(layout, self._gfrpc)
            for spec in self._gfrpc.bricks:
                self._targets[spec] = self._gfrpc_target(spec, layout)

    def close(self) -> None:
        """Stop everything by pid, undo the mounts, remove the scratch tree. Idempotent.
        Every step runs even when an earlier one fails (the first error is raised at the
        end); a SIGINT/SIGTERM arriving meanwhile is held until the cleanup is done."""
        if self._closed:
            return
        self._closed = True
        held: list[int] = []
        restore = self._hold_signals(held)
        errors: list[BaseException] = []
        steps: list[Callable[[], None]] = [
            self._gfrpc.stop,
            self._stop_glusterds,
            self._remove_overlay,
            self._remove_scratch,
        ]
        try:
            for step in steps:
                try:
                    step()
                except Exception as e:  # noqa: BLE001 - the other steps must still run
                    errors.append(e)
        finally:
            restore()
            self._restore_sigterm()
        if held:
            raise KeyboardInterrupt if held[0] == signal.SIGINT else SystemExit(128 + held[0])
        if errors:
            raise errors[0]

    def _remove_overlay(self) -> None:
        if self._overlay is not None:
            self._overlay.remove()

    def _remove_scratch(self) -> None:
        if self.scratch is None:
            return
        if self._tmpfs:
            rg.unmount(self.scratch)
        if not rg.mounts_under(self.scratch):
            shutil.rmtree(self.scratch, ignore_errors=True)
        else:
            self.notes.append(f"left {self.scratch}: still mounted")

    @staticmethod
    def _hold_signals(held: list[int]) -> Callable[[], None]:
        """Until the returned function is called, SIGINT and SIGTERM are only noted in
        ``held`` (main thread only; elsewhere nothing changes)."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def note(signum: int, frame: FrameType | None) -> None:
            held.append(signum)

        old = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            for sig, handler in old.items():
                signal.signal(sig, handler)

        return restore

    def started_pids(self) -> list[int]:
        """Every process this stage started itself (gfrpc daemons, glusterd) and the brick
        processes of its targets (glusterfsd is started by glusterd)."""
        pids = [d.pid for d in self._gfrpc.daemons()]
        pids += [gd.pid for gd in self._glusterds if gd.pid]
        pids += [p for t in self._targets.values() for p in t.server_pids]
        return list(dict.fromkeys(pids))

    # -- targets ---------------------------------------------------------------------------------
    def target(self, spec: ServerSpec) -> Target:
        """The running target of ``spec``; TargetUnavailable (with the reason) if none."""
        found = self._targets.get(spec)
        if found is not None:
            return found
        why = {"gfrpc": self.gfrpc_missing, "glusterfsd": self.glusterfsd_missing}.get(spec.kind)
        raise TargetUnavailable(
            f"{spec.label}{' TLS' * spec.tls}: {why or 'not started by this stage'}"
        )

    def _client_dirs(self, tls: bool) -> tuple[Path | None, Path | None]:
        client = self.material.client.dir if self.material is not None else None
        return (client if tls else None), (client if self.secure_access else None)

    def _fio_host(self, host: str, tls: bool) -> str | None:
        if self.fio_missing is not None or (tls and not self.secure_access):
            return None  # fio's TLS identity is GlusterFS's default one: the overlay's
        return host

    def _gluster_target(self, spec: ServerSpec, vol: rg.GlusterVolume) -> Target:
        tls_dir, mgmt_dir = self._client_dirs(spec.tls)
        return Target(
            spec=spec,
            volname=vol.name,
            url=f"gluster://{GLUSTERD_HOST}/{vol.name}",
            fio_host=self._fio_host(GLUSTERD_HOST, spec.tls),
            tls_dir=tls_dir,
            mgmt_tls_dir=mgmt_dir,
            brick=("127.0.0.1", vol.port, str(vol.brick_path)),
            server_pids=[vol.pid],
        )

    def _gfrpc_target(self, spec: ServerSpec, layout: GfrpcLayout) -> Target:
        tls_dir, mgmt_dir = self._client_dirs(spec.tls)
        host, name = layout.mgmt_hosts[spec.tls], self._gfrpc.volumes[spec]
        port = self._gfrpc.mgmtds[spec.tls].port
        url = (
            f"gluster://{host}/{name}"
            if port == DEFAULT_PORT
            else f"gluster://{host}:{port}/{name}"
        )
        brick = self._gfrpc.bricks[spec]
        return Target(
            spec=spec,
            volname=name,
            url=url,
            fio_host=self._fio_host(host, spec.tls) if port == DEFAULT_PORT else None,
            tls_dir=tls_dir,
            mgmt_tls_dir=mgmt_dir,
            brick=(host, brick.port, str(self._gfrpc.dirs[spec])),
            server_pids=[brick.pid],
            fop_log=brick.log,
        )

    # -- pieces ----------------------------------------------------------------------------------
    def _gfrpc_layout(self) -> GfrpcLayout:
        server = self.material.server if self.material is not None else None
        hosts, ports = {False: "127.0.0.1", True: "127.0.0.1"}, {False: 0, True: 0}
        for io_tls, host in ISOLATED_MGMT_HOSTS.items():
            if self.isolated or self.port_24007 and _bindable(host, DEFAULT_PORT):
                hosts[io_tls], ports[io_tls] = host, DEFAULT_PORT
            elif self.port_24007 and any(s.kind == "gfrpc" and s.tls == io_tls for s in self.specs):
                self.notes.append(
                    f"{host}:{DEFAULT_PORT} is taken: gfrpc's "
                    f"{'TLS' if io_tls else 'plain'} volumes are served on a "
                    "free port, out of fio's reach"
                )
        return GfrpcLayout(hosts, ports, server, self.secure_access)

    def _make_scratch(self) -> Path:
        size = self.store_bytes + max(HEADROOM, self.store_bytes // 4)
        if self.isolated and os.geteuid() == 0:
            d = Path(tempfile.mkdtemp(prefix="gfrpc-bench-", dir=self.scratch_parent))
            r = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "gfrpc-bench", str(d)],
                capture_output=True,
                text=True,
                timeout=15,
            )
            if r.returncode == 0:
                self._tmpfs = True
                self.notes.append(f"scratch: a private tmpfs of {size >> 20} MiB at {d}")
                return d
            self.notes.append(f"scratch: {d} (could not mount a tmpfs: {r.stderr.strip()})")
            return d
        parent = self.scratch_parent
        if parent is None and Path("/dev/shm").is_dir():
            parent = Path("/dev/shm")
        d = Path(tempfile.mkdtemp(prefix="gfrpc-bench-", dir=parent))
        kind = (
            "tmpfs"
            if parent == Path("/dev/shm")
            else "the temp dir, may be a disk"
            if parent is None
            else "given by the caller"
        )
        self.notes.append(f"scratch: {d} ({kind})")
        return d

    def _stop_glusterds(self) -> None:
        while self._glusterds:
            gd = self._glusterds.pop()
            try:
                gd.stop()
            except rg.GlusterError as e:
                self.notes.append(f"glusterd teardown: {_first_line(str(e))}")

    def _catch_sigterm(self) -> None:
        """While the stage is open, SIGTERM raises SystemExit (so close() runs) instead of
        killing the process with the servers left running."""
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:

            def on_term(signum: int, frame: FrameType | None) -> None:
                raise SystemExit(128 + signum)

            self._old_sigterm = signal.signal(signal.SIGTERM, on_term)

    def _restore_sigterm(self) -> None:
        if self._old_sigterm is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _raise_nofile_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard one, for this process (the client side of the
    connection sweep) and the servers it starts (they inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def external_target(
    url: str, *, tls_dir: Path | None, mgmt_tls_dir: Path | None, spec: ServerSpec | None = None
) -> Target:
    """A volume we did not start (``gfrpc bench gluster://HOST[:PORT]/VOL``): fio can reach
    it only on port 24007 (gfapi has no port option), and its server pids are unknown.
    ``spec`` defaults to a glusterfsd spec with ``tls = tls_dir is not None``."""
    u = parse_url(url)
    spec = spec or ServerSpec(kind="glusterfsd", tls=tls_dir is not None)
    return Target(
        spec=spec,
        volname=u.volume,
        url=url,
        fio_host=u.host if u.port == DEFAULT_PORT else None,
        tls_dir=tls_dir,
        mgmt_tls_dir=mgmt_tls_dir,
        server_pids=[],
    )
