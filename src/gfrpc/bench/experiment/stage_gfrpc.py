"""gfrpc's servers for ``gfrpc bench``: brick processes and the mgmtd that hands out their volumes.

Theory of operation. Every server is ``python -m gfrpc.cli brick|mgmtd`` in a child process of
its own session (so a Ctrl-C on the terminal reaches only the bench, which then stops them by
pid), logging to a file in the scratch tree; ``gfrpc.bench.brickproc.Daemon`` waits for its
"ready on HOST:PORT" line. :func:`launch_gfrpc_servers` lays out one brick per server spec
and one mgmtd per I/O-TLS setting (``--io-tls`` is a daemon-wide switch) and starts all
processes at once;
:func:`finish_gfrpc_servers` waits for them together (each Python start costs about a
second, which the stage spends starting glusterd meanwhile).

Bricks are signed in at their mgmtd by the bench itself, one portmap SIGNIN per brick over
the mgmtd's own transport (TLS when management TLS is on, with the server identity): the
mgmtd keeps a port until SIGNOUT, and a brick without I/O TLS cannot sign in over TLS
itself (``--mgmt-tls`` needs the brick's ``--tls``). The reply to SIGNIN is the proof the
volume is reachable, so nothing waits on log lines for it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from gfrpc.bench.brickproc import Daemon, DaemonError, brick_args
from gfrpc.bench.experiment.model import BRICK_POLLER, THREADED_POLLERS, ServerSpec
from gfrpc.client.url import address_text
from gfrpc.errors import GfrpcError
from gfrpc.programs import pmap
from gfrpc.rpc.client import RpcClient
from gfrpc.testing.realgluster import GlusterError, TLSFiles
from gfrpc.transport import Poller, make_poller

__all__ = [
    "BRICK_MAX_CONNECTIONS",
    "Daemon",
    "GfrpcLayout",
    "GfrpcServers",
    "StageError",
    "finish_gfrpc_servers",
    "gfrpc_volname",
    "io_flags",
    "launch_gfrpc_servers",
    "sign_in",
]

BRICK_MAX_CONNECTIONS = 4096  # the connection sweep goes to 1,000 (plus fio's, mgmt's)
READY_TIMEOUT = 60.0  # two cores shared with glusterd and other bricks starting


# One error for "a server the bench started did not come up": the daemon launcher's.
StageError = DaemonError


def sign_in(
    mgmt: tuple[str, int],
    brick_path: str,
    port: int,
    pid: int,
    *,
    tls: TLSFiles | None = None,
    poller: Poller,
) -> RpcClient:
    """Portmap SIGNIN of ``brick_path`` on ``port`` at the mgmtd ``mgmt``; returns the
    connection it was made on, which must stay open: the mgmtd hands the port out only while
    the connection a brick signed in over is open (as glusterd does for glusterfsd's)."""
    req = pmap.PmapSigninReq(brick=brick_path, port=port, pid=pid).pack()
    client = RpcClient(
        mgmt, poller=poller, tls=tls.client_context() if tls else None, ping_timeout=0
    )
    try:
        client.connect(timeout=20)
        body = client.call(pmap.PMAP_PROGRAM, pmap.PMAP_VERSION, pmap.SIGNIN, req, timeout=20).body
    except (OSError, EOFError, GfrpcError, GlusterError) as e:
        client.close()
        raise StageError(
            f"portmap sign-in of {brick_path} at {address_text(*mgmt)} failed: {e}"
        ) from None
    rsp = pmap.PmapSigninRsp.unpack(body)
    if rsp.op_ret < 0:
        client.close()
        raise StageError(
            f"mgmtd {address_text(*mgmt)} refused the sign-in of {brick_path} "
            f"({os.strerror(rsp.op_errno or 1)})"
        )
    return client


def gfrpc_volname(spec: ServerSpec) -> str:
    """``gb-gfrpc-pool-x2-tls``, ``gb-gfrpc-single``, ``gb-gfrpc-pool-x2-io16-all``,
    ``gb-gfrpc-single-io0``: what the volume is (the io part only when the spec sets it)."""
    poller = spec.poller or BRICK_POLLER
    threads = f"-x{spec.event_threads}" if poller in THREADED_POLLERS else ""
    name = f"gb-gfrpc-{poller}{threads}"
    if spec.io_threads is not None or spec.io_policy is not None:
        name += "-io" + ("" if spec.io_threads is None else str(spec.io_threads))
        name += "" if spec.io_policy is None else f"-{spec.io_policy}"
    if spec.baton is not None:
        name += f"-baton-{spec.baton}"
    return name + ("-tls" if spec.tls else "")


def io_flags(spec: ServerSpec) -> list[str]:
    """The brick flags of the spec's io setting; none where it is the brick's default."""
    flags = [] if spec.io_threads is None else ["--io-threads", str(spec.io_threads)]
    flags += [] if spec.io_policy is None else ["--io-policy", spec.io_policy]
    return flags + ([] if spec.baton is None else ["--baton", spec.baton])


@dataclass
class GfrpcLayout:
    """Where gfrpc's servers go: the mgmtd's address and port per I/O-TLS setting (port 0:
    any free one; the bricks bind the same address), the server TLS identity (None: no TLS
    material) and whether management is TLS."""

    mgmt_hosts: dict[bool, str]
    mgmt_ports: dict[bool, int]
    server_tls: TLSFiles | None
    mgmt_tls: bool


@dataclass
class GfrpcServers:
    """What :func:`start_gfrpc_servers` started: per spec its volume, brick daemon and dir;
    per I/O-TLS setting its mgmtd."""

    volumes: dict[ServerSpec, str] = field(default_factory=dict)
    bricks: dict[ServerSpec, Daemon] = field(default_factory=dict)
    dirs: dict[ServerSpec, Path] = field(default_factory=dict)
    mgmtds: dict[bool, Daemon] = field(default_factory=dict)
    #: the bricks' portmap sign-in connections (open while the bricks serve) and their poller
    signins: list[RpcClient] = field(default_factory=list)
    poller: Poller | None = None

    def daemons(self) -> list[Daemon]:
        return [*self.bricks.values(), *self.mgmtds.values()]

    def stop(self) -> None:
        """Bricks first (they sign out), then the mgmtds; every one by its pid."""
        for d in self.daemons():
            if d.proc.poll() is None:
                d.proc.terminate()
        for client in self.signins:
            client.close()
        self.signins.clear()
        if self.poller is not None:
            self.poller.stop()
            self.poller = None
        for d in self.daemons():
            d.stop()


def _brick_args(
    spec: ServerSpec, directory: Path, volname: str, host: str, server_tls: TLSFiles | None
) -> list[str]:
    assert server_tls is not None or not spec.tls
    return brick_args(
        directory,
        host,
        volname,
        spec.poller or BRICK_POLLER,
        spec.event_threads,
        server_tls.dir if spec.tls and server_tls is not None else None,
        "--max-connections",
        str(BRICK_MAX_CONNECTIONS),
        *io_flags(spec),
    )


def launch_gfrpc_servers(
    specs: list[ServerSpec], root: Path, layout: GfrpcLayout, servers: GfrpcServers
) -> None:
    """Start (without waiting) the bricks of ``specs`` (kind gfrpc) under ``root`` and their
    mgmtds, filling in ``servers`` as they start (so the caller can stop a half-started set).
    :func:`finish_gfrpc_servers` waits for them."""
    root.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    for spec in specs:
        name = gfrpc_volname(spec)
        if name in taken:
            name = f"{name.removesuffix('-tls')}-x{spec.event_threads}" + "-tls" * spec.tls
        taken.add(name)
        servers.volumes[spec] = name
        servers.dirs[spec] = (root / name).resolve()
        servers.dirs[spec].mkdir()
    for io_tls in sorted({s.tls for s in servers.volumes}):
        host = layout.mgmt_hosts[io_tls]
        args = [
            "mgmtd",
            "--host",
            host,
            "--port",
            str(layout.mgmt_ports[io_tls]),
            "--poller",
            "single",
        ]
        for spec, name in servers.volumes.items():
            if spec.tls == io_tls:
                args += ["--volume", f"{name}={host}:{servers.dirs[spec]}"]
        if io_tls:
            args.append("--io-tls")
        if layout.mgmt_tls:
            assert layout.server_tls is not None
            args += ["--tls", "--tls-dir", str(layout.server_tls.dir)]
        servers.mgmtds[io_tls] = Daemon(args, root / f"mgmtd{'-tls' * io_tls}.log")
    for spec, name in servers.volumes.items():
        host = layout.mgmt_hosts[spec.tls]
        servers.bricks[spec] = Daemon(
            _brick_args(spec, servers.dirs[spec], name, host, layout.server_tls),
            root / f"{name}.log",
        )


def finish_gfrpc_servers(layout: GfrpcLayout, servers: GfrpcServers) -> None:
    """Wait until every daemon of ``servers`` is ready, then sign every brick in at its
    mgmtd. Raises :class:`StageError` when one does not come up."""
    deadline = time.monotonic() + READY_TIMEOUT
    for d in servers.daemons():
        d.wait_ready(deadline)
    if servers.poller is None:
        servers.poller = make_poller("single", 1)
        servers.poller.start()
    for spec, brick in servers.bricks.items():
        mgmtd = servers.mgmtds[spec.tls]
        servers.signins.append(
            sign_in(
                (layout.mgmt_hosts[spec.tls], mgmtd.port),
                str(servers.dirs[spec]),
                brick.port,
                brick.pid,
                tls=layout.server_tls if layout.mgmt_tls else None,
                poller=servers.poller,
            )
        )
