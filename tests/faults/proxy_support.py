"""A loopback TCP proxy that puts network faults between a client and a server.

Theory of operation. Each connection accepted on the proxy's port gets its own connection to
the target and becomes a :class:`Pipe` with two relay threads: ``up`` (client → server) and
``down`` (server → client). A relay reads what its source sends and writes it to its sink
according to the *current* state of its direction:

* **pass**: relay as read (up to 64 KiB per ``send``);
* **trickle**: one byte per ``send`` on a TCP_NODELAY socket, with a short pause between
  bytes, so the receiver sees the stream in many tiny segments (record marks, RPC headers and
  TLS records all split at every possible byte);
* **stall**: read nothing and send nothing until the stall ends. The kernel buffers fill and
  the sender blocks: a frozen network path, as both ends see it;
* **cut after N bytes**: relay exactly N more bytes in that direction, then reset the pipe
  (both sockets closed with SO_LINGER 0, so both ends get an RST): a cut in the middle of a
  record, at a byte chosen by the test.

Fault actions (:meth:`FaultProxy.cut`, ``trickle``, ``stall``, ``half_close``) apply to the
pipes alive at that moment; connections made later pass untouched, so a client's reconnect
gets through. An EOF or a reset from one end is passed on to the other (EOF as
``shutdown(SHUT_WR)``, reset as reset), so a server that dies behind the proxy looks to the
client as it would without it.

The relays poll their sockets with ``select`` every 50 ms, so they notice a fault or a close
without anyone closing a socket under a blocked thread (an fd closed by another thread can be
reused under the reader). Sockets are closed only by :meth:`Pipe._finish`, after both relays
ended. Every thread is named ``faultproxy-...`` and :meth:`FaultProxy.close` joins them all.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

DIRECTIONS = ("up", "down")
_TICK = 0.05
_CHUNK = 65536


class _Direction:
    """State of one direction of a pipe (guarded by the pipe's condition)."""

    def __init__(self) -> None:
        self.trickle_delay: float | None = None
        self.stall_until = 0.0
        self.cut_after: int | None = None  # bytes still to relay before the reset
        self.relayed = 0
        self.sends = 0
        self.trickled = 0  # bytes sent one per send because trickling was on
        self.eof = False


class Pipe:
    """One proxied connection: ``client`` socket (accepted) and ``server`` socket (to the
    target), relayed by two threads."""

    def __init__(
        self, proxy: FaultProxy, client: socket.socket, server: socket.socket, number: int
    ) -> None:
        self.proxy = proxy
        self.client = client
        self.server = server
        self.number = number
        self.cond = threading.Condition()
        self.dirs = {d: _Direction() for d in DIRECTIONS}
        self.closing = False
        self.reset = False
        self.closed = threading.Event()
        self._ended = 0
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.settimeout(_TICK)
        self.threads = [
            threading.Thread(
                target=self._relay,
                args=("up", client, server),
                name=f"faultproxy-{number}-up",
                daemon=True,
            ),
            threading.Thread(
                target=self._relay,
                args=("down", server, client),
                name=f"faultproxy-{number}-down",
                daemon=True,
            ),
        ]
        for t in self.threads:
            t.start()

    # -- fault actions ----------------------------------------------------------------------
    def abort(self, reset: bool = True) -> None:
        """End the pipe now; with ``reset`` both ends get an RST, else an orderly close."""
        with self.cond:
            self.closing = True
            self.reset = self.reset or reset
            self.cond.notify_all()

    def _directions(self, direction: str) -> list[_Direction]:
        if direction == "both":
            return list(self.dirs.values())
        return [self.dirs[direction]]

    def set_trickle(self, delay: float | None, direction: str) -> None:
        with self.cond:
            for d in self._directions(direction):
                d.trickle_delay = delay
            self.cond.notify_all()

    def set_stall(self, seconds: float, direction: str) -> None:
        with self.cond:
            for d in self._directions(direction):
                d.stall_until = time.monotonic() + seconds
            self.cond.notify_all()

    def set_cut_after(self, nbytes: int, direction: str) -> None:
        with self.cond:
            for d in self._directions(direction):
                d.cut_after = nbytes
            self.cond.notify_all()
        if nbytes == 0:
            self.abort(reset=True)

    def half_close(self, direction: str) -> None:
        """Stop relaying ``direction`` and send its receiver a FIN (``shutdown(SHUT_WR)`` of
        the sink); the other direction goes on."""
        with self.cond:
            d = self.dirs[direction]
            if d.eof:
                return
            d.eof = True
            self.cond.notify_all()
        sink = self.client if direction == "down" else self.server
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def relayed(self, direction: str) -> int:
        with self.cond:
            return self.dirs[direction].relayed

    def sends(self, direction: str) -> int:
        with self.cond:
            return self.dirs[direction].sends

    def trickled(self, direction: str) -> int:
        """Bytes of ``direction`` sent alone (one per ``send``) while trickling."""
        with self.cond:
            return self.dirs[direction].trickled

    # -- relays -----------------------------------------------------------------------------
    def _wait_unstalled(self, d: _Direction) -> bool:
        """Block while ``d`` is stalled; False once the pipe is closing or ``d`` ended."""
        with self.cond:
            while not self.closing and not d.eof:
                left = d.stall_until - time.monotonic()
                if left <= 0:
                    return True
                self.cond.wait(min(left, _TICK))
            return False

    def _relay(self, name: str, src: socket.socket, sink: socket.socket) -> None:
        d = self.dirs[name]
        try:
            while self._wait_unstalled(d):
                ready, _, _ = select.select([src], [], [], _TICK)
                if not ready:
                    continue
                try:
                    data = src.recv(_CHUNK)
                except (TimeoutError, BlockingIOError):
                    continue
                except OSError:  # reset by that end: pass the reset on
                    self.abort(reset=True)
                    break
                if not data:  # EOF from that end: pass it on, keep the other direction
                    self.half_close(name)
                    break
                if not self._send(d, sink, memoryview(data)):
                    break
        finally:
            self._ended_one()

    def _send(self, d: _Direction, sink: socket.socket, view: memoryview) -> bool:
        while view.nbytes:
            if not self._wait_unstalled(d):
                return False
            with self.cond:
                delay, budget = d.trickle_delay, d.cut_after
            if budget == 0:
                self.abort(reset=True)
                return False
            size = 1 if delay is not None else view.nbytes
            if budget is not None:
                size = min(size, budget)
            try:
                n = sink.send(view[:size])
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                self.abort(reset=True)
                return False
            view = view[n:]
            with self.cond:
                d.relayed += n
                d.sends += 1
                if delay is not None:
                    d.trickled += n
                if d.cut_after is not None:
                    d.cut_after -= n
            if delay:
                time.sleep(delay)
        with self.cond:
            if d.cut_after == 0:
                self.closing = self.reset = True
                return False
        return True

    def _ended_one(self) -> None:
        with self.cond:
            self._ended += 1
            if self._ended == 1:
                # one direction ended: EOF passed on, the other may still run, unless closing
                both_eof = all(x.eof for x in self.dirs.values())
                if not (self.closing or both_eof):
                    return
                self.closing = True
                self.cond.notify_all()
                return
        self._finish()

    def _finish(self) -> None:
        for s in (self.client, self.server):
            try:
                if self.reset:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            except OSError:
                pass
        self.closed.set()
        self.proxy._forget(self)


class FaultProxy:
    """Listen on ``host``:0 and relay every connection to ``target`` (see the module essay)."""

    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.target = target
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(_TICK)
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._lock = threading.Lock()
        self._pipes: list[Pipe] = []
        self._all: list[Pipe] = []
        self._closing = False
        self._accepted = threading.Condition(self._lock)
        self._thread = threading.Thread(
            target=self._accept_loop, name="faultproxy-accept", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def pipes(self) -> list[Pipe]:
        """The pipes alive now, oldest first."""
        with self._lock:
            return list(self._pipes)

    @property
    def connections(self) -> int:
        """How many connections were accepted so far."""
        with self._lock:
            return len(self._all)

    def wait_for_connections(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` connections were accepted in total."""
        with self._accepted:
            return self._accepted.wait_for(lambda: len(self._all) >= count, timeout)

    # -- faults on the pipes alive now ------------------------------------------------------
    def cut(self, *, after: int = 0, direction: str = "down") -> None:
        """Reset every live pipe, at once or after ``after`` more bytes in ``direction``."""
        for p in self.pipes:
            p.set_cut_after(after, direction)

    def trickle(self, delay: float | None = 0.0, direction: str = "both") -> None:
        """One byte per send (``delay`` seconds apart) on live pipes; None = back to normal."""
        for p in self.pipes:
            p.set_trickle(delay, direction)

    def stall(self, seconds: float, direction: str = "both") -> None:
        """Relay nothing on live pipes for ``seconds`` (0 ends a stall)."""
        for p in self.pipes:
            p.set_stall(seconds, direction)

    def half_close(self, direction: str) -> None:
        """shutdown(SHUT_WR) towards the receiver of ``direction`` on live pipes."""
        for p in self.pipes:
            p.half_close(direction)

    # -- life cycle -------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while True:
            with self._lock:
                if self._closing:
                    return
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            with self._lock:
                if self._closing:
                    client.close()
                    server.close()
                    return
                pipe = Pipe(self, client, server, len(self._all))
                self._pipes.append(pipe)
                self._all.append(pipe)
                self._accepted.notify_all()

    def _forget(self, pipe: Pipe) -> None:
        with self._lock:
            if pipe in self._pipes:
                self._pipes.remove(pipe)

    def close(self, timeout: float = 10.0) -> None:
        """Stop accepting, end every pipe (orderly), join every thread."""
        with self._lock:
            self._closing = True
            pipes = list(self._all)
        self._thread.join(timeout)
        self._listener.close()
        for p in pipes:
            p.abort(reset=False)
        for p in pipes:
            for t in p.threads:
                t.join(timeout)
            assert p.closed.wait(timeout), f"proxy pipe {p.number} did not close"

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def fault_proxy(target: tuple[str, int]) -> Iterator[FaultProxy]:
    """A running :class:`FaultProxy` to ``target``, closed (threads joined) afterwards."""
    proxy = FaultProxy(target)
    try:
        yield proxy
    finally:
        proxy.close()
