"""A message's parts are lent to the endpoint for the call (``endpoint_output.py``): what it
still holds when ``submit`` returns it has copied if mutable, and with TLS it holds nothing.

A caller may change its buffer, or resize it, as soon as ``submit`` returns. A ``bytearray``
that the endpoint still referred to could not be resized (``BufferError``: a view of it is
exported), so resizing it is how these tests see that nothing of it was kept; changing it
afterwards and reading what the peer got shows that what was kept was a copy. The copies
themselves are counted where the transport makes them (``outqueue.owned``). The tests play
the poller (a ``ManualPoller``).
"""

from __future__ import annotations

import array
import os
import socket
import ssl
import struct

import pytest
from transport_support import (
    ManualPoller,
    Recorder,
    TLSEndpoint,
    finish_handshake,
    open_tls_endpoint,
    tls_endpoint_unopened,
)

from gfrpc.transport import Endpoint, SocketOptions, endpoint_output, outqueue
from gfrpc.wire.record import LAST_FRAGMENT

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def copied(monkeypatch) -> list[int]:
    """The sizes of the parts the transport copies (``owned`` making a new buffer)."""
    sizes: list[int] = []
    real = outqueue.owned

    def counting(part):  # type: ignore[no-untyped-def]
        out = real(part)
        if out is not part:
            sizes.append(len(out))
        return out

    for module in (outqueue, endpoint_output):
        monkeypatch.setattr(module, "owned", counting)
    return sizes


def open_plain_endpoint() -> tuple[Endpoint, socket.socket]:
    ours, peer = socket.socketpair()
    peer.setblocking(False)
    ep = Endpoint(ours, handler=Recorder(), poller=ManualPoller(), options=SocketOptions())  # type: ignore[arg-type]
    assert ep.handle_events(False, False, False)  # first handling: connection_made
    return ep, peer


def resizable(buf: bytearray) -> bool:
    """Whether nothing holds a view of ``buf`` (it can change size); leaves it as it was."""
    try:
        buf.append(0)
    except BufferError:
        return False
    del buf[-1]
    return True


def plain_received(ep: Endpoint, peer: socket.socket, nbytes: int) -> bytes:
    """What the peer reads while the endpoint gets writable events, until ``nbytes``."""
    got = bytearray()
    for _ in range(100_000):
        if ep.interest()[1]:
            assert ep.handle_events(False, True, False)
        try:
            got += peer.recv(1 << 20)
        except BlockingIOError:
            pass
        if len(got) >= nbytes:
            return bytes(got)
    raise AssertionError(f"got {len(got)} of {nbytes} bytes")


def tls_received(t: TLSEndpoint, nbytes: int) -> bytes:
    """The plaintext the client decrypts while the endpoint gets writable events."""
    plain = bytearray()
    for _ in range(100_000):
        if t.ep.interest()[1]:
            assert t.ep.handle_events(False, True, False)
        try:
            t.incoming.write(t.peer.recv(1 << 20))
        except BlockingIOError:
            pass
        try:
            while True:
                plain += t.client.read(1 << 20)
        except ssl.SSLWantReadError:
            pass
        if len(plain) >= nbytes:
            return bytes(plain)
    raise AssertionError(f"got {len(plain)} of {nbytes} bytes")


def mark(n: int) -> bytes:
    return struct.pack(">I", LAST_FRAGMENT | n)


def close(ep: Endpoint, peer: socket.socket) -> None:
    ep.close()
    ep.handle_events(False, False, False)
    ep.finalize()
    peer.close()


def test_a_part_the_kernel_takes_whole_is_not_copied(copied) -> None:
    """Plain TCP, an empty queue: a 64 KiB ``bytearray`` that the socket takes at once is
    written from the caller's buffer, not copied and not kept (it can be resized when
    ``submit`` returns); the peer gets the record."""
    ep, peer = open_plain_endpoint()
    data = bytearray(os.urandom(64 << 10))
    sent = bytes(data)
    ep.submit(b"head", data)
    assert not ep.interest()[1]  # nothing left queued
    assert copied == []
    assert resizable(data)
    assert plain_received(ep, peer, 4 + 4 + len(sent)) == mark(4 + len(sent)) + b"head" + sent
    close(ep, peer)


def test_what_the_kernel_leaves_is_a_copy(copied) -> None:
    """Plain TCP: of an 8 MiB ``bytearray``, what the socket does not take at once stays
    queued as a copy, and only that is copied: the caller's buffer can be resized and
    overwritten when ``submit`` returns, and the peer still gets the bytes as they were."""
    ep, peer = open_plain_endpoint()
    data = bytearray(os.urandom(8 << 20))
    sent = bytes(data)
    ep.submit(b"head", data)
    assert ep.interest()[1]  # some of it is queued
    assert len(copied) == 1 and 0 < copied[0] < len(data)  # the rest of it, once
    assert resizable(data)
    data[:] = bytes(len(data))
    assert plain_received(ep, peer, 8 + len(sent)) == mark(4 + len(sent)) + b"head" + sent
    close(ep, peer)


def test_a_part_behind_a_queued_message_is_a_copy() -> None:
    """Plain TCP: a ``bytearray`` submitted while an earlier message still waits in the queue
    is queued whole, as a copy."""
    ep, peer = open_plain_endpoint()
    first = os.urandom(8 << 20)
    ep.submit(first)
    assert ep.interest()[1]
    data = bytearray(os.urandom(256 << 10))
    sent = bytes(data)
    ep.submit(data)
    assert resizable(data)
    data[:] = bytes(len(data))
    want = mark(len(first)) + first + mark(len(sent)) + sent
    assert plain_received(ep, peer, len(want)) == want
    close(ep, peer)


def test_with_tls_a_part_is_encrypted_at_once_and_not_kept(tls_pair, copied) -> None:
    """TLS: a 4 MiB ``bytearray`` is encrypted before ``submit`` returns, so it is not copied,
    nothing of it is kept, and changing it afterwards changes nothing the peer decrypts."""
    t = open_tls_endpoint(tls_pair)
    data = bytearray(os.urandom(4 << 20))
    sent = bytes(data)
    t.ep.submit(b"head", data)
    assert copied == []
    assert resizable(data)
    data[:] = bytes(len(data))
    assert tls_received(t, 8 + len(sent)) == mark(4 + len(sent)) + b"head" + sent
    close(t.ep, t.peer)


def test_with_tls_a_message_held_for_the_handshake_is_a_copy(tls_pair) -> None:
    """TLS: a message submitted before the handshake is done waits for it as a copy, and
    goes out, as it was, once the session is established."""
    t = tls_endpoint_unopened(tls_pair)
    data = bytearray(os.urandom(256 << 10))
    sent = bytes(data)
    t.ep.submit(data)
    assert resizable(data)
    data[:] = bytes(len(data))
    finish_handshake(t)
    assert tls_received(t, 4 + len(sent)) == mark(len(sent)) + sent
    close(t.ep, t.peer)


@pytest.mark.parametrize("shape", ["doubles", "2-d", "strided", "small doubles"])
def test_a_view_of_wider_items_is_sent_as_its_bytes(shape: str) -> None:
    """A part that is a ``memoryview`` of 8-byte items, of two dimensions, or with a stride
    goes out as its bytes, and the record mark counts bytes, not items: big (512 KiB, or 256
    KiB strided) or small (800 bytes, joined with the mark)."""
    ep, peer = open_plain_endpoint()
    doubles = array.array("d", range(64 << 10))  # 512 KiB
    view = memoryview(doubles)
    if shape == "2-d":
        view = view.cast("B").cast("B", (1024, 512))
    elif shape == "strided":
        view = view.cast("B")[::2]
    elif shape == "small doubles":
        view = view[:100]
    sent = view.tobytes()
    ep.submit(b"head", view)
    assert plain_received(ep, peer, 8 + len(sent)) == mark(4 + len(sent)) + b"head" + sent
    close(ep, peer)
