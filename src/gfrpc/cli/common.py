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
from gfrpc.transport import POLLER_NAMES, Poller, ServerLimits, make_poller


def add_tls_arguments(p: argparse.ArgumentParser, *, server: bool = False) -> None:
    g = p.add_argument_group("TLS (GlusterFS transport.socket.ssl-*)")
    g.add_argument("--tls", action="store_true", help="use TLS (mutual authentication)")
    g.add_argument(
        "--tls-dir",
        metavar="DIR",
        default=None,
        help="directory holding glusterfs.pem, glusterfs.key and glusterfs.ca "
        f"(default: {default_cert_dir()})",
    )
    g.add_argument(
        "--cert-depth",
        type=int,
        default=1,
        metavar="N",
        help="ssl-cert-depth: how many intermediate CAs a peer chain may have (default 1)",
    )
    g.add_argument(
        "--cipher-list", default=None, metavar="LIST", help="ssl-cipher-list (TLS <= 1.2)"
    )
    g.add_argument(
        "--crl-path", default=None, metavar="PATH", help="ssl-crl-path: CRL directory or file"
    )
    if server:
        g.add_argument(
            "--ssl-allow",
            default=None,
            metavar="CN,...",
            help="auth.ssl-allow: comma-separated CN globs allowed to connect",
        )


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
    p.add_argument(
        "--poller", choices=POLLER_NAMES, default=default, help=f"polling model (default {default})"
    )
    p.add_argument(
        "--event-threads",
        type=int,
        default=2,
        metavar="N",
        help="threads of the pool poller (GlusterFS event-threads; default 2)",
    )


def _size(text: str) -> int:
    """``268435456``, ``256M``, ``256MiB``, ``1G``... as bytes."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:], 1)
    try:
        value = int(t[:-1] if mult > 1 else t) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"negative size: {text!r}")
    return value


def add_limit_arguments(p: argparse.ArgumentParser) -> None:
    """What one peer may cost a server (``gfrpc.transport.ServerLimits``); 0 = no limit."""
    d = ServerLimits()
    g = p.add_argument_group("limits on what one peer may cost (0 = off)")
    g.add_argument(
        "--handshake-timeout",
        type=float,
        default=d.handshake_timeout,
        metavar="S",
        help=f"close a connection whose TLS handshake has not finished after S "
        f"seconds (default {d.handshake_timeout:g})",
    )
    g.add_argument(
        "--first-request-timeout",
        type=float,
        default=d.first_request_timeout,
        metavar="S",
        help="close a connection that has sent no complete request S "
        f"seconds after connecting (default {d.first_request_timeout:g}); one that "
        "has is never closed for being idle",
    )
    g.add_argument(
        "--frame-timeout",
        type=float,
        default=d.frame_timeout,
        metavar="S",
        help="close a connection whose partly received record gets no new byte for "
        f"S seconds (default {d.frame_timeout:g})",
    )
    g.add_argument(
        "--max-connections",
        type=int,
        default=d.max_connections,
        metavar="N",
        help="refuse (accept and close) connections beyond N open ones "
        f"(default {d.max_connections})",
    )
    g.add_argument(
        "--max-incomplete-bytes",
        type=_size,
        default=d.max_incomplete_bytes,
        metavar="SIZE",
        help="bytes of partly received records the server holds "
        "in all; beyond it the largest holders stop being read until memory frees "
        f"(default {d.max_incomplete_bytes >> 20}M)",
    )


def server_limits(args: argparse.Namespace) -> ServerLimits:
    return ServerLimits(
        handshake_timeout=args.handshake_timeout,
        first_request_timeout=args.first_request_timeout,
        frame_timeout=args.frame_timeout,
        max_connections=args.max_connections,
        max_incomplete_bytes=args.max_incomplete_bytes,
    )


def open_client(
    args: argparse.Namespace, address: str, *, timeout: float, poller: Poller | None = None
) -> tuple[RpcClient, Poller]:
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
