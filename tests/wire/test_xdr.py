"""Tests of gfrpc.wire.xdr: XDR primitives, bounds checks and declarative structs."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gfrpc.errors import LocalProtocolError, RemoteProtocolError
from gfrpc.wire import xdr
from gfrpc.wire.xdr import XdrReader, XdrWriter

Item = xdr.struct("Item", [("name", xdr.String()), ("num", xdr.UHyper), ("ver", xdr.UHyper)])
Everything = xdr.struct(
    "Everything",
    [
        ("i", xdr.Int),
        ("u", xdr.UInt),
        ("h", xdr.Hyper),
        ("uh", xdr.UHyper),
        ("b", xdr.Bool),
        ("d", xdr.Double),
        ("e", xdr.Enum()),
        ("fixed", xdr.FixedOpaque(5)),
        ("op", xdr.Opaque(64)),
        ("s", xdr.String(64)),
        ("arr", xdr.Array(xdr.Int, 10)),
        ("opt", xdr.Optional(Item)),
        ("lst", xdr.LinkedList(Item)),
        ("un", xdr.Union(xdr.Int, {1: xdr.Hyper, 2: xdr.String(), 3: None})),
        ("tail", xdr.UInt),
    ],
)


def _sample() -> object:
    return Everything(
        -5,
        7,
        -(1 << 40),
        1 << 63,
        True,
        1.5,
        3,
        b"abcde",
        b"xy",
        "h\u00e9llo",
        [1, -2, 3],
        Item("a", 1, 2),
        [Item("p", 3, 4), Item("qq", 5, 6)],
        (2, "arm"),
        99,
    )


def test_primitives_big_endian() -> None:
    """RFC 4506 §4.1-4.7: ints are 4-byte big-endian, hypers 8, doubles IEEE BE, bool 0/1."""
    w = XdrWriter()
    w.i32(-1)
    w.u32(0x01020304)
    w.i64(-2)
    w.u64(0x0102030405060708)
    w.bool(True)
    w.double(1.0)
    data = w.getvalue()
    assert data.hex() == (
        "ffffffff01020304fffffffffffffffe0102030405060708000000013ff0000000000000"
    )
    r = XdrReader(data)
    assert (r.i32(), r.u32(), r.i64(), r.u64(), r.bool(), r.double()) == (
        -1,
        0x01020304,
        -2,
        0x0102030405060708,
        True,
        1.0,
    )
    assert r.remaining() == 0


def test_opaque_and_string_padding() -> None:
    """RFC 4506 §4.9-4.11: variable opaque/string = length + bytes + zero pad to 4."""
    w = XdrWriter()
    w.opaque(b"abcde")
    w.string("ab")
    w.fixed_opaque(b"xyz", 3)
    assert w.getvalue().hex() == "000000056162636465000000000000026162000078797a00"


def test_opaque_is_zero_copy_view() -> None:
    """Opaque data decodes as a memoryview slice of the input, not a copy."""
    data = bytes.fromhex("00000003616263000000000a")
    r = XdrReader(data)
    view = r.opaque()
    assert isinstance(view, memoryview) and view.obj is data and bytes(view) == b"abc"
    assert r.u32() == 10


def test_length_checked_before_allocation() -> None:
    """A length or count past what remains is refused before anything is allocated."""
    with pytest.raises(RemoteProtocolError):
        XdrReader(bytes.fromhex("fffffff0") + b"ab").opaque()
    with pytest.raises(RemoteProtocolError):
        XdrReader(bytes.fromhex("ffffffff") + b"\0" * 8).array(XdrReader.u32)
    with pytest.raises(RemoteProtocolError):  # 3 items of >= 24 bytes cannot fit in 40
        XdrReader(bytes.fromhex("00000003") + b"\0" * 40).array(Item.decode, None, 20)
    with pytest.raises(RemoteProtocolError):
        xdr.Array(Item).decode(XdrReader(bytes.fromhex("00000002") + b"\0" * 30))
    with pytest.raises(RemoteProtocolError):
        XdrReader(bytes.fromhex("40000000")).u32_array()


def test_max_lengths_enforced() -> None:
    """Bounded opaque/string/array (x<max>) reject longer values on decode and on encode."""
    with pytest.raises(RemoteProtocolError):
        XdrReader(bytes.fromhex("00000005") + b"abcde\0\0\0").opaque(4)
    with pytest.raises(RemoteProtocolError):
        XdrReader(bytes.fromhex("00000003") + b"\0" * 12).array(XdrReader.u32, 2)
    with pytest.raises(LocalProtocolError):
        XdrWriter().string("abcde", 4)
    with pytest.raises(LocalProtocolError):
        XdrWriter().array([1, 2, 3], XdrWriter.u32, 2)


def test_bool_must_be_zero_or_one() -> None:
    """RFC 4506 §4.4: a bool other than 0 or 1 is malformed."""
    with pytest.raises(RemoteProtocolError):
        XdrReader(bytes.fromhex("00000002")).bool()


def test_out_of_range_values_are_local_errors() -> None:
    """Encoding a value that does not fit its XDR type raises LocalProtocolError."""
    w = XdrWriter()
    for call in (
        lambda: w.u32(-1),
        lambda: w.i32(1 << 31),
        lambda: w.u64(1 << 64),
        lambda: w.i64(-(1 << 63) - 1),
        lambda: w.bool(2),
        lambda: w.fixed_opaque(b"ab", 3),
        lambda: w.u32("x"),
        lambda: w.string("\ud800"),
        lambda: w.opaque("text"),
    ):  # type: ignore[arg-type]
        with pytest.raises(LocalProtocolError):
            call()
    with pytest.raises(LocalProtocolError):
        Everything(*([0] * 15)).pack()


def test_struct_roundtrip_and_layout() -> None:
    """xdr.struct encodes fields in declaration order and decodes to an equal dataclass."""
    value = _sample()
    data = value.pack()  # type: ignore[attr-defined]
    assert Everything.unpack(data) == value
    assert data[:8].hex() == "fffffffb00000007"
    assert Everything.unpack(data).fixed.obj is data


@pytest.mark.parametrize("where", ["whole", "cuts"])
def test_truncated_struct_raises_at_every_cut(where: str) -> None:
    """Every proper prefix of an encoded struct raises RemoteProtocolError (no partial value)."""
    data = _sample().pack()  # type: ignore[attr-defined]
    if where == "whole":
        assert Everything.unpack(data) == _sample()
        return
    for cut in range(len(data)):
        with pytest.raises(RemoteProtocolError):
            Everything.unpack(data[:cut])


def test_trailing_bytes() -> None:
    """unpack() is exact: trailing bytes are an error unless allow_trailing=True."""
    data = Item("a", 1, 2).pack() + b"\0\0\0\0"
    with pytest.raises(RemoteProtocolError):
        Item.unpack(data)
    assert Item.unpack(data, allow_trailing=True) == Item("a", 1, 2)


def test_optional_and_linked_list_wire_form() -> None:
    """T *p is a bool then T; a linked list chains items with 1 and ends with 0."""
    Lst = xdr.struct("Lst", [("items", xdr.LinkedList(xdr.UInt)), ("opt", xdr.Optional(xdr.UInt))])
    assert Lst([7, 8], None).pack().hex() == "000000010000000700000001000000080000000000000000"
    assert Lst.unpack(bytes.fromhex("000000000000000100000009")) == Lst([], 9)
    with pytest.raises(RemoteProtocolError):
        XdrReader(bytes.fromhex("00000001000000010000000100000001")).linked_list(
            XdrReader.u32, max_count=1
        )


def test_union_arms() -> None:
    """A union encodes its discriminant then the arm; unknown discriminants are errors."""
    u = xdr.Union(xdr.Int, {1: xdr.UInt, 2: None})
    w = XdrWriter()
    u.encode(w, (1, 5))
    u.encode(w, (2, None))
    assert w.getvalue().hex() == "000000010000000500000002"
    r = XdrReader(w.getvalue())
    assert u.decode(r) == (1, 5) and u.decode(r) == (2, None)
    with pytest.raises(RemoteProtocolError):
        u.decode(XdrReader(bytes.fromhex("00000003")))
    with pytest.raises(LocalProtocolError):
        u.encode(XdrWriter(), (3, 1))
    d = xdr.Union(xdr.Int, {1: xdr.UInt}, default=xdr.Hyper)
    assert d.decode(XdrReader(bytes.fromhex("000000090000000000000004"))) == (9, 4)


def test_enum_validation() -> None:
    """Enum(SomeIntEnum) decodes to members and refuses values outside the enum."""
    import enum

    class Color(enum.IntEnum):
        RED = 0
        BLUE = 2

    e = xdr.Enum(Color)
    assert e.decode(XdrReader(bytes.fromhex("00000002"))) is Color.BLUE
    with pytest.raises(RemoteProtocolError):
        e.decode(XdrReader(bytes.fromhex("00000001")))


def test_string_surrogateescape_roundtrip() -> None:
    """Non-UTF-8 string bytes (C strings) decode and re-encode unchanged."""
    raw = bytes.fromhex("00000002ff410000")
    s = XdrReader(raw).string()
    w = XdrWriter()
    w.string(s)
    assert w.getvalue() == raw


def test_rest_returns_remaining_view() -> None:
    """rest() returns everything unread as a view and leaves nothing."""
    data = b"\0\0\0\1payload"
    r = XdrReader(data)
    r.u32()
    rest = r.rest()
    assert bytes(rest) == b"payload" and rest.obj is data and r.remaining() == 0


_items = st.builds(Item, st.text(max_size=8), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
_everything = st.builds(
    Everything,
    st.integers(-(2**31), 2**31 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(0, 2**64 - 1),
    st.booleans(),
    st.floats(allow_nan=False),
    st.integers(-(2**31), 2**31 - 1),
    st.binary(min_size=5, max_size=5),
    st.binary(max_size=64),
    st.text(max_size=16),
    st.lists(st.integers(-(2**31), 2**31 - 1), max_size=10),
    st.none() | _items,
    st.lists(_items, max_size=4),
    st.sampled_from([(1, 5), (2, "x"), (3, None), (1, -(2**63))]),
    st.integers(0, 2**32 - 1),
)


@given(_everything)
def test_hypothesis_struct_roundtrip(value: object) -> None:
    """decode(encode(x)) == x for structs using every XDR type; the length is a multiple of 4."""
    data = value.pack()  # type: ignore[attr-defined]
    assert len(data) % 4 == 0
    assert Everything.unpack(data) == value


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_hypothesis_double(value: float) -> None:
    """Doubles round-trip bit for bit (IEEE 754 big-endian), NaN included."""
    w = XdrWriter()
    w.double(value)
    out = XdrReader(w.getvalue()).double()
    assert out == value or (math.isnan(out) and math.isnan(value))
