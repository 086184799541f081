"""The management daemon: volfiles, the port mapper, and the gluster CLI's volume commands.

Theory of operation. A stock GlusterFS client (``mount -t glusterfs HOST:/VOL``, gfapi) asks
port 24007 of HOST for the volume's client volfile (Gluster Handshake GETSPEC, key ``VOL``),
builds its graph from it and connects each ``protocol/client`` to ``remote-host``:24007 again,
where a DUMP that lists "Gluster Portmap" tells it to ask PORTBYBRICK(``remote-subvolume``)
for the brick's port. This daemon answers exactly those calls, like glusterd does for them:

* DUMP lists GF-DUMP, "Gluster Portmap" (34123456 v1) and "Gluster Handshake" (14398633 v2);
* GETSPEC answers the volume's client volfile (``volfile.py``), generated on each call from
  what the daemon knows now; an unknown key is ``op_ret -1, ENOENT``;
* the port mapper is ``portmap.PortMapper`` over the daemon's registry (a brick's port lives
  as long as its sign-in connection); PING answers at once.

Two modes. With ``--volume`` only, volumes are fixed on the command line. With ``--workdir
DIR`` the volumes live in ``DIR/volumes.sqlite`` (``state.py``) and the gluster CLI program
(``cli_service.py``) is served on the UNIX socket ``DIR/glusterd.socket`` (``--cli-socket``)
by a second RPC server on the same poller; the TCP port answers only its read-only procedures,
as glusterd does since 2018 (anything else there is PROC_UNAVAIL).

Life cycle: everything a handler may touch (store, registry, supervisor, programs) is built in
the constructor, before any listener exists, so no callback can run against state that is not
there yet; ``stop()`` closes the listeners and connections first and tears the state down
after, so none runs against state that is gone.
"""

from __future__ import annotations

import errno
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gfrpc.programs import handshake as hs
from gfrpc.rpc.server import Procedure, Program, Request, RpcServer
from gfrpc.services.mgmt.cli_service import CliService, Supervisor
from gfrpc.services.mgmt.portmap import LOOPBACK, PortMapper
from gfrpc.services.mgmt.registry import BrickRef, Registry, VolumeSpec
from gfrpc.services.mgmt.state import Fault, NoSuchVolumeError, VolumeStore, node_uuid
from gfrpc.services.mgmt.volfile import client_volfile
from gfrpc.services.running import Running
from gfrpc.tls import TLSOptions, make_context
from gfrpc.transport import (
    DEFAULT_PORT,
    Listener,
    Poller,
    ServerLimits,
    SocketOptions,
    make_poller,
)
from gfrpc.wire.gfdict import encode_serialized_dict

__all__ = ["CLI_SOCKET", "MgmtConfig", "MgmtServer", "client_volfile"]

log = logging.getLogger("gfrpc.mgmtd")

CLI_SOCKET = "glusterd.socket"  # in the work directory, unless --cli-socket


@dataclass(frozen=True)
class MgmtConfig:
    """What ``gfrpc mgmtd`` is told on its command line."""

    volumes: list[VolumeSpec] = field(default_factory=list)
    port: int = DEFAULT_PORT
    host: str = "0.0.0.0"
    poller: str = "pool"
    event_threads: int = 2
    tls: TLSOptions | None = None  # TLS on this daemon's port (clients' secure-access)
    io_tls: bool = False  # volfiles put TLS on the brick connections
    signin_allow: Sequence[str] = field(default=LOOPBACK)
    limits: ServerLimits = field(default_factory=ServerLimits)  # gfrpc.transport.limits
    workdir: Path | None = None  # volumes in DIR/volumes.sqlite, the CLI on DIR/glusterd.socket
    cli_socket: str | None = None  # the CLI's UNIX socket (default DIR/glusterd.socket)
    hostnames: Sequence[str] = ("localhost", "127.0.0.1", "::1")  # what names this node
    socket_options: SocketOptions = field(default_factory=SocketOptions)  # both listeners

    @property
    def cli_socket_path(self) -> str | None:
        if self.cli_socket is not None:
            return self.cli_socket
        return str(self.workdir / CLI_SOCKET) if self.workdir is not None else None


#: builds the brick supervisor of a daemon with a work directory (H2's ``BrickSupervisor``)
SupervisorFactory = Callable[["MgmtServer"], Supervisor]


class MgmtServer(Running):
    """Owns the poller, the RPC servers, the listeners and (with a work directory) the volume
    store, the CLI service and the brick supervisor."""

    def __init__(
        self,
        config: MgmtConfig,
        *,
        supervisor: SupervisorFactory | None = None,
        fault: Fault | None = None,
    ) -> None:
        """``supervisor(server)`` builds the brick supervisor (with a work directory);
        ``fault`` is the store's fault-injection hook (tests)."""
        self.config = config
        self.store: VolumeStore | None = None
        self.node_uuid: uuid.UUID | None = None
        self.cli: CliService | None = None
        self.cli_rpc: RpcServer | None = None
        self.cli_listener: Listener | None = None
        self.supervisor: Supervisor | None = None
        self.registry = Registry(list(config.volumes))
        self.portmap = PortMapper(self.registry, signin_allow=config.signin_allow)
        self.poller: Poller = make_poller(config.poller, config.event_threads)
        self.rpc = RpcServer(self.poller, workers=4, limits=config.limits)
        self.rpc.register(self.portmap.program())
        self.rpc.on_disconnect = self.portmap.session_ended
        self.rpc.register(self._handshake_program())
        if config.workdir is not None:
            self._open_workdir(config.workdir, supervisor, fault)
        self.listener: Listener | None = None

    def _open_workdir(
        self, workdir: Path, supervisor: SupervisorFactory | None, fault: Fault | None
    ) -> None:
        """The store, this node's UUID, the registry's volumes, the supervisor and the CLI
        programs: all of it before any listener opens."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.store = VolumeStore(workdir, fault=fault)
        self.node_uuid = node_uuid(workdir)
        self._refresh_volumes()
        if supervisor is not None:
            self.supervisor = supervisor(self)
            self.supervisor.adopt(self.store.volumes())  # bricks still running from before
        self.cli = CliService(
            self.store,
            self.node_uuid,
            self.registry,
            hostnames=self.config.hostnames,
            supervisor=self.supervisor,
            on_change=self._refresh_volumes,
            port=self.config.port,
        )
        self.rpc.register(self.cli.program(read_only=True))
        self.cli_rpc = RpcServer(self.poller, workers=4, limits=self.config.limits)
        self.cli_rpc.register(self.cli.program())

    def _refresh_volumes(self) -> None:
        """Tell the registry and the sign-in check which volumes and bricks exist now."""
        if self.store is None:
            return
        specs = list(self.config.volumes)
        specs += [
            VolumeSpec(v.name, tuple(BrickRef(b.host, b.path) for b in v.bricks))
            for v in self.store.volumes()
            if v.name not in {c.name for c in self.config.volumes}
        ]
        self.registry.set_volumes(specs)

    def _handshake_program(self) -> Program:
        return Program(
            hs.GF_HNDSK_PROGRAM,
            hs.GF_HNDSK_VERSION,
            "Gluster Handshake",
            {
                hs.GETSPEC: Procedure("GETSPEC", self.getspec, args_type=hs.GfGetspecReq),
                hs.PING: Procedure("PING", lambda req: hs.GfCommonRsp(), inline=True),
            },
        )

    # -- procedures ------------------------------------------------------------------------------
    def volfile(self, key: str) -> str | None:
        """The client volfile a GETSPEC key asks for, from what is known now; None if none."""
        name = key.lstrip("/")
        if self.store is not None and name not in {v.name for v in self.config.volumes}:
            try:
                return client_volfile(self.store.get_volume(name), io_tls=self.config.io_tls)
            except NoSuchVolumeError:
                return None
        spec = self.registry.volume(key)
        return client_volfile(spec, io_tls=self.config.io_tls) if spec is not None else None

    def getspec(self, request: Request) -> Any:
        key = request.decoded.key
        spec = self.volfile(key)
        if spec is None:
            log.info("GETSPEC for unknown volume %r from %s", key, request.endpoint.peer_text())
            return hs.GfGetspecRsp(
                op_ret=-1, op_errno=errno.ENOENT, xdata=encode_serialized_dict({})
            )
        return hs.GfGetspecRsp(
            op_ret=len(spec), op_errno=0, spec=spec, xdata=encode_serialized_dict({})
        )

    # -- life cycle --------------------------------------------------------------------------------
    def start(self) -> Listener:
        cfg = self.config
        ctx = make_context(cfg.tls, server_side=True) if cfg.tls is not None else None
        self.poller.start()
        try:
            if self.cli_rpc is not None:
                path = cfg.cli_socket_path
                self.cli_listener = self.cli_rpc.listen(f"unix:{path}", options=cfg.socket_options)
            self.listener = self.rpc.listen(
                (cfg.host.strip("[]"), cfg.port), tls=ctx, options=cfg.socket_options
            )
        except BaseException:
            self.stop()
            raise
        names = [v.name for v in self.registry.volumes.values()]
        log.info(
            "mgmtd ready on %s%s, TLS %s; volumes: %s",
            self.listener.address,
            f" and {self.cli_listener.address}" if self.cli_listener is not None else "",
            "on" if ctx is not None else "off",
            ", ".join(names) or "none",
        )
        return self.listener

    def stop(self) -> None:
        """Listeners and connections first, then the workers and the poller, then the state."""
        if self.cli_rpc is not None:
            self.cli_rpc.close()
        self.rpc.close()
        self.poller.stop()
        if self.supervisor is not None:
            self.supervisor.close()  # stop watching; the bricks keep running
        if self.store is not None:
            self.store.close()
