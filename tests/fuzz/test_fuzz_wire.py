"""Fuzz of the wire decoders: record marking, RPC headers, credentials, both dict formats.

Rule (STYLE, ARCHITECTURE "wire"): on any input a decoder returns a value (or NEED_DATA) or
raises ``RemoteProtocolError``; nothing else escapes, and no length read from the wire makes it
allocate far beyond the input. Inputs are random bytes and mutations of valid encodings of
hypothesis-generated values; valid values must round-trip.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from fuzz_support import (
    GFX_DICTS,
    TEXT,
    decode_ok,
    fuzz_settings,
    mutations,
    peak_allocation,
)
from hypothesis import given
from hypothesis import strategies as st

from gfrpc.errors import RemoteProtocolError
from gfrpc.wire import rpcmsg
from gfrpc.wire.gfdict import (
    decode_gfx_dict,
    decode_serialized_dict,
    encode_gfx_dict,
    encode_serialized_dict,
)
from gfrpc.wire.record import NEED_DATA, RecordDecoder, record_mark
from gfrpc.wire.xdr import XdrReader

U32 = st.integers(0, 2**32 - 1)
I32 = st.integers(-(2**31), 2**31 - 1)


# --------------------------------------------------------------------------- record marking
def _feed(data: bytes, cuts: list[int], zero_copy: bool) -> tuple[list[bytes], bool]:
    """Feed ``data`` in pieces (through receive_data or get_buffer/buffer_updated); the
    records decoded and whether a RemoteProtocolError ended it."""
    dec = RecordDecoder(max_record_size=1 << 20)
    out: list[bytes] = []
    pos = 0
    for cut in [*sorted(cuts), len(data)]:
        piece = data[pos:cut] if cut > pos else b""
        pos = max(pos, cut)
        while piece:
            if zero_copy:
                buf = dec.get_buffer()
                n = min(len(buf), len(piece))
                assert n > 0, "get_buffer() gave an empty buffer"
                buf[:n] = piece[:n]
                dec.buffer_updated(n)
                piece = piece[n:]
            else:
                dec.receive_data(piece)
                piece = b""
            try:
                while (rec := dec.next_record()) is not NEED_DATA:
                    out.append(bytes(rec))  # type: ignore[arg-type]
            except RemoteProtocolError:
                with pytest.raises(RemoteProtocolError):  # and it keeps raising
                    dec.next_record()
                return out, True
    return out, False


def _framed(records: list[bytes], split: list[int]) -> bytes:
    """``records`` with record marks; record i is split into fragments when split[i] > 0."""
    out = bytearray()
    for i, rec in enumerate(records):
        k = split[i % len(split)] if split else 0
        if 0 < k < len(rec):
            out += struct.pack(">I", k) + rec[:k]
            rec = rec[k:]
        out += record_mark(len(rec)) + rec
    return bytes(out)


@fuzz_settings(300)
@given(
    data=st.binary(max_size=300),
    cuts=st.lists(st.integers(0, 300), max_size=4),
    zero_copy=st.booleans(),
)
def test_record_decoder_random_bytes(data: bytes, cuts: list[int], zero_copy: bool) -> None:
    """RecordDecoder on random bytes fed in random pieces, through receive_data or the
    zero-copy get_buffer/buffer_updated path: records or RemoteProtocolError, nothing else."""
    _feed(data, cuts, zero_copy)


@fuzz_settings(300)
@given(
    records=st.lists(st.binary(max_size=64), min_size=1, max_size=4),
    split=st.lists(st.integers(0, 64), max_size=3),
    cuts=st.lists(st.integers(0, 400), max_size=4),
    zero_copy=st.booleans(),
)
def test_record_decoder_roundtrip(
    records: list[bytes], split: list[int], cuts: list[int], zero_copy: bool
) -> None:
    """Records framed with record marks (some multi-fragment) come back exactly, in order,
    however the stream is cut."""
    out, failed = _feed(_framed(records, split), cuts, zero_copy)
    assert not failed
    assert out == records


@fuzz_settings(300)
@given(data=st.data(), zero_copy=st.booleans())
def test_record_decoder_mutated_streams(data: st.DataObject, zero_copy: bool) -> None:
    """Valid streams with lying record marks (inflated, truncated, flipped) give the records
    before the damage and then RemoteProtocolError or NEED_DATA, nothing else."""
    records = data.draw(st.lists(st.binary(max_size=40), min_size=1, max_size=3))
    stream = data.draw(mutations(_framed(records, [])))
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=3))
    _feed(stream, cuts, zero_copy)


@pytest.mark.parametrize(
    "mark", [0x7FFFFFFF, 0xFFFFFFFF, 0x3FFFFFFF | 0x80000000, (1 << 30) - 1, 0x00FFFFFF]
)
def test_record_decoder_inflated_mark_allocation(mark: int) -> None:
    """A record mark announcing up to 2 GiB, with a few bytes behind it, makes the decoder
    allocate at most the 8 MiB it may run ahead of the data (ARCHITECTURE record.py), not
    the announced size."""

    def feed() -> None:
        dec = RecordDecoder()
        dec.receive_data(struct.pack(">I", mark) + bytes(100))
        dec.next_record()
        buf = dec.get_buffer()
        dec.buffer_updated(min(len(buf), 10))
        dec.next_record()

    assert peak_allocation(feed) < 9 << 20


# --------------------------------------------------------------------------- RPC header
CREDS = st.one_of(
    st.builds(
        rpcmsg.AuthUnix,
        U32,
        TEXT.filter(lambda s: len(s.encode("utf-8", "surrogateescape")) <= 255),
        U32,
        U32,
        st.lists(U32, max_size=16).map(tuple),
    ),
    st.builds(
        rpcmsg.GlusterCredV1,
        U32,
        U32,
        U32,
        st.lists(U32, max_size=16).map(tuple),
        st.integers(0, 2**64 - 1),
    ),
    st.builds(
        rpcmsg.GlusterCredV2,
        I32,
        U32,
        U32,
        st.lists(U32, max_size=20).map(tuple),
        st.binary(max_size=32),
    ),
    st.builds(
        rpcmsg.GlusterCredV3,
        I32,
        U32,
        U32,
        st.lists(U32, max_size=20).map(tuple),
        st.binary(max_size=32),
        U32,
        st.integers(0, 2**64 - 1),
        U32,
    ),
)


def _check_message(data: bytes) -> None:
    result = decode_ok(lambda: rpcmsg.decode_message(data))
    if result is not None:
        header, body = result
        assert isinstance(header, rpcmsg.CallHeader | rpcmsg.ReplyHeader)
        assert isinstance(body, memoryview) and len(body) <= len(data)
        if isinstance(header, rpcmsg.CallHeader):
            decode_ok(lambda: rpcmsg.decode_credential(header.cred))


@fuzz_settings(400)
@given(data=st.binary(max_size=200))
def test_decode_message_random_bytes(data: bytes) -> None:
    """decode_message on random bytes: a CALL/REPLY header and a body view no longer than the
    input, or RemoteProtocolError."""
    _check_message(data)


@fuzz_settings(200)
@given(
    xid=U32, prog=U32, vers=U32, proc=U32, cred=CREDS, args=st.binary(max_size=40), data=st.data()
)
def test_decode_call_roundtrip_and_mutations(
    xid: int, prog: int, vers: int, proc: int, cred: Any, args: bytes, data: st.DataObject
) -> None:
    """A generated CALL decodes to its fields, body and credential; mutations of it decode or
    raise RemoteProtocolError."""
    raw = rpcmsg.encode_call(xid, prog, vers, proc, cred) + args
    header, body = rpcmsg.decode_message(raw)
    assert isinstance(header, rpcmsg.CallHeader)
    assert (header.xid, header.prog, header.vers, header.proc) == (xid, prog, vers, proc)
    assert bytes(body) == args
    decoded = rpcmsg.decode_credential(header.cred)
    assert decoded is not None and decoded.to_auth() == cred.to_auth()
    _check_message(data.draw(mutations(raw)))


REPLIES = st.one_of(
    st.builds(
        rpcmsg.encode_accepted_reply, U32, st.sampled_from([s for s in rpcmsg.AcceptStat if s != 2])
    ),
    st.builds(lambda x: rpcmsg.encode_accepted_reply(x, 2, low=1, high=3), U32),
    st.builds(lambda x: rpcmsg.encode_denied_reply(x, 0), U32),
    st.builds(lambda x, a: rpcmsg.encode_denied_reply(x, 1, auth_stat=a), U32, st.integers(0, 20)),
)


@fuzz_settings(300)
@given(reply=REPLIES, tail=st.binary(max_size=16), data=st.data())
def test_decode_reply_mutations(reply: bytes, tail: bytes, data: st.DataObject) -> None:
    """Every kind of REPLY decodes as a ReplyHeader with its body; mutations decode or raise
    RemoteProtocolError."""
    header, body = rpcmsg.decode_message(reply + tail)
    assert isinstance(header, rpcmsg.ReplyHeader) and bytes(body) == tail
    _check_message(data.draw(mutations(reply + tail)))


@fuzz_settings(400)
@given(
    flavor=st.sampled_from(
        [
            rpcmsg.AUTH_UNIX,
            rpcmsg.AUTH_GLUSTERFS,
            rpcmsg.AUTH_GLUSTERFS_V2,
            rpcmsg.AUTH_GLUSTERFS_V3,
            0,
            77,
        ]
    ),
    body=st.binary(max_size=420),
)
def test_decode_credential_random_bodies(flavor: int, body: bytes) -> None:
    """decode_credential of every flavor on random bodies: a credential (None for AUTH_NULL
    and unknown flavors) or RemoteProtocolError."""
    decode_ok(lambda: rpcmsg.decode_credential(rpcmsg.OpaqueAuth(flavor, body)))


@fuzz_settings(250)
@given(cred=CREDS, data=st.data())
def test_decode_credential_mutations(cred: Any, data: st.DataObject) -> None:
    """Generated credentials of AUTH_UNIX and AUTH_GLUSTERFS v1/v2/v3 round-trip; their
    mutations decode or raise RemoteProtocolError."""
    auth = cred.to_auth()
    decoded = rpcmsg.decode_credential(auth)
    assert decoded is not None and decoded.to_auth() == auth
    body = data.draw(mutations(auth.body))
    decode_ok(lambda: rpcmsg.decode_credential(rpcmsg.OpaqueAuth(auth.flavor, body)))


# --------------------------------------------------------------------------- dicts
def _gfx(data: bytes) -> Any:
    reader = XdrReader(data)
    value = decode_gfx_dict(reader)
    assert reader.pos <= len(data)
    return value


@fuzz_settings(400)
@given(data=st.binary(max_size=200))
def test_gfx_dict_random_bytes(data: bytes) -> None:
    """decode_gfx_dict on random bytes: a dict, None (the NULL dict) or RemoteProtocolError."""
    decode_ok(lambda: _gfx(data))


@fuzz_settings(300)
@given(d=GFX_DICTS, data=st.data())
def test_gfx_dict_roundtrip_and_mutations(d: Any, data: st.DataObject) -> None:
    """Generated gfx_dicts re-encode byte for byte after decoding; their mutations decode or
    raise RemoteProtocolError."""
    raw = encode_gfx_dict(d)
    assert encode_gfx_dict(_gfx(raw)) == raw
    mutated = data.draw(mutations(raw))
    decode_ok(lambda: _gfx(mutated))


SERIAL = st.dictionaries(
    TEXT,
    st.one_of(
        TEXT.map(lambda s: s.replace("\0", "")),
        st.integers(-(2**63), 2**63 - 1),
        st.binary(max_size=12),
    ),
    max_size=4,
)


@fuzz_settings(400)
@given(data=st.binary(max_size=200))
def test_serialized_dict_random_bytes(data: bytes) -> None:
    """decode_serialized_dict on random bytes: a dict of bytes or RemoteProtocolError."""
    result = decode_ok(lambda: decode_serialized_dict(data))
    assert result is None or all(isinstance(v, bytes) for v in result.values())


@fuzz_settings(300)
@given(d=SERIAL, data=st.data())
def test_serialized_dict_roundtrip_and_mutations(d: Any, data: st.DataObject) -> None:
    """Generated old-format dicts decode to their wire values and re-encode the same; their
    mutations decode or raise RemoteProtocolError."""
    raw = encode_serialized_dict(d)
    decoded = decode_serialized_dict(raw)
    assert list(decoded) == list(d)
    assert encode_serialized_dict(decoded) == raw
    mutated = data.draw(mutations(raw))
    decode_ok(lambda: decode_serialized_dict(mutated))


INFLATED = [0x7FFFFFFF, 0xFFFFFFFF, 1 << 28, 0x10000000 - 1]


@pytest.mark.parametrize("n", INFLATED)
def test_inflated_lengths_allocate_little(n: int) -> None:
    """An opaque length, an array count, a gfx_dict pair count, a serialized-dict count and a
    credential group count of up to 2**32-1 in a 64-byte message are refused before anything
    near that size is allocated (peak under 64 KiB)."""
    word = struct.pack(">I", n)
    pad = bytes(60)
    cases = [
        lambda: XdrReader(word + pad).opaque(),
        lambda: XdrReader(word + pad).array(XdrReader.u32),
        lambda: XdrReader(word + pad).u32_array(),
        lambda: decode_gfx_dict(XdrReader(bytes(4) + bytes(4) + word + pad)),
        lambda: decode_serialized_dict(word + pad),
        lambda: rpcmsg.decode_credential(
            rpcmsg.OpaqueAuth(rpcmsg.AUTH_GLUSTERFS_V3, bytes(24) + word + pad)
        ),
        lambda: rpcmsg.decode_credential(
            rpcmsg.OpaqueAuth(rpcmsg.AUTH_GLUSTERFS_V2, bytes(12) + word + pad)
        ),
        lambda: rpcmsg.decode_message(struct.pack(">IIIIIII", 1, 0, 2, 3, 4, 5, 1) + word + pad),
    ]
    for case in cases:
        assert peak_allocation(case) < 64 << 10
