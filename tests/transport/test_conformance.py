"""Transport conformance suite: every test runs on each poller, with TLS on and off."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from transport_support import Accepted, Recorder, open_fds

from gfrpc.errors import NotConnectedError
from gfrpc.transport import EndpointState, SocketOptions, connect, listen

pytestmark = pytest.mark.timeout(60)


def serve(poller, tls, factory=lambda: Recorder(reply=True), options=None):
    server_ctx, _ = tls
    servers = Accepted(factory)
    listener = listen(
        "127.0.0.1:0", poller=poller, handler_factory=servers, tls=server_ctx, options=options
    )
    return listener, servers


def dial(poller, tls, listener, handler=None, options=None):
    _, client_ctx = tls
    handler = handler or Recorder()
    ep = connect(listener.address, poller=poller, handler=handler, tls=client_ctx, options=options)
    return ep, handler


def test_request_and_reply(poller, tls):
    """A submitted message arrives as one record, and the peer's reply comes back."""
    listener, _ = serve(poller, tls)
    ep, client = dial(poller, tls, listener)
    ep.submit(b"12345678", b"hello")
    assert client.wait_records(1) == [b"12345678ok"]
    if tls[0] is not None:
        assert ep.peer_cn == "server.test"
    ep.close()
    assert client.lost.wait(5)
    listener.close()


def test_concurrent_submitters_share_one_connection(poller, tls):
    """Messages submitted from 8 threads at once arrive whole and none is lost."""
    listener, servers = serve(poller, tls, factory=lambda: Recorder(reply=False))
    ep, _ = dial(poller, tls, listener)
    per_thread, threads = 50, 8

    def worker(k: int) -> None:
        for i in range(per_thread):
            body = struct.pack(">II", k, i) + bytes([k]) * (1000 + 37 * i)
            ep.submit(body)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    got = servers.get(0).wait_records(per_thread * threads)
    seen = set()
    for rec in got:
        k, i = struct.unpack_from(">II", rec)
        assert rec[8:] == bytes([k]) * (1000 + 37 * i)
        seen.add((k, i))
    assert len(seen) == per_thread * threads
    ep.close()
    listener.close()


def test_large_messages(poller, tls):
    """8 MiB messages go through intact in both directions' record framing."""
    listener, servers = serve(poller, tls, factory=lambda: Recorder(reply=False))
    ep, _ = dial(poller, tls, listener)
    blob = bytes(range(256)) * (8 * 4096)
    assert len(blob) == 8 << 20
    for _ in range(3):
        ep.submit(blob)
    got = servers.get(0).wait_records(3, timeout=40)
    assert all(hashlib.sha256(r).digest() == hashlib.sha256(blob).digest() for r in got)
    ep.close()
    listener.close()


def test_slow_reader_and_mutated_sources(poller, tls):
    """With a tiny SO_SNDBUF and a peer that stops reading for 2 s, buffers mutated after
    submit do not change what is sent: the peer gets the exact bytes (sha256)."""
    listener, servers = serve(poller, tls, factory=lambda: Recorder(reply=False))
    small = SocketOptions(send_buffer=4096)
    ep, _ = dial(poller, tls, listener, options=small)
    assert servers.get(0).made.wait(5)
    server_ep = servers.get(0).endpoint
    assert server_ep is not None
    server_ep.pause_reading()
    buf = bytearray(1 << 20)
    expected = []
    for i in range(6):
        buf[:] = bytes([i]) * len(buf)
        expected.append(hashlib.sha256(buf).hexdigest())
        ep.submit(b"hdr%05d" % i, buf, memoryview(buf)[:1000])
        expected[-1] = hashlib.sha256(b"hdr%05d" % i + bytes(buf) + bytes(buf[:1000])).hexdigest()
        buf[:] = b"\xff" * len(buf)  # the caller reuses its buffer at once
    time.sleep(2.0)  # the scenario: the reader stays away for 2 s
    server_ep.resume_reading()
    got = servers.get(0).wait_records(6, timeout=40)
    assert [hashlib.sha256(r).hexdigest() for r in got] == expected
    ep.close()
    listener.close()


def test_submit_after_close_fails_with_enotconn(poller, tls):
    """Once closed, submit raises NotConnectedError carrying errno ENOTCONN."""
    listener, _ = serve(poller, tls)
    ep, client = dial(poller, tls, listener)
    ep.close()
    assert client.lost.wait(5)
    with pytest.raises(NotConnectedError) as info:
        ep.submit(b"late")
    assert info.value.errno == errno.ENOTCONN
    listener.close()


def test_peer_close_runs_cleanup_exactly_once(poller, tls):
    """When the peer goes away, connection_lost runs once, on both sides."""
    listener, servers = serve(poller, tls)
    ep, client = dial(poller, tls, listener)
    assert servers.get(0).made.wait(5)
    server_ep = servers.get(0).endpoint
    assert server_ep is not None
    server_ep.close()
    assert client.lost.wait(5) and servers.get(0).lost.wait(5)
    ep.close()
    ep.close()
    time.sleep(0.1)
    assert client.lost_count == 1 and servers.get(0).lost_count == 1
    assert isinstance(client.lost_exc, NotConnectedError)
    listener.close()


def test_disconnect_mid_record_is_cleaned_up(poller, tls):
    """A client that vanishes in the middle of a record leaves nothing behind on the server."""
    server_ctx, client_ctx = tls
    listener, servers = serve(poller, tls, factory=lambda: Recorder(reply=False))
    raw = socket.create_connection(listener.address.sockaddr, timeout=10)
    if client_ctx is not None:
        raw = client_ctx.wrap_socket(raw)  # a plain blocking TLS client: not our endpoint
    assert servers.get(0).made.wait(5)
    server_ep = servers.get(0).endpoint
    assert server_ep is not None
    # a 1 MiB record of which only the mark and a little arrive
    raw.sendall(struct.pack(">I", 0x80000000 | (1 << 20)) + b"x" * 5000)
    deadline = time.monotonic() + 5
    while not server_ep.stats().in_record and time.monotonic() < deadline:
        time.sleep(0.01)
    stats = server_ep.stats()
    assert stats.in_record and stats.buffered_bytes >= 5000 and stats.records_received == 0
    raw.close()
    assert servers.get(0).lost.wait(5)
    assert servers.get(0).records == []
    assert server_ep.stats().state is EndpointState.CLOSED
    listener.close()


@pytest.mark.timeout(180)
def test_no_fd_or_thread_leak_after_500_cycles(poller, tls):
    """500 connect/disconnect cycles leave no fd and no thread behind."""
    listener, servers = serve(poller, tls)
    # warm up: lazily created poller threads exist before the baseline is taken
    ep, c = dial(poller, tls, listener)
    ep.close()
    assert c.lost.wait(5)
    deadline = time.monotonic() + 5
    while poller.pollable_count() > 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    fds, threads = open_fds(), threading.active_count()
    for i in range(500):
        ep, c = dial(poller, tls, listener)
        if i % 2:
            ep.submit(b"12345678ping")
            c.wait_records(1)
        ep.close()
        assert c.lost.wait(5)
    # Cleanup finishes on the handling threads (an own-thread thread exits just after its
    # fd is closed), so wait, bounded, for all three counts to come back down.
    deadline = time.monotonic() + 10
    while (
        poller.pollable_count() > 1 or open_fds() > fds or threading.active_count() > threads
    ) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert poller.pollable_count() == 1  # only the listener
    assert open_fds() <= fds
    assert threading.active_count() <= threads
    assert all(s.lost.wait(5) for s in servers)
    assert all(s.lost_count == 1 for s in servers)
    listener.close()


def test_unix_socket(poller, tls, tmp_path):
    """UNIX-domain sockets carry records like TCP does."""
    server_ctx, client_ctx = tls
    path = tmp_path / "s.sock"
    listener = listen(
        f"unix:{path}", poller=poller, handler_factory=lambda: Recorder(reply=True), tls=server_ctx
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # only its owner may connect
    client = Recorder()
    ep = connect(f"unix:{path}", poller=poller, handler=client, tls=client_ctx)
    ep.submit(b"abcdefgh")
    assert client.wait_records(1) == [b"abcdefghok"]
    ep.close()
    listener.close()
    assert not path.exists()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root")
def test_unix_socket_refuses_other_users(poller):
    """A listening UNIX socket is its owner's alone (mode 0600, set before listen): another
    user's connect fails with EACCES, as for glusterd's CLI socket (the directory is open to
    all, so the socket's own mode is what refuses)."""
    top = Path(tempfile.mkdtemp(prefix="gfrpc-unix-", dir="/tmp"))
    top.chmod(0o755)
    path = top / "s.sock"
    listener = listen(f"unix:{path}", poller=poller, handler_factory=lambda: Recorder(reply=True))
    try:
        probe = (
            "import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            f"try:\n    s.connect({str(path)!r})\nexcept PermissionError:\n    sys.exit(13)\n"
        )
        done = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                sys.executable,
                "-c",
                probe,
            ],
            timeout=30,
        )
        assert done.returncode == 13
    finally:
        listener.close()
        shutil.rmtree(top, ignore_errors=True)


def test_ipv6_loopback(poller, tls):
    """IPv6 addresses work for listen and connect."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    server_ctx, client_ctx = tls
    try:
        listener = listen(
            "[::1]:0", poller=poller, handler_factory=lambda: Recorder(reply=True), tls=server_ctx
        )
    except Exception as exc:  # pragma: no cover - machine without ::1
        pytest.skip(f"no IPv6 loopback: {exc}")
    client = Recorder()
    ep = connect(f"[::1]:{listener.address.port}", poller=poller, handler=client, tls=client_ctx)
    ep.submit(b"abcdefgh")
    assert client.wait_records(1) == [b"abcdefghok"]
    ep.close()
    listener.close()


def test_replies_made_while_delivering_a_burst_leave_in_one_write(poller, monkeypatch):
    """Replies submitted by the thread that delivers records (an inline handler) are corked:
    a burst of 16 pipelined requests read at once is answered, in order, with at most a couple
    of writes, not one per reply."""
    from gfrpc.transport import outqueue

    writes = []
    real_flush = outqueue.OutQueue.flush

    def counting_flush(self, sock):
        writes.append(self.unsent)
        return real_flush(self, sock)

    listener, servers = serve(poller, (None, None))
    raw = socket.create_connection((listener.address.host, listener.address.port), timeout=20)
    servers.get(0).made.wait(10)
    monkeypatch.setattr(outqueue.OutQueue, "flush", counting_flush)
    burst = b"".join(struct.pack(">I", 0x80000000 | 8) + b"req%05d" % i for i in range(16))
    raw.sendall(burst)
    want = b"".join(struct.pack(">I", 0x80000000 | 10) + b"req%05dok" % i for i in range(16))
    got = b""
    while len(got) < len(want):
        chunk = raw.recv(65536)
        assert chunk, "server closed"
        got += chunk
    assert got == want
    assert 1 <= len(writes) <= 3, f"{len(writes)} writes for 16 replies"
    raw.close()
    listener.close()
