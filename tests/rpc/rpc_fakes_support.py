"""Fakes for the rpc tests: an endpoint driven by its own "poller" thread, and a fake peer.

``FakeEndpoint`` mimics the transport contract: handler callbacks run serially on one thread
(named ``fake-poller``), ``connection_lost`` is delivered exactly once after ``close``, and
``submit`` is thread-safe and raises NotConnectedError once closed.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from gfrpc.errors import NotConnectedError
from gfrpc.programs import dump as gfdump
from gfrpc.wire import rpcmsg


class FakeEndpoint:
    def __init__(
        self, handler: Any, peername: Any = ("127.0.0.1", 40000), peer_cn: str | None = None
    ):
        self.handler = handler
        self.peername = peername
        self.peer_cn = peer_cn
        self.sockname = ("127.0.0.1", 24007)
        self.sent: queue.Queue[bytes] = queue.Queue()
        self.close_exc: Exception | None = None
        self.closed_event = threading.Event()
        self.lost_event = threading.Event()
        self.paused = False
        self.pause_log: list[str] = []
        #: the unread tail of the record being delivered (``feed_with_tail``), as the endpoint's
        self.unread_tail: Any = None
        self._lock = threading.Lock()
        self._closed = False
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="fake-poller", daemon=True)
        self.thread.start()

    # transport API used by rpc/
    @property
    def closed(self) -> bool:
        return self._closed

    def submit(self, *parts: bytes | bytearray | memoryview, on_sent: Any = None) -> None:
        with self._lock:
            if self._closed:
                raise NotConnectedError("fake endpoint closed")
            self.sent.put(b"".join(bytes(p) for p in parts))
        if on_sent is not None:  # "written to the kernel" at once
            on_sent()

    def close(self, exc: Exception | None = None) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.close_exc = exc
        self.closed_event.set()
        self._events.put(("lost", exc or NotConnectedError("closed locally")))

    def peer_text(self) -> str:
        p = self.peername
        return f"{p[0]}:{p[1]}" if isinstance(p, tuple) else str(p or "peer")

    def borrow_input(self) -> bool:
        """Lends nothing: replies come on the fake poller thread."""
        return False

    def limit_unsent_parts(self, count: int) -> None:
        """Nothing waits unsent here (``submit`` sends at once): the limit is kept, unused."""
        self.unsent_limit = count

    def peer_host(self) -> str:
        return str(self.peername[0]) if isinstance(self.peername, tuple) else "unix"

    def unsent_for(self, now: float) -> float:
        return 0.0  # ``submit`` sends at once

    def replies_queued(self) -> bool:
        return False  # ``submit`` sends at once

    def pause_reading(self) -> None:
        self.paused = True
        self.pause_log.append("pause")

    def resume_reading(self) -> None:
        self.paused = False
        self.pause_log.append("resume")

    # test side
    def start(self) -> None:
        """Deliver connection_made on the fake poller thread and wait for it."""
        done = threading.Event()
        self._events.put(("made", done))
        assert done.wait(5)

    def feed(self, record: bytes) -> None:
        self._events.put(("record", record))

    def feed_with_tail(self, record: memoryview, tail: Any) -> None:
        """Deliver ``record`` with its end still in a socket (``transport/tail.py``), then read
        what the handler left of it, as the endpoint does."""
        self._events.put(("tail", (record, tail)))

    def peer_close(self, reason: str = "EOF from peer") -> None:
        self.close(NotConnectedError(reason))

    def next_sent(self, timeout: float = 5.0) -> bytes:
        return self.sent.get(timeout=timeout)

    def sync(self) -> None:
        """Wait until every event fed so far has been handled."""
        done = threading.Event()
        self._events.put(("sync", done))
        assert done.wait(5)

    def _loop(self) -> None:
        while True:
            kind, arg = self._events.get()
            if kind == "made":
                self.handler.connection_made(self)
                arg.set()
            elif kind == "record":
                if not self._closed:
                    self.handler.record_received(self, memoryview(arg))
            elif kind == "tail":
                record, tail = arg
                self.unread_tail = tail
                try:
                    self.handler.record_received(self, record)
                finally:
                    self.unread_tail = None
                tail.fill()
            elif kind == "sync":
                arg.set()
            elif kind == "lost":
                self.handler.connection_lost(self, arg)
                self.lost_event.set()
                return


def call_message(
    xid: int,
    prog: int,
    vers: int,
    proc: int,
    args: bytes = b"",
    cred: Any = rpcmsg.AUTH_NONE,
    verf: Any = rpcmsg.AUTH_NONE,
) -> bytes:
    return rpcmsg.encode_call(xid, prog, vers, proc, cred=cred, verf=verf) + args


def reply_message(xid: int, body: bytes = b"") -> bytes:
    return rpcmsg.encode_accepted_reply(xid) + body


class FakeConnector:
    """Stands in for ``gfrpc.transport.connect``: every connect makes a FakeEndpoint."""

    def __init__(self) -> None:
        self.endpoints: list[FakeEndpoint] = []
        self.refuse = False
        self.connected = threading.Condition()
        self.calls = 0

    def __call__(
        self,
        address: Any,
        *,
        poller: Any,
        handler: Any,
        tls: Any = None,
        timeout: float = 10.0,
        **kw: Any,
    ) -> FakeEndpoint:
        with self.connected:
            self.calls += 1
            self.connected.notify_all()
        if self.refuse:
            raise NotConnectedError("connection refused")
        ep = FakeEndpoint(handler)
        ep.start()
        with self.connected:
            self.endpoints.append(ep)
            self.connected.notify_all()
        return ep

    def wait_for(self, count: int, timeout: float = 10.0) -> FakeEndpoint:
        with self.connected:
            assert self.connected.wait_for(lambda: len(self.endpoints) >= count, timeout)
            return self.endpoints[count - 1]


def sent_call(ep: FakeEndpoint, timeout: float = 5.0) -> tuple[Any, bytes]:
    header, body = rpcmsg.decode_message(ep.next_sent(timeout))
    assert isinstance(header, rpcmsg.CallHeader)
    return header, bytes(body)


def next_user_call(ep: FakeEndpoint, timeout: float = 5.0) -> tuple[Any, bytes]:
    """The next CALL that is not one of the client's own PINGs."""
    while True:
        header, body = sent_call(ep, timeout)
        if (header.prog, header.proc) != (gfdump.GF_DUMP_PROGRAM, gfdump.PING):
            return header, body


def start_echo(ep: FakeEndpoint) -> threading.Thread:
    """A fake peer that answers every CALL with its arguments, until the endpoint closes."""

    def run() -> None:
        while not ep.closed:
            try:
                raw = ep.sent.get(timeout=0.05)
            except queue.Empty:
                continue
            header, body = rpcmsg.decode_message(raw)
            ep.feed(reply_message(header.xid, bytes(body)))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t
