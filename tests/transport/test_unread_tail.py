"""The unread tail of a big record (``transport/tail.py``): a handler that takes tails gets a
big record before its last bytes are read, when they are all queued in the kernel, and may
splice them into a file. These tests hold the endpoint to the rules of ``tail.py``: the
spliced bytes land in the file at the right offset; what the handler leaves, or gives back
after a failed file write, is read into the record; in every case the next record arrives
whole (the stream stays in step); TLS and handlers that do not take tails never see one."""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import termios
from array import array

import pytest
from transport_support import Accepted, Recorder

from gfrpc.testing.waiting import wait_for
from gfrpc.transport import SocketOptions, listen
from gfrpc.transport.endpoint import TAIL_MIN
from gfrpc.transport.tail import UnreadTail, queued_bytes

pytestmark = pytest.mark.timeout(60)

MARK = 0x80000000
BIG = 1 << 20


def _payload(seed: int, size: int = BIG) -> bytes:
    """Bytes with no short period, so a slipped offset shows."""
    return bytes((i * 7 + i // 251 + seed) % 256 for i in range(size))


class TailHandler(Recorder):
    """Pauses its connection until the test has queued everything; then, for each record,
    notes the tail it got and does ``mode`` with it: ``splice`` (into ``fd`` at offset 0),
    ``leave`` (nothing) or ``fail`` (splice into ``fd`` opened read-only: EBADF)."""

    takes_tails = True

    def __init__(self, mode: str, fd: int) -> None:
        super().__init__()
        self.mode, self.fd = mode, fd
        self.tails: list[int] = []
        self.written: list[int] = []
        self.errors: list[int] = []
        self.views: list[memoryview] = []

    def connection_made(self, ep) -> None:
        ep.pause_reading()
        super().connection_made(ep)

    def record_received(self, ep, record) -> None:
        tail = ep.unread_tail
        self.tails.append(0 if tail is None else tail.remaining)
        if tail is not None and self.mode != "leave":
            try:
                self.written.append(tail.splice_to(self.fd, 0))
            except OSError as exc:
                self.errors.append(exc.errno or 0)
        self.views.append(record)
        with self.cond:
            self.records.append(b"")
            self.cond.notify_all()


def _send_queued(poller, handler_factory, frames: bytes, tls=(None, None)):
    """Connect, send ``frames`` while the server's endpoint is paused, wait until the kernel
    has all of it on the server side, then let the server read. Returns (server, socket)."""
    server_ctx, client_ctx = tls
    servers = Accepted(handler_factory)
    listener = listen(
        "127.0.0.1:0",
        poller=poller,
        handler_factory=servers,
        tls=server_ctx,
        options=SocketOptions(window_size=4 << 20),  # room for it all while the server waits
    )
    raw = socket.create_connection((listener.address.host, listener.address.port), timeout=20)
    if client_ctx is not None:
        raw = client_ctx.wrap_socket(raw)
    server = servers.get(0)
    assert server.made.wait(10)
    raw.sendall(frames)
    wait_for(lambda: _unacked(raw) == 0, what="the server's kernel to hold every byte")
    server.endpoint.resume_reading()
    return listener, raw, server


def _unacked(sock: socket.socket) -> int:
    """Bytes the kernel has not yet handed to the peer (``TIOCOUTQ``)."""
    count = array("i", [0])
    fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, count)
    return count[0]


def _frames(*payloads: bytes) -> bytes:
    return b"".join(struct.pack(">I", MARK | len(p)) + p for p in payloads)


@pytest.mark.parametrize("mode", ["splice", "leave", "fail"])
def test_a_big_record_goes_up_before_its_end_and_the_stream_stays_in_step(poller, tmp_path, mode):
    """Rule: a big record whose rest is all queued goes up with an unread tail; spliced, its
    bytes are in the file at the offset asked; left or refused by the file, they are read into
    the record; either way the small record after it arrives whole."""
    big, small = _payload(1), b"after-the-big-one"
    path = tmp_path / "sink"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY if mode == "fail" else os.O_WRONLY)
    listener, raw, server = _send_queued(poller, lambda: TailHandler(mode, fd), _frames(big, small))
    try:
        server.wait_records(2)
        unread = server.tails[0]
        assert TAIL_MIN <= unread < len(big), server.tails
        assert server.tails[1] == 0
        assert bytes(server.views[1]) == small
        head = len(big) - unread
        assert bytes(server.views[0][:head]) == big[:head]
        if mode == "splice":
            assert server.written == [unread]
            assert path.read_bytes() == big[head:]
        else:
            assert bytes(server.views[0]) == big  # read in after the handler returned
            assert path.read_bytes() == b""
            if mode == "fail":
                assert server.errors == [9]  # EBADF
    finally:
        raw.close()
        listener.close()
        os.close(fd)


def test_no_tail_over_tls_or_for_a_handler_that_does_not_take_them(poller, tls_pair):
    """Rule: with TLS (the bytes must be decrypted in Python) and for a handler without
    ``takes_tails``, a big record arrives whole, as before."""
    big = _payload(2)

    class Plain(Recorder):
        def connection_made(self, ep) -> None:
            ep.pause_reading()
            super().connection_made(ep)

        def record_received(self, ep, record) -> None:
            assert ep.unread_tail is None
            super().record_received(ep, record)

    class OverTLS(TailHandler):
        def record_received(self, ep, record) -> None:
            assert ep.unread_tail is None
            super().record_received(ep, record)

    listener, raw, server = _send_queued(poller, Plain, _frames(big))
    try:
        assert server.wait_records(1) == [big]
    finally:
        raw.close()
        listener.close()
    listener, raw, server = _send_queued(
        poller, lambda: OverTLS("leave", -1), _frames(big), tls=tls_pair
    )
    try:
        server.wait_records(1)
        assert server.tails == [0] and bytes(server.views[0]) == big
    finally:
        raw.close()
        listener.close()


def _tail_over_pair(size: int):
    """A socketpair whose reading end ``a`` (non-blocking) has a record of ``size`` bytes
    all unread: (a, b, the record's memory, its ``UnreadTail``); ``b`` sends, all at once."""
    a, b = socket.socketpair()
    b.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)  # all of it queued at once
    a.setblocking(False)
    record = memoryview(bytearray(size))
    return a, b, record, UnreadTail(a, record)


def test_a_tail_spliced_in_part_is_completed_by_fill(tmp_path):
    """Rule: ``splice_to`` moves what the socket has and stops when it has no more; ``fill``
    reads the rest into the record's memory at the right place."""
    data = _payload(3, 300_000)
    a, b, record, tail = _tail_over_pair(len(data))
    b.sendall(data[:100_000])
    wait_for(lambda: queued_bytes(a.fileno()) == 100_000, what="the first part")
    path = tmp_path / "part"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        assert tail.splice_to(fd, 10) == 100_000
        assert tail.remaining == 200_000
        b.sendall(data[100_000:])
        tail.fill()
        assert tail.remaining == 0
        assert bytes(record[100_000:]) == data[100_000:]
        assert path.read_bytes() == bytes(10) + data[:100_000]
    finally:
        os.close(fd)
        a.close()
        b.close()


def test_a_file_that_refuses_splice_gets_its_bytes_back_in_the_record(tmp_path):
    """Rule: a file splice(2) cannot write into (EINVAL: here one open O_APPEND, as a file
    system without splice support answers too) is no error: ``splice_to`` returns what it
    wrote (nothing), says ``refused``, and the bytes it took from the socket are back in the
    record's memory at their place, so ``fill`` completes a whole record."""
    data = _payload(5, 300_000)
    a, b, record, tail = _tail_over_pair(len(data))
    b.sendall(data)
    wait_for(lambda: queued_bytes(a.fileno()) == len(data), what="every byte queued")
    path = tmp_path / "append-only"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        assert tail.splice_to(fd, 0) == 0
        assert tail.refused
        tail.fill()
        assert tail.remaining == 0 and bytes(record) == data
        assert path.read_bytes() == b""
    finally:
        os.close(fd)
        a.close()
        b.close()


def test_a_thread_that_spliced_leaves_no_pipe_open_when_it_ends(tmp_path):
    """Rule: each thread's pipe closes when the thread ends (the own-thread poller starts and
    ends a thread per connection: its pipes must not outlive them)."""
    import threading

    path = tmp_path / "sink"
    before = len(os.listdir("/proc/self/fd"))

    def splice_once() -> None:
        a, b = socket.socketpair()
        a.setblocking(False)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT)
        try:
            b.sendall(b"x" * 50_000)
            record = memoryview(bytearray(50_000))
            assert UnreadTail(a, record).splice_to(fd, 0) == 50_000
        finally:
            os.close(fd)
            a.close()
            b.close()

    for _ in range(5):
        t = threading.Thread(target=splice_once)
        t.start()
        t.join()
    assert len(os.listdir("/proc/self/fd")) == before
