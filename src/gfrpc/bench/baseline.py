"""The bare-socket baseline: what plain CPython does with blocking sockets and no RPC.

One thread per connection on both sides. A message is a 4-byte big-endian length and the
payload (1 MiB by default); the server reads it whole into a preallocated buffer and answers
16 bytes. With TLS both sides wrap their sockets with ``SSLContext.wrap_socket`` using the
same contexts (same certificates, TLS 1.3, default suites) as the gfrpc cells. The client
keeps ``window`` messages in flight per connection (1 by default), like the RPC cells.

This is the yardstick of ``bench-transport``: the RPC cells are reported as a ratio to it.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass

LENGTH = struct.Struct(">I")
REPLY_SIZE = 16
MAX_MESSAGE = 64 << 20


def _recv_exact(sock: socket.socket, view: memoryview) -> bool:
    """Fill ``view``; False on EOF before the first byte, raises on EOF in the middle."""
    got, need = 0, len(view)
    while got < need:
        n = sock.recv_into(view[got:])
        if n == 0:
            if got == 0:
                return False
            raise ConnectionError("EOF in the middle of a message")
        got += n
    return True


def _nodelay(sock: socket.socket) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


# -- how much to send (shared with the gfrpc load) ---------------------------------------


class Budget:
    """Shared stop rule of one run: a deadline and/or a number of calls (thread-safe)."""

    def __init__(self, stop_at: float, calls: int | None) -> None:
        self.stop_at = stop_at
        self.calls = calls
        self._lock = threading.Lock()

    @classmethod
    def make(cls, t0: float, seconds: float | None, max_bytes: int | None, payload: int) -> Budget:
        stop_at = t0 + seconds if seconds is not None else float("inf")
        calls = -(-max_bytes // payload) if max_bytes is not None else None
        return cls(stop_at, calls)

    def take(self) -> bool:
        """May one more call be started?"""
        if time.monotonic() >= self.stop_at:
            return False
        if self.calls is None:
            return True
        with self._lock:
            if self.calls <= 0:
                return False
            self.calls -= 1
            return True


class BaselineServer:
    """Blocking accept loop; each connection is served by a thread of its own."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        self._tls = tls
        self._sock = socket.create_server((host, port), backlog=1024)
        self.port = self._sock.getsockname()[1]

    def start(self) -> None:
        threading.Thread(target=self._accept_loop, name="baseline-accept", daemon=True).start()

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            _nodelay(conn)
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
            head = memoryview(bytearray(LENGTH.size))
            buf = memoryview(bytearray(1 << 20))
            reply = bytes(REPLY_SIZE)
            while _recv_exact(conn, head):
                (n,) = LENGTH.unpack(head)
                if n > MAX_MESSAGE:
                    return
                if n > len(buf):
                    buf = memoryview(bytearray(n))
                _recv_exact(conn, buf[:n])
                conn.sendall(reply)
        except (OSError, ConnectionError):
            pass
        finally:
            conn.close()


@dataclass(eq=False)
class Load:
    """What every load of bench-transport is given: the server's ``host`` and ``port``, how
    many ``connections``, the client TLS context, the payload per call and the calls in
    flight per connection (``window``, at least 1)."""

    host: str
    port: int
    connections: int
    tls: ssl.SSLContext | None
    payload_size: int
    window: int = 1

    def __post_init__(self) -> None:
        self.window = max(1, self.window)

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)


class BaselineLoad(Load):
    """``connections`` blocking client threads against a BaselineServer."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._message = LENGTH.pack(self.payload_size) + bytes(self.payload_size)
        self._socks: list[socket.socket] = []
        self.cipher: tuple[str, str, int] | None = None
        self.tls_version: str | None = None

    def prepare(self, timeout: float = 10.0) -> None:
        """Connect every connection (TLS handshake included) and do one exchange on each."""
        for _ in range(self.connections):
            sock = socket.create_connection(self.address, timeout=timeout)
            _nodelay(sock)
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=False)
                self.cipher = sock.cipher()
                self.tls_version = sock.version()
            sock.settimeout(None)
            self._socks.append(sock)
        reply = memoryview(bytearray(REPLY_SIZE))
        for sock in self._socks:
            sock.sendall(self._message)
            if not _recv_exact(sock, reply):
                raise ConnectionError("baseline server closed the connection")

    def run(self, seconds: float | None, max_bytes: int | None = None) -> tuple[int, float]:
        """Send until the budget is spent; return (payload bytes acknowledged, elapsed)."""
        counts = [0] * len(self._socks)
        ends = [0.0] * len(self._socks)
        errors: list[BaseException] = []
        start = threading.Barrier(len(self._socks) + 1)
        budget = [Budget(0.0, 0)]

        def worker(i: int, sock: socket.socket) -> None:
            reply = memoryview(bytearray(REPLY_SIZE))
            message = self._message
            try:
                start.wait()
                take = budget[0].take
                inflight = 0
                while inflight < self.window and take():
                    sock.sendall(message)
                    inflight += 1
                done = 0
                while inflight:
                    if not _recv_exact(sock, reply):
                        raise ConnectionError("baseline server closed the connection")
                    inflight -= 1
                    done += 1
                    if take():
                        sock.sendall(message)
                        inflight += 1
                counts[i] = done
                ends[i] = time.monotonic()
            except BaseException as exc:  # noqa: B036 - reported to the caller
                errors.append(exc)

        threads = [
            threading.Thread(target=worker, args=(i, s), daemon=True)
            for i, s in enumerate(self._socks)
        ]
        for t in threads:
            t.start()
        t0 = time.monotonic()
        budget[0] = Budget.make(t0, seconds, max_bytes, self.payload_size)
        start.wait()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return sum(counts) * self.payload_size, max(ends) - t0

    def close(self) -> None:
        for sock in self._socks:
            try:
                sock.close()
            except OSError:
                pass
        self._socks.clear()
