"""Socket options named the way GlusterFS names them, and address parsing.

GlusterFS 10.3 defaults (``transport.socket.*``): nodelay on, keepalive on with idle 20 s,
interval 2 s, count 9; listen backlog 1024; ``tcp-window-size`` 0 = leave the kernel's buffers.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from gfrpc.errors import ConfigError
from gfrpc.wire.record import DEFAULT_MAX_RECORD, READ_BUFFER_SIZE

#: glusterd's port, where GlusterFS clients look for the management daemon; the one
#: definition in gfrpc (``gfrpc.transport.DEFAULT_PORT``)
DEFAULT_PORT = 24007

__all__ = [
    "DEFAULT_MAX_RECORD",
    "DEFAULT_PORT",
    "Address",
    "AddressLike",
    "SocketOptions",
    "apply_options",
    "parse_address",
    "peer_text",
    "resolve",
]


@dataclass(frozen=True)
class SocketOptions:
    """Per-socket settings (``transport.socket.nodelay``, ``keepalive-*``, ``listen-backlog``)."""

    nodelay: bool = True
    keepalive: bool = True
    keepalive_time: int = 20
    keepalive_interval: int = 2
    keepalive_count: int = 9
    listen_backlog: int = 1024
    window_size: int = 0  # SO_SNDBUF and SO_RCVBUF when > 0 (GlusterFS: tcp-window-size)
    send_buffer: int = 0  # SO_SNDBUF only, when > 0 (tests use a tiny one)
    max_record_size: int = DEFAULT_MAX_RECORD
    read_size: int = READ_BUFFER_SIZE  # bytes asked of the kernel per read
    #: a listening UNIX socket's file mode, set before it listens: only its owner may connect
    #: (the management CLI's socket takes volume commands; glusterd's is root's alone too)
    unix_mode: int = 0o600


@dataclass(frozen=True)
class Address:
    """Where to connect or listen: ``family`` is AF_INET, AF_INET6 or AF_UNIX."""

    family: int
    host: str
    port: int = 0

    @property
    def sockaddr(self) -> str | tuple[str, int]:
        return self.host if self.family == socket.AF_UNIX else (self.host, self.port)

    def __str__(self) -> str:
        if self.family == socket.AF_UNIX:
            return f"unix:{self.host}"
        if self.family == socket.AF_INET6:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"


#: what ``connect``/``listen`` (and the RPC client and server) accept as an address:
#: ``"host[:port]"``, ``"[v6]:port"``, ``"unix:/path"``, an ``Address`` or ``(host, port)``
AddressLike = str | Address | tuple[str, int]


def peer_text(family: int, sockaddr: object) -> str:
    """``host:port`` (``[v6]:port``, ``unix:/path``) of a socket address, as ``Address`` writes
    it; ``"peer"`` for an unnamed one (the client end of a UNIX socket)."""
    if isinstance(sockaddr, tuple):
        return str(Address(family, str(sockaddr[0]), int(sockaddr[1])))
    if isinstance(sockaddr, str | bytes) and sockaddr:
        return str(Address(family, os.fsdecode(sockaddr)))
    return "peer"


def parse_address(text: str, default_port: int = DEFAULT_PORT) -> Address:
    """Parse ``host``, ``host:port``, ``[v6]:port``, ``v6`` or ``unix:/path``."""
    if text.startswith("unix:"):
        path = text[5:]
        if not path:
            raise ConfigError(f"empty unix socket path in {text!r}")
        return Address(socket.AF_UNIX, path)
    host, port = text, default_port
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ConfigError(f"bad address {text!r}: missing ']'")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ConfigError(f"bad address {text!r}")
            port = _port(rest[1:], text)
        return Address(socket.AF_INET6, host, port)
    if text.count(":") == 1:
        host, p = text.split(":")
        port = _port(p, text)
    elif text.count(":") > 1:
        return Address(socket.AF_INET6, text, default_port)
    if not host:
        raise ConfigError(f"bad address {text!r}: no host")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return Address(family, host, port)


def _port(text: str, whole: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise ConfigError(f"bad port in address {whole!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"port out of range in address {whole!r}")
    return port


def resolve(address: Address) -> Address:
    """Resolve a host name to a numeric address (first result), keeping the family hint."""
    if address.family == socket.AF_UNIX:
        return address
    try:
        infos = socket.getaddrinfo(address.host, address.port, 0, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot resolve {address.host!r}: {exc.strerror}") from None
    family, _, _, _, sockaddr = infos[0]
    return Address(family, str(sockaddr[0]), address.port)


def apply_options(sock: socket.socket, options: SocketOptions, *, listening: bool = False) -> None:
    """Set TCP_NODELAY, keepalive and buffer sizes as configured (TCP sockets only)."""
    if sock.family == socket.AF_UNIX:
        if options.window_size > 0:
            _buffers(sock, options)
        return
    if options.nodelay:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if options.keepalive and not listening:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(1, options.keepalive_time))
        sock.setsockopt(
            socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, options.keepalive_interval)
        )
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, max(1, options.keepalive_count))
    _buffers(sock, options)


def _buffers(sock: socket.socket, options: SocketOptions) -> None:
    if options.window_size > 0:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, options.window_size)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, options.window_size)
    if options.send_buffer > 0:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, options.send_buffer)
