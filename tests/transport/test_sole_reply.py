"""The ping-pong reply (``EndpointOutput._send_sole_reply``): one small reply made by the
delivering thread, with nothing queued before it, goes straight to the kernel. These tests
hold it to what the out-queue guarantees for every other reply: the bytes arrive whole and in
order, ``on_sent`` fires exactly once and only after the last byte went to the kernel, what
the kernel does not take waits in the queue, and a failed write closes the connection with
``on_sent`` still called once, with and without TLS. With TLS every corked reply is also its
own TLS write: GlusterFS never reads a second message out of one TLS record."""

from __future__ import annotations

import socket
import struct
import threading

import pytest
from transport_support import Accepted, Recorder

from gfrpc.errors import TLSError
from gfrpc.transport import endpoint_output, listen
from gfrpc.transport.outqueue import OutQueue
from gfrpc.transport.tls import TLSSession

pytestmark = pytest.mark.timeout(60)

MARK = 0x80000000


class Replier(Recorder):
    """Answers each record with its first 8 bytes and ``size`` bytes, counting ``on_sent``."""

    def __init__(self, size: int = 2) -> None:
        super().__init__()
        self.size = size
        self.sent: list[bytes] = []
        self.sent_event = threading.Event()

    def record_received(self, ep, record) -> None:
        key = bytes(record[:8])
        body = bytes([0x61 + len(self.records) % 26]) * self.size

        def on_sent() -> None:
            self.sent.append(key)
            self.sent_event.set()

        ep.submit(key, body, on_sent=on_sent)
        super().record_received(ep, record)


class HalfSocket:
    """A server socket whose ``send`` hands the kernel at most half of what it is given (or
    fails with ``error``); everything else is the real socket's."""

    def __init__(self, sock: socket.socket, error: OSError | None = None) -> None:
        self._sock = sock
        self.error = error
        self.sends = 0

    def send(self, data) -> int:
        self.sends += 1
        if self.error is not None:
            raise self.error
        return self._sock.send(memoryview(data)[: max(1, len(data) // 2)])

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


@pytest.fixture(params=[False, True], ids=["plain", "tls"])
def tls(request, tls_pair):
    """(server context, client context), or (None, None) for plain TCP."""
    return tls_pair if request.param else (None, None)


def _serve(poller, size: int, tls=(None, None)):
    """A listener whose connections answer with ``Replier(size)``; a blocking client socket
    (TLS-wrapped when ``tls`` has contexts) and the server side's handler."""
    server_ctx, client_ctx = tls
    servers = Accepted(lambda: Replier(size))
    listener = listen("127.0.0.1:0", poller=poller, handler_factory=servers, tls=server_ctx)
    raw = socket.create_connection((listener.address.host, listener.address.port), timeout=20)
    if client_ctx is not None:
        raw = client_ctx.wrap_socket(raw)  # the handshake, blocking
    server = servers.get(0)
    assert server.made.wait(10)
    return listener, raw, server


def _warmed(poller, tls=(None, None)):
    """``_serve`` with replies of 2 bytes, after one request answered (the TLS handshake is
    done on both sides); returns the listener, the client socket, the handler, its endpoint."""
    listener, raw, server = _serve(poller, 2, tls)
    raw.sendall(struct.pack(">I", MARK | 8) + b"warmup00")
    _read_exactly(raw, 4 + 10)
    assert server.sent_event.wait(10)
    assert server.endpoint is not None
    return listener, raw, server, server.endpoint


def _queue_trips(monkeypatch) -> list[int]:
    """A list that every push onto an out-queue (its length) and every flush (-1) is added to."""
    trips: list[int] = []
    real_push, real_flush = OutQueue.push, OutQueue.flush
    monkeypatch.setattr(OutQueue, "push", lambda q, v: (trips.append(len(v)), real_push(q, v)))
    monkeypatch.setattr(OutQueue, "flush", lambda q, s: (trips.append(-1), real_flush(q, s))[1])
    return trips


def _read_exactly(raw: socket.socket, n: int) -> bytes:
    got = b""
    while len(got) < n:
        chunk = raw.recv(n - len(got))
        assert chunk, "server closed"
        got += chunk
    return got


def test_a_lone_reply_skips_the_queue_and_reports_sent_once(poller, tls, monkeypatch):
    """Rule: a reply to a request that arrived alone reaches the client whole without being
    pushed onto the out-queue or flushed from it, and its ``on_sent`` fires exactly once."""
    listener, raw, server, _ = _warmed(poller, tls)
    server.sent.clear()
    queued = _queue_trips(monkeypatch)
    for i in range(5):
        server.sent_event.clear()
        raw.sendall(struct.pack(">I", MARK | 8) + b"req%05d" % i)
        reply = _read_exactly(raw, 4 + 10)
        assert reply[4:12] == b"req%05d" % i
        assert server.sent_event.wait(10)
    assert server.sent == [b"req%05d" % i for i in range(5)]
    assert queued == [], "a lone reply went through the out-queue"
    raw.close()
    listener.close()


def test_the_rest_of_a_lone_reply_waits_in_the_queue_in_order(poller, tls):
    """Rule: when the kernel takes only part of a lone reply, the rest is queued and written
    later; the client gets every reply's bytes in order, and each ``on_sent`` fires once, only
    after its reply's last byte was handed over."""
    size = 6000  # under JOIN_BELOW: a corked reply
    listener, raw, server = _serve(poller, size, tls)
    raw.sendall(struct.pack(">I", MARK | 8) + b"warmup00")
    _read_exactly(raw, 4 + 8 + size)
    assert server.sent_event.wait(10)
    ep = server.endpoint
    assert ep is not None
    half = HalfSocket(ep._sock)
    ep._sock = half  # type: ignore[assignment]
    want = b""
    for i in range(3):
        server.sent_event.clear()
        sent_before = len(server.sent)
        raw.sendall(struct.pack(">I", MARK | 8) + b"req%05d" % i)
        body = bytes([0x61 + (i + 1) % 26]) * size
        reply = struct.pack(">I", MARK | (8 + size)) + b"req%05d" % i + body
        want += reply
        got = _read_exactly(raw, len(reply))
        assert got == reply
        assert server.sent_event.wait(10)
        assert len(server.sent) == sent_before + 1
    assert half.sends >= 6, "the kernel was never handed part of a reply"
    assert server.sent == [b"warmup00"] + [b"req%05d" % i for i in range(3)]
    raw.close()
    listener.close()


def test_a_lone_reply_that_cannot_be_written_closes_the_connection(poller, tls):
    """Rule: a write error on a lone reply closes that connection (``connection_lost``), and
    the reply's ``on_sent`` still fires once (a request is always finished)."""
    listener, raw, server = _serve(poller, 2, tls)
    ep = server.endpoint
    assert ep is not None
    ep._sock = HalfSocket(ep._sock, error=BrokenPipeError(32, "Broken pipe"))  # type: ignore[assignment]
    raw.sendall(struct.pack(">I", MARK | 8) + b"req00000")
    assert server.lost.wait(10)
    assert server.sent_event.wait(10)
    assert server.sent == [b"req00000"]
    raw.close()
    listener.close()


def test_a_batch_of_tls_replies_is_one_tls_write_each(poller, tls_pair, monkeypatch):
    """Rule: requests that arrive together are answered by one batch of corked replies, and
    with TLS each reply of the batch is encrypted by a TLS write of its own (one whole
    message, record mark included); all of them reach the client, in order."""
    writes: list[bytes] = []
    batches: list[int] = []
    real_write = TLSSession.write
    real_queue = endpoint_output.EndpointOutput._queue_corked_locked

    def write(session, data):
        writes.append(bytes(data))
        return real_write(session, data)

    def queue_corked(ep):
        batches.append(len(ep._corked))
        return real_queue(ep)

    monkeypatch.setattr(TLSSession, "write", write)
    monkeypatch.setattr(endpoint_output.EndpointOutput, "_queue_corked_locked", queue_corked)
    listener, raw, server = _serve(poller, 2, tls_pair)
    raw.sendall(b"".join(struct.pack(">I", MARK | 8) + b"req%05d" % i for i in range(10)))
    got = _read_exactly(raw, 10 * (4 + 10))
    assert [got[i * 14 + 4 : i * 14 + 12] for i in range(10)] == [b"req%05d" % i for i in range(10)]
    assert max(batches) >= 2, "the requests were never answered as one batch"
    replies = [w for w in writes if w[4:7] == b"req"]
    assert len(replies) == 10
    for w in replies:
        assert len(w) == 4 + (struct.unpack(">I", w[:4])[0] & ~MARK), "a TLS write of two"
    raw.close()
    listener.close()


@pytest.mark.parametrize("batch", [1, 3], ids=["lone", "batch"])
def test_a_tls_reply_that_cannot_be_encrypted_closes_the_connection(
    poller, tls_pair, monkeypatch, batch
):
    """Rule: when OpenSSL refuses to encrypt a corked reply (lone or in a batch), that
    connection is closed (``connection_lost``) and every reply's ``on_sent`` still fires
    exactly once; nothing is sent in the clear."""
    listener, raw, server = _serve(poller, 2, tls_pair)
    raw.sendall(struct.pack(">I", MARK | 8) + b"warmup00")
    _read_exactly(raw, 4 + 10)
    assert server.sent_event.wait(10)
    server.sent.clear()
    server.sent_event.clear()

    def refuse(session, data):
        raise TLSError("encryption refused (test)")

    monkeypatch.setattr(TLSSession, "write", refuse)
    raw.sendall(b"".join(struct.pack(">I", MARK | 8) + b"req%05d" % i for i in range(batch)))
    assert server.lost.wait(10)
    assert isinstance(server.lost_exc, TLSError)
    # due before the handling ended, so before connection_lost
    assert sorted(server.sent) == [b"req%05d" % i for i in range(batch)]
    raw.settimeout(10)
    assert raw.recv(100) == b"", "bytes came after the refused encryption"
    raw.close()
    listener.close()


def test_a_message_from_another_thread_skips_an_empty_queue(poller, tls, monkeypatch):
    """Rule: a small message submitted by a thread that is not delivering records (a client's
    call, one at a time) finds the queue empty and goes straight to the kernel: no push, no
    flush, ``on_sent`` once each, the bytes whole and in order."""
    listener, raw, _, ep = _warmed(poller, tls)
    queued = _queue_trips(monkeypatch)
    fired = []
    for i in range(5):
        ep.submit(b"call%04d" % i, on_sent=lambda i=i: fired.append(i))
        assert _read_exactly(raw, 4 + 8) == struct.pack(">I", MARK | 8) + b"call%04d" % i
    assert fired == list(range(5))
    assert queued == [], "a message that found the queue empty went through it"
    raw.close()
    listener.close()


def test_messages_from_another_thread_keep_their_order_behind_a_queued_rest(poller, tls):
    """Rule: when the kernel takes only part of a message sent straight away, its rest waits
    in the queue and the next messages queue behind it: the peer gets each whole, in order,
    and each ``on_sent`` fires once, after its last byte."""
    listener, raw, _, ep = _warmed(poller, tls)
    half = HalfSocket(ep._sock)
    ep._sock = half  # type: ignore[assignment]
    size = 6000  # under JOIN_BELOW
    fired = []
    all_fired = threading.Event()

    def on_sent(i: int) -> None:
        fired.append(i)
        if len(fired) == 3:
            all_fired.set()

    want = b""
    for i in range(3):
        body = bytes([0x41 + i]) * size
        want += struct.pack(">I", MARK | size) + body
        ep.submit(body, on_sent=lambda i=i: on_sent(i))
    # the first went to the kernel straight away, which took half of it (the socket's
    # ``send``); its rest and the two behind it left from the queue
    assert half.sends >= 1
    assert _read_exactly(raw, len(want)) == want
    assert all_fired.wait(10)
    assert fired == [0, 1, 2]
    raw.close()
    listener.close()
