"""The brick server process: one brick directory served over the GlusterFS RPC transport.

At this stage it serves GF-DUMP (DUMP, PING) only; its DUMP reply lists every program it
serves, GF-DUMP itself included, as real GlusterFS servers do. The file operations (the
handshake program and FOP v400) come with the brick issue.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from gfrpc.errors import ConfigError
from gfrpc.rpc.server import RpcServer
from gfrpc.tls import TLSOptions, make_context
from gfrpc.transport import Listener, Poller, SocketOptions, make_poller

log = logging.getLogger("gfrpc.brick")


@dataclass(frozen=True)
class BrickConfig:
    """What ``gfrpc brick`` is told on its command line."""

    directory: str
    port: int
    host: str = "0.0.0.0"
    volname: str = "gfrpc"
    poller: str = "pool"
    event_threads: int = 2
    workers: int = 16
    outstanding_limit: int = 64
    tls: TLSOptions | None = None
    ssl_allow: list[str] | None = None

    @property
    def brick_path(self) -> str:
        """The brick's name for clients (``remote-subvolume``): the absolute path of its dir."""
        return os.path.abspath(self.directory)


class BrickServer:
    """Owns the poller, the RPC server and the listener of one brick."""

    def __init__(self, config: BrickConfig) -> None:
        if not os.path.isdir(config.directory):
            raise ConfigError(f"brick directory {config.directory} does not exist")
        self.config = config
        self.poller: Poller = make_poller(config.poller, config.event_threads)
        self.rpc = RpcServer(self.poller, workers=config.workers,
                             outstanding_limit=config.outstanding_limit)
        self.listener: Listener | None = None

    def start(self) -> Listener:
        cfg = self.config
        ctx = make_context(cfg.tls, server_side=True) if cfg.tls is not None else None
        self.poller.start()
        self.listener = self.rpc.listen(f"{_host(cfg.host)}:{cfg.port}", tls=ctx,
                                        ssl_allow=cfg.ssl_allow, options=SocketOptions())
        log.info("brick %s (volume %s) ready on %s, poller %s%s, TLS %s", cfg.brick_path,
                 cfg.volname, self.listener.address, cfg.poller,
                 f" x{cfg.event_threads}" if cfg.poller == "pool" else "",
                 "on" if ctx is not None else "off")
        return self.listener

    def stop(self) -> None:
        self.rpc.close()
        self.poller.stop()


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
