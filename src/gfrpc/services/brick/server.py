"""The brick server process: one brick directory served over the GlusterFS RPC transport.

It serves what a GlusterFS 10 brick serves to clients, and its DUMP reply lists exactly that:
GF-DUMP (123451501 v1, built into the RPC server), the brick's handshake program "GlusterFS
Handshake" (14398633 v2: SETVOLUME, GETSPEC, PING, SET_LK_VER) and the FOP program
"GlusterFS 4.x v1" (1298437 v400). The old "GlusterFS 3.3" FOP program (v330) is not served;
10.x clients pick v400 from the DUMP list.

Identity: the brick's name for clients (``remote-subvolume``) is the absolute path of its
directory; the volume has a name (``--volname``) and a stable volume-id kept where real bricks
keep it, the brick directory's ``trusted.glusterfs.volume-id`` xattr (16 raw bytes), created
on first start: ``--volume-id`` if given, else a uuid5 of the volume name, so that every brick
of a volume has the same one (a GlusterFS client refuses a brick whose volume-id differs).
Admission is GlusterFS's: ``--allow`` address globs (``auth.allow``) and, with
TLS, ``--ssl-allow`` CN globs (``auth.ssl-allow``) are checked at SETVOLUME, which refuses with
EACCES ("Authentication failed", the client gives up instead of retrying); GF-DUMP is answered
to anyone who completes the TLS handshake, as a GlusterFS brick does.
"""

from __future__ import annotations

import errno
import logging
import os
import uuid
from dataclasses import dataclass, field

from gfrpc.errors import ConfigError
from gfrpc.programs import fops as fp
from gfrpc.programs.fops import FopProc
from gfrpc.rpc.server import RpcServer
from gfrpc.services.brick.fops import MAY_BLOCK, FopService
from gfrpc.services.brick.handshake import BrickIdentity, HandshakeService
from gfrpc.services.brick.locks import DEFAULT_MAX_LOCKS
from gfrpc.services.brick.store import PosixStore
from gfrpc.services.mgmt.signin import BrickSignin
from gfrpc.services.running import Running
from gfrpc.tls import TLSOptions, make_context
from gfrpc.transport import Listener, Poller, ServerLimits, SocketOptions, make_poller

log = logging.getLogger("gfrpc.brick")

VOLUME_ID_XATTR = "trusted.glusterfs.volume-id"


#: the brick's polling model unless told otherwise: in the bench, `sharded` x2 met every
#: small-file target where `pool` x2 (GlusterFS's design) missed, and matched it on streams
#: (README, "The four polling models"; docs/ARCHITECTURE.md, "Performance notes", 47)
DEFAULT_POLLER = "sharded"


@dataclass(frozen=True)
class BrickConfig:
    """What ``gfrpc brick`` is told on its command line."""

    directory: str
    port: int
    host: str = "0.0.0.0"
    volname: str = "gfrpc"
    poller: str = DEFAULT_POLLER
    event_threads: int = 2
    #: ``--io-threads``: threads that run FOPs off the poller threads (0: every FOP inline)
    io_threads: int = 16
    #: ``--io-policy``: which FOPs the io-threads run: ``slow`` (MAY_BLOCK) or ``all``
    io_policy: str = "slow"
    #: ``--baton``: the poller threads run Python work one at a time (transport/baton.py)
    baton: bool = True
    outstanding_limit: int = 64
    tls: TLSOptions | None = None
    ssl_allow: list[str] | None = None
    allow: list[str] | None = None
    volume_id: uuid.UUID | None = None  # None: default_volume_id(volname) for a new brick
    mgmt: str | None = None  # HOST[:PORT] of the management daemon to sign in at (SIGNIN)
    mgmt_tls: bool = False  # talk to it over TLS with the brick's own identity
    #: timeouts, max-connections and the incomplete-record budget (gfrpc.transport.limits)
    limits: ServerLimits = field(default_factory=ServerLimits)
    #: each connection's open-fd cap (EMFILE for that client only); None: store.fds' default
    max_open_fds: int | None = None
    #: granted locks of each kind (LK, INODELK, ENTRYLK) one connection may hold (ENOLCK beyond)
    max_locks: int = DEFAULT_MAX_LOCKS
    #: also check FOPs on fds and trust no negative pid (GlusterFS 10.3 does neither; access.py)
    strict_access: bool = False

    @property
    def brick_path(self) -> str:
        """The brick's name for clients (``remote-subvolume``): the absolute path of its dir."""
        return os.path.abspath(self.directory)


#: namespace of the default volume-ids: every brick of volume NAME gets uuid5(this, NAME)
VOLUME_ID_NAMESPACE = uuid.UUID("6a0b6c2e-3f7e-5d1a-9b8e-67667270632e")


def default_volume_id(volname: str) -> uuid.UUID:
    """The volume-id a new brick of volume ``volname`` gets unless one is given: the same for
    every brick of the volume, as a GlusterFS client insists (it refuses a brick whose
    volume-id differs from the other bricks')."""
    return uuid.uuid5(VOLUME_ID_NAMESPACE, volname)


def brick_volume_id(
    directory: str, wanted: uuid.UUID | None = None, *, default: uuid.UUID | None = None
) -> uuid.UUID:
    """The volume-id stored in the brick directory's ``trusted.glusterfs.volume-id`` (16 raw
    bytes, as GlusterFS bricks have it). If there is none, ``wanted``, else ``default``, else
    a random one is stored; a stored one that differs from ``wanted`` is a configuration
    error, as when glusterd finds a brick of another volume."""
    try:
        raw = os.getxattr(directory, VOLUME_ID_XATTR)
        if len(raw) != 16:
            raise ConfigError(
                f"brick directory {directory}: {VOLUME_ID_XATTR} is {len(raw)} bytes, not 16"
            )
        stored = uuid.UUID(bytes=raw)
        if wanted is not None and stored != wanted:
            raise ConfigError(
                f"brick directory {directory} belongs to volume-id {stored}, "
                f"not {wanted} (another volume's brick?)"
            )
        return stored
    except OSError as exc:
        if exc.errno != errno.ENODATA:
            raise ConfigError(
                f"brick directory {directory}: cannot read {VOLUME_ID_XATTR}: {exc.strerror}"
            ) from exc
    new = wanted or default or uuid.uuid4()
    try:
        os.setxattr(directory, VOLUME_ID_XATTR, new.bytes, os.XATTR_CREATE)
    except FileExistsError:
        return brick_volume_id(directory, wanted)  # another process won the race
    except OSError as exc:
        raise ConfigError(
            f"brick directory {directory}: cannot set {VOLUME_ID_XATTR}: {exc.strerror}"
        ) from exc
    return new


IO_POLICIES = ("slow", "all")


def inline_fops(policy: str) -> frozenset[FopProc]:
    """The FOPs that run on the thread that read them under ``--io-policy POLICY`` (with
    ``--io-threads 0`` every FOP does, whatever the policy)."""
    if policy == "all":
        return frozenset()
    if policy == "slow":
        return frozenset(fp.PROCEDURES) - MAY_BLOCK
    raise ConfigError(f"unknown --io-policy {policy!r} (choose from {', '.join(IO_POLICIES)})")


class BrickServer(Running):
    """Owns the poller, the store, the RPC server and the listener of one brick."""

    def __init__(self, config: BrickConfig) -> None:
        if not os.path.isdir(config.directory):
            raise ConfigError(f"brick directory {config.directory} does not exist")
        self.config = config
        self.volume_id = brick_volume_id(
            config.brick_path, config.volume_id, default=default_volume_id(config.volname)
        )
        self.store = PosixStore(config.brick_path)
        self.identity = BrickIdentity(
            brick_path=config.brick_path,
            volname=config.volname,
            volume_id=str(self.volume_id),
            allow=config.allow,
            ssl_allow=config.ssl_allow,
            host=config.host if config.host not in ("0.0.0.0", "::", "") else "127.0.0.1",
            tls=config.tls is not None,
        )
        self.fops = FopService(
            self.store, strict_access=config.strict_access, max_locks=config.max_locks
        )
        self.poller: Poller = make_poller(config.poller, config.event_threads, baton=config.baton)
        self.rpc = RpcServer(
            self.poller,
            workers=config.io_threads,
            outstanding_limit=config.outstanding_limit,
            limits=config.limits,
        )
        self.rpc.register(
            HandshakeService(self.identity, max_open_fds=config.max_open_fds).program()
        )
        self.rpc.register(self.fops.program(inline=inline_fops(config.io_policy)))
        self.rpc.on_disconnect = self.fops.disconnected
        self.listener: Listener | None = None
        self.signin: BrickSignin | None = None

    def start(self) -> Listener:
        cfg = self.config
        ctx = make_context(cfg.tls, server_side=True) if cfg.tls is not None else None
        if cfg.ssl_allow is not None and ctx is None:
            raise ConfigError("ssl-allow needs TLS (--tls)")
        self.poller.start()
        self.listener = self.rpc.listen(
            (cfg.host.strip("[]"), cfg.port), tls=ctx, options=SocketOptions()
        )
        self.identity.port = self.listener.address.port
        log.info(
            "brick %s (volume %s, id %s) ready on %s, poller %s%s, TLS %s",
            cfg.brick_path,
            cfg.volname,
            self.volume_id,
            self.listener.address,
            cfg.poller,
            f" x{cfg.event_threads}" if cfg.poller in ("pool", "sharded") else "",
            "on" if ctx is not None else "off",
        )
        if cfg.mgmt is not None:
            if cfg.mgmt_tls and cfg.tls is None:
                raise ConfigError("signing in over TLS (--mgmt-tls) needs the brick's --tls")
            mctx = make_context(cfg.tls, server_side=False) if cfg.mgmt_tls and cfg.tls else None
            self.signin = BrickSignin(
                cfg.mgmt, cfg.brick_path, self.identity.port, poller=self.poller, tls=mctx
            )
            self.signin.start()
        return self.listener

    def report(self) -> None:
        """Log how many of each FOP the brick has served since it started (``gfrpc brick``
        does on SIGUSR1): what clients send, read off a running brick."""
        log.info("brick %s: FOPs served: %s", self.config.brick_path, self._fops_served())

    def _fops_served(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.fops.served()) or "none"

    def stop(self) -> None:
        if self.signin is not None:
            self.signin.stop()
        log.info("brick %s stopping; FOPs served: %s", self.config.brick_path, self._fops_served())
        self.rpc.close()
        self.poller.stop()
        self.store.close()
