"""What a RecordDecoder holds between reads (wire/record.py: memory follows the bytes)."""

from __future__ import annotations

import mmap
import struct
import time

from gfrpc.wire.record import BodyPool, RecordDecoder, body_class, record_mark


def feed(dec: RecordDecoder, data: bytes) -> None:
    """As the transport does: recv_into a get_buffer() view, then buffer_updated()."""
    pos = 0
    while pos < len(data):
        buf = dec.get_buffer()
        n = min(len(buf), len(data) - pos)
        buf[:n] = data[pos : pos + n]
        dec.buffer_updated(n)
        pos += n


def test_decoder_at_a_boundary_owns_no_buffer() -> None:
    """After whole records are parsed the decoder keeps no read buffer and holds 0 bytes;
    an unused lease is given back by release_buffer()."""
    dec = RecordDecoder()
    feed(dec, record_mark(3) + b"abc" + record_mark(2) + b"de")
    assert dec._lease is None and dec.buffered_bytes == 0 and not dec.in_record
    dec.get_buffer()
    assert dec._lease is not None
    dec.release_buffer()
    assert dec._lease is None


def test_huge_header_holds_only_what_arrived() -> None:
    """A header announcing ~1 GiB: the body is lazily backed memory (mmap) and the bytes
    counted for a budget are the bytes that arrived, not the announced size."""
    dec = RecordDecoder()
    feed(dec, struct.pack(">I", 0x80000000 | ((1 << 30) - 1)) + b"x" * 5000)
    assert dec.buffered_bytes == 5000
    assert isinstance(dec._body, mmap.mmap) and len(dec._body) <= 8 << 20


def test_incomplete_small_record_grows_with_its_bytes() -> None:
    """A small record that arrives in pieces starts at 4 KiB, not at its announced size,
    and still comes out whole."""
    dec = RecordDecoder()
    payload = bytes(range(256)) * 200  # 51,200 bytes: under the 64 KiB direct threshold
    stream = record_mark(len(payload)) + payload
    feed(dec, stream[:104])
    assert dec._body is not None and len(dec._body) == 4096
    feed(dec, stream[104:])
    assert bytes(dec.next_record()) == payload  # type: ignore[arg-type]


def test_body_pool_trims_idle_bodies() -> None:
    """Recycled bodies nobody reused for a while are dropped by trim()."""
    pool = BodyPool(limit=1 << 30)
    dec = RecordDecoder(pool=pool)
    feed(dec, record_mark(100_000) + b"y" * 100_000)
    rec = dec.next_record()
    del rec
    size = body_class(100_000)
    assert pool.nbytes == size
    assert pool.trim(60.0) == 0
    time.sleep(0.05)
    assert pool.trim(0.01) == size and pool.nbytes == 0


def test_records_of_similar_sizes_share_one_pooled_body() -> None:
    """Bodies are pooled by size class: 50 records of 50 different sizes between 1 MiB and
    1 MiB + 60 KiB, each dropped before the next arrives, reuse one body (the pool does not
    fill up with bodies of exact sizes that never come again)."""
    pool = BodyPool(limit=1 << 30)
    dec = RecordDecoder(pool=pool)
    for i in range(1, 51):
        n = (1 << 20) + i * 1229
        feed(dec, record_mark(n) + bytes([i % 251]) * n)
        rec = dec.next_record()
        assert isinstance(rec, memoryview) and len(rec) == n and rec[n - 1] == i % 251
        del rec
    assert pool.nbytes == body_class(1 << 20 | 60_000) <= (1 << 20) * 9 // 8
