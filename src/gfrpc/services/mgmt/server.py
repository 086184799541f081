"""The management daemon: GETSPEC and the portmapper for volumes of gfrpc bricks.

Theory of operation. A stock GlusterFS client (``mount -t glusterfs HOST:/VOL``, gfapi) asks
port 24007 of HOST for the volume's client volfile (Gluster Handshake GETSPEC, key ``VOL``),
builds its graph from it and connects each ``protocol/client`` to ``remote-host``:24007 again,
where a DUMP that lists "Gluster Portmap" tells it to ask PORTBYBRICK(``remote-subvolume``)
for the brick's port. This daemon answers exactly those calls, like glusterd does for them:

* DUMP lists GF-DUMP, "Gluster Portmap" (34123456 v1) and "Gluster Handshake" (14398633 v2);
* GETSPEC answers a volfile with one ``protocol/client`` per brick (no ``remote-port``: ports
  come from the portmapper) under a ``cluster/distribute`` named ``VOL-dht`` (glusterd's
  graph for a plain volume), ``transport.socket.ssl-enabled on`` when the volume's I/O path
  is TLS; an unknown key is ``op_ret -1, ENOENT``;
* PORTBYBRICK answers the port a brick signed in with, or ``op_ret -1``; SIGNIN/SIGNOUT are
  accepted only from the addresses allowed to sign in (loopback by default) and only for the
  bricks of the configured volumes (EPERM otherwise); BRICKBYPORT is never answered, as in
  glusterd. PING answers at once.

Everything else a glusterd does (peers, the gluster CLI, volume life cycle, quorum) is not
here: volumes are given on the command line.
"""

from __future__ import annotations

import errno
import fnmatch
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gfrpc.programs import handshake as hs
from gfrpc.programs import pmap
from gfrpc.rpc.server import Procedure, Program, Request, RpcServer
from gfrpc.services.mgmt.registry import Registry, VolumeSpec
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

__all__ = ["MgmtConfig", "MgmtServer", "client_volfile"]

log = logging.getLogger("gfrpc.mgmtd")

LOOPBACK = ("127.*", "::1")


@dataclass(frozen=True)
class MgmtConfig:
    """What ``gfrpc mgmtd`` is told on its command line."""

    volumes: list[VolumeSpec]
    port: int = DEFAULT_PORT
    host: str = "0.0.0.0"
    poller: str = "pool"
    event_threads: int = 2
    tls: TLSOptions | None = None  # TLS on this daemon's port (clients' secure-access)
    io_tls: bool = False  # volfiles put TLS on the brick connections
    signin_allow: Sequence[str] = field(default=LOOPBACK)
    limits: ServerLimits = field(default_factory=ServerLimits)  # gfrpc.transport.limits


def client_volfile(volume: VolumeSpec, *, io_tls: bool = False) -> str:
    """The client volfile of ``volume`` (see the module docstring)."""
    lines: list[str] = []
    names = []
    for i, brick in enumerate(volume.bricks):
        name = f"{volume.name}-client-{i}"
        names.append(name)
        lines += [
            f"volume {name}",
            "    type protocol/client",
            "    option transport-type tcp",
            f"    option remote-host {brick.host}",
            f"    option remote-subvolume {brick.path}",
        ]
        if io_tls:
            lines.append("    option transport.socket.ssl-enabled on")
        lines += ["end-volume", ""]
    lines += [
        f"volume {volume.name}-dht",
        "    type cluster/distribute",
        f"    subvolumes {' '.join(names)}",
        "end-volume",
        "",
    ]
    return "\n".join(lines)


class MgmtServer(Running):
    """Owns the poller, the RPC server and the listener of the management daemon."""

    def __init__(self, config: MgmtConfig) -> None:
        self.config = config
        self.registry = Registry(list(config.volumes))
        self._bricks = {b.path for v in config.volumes for b in v.bricks}
        self.poller: Poller = make_poller(config.poller, config.event_threads)
        self.rpc = RpcServer(self.poller, workers=4, limits=config.limits)
        self.rpc.register(
            Program(
                pmap.PMAP_PROGRAM,
                pmap.PMAP_VERSION,
                "Gluster Portmap",
                {
                    pmap.PORTBYBRICK: Procedure(
                        "PORTBYBRICK",
                        self.port_by_brick,
                        args_type=pmap.PmapPortByBrickReq,
                        inline=True,
                    ),
                    pmap.BRICKBYPORT: Procedure("BRICKBYPORT", lambda req: req.drop(), inline=True),
                    pmap.SIGNIN: Procedure(
                        "SIGNIN", self.sign_in, args_type=pmap.PmapSigninReq, inline=True
                    ),
                    pmap.SIGNOUT: Procedure(
                        "SIGNOUT", self.sign_out, args_type=pmap.PmapSignoutReq, inline=True
                    ),
                },
            )
        )
        self.rpc.register(
            Program(
                hs.GF_HNDSK_PROGRAM,
                hs.GF_HNDSK_VERSION,
                "Gluster Handshake",
                {
                    hs.GETSPEC: Procedure("GETSPEC", self.getspec, args_type=hs.GfGetspecReq),
                    hs.PING: Procedure("PING", lambda req: hs.GfCommonRsp(), inline=True),
                },
            )
        )
        self.listener: Listener | None = None

    # -- procedures ------------------------------------------------------------------------------
    def getspec(self, request: Request) -> Any:
        key = request.decoded.key
        volume = self.registry.volume(key)
        if volume is None:
            log.info("GETSPEC for unknown volume %r from %s", key, request.endpoint.peer_text())
            return hs.GfGetspecRsp(
                op_ret=-1, op_errno=errno.ENOENT, xdata=encode_serialized_dict({})
            )
        spec = client_volfile(volume, io_tls=self.config.io_tls)
        return hs.GfGetspecRsp(
            op_ret=len(spec), op_errno=0, spec=spec, xdata=encode_serialized_dict({})
        )

    def port_by_brick(self, request: Request) -> Any:
        port = self.registry.port_of(request.decoded.brick)
        if port is None:
            return pmap.PmapPortByBrickRsp(op_ret=-1, op_errno=errno.ENOENT)
        return pmap.PmapPortByBrickRsp(op_ret=0, port=port)

    def _may_sign(self, request: Request, path: str) -> bool:
        peer = request.peername
        address = str(peer[0]) if isinstance(peer, tuple) else ""
        if isinstance(peer, tuple) and not any(
            fnmatch.fnmatchcase(address, g) for g in self.config.signin_allow
        ):
            log.warning(
                "refused portmap sign-in of %s from %s (not in the sign-in list)", path, address
            )
            return False
        if path not in self._bricks:
            log.warning(
                "refused portmap sign-in of %s from %s: not a brick of any volume",
                path,
                address or "a local socket",
            )
            return False
        return True

    def sign_in(self, request: Request) -> Any:
        a = request.decoded
        if not 0 < a.port < 65536 or not self._may_sign(request, a.brick):
            return pmap.PmapSigninRsp(op_ret=-1, op_errno=errno.EPERM)
        self.registry.sign_in(a.brick, a.port)
        log.info("brick %s signed in on port %d (pid %d)", a.brick, a.port, a.pid)
        return pmap.PmapSigninRsp()

    def sign_out(self, request: Request) -> Any:
        a = request.decoded
        if not self._may_sign(request, a.brick):
            return pmap.PmapSignoutRsp(op_ret=-1, op_errno=errno.EPERM)
        if self.registry.sign_out(a.brick, a.port or None):
            log.info("brick %s signed out", a.brick)
        return pmap.PmapSignoutRsp()

    # -- life cycle --------------------------------------------------------------------------------
    def start(self) -> Listener:
        cfg = self.config
        ctx = make_context(cfg.tls, server_side=True) if cfg.tls is not None else None
        self.poller.start()
        self.listener = self.rpc.listen(
            (cfg.host.strip("[]"), cfg.port), tls=ctx, options=SocketOptions()
        )
        log.info(
            "mgmtd ready on %s, TLS %s; volumes: %s",
            self.listener.address,
            "on" if ctx is not None else "off",
            ", ".join(
                f"{v.name} ({len(v.bricks)} brick{'s' * (len(v.bricks) > 1)})" for v in cfg.volumes
            ),
        )
        return self.listener

    def stop(self) -> None:
        self.rpc.close()
        self.poller.stop()
