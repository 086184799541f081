"""A brick's side of the portmapper: SIGNIN when (re)connected to the management daemon,
SIGNOUT when the brick stops, as glusterfsd does with glusterd.

The connection is kept open with reconnect on (every 3 s), so a brick that started before the
daemon, or outlived a daemon restart, signs in again as soon as the daemon answers. Keeping it
open is also how the daemon learns that the brick died: its port mapper hands a port out only
while the connection that signed it in is open, and the kernel closes it even after ``kill -9``.
The SIGNIN carries this process's pid, which the daemon checks against the pid it started.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import Future
from typing import Any

from gfrpc.errors import GfrpcError
from gfrpc.programs import pmap
from gfrpc.rpc.client import Reply, RpcClient

__all__ = ["BrickSignin"]

log = logging.getLogger("gfrpc.brick")


class BrickSignin:
    """Keeps brick ``path`` (listening on ``port``) signed in at the daemon at ``address``."""

    def __init__(self, address: str, path: str, port: int, *, poller: Any, tls: Any = None) -> None:
        self.address, self.path, self.port = address, path, port
        self.signed_in = False
        self.client = RpcClient(
            address, poller=poller, tls=tls, ping_timeout=0, reconnect=True, reconnect_interval=3.0
        )
        self.client.on_connect = self._connected

    def start(self) -> None:
        try:
            self.client.connect(timeout=5.0)
        except OSError as exc:  # the daemon may come later: reconnect keeps trying
            log.warning("management daemon at %s not reachable (%s); will retry", self.address, exc)

    def _connected(self, client: RpcClient) -> None:
        req = pmap.PmapSigninReq(brick=self.path, port=self.port, pid=os.getpid()).pack()
        client.call_async(pmap.PMAP_PROGRAM, pmap.PMAP_VERSION, pmap.SIGNIN, req).add_done_callback(
            self._signed_in
        )

    def _signed_in(self, future: Future[Reply]) -> None:
        try:
            rsp = pmap.PmapSigninRsp.unpack(future.result().body)
        except Exception as exc:  # noqa: BLE001 - logged; the next connection tries again
            log.warning("portmap sign-in of %s failed: %s", self.path, exc)
            return
        if rsp.op_ret < 0:
            log.warning(
                "management daemon refused the sign-in of %s (%s)",
                self.path,
                os.strerror(rsp.op_errno or 1),
            )
            return
        self.signed_in = True
        log.info(
            "signed in at the management daemon %s as %s on port %d",
            self.address,
            self.path,
            self.port,
        )

    def stop(self) -> None:
        """SIGNOUT (if connected, waiting at most 2 s), then close."""
        if self.client.connected:
            req = pmap.PmapSignoutReq(brick=self.path, port=self.port).pack()
            try:
                self.client.call(
                    pmap.PMAP_PROGRAM, pmap.PMAP_VERSION, pmap.SIGNOUT, req, timeout=2.0
                )
            except (OSError, GfrpcError) as exc:
                log.info("portmap sign-out of %s failed: %s", self.path, exc)
        self.client.close()
