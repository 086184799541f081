"""Tests of gfrpc.wire.record: RFC 5531 §11 record marking, both input paths."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from record_support import drain, frag

from gfrpc.errors import LocalProtocolError, RemoteProtocolError
from gfrpc.wire.record import DEFAULT_MAX_RECORD, NEED_DATA, RecordDecoder, record_mark


def via_receive_data(data: bytes, step: int) -> list[bytes]:
    dec = RecordDecoder()
    out: list[bytes] = []
    for i in range(0, len(data), step):
        dec.receive_data(data[i : i + step])
        out += drain(dec)
    assert not dec.in_record
    return out


def via_get_buffer(data: bytes, step: int) -> list[bytes]:
    """Simulate recv_into: write at most ``step`` bytes into each get_buffer() view."""
    dec = RecordDecoder()
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        buf = dec.get_buffer()
        n = min(step, len(buf), len(data) - pos)
        buf[:n] = data[pos : pos + n]
        dec.buffer_updated(n)
        pos += n
        out += drain(dec)
    assert not dec.in_record
    return out


FEEDERS: dict[str, Callable[[bytes], list[bytes]]] = {
    "whole": lambda d: via_receive_data(d, max(len(d), 1)),
    "bytewise": lambda d: via_receive_data(d, 1),
    "recv_into-whole": lambda d: via_get_buffer(d, max(len(d), 1)),
    "recv_into-bytewise": lambda d: via_get_buffer(d, 1),
}


@pytest.fixture(params=list(FEEDERS))
def feeder(request: pytest.FixtureRequest) -> Callable[[bytes], list[bytes]]:
    return FEEDERS[request.param]


def test_record_mark_sets_last_fragment_bit() -> None:
    """GlusterFS sends one fragment per message: htonl(len | 0x80000000)."""
    assert record_mark(0x48).hex() == "80000048"
    assert record_mark(0).hex() == "80000000"
    with pytest.raises(LocalProtocolError):
        record_mark(1 << 31)
    with pytest.raises(LocalProtocolError):
        record_mark(-1)


def test_single_records_in_order(feeder: Callable[[bytes], list[bytes]]) -> None:
    """Records come out whole and in arrival order, however the bytes are split."""
    recs = [b"abcd" * i for i in range(5)]
    assert feeder(b"".join(frag(r) for r in recs)) == recs


def test_multi_fragment_record(feeder: Callable[[bytes], list[bytes]]) -> None:
    """RFC 5531 §11: fragments without the last bit are joined into one record."""
    stream = frag(b"ab", False) + frag(b"", False) + frag(b"cde", False) + frag(b"f") + frag(b"z")
    assert feeder(stream) == [b"abcdef", b"z"]


def test_empty_non_last_fragments_terminate(feeder: Callable[[bytes], list[bytes]]) -> None:
    """A run of zero-length non-last fragments makes progress and ends with the last one."""
    assert feeder(frag(b"", False) * 1000 + frag(b"")) == [b""]


def test_only_empty_fragments_need_data() -> None:
    """Zero-length non-last fragments with no end yield NEED_DATA, never loop forever."""
    dec = RecordDecoder()
    dec.receive_data(frag(b"", False) * 10000)
    assert dec.next_record() is NEED_DATA and dec.in_record


@pytest.mark.parametrize("bytewise", [False, True])
def test_record_limit_rejected_at_header(bytewise: bool) -> None:
    """A record of max_record_size or more is refused as soon as its header is seen."""
    dec = RecordDecoder(max_record_size=1 << 30)
    good = frag(b"ok") + struct.pack(">I", 0x80000000 | ((1 << 30) - 1))
    dec.receive_data(good)
    assert bytes(dec.next_record()) == b"ok"  # type: ignore[arg-type]
    assert dec.next_record() is NEED_DATA  # 1 GiB - 1 is allowed (header accepted)
    dec = RecordDecoder(max_record_size=100)
    stream = frag(b"ok") + frag(b"x" * 100)
    for chunk in [stream[i : i + 1] for i in range(len(stream))] if bytewise else [stream]:
        dec.receive_data(chunk)
    assert bytes(dec.next_record()) == b"ok"  # type: ignore[arg-type]
    with pytest.raises(RemoteProtocolError):
        dec.next_record()
    with pytest.raises(RemoteProtocolError):  # the error sticks
        dec.next_record()


def test_default_limit_is_one_gib() -> None:
    """GlusterFS refuses records of 1 GiB or more; so does the default decoder."""
    assert DEFAULT_MAX_RECORD == 1 << 30
    dec = RecordDecoder()
    dec.receive_data(struct.pack(">I", 0x80000000 | (1 << 30)))
    with pytest.raises(RemoteProtocolError):
        dec.next_record()


def test_multi_fragment_total_limit() -> None:
    """The limit applies to the sum of a record's fragments."""
    dec = RecordDecoder(max_record_size=10)
    dec.receive_data(frag(b"12345", False) + frag(b"67890"))
    with pytest.raises(RemoteProtocolError):
        dec.next_record()


def test_big_record_lands_in_its_own_buffer() -> None:
    """After the header of a 1 MiB record, get_buffer() is a view of the record's bytearray."""
    payload = bytes(range(256)) * 4096
    stream = frag(payload)
    dec = RecordDecoder()
    first = dec.get_buffer()
    assert len(first) >= 256 * 1024 - 1
    first[:1000] = stream[:1000]
    dec.buffer_updated(1000)
    direct = dec.get_buffer()
    assert len(direct) == len(payload) - 996  # exactly the rest of the fragment
    target = direct.obj
    direct[:] = stream[1000:]
    dec.buffer_updated(len(direct))
    rec = dec.next_record()
    assert isinstance(rec, memoryview) and rec.obj is target and rec == payload


def test_small_records_use_scratch_and_stay_intact() -> None:
    """Small records are read many per recv into scratch; handed-out records are never reused."""
    dec = RecordDecoder()
    buf = dec.get_buffer()
    assert len(buf) >= 64 * 1024
    data = frag(b"first") + frag(b"second")
    buf[: len(data)] = data
    dec.buffer_updated(len(data))
    r1, r2 = dec.next_record(), dec.next_record()
    later = []
    for i in range(200):
        dec.receive_data(frag(bytes([i]) * 3000))
        later += drain(dec)
    assert bytes(r1) == b"first" and bytes(r2) == b"second"  # type: ignore[arg-type]
    assert later == [bytes([i]) * 3000 for i in range(200)]


def test_records_before_error_delivered_first() -> None:
    """A protocol error is raised only after the records that preceded it."""
    dec = RecordDecoder(max_record_size=50)
    dec.receive_data(frag(b"a") + frag(b"b") + frag(b"c" * 60))
    assert drain_until_error(dec) == [b"a", b"b"]


def drain_until_error(dec: RecordDecoder) -> list[bytes]:
    out = []
    with pytest.raises(RemoteProtocolError):
        while True:
            rec = dec.next_record()
            assert rec is not NEED_DATA
            out.append(bytes(rec))  # type: ignore[arg-type]
    return out


def test_buffer_updated_misuse() -> None:
    """Reporting more bytes than the buffer given is our bug: LocalProtocolError."""
    dec = RecordDecoder()
    n = len(dec.get_buffer())
    with pytest.raises(LocalProtocolError):
        dec.buffer_updated(n + 1)
    with pytest.raises(LocalProtocolError):
        dec.buffer_updated(-1)


def test_in_record_tracks_partial_data() -> None:
    """in_record is true while a partial header or record is buffered."""
    dec = RecordDecoder()
    assert not dec.in_record
    dec.receive_data(b"\x80\x00")
    assert dec.in_record
    dec.receive_data(b"\x00\x01x")
    assert bytes(dec.next_record()) == b"x" and not dec.in_record  # type: ignore[arg-type]


_records = st.lists(st.binary(max_size=300) | st.sampled_from([b"Q" * 70000, b""]), max_size=6)


@settings(max_examples=60, deadline=None)
@given(
    _records,
    st.integers(1, 9),
    st.lists(st.integers(1, 100_000), min_size=1, max_size=8),
    st.booleans(),
)
def test_hypothesis_paths_agree(
    records: list[bytes], frag_size: int, chunks: list[int], use_recv_into: bool
) -> None:
    """Any fragmentation and any chunking give the same records on both input paths."""
    stream = bytearray()
    for rec in records:
        pieces = [rec[i : i + frag_size * 997] for i in range(0, len(rec), frag_size * 997)] or [
            b""
        ]
        for j, piece in enumerate(pieces):
            stream += frag(piece, j == len(pieces) - 1)
    dec = RecordDecoder()
    out: list[bytes] = []
    pos, k = 0, 0
    while pos < len(stream):
        n = chunks[k % len(chunks)]
        k += 1
        if use_recv_into:
            buf = dec.get_buffer()
            n = min(n, len(buf), len(stream) - pos)
            buf[:n] = stream[pos : pos + n]
            dec.buffer_updated(n)
        else:
            dec.receive_data(bytes(stream[pos : pos + n]))
            n = min(n, len(stream) - pos)
        pos += n
        out += drain(dec)
    assert out == records


def test_huge_header_commits_little_memory() -> None:
    """A header announcing ~1 GiB allocates at most 8 MiB until the bytes actually arrive."""
    dec = RecordDecoder()
    dec.receive_data(struct.pack(">I", 0x80000000 | ((1 << 30) - 1)) + b"x" * 100)
    view = dec.get_buffer()
    assert 0 < len(view) <= 8 * 1024 * 1024 and dec.in_record


@pytest.mark.parametrize("use_recv_into", [False, True])
def test_record_bigger_than_eager_allocation(use_recv_into: bool) -> None:
    """A 20 MiB record (past the 8 MiB eager allocation) still arrives whole and intact."""
    payload = bytes(range(251)) * (20 * 1024 * 1024 // 251)
    stream = frag(payload[:5000], False) + frag(payload[5000:]) + frag(b"next")
    out = via_get_buffer(stream, 1 << 20) if use_recv_into else via_receive_data(stream, 1 << 20)
    assert out == [payload, b"next"]


def test_record_bodies_are_recycled_only_when_unreferenced():
    """A large record's bytearray is reused for a later record only after every view of it
    is gone, so a record held by a reader never changes under it."""
    dec = RecordDecoder()
    size = 200_000

    def feed(fill: int) -> memoryview:
        dec.receive_data(record_mark(size) + bytes([fill]) * size)
        rec = dec.next_record()
        assert isinstance(rec, memoryview)
        return rec

    first = feed(1)
    held = first[10:20]  # a slice keeps the body alive too
    first_body = id(first.obj)
    del first
    second = feed(2)
    assert bytes(held) == b"\x01" * 10  # not overwritten while held
    assert id(second.obj) != first_body
    second_body = id(second.obj)
    del second
    third = feed(3)  # the second body is free now; the first is still held
    assert id(third.obj) == second_body
    assert bytes(held) == b"\x01" * 10
    assert bytes(third[:5]) == b"\x03" * 5


def _fed(stream: bytes, n: int) -> RecordDecoder:
    """A decoder that got the first ``n`` bytes of ``stream`` through one read buffer."""
    dec = RecordDecoder()
    buf = dec.get_buffer()
    buf[:n] = stream[:n]
    dec.buffer_updated(n)
    return dec


def test_a_big_record_in_its_last_fragment_can_go_up_before_its_end() -> None:
    """Rule (``detach``): a record in its last fragment with at least ``minimum`` bytes to come
    and ``HEAD_BYTES`` here is handed out whole-size, its head in place, and the decoder is at
    a boundary: the records after it decode as usual."""
    payload = bytes(range(256)) * 4096
    stream = frag(payload) + frag(b"next")
    dec = _fed(stream, 200_000)
    assert dec.unread_tail(1 << 20) == 0  # fewer bytes to come than asked
    to_come = len(payload) - (200_000 - 4)
    assert dec.unread_tail(64 * 1024) == to_come
    record = dec.detach()
    assert len(record) == len(payload)
    assert bytes(record[: len(payload) - to_come]) == payload[: len(payload) - to_come]
    assert not dec.in_record and dec.buffered_bytes == 0
    dec.receive_data(stream[len(payload) + 4 :])  # the tail was taken by its reader
    assert drain(dec) == [b"next"]


@pytest.mark.parametrize(
    ("stream", "n"),
    [
        (frag(b"x" * 300_000, last=False) + frag(b"y"), 200_000),  # not the last fragment
        (frag(b"x" * 300_000), 1000),  # the head may not hold a whole RPC header
        (frag(b"small") + frag(b"x" * 300_000), 200_000),  # a record waits before it
    ],
    ids=["first-of-two-fragments", "short-head", "record-queued-before"],
)
def test_no_detach_where_the_rules_forbid_it(stream: bytes, n: int) -> None:
    """Rule: no unread tail for a record that is not in its last fragment, whose head is
    shorter than ``HEAD_BYTES``, or behind a finished record not yet taken; ``detach`` then
    refuses."""
    dec = _fed(stream, n)
    assert dec.unread_tail(1) == 0
    with pytest.raises(LocalProtocolError):
        dec.detach()
