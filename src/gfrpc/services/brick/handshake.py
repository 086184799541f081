"""The brick side of the GlusterFS Handshake program (14398633 v2): SETVOLUME, GETSPEC, PING.

SETVOLUME is where a GlusterFS client binds a connection to a brick. The checks follow
GlusterFS 10.3's ``server_setvolume``, in its order, with its errno values:

1. the old serialized dict must decode (EINVAL);
2. ``remote-subvolume`` must be there (EINVAL) and name this brick's path (ENOENT);
3. ``process-uuid`` must be there (EINVAL);
4. a ``volume-id`` sent by the client must be this volume's (EINVAL);
5. ``fops-version`` must be the FOP program number (``GLUSTER_FOP_PROGRAM``, 1298437; EINVAL);
6. authentication: the peer address must match ``--allow`` globs (``auth.allow``) and, on a
   TLS connection, the certificate CN must match ``--ssl-allow`` (``auth.ssl-allow``); a
   refusal is EACCES with ERROR "Authentication failed". The CN comes from the TLS layer
   only, never from the client's dict (GlusterFS would trust an ``ssl-name`` key sent in
   plaintext; gfrpc does not).

The reply dict carries the keys real clients read: ``ERROR``, ``child_up``, ``volume-id``,
``process-uuid`` (the server's), ``clnt-lk-version`` and ``transport-ptr``. On success the
connection gets its ``BrickSession`` (``session.py``: GlusterFS's ``client_t``, made here as
``server_setvolume`` makes it) with the client's identity, and the FOP program serves it from
then on.

GETSPEC on a brick answers with a client volfile for this brick (GlusterFS bricks rarely have
one to give); glusterd-style volume resolution lives in the management service.
"""

from __future__ import annotations

import errno
import fnmatch
import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from gfrpc.programs import handshake as hs
from gfrpc.programs.fops import GLUSTER_FOP_PROGRAM
from gfrpc.programs.names import BRICK_PROGRAMS
from gfrpc.rpc.server import Procedure, Program, Request
from gfrpc.services.brick.session import ClientInfo, open_session
from gfrpc.services.mgmt.volfile import stack_lines
from gfrpc.tls import cn_allowed
from gfrpc.wire.gfdict import as_str, decode_serialized_dict, encode_serialized_dict
from gfrpc.wire.xdr import XdrStruct

log = logging.getLogger("gfrpc.brick")

HANDSHAKE_NAME = next(name for name, num, _ in BRICK_PROGRAMS if num == hs.GF_HNDSK_PROGRAM)


@dataclass
class BrickIdentity:
    """What SETVOLUME checks a client against."""

    brick_path: str
    volname: str
    volume_id: str
    server_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    allow: Sequence[str] | None = None  # auth.allow address globs; None = everyone
    ssl_allow: Sequence[str] | None = None  # auth.ssl-allow CN globs; None = every TLS peer
    host: str = "127.0.0.1"
    port: int = 0
    tls: bool = False


class SetvolumeRefused(Exception):
    def __init__(self, op_errno: int, message: str) -> None:
        super().__init__(message)
        self.op_errno = op_errno


class HandshakeService:
    """Serves 14398633 v2 for one brick. ``max_open_fds``: the open-fd cap of each connection
    it admits (``--max-open-fds``; None: ``store.fds``' default)."""

    def __init__(self, identity: BrickIdentity, *, max_open_fds: int | None = None) -> None:
        self.identity = identity
        self.max_open_fds = max_open_fds

    def program(self) -> Program:
        return Program(
            hs.GF_HNDSK_PROGRAM,
            hs.GF_HNDSK_VERSION,
            HANDSHAKE_NAME,
            {
                hs.SETVOLUME: Procedure("SETVOLUME", self.setvolume, args_type=hs.GfSetvolumeReq),
                hs.GETSPEC: Procedure("GETSPEC", self.getspec, args_type=hs.GfGetspecReq),
                hs.PING: Procedure("PING", lambda req: hs.GfCommonRsp(), inline=True),
                hs.SET_LK_VER: Procedure("SET_LK_VER", self.set_lk_ver, args_type=hs.GfSetLkVerReq),
            },
        )

    # -- SETVOLUME ---------------------------------------------------------------------------

    def setvolume(self, request: Request) -> XdrStruct:
        ident = self.identity
        reply: dict[str, str | int] = {}
        try:
            client = self._check(request, bytes(request.decoded.dict))
        except SetvolumeRefused as refusal:
            log.info("SETVOLUME from %s refused: %s", _peer(request), refusal)
            reply["ERROR"] = str(refusal)
            return hs.GfSetvolumeRsp(
                op_ret=-1, op_errno=refusal.op_errno, dict=encode_serialized_dict(reply)
            )
        open_session(request.session, self.max_open_fds).identity = client
        log.info(
            "accepted client %s from %s%s",
            client.process_uuid,
            client.peer,
            f" (CN {client.peer_cn})" if client.peer_cn else "",
        )
        reply.update(
            {
                "ERROR": "Success",
                "child_up": 1,
                "volume-id": ident.volume_id,
                "process-uuid": ident.server_uuid,
                "clnt-lk-version": 0,
                "transport-ptr": id(request.session),
            }
        )
        return hs.GfSetvolumeRsp(op_ret=0, op_errno=0, dict=encode_serialized_dict(reply))

    def _check(self, request: Request, raw: bytes) -> ClientInfo:
        ident = self.identity
        try:
            params = {k: as_str(v) for k, v in decode_serialized_dict(raw).items()}
        except Exception as exc:  # RemoteProtocolError and friends: EINVAL, as GlusterFS
            raise SetvolumeRefused(errno.EINVAL, f"Internal error: bad dict ({exc})") from None
        subvol = params.get("remote-subvolume")
        if not subvol:
            raise SetvolumeRefused(errno.EINVAL, "No remote-subvolume option specified")
        if os.path.normpath(subvol) != ident.brick_path:
            raise SetvolumeRefused(errno.ENOENT, f'remote-subvolume "{subvol}" is not found')
        process_uuid = params.get("process-uuid")
        if not process_uuid:
            raise SetvolumeRefused(errno.EINVAL, "UUID not specified")
        volume_id = params.get("volume-id")
        if volume_id and volume_id != ident.volume_id:
            raise SetvolumeRefused(
                errno.EINVAL, "Volume-ID different, possible case of connecting to wrong volume"
            )
        if params.get("fops-version") != str(GLUSTER_FOP_PROGRAM):
            raise SetvolumeRefused(
                errno.EINVAL, f"version mismatch: fops-version {params.get('fops-version')!r}"
            )
        peer = _peer(request)
        if not _address_allowed(request.peername, ident.allow):
            raise SetvolumeRefused(errno.EACCES, "Authentication failed")
        if request.endpoint.tls_enabled and not cn_allowed(request.peer_cn, ident.ssl_allow):
            raise SetvolumeRefused(errno.EACCES, "Authentication failed")
        return ClientInfo(
            process_uuid=process_uuid,
            peer=peer,
            peer_cn=request.peer_cn,
            client_version=params.get("client-version", ""),
            options=params,
        )

    # -- GETSPEC, SET_LK_VER -------------------------------------------------------------------

    def getspec(self, request: Request) -> XdrStruct:
        spec = self.client_volfile()
        return hs.GfGetspecRsp(
            op_ret=len(spec), op_errno=0, spec=spec, xdata=encode_serialized_dict({})
        )

    def set_lk_ver(self, request: Request) -> XdrStruct:
        return hs.GfSetLkVerRsp(op_ret=0, op_errno=0, lk_ver=request.decoded.lk_ver)

    def client_volfile(self) -> str:
        """A client volfile that mounts this brick (``glusterfs --volfile=FILE MNT``): its
        ``protocol/client``, then the translators a volume served by mgmtd has by default
        (``mgmt.volfile.stack_lines``: quick-read, md-cache, write-behind and friends)."""
        ident = self.identity
        lines = [
            f"volume {ident.volname}-client-0",
            "    type protocol/client",
            "    option transport-type tcp",
            f"    option remote-host {ident.host}",
            f"    option remote-port {ident.port}",
            f"    option remote-subvolume {ident.brick_path}",
        ]
        if ident.tls:
            lines.append("    option transport.socket.ssl-enabled on")
        lines += ["end-volume", ""]
        lines += stack_lines(ident.volname, f"{ident.volname}-client-0")
        return "\n".join(lines)


def _peer(request: Request) -> str:
    """The peer as ``Address`` writes it (``host:port``, ``[v6]:port``, ``unix:/path``)."""
    return request.endpoint.peer_text()


def _address_allowed(peername: object, allow: Sequence[str] | None) -> bool:
    """``auth.allow``: globs on the peer's IP address (UNIX-socket peers always pass)."""
    if allow is None:
        return True
    if not isinstance(peername, tuple):
        return True
    address = str(peername[0])
    return any(fnmatch.fnmatchcase(address, pattern) for pattern in allow)
