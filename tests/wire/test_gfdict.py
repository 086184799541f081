"""Tests of gfrpc.wire.gfdict: gfx_dict (typed) and the old serialized dict."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gfrpc.errors import LocalProtocolError, RemoteProtocolError
from gfrpc.wire import gfdict, xdr
from gfrpc.wire.gfdict import (
    GFX_DICT,
    GfType,
    GfValue,
    as_int,
    as_str,
    decode_gfx_dict,
    decode_serialized_dict,
    encode_gfx_dict,
    encode_serialized_dict,
)
from gfrpc.wire.rpcmsg import decode_message
from gfrpc.wire.xdr import XdrReader

Feed = Callable[[bytes], list[bytes]]
Golden = Callable[[str], bytes]

LookupReq = xdr.struct(
    "LookupReq",
    [
        ("gfid", xdr.FixedOpaque(16)),
        ("pargfid", xdr.FixedOpaque(16)),
        ("flags", xdr.UInt),
        ("bname", xdr.String()),
        ("xdata", GFX_DICT),
    ],
)


def _decode_all(data: bytes) -> dict[str, object] | None:
    r = XdrReader(data)
    d = decode_gfx_dict(r)
    assert r.remaining() == 0
    return d


def test_golden_lookup_xdata(golden: Golden, feed: Feed) -> None:
    """Real LOOKUP xdata: key 'gfid-req' with its NUL, GFUUID value, xdr_size 36; re-encodes."""
    [record] = feed(golden("brick_lookup_call"))
    _, body = decode_message(record)
    req = LookupReq.unpack(body)
    assert req.xdata == {"gfid-req": uuid.UUID(int=1)}
    assert bytes(req.gfid) == uuid.UUID(int=1).bytes and req.bname == ""
    assert req.pack() == bytes(body)
    encoded = encode_gfx_dict({"gfid-req": uuid.UUID(int=1)})
    assert encoded[:12].hex() == "000000240000000100000001"
    assert encoded[12:28] == b"\0\0\0\x09gfid-req\0\0\0\0"


def test_golden_unlink_reply_uint(golden: Golden, feed: Feed) -> None:
    """Real UNLINK reply xdata holds a UINT; it decodes as GfValue and re-encodes exactly."""
    [record] = feed(golden("brick_unlink_reply"))
    _, body = decode_message(record)
    r = XdrReader(body)
    assert (r.i32(), r.i32()) == (0, 0)
    start = r.pos
    d = decode_gfx_dict(r)
    assert d == {"get-link-count": GfValue(GfType.UINT, 0)}
    assert encode_gfx_dict(d) == bytes(body[start : r.pos])
    assert r.remaining() == 2 * 148


def test_golden_setvolume_serialized_dict(golden: Golden, feed: Feed) -> None:
    """Real SETVOLUME dicts (old format) decode to raw NUL-terminated values and re-encode."""
    [record] = feed(golden("brick_setvolume_call"))
    _, body = decode_message(record)
    r = XdrReader(body)
    raw = r.opaque()
    d = decode_serialized_dict(raw)
    assert d["fops-version"] == b"1298437\0" and as_int(d["fops-version"]) == 1298437
    assert as_str(d["remote-subvolume"]) == "/tmp/cap/b1"
    assert as_str(d["client-version"]) == "10.3"
    assert len(d) == 9
    assert encode_serialized_dict(d) == bytes(raw)
    [record] = feed(golden("brick_setvolume_reply"))
    _, body = decode_message(record)
    r = XdrReader(body)
    assert (r.i32(), r.i32()) == (0, 22)
    reply = decode_serialized_dict(r.opaque())
    assert as_str(reply["ERROR"]) == "Success" and as_int(reply["child_up"]) == 1
    assert uuid.UUID(as_str(reply["volume-id"]))


def test_gfx_mapping_and_layout() -> None:
    """int->INT, str->STR (+NUL), bytes->PTR, float->DOUBLE, UUID->GFUUID; xdr_size = size-12."""
    d = {
        "i": -3,
        "s": "ab",
        "p": b"\x01\x02",
        "f": 0.5,
        "u": uuid.UUID(int=7),
        "big": 1 << 63,
        "o": GfValue(GfType.STR_OLD, b"x\0"),
        "ia": GfValue(GfType.IATT, bytes(range(148))),
        "md": GfValue(GfType.MDATA, bytes(36)),
    }
    data = encode_gfx_dict(d)
    assert int.from_bytes(data[:4], "big") == len(data) - 12
    assert data[4:12].hex() == "0000000900000009"
    decoded = _decode_all(data)
    assert decoded == {**d, "big": GfValue(GfType.UINT, 1 << 63)}
    s_pair = encode_gfx_dict({"s": "ab"})[12:]
    assert s_pair.hex() == "0000000273000000000000050000000361620000"


def test_null_and_empty_dicts() -> None:
    """NULL dict = (0, -1, 0) and decodes to None; empty dict = (0, 0, 0)."""
    assert encode_gfx_dict(None).hex() == "00000000ffffffff00000000"
    assert encode_gfx_dict({}).hex() == "000000000000000000000000"
    assert _decode_all(encode_gfx_dict(None)) is None
    assert _decode_all(encode_gfx_dict({})) == {}
    assert decode_serialized_dict(b"") == {} and encode_serialized_dict({}) == bytes(4)


def test_str_without_nul_kept_exact() -> None:
    """A STR value without its NUL decodes as GfValue(STR, bytes) and re-encodes unchanged."""
    data = encode_gfx_dict({"k": GfValue(GfType.STR, b"abc")})
    d = _decode_all(data)
    assert d == {"k": GfValue(GfType.STR, b"abc")}
    assert encode_gfx_dict(d) == data


def test_gfx_bad_values_are_local_errors() -> None:
    """Values with no wire form, wrong IATT/MDATA/UUID sizes or out-of-range ints refuse."""
    with pytest.raises(LocalProtocolError):
        encode_gfx_dict({"\ud800": 1})
    with pytest.raises(LocalProtocolError):
        encode_serialized_dict({"k": "\ud800"})
    for value in (
        object(),
        GfValue(GfType.IATT, bytes(10)),
        GfValue(GfType.GFUUID, b"short"),
        -(1 << 64),
        GfValue(GfType.MDATA, bytes(35)),
    ):
        with pytest.raises(LocalProtocolError):
            encode_gfx_dict({"k": value})


def test_gfx_unknown_type_and_bounds() -> None:
    """Types 0 and >= 10 have no arm; pair counts that cannot fit are refused before use."""
    bad_type = bytes.fromhex("000000100000000100000001000000026b0000000000000a00000000")
    with pytest.raises(RemoteProtocolError):
        _decode_all(bad_type)
    with pytest.raises(RemoteProtocolError):
        _decode_all(bytes.fromhex("000000007fffffff7fffffff") + bytes(100))
    with pytest.raises(RemoteProtocolError):
        _decode_all(bytes.fromhex("00000000ffffffff00000001") + bytes(12))


def test_gfx_truncated_at_every_cut() -> None:
    """Every proper prefix of an encoded gfx_dict raises RemoteProtocolError."""
    data = encode_gfx_dict(
        {
            "a": 1,
            "bb": "x",
            "u": uuid.UUID(int=3),
            "f": 2.0,
            "p": b"zz",
            "ia": GfValue(GfType.IATT, bytes(148)),
        }
    )
    for cut in range(len(data)):
        with pytest.raises(RemoteProtocolError):
            _decode_all(data[:cut])


def test_serialized_truncated_at_every_cut() -> None:
    """Every proper non-empty prefix of an old serialized dict raises RemoteProtocolError."""
    data = encode_serialized_dict({"fops-version": 1298437, "name": "v", "raw": b"\x01"})
    assert data.hex().startswith("000000030000000c00000008" + b"fops-version\0".hex())
    for cut in range(1, len(data)):
        with pytest.raises(RemoteProtocolError):
            decode_serialized_dict(data[:cut])


def test_serialized_malformed() -> None:
    """Old dict: a key not followed by NUL, a huge count or trailing bytes are peer errors."""
    with pytest.raises(RemoteProtocolError):
        decode_serialized_dict(bytes.fromhex("0000000100000001000000006b01"))
    with pytest.raises(RemoteProtocolError):
        decode_serialized_dict(bytes.fromhex("ffffffff") + bytes(64))
    with pytest.raises(RemoteProtocolError):
        decode_serialized_dict(encode_serialized_dict({"a": "b"}) + b"\0")


def test_as_int_like_strtoll() -> None:
    """as_int reads values like strtoll(s, NULL, 0): decimal, 0x hex, 0 octal, sign."""
    assert [as_int(v) for v in (b"42\0", b"0x1f\0", b"010\0", b"-7\0", b"0\0")] == [
        42,
        31,
        8,
        -7,
        0,
    ]
    with pytest.raises(ValueError):
        as_int(b"abc\0")


_keys = st.text(st.characters(blacklist_characters="\0", codec="utf-8"), max_size=12)
_values = (
    st.integers(-(2**63), 2**63 - 1)
    | st.text(st.characters(codec="utf-8"), max_size=20)
    | st.binary(max_size=20)
    | st.floats(allow_nan=False)
    | st.builds(uuid.UUID, st.uuids().map(str))
    | st.builds(GfValue, st.just(GfType.UINT), st.integers(0, 2**64 - 1))
    | st.builds(GfValue, st.just(GfType.STR_OLD), st.binary(max_size=8))
    | st.builds(GfValue, st.just(GfType.IATT), st.binary(min_size=148, max_size=148))
    | st.builds(GfValue, st.just(GfType.MDATA), st.binary(min_size=36, max_size=36))
)


@given(st.none() | st.dictionaries(_keys, _values, max_size=6))
def test_hypothesis_gfx_roundtrip(d: dict[str, object] | None) -> None:
    """decode(encode(d)) == d and encode(decode(x)) == x for gfx_dicts; xdr_size is exact."""
    data = encode_gfx_dict(d)
    assert len(data) % 4 == 0
    if d is not None:
        assert int.from_bytes(data[:4], "big") == len(data) - 12
    out = _decode_all(data)
    assert out == d
    assert encode_gfx_dict(out) == data


@given(
    st.dictionaries(
        st.text(st.characters(blacklist_characters="\0", codec="utf-8"), max_size=12),
        st.binary(max_size=30),
        max_size=6,
    )
)
def test_hypothesis_serialized_roundtrip(d: dict[str, bytes]) -> None:
    """Old serialized dicts round-trip with raw byte values."""
    assert decode_serialized_dict(encode_serialized_dict(d)) == d


def _outcome(data: bytes) -> tuple[object, ...]:
    """What decoding ``data`` gives: the pairs in order and where the reader stopped, or the
    error."""
    r = XdrReader(data)
    try:
        d = decode_gfx_dict(r)
    except RemoteProtocolError as exc:
        return ("error", type(exc))
    return (None if d is None else list(d.items()), r.pos)


def _uncached(data: bytes) -> tuple[object, ...]:
    saved = gfdict._DECODED_MAX_BYTES
    gfdict._DECODED_MAX_BYTES = -1  # every dict decoded pair by pair
    try:
        return _outcome(data)
    finally:
        gfdict._DECODED_MAX_BYTES = saved


def test_a_dict_decoded_again_is_a_new_equal_dict() -> None:
    """The second decoding of the same bytes (md-cache's LOOKUP xdata, with a fresh gfid-req
    last each time) answers from the cache: equal pairs, in order, each decode its own dict
    (changing one changes no later one) and its own gfid-req."""
    asked = {"glusterfs.content": GfValue(GfType.UINT, 65536), "security.ima": 0}
    first_req, second_req = uuid.uuid4(), uuid.uuid4()
    first = _decode_all(encode_gfx_dict({**asked, "gfid-req": first_req}))
    assert first is not None
    assert any(pairs == asked for _, pairs in gfdict._DECODED.values())  # remembered
    first["security.ima"] = 7
    del first["glusterfs.content"]
    second = _decode_all(encode_gfx_dict({**asked, "gfid-req": second_req}))
    assert second == {**asked, "gfid-req": second_req}
    assert list(second) == ["glusterfs.content", "security.ima", "gfid-req"]
    assert _decode_all(encode_gfx_dict(asked)) == asked


def test_a_lone_gfid_req_is_decoded_without_being_remembered() -> None:
    """A CREATE's or MKDIR's whole xdata is one ``gfid-req``, new every time: it decodes to
    that UUID and the decoded-dict cache keeps nothing of it (its bytes never come again)."""
    gfdict._DECODED.clear()
    for _ in range(3):
        req = uuid.uuid4()
        data = encode_gfx_dict({"gfid-req": req}) + b"tail"
        r = XdrReader(data)
        assert decode_gfx_dict(r) == {"gfid-req": req}
        assert r.pos == len(data) - 4
    assert gfdict._DECODED == {}


@given(
    st.dictionaries(_keys, _values, max_size=5),
    st.booleans(),
    st.integers(-64, 64),
)
def test_hypothesis_cached_decoding_is_decoding(
    d: dict[str, object], gfid_req_last: bool, size_lie: int
) -> None:
    """Whatever the bytes, and whatever xdr_size claims, a decoding answered from the cache
    (the second of the same bytes) gives exactly what decoding pair by pair gives: the same
    pairs in the same order and the same end, or the same error."""
    if gfid_req_last:
        d = {**d, "gfid-req": uuid.UUID(int=5)}
    data = bytearray(encode_gfx_dict(d))
    xdr_size = int.from_bytes(data[:4], "big") + size_lie
    if xdr_size < 0:
        return
    data[:4] = xdr_size.to_bytes(4, "big")
    data += bytes(64)  # a lie may point past the dict: into what follows it
    want = _uncached(bytes(data))
    assert _outcome(bytes(data)) == want  # fills the cache
    assert _outcome(bytes(data)) == want  # may answer from it
