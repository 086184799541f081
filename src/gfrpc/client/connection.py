"""One brick: an RpcClient, the GlusterFS client handshake, and typed FOP calls.

The handshake is GlusterFS 10.3's protocol/client sequence (reference §6.1, checked against
captures of a real FUSE client in tests/fixtures):

1. connect; **GF-DUMP DUMP** (AUTH_GLUSTERFS_v2, ``gfs_id 0xcaed``);
2. if the program list holds **Gluster Portmap 34123456 v1** we are talking to glusterd: ask
   **PORTBYBRICK(remote-subvolume)**, disconnect, connect to that port and DUMP again. Port
   24007 uses the management TLS setting, the brick port the I/O one;
3. the brick must list **GlusterFS 4.x v1 (1298437 v400)**; every later call carries
   AUTH_GLUSTERFS_v3 (RpcClient's default after DUMP);
4. **SETVOLUME** with an old-style dict: the client xlator's options plus ``remote-subvolume``,
   ``process-uuid`` (``CTX_ID:<uuid>-GRAPH_ID:0-PID:<pid>-HOST:<host>-PC_NAME:<xlator>-
   RECON_NO:-<n>``, unique per attempt so the brick never mistakes us for an older connection
   whose fds and locks it is still cleaning up), ``fops-version 1298437``, ``client-version
   10.3``, ``clnt-lk-version 1``, ``opversion 100000``, ``volfile-key``, ``transport-type
   socket``, ``remote-host``, ``remote-port``. ``op_ret -1`` carries an ``ERROR`` text;
   EACCES means authentication failed.

FOP calls are pipelined (fop_calls.py, ``BrickConnection``'s base: ``fop_async``, ``fop`` and
the typed helpers); many may be in flight on the one connection.

**Reconnect.** When the connection is lost (brick restarted, network cut, ping-timeout), the
calls in flight fail with ENOTCONN, as in GlusterFS. The next call reconnects from the start:
from the port first given (so a brick reached through glusterd is looked up again in the
portmapper: a restarted brick may listen on another port), DUMP, a fresh SETVOLUME. Attempts
are made on the calling thread, at most one per ``reconnect_interval`` (3 s, GlusterFS's
reconnect period); calls between attempts fail at once with ENOTCONN. Each successful
handshake bumps :attr:`BrickConnection.generation`: fds from an older generation are gone on
the brick, and ``File`` reopens its fd by gfid (GlusterFS's client_reopen) before using it.
Locks held through the old connection are not re-acquired.

**Threads.** One ``BrickConnection`` serves every thread of a process that uses its brick
(every ``Volume`` sharing it, see shared.py). ``_lock`` guards connecting, reconnecting and
closing (``client``, ``port``, ``generation``, the attempt clock); a call only reads
``client`` and hands its request to the ``RpcClient``, which is thread-safe (its xids and
pending calls have their own lock), so calls of all threads are pipelined on one socket.
Per call: the request, its Future, and the ``Identity``'s credential (immutable).
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gfrpc.programs import fops, pmap
from gfrpc.programs import handshake as hs
from gfrpc.rpc.client import RpcClient
from gfrpc.rpc.dump_client import dump
from gfrpc.wire.gfdict import as_str, decode_serialized_dict, encode_serialized_dict
from gfrpc.wire.rpcmsg import GlusterCredV3

from .errors import fop_error
from .fop_calls import CallOptions, FopCalls, NewEntry, check, gfid_req, xattr_bytes
from .mgmt import MGMT_PORT, OP_VERSION_MAX, port_by_brick
from .url import address_text

__all__ = [
    "CLIENT_VERSION",
    "BrickConnection",
    "CallOptions",
    "Identity",
    "NewEntry",
    "check",
    "gfid_req",
    "xattr_bytes",
]

log = logging.getLogger("gfrpc.client")

CLIENT_VERSION = "10.3"
_RECON_NO = itertools.count()


@dataclass(frozen=True)
class Identity:
    """Who FOPs are sent as: the uid, gid and groups of their AUTH_GLUSTERFS_v3 credential."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()

    @classmethod
    def of(
        cls, uid: int | None = None, gid: int | None = None, groups: Sequence[int] | None = None
    ) -> Identity:
        """Given ids, or this process's uid and gid, and no groups unless given: what the
        default credential (``gfrpc.rpc.default_credential``) sends, so that an identity
        spelled out equal to the default is the same identity."""
        return cls(
            os.getuid() if uid is None else int(uid),
            os.getgid() if gid is None else int(gid),
            tuple(int(g) for g in groups or ()),
        )

    def credential(self) -> GlusterCredV3:
        return GlusterCredV3(pid=os.getpid(), uid=self.uid, gid=self.gid, groups=self.groups)


class BrickConnection(FopCalls):
    """A client connection to one brick (``remote-subvolume`` ``brick_path`` at host:port).

    ``name`` is the client xlator name (``VOL-client-N``, used in ``process-uuid`` and by DHT);
    ``tls``/``mgmt_tls`` are SSLContexts (or None) for the brick port and for port 24007;
    ``options`` are the xlator's volfile options, sent in SETVOLUME like a real client does;
    ``identity``: the uid/gid/groups FOPs are sent as (default: this process's, at each call).
    """

    def __init__(
        self,
        host: str,
        port: int | None,
        brick_path: str,
        *,
        volname: str,
        poller: Any,
        name: str | None = None,
        tls: Any = None,
        mgmt_tls: Any = None,
        ctx_id: str | None = None,
        options: Mapping[str, str] | None = None,
        ping_timeout: float = 42.0,
        frame_timeout: float = 1800.0,
        timeout: float = 10.0,
        reconnect_interval: float = 3.0,
        port_is_mgmt: bool | None = None,
        identity: Identity | None = None,
    ) -> None:
        self.host = host
        self.identity = identity
        self._cred = identity.credential() if identity is not None else None
        self.port = port or MGMT_PORT
        self._first_port = self.port
        #: whether the first port is a management daemon's (default: it is 24007)
        self.port_is_mgmt = self.port == MGMT_PORT if port_is_mgmt is None else port_is_mgmt
        self.brick_path = brick_path
        self.volname = volname
        self.name = name or f"{volname}-client-0"
        self.poller = poller
        self.tls = tls
        self.mgmt_tls = mgmt_tls
        self.ctx_id = ctx_id or str(uuid.uuid4())
        self.options = dict(options or {})
        self.ping_timeout = ping_timeout
        self.frame_timeout = frame_timeout
        self.timeout = timeout
        self.client: RpcClient | None = None
        self.programs: list[tuple[int, int, str]] = []
        self.server_info: dict[str, str] = {}
        self.process_uuid = ""
        self.reconnect_interval = reconnect_interval
        #: bumped by every successful handshake; fds of an older generation are gone
        self.generation = 0
        self._last_attempt = float("-inf")
        self._closed = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"BrickConnection({self.where})"

    @property
    def connected(self) -> bool:
        """Whether the connection is up right now (no reconnect is attempted)."""
        client = self.client
        return client is not None and client.connected

    @property
    def where(self) -> str:
        return f"{address_text(self.host, self.port)}:{self.brick_path}"

    # -- handshake --------------------------------------------------------------------------
    def connect(self) -> None:
        """DUMP (+ portmapper hop), SETVOLUME. Raises OSError/TransportError subclasses."""
        with self._lock:
            if self.client is not None:
                return
            self._closed = False
            self._last_attempt = time.monotonic()
            self._handshake()

    def live_client(self) -> RpcClient:
        """The connected RpcClient, reconnecting first if the connection was lost and the last
        attempt is ``reconnect_interval`` ago; else ENOTCONN (see the module docstring)."""
        client = self.client
        if client is not None and client.connected:
            return client
        with self._lock:
            client = self.client
            if client is not None and client.connected:
                return client
            if self._closed or client is None and self.generation == 0:
                raise fop_error(errno.ENOTCONN, None, f"not connected to {self.where}")
            wait = self._last_attempt + self.reconnect_interval - time.monotonic()
            if wait > 0:
                raise fop_error(
                    errno.ENOTCONN,
                    None,
                    f"not connected to {self.where} (next reconnect attempt in {wait:.1f} s)",
                )
            self._last_attempt = time.monotonic()
            self.client = None
            if client is not None:
                client.close()
            self.port = self._first_port
            try:
                self._handshake()
            except OSError as exc:
                log.info("reconnect to %s failed: %s", self.where, exc)
                raise fop_error(
                    errno.ENOTCONN,
                    None,
                    f"not connected to {self.where}: reconnect failed: {exc.strerror or exc}",
                ) from None
            log.info("reconnected to %s (generation %d)", self.where, self.generation)
            assert self.client is not None
            return self.client

    def _handshake(self) -> None:
        """Connect from ``self.port``; on success set ``client`` and bump ``generation``
        (caller holds ``_lock``)."""
        client = self._open(self.port)
        try:
            self.programs = dump(client, timeout=self.timeout)
            if (pmap.PMAP_PROGRAM, pmap.PMAP_VERSION) in {(p, v) for p, v, _ in self.programs}:
                port = port_by_brick(client, self.brick_path, timeout=self.timeout)
                client.close()
                if port is None:
                    raise fop_error(
                        errno.ENOENT,
                        self.brick_path,
                        f"the portmapper at {address_text(self.host, self.port)} knows no "
                        f"brick {self.brick_path}; is the volume started?",
                    )
                self.port = port
                client = self._open(port)
                self.programs = dump(client, timeout=self.timeout)
            offered = {(p, v) for p, v, _ in self.programs}
            if (fops.GLUSTER_FOP_PROGRAM, fops.GLUSTER_FOP_VERSION) not in offered:
                names = ", ".join(f"{n} ({p} v{v})" for p, v, n in self.programs) or "none"
                raise OSError(
                    errno.EPROTONOSUPPORT,
                    f"{self.where} does not serve {fops.GLUSTER_FOP_NAME} "
                    f"({fops.GLUSTER_FOP_PROGRAM} v{fops.GLUSTER_FOP_VERSION}); "
                    f"it offers: {names}",
                )
            self._setvolume(client)
        except BaseException:
            client.close()
            raise
        self.client = client
        self.generation += 1

    def _open(self, port: int) -> RpcClient:
        mgmt = self.port_is_mgmt and port == self._first_port
        client = RpcClient(
            (self.host, port),
            poller=self.poller,
            tls=self.mgmt_tls if mgmt else self.tls,
            frame_timeout=self.frame_timeout,
            ping_timeout=0 if mgmt else self.ping_timeout,
        )
        try:
            client.connect(timeout=self.timeout)
        except BaseException:
            client.close()
            raise
        return client

    def setvolume_dict(self) -> dict[str, Any]:
        """The SETVOLUME dict for the next attempt (a fresh process-uuid each call)."""
        self.process_uuid = (
            f"CTX_ID:{self.ctx_id}-GRAPH_ID:0-PID:{os.getpid()}-HOST:{os.uname().nodename}"
            f"-PC_NAME:{self.name}-RECON_NO:-{next(_RECON_NO)}"
        )
        d: dict[str, Any] = {k: v for k, v in self.options.items() if k != "transport-type"}
        d.update(
            {
                "remote-subvolume": self.brick_path,
                "process-uuid": self.process_uuid,
                "fops-version": fops.GLUSTER_FOP_PROGRAM,
                "client-version": CLIENT_VERSION,
                "clnt-lk-version": 1,
                "opversion": OP_VERSION_MAX,
                "volfile-key": self.volname,
                "transport-type": "socket",
                "remote-host": self.host,
                "remote-port": self.port,
            }
        )
        return d

    def _setvolume(self, client: RpcClient) -> None:
        req = hs.GfSetvolumeReq(dict=encode_serialized_dict(self.setvolume_dict())).pack()
        reply = client.call(
            hs.GF_HNDSK_PROGRAM, hs.GF_HNDSK_VERSION, hs.SETVOLUME, req, timeout=self.timeout
        )
        rsp = hs.GfSetvolumeRsp.unpack(reply.body)
        try:
            info = {k: as_str(v) for k, v in decode_serialized_dict(rsp.dict).items()}
        except Exception:  # a reply dict we cannot read only matters when op_ret says failure
            info = {}
        self.server_info = info
        if rsp.op_ret < 0:
            code = rsp.op_errno or errno.EIO
            text = info.get("ERROR") or os.strerror(code)
            if code == errno.EACCES:
                raise OSError(code, f"authentication failed at brick {self.where}: {text}")
            raise OSError(
                code, f"brick {self.where} refused SETVOLUME: {text} ({os.strerror(code)})"
            )
        log.debug("SETVOLUME on %s accepted (%s)", self.where, info.get("ERROR", ""))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            client, self.client = self.client, None
        if client is not None:
            client.close()
