"""Pieces shared by the sub-commands: the command table, TLS, poller and limit flags, clients.

Each ``cli`` module lists its sub-commands as :class:`Command` rows (name, what runs it, help
line, flags; the ``--help`` description is the docstring of the function that runs it);
:func:`register` turns the rows into argparse sub-parsers, so the registration is written
once. A flag is a function that adds itself to a parser: :func:`arg` for one flag, or
a group adder such as :func:`add_tls_arguments`; they are applied in the order given.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import signal
import ssl
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from gfrpc.rpc.client import RpcClient
from gfrpc.tls import TLSOptions, make_context
from gfrpc.tls.options import default_cert_dir
from gfrpc.transport import POLLER_NAMES, Poller, ServerLimits, make_poller

T = TypeVar("T")
AddArguments = Callable[[argparse.ArgumentParser], object]


def arg(*names: str, **options: Any) -> AddArguments:
    """One flag or positional, ``parser.add_argument(*names, **options)`` when applied."""
    return lambda parser: parser.add_argument(*names, **options)


@dataclass(frozen=True)
class Command:
    """One ``gfrpc`` sub-command: what runs it, its one-line help and its flags (applied in
    order). The ``--help`` description is ``description``, else the docstring of ``run``."""

    name: str
    run: Callable[[argparse.Namespace], int]
    help: str
    arguments: Sequence[AddArguments] = ()
    description: str | None = None


def register(sub: argparse._SubParsersAction, commands: Iterable[Command]) -> None:
    """Add a sub-parser for each of ``commands``; ``args.func`` is the command's ``run``."""
    for c in commands:
        text = c.description if c.description is not None else inspect.getdoc(c.run)
        p = sub.add_parser(c.name, help=c.help, description=text)
        for add in c.arguments:
            add(p)
        p.set_defaults(func=c.run)


HOST_FLAG = arg("--host", default="0.0.0.0", metavar="ADDR", help="address to bind (default all)")


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


def poller_flag(default: str = "pool") -> AddArguments:
    """``--poller``: the polling model."""
    return arg(
        "--poller", choices=POLLER_NAMES, default=default, help=f"polling model (default {default})"
    )


def add_poller_arguments(p: argparse.ArgumentParser, default: str = "pool") -> None:
    poller_flag(default)(p)
    p.add_argument(
        "--event-threads",
        type=int,
        default=2,
        metavar="N",
        help="threads of the pool and sharded pollers (GlusterFS event-threads; default 2)",
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


# (ServerLimits field, flag type, metavar, help; "{}" is where the default goes)
_LIMIT_FLAGS: tuple[tuple[str, Callable[[str], Any], str, str], ...] = (
    (
        "handshake_timeout",
        float,
        "S",
        "close a connection whose TLS handshake has not finished after S seconds (default {:g})",
    ),
    (
        "first_request_timeout",
        float,
        "S",
        "close a connection that has sent no complete request S seconds after connecting "
        "(default {:g}); one that has is never closed for being idle",
    ),
    (
        "frame_timeout",
        float,
        "S",
        "close a connection whose partly received record gets no new byte for S seconds "
        "(default {:g})",
    ),
    (
        "send_timeout",
        float,
        "S",
        "close a connection whose peer read none of its waiting replies for S seconds "
        "(default {:g})",
    ),
    (
        "max_connections",
        int,
        "N",
        "refuse (accept and close) connections beyond N open ones (default {})",
    ),
    (
        "max_incomplete_bytes",
        _size,
        "SIZE",
        "bytes of partly received records the server holds in all; beyond it a connection "
        "that grows stops being read, except some let in to read their records to the end, "
        "whose reads count against a quarter of SIZE until those records end; each client "
        "machine takes its turn (default {}M)",
    ),
    (
        "max_reply_bytes",
        _size,
        "SIZE",
        "bytes of READ, READDIR(P) and GETXATTR replies the server has in the making or "
        "unsent, in all "
        "(each connection at most 16M); beyond it requests wait; each client machine may "
        "hold SIZE divided by the machines connected, and connections whose peers have not "
        "yet read 8 replies three quarters of SIZE (default {}M)",
    ),
    (
        "finish_timeout",
        float,
        "S",
        "over --max-incomplete-bytes, a connection let read on to finish its record must "
        "finish it within S seconds, or it waits behind the others, and is closed when "
        "what it read is needed; while requests wait for --max-reply-bytes, a connection "
        "whose peer read none of its replies for S seconds is closed when its share is "
        "needed (default {:g})",
    ),
)


def add_limit_arguments(p: argparse.ArgumentParser) -> None:
    """What one peer may cost a server (``gfrpc.transport.ServerLimits``); 0 = no limit."""
    d = ServerLimits()
    g = p.add_argument_group("limits on what one peer may cost (0 = off)")
    for name, kind, metavar, text in _LIMIT_FLAGS:
        default = getattr(d, name)
        shown = default >> 20 if kind is _size else default  # sizes are shown in MiB
        g.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=default,
            metavar=metavar,
            help=text.format(shown),
        )


def server_limits(args: argparse.Namespace) -> ServerLimits:
    return ServerLimits(**{name: getattr(args, name) for name, *_ in _LIMIT_FLAGS})


def config_from(cls: Callable[..., T], args: argparse.Namespace, **given: Any) -> T:
    """The dataclass ``cls`` with the fields in ``given``, and every other field that has a flag
    of the same name (``--event-threads`` -> ``event_threads``) from that flag."""
    names = {f.name for f in dataclasses.fields(cls)} - given.keys()  # type: ignore[arg-type]
    return cls(**given, **{name: getattr(args, name) for name in names if hasattr(args, name)})


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
    """``server.start()``, then wait for SIGTERM or SIGINT, then ``server.stop()``. A server
    with a ``report()`` (the brick) logs it on each SIGUSR1, as glusterfsd writes a statedump;
    the handlers only set flags, and the report is made on this (the main) thread."""
    stop, wake, asked = threading.Event(), threading.Event(), threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()
        wake.set()

    def on_report(signum: int, frame: object) -> None:
        asked.set()
        wake.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if hasattr(server, "report"):
        signal.signal(signal.SIGUSR1, on_report)
    server.start()
    try:
        while not stop.is_set():
            wake.wait(3600)
            wake.clear()
            if asked.is_set() and not stop.is_set():
                asked.clear()
                server.report()
    finally:
        server.stop()
    return 0
