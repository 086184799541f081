"""Pieces shared by the sub-commands: TLS flags, poller flags, client construction."""

from __future__ import annotations

import argparse
import signal
import ssl
import threading
from typing import Any

from gfrpc.rpc.client import RpcClient
from gfrpc.tls import TLSOptions, make_context
from gfrpc.tls.options import default_cert_dir
from gfrpc.transport import POLLER_NAMES, Poller, make_poller


def add_tls_arguments(p: argparse.ArgumentParser, *, server: bool = False) -> None:
    g = p.add_argument_group("TLS (GlusterFS transport.socket.ssl-*)")
    g.add_argument("--tls", action="store_true", help="use TLS (mutual authentication)")
    g.add_argument("--tls-dir", metavar="DIR", default=None,
                   help="directory holding glusterfs.pem, glusterfs.key and glusterfs.ca "
                   f"(default: {default_cert_dir()})")
    g.add_argument("--cert-depth", type=int, default=1, metavar="N",
                   help="ssl-cert-depth: how many intermediate CAs a peer chain may have (default 1)")
    g.add_argument("--cipher-list", default=None, metavar="LIST", help="ssl-cipher-list (TLS <= 1.2)")
    g.add_argument("--crl-path", default=None, metavar="PATH", help="ssl-crl-path: CRL directory or file")
    if server:
        g.add_argument("--ssl-allow", default=None, metavar="CN,...",
                       help="auth.ssl-allow: comma-separated CN globs allowed to connect")


def tls_context(args: argparse.Namespace, *, server_side: bool) -> ssl.SSLContext | None:
    if not args.tls:
        return None
    return make_context(tls_options(args), server_side=server_side)


def tls_options(args: argparse.Namespace) -> TLSOptions:
    overrides: dict[str, object] = {"cert_depth": args.cert_depth}
    if args.cipher_list:
        overrides["cipher_list"] = args.cipher_list
    if args.crl_path:
        overrides["crl_path"] = args.crl_path
    return TLSOptions.from_dir(args.tls_dir or default_cert_dir(), **overrides)


def add_poller_arguments(p: argparse.ArgumentParser, default: str = "pool") -> None:
    p.add_argument("--poller", choices=POLLER_NAMES, default=default,
                   help=f"polling model (default {default})")
    p.add_argument("--event-threads", type=int, default=2, metavar="N",
                   help="threads of the pool poller (GlusterFS event-threads; default 2)")


def open_client(args: argparse.Namespace, address: str, *, timeout: float,
                poller: Poller | None = None) -> tuple[RpcClient, Poller]:
    """Connect an RpcClient to ``address`` with the TLS flags of ``args``."""
    ctx = tls_context(args, server_side=False)
    p = poller or make_poller("single")
    p.start()
    client = RpcClient(address, poller=p, tls=ctx, frame_timeout=timeout, ping_timeout=0)
    try:
        client.connect(timeout=timeout)
    except BaseException:
        p.stop()
        raise
    return client, p


def serve_until_signalled(server: Any) -> int:
    """``server.start()``, then wait for SIGTERM or SIGINT, then ``server.stop()``."""
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    try:
        while not stop.wait(3600):
            pass
    finally:
        server.stop()
    return 0
