"""The transport: connections (Endpoint), listeners and the four pollers.

The only layer of gfrpc that imports ``socket``, ``select`` or ``threading`` for I/O.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
from collections.abc import Callable

from gfrpc.errors import ConfigError, NotConnectedError, TimeoutError_, TLSError
from gfrpc.transport.baton import BATON
from gfrpc.transport.budget import IncompleteBudget
from gfrpc.transport.endpoint import Endpoint
from gfrpc.transport.lifecycle import (
    ConnectionHandler,
    EndpointState,
    EndpointStats,
    PeerClosedError,
)
from gfrpc.transport.limits import ConnectionGuard, ServerLimits
from gfrpc.transport.listener import Listener
from gfrpc.transport.options import (
    DEFAULT_PORT,
    Address,
    AddressLike,
    SocketOptions,
    apply_options,
    parse_address,
    resolve,
)
from gfrpc.transport.pollers.base import Poller
from gfrpc.transport.pollers.own_thread import OwnThreadPoller
from gfrpc.transport.pollers.pool import PoolPoller
from gfrpc.transport.pollers.sharded import ShardedPoller
from gfrpc.transport.pollers.single import SinglePoller

__all__ = [
    "DEFAULT_PORT",
    "POLLER_NAMES",
    "Address",
    "AddressLike",
    "ConnectionGuard",
    "ConnectionHandler",
    "Endpoint",
    "EndpointState",
    "EndpointStats",
    "IncompleteBudget",
    "Listener",
    "PeerClosedError",
    "Poller",
    "ServerLimits",
    "SocketOptions",
    "connect",
    "listen",
    "make_poller",
    "parse_address",
]

POLLER_NAMES = ("single", "own-thread", "pool", "sharded")


def make_poller(name: str, event_threads: int = 2, *, baton: bool = False) -> Poller:
    """The poller called ``name``: ``single``, ``own-thread``, ``pool`` or ``sharded`` (the
    last two run ``event_threads`` threads). ``baton``: its threads run Python work one at a
    time (``transport/baton.py``)."""
    poller: Poller
    if name == "single":
        poller = SinglePoller()
    elif name == "own-thread":
        poller = OwnThreadPoller()
    elif name == "pool":
        poller = PoolPoller(event_threads)
    elif name == "sharded":
        poller = ShardedPoller(event_threads)
    else:
        raise ConfigError(f"unknown poller {name!r} (choose from {', '.join(POLLER_NAMES)})")
    if baton:
        poller.baton = BATON
    return poller


def _as_address(address: AddressLike, default_port: int = DEFAULT_PORT) -> Address:
    """Accept ``"host:port"``, ``"unix:/path"``, an Address, or a ``(host, port)`` tuple."""
    if isinstance(address, Address):
        return address
    if isinstance(address, tuple):
        host, port = address[0], int(address[1])
        return Address(socket.AF_INET6 if ":" in host else socket.AF_INET, host, port)
    return parse_address(address, default_port)


def connect(
    address: AddressLike,
    *,
    poller: Poller,
    handler: ConnectionHandler,
    tls: ssl.SSLContext | None = None,
    tls_check: Callable[[ssl.SSLObject], None] | None = None,
    options: SocketOptions | None = None,
    timeout: float = 10.0,
) -> Endpoint:
    """Connect, finish the TLS handshake, and return the open endpoint.

    ``handler`` is attached before the socket can deliver anything.
    """
    opts = options or SocketOptions()
    addr = resolve(_as_address(address))
    sock = socket.socket(addr.family, socket.SOCK_STREAM)
    try:
        apply_options(sock, opts)
        sock.settimeout(timeout)
        sock.connect(addr.sockaddr)
    except TimeoutError:
        sock.close()
        raise TimeoutError_(f"connect to {addr} timed out") from None
    except OSError as exc:
        sock.close()
        if exc.errno == errno.ECONNREFUSED:
            raise NotConnectedError("connection refused") from None
        raise NotConnectedError(f"cannot connect to {addr}: {exc.strerror or exc}") from None
    ep = Endpoint(sock, handler=handler, poller=poller, options=opts, tls=tls, tls_check=tls_check)
    poller.register(ep)
    if not ep.ready.wait(timeout):
        ep.close(TimeoutError_("TLS handshake timed out"))
        raise TimeoutError_(f"TLS handshake with {addr} timed out")
    if ep.closed:
        reason = ep.close_reason or NotConnectedError("connection closed during set-up")
        if isinstance(reason, TLSError | NotConnectedError | TimeoutError_):
            raise reason
        raise NotConnectedError(str(reason))
    return ep


def listen(
    address: AddressLike,
    *,
    poller: Poller,
    handler_factory: Callable[[], ConnectionHandler],
    tls: ssl.SSLContext | None = None,
    tls_check: Callable[[ssl.SSLObject], None] | None = None,
    options: SocketOptions | None = None,
    guard: ConnectionGuard | None = None,
) -> Listener:
    """Listen on ``address`` (port 0 picks a free port; ``listener.address`` tells which).

    ``guard`` applies a server's limits (``limits.py``) to the accepted connections; several
    listeners of one server share one guard, so the limits are server-wide.
    """
    opts = options or SocketOptions()
    addr = resolve(_as_address(address))
    sock = socket.socket(addr.family, socket.SOCK_STREAM)
    try:
        if addr.family == socket.AF_UNIX:
            if os.path.exists(addr.host):
                _unlink_stale(addr.host)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if addr.family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        apply_options(sock, opts, listening=True)
        sock.bind(addr.sockaddr)
        if addr.family == socket.AF_UNIX:  # before listen(): nobody can connect in between
            os.chmod(addr.host, opts.unix_mode)
        sock.listen(opts.listen_backlog)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {addr}: {exc.strerror or exc}") from None
    if addr.family != socket.AF_UNIX:
        host, port = sock.getsockname()[:2]
        addr = Address(addr.family, host, port)
    listener = Listener(
        sock,
        addr,
        poller=poller,
        handler_factory=handler_factory,
        options=opts,
        tls=tls,
        tls_check=tls_check,
        guard=guard,
    )
    poller.register(listener)
    return listener


def _unlink_stale(path: str) -> None:
    """Remove a UNIX socket path nobody listens on (as GlusterFS does on ECONNREFUSED)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)
    except OSError:
        pass
    else:
        raise ConfigError(f"cannot listen on unix:{path}: someone is listening there")
    finally:
        probe.close()
