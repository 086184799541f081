"""File regions (``transport.outqueue.FileRegion``): bytes of an open file that the out-queue
hands to the kernel with ``sendfile(2)``. These tests hold a region to what the queue
promises for any part: its bytes arrive whole and in wire order between the parts around it,
also when the kernel takes them a bit at a time; ``on_sent`` fires only after its last byte;
the length that the record mark counted is what goes out, zeros standing in for the end of a
file that was cut shorter meanwhile; and the queue closes the region's descriptor once it is
written, dropped, refused by a closed connection, or read into a TLS message."""

from __future__ import annotations

import os
import socket
import struct

import pytest
from transport_support import Accepted, Recorder

from gfrpc.errors import LocalProtocolError, NotConnectedError
from gfrpc.testing.waiting import wait_for
from gfrpc.transport import listen
from gfrpc.transport.endpoint_output import JOIN_BELOW
from gfrpc.transport.outqueue import MIN_REGION, FileRegion, OutQueue

pytestmark = pytest.mark.timeout(60)

MARK = 0x80000000
SIZE = 200_000  # several times a socket buffer of the small kind set below


@pytest.fixture
def data_file(tmp_path):
    """(path, contents) of a file of SIZE bytes that repeat no pattern a short slip hides."""
    contents = bytes((i * 7 + i // 251) % 256 for i in range(SIZE))
    path = tmp_path / "data"
    path.write_bytes(contents)
    return path, contents


def _region(path, offset: int, count: int) -> FileRegion:
    fd = os.open(path, os.O_RDONLY)
    return FileRegion(fd, offset, count)


def _is_open(fd: int, path=None) -> bool:
    """Whether ``fd`` is open (on ``path``, if given: a number closed may be reused at once)."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return False
    return path is None or target == str(path)


def _pair(sndbuf: int = 0) -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    if sndbuf:
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, sndbuf)
    a.setblocking(False)
    return a, b


def _drain(sock: socket.socket, n: int) -> bytes:
    got = bytearray()
    while len(got) < n:
        chunk = sock.recv(min(65536, n - len(got)))
        assert chunk, "closed early"
        got += chunk
    return bytes(got)


def test_a_region_is_bigger_than_any_message_the_endpoint_joins():
    """Rule: the smallest region is larger than ``JOIN_BELOW``, so a region never lands in the
    one-buffer join of a small message; a smaller region is refused (and its fd closed)."""
    assert MIN_REGION > JOIN_BELOW
    r, w = os.pipe()
    os.close(w)
    with pytest.raises(LocalProtocolError):
        FileRegion(r, 0, MIN_REGION - 1)
    assert not _is_open(r)


def test_views_and_regions_go_out_in_order_a_bit_at_a_time(data_file):
    """Rule: a queue of views and file regions writes exactly their bytes in queue order even
    when the kernel takes a little at a time; each mark fires only once the bytes before it
    were written, and each region's fd is closed once its last byte went out."""
    path, contents = data_file
    a, b = _pair(sndbuf=4096)
    q = OutQueue()
    fired: list[str] = []
    r1 = _region(path, 10, 100_000)
    r2 = _region(path, 150_000, 50_000)
    q.extend([memoryview(b"head")])
    q.extend([r1])
    q.mark(lambda: fired.append("first"))
    q.extend([memoryview(b"middle"), r2, memoryview(b"tail")])
    q.mark(lambda: fired.append("second"))
    assert q.regions == 2 and q.unsent == 4 + 100_000 + 6 + 50_000 + 4
    want = b"head" + contents[10:100_010] + b"middle" + contents[150_000:] + b"tail"
    got = bytearray()
    flushes = 0
    while q:
        assert q.flush(a) is None
        flushes += 1
        got += b.recv(65536)
        due = (q.written >= 4 + 100_000) + (q.written >= 4 + 100_000 + 6 + 50_000 + 4)
        assert len(fired) + len(q.fired) == due, f"marks fired at {q.written} bytes written"
        for cb in q.fired:
            cb()
        q.fired.clear()
    got += _drain(b, len(want) - len(got))
    assert bytes(got) == want
    assert fired == ["first", "second"]
    assert flushes > 2, "the kernel took it all at once: nothing partial was tested"
    assert r1.fd == -1 and r2.fd == -1 and q.regions == 0
    a.close()
    b.close()


def test_a_file_cut_shorter_is_padded_with_zeros(data_file):
    """Rule: a region keeps the length its record mark counted; if the file was truncated
    before its bytes went out, the missing end is sent as zeros, and the record stays whole."""
    path, contents = data_file
    a, b = _pair()
    q = OutQueue()
    region = _region(path, 1000, 150_000)
    q.extend([memoryview(b"<"), region, memoryview(b">")])
    os.truncate(path, 60_000)
    got = bytearray()
    while q:
        assert q.flush(a) is None
        got += b.recv(1 << 20)
    got += _drain(b, 150_002 - len(got))
    assert bytes(got) == b"<" + contents[1000:60_000] + bytes(150_000 - 59_000) + b">"
    assert region.fd == -1
    a.close()
    b.close()


def test_dropping_a_queue_closes_its_regions(data_file):
    """Rule: a queue dropped with regions unsent (the connection is gone) closes their fds and
    fires the marks; so does a flush that fails on the socket."""
    path, _ = data_file
    q = OutQueue()
    r1, r2 = _region(path, 0, 50_000), _region(path, 0, 50_000)
    q.extend([r1, memoryview(b"x"), r2])
    q.mark(lambda: None)
    fds = (r1.fd, r2.fd)
    assert q.drop() == 100_001
    assert len(q.fired) == 1 and q.regions == 0
    assert not any(_is_open(fd, path) for fd in fds)
    a, b = _pair()
    b.close()
    r3 = _region(path, 0, 50_000)
    q2 = OutQueue()
    q2.extend([memoryview(b"x"), r3])
    fd3 = r3.fd
    exc = None
    for _ in range(10):  # the first write may land before the kernel notices the peer left
        exc = q2.flush(a)
        if exc is not None or not q2:
            break
    assert isinstance(exc, OSError)
    assert q2.regions == 0 and r3.fd == -1 and not _is_open(fd3, path)
    a.close()


def test_take_reads_a_region_and_closes_it(data_file):
    """Rule: ``take`` (the TLS way) answers the region's bytes, zeros past a shortened end,
    and closes the descriptor."""
    path, contents = data_file
    region = _region(path, 5, 20_000)
    fd = region.fd
    assert region.take() == contents[5:20_005]
    assert region.fd == -1 and not _is_open(fd, path)
    region = _region(path, SIZE - 10_000, 12_000)  # 2,000 bytes past the end
    assert region.take() == contents[-10_000:] + bytes(2000)


def test_a_mark_on_a_queue_written_to_its_end_is_due_at_once():
    """Rule: a mark placed when everything queued has already gone to the kernel is due at
    once (as after a big TLS message whose every slice was flushed while it was encrypted);
    waiting for the next flush would hold its ``on_sent`` until the connection writes again."""
    a, b = _pair()
    q = OutQueue()
    q.extend([memoryview(b"all of it")])
    assert q.flush(a) is None and not q
    q.mark(lambda: None)
    assert len(q.fired) == 1
    q.fired.clear()
    q.extend([memoryview(b"more")])
    q.mark(lambda: None)
    assert not q.fired  # not written yet: due at the flush that writes it
    assert q.flush(a) is None
    assert len(q.fired) == 1
    assert _drain(b, 13) == b"all of itmore"
    a.close()
    b.close()


class RegionReplier(Recorder):
    """Answers each record with its first 8 bytes and a region of the data file."""

    def __init__(self, path, offset: int, count: int) -> None:
        super().__init__()
        self.path, self.offset, self.count = path, offset, count
        self.regions: list[FileRegion] = []
        self.sent: list[int] = []  # the index of each reply whose on_sent fired

    def record_received(self, ep, record) -> None:
        region = _region(self.path, self.offset, self.count)
        self.regions.append(region)
        index = len(self.regions) - 1
        ep.submit(bytes(record[:8]), region, on_sent=lambda: self.sent.append(index))
        super().record_received(ep, record)


@pytest.fixture(params=[False, True], ids=["plain", "tls"])
def tls(request, tls_pair):
    return tls_pair if request.param else (None, None)


def test_an_endpoint_sends_a_region_with_and_without_tls(poller, tls, data_file):
    """Rule: a reply with a file region reaches the peer as one whole record (header, then
    the file's bytes), over every poller, with TLS (read into the message) and without
    (sendfile); ``on_sent`` fires and the region's descriptor is closed."""
    path, contents = data_file
    server_ctx, client_ctx = tls
    servers = Accepted(lambda: RegionReplier(path, 3, 180_000))
    listener = listen("127.0.0.1:0", poller=poller, handler_factory=servers, tls=server_ctx)
    raw = socket.create_connection((listener.address.host, listener.address.port), timeout=20)
    if client_ctx is not None:
        raw = client_ctx.wrap_socket(raw)
    try:
        for i in range(3):
            raw.sendall(struct.pack(">I", MARK | 8) + b"req%05d" % i)
            want = struct.pack(">I", MARK | (8 + 180_000)) + b"req%05d" % i + contents[3:180_003]
            assert _drain(raw, len(want)) == want
        server = servers.get(0)
        # the peer can hold a reply's last byte before the sender's thread is back from
        # sendfile: wait for every on_sent (due after the region is written and closed)
        wait_for(lambda: len(server.sent) == 3, 10, "every reply's on_sent")
        assert sorted(server.sent) == [0, 1, 2]
        assert [r.fd for r in server.regions] == [-1, -1, -1]
    finally:
        raw.close()
        listener.close()


def test_a_region_given_to_a_closed_endpoint_is_closed(poller, data_file):
    """Rule: ``submit`` owns a region from the call on: on an endpoint that has closed it
    raises NotConnectedError and closes the region's descriptor."""
    path, _ = data_file
    servers = Accepted(Recorder)
    listener = listen("127.0.0.1:0", poller=poller, handler_factory=servers)
    raw = socket.create_connection((listener.address.host, listener.address.port), timeout=20)
    try:
        server = servers.get(0)
        assert server.made.wait(10)
        ep = server.endpoint
        assert ep is not None
        ep.close()
        assert server.lost.wait(10)
        region = _region(path, 0, 50_000)
        fd = region.fd
        with pytest.raises(NotConnectedError):
            ep.submit(b"header", region)
        assert region.fd == -1 and not _is_open(fd, path)
    finally:
        raw.close()
        listener.close()
