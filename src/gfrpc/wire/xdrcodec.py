"""XDR (RFC 4506) stream reader and writer: the primitive verbs behind ``gfrpc.wire.xdr``.

Import these through ``gfrpc.wire.xdr``; see its docstring for the rules (views not copies,
lengths bounded before allocation, Remote/LocalProtocolError).
"""

from __future__ import annotations

import struct as _struct
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from gfrpc.errors import LocalProtocolError, RemoteProtocolError

__all__ = ["XdrReader", "XdrValue", "XdrWriter", "text_bytes"]

T = TypeVar("T")

#: A decoded (or to-be-encoded) XDR value whose Python type depends on a schema known only at
#: run time: a field of an ``xdr.struct``, an array item, a union arm, a gfx_dict value. The
#: generic codecs pass such values through untouched, so they are typed as ``Any``; code that
#: knows the schema (a program's handler) knows the type.
XdrValue = Any

_I32 = _struct.Struct(">i")
_U32 = _struct.Struct(">I")
_I64 = _struct.Struct(">q")
_U64 = _struct.Struct(">Q")
_DBL = _struct.Struct(">d")
_PADS = (b"", b"\0\0\0", b"\0\0", b"\0")
_ENC = "surrogateescape"


def text_bytes(value: str) -> bytes:
    """``value`` as wire bytes (UTF-8, surrogateescape); unencodable text is a local error."""
    try:
        return value.encode("utf-8", _ENC)
    except (UnicodeEncodeError, AttributeError) as exc:
        raise LocalProtocolError(f"XDR: cannot encode {value!r} as a string: {exc}") from None


def _short(what: str, need: int, have: int) -> RemoteProtocolError:
    return RemoteProtocolError(f"XDR: {what} needs {need} bytes, only {have} remain")


_new_reader = object.__new__


class XdrReader:
    """Sequential XDR decoder over bytes, bytearray or memoryview (``pos`` is the offset)."""

    __slots__ = ("buf", "pos", "end")

    def __init__(self, data: bytes | bytearray | memoryview, offset: int = 0) -> None:
        view = data if isinstance(data, memoryview) else memoryview(data)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        self.buf = view
        self.pos = offset
        self.end = len(view)
        if not 0 <= offset <= self.end:
            raise LocalProtocolError(f"XDR: offset {offset} outside a {self.end}-byte buffer")

    @classmethod
    def over(cls, view: memoryview) -> XdrReader:
        """A reader of ``view`` from its start, for a view already one-dimensional and of
        bytes (a record's, as ``rpcmsg.decode_message`` hands them out): no checks, no cast."""
        reader = _new_reader(cls)
        reader.buf = view
        reader.pos = 0
        reader.end = len(view)
        return reader

    def remaining(self) -> int:
        return self.end - self.pos

    def _unpack(self, st: _struct.Struct, what: str) -> XdrValue:  # the type follows st
        pos = self.pos
        if pos + st.size > self.end:
            raise _short(what, st.size, self.end - pos)
        self.pos = pos + st.size
        return st.unpack_from(self.buf, pos)[0]

    def unpack(self, st: _struct.Struct, what: str) -> tuple[XdrValue, ...]:
        """Several fixed-size fields in one ``struct`` unpack (bounded like every read); the
        values' types follow ``st``'s format."""
        pos = self.pos
        if pos + st.size > self.end:
            raise _short(what, st.size, self.end - pos)
        self.pos = pos + st.size
        return st.unpack_from(self.buf, pos)

    def u32(self) -> int:
        return int(self._unpack(_U32, "unsigned int"))

    def i32(self) -> int:
        return int(self._unpack(_I32, "int"))

    def u64(self) -> int:
        return int(self._unpack(_U64, "unsigned hyper"))

    def i64(self) -> int:
        return int(self._unpack(_I64, "hyper"))

    def double(self) -> float:
        return float(self._unpack(_DBL, "double"))

    def bool(self) -> bool:
        value = self._unpack(_U32, "bool")
        if value > 1:
            raise RemoteProtocolError(f"XDR: bool must be 0 or 1, got {value}")
        return value == 1

    def fixed_opaque(self, n: int) -> memoryview:
        """``opaque x[n]``: n bytes plus padding to 4; a view, no copy."""
        pos = self.pos
        padded = (n + 3) & ~3
        if padded > self.end - pos:
            raise _short(f"opaque[{n}]", padded, self.end - pos)
        self.pos = pos + padded
        return self.buf[pos : pos + n]

    def opaque(self, max_len: int | None = None) -> memoryview:
        """``opaque x<max>``: length, bytes, padding; a view, no copy."""
        n = self._unpack(_U32, "opaque length")
        if max_len is not None and n > max_len:
            raise RemoteProtocolError(f"XDR: opaque length {n} over its maximum {max_len}")
        pos = self.pos
        padded = (n + 3) & ~3
        if padded > self.end - pos:
            raise _short(f"opaque<{n}>", padded, self.end - pos)
        self.pos = pos + padded
        return self.buf[pos : pos + n]

    def string(self, max_len: int | None = None) -> str:
        return str(self.opaque(max_len), "utf-8", _ENC)

    def _count(self, max_count: int | None, min_item_size: int, what: str) -> int:
        count = self._unpack(_U32, f"{what} count")
        if max_count is not None and count > max_count:
            raise RemoteProtocolError(f"XDR: {what} of {count} items over its maximum {max_count}")
        if count * max(min_item_size, 1) > self.end - self.pos:
            raise RemoteProtocolError(
                f"XDR: {what} of {count} items cannot fit in {self.end - self.pos} bytes"
            )
        return int(count)

    def array(
        self,
        read_item: Callable[[XdrReader], T],
        max_count: int | None = None,
        min_item_size: int = 4,
    ) -> list[T]:
        """``T x<max>``; ``read_item(reader)`` reads one element."""
        count = self._count(max_count, min_item_size, "array")
        return [read_item(self) for _ in range(count)]

    def u32_array(self, max_count: int | None = None) -> list[int]:
        """``unsigned x<max>`` in one unpack (credential groups)."""
        count = self._count(max_count, 4, "array")
        pos = self.pos
        self.pos = pos + 4 * count
        return list(_struct.unpack_from(f">{count}I", self.buf, pos))

    def optional(self, read_item: Callable[[XdrReader], T]) -> T | None:
        """``T *x``: a bool, then the item when it is 1."""
        return read_item(self) if self.bool() else None

    def linked_list(
        self, read_item: Callable[[XdrReader], T], max_count: int | None = None
    ) -> list[T]:
        """``struct T { ...; T *next; }`` chained from a pointer: items until a 0 bool."""
        items: list[T] = []
        while self.bool():
            if max_count is not None and len(items) >= max_count:
                raise RemoteProtocolError(f"XDR: linked list longer than {max_count} items")
            items.append(read_item(self))
        return items

    def rest(self) -> memoryview:
        """Everything not yet read (e.g. a raw payload); a view, no copy."""
        pos = self.pos
        self.pos = self.end
        return self.buf[pos : self.end]


class XdrWriter:
    """XDR encoder appending to one bytearray; ``getvalue()`` returns the bytes."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def __len__(self) -> int:
        return len(self.buf)

    def getvalue(self) -> bytes:
        return bytes(self.buf)

    def _pack(self, st: _struct.Struct, value: float, what: str) -> None:
        try:
            self.buf += st.pack(value)
        except _struct.error as exc:
            raise LocalProtocolError(f"XDR: cannot encode {value!r} as {what}: {exc}") from None

    def u32(self, value: int) -> None:
        self._pack(_U32, value, "unsigned int")

    def i32(self, value: int) -> None:
        self._pack(_I32, value, "int")

    def u64(self, value: int) -> None:
        self._pack(_U64, value, "unsigned hyper")

    def i64(self, value: int) -> None:
        self._pack(_I64, value, "hyper")

    def double(self, value: float) -> None:
        self._pack(_DBL, value, "double")

    def bool(self, value: bool) -> None:
        if value not in (0, 1):
            raise LocalProtocolError(f"XDR: bool must be True/False/0/1, got {value!r}")
        self.buf += _U32.pack(1 if value else 0)

    def fixed_opaque(self, data: bytes | bytearray | memoryview, n: int) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise LocalProtocolError(f"XDR: opaque[{n}] needs bytes, got {type(data).__name__}")
        if len(data) != n:
            raise LocalProtocolError(f"XDR: opaque[{n}] given {len(data)} bytes")
        self.buf += data
        self.buf += _PADS[n & 3]

    def opaque(self, data: bytes | bytearray | memoryview, max_len: int | None = None) -> None:
        if isinstance(data, memoryview):
            n = data.nbytes
        elif isinstance(data, bytes | bytearray):
            n = len(data)
        else:
            raise LocalProtocolError(f"XDR: opaque needs bytes, got {type(data).__name__}")
        if max_len is not None and n > max_len:
            raise LocalProtocolError(f"XDR: opaque of {n} bytes over its maximum {max_len}")
        if n > 0xFFFFFFFF:
            raise LocalProtocolError("XDR: opaque longer than 2**32-1 bytes")
        self.buf += _U32.pack(n)
        self.buf += data
        self.buf += _PADS[n & 3]

    def string(self, value: str, max_len: int | None = None) -> None:
        if not isinstance(value, str):
            raise LocalProtocolError(f"XDR: string expected, got {type(value).__name__}")
        self.opaque(text_bytes(value), max_len)

    def array(
        self,
        items: Sequence[T],
        write_item: Callable[[XdrWriter, T], None],
        max_count: int | None = None,
    ) -> None:
        if max_count is not None and len(items) > max_count:
            raise LocalProtocolError(
                f"XDR: array of {len(items)} items over its maximum {max_count}"
            )
        self.u32(len(items))
        for item in items:
            write_item(self, item)

    def u32_array(self, items: Sequence[int], max_count: int | None = None) -> None:
        if max_count is not None and len(items) > max_count:
            raise LocalProtocolError(
                f"XDR: array of {len(items)} items over its maximum {max_count}"
            )
        try:
            self.buf += _struct.pack(f">I{len(items)}I", len(items), *items)
        except _struct.error as exc:
            raise LocalProtocolError(f"XDR: bad unsigned int in array: {exc}") from None

    def optional(self, value: T | None, write_item: Callable[[XdrWriter, T], None]) -> None:
        if value is None:
            self.buf += _U32.pack(0)
        else:
            self.buf += _U32.pack(1)
            write_item(self, value)

    def linked_list(self, items: Iterable[T], write_item: Callable[[XdrWriter, T], None]) -> None:
        one = _U32.pack(1)
        for item in items:
            self.buf += one
            write_item(self, item)
        self.buf += _U32.pack(0)

    def raw(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes as they are (no length, no padding)."""
        self.buf += data
