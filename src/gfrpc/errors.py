"""The one exception tree of gfrpc.

    GfrpcError
    ├── ProtocolError
    │   ├── LocalProtocolError     we misused a codec or API (a bug on our side)
    │   └── RemoteProtocolError    the peer sent bytes that break the protocol
    ├── TransportError (also OSError, with an errno)
    │   ├── NotConnectedError      errno ENOTCONN: the connection is gone or never was
    │   │   └── PeerClosedError    the peer closed in order (EOF, TLS close_notify)
    │   ├── TLSError               handshake or record-layer failure, or a refused certificate
    │   └── TimeoutError_          errno ETIMEDOUT (frame-timeout, ping-timeout, connect)
    ├── RpcError                   the peer answered with an RPC-level failure (accept/reject stat)
    └── ConfigError                bad options or files given by the user

OS errors are translated into this tree once, at the transport boundary.
"""

from __future__ import annotations

import errno as _errno


class GfrpcError(Exception):
    """Base of every error raised by gfrpc."""


class ProtocolError(GfrpcError):
    """A protocol rule was broken."""


class LocalProtocolError(ProtocolError):
    """We tried to encode or send something the protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow; its connection is cut off."""


class TransportError(GfrpcError, OSError):
    """A connection-level failure. ``errno`` carries the POSIX code."""

    default_errno = _errno.EIO

    def __init__(self, message: str = "", errno: int | None = None) -> None:
        code = self.default_errno if errno is None else errno
        OSError.__init__(self, code, message)
        self.message = message

    def __str__(self) -> str:
        return self.message or _errno.errorcode.get(self.errno or 0, "transport error")


class NotConnectedError(TransportError):
    """The connection is closed (EOF, reset, protocol error, TLS error or local close)."""

    default_errno = _errno.ENOTCONN


class PeerClosedError(NotConnectedError):
    """The peer closed the connection in order (EOF, or a TLS close_notify).

    A ``NotConnectedError`` (errno ENOTCONN) like every lost connection; its own type only so
    that an orderly close is logged as routine.
    """


class TLSError(TransportError):
    """A TLS handshake or record-layer failure, or a peer certificate that is refused."""

    default_errno = _errno.ECONNABORTED


class TimeoutError_(TransportError):
    """A call, connect or ping did not complete in time."""

    default_errno = _errno.ETIMEDOUT


class RpcError(GfrpcError):
    """The peer replied with an RPC failure (MSG_DENIED or accept_stat != SUCCESS)."""

    def __init__(
        self, message: str, *, stat: str, low: int | None = None, high: int | None = None
    ) -> None:
        super().__init__(message)
        self.stat = stat
        self.low = low
        self.high = high


class ConfigError(GfrpcError):
    """Options or files given by the user are wrong (missing cert, bad address, ...)."""
