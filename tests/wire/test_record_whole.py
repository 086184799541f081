"""Tests of the decoder's short ways for the commonest read: one whole small record
(``RecordDecoder.take_whole`` after a ``recv_into``, ``take_lone`` after the parser), and of
``buffer_updated``, which takes the first of them itself."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from record_support import drain, frag

from gfrpc.wire.record import NEED_DATA, RecordDecoder, record_mark


def written(dec: RecordDecoder, data: bytes) -> int:
    """Write ``data`` into the decoder's next buffer as ``recv_into`` would; its length."""
    buf = dec.get_buffer()
    buf[: len(data)] = data
    return len(data)


def test_one_whole_small_record_is_taken_as_it_is() -> None:
    """Rule: a read that holds exactly one whole small record, at a record boundary with
    nothing queued, is that record (its own bytes, not a view of the read buffer), and the
    decoder is left holding nothing."""
    dec = RecordDecoder()
    n = written(dec, frag(b"a STAT call"))
    record = dec.take_whole(n)
    assert record is not None and bytes(record) == b"a STAT call"
    assert isinstance(record.obj, bytes)
    assert not dec.in_record and dec.buffered_bytes == 0 and not dec.has_records
    assert dec.next_record() is NEED_DATA
    # the read buffer went back: the next read starts clean
    n = written(dec, frag(b"next"))
    assert bytes(dec.take_whole(n) or b"") == b"next"


@pytest.mark.parametrize(
    "stream",
    [
        frag(b"one") + frag(b"two"),  # two records in one read
        frag(b"one") + b"\x80\x00",  # a record and the start of a next header
        frag(b"0123456789")[:-3],  # a record cut short
        frag(b"first part", last=False),  # a fragment that is not the last
        frag(b"Q" * (64 * 1024)),  # a record big enough to get its own body
        b"\x80\x00",  # less than a header
    ],
    ids=["two", "record+carry", "short", "not-last", "big", "tiny"],
)
def test_anything_else_is_left_to_the_parser(stream: bytes) -> None:
    """Rule: any other read is not taken (None), changes nothing, and ``buffer_updated``
    then parses it as before."""
    dec = RecordDecoder()
    n = written(dec, stream)
    assert dec.take_whole(n) is None
    dec.buffer_updated(n)
    want = RecordDecoder()
    want.receive_data(stream)
    assert drain(dec) == drain(want)
    assert dec.buffered_bytes == want.buffered_bytes


def test_not_taken_while_the_decoder_holds_something() -> None:
    """Rule: a whole record is not taken past a record already queued or an incomplete one
    (it would overtake it)."""
    dec = RecordDecoder()
    dec.receive_data(frag(b"queued"))  # parsed, waiting in the queue
    n = written(dec, frag(b"later"))
    assert dec.take_whole(n) is None
    dec.buffer_updated(n)
    assert drain(dec) == [b"queued", b"later"]

    dec = RecordDecoder()
    dec.receive_data(frag(b"0123456789")[:6])  # an incomplete record
    n = written(dec, b"23456789")  # its rest
    assert dec.take_whole(n) is None
    dec.buffer_updated(n)
    assert drain(dec) == [b"0123456789"]


def test_the_record_size_limit_still_holds() -> None:
    """Rule: a decoder whose limit is below a small record's size refuses it on this way too
    (the parser raises; nothing is taken)."""
    dec = RecordDecoder(max_record_size=8)
    n = written(dec, frag(b"0123456789"))
    assert dec.take_whole(n) is None
    dec.buffer_updated(n)
    with pytest.raises(Exception, match="exceeds the limit"):
        dec.next_record()


def test_take_lone_takes_only_a_record_that_is_alone() -> None:
    """Rule: ``take_lone`` returns the queued record when it is the only thing the decoder
    holds; with a second record, or part of a next one, it returns None and changes nothing."""
    dec = RecordDecoder()
    dec.receive_data(frag(b"alone"))
    assert bytes(dec.take_lone() or b"") == b"alone"
    assert dec.take_lone() is None and dec.next_record() is NEED_DATA

    dec.receive_data(frag(b"one") + frag(b"two"))
    assert dec.take_lone() is None
    assert drain(dec) == [b"one", b"two"]

    dec.receive_data(frag(b"one") + frag(b"two")[:5])
    assert dec.take_lone() is None
    assert drain(dec) == [b"one"] and dec.in_record


_records = st.lists(st.binary(max_size=200) | st.sampled_from([b"Q" * 70000, b""]), max_size=6)


@settings(max_examples=80, deadline=None)
@given(_records, st.lists(st.integers(1, 5000), min_size=1, max_size=8))
def test_reads_taken_whole_keep_the_stream_in_order(
    records: list[bytes], chunks: list[int]
) -> None:
    """Rule: a reader that tries ``take_whole`` on every read and falls back on
    ``buffer_updated`` gets every record once, in order, whatever the reads' sizes."""
    stream = b"".join(record_mark(len(r)) + r for r in records)
    dec = RecordDecoder()
    out: list[bytes] = []
    pos, k = 0, 0
    while pos < len(stream):
        buf = dec.get_buffer()
        n = min(chunks[k % len(chunks)], len(buf), len(stream) - pos)
        k += 1
        buf[:n] = stream[pos : pos + n]
        pos += n
        record = dec.take_whole(n)
        if record is not None:
            out.append(bytes(record))
        else:
            dec.buffer_updated(n)
            out += drain(dec)
    assert out == records
    assert not dec.in_record
