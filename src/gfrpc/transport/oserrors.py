"""OS errors become gfrpc errors once, here at the transport's boundary."""

from __future__ import annotations

import errno
import ssl
from collections.abc import Callable

from gfrpc.errors import NotConnectedError, TLSError, TransportError


def safe(fn: Callable[[], object]) -> object:
    try:
        return fn()
    except OSError:
        return None


def translate(exc: OSError) -> TransportError:
    """OS errors become gfrpc errors once, here at the boundary."""
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, ssl.SSLError):
        return TLSError(f"TLS error: {exc.reason or exc}")
    code = exc.errno or errno.EIO
    name = {
        errno.ECONNRESET: "connection reset by peer",
        errno.EPIPE: "broken pipe",
        errno.ECONNREFUSED: "connection refused",
        errno.ETIMEDOUT: "connection timed out",
    }.get(code, exc.strerror or str(exc))
    return NotConnectedError(name)
