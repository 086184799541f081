"""Talking to glusterd (the management daemon, port 24007): GETSPEC and PORTBYBRICK.

What a GlusterFS 10.3 client does, as seen on the wire (tests/fixtures/glusterd_*_call.hex):

* **GETSPEC** (GlusterFS Handshake 14398633 v2, proc 2) asks for a volfile by *key*: the volume
  name (``mount -t glusterfs host:/vol`` sends ``/vol``; glusterd strips the slash). The client
  sets ``flags = 1`` (GF_GETSPEC_FLAG_SERVERS_LIST) and an old-style dict ``xdata`` with
  ``min-op-version 1`` and ``max-op-version 100000``. glusterd answers ``op_ret`` = the length of
  ``spec`` (the client volfile text), or ``op_ret -1`` with an errno (ENOENT for an unknown key).
* **PORTBYBRICK** (Gluster Portmap 34123456 v1, proc 1) maps a brick path (the client xlator's
  ``remote-subvolume``) to the TCP port its glusterfsd listens on; ``op_ret -1`` when unknown.
* The management connection keeps AUTH_GLUSTERFS_v2 for every call: only a connection that
  selects the FOP program (brick) switches to v3. glusterd accepts both.
* Port 24007 follows the *management* TLS setting (``/var/lib/glusterd/secure-access`` on real
  hosts), independent of the volume's I/O TLS; so ``tls`` here is its own parameter.
"""

from __future__ import annotations

import os
from typing import Any, Final

from gfrpc.errors import GfrpcError
from gfrpc.programs import dump as gfdump
from gfrpc.programs import handshake as hs
from gfrpc.programs import pmap
from gfrpc.rpc.client import RpcClient, default_credential
from gfrpc.transport import DEFAULT_PORT
from gfrpc.wire.gfdict import encode_serialized_dict

from .url import address_text

__all__ = [
    "GETSPEC_FLAG_SERVERS_LIST",
    "MGMT_PORT",
    "VolfileError",
    "fetch_volfile",
    "get_spec",
    "mgmt_client",
    "port_by_brick",
]

MGMT_PORT: Final = DEFAULT_PORT  # glusterd's port: gfrpc.transport.DEFAULT_PORT under this name
GETSPEC_FLAG_SERVERS_LIST = 1
#: GD_OP_VERSION_MAX of GlusterFS 10.x, announced in GETSPEC xdata and SETVOLUME
OP_VERSION_MAX = 100000


class VolfileError(GfrpcError, OSError):
    """glusterd refused to hand out a volfile (errno from its reply)."""

    def __init__(self, errno: int, message: str) -> None:
        OSError.__init__(self, errno, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def mgmt_client(
    host: str, port: int = MGMT_PORT, *, poller: Any, tls: Any = None, timeout: float = 10.0
) -> RpcClient:
    """A connected RpcClient to glusterd, using AUTH_GLUSTERFS_v2 for every call as GlusterFS's
    management connection does; pings off (glusterd runs with ping-timeout 0)."""
    client = RpcClient(
        (host, port),
        poller=poller,
        tls=tls,
        frame_timeout=max(timeout, 1.0),
        ping_timeout=0,
        cred=default_credential(gfdump.GF_DUMP_PROGRAM, gfdump.DUMP),
    )
    try:
        client.connect(timeout=timeout)
    except BaseException:
        client.close()
        raise
    return client


def get_spec(client: RpcClient, key: str, *, timeout: float | None = None) -> str:
    """GETSPEC ``key`` on a connected management client: the volfile text."""
    xdata = encode_serialized_dict({"min-op-version": 1, "max-op-version": OP_VERSION_MAX})
    req = hs.GfGetspecReq(flags=GETSPEC_FLAG_SERVERS_LIST, key=key, xdata=xdata).pack()
    reply = client.call(hs.GF_HNDSK_PROGRAM, hs.GF_HNDSK_VERSION, hs.GETSPEC, req, timeout=timeout)
    rsp = hs.GfGetspecRsp.unpack(reply.body)
    if rsp.op_ret < 0:
        err = rsp.op_errno or 2
        raise VolfileError(
            err,
            f"glusterd at {_where(client)} gave no volfile for {key!r}: "
            f"{os.strerror(err)} (is the volume created and started?)",
        )
    if not rsp.spec:
        raise VolfileError(5, f"glusterd at {_where(client)} sent an empty volfile for {key!r}")
    return str(rsp.spec)


def port_by_brick(client: RpcClient, brick: str, *, timeout: float | None = None) -> int | None:
    """PMAP PORTBYBRICK: the port glusterd's portmapper has for ``brick``, or None."""
    req = pmap.PmapPortByBrickReq(brick=brick).pack()
    reply = client.call(
        pmap.PMAP_PROGRAM, pmap.PMAP_VERSION, pmap.PORTBYBRICK, req, timeout=timeout
    )
    rsp = pmap.PmapPortByBrickRsp.unpack(reply.body)
    if rsp.op_ret < 0 or not 0 < rsp.port < 65536:
        return None
    return int(rsp.port)


def fetch_volfile(
    host: str,
    volname: str,
    *,
    port: int = MGMT_PORT,
    poller: Any,
    tls: Any = None,
    timeout: float = 10.0,
) -> str:
    """Connect to glusterd at ``host:port``, GETSPEC ``volname``, disconnect."""
    client = mgmt_client(host, port, poller=poller, tls=tls, timeout=timeout)
    try:
        return get_spec(client, volname, timeout=timeout)
    finally:
        client.close()


def _where(client: RpcClient) -> str:
    addr = client.address
    return address_text(*addr) if isinstance(addr, tuple) else str(addr)
