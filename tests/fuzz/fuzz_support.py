"""Shared pieces of the fuzz tests: the decoder contract, value strategies, mutations.

The contract every decoder must keep (STYLE: "return a value, return NEED_DATA, or raise
RemoteProtocolError"): :func:`decode_ok` runs a decoder and lets only a value or
``RemoteProtocolError`` through; anything else fails the test. :func:`mutations` draws the same
kinds of damage as the live campaign (bit flips, interesting words, inflated lengths,
truncation, trailing bytes, deleted or repeated words), as hypothesis data so failures shrink.
:func:`value_strategy` generates valid values for any ``xdr`` type, so every struct can be
encoded first and broken afterwards.
"""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from gfrpc.errors import RemoteProtocolError
from gfrpc.programs import fops_types
from gfrpc.wire import xdr
from gfrpc.wire.gfdict import GFX_DICT, GfType, GfValue

DEFAULT_EXAMPLES = 100


def fuzz_settings(examples: int) -> settings:
    """``examples`` in the default suite; a loaded profile with more (e.g.
    ``--hypothesis-profile gfrpc-fuzz-long``) raises every test to that count."""
    loaded = settings().max_examples
    n = loaded if loaded > DEFAULT_EXAMPLES else examples
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=False,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


def decode_ok(decode: Callable[[], Any]) -> Any:
    """Run a decoder: its value, or None when it raised RemoteProtocolError (the only error
    allowed); any other exception propagates and fails the test."""
    try:
        return decode()
    except RemoteProtocolError:
        return None


INTERESTING = (
    0,
    1,
    3,
    4,
    0x7F,
    0xFF,
    0xFFFF,
    0x10000,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFF,
    0xFFFFFFFE,
    400,
    401,
    1 << 20,
    1 << 30,
)


@st.composite
def mutations(draw: st.DrawFn, raw: bytes) -> bytes:
    """``raw`` with 1-4 campaign-style mutations applied."""
    d = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(("flip", "word", "inflate", "truncate", "extend", "delete", "repeat"))
        )
        n = len(d)
        if kind == "flip" and n:
            d[draw(st.integers(0, n - 1))] ^= 1 << draw(st.integers(0, 7))
        elif kind in ("word", "inflate") and n >= 4:
            pos = draw(st.integers(0, n // 4 - 1)) * 4
            if kind == "word":
                value = draw(st.sampled_from(INTERESTING))
            else:
                old = struct.unpack_from(">I", d, pos)[0]
                value = old + draw(st.sampled_from((1, 4, 4096, 1 << 16, 1 << 24, 1 << 30)))
            struct.pack_into(">I", d, pos, value & 0xFFFFFFFF)
        elif kind == "truncate" and n:
            del d[draw(st.integers(0, n - 1)) :]
        elif kind == "extend":
            d += draw(st.binary(min_size=1, max_size=16))
        elif kind in ("delete", "repeat") and n >= 4:
            pos = draw(st.integers(0, n // 4 - 1)) * 4
            chunk = d[pos : pos + 4 * draw(st.integers(1, 3))]
            if kind == "delete":
                del d[pos : pos + len(chunk)]
            else:
                d[pos:pos] = chunk
    return bytes(d)


# --------------------------------------------------------------------------- value strategies
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
KEY = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\0"), min_size=1, max_size=8
)
DICT_VALUE = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    TEXT.map(lambda s: s.replace("\0", "")),
    st.binary(max_size=8),
    st.uuids(),
    st.floats(allow_nan=False),
    st.integers(0, 2**64 - 1).map(lambda v: GfValue(GfType.UINT, v)),
    st.binary(max_size=8).map(lambda v: GfValue(GfType.STR_OLD, v)),
    st.binary(min_size=148, max_size=148).map(lambda v: GfValue(GfType.IATT, v)),
    st.binary(min_size=36, max_size=36).map(lambda v: GfValue(GfType.MDATA, v)),
)
GFX_DICTS = st.one_of(st.none(), st.dictionaries(KEY, DICT_VALUE, max_size=4))
_INTS = {
    "i": (-(2**31), 2**31 - 1),
    "I": (0, 2**32 - 1),
    "q": (-(2**63), 2**63 - 1),
    "Q": (0, 2**64 - 1),
}


def value_strategy(t: Any) -> st.SearchStrategy[Any]:
    """Valid Python values of the xdr type ``t`` (or an ``xdr.struct`` class)."""
    if isinstance(t, type) and issubclass(t, xdr.XdrStruct):
        return struct_strategy(t)
    if t is GFX_DICT:
        return GFX_DICTS
    if t is xdr.Bool:
        return st.booleans()
    if t is xdr.Double:
        return st.floats(allow_nan=False)
    if t.fmt is not None:
        lo, hi = _INTS[t.fmt]
        return st.integers(lo, hi)
    if isinstance(t, xdr.FixedOpaque):
        return st.binary(min_size=t.n, max_size=t.n)
    if isinstance(t, xdr.String):
        return TEXT
    if isinstance(t, xdr.Opaque):
        return st.binary(max_size=min(t.max_len or 24, 24))
    if isinstance(t, fops_types.OrZero):
        return st.one_of(st.none(), struct_strategy(t.cls))
    if isinstance(t, xdr.LinkedList | xdr.Array):
        return st.lists(value_strategy(t.item), max_size=3)
    if isinstance(t, xdr.Optional):
        return st.one_of(st.none(), value_strategy(t.item))
    if isinstance(t, xdr.Enum):
        return (
            st.integers(-(2**31), 2**31 - 1)
            if t.enum_type is None
            else st.sampled_from(list(t.enum_type))
        )  # type: ignore[call-overload]
    if hasattr(t, "cls"):
        return struct_strategy(t.cls)
    raise AssertionError(f"no strategy for {t!r}")


def struct_strategy(cls: type[xdr.XdrStruct]) -> st.SearchStrategy[Any]:
    return st.builds(cls, **{name: value_strategy(t) for name, t in cls.xdr_fields})


def peak_allocation(fn: Callable[[], Any]) -> int:
    """Peak bytes traced while ``fn()`` runs (its RemoteProtocolError is swallowed)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        decode_ok(fn)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
