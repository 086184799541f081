"""Many TLS sessions in one process (``transport/tls.py``, "Many sessions, small pieces"):
OpenSSL's memory BIOs keep the capacity of the largest piece written into them for the
session's life, so beyond ``_FEW_SESSIONS`` open sessions ciphertext is fed and plaintext
encrypted in pieces of at most ``_MANY_SLICE``, and no large part goes whole."""

from __future__ import annotations

import gc
import random
import ssl
import struct

import pytest
from transport_support import session_pair

from gfrpc.transport import tls as tls_module
from gfrpc.transport.tls import TLSSession
from gfrpc.wire.record import NEED_DATA, RecordDecoder

pytestmark = pytest.mark.timeout(60)

MARK = 0x80000000
BIG = 1 << 20


class RecordingBIO:
    """Stands in front of a session's incoming ``MemoryBIO`` and notes each write's size."""

    def __init__(self, bio: ssl.MemoryBIO) -> None:
        self.bio = bio
        self.writes: list[int] = []

    def write(self, data: bytes | memoryview) -> int:
        self.writes.append(len(data))
        return self.bio.write(data)

    @property
    def pending(self) -> int:
        return self.bio.pending


def _big_record(seed: int) -> tuple[bytes, bytes]:
    body = random.Random(seed).randbytes(BIG)
    return struct.pack(">I", MARK | BIG) + body, body


def _ciphertext(sender: TLSSession, data: bytes) -> bytes:
    sent: list[bytes] = []
    sender.write_message([data[:4], memoryview(data)[4:]], lambda v: sent.append(b"".join(v)))
    return b"".join(sent)


def _open_sessions(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    monkeypatch.setattr(tls_module, "_OPEN", [None] * n)


@pytest.mark.parametrize("others", [0, tls_module._FEW_SESSIONS + 1])
def test_ciphertext_is_fed_in_small_pieces_only_when_many_sessions_are_open(
    tls_pair, monkeypatch, others
):
    """Rule: a 256 KiB read is fed to OpenSSL whole while few sessions are open, and in
    pieces of at most ``_MANY_SLICE`` beyond ``_FEW_SESSIONS``; the record decrypts intact
    either way."""
    _open_sessions(monkeypatch, others)
    server, client = session_pair(tls_pair)
    server.decrypt_into(RecordDecoder())  # TLS 1.3's tickets: no plaintext
    bio = RecordingBIO(server._in)
    server._in = bio  # type: ignore[assignment]  # OpenSSL still reads the real one
    record, body = _big_record(1)
    ciphertext = _ciphertext(client, record)
    decoder = RecordDecoder()
    read = 256 * 1024
    for start in range(0, len(ciphertext), read):
        assert not server.feed_and_decrypt(memoryview(ciphertext)[start : start + read], decoder)
    got = decoder.next_record()
    assert got is not NEED_DATA and bytes(got) == body  # type: ignore[arg-type]
    if others:
        assert max(bio.writes) == tls_module._MANY_SLICE
    else:
        assert max(bio.writes) == read


def test_large_parts_go_in_small_slices_and_never_whole_when_many_sessions_are_open(
    tls_pair, monkeypatch
):
    """Rule: beyond ``_FEW_SESSIONS`` open sessions a server's 1 MiB reply goes in
    ``_MANY_SLICE`` slices, and so does a client's large part, even while enough other
    sessions wait on their peers for it to go whole otherwise."""
    _open_sessions(monkeypatch, tls_module._FEW_SESSIONS + 1)
    monkeypatch.setattr(tls_module, "_UNHEARD", [None] * (tls_module._WHOLE_BESIDE + 1))
    server, client = session_pair(tls_pair)
    server.decrypt_into(RecordDecoder())
    for sender, receiver in ((server, client), (client, server)):
        record, body = _big_record(2)
        sends: list[int] = []
        chunks: list[bytes] = []

        def send(views, sends=sends, chunks=chunks):
            sends.append(1)
            chunks.append(b"".join(bytes(v) for v in views))

        sender.write_message([record[:4], memoryview(record)[4:]], send)
        assert len(sends) == BIG // tls_module._MANY_SLICE
        decoder = RecordDecoder()
        for c in chunks:
            receiver.feed(c)
            receiver.decrypt_into(decoder)
        got = decoder.next_record()
        assert got is not NEED_DATA and bytes(got) == body  # type: ignore[arg-type]


def test_a_session_counts_as_open_until_forgotten_or_collected(tls_pair, monkeypatch):
    """Rule: a session counts itself open from creation; ``forget`` (the endpoint's finalize)
    uncounts it once, and so does its collection if it was never forgotten."""
    _open_sessions(monkeypatch, 0)
    server_ctx, client_ctx = tls_pair
    a, b = TLSSession(server_ctx, True), TLSSession(client_ctx, False)
    assert len(tls_module._OPEN) == 2
    a.forget()
    a.forget()
    assert len(tls_module._OPEN) == 1
    del a
    gc.collect()
    assert len(tls_module._OPEN) == 1
    del b
    gc.collect()
    assert tls_module._OPEN == []
