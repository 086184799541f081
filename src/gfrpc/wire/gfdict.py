"""GlusterFS dictionaries on the wire: ``gfx_dict`` (typed, XDR) and the old serialized dict.

gfx_dict (glusterfs4-xdr.x; reference §5.3)::

    unsigned xdr_size;  int count;  gfx_dict_pair pairs<>;
    gfx_dict_pair = { opaque key<>; gfx_value value; }     key bytes include the C NUL
    gfx_value     = union switch (int type) { STR_OLD/PTR: opaque; INT: hyper; UINT: unsigned
                    hyper; DOUBLE: double; STR: opaque (with NUL); GFUUID: opaque[16];
                    IATT: gfx_iattx (148 bytes); MDATA: gfx_mdata_iatt (36 bytes) }

``xdr_size`` is the encoded size of the pairs alone (the whole dict minus 12 bytes); GlusterFS's
socket layer uses it to find where a WRITE payload starts, so we always write it exactly. On
decode it is not checked (GlusterFS does not check it either). A NULL dict is ``count = -1``,
``xdr_size = 0`` and decodes to ``None``.

Python mapping (encode): ``int`` -> INT (UINT when >= 2**63), ``str`` -> STR (UTF-8 plus a NUL),
``bytes``/``bytearray``/``memoryview`` -> PTR (a binary blob, as GlusterFS stores xattr values;
no NUL added), ``float`` -> DOUBLE, ``uuid.UUID`` -> GFUUID, ``GfValue(type, value)`` for any
explicit type. IATT and MDATA values are raw bytes of exactly 148 and 36 bytes.
Decode gives back the plain Python type for INT, STR (NUL-terminated), PTR, DOUBLE and GFUUID,
and a ``GfValue`` for everything else (UINT, STR_OLD, IATT, MDATA, and STR without its NUL), so
``encode(decode(x)) == x`` byte for byte.

Old serialized dict (``dict_serialize``; reference §5.5), used in SETVOLUME and GETSPEC::

    count:u32 { keylen:u32 (no NUL)  vallen:u32  key  NUL  value[vallen] }*

Values are raw bytes as on the wire (GlusterFS puts the C NUL inside ``vallen``); ``as_str`` and
``as_int`` read them as GlusterFS would.
"""

from __future__ import annotations

import enum
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from gfrpc.errors import LocalProtocolError, RemoteProtocolError
from gfrpc.wire.xdr import XdrReader, XdrType, XdrValue, XdrWriter, text_bytes

__all__ = [
    "GfType",
    "GfValue",
    "IATT_SIZE",
    "MDATA_SIZE",
    "GfxDict",
    "GFX_DICT",
    "encode_gfx_dict",
    "decode_gfx_dict",
    "encode_serialized_dict",
    "decode_serialized_dict",
    "as_str",
    "as_int",
]

IATT_SIZE: Final = 148
MDATA_SIZE: Final = 36
_ENC = "surrogateescape"
_I32, _U32, _I64, _U64, _DBL = (struct.Struct(f) for f in (">i", ">I", ">q", ">Q", ">d"))
_PADS = (b"", b"\0\0\0", b"\0\0", b"\0")
_MIN_PAIR = 12  # key length word + type word + smallest arm (an opaque length word)


class GfType(enum.IntEnum):
    """``GF_DATA_TYPE_*`` values that have a gfx_value arm."""

    STR_OLD = 1
    INT = 2
    UINT = 3
    DOUBLE = 4
    STR = 5
    PTR = 6
    GFUUID = 7
    IATT = 8
    MDATA = 9


@dataclass(frozen=True, slots=True)
class GfValue:
    """A dict value with an explicit wire type (``value`` is bytes for the opaque types)."""

    type: GfType
    value: XdrValue  # bytes for the opaque types, else what the type says


def _key_head(key: str) -> bytes:
    """A pair's key<> as encoded (the C NUL included), made once per distinct key."""
    head = _KEY_HEADS.get(key)
    if head is None:
        kb = text_bytes(key) + b"\0"
        head = _U32.pack(len(kb)) + kb + _PADS[len(kb) & 3]
        if len(_KEY_HEADS) >= _KEY_HEADS_MAX:
            _KEY_HEADS.clear()
        _KEY_HEADS[key] = head
    return head


#: encoded keys by key (a reply's keys are few and repeat: xattr names, ``glusterfs.content``);
#: bounded, since some are names a peer chose
_KEY_HEADS: dict[str, bytes] = {}
_KEY_HEADS_MAX: Final = 1024
_PTR_WORD: Final = struct.pack(">i", GfType.PTR)


def _pair_bytes(key: str, value: object) -> bytes:
    head = _key_head(key)
    if type(value) is bytes:  # the usual value: an xattr's or a file's bytes (PTR)
        n = len(value)
        return b"".join((head, _PTR_WORD, _U32.pack(n), value, _PADS[n & 3]))
    if isinstance(value, GfValue):
        kind, v = GfType(value.type), value.value
    elif isinstance(value, bool | int):
        kind, v = (GfType.UINT if value >= 1 << 63 else GfType.INT), int(value)
    elif isinstance(value, str):
        kind, v = GfType.STR, value
    elif isinstance(value, bytes | bytearray | memoryview):
        kind, v = GfType.PTR, value
    elif isinstance(value, float):
        kind, v = GfType.DOUBLE, value
    elif isinstance(value, uuid.UUID):
        kind, v = GfType.GFUUID, value
    else:
        raise LocalProtocolError(f"gfx_dict: no wire type for {key!r}: {type(value).__name__}")
    try:
        if kind == GfType.INT:
            arm = _I64.pack(v)
        elif kind == GfType.UINT:
            arm = _U64.pack(v)
        elif kind == GfType.DOUBLE:
            arm = _DBL.pack(v)
        elif kind == GfType.GFUUID:
            raw = v.bytes if isinstance(v, uuid.UUID) else bytes(v)
            if len(raw) != 16:
                raise LocalProtocolError(f"gfx_dict: GFUUID {key!r} must be 16 bytes")
            arm = raw
        elif kind in (GfType.IATT, GfType.MDATA):
            arm = bytes(v)
            size = IATT_SIZE if kind == GfType.IATT else MDATA_SIZE
            if len(arm) != size:
                raise LocalProtocolError(f"gfx_dict: {kind.name} {key!r} must be {size} bytes")
        else:  # STR, STR_OLD, PTR: opaque<>
            data = (text_bytes(v) + b"\0") if isinstance(v, str) else bytes(v)
            arm = _U32.pack(len(data)) + data + _PADS[len(data) & 3]
    except struct.error as exc:
        raise LocalProtocolError(f"gfx_dict: bad {kind.name} value for {key!r}: {exc}") from None
    return head + _I32.pack(kind) + arm


_DICT_HEAD = struct.Struct(">IiI")  # xdr_size, count, number of pairs
_NULL_DICT = _DICT_HEAD.pack(0, -1, 0)
_EMPTY_DICT = _DICT_HEAD.pack(0, 0, 0)


def _encode_into(writer: XdrWriter, d: Mapping[str, object] | None) -> None:
    if d is None:
        writer.buf += _NULL_DICT
        return
    if not d:
        writer.buf += _EMPTY_DICT
        return
    pairs = b"".join([_pair_bytes(k, v) for k, v in d.items()])
    writer.raw(struct.pack(">IiI", len(pairs), len(d), len(d)))
    writer.raw(pairs)


def encode_gfx_dict(d: Mapping[str, object] | None) -> bytes:
    """A gfx_dict (``None`` gives the NULL dict: xdr_size 0, count -1)."""
    w = XdrWriter()
    _encode_into(w, d)
    return w.getvalue()


_SAFE_UNKNOWN: Final = uuid.SafeUUID.unknown
_INT, _UINT, _STR, _PTR = (int(t) for t in (GfType.INT, GfType.UINT, GfType.STR, GfType.PTR))


def _uuid(raw: memoryview) -> uuid.UUID:
    """``uuid.UUID(bytes=raw)`` without its argument checks (``raw`` is 16 bytes): a LOOKUP's
    ``gfid-req`` is decoded on every call."""
    u = object.__new__(uuid.UUID)
    object.__setattr__(u, "int", int.from_bytes(raw, "big"))
    object.__setattr__(u, "is_safe", _SAFE_UNKNOWN)
    return u


def _decode_rare_value(r: XdrReader, kind: int) -> XdrValue:
    """A value of the types ``decode_gfx_dict`` does not decode inline (INT, UINT, STR and PTR,
    the usual ones, are read there)."""
    if kind == GfType.GFUUID:
        return _uuid(r.fixed_opaque(16))
    if kind == GfType.DOUBLE:
        return r.double()
    if kind == GfType.STR_OLD:
        return GfValue(GfType.STR_OLD, bytes(r.opaque()))
    if kind == GfType.IATT:
        return GfValue(GfType.IATT, bytes(r.fixed_opaque(IATT_SIZE)))
    if kind == GfType.MDATA:
        return GfValue(GfType.MDATA, bytes(r.fixed_opaque(MDATA_SIZE)))
    raise RemoteProtocolError(f"gfx_dict: value type {kind} has no wire form")


#: pairs decoded before, by their bytes, for the dicts a client sends again and again:
#: md-cache's LOOKUP xdata asks for the same keys every time, with a ``gfid-req`` of its own
#: last (GlusterFS serializes the key set first last), which is therefore decoded apart. A hit
#: is a dict of immutable values, copied, so a caller may change it. Only pairs whose decoding
#: ended exactly where the dict's ``xdr_size`` says (less the ``gfid-req``) are remembered, and
#: a hit compares every byte, so no ``xdr_size`` can make a hit differ from decoding. Bounded
#: (cleared when full), since the bytes are the peer's choice.
_DECODED: dict[bytes, tuple[int, dict[str, XdrValue]]] = {}
_DECODED_MAX = 256
_DECODED_MAX_BYTES = 512
_GFID_REQ_HEAD: Final = _U32.pack(9) + b"gfid-req\0\0\0\0" + _I32.pack(GfType.GFUUID)
_GFID_REQ_PAIR: Final = len(_GFID_REQ_HEAD) + 16


def decode_gfx_dict(reader: XdrReader) -> dict[str, XdrValue] | None:
    """Read one gfx_dict at the reader's position; ``None`` for a NULL dict (count -1)."""
    start = reader.pos
    if start + 12 > reader.end:
        raise RemoteProtocolError(
            f"XDR: gfx_dict header needs 12 bytes, only {reader.end - start} remain"
        )
    xdr_size, count, npairs = _DICT_HEAD.unpack_from(reader.buf, start)
    reader.pos = start + 12
    if not npairs and count != -1:
        return {}  # the usual xdata: empty
    if npairs * _MIN_PAIR > reader.remaining():
        raise RemoteProtocolError(
            f"gfx_dict: {npairs} pairs cannot fit in {reader.remaining()} bytes"
        )
    if count == -1:
        if npairs:
            raise RemoteProtocolError(f"gfx_dict: NULL dict (count -1) with {npairs} pairs")
        return None
    end = start + 12 + xdr_size
    if xdr_size > _DECODED_MAX_BYTES or end > reader.end:
        return _decode_pairs(reader, npairs, {})
    buf = reader.buf
    known, known_end = npairs, end  # the pairs that may repeat: all but a last gfid-req
    if xdr_size >= _GFID_REQ_PAIR and buf[end - _GFID_REQ_PAIR : end - 16] == _GFID_REQ_HEAD:
        if npairs == 1 and xdr_size == _GFID_REQ_PAIR:  # all of a CREATE's or MKDIR's xdata
            reader.pos = end
            return {"gfid-req": _uuid(buf[end - 16 : end])}
        if npairs > 1 and xdr_size >= _GFID_REQ_PAIR + _MIN_PAIR:  # a pair before it
            known, known_end = npairs - 1, end - _GFID_REQ_PAIR
    raw = bytes(buf[start + 12 : known_end])
    seen = _DECODED.get(raw)
    if seen is not None and seen[0] == known:
        result = seen[1].copy()
        if known < npairs:
            result["gfid-req"] = _uuid(buf[end - 16 : end])
        reader.pos = end
        return result
    result = _decode_pairs(reader, known, {})
    if reader.pos == known_end:
        if len(_DECODED) >= _DECODED_MAX:
            _DECODED.clear()
        _DECODED[raw] = (known, result.copy())
    return _decode_pairs(reader, npairs - known, result) if known < npairs else result


def _decode_pairs(
    reader: XdrReader, npairs: int, result: dict[str, XdrValue]
) -> dict[str, XdrValue]:
    """Read ``npairs`` gfx_dict pairs at the reader's position into ``result``."""
    buf, pos, end = reader.buf, reader.pos, reader.end
    for _ in range(npairs):
        # key<> and the value's type word, bounds checked together; then the arm
        if pos + 8 > end:
            raise RemoteProtocolError("XDR: gfx_dict pair cut short")
        n = _U32.unpack_from(buf, pos)[0]
        at = pos + 4 + ((n + 3) & ~3)
        if at + 4 > end:
            raise RemoteProtocolError(f"XDR: gfx_dict key of {n} bytes cut short")
        kend = pos + 4 + n
        if n and buf[kend - 1] == 0:
            kend -= 1
        key = str(buf[pos + 4 : kend], "utf-8", _ENC)
        kind = _I32.unpack_from(buf, at)[0]
        if kind == _INT or kind == _UINT:
            pos = at + 12
            if pos > end:
                raise RemoteProtocolError("XDR: gfx_dict integer cut short")
            if kind == _INT:
                result[key] = _I64.unpack_from(buf, at + 4)[0]
            else:
                result[key] = GfValue(GfType.UINT, _U64.unpack_from(buf, at + 4)[0])
            continue
        if kind == _PTR or kind == _STR:
            if at + 8 > end:
                raise RemoteProtocolError("XDR: gfx_dict value cut short")
            m = _U32.unpack_from(buf, at + 4)[0]
            pos = at + 8 + ((m + 3) & ~3)
            if pos > end:
                raise RemoteProtocolError(f"XDR: gfx_dict value of {m} bytes cut short")
            if kind == _PTR:
                result[key] = bytes(buf[at + 8 : at + 8 + m])
            elif m and buf[at + 7 + m] == 0:
                result[key] = str(buf[at + 8 : at + 7 + m], "utf-8", _ENC)
            else:
                result[key] = GfValue(GfType.STR, bytes(buf[at + 8 : at + 8 + m]))
            continue
        reader.pos = at + 4
        result[key] = _decode_rare_value(reader, kind)
        pos = reader.pos
    reader.pos = pos
    return result


class GfxDict(XdrType):
    """``gfx_dict`` as a field type for ``xdr.struct``."""

    min_size = 12

    def __init__(self) -> None:
        # the functions themselves: a struct's generated code calls them with no method hop
        self.decode = decode_gfx_dict  # type: ignore[method-assign]
        self.encode = _encode_into  # type: ignore[method-assign,assignment]

    def decode(self, reader: XdrReader) -> dict[str, XdrValue] | None:
        return decode_gfx_dict(reader)

    def encode(self, writer: XdrWriter, value: XdrValue) -> None:
        _encode_into(writer, value)


GFX_DICT: Final = GfxDict()


# --------------------------------------------------------------------------- old serialized dict


def _old_value(key: str, value: object) -> bytes:
    if isinstance(value, str):
        return text_bytes(value) + b"\0"
    if isinstance(value, bool | int):
        return b"%d\0" % value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise LocalProtocolError(f"serialized dict: no wire form for {key!r}: {type(value).__name__}")


def encode_serialized_dict(d: Mapping[str, str | int | bytes]) -> bytes:
    """The old dict format: str and int values get their C NUL; bytes are sent as given."""
    parts = [_U32.pack(len(d))]
    for key, value in d.items():
        kb = text_bytes(key)
        vb = _old_value(key, value)
        parts += (struct.pack(">II", len(kb), len(vb)), kb, b"\0", vb)
    return b"".join(parts)


def decode_serialized_dict(data: bytes | bytearray | memoryview) -> dict[str, bytes]:
    """Parse the old dict format; values are the raw bytes (usually ending in NUL)."""
    view = memoryview(data).cast("B")
    end = len(view)
    if end == 0:
        return {}  # an empty opaque<> where a dict may be: no dict
    if end < 4:
        raise RemoteProtocolError("serialized dict: shorter than its count")
    count = _U32.unpack_from(view, 0)[0]
    pos = 4
    if count * 9 > end - pos:  # each pair: two lengths and a NUL at least
        raise RemoteProtocolError(f"serialized dict: {count} pairs cannot fit in {end} bytes")
    result: dict[str, bytes] = {}
    for _ in range(count):
        if end - pos < 8:
            raise RemoteProtocolError("serialized dict: truncated pair header")
        keylen, vallen = struct.unpack_from(">II", view, pos)
        pos += 8
        if keylen + 1 + vallen > end - pos:
            raise RemoteProtocolError(
                f"serialized dict: pair of {keylen}+1+{vallen} bytes past the end"
            )
        if view[pos + keylen] != 0:
            raise RemoteProtocolError("serialized dict: key not followed by NUL")
        key = str(view[pos : pos + keylen], "utf-8", _ENC)
        pos += keylen + 1
        result[key] = bytes(view[pos : pos + vallen])
        pos += vallen
    if pos != end:
        raise RemoteProtocolError(f"serialized dict: {end - pos} bytes after the last pair")
    return result


def as_str(value: bytes) -> str:
    """A serialized-dict value as GlusterFS reads it: a C string (up to the first NUL)."""
    nul = value.find(b"\0")
    return str(value if nul < 0 else value[:nul], "utf-8", _ENC)


def as_int(value: bytes) -> int:
    """A serialized-dict value as ``strtoll(s, NULL, 0)``: decimal, 0x hex or 0 octal."""
    text = as_str(value).strip()
    sign = -1 if text[:1] == "-" else 1
    digits = text.lstrip("+-")
    try:
        if digits[:2].lower() == "0x":
            return sign * int(digits[2:], 16)
        if len(digits) > 1 and digits[0] == "0":
            return sign * int(digits[1:], 8)
        return sign * int(digits, 10)
    except ValueError:
        raise ValueError(f"not an integer: {text!r}") from None
