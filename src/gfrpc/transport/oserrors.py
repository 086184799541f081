"""OS errors become gfrpc errors once, here at the transport's boundary."""

from __future__ import annotations

import errno
import os
import socket
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


def hangup_is_real(sock: socket.socket, input_paused: bool) -> bool:
    """Whether an error/hang-up event really belongs to ``sock``.

    epoll reports events by fd number. Between one thread's ``epoll_wait`` and its look-up of
    the fd, another thread may retire the old connection, close its fd, and a new connection
    may get the same number: the old HUP then arrives at the new endpoint. So the flag is only
    believed when the socket agrees: a pending error (raised here, translated), an EOF, or
    unread data while reading is paused (it would only spin). A socket that would just block
    on a read has no hang-up, and the event is ignored.
    """
    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code:
        raise translate(OSError(code, os.strerror(code)))
    try:
        peeked = sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return False
    except OSError as exc:
        raise translate(exc) from None
    return not peeked or input_paused
