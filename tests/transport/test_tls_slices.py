"""Large message parts over TLS (``TLSSession.write_message``, ``transport/tls.py``): sent in
64 KiB slices so that a peer decrypts the start while the rest is encrypted, and, from a
client, whole (one TLS write and one ``send``) once enough other connections of the process
wait on peers that have large messages of theirs to read. A server's replies keep their
slices."""

from __future__ import annotations

import random
import socket
import ssl
import struct

import pytest
from transport_support import ManualPoller, Recorder, session_pair

from gfrpc.transport import Endpoint, SocketOptions
from gfrpc.transport import tls as tls_module
from gfrpc.transport.tls import TLSSession
from gfrpc.wire.record import NEED_DATA, RecordDecoder

pytestmark = pytest.mark.timeout(60)

MARK = 0x80000000
BIG_PART = 1 << 20  # a 1 MiB WRITE's payload or READ's reply
SLICES = BIG_PART // tls_module._TLS_SLICE


@pytest.fixture(autouse=True)
def _few_sessions(monkeypatch):
    """These rules are those of a process with few TLS sessions open (``_FEW_SESSIONS``)."""
    monkeypatch.setattr(tls_module, "_OPEN", [])


def _pair(tls_pair) -> tuple[TLSSession, TLSSession]:
    """A server and a client session, handshake done, the server past TLS 1.3's tickets."""
    server, client = session_pair(tls_pair)
    server.decrypt_into(RecordDecoder())  # TLS 1.3's tickets and such: no plaintext
    return server, client


def _send_big(session: TLSSession, seed: int) -> tuple[bytes, list[bytes]]:
    """``write_message`` of a small header and a 1 MiB part: the record's body and the
    ciphertext of each ``send``."""
    body = random.Random(seed).randbytes(BIG_PART)
    header = struct.pack(">I", MARK | (8 + BIG_PART)) + b"header%02d" % seed
    sends: list[bytes] = []
    session.write_message(
        [header, memoryview(body)], lambda views: sends.append(b"".join(bytes(v) for v in views))
    )
    assert not session.has_output(), "every byte went to send"
    return header[4:] + body, sends


def _decrypted(receiver: TLSSession, sends: list[bytes]) -> bytes:
    decoder = RecordDecoder()
    for ciphertext in sends:
        receiver.feed(ciphertext)
        receiver.decrypt_into(decoder)
    record = decoder.next_record()
    assert record is not NEED_DATA
    return bytes(record)  # type: ignore[arg-type]


def _hear(client: TLSSession, server: TLSSession) -> None:
    """The server answers: a small record the client decrypts."""
    server.write(struct.pack(">I", MARK | 2) + b"ok")
    client.feed(b"".join(bytes(v) for v in server.take_output()))
    client.decrypt_into(RecordDecoder())


def test_a_large_part_goes_in_slices_until_enough_others_wait_on_their_peers(tls_pair, monkeypatch):
    """Rule: a 1 MiB part goes in 64 KiB slices while fewer than ``_WHOLE_BESIDE`` other
    sessions wait to hear from peers that have a large message of theirs; from that many on it
    is one TLS write and one ``send``. Either way the peer decrypts the same bytes. A session's
    own wait does not count, and plaintext from its peer ends it."""
    monkeypatch.setattr(tls_module, "_UNHEARD", [])
    pairs = [_pair(tls_pair) for _ in range(tls_module._WHOLE_BESIDE + 1)]
    for i, (server, client) in enumerate(pairs):
        body, sends = _send_big(client, i)
        assert len(sends) == (1 if i == tls_module._WHOLE_BESIDE else SLICES), i
        assert _decrypted(server, sends) == body
        assert len(tls_module._UNHEARD) == i + 1
    server, client = pairs[-1]
    _, sends = _send_big(client, 99)  # enough others wait; its own wait is not counted
    assert len(sends) == 1
    _hear(*pairs[0][::-1])  # one of the others hears from its peer
    assert len(tls_module._UNHEARD) == tls_module._WHOLE_BESIDE
    _, sends = _send_big(client, 98)
    assert len(sends) == SLICES, "one other fewer: slices again"
    for server, client in pairs:
        _hear(client, server)
    assert tls_module._UNHEARD == []


def test_a_servers_large_reply_keeps_its_slices_and_is_not_counted(tls_pair, monkeypatch):
    """Rule: a server-side session sends a large part in slices whatever the count, and does
    not count itself (a brick's whole 1 MiB READ replies cost fio a fifth more CPU)."""
    monkeypatch.setattr(tls_module, "_UNHEARD", [None] * (tls_module._WHOLE_BESIDE + 2))
    server, client = _pair(tls_pair)
    body, sends = _send_big(server, 7)
    assert len(sends) == SLICES
    assert _decrypted(client, sends) == body
    assert len(tls_module._UNHEARD) == tls_module._WHOLE_BESIDE + 2


def test_six_streams_keep_their_slices(tls_pair, monkeypatch):
    """Rule (Performance notes 68): six client streams, each waiting on its peer, still send
    their large parts in slices; whole parts beside four others cost six TLS streams on
    ``sharded`` x2 about 7 % of their rate."""
    monkeypatch.setattr(tls_module, "_UNHEARD", [])
    pairs = [_pair(tls_pair) for _ in range(6)]
    for i, (_, client) in enumerate(pairs):
        _send_big(client, i)
    for i, (_, client) in enumerate(pairs):
        _, sends = _send_big(client, 10 + i)
        assert len(sends) == SLICES, i
    assert len(tls_module._UNHEARD) == 6


def test_a_session_forgotten_waits_for_nothing(tls_pair, monkeypatch):
    """Rule: ``forget`` (the endpoint's finalize) takes a waiting session out of the count,
    once, however often it is called."""
    monkeypatch.setattr(tls_module, "_UNHEARD", [])
    _, client = _pair(tls_pair)
    _send_big(client, 1)
    assert len(tls_module._UNHEARD) == 1
    client.forget()
    client.forget()
    assert tls_module._UNHEARD == []


def _client_endpoint(tls_pair) -> tuple[Endpoint, Recorder, socket.socket]:
    """A client-side TLS endpoint on a ``ManualPoller`` (the test plays its handling thread),
    its handshake done with a server session the test drives over the socket's other end."""
    server_ctx, client_ctx = tls_pair
    ours, peer = socket.socketpair()
    peer.setblocking(False)
    handler = Recorder()
    ep = Endpoint(
        ours,
        handler=handler,
        poller=ManualPoller(),  # type: ignore[arg-type]
        options=SocketOptions(),
        tls=client_ctx,
        server_side=False,
    )
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_ctx.wrap_bio(incoming, outgoing, server_side=True)
    for _ in range(20):
        assert ep.handle_events(True, True, False)
        try:
            incoming.write(peer.recv(1 << 20))
        except BlockingIOError:
            pass
        try:
            server.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            done = False
        if outgoing.pending:
            peer.sendall(outgoing.read())
        if done and handler.made.is_set():
            return ep, handler, peer
    raise AssertionError("the handshake did not complete")


def test_a_connection_finalized_before_its_peer_answered_waits_for_nothing(tls_pair, monkeypatch):
    """Rule: a client's TLS endpoint that sent a large message and is finalized before it
    heard from its peer leaves the process's count of waiting sessions as it found it."""
    monkeypatch.setattr(tls_module, "_UNHEARD", [])
    ep, _, peer = _client_endpoint(tls_pair)
    try:
        ep.submit(b"call", bytes(BIG_PART))
        assert len(tls_module._UNHEARD) == 1
        ep.close()
        ep.finalize()  # as the poller does once the endpoint is closed
        assert tls_module._UNHEARD == []
    finally:
        peer.close()
