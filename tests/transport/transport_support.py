"""Shared helpers of the transport tests."""

from __future__ import annotations

import os
import random
import socket
import ssl
import struct
import threading
from typing import NamedTuple

from gfrpc.transport import Endpoint, SocketOptions
from gfrpc.transport.baton import BATON
from gfrpc.transport.tls import TLSSession


class Recorder:
    """A ConnectionHandler that records what happens, with events to wait on."""

    def __init__(self, reply: bool = False) -> None:
        self.reply = reply
        self.records: list[bytes] = []
        self.made = threading.Event()
        self.lost = threading.Event()
        self.lost_count = 0
        self.lost_exc: Exception | None = None
        self.endpoint: Endpoint | None = None
        self.cond = threading.Condition()
        self.threads: set[str] = set()

    def connection_made(self, ep: Endpoint) -> None:
        self.endpoint = ep
        self.made.set()

    def record_received(self, ep: Endpoint, record: memoryview) -> None:
        self.threads.add(threading.current_thread().name)
        data = bytes(record)
        if self.reply:
            ep.submit(data[:8], b"ok")
        with self.cond:
            self.records.append(data)
            self.cond.notify_all()

    def connection_lost(self, ep: Endpoint, exc: Exception) -> None:
        self.lost_count += 1
        self.lost_exc = exc
        self.lost.set()

    def wait_records(self, n: int, timeout: float = 20.0) -> list[bytes]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.records) >= n, timeout), (
                f"got {len(self.records)} of {n} records"
            )
            return list(self.records)


class ManualPoller:
    """A poller that never runs anything: the test plays the handling thread."""

    name = "manual"

    def start(self) -> None: ...

    def register(self, pollable: object) -> None: ...

    def kick(self, pollable: object) -> None: ...

    def stop(self, timeout: float = 5.0) -> None: ...

    def pollable_count(self) -> int:
        return 0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class Accepted:
    """The server-side handlers made so far, in accept order; ``get(i)`` waits for one."""

    def __init__(self, factory) -> None:
        self._factory = factory
        self._items: list[Recorder] = []
        self._cond = threading.Condition()

    def __call__(self) -> Recorder:
        r = self._factory()
        with self._cond:
            self._items.append(r)
            self._cond.notify_all()
        return r

    def get(self, i: int = 0, timeout: float = 10.0) -> Recorder:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self._items) > i, timeout), "not accepted"
            return self._items[i]

    def __iter__(self):
        with self._cond:
            return iter(list(self._items))

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


class BatonRecorder(Recorder):
    """A Recorder that also notes, per record, whether its thread held the baton."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[bool] = []

    def record_received(self, ep: Endpoint, record: memoryview) -> None:
        self.held.append(BATON.held())
        super().record_received(ep, record)


def huge(seed: int) -> bytes:
    """A 1 MiB record body: bigger than a read buffer by more than BIG, so the rest of it is
    always read with the baton handed over, however it arrives."""
    return random.Random(seed).randbytes(1 << 20)


def one_by_one(ep: Endpoint, server: Recorder, k: int, first: int, count: int) -> None:
    """Send ``count`` small records tagged ``k`` on ``ep``, each after the one before has
    arrived, so that each takes a handling of its own on the server's side."""
    for i in range(first, first + count):
        ep.submit(struct.pack(">II", k, i), b"small")
        server.wait_records(i + 1)


class TLSEndpoint(NamedTuple):
    """A server endpoint on a ``ManualPoller`` (the test plays the handling thread) and the
    client's side of its TLS session, driven from the test."""

    ep: Endpoint
    handler: Recorder
    client: ssl.SSLObject  # the client's session
    incoming: ssl.MemoryBIO  # what the client reads: ciphertext from ``peer``
    outgoing: ssl.MemoryBIO  # what the client wrote: ciphertext for ``peer``
    peer: socket.socket  # the client's socket (the endpoint's is its pair), non-blocking


def tls_endpoint_unopened(
    tls_pair: tuple[ssl.SSLContext, ssl.SSLContext], handler: Recorder | None = None
) -> TLSEndpoint:
    """A ``TLSEndpoint`` whose handshake has not begun (``finish_handshake`` does it)."""
    server_ctx, client_ctx = tls_pair
    ours, peer = socket.socketpair()
    peer.setblocking(False)
    handler = handler if handler is not None else Recorder()
    ep = Endpoint(
        ours,
        handler=handler,
        poller=ManualPoller(),  # type: ignore[arg-type]
        options=SocketOptions(),
        tls=server_ctx,
        server_side=True,
    )
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(incoming, outgoing, server_hostname="server.test")
    return TLSEndpoint(ep, handler, client, incoming, outgoing, peer)


def finish_handshake(t: TLSEndpoint, *, server_too: bool = True) -> None:
    """Drive the TLS handshake between the test's client session and the endpoint, until
    both ends are done (``server_too=False``: until the client is; the endpoint then still
    waits for the client's Finished, not yet sent)."""
    for _ in range(20):
        try:
            t.client.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            done = False
        if done and not server_too:
            return
        if t.outgoing.pending:
            t.peer.sendall(t.outgoing.read())
        assert t.ep.handle_events(True, False, False)
        try:
            t.incoming.write(t.peer.recv(1 << 20))
        except BlockingIOError:
            pass
        if done and t.handler.made.is_set():
            return
    raise AssertionError("the handshake did not complete")


def open_tls_endpoint(
    tls_pair: tuple[ssl.SSLContext, ssl.SSLContext], handler: Recorder | None = None
) -> TLSEndpoint:
    """A ``TLSEndpoint`` whose handshake is complete."""
    t = tls_endpoint_unopened(tls_pair, handler)
    finish_handshake(t)
    return t


def session_pair(tls_pair: tuple[ssl.SSLContext, ssl.SSLContext]) -> tuple[TLSSession, TLSSession]:
    """A server and a client ``TLSSession``, handshake done by passing bytes by hand."""
    server_ctx, client_ctx = tls_pair
    server, client = TLSSession(server_ctx, True), TLSSession(client_ctx, False)
    for _ in range(10):
        done_c = client.handshake_step()
        for v in client.take_output():
            server.feed(v)
        done_s = server.handshake_step()
        for v in server.take_output():
            client.feed(v)
        if done_c and done_s:
            break
    assert client.handshake_step() and server.handshake_step()
    return server, client
