"""A TLS connection's first big read is the last read of its event (``endpoint_tls.py``).

``sharded`` moves a connection to a shard of its own at the end of the handling that first did
big work; ending that handling after one big read moves a new stream after 256 KiB instead of
after its whole first record. The test plays the poller (a ``ManualPoller``): it drives the
handshake over a socket pair with a client ``SSLObject``, then hands the endpoint one record's
ciphertext through a socket stand-in that counts the reads of each event.
"""

from __future__ import annotations

import os
import socket
import struct

import pytest
from transport_support import finish_handshake, open_tls_endpoint, tls_endpoint_unopened

from gfrpc.transport.endpoint_tls import _READS_PER_EVENT
from gfrpc.wire.record import READ_BUFFER_SIZE

pytestmark = pytest.mark.timeout(30)


class CountingSocket:
    """The endpoint's socket, but reads come from ``data``; counts them."""

    def __init__(self, real: socket.socket, data: bytes) -> None:
        self._real = real
        self._data = memoryview(data)
        self.reads = 0

    def recv_into(self, buf: memoryview, nbytes: int = 0) -> int:
        if not self._data:
            raise BlockingIOError
        self.reads += 1
        n = min(len(buf), len(self._data))
        buf[:n] = self._data[:n]
        self._data = self._data[n:]
        return n

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


def test_the_first_big_tls_read_ends_its_event_and_later_events_read_up_to_four(
    tls_pair,
) -> None:
    """The event that reads a connection's first ``BIG`` bytes reads no more, though more
    ciphertext waits; the next event reads ``_READS_PER_EVENT`` full buffers; the record
    arrives whole."""
    ep, handler, client, _, outgoing, peer = open_tls_endpoint(tls_pair)
    payload = os.urandom(2 << 20)
    client.write(struct.pack(">I", 0x80000000 | len(payload)) + payload)
    cipher = outgoing.read()
    assert len(cipher) > (1 + _READS_PER_EVENT) * READ_BUFFER_SIZE
    sock = CountingSocket(ep._sock, cipher)
    ep._sock = sock  # type: ignore[assignment]

    assert ep.handle_events(True, False, False)
    assert sock.reads == 1  # one big read, and the event ended
    assert ep.handle_events(True, False, False)
    assert sock.reads == 1 + _READS_PER_EVENT  # later events read as before
    while sock._data:
        assert ep.handle_events(True, False, False)
    assert handler.records == [payload]

    ep._sock = sock._real
    ep.close()
    ep.handle_events(False, False, False)
    ep.finalize()
    peer.close()


def test_the_handshake_reads_and_feeds_at_most_32_kib_at_once(tls_pair, monkeypatch) -> None:
    """Rule (endpoint_tls.py, ``_HANDSHAKE_READ``): while the handshake runs, the endpoint reads
    and feeds OpenSSL at most 32 KiB at once, though the client's Finished arrives with 96 KiB
    of data behind it (a memory BIO would keep the room of a whole 256 KiB read for the
    session's life); the data then arrives whole."""
    t = tls_endpoint_unopened(tls_pair)
    finish_handshake(t, server_too=False)
    assert not t.handler.made.is_set()  # the server waits for the client's Finished
    payload = os.urandom(96 << 10)
    t.client.write(struct.pack(">I", 0x80000000 | len(payload)) + payload)
    t.peer.sendall(t.outgoing.read())  # the Finished and the data, together
    fed: list[int] = []
    tls = t.ep._tls
    assert tls is not None
    real_feed = tls.feed
    monkeypatch.setattr(tls, "feed", lambda data: (fed.append(len(data)), real_feed(data))[1])
    for _ in range(20):
        if t.handler.records:
            break
        assert t.ep.handle_events(True, False, False)
    assert t.handler.made.is_set() and t.handler.records == [payload]
    assert fed and max(fed) <= 32 * 1024, fed
    t.ep.close()
    t.ep.handle_events(False, False, False)
    t.ep.finalize()
    t.peer.close()
