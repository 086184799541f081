"""A listening socket driven by a poller like any endpoint: each accept makes an Endpoint.

With a ``guard`` (``limits.py``) a connection over ``max-connections`` is accepted and closed at
once, with a rate-limited log line, instead of being left to run the process out of fds; and
each endpoint gets the guard, for the server's timeouts and memory budget.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import struct
import threading
from collections.abc import Callable

from gfrpc.transport.endpoint import Endpoint
from gfrpc.transport.lifecycle import ConnectionHandler
from gfrpc.transport.limits import ConnectionGuard
from gfrpc.transport.options import Address, SocketOptions, apply_options
from gfrpc.transport.pollers.base import Poller

log = logging.getLogger("gfrpc.transport")

_ACCEPTS_PER_EVENT = 64


class Listener:
    """Accepts connections; gives each a fresh handler from ``handler_factory``."""

    def __init__(
        self,
        sock: socket.socket,
        address: Address,
        *,
        poller: Poller,
        handler_factory: Callable[[], ConnectionHandler],
        options: SocketOptions,
        tls: ssl.SSLContext | None = None,
        tls_check: Callable[[ssl.SSLObject], None] | None = None,
        guard: ConnectionGuard | None = None,
    ) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._fd = sock.fileno()
        self.address = address
        self._poller = poller
        self._factory = handler_factory
        self._options = options
        self._tls = tls
        self._tls_check = tls_check
        self.guard = guard
        self._closing = False
        self.closed = threading.Event()

    def fileno(self) -> int:
        return self._fd

    def interest(self) -> tuple[bool, bool]:
        return True, False

    def abort(self, reason: Exception) -> None:
        self.close()

    def close(self, wait: float | None = 5.0) -> None:
        """Stop accepting; connections already made go on."""
        if not self._closing:
            self._closing = True
            self._poller.kick(self)
        if wait:
            self.closed.wait(wait)

    def handle_events(self, readable: bool, writable: bool, error: bool) -> bool:
        if self._closing:
            return False
        if not readable:
            return True
        for _ in range(_ACCEPTS_PER_EVENT):
            try:
                conn, _addr = self._sock.accept()
            except BlockingIOError:
                break
            except OSError as exc:  # EMFILE, ECONNABORTED...: keep listening
                log.warning("accept failed: %s", exc.strerror or exc)
                break
            guard = self.guard
            if guard is not None and not guard.try_admit():
                _refuse(conn)
                continue
            ep: Endpoint | None = None
            try:
                apply_options(conn, self._options)
                ep = Endpoint(
                    conn,
                    handler=self._factory(),
                    poller=self._poller,
                    options=self._options,
                    tls=self._tls,
                    tls_check=self._tls_check,
                    server_side=True,
                    guard=guard,
                )
                self._poller.register(ep)
            except Exception as exc:
                log.warning("dropping accepted connection: %s", exc)
                if ep is not None:
                    ep.finalize()  # closes the socket and gives back its guard slot
                else:
                    conn.close()
                    if guard is not None:
                        guard.detach(None)
        return True

    def finalize(self) -> None:
        self._sock.close()
        if self.address.family == socket.AF_UNIX:
            try:
                os.unlink(self.address.host)
            except OSError:
                pass
        self.closed.set()


def _refuse(conn: socket.socket) -> None:
    """Close an accepted connection at once, with a reset rather than a lingering FIN."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    conn.close()
