"""The port mapper (Gluster Portmap 34123456 v1), as glusterd serves it to clients and bricks.

* PORTBYBRICK answers the port a brick signed in with, or ``op_ret -1, ENOENT``; only a brick
  whose sign-in connection is still open has one (the table's rules are in ``registry.py``).
* SIGNIN/SIGNOUT are accepted only from the addresses allowed to sign in (loopback by
  default) and only for bricks of known volumes (EPERM otherwise, logged). The sign-in
  connection is the one the request came on: each connection gets a token in its RPC
  session, and :meth:`PortMapper.session_ended` (hooked to ``RpcServer.on_disconnect``)
  forgets what was signed in over it.
* BRICKBYPORT is never answered, as in glusterd (the caller times out).

Every procedure is cheap and runs inline on the connection's input thread, so a sign-in and
the close of its connection are seen in order.
"""

from __future__ import annotations

import errno
import fnmatch
import logging
from collections.abc import Sequence
from typing import Final

from gfrpc.programs import pmap
from gfrpc.rpc.server import Procedure, Program, Request, Session
from gfrpc.services.mgmt.registry import Registry

__all__ = ["LOOPBACK", "PortMapper"]

log = logging.getLogger("gfrpc.mgmtd")

#: who may sign in by default: this host only
LOOPBACK: Final = ("127.*", "::1", "::ffff:127.*")
_SESSION_KEY: Final = "gfrpc.portmap.signin"
_PATH_MAX: Final = 4096


class _SigninConnection:
    """The token of one connection's sign-ins (compared by identity)."""

    __slots__ = ()


class PortMapper:
    """Gluster Portmap over ``registry``; see the module notes."""

    def __init__(
        self,
        registry: Registry,
        *,
        signin_allow: Sequence[str] = LOOPBACK,
        local_addresses: Sequence[str] = LOOPBACK,
    ) -> None:
        self.registry = registry
        self.signin_allow = tuple(signin_allow)
        #: peers at these address globs run on this host (their pid can be checked)
        self.local_addresses = tuple(local_addresses)

    def program(self) -> Program:
        """The "Gluster Portmap" program, to register on the daemon's RpcServer."""
        return Program(
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

    def session_ended(self, session: Session) -> None:
        """``RpcServer.on_disconnect``: forget the bricks signed in over that connection."""
        token = session.get(_SESSION_KEY)
        if token is None:
            return
        for path in self.registry.connection_closed(token):
            log.info("brick %s is offline: its sign-in connection closed", path)

    # -- procedures ------------------------------------------------------------------------
    def port_by_brick(self, request: Request) -> object:
        port = self.registry.port_of(request.decoded.brick)
        if port is None:
            return pmap.PmapPortByBrickRsp(op_ret=-1, op_errno=errno.ENOENT)
        return pmap.PmapPortByBrickRsp(op_ret=0, port=port)

    def sign_in(self, request: Request) -> object:
        a = request.decoded
        if not 0 < a.port < 65536 or not self._may_sign(request, a.brick):
            return pmap.PmapSigninRsp(op_ret=-1, op_errno=errno.EPERM)
        token = request.session.setdefault(_SESSION_KEY, _SigninConnection())
        refused = self.registry.sign_in(
            a.brick, a.port, pid=a.pid, token=token, local=self._is_local(request)
        )
        if refused:
            return pmap.PmapSigninRsp(op_ret=-1, op_errno=refused)
        log.info("brick %s signed in on port %d (pid %d)", a.brick, a.port, a.pid)
        return pmap.PmapSigninRsp()

    def sign_out(self, request: Request) -> object:
        a = request.decoded
        if not self._may_sign(request, a.brick):
            return pmap.PmapSignoutRsp(op_ret=-1, op_errno=errno.EPERM)
        token = request.session.get(_SESSION_KEY)
        if token is not None and self.registry.sign_out(a.brick, a.port or None, token=token):
            log.info("brick %s signed out", a.brick)
        else:
            log.info("ignored a sign-out of %s from a connection that does not own it", a.brick)
        return pmap.PmapSignoutRsp()

    # -- checks ----------------------------------------------------------------------------
    @staticmethod
    def _address(request: Request) -> str | None:
        """The peer's IP address, or None for a local (UNIX) socket."""
        peer = request.peername
        return str(peer[0]) if isinstance(peer, tuple) else None

    def _is_local(self, request: Request) -> bool:
        address = self._address(request)
        return address is None or any(fnmatch.fnmatchcase(address, g) for g in self.local_addresses)

    def _may_sign(self, request: Request, path: str) -> bool:
        address = self._address(request)
        if address is not None and not any(
            fnmatch.fnmatchcase(address, g) for g in self.signin_allow
        ):
            log.warning(
                "refused portmap sign-in of %s from %s (not in the sign-in list)", path, address
            )
            return False
        if len(path) > _PATH_MAX or not self.registry.is_brick(path):
            log.warning(
                "refused portmap sign-in of %.200s from %s: not a brick of any volume",
                path,
                address or "a local socket",
            )
            return False
        return True
