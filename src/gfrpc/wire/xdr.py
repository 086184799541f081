"""XDR (RFC 4506) reader, writer and declarative types.

Decoding never copies opaque data: ``opaque`` and ``fixed_opaque`` return ``memoryview`` slices
of the input. Every length and count read from the wire is compared with what remains of the
input *before* anything is allocated, so a hostile peer cannot make us build a large object out
of a small message; failures raise ``RemoteProtocolError``. Encoding errors (a value out of
range, a string over its maximum) raise ``LocalProtocolError``.

Strings are C strings in GlusterFS, not necessarily UTF-8: they decode as UTF-8 with
``surrogateescape`` so every byte sequence round-trips, and encode the same way.

``struct(name, fields)`` builds a slotted dataclass whose ``decode``/``encode`` are generated
once as straight-line code: a run of fixed-size fields (numbers and ``opaque[n]``, such as the
gfids that start most GlusterFS requests) is one bounds check and one precompiled
``struct.Struct`` call, a string or ``opaque<>`` is read in place, and the other fields call
their type's bound method. A request is decoded for every call a server serves: each method
call saved there is measured per request (docs/ARCHITECTURE.md, "Performance notes").
"""

from __future__ import annotations

import dataclasses
import struct as _struct
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias, TypeVar

from gfrpc.errors import LocalProtocolError, RemoteProtocolError
from gfrpc.wire.xdrcodec import _ENC, _U32, XdrReader, XdrValue, XdrWriter, _short, text_bytes

__all__ = [
    "XdrReader",
    "XdrValue",
    "XdrWriter",
    "TypeSpec",
    "text_bytes",
    "XdrType",
    "XdrStruct",
    "struct",
    "Int",
    "UInt",
    "Hyper",
    "UHyper",
    "Bool",
    "Double",
    "Enum",
    "FixedOpaque",
    "Opaque",
    "String",
    "Array",
    "Optional",
    "LinkedList",
    "Union",
    "as_type",
]

_S = TypeVar("_S", bound="XdrStruct")

#: What the declarative types accept as a field or item type: an ``XdrType`` instance or a
#: class made by :func:`struct`.
TypeSpec: TypeAlias = "XdrType | type[XdrStruct]"


# --------------------------------------------------------------------------- declarative types


class XdrType:
    """One XDR type: ``decode(reader) -> value`` and ``encode(writer, value)``.

    ``min_size`` is the fewest bytes an encoded value takes (used to bound array counts);
    ``fmt`` is a ``struct`` format letter when the type is a plain fixed-size number, which lets
    ``struct()`` merge consecutive numeric fields into one unpack.
    """

    min_size = 4
    fmt: str | None = None

    def decode(self, reader: XdrReader) -> XdrValue:
        raise NotImplementedError

    def encode(self, writer: XdrWriter, value: XdrValue) -> None:
        raise NotImplementedError


class _Number(XdrType):
    def __init__(
        self,
        name: str,
        fmt: str,
        read: Callable[[XdrReader], XdrValue],
        write: Callable[[XdrWriter, XdrValue], None],
    ) -> None:
        self.name, self.fmt, self.min_size = name, fmt, _struct.calcsize(">" + fmt)
        self.decode = read  # type: ignore[method-assign,assignment]
        self.encode = write  # type: ignore[method-assign,assignment]

    def __repr__(self) -> str:
        return self.name


Int = _Number("Int", "i", XdrReader.i32, XdrWriter.i32)
UInt = _Number("UInt", "I", XdrReader.u32, XdrWriter.u32)
Hyper = _Number("Hyper", "q", XdrReader.i64, XdrWriter.i64)
UHyper = _Number("UHyper", "Q", XdrReader.u64, XdrWriter.u64)
Double = _Number("Double", "d", XdrReader.double, XdrWriter.double)


class _Bool(XdrType):
    def decode(self, reader: XdrReader) -> bool:
        return reader.bool()

    def encode(self, writer: XdrWriter, value: XdrValue) -> None:
        writer.bool(value)


Bool = _Bool()


class Enum(XdrType):
    """A signed 32-bit enum; ``Enum(SomeIntEnum)`` decodes to members, others are an error."""

    def __init__(self, enum_type: Callable[[int], object] | None = None) -> None:
        self.enum_type = enum_type

    def decode(self, reader: XdrReader) -> XdrValue:
        value = reader.i32()
        if self.enum_type is None:
            return value
        try:
            return self.enum_type(value)
        except ValueError:
            raise RemoteProtocolError(f"XDR: {value} is not a valid {self.enum_type!r}") from None

    def encode(self, writer: XdrWriter, value: XdrValue) -> None:
        writer.i32(int(value))


class FixedOpaque(XdrType):
    def __init__(self, n: int) -> None:
        self.n = n
        self.min_size = (n + 3) & ~3

    def decode(self, reader: XdrReader) -> memoryview:
        return reader.fixed_opaque(self.n)

    def encode(self, writer: XdrWriter, value: XdrValue) -> None:
        writer.fixed_opaque(value, self.n)


class _Bounded(XdrType):
    """A variable-length type whose length may have a maximum (``<max_len>``; None: ``<>``)."""

    def __init__(self, max_len: int | None = None) -> None:
        self.max_len = max_len


class Opaque(_Bounded):
    def decode(self, reader: XdrReader) -> memoryview:
        return reader.opaque(self.max_len)

    def encode(self, writer: XdrWriter, value: XdrValue) -> None:
        writer.opaque(value, self.max_len)


class String(_Bounded):
    def decode(self, reader: XdrReader) -> str:
        return reader.string(self.max_len)

    def encode(self, writer: XdrWriter, value: XdrValue) -> None:
        writer.string(value, self.max_len)


def as_type(t: TypeSpec) -> XdrType:
    """An ``XdrType`` for a type object or an ``xdr.struct`` class."""
    if isinstance(t, XdrType):
        return t
    if isinstance(t, type) and issubclass(t, XdrStruct):
        return _StructType(t)
    raise LocalProtocolError(f"XDR: {t!r} is not an XDR type")


class _StructType(XdrType):
    def __init__(self, cls: type[XdrStruct]) -> None:
        self.cls = cls
        self.min_size = cls.xdr_min_size
        self.decode = cls.decode  # type: ignore[method-assign]

    def encode(self, writer: XdrWriter, value: XdrValue) -> None:
        value.encode(writer)


class Array(XdrType):
    def __init__(self, item: TypeSpec, max_count: int | None = None) -> None:
        self.item, self.max_count = as_type(item), max_count

    def decode(self, reader: XdrReader) -> list[XdrValue]:
        return reader.array(self.item.decode, self.max_count, self.item.min_size)

    def encode(self, writer: XdrWriter, value: XdrValue) -> None:
        writer.array(value, self.item.encode, self.max_count)


class Optional(XdrType):
    def __init__(self, item: TypeSpec) -> None:
        self.item = as_type(item)

    def decode(self, reader: XdrReader) -> XdrValue:
        return reader.optional(self.item.decode)

    def encode(self, writer: XdrWriter, value: XdrValue) -> None:
        writer.optional(value, self.item.encode)


class LinkedList(XdrType):
    """``T *head`` where T ends with ``T *next``: a Python list of T without the next field."""

    def __init__(self, item: TypeSpec, max_count: int | None = None) -> None:
        self.item, self.max_count = as_type(item), max_count

    def decode(self, reader: XdrReader) -> list[XdrValue]:
        return reader.linked_list(self.item.decode, self.max_count)

    def encode(self, writer: XdrWriter, value: XdrValue) -> None:
        writer.linked_list(value, self.item.encode)


class Union(XdrType):
    """``union switch (discriminant) { case v: arm; ... default: arm; }``.

    Values are ``(discriminant, arm_value)`` tuples; an arm of ``None`` is void. A discriminant
    with no arm and no default is an error both ways.
    """

    _NO_DEFAULT = object()

    def __init__(
        self,
        discriminant: TypeSpec,
        arms: dict[int, TypeSpec | None],
        default: TypeSpec | None | object = _NO_DEFAULT,
    ) -> None:
        self.disc = as_type(discriminant)
        self.arms = {k: (None if v is None else as_type(v)) for k, v in arms.items()}
        self.default: XdrType | None | object = (
            default if default is Union._NO_DEFAULT or default is None else as_type(default)  # type: ignore[arg-type]  # not the sentinel: a TypeSpec
        )
        self.min_size = self.disc.min_size

    def _arm(self, disc: int, error: type[Exception]) -> XdrType | None:
        if disc in self.arms:
            return self.arms[disc]
        if self.default is Union._NO_DEFAULT:
            raise error(f"XDR: union has no arm for discriminant {disc}")
        return self.default  # type: ignore[return-value]

    def decode(self, reader: XdrReader) -> tuple[XdrValue, XdrValue]:
        disc = self.disc.decode(reader)
        arm = self._arm(disc, RemoteProtocolError)
        return disc, (None if arm is None else arm.decode(reader))

    def encode(self, writer: XdrWriter, value: XdrValue) -> None:
        disc, arm_value = value
        arm = self._arm(disc, LocalProtocolError)
        self.disc.encode(writer, disc)
        if arm is not None:
            arm.encode(writer, arm_value)


# --------------------------------------------------------------------------- structs


class XdrStruct:
    """Base of the classes made by ``struct()``; the generated dataclass fills in the fields."""

    __slots__ = ()
    xdr_fields: tuple[tuple[str, XdrType], ...] = ()
    xdr_min_size = 0

    if TYPE_CHECKING:

        def __init__(self, *args: XdrValue, **kwargs: XdrValue) -> None: ...

        def __getattr__(self, name: str) -> XdrValue: ...  # the fields: see xdr_fields

    @classmethod
    def decode(cls: type[_S], reader: XdrReader) -> _S:
        raise NotImplementedError  # replaced by generated code

    def encode(self, writer: XdrWriter) -> None:
        raise NotImplementedError  # replaced by generated code

    def pack(self) -> bytes:
        writer = XdrWriter()
        self.encode(writer)
        return writer.getvalue()

    @classmethod
    def unpack(
        cls: type[_S], data: bytes | bytearray | memoryview, *, allow_trailing: bool = False
    ) -> _S:
        reader = XdrReader(data)
        value = cls.decode(reader)
        if reader.pos != reader.end and not allow_trailing:
            raise RemoteProtocolError(
                f"XDR: {reader.end - reader.pos} trailing bytes after {cls.__name__}"
            )
        return value


def _plan(fields: list[tuple[str, XdrType]]) -> list[tuple[str, list[str]] | tuple[None, str]]:
    """Group consecutive fixed-size fields (numbers and ``opaque[n]``): [(fmt, names) |
    (None, name)]; an ``opaque[n]`` is ``{n}s`` plus its padding bytes in the format."""
    plan: list[tuple[str, list[str]] | tuple[None, str]] = []
    for name, t in fields:
        fmt = _fixed_fmt(t)
        if fmt is not None and plan and plan[-1][0] is not None:
            plan[-1] = (plan[-1][0] + fmt, plan[-1][1] + [name])
        elif fmt is not None:
            plan.append((fmt, [name]))
        else:
            plan.append((None, name))
    return plan


def _fixed_fmt(t: XdrType) -> str | None:
    if t.fmt is not None:
        return t.fmt
    if type(t) is FixedOpaque:
        pad = t.min_size - t.n
        return f"{t.n}s" + (f"{pad}x" if pad else "")
    return None


def _fixed_bytes(value: object, n: int) -> bytes:
    """An ``opaque[n]`` field's value as the ``bytes`` its struct format packs (the checks of
    ``XdrWriter.fixed_opaque``)."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise LocalProtocolError(f"XDR: opaque[{n}] needs bytes, got {type(value).__name__}")
    if len(value) != n:
        raise LocalProtocolError(f"XDR: opaque[{n}] given {len(value)} bytes")
    return bytes(value)


def _compile(cls: type[XdrStruct], fields: list[tuple[str, XdrType]]) -> None:
    """Generate ``decode``/``encode`` as straight-line code: a run of fixed-size fields is one
    bounds check and one ``struct`` call (an ``opaque[n]`` decodes to a view of the input, as
    ``XdrReader.fixed_opaque`` gives), a string or opaque<> is read in place; other fields call
    their type's methods."""
    types = dict(fields)
    env: dict[str, object] = {
        "_cls": cls,
        "_err": _struct.error,
        "_short": _short,
        "_Local": LocalProtocolError,
        "_Remote": RemoteProtocolError,
        "_fixed_bytes": _fixed_bytes,
        "_U32": _U32,
        "_ENC": _ENC,
    }
    dec = ["def decode(cls, r):", "    buf = r.buf"]
    enc = ["def encode(self, w):"]
    for i, step in enumerate(_plan(fields)):
        if step[0] is not None:
            fmt, names = step
            st = _struct.Struct(">" + fmt)
            env[f"_s{i}"] = st
            dec += [
                "    pos = r.pos",
                f"    if pos + {st.size} > r.end:",
                f"        raise _short('{cls.__name__}', {st.size}, r.end - pos)",
            ]
            numeric = [n for n in names if types[n].fmt is not None]
            if numeric:
                nfmt = "".join(
                    str(types[n].fmt) if types[n].fmt is not None else f"{types[n].min_size}x"
                    for n in names
                )
                env[f"_n{i}"] = _struct.Struct(">" + nfmt)
                targets = "".join(f"f_{n}, " for n in numeric)
                dec.append(f"    {targets}= _n{i}.unpack_from(buf, pos)")
            off = 0
            for n in names:
                t = types[n]
                if t.fmt is None:  # opaque[n]: a view
                    size = t.n  # type: ignore[attr-defined]  # a FixedOpaque (_fixed_fmt)
                    dec.append(f"    f_{n} = buf[pos + {off} : pos + {off + size}]")
                    enc.append(f"    v_{n} = self.{n}")
                    enc.append(f"    if v_{n}.__class__ is not bytes or len(v_{n}) != {size}:")
                    enc.append(f"        v_{n} = _fixed_bytes(v_{n}, {size})")
                off += t.min_size if t.fmt is None else _struct.calcsize(">" + t.fmt)
            dec.append(f"    r.pos = pos + {st.size}")
            args = ", ".join(f"self.{n}" if types[n].fmt is not None else f"v_{n}" for n in names)
            enc += [
                "    try:",
                f"        w.buf += _s{i}.pack({args})",
                "    except _err as exc:",
                f"        raise _Local(f'XDR: {cls.__name__}: bad value in {'/'.join(names)}: '",
                "                     f'{exc}') from None",
            ]
        else:
            name = step[1]
            t = types[name]
            env[f"_d{i}"], env[f"_e{i}"] = t.decode, t.encode
            if type(t) in (Opaque, String):
                limit = t.max_len  # type: ignore[attr-defined]  # an Opaque or String
                dec += [
                    "    pos = r.pos",
                    "    if pos + 4 > r.end:",
                    "        raise _short('opaque length', 4, r.end - pos)",
                    "    n = _U32.unpack_from(buf, pos)[0]",
                ]
                if limit is not None:
                    dec += [
                        f"    if n > {limit}:",
                        "        raise _Remote(f'XDR: opaque length {n} over its maximum "
                        + str(limit)
                        + "')",
                    ]
                value = "buf[pos + 4 : pos + 4 + n]"
                if type(t) is String:
                    value = f"str({value}, 'utf-8', _ENC)"
                dec += [
                    "    after = pos + 4 + ((n + 3) & ~3)",
                    "    if after > r.end:",
                    "        raise _short(f'opaque<{n}>', (n + 3) & ~3, r.end - pos - 4)",
                    f"    f_{name} = {value}",
                    "    r.pos = after",
                ]
            else:
                dec.append(f"    f_{name} = _d{i}(r)")
            enc.append(f"    _e{i}(w, self.{name})")
    dec.append("    return _cls(" + ", ".join(f"f_{n}" for n, _ in fields) + ")")
    if not fields:
        enc.append("    pass")
    exec("\n".join(dec) + "\n\n" + "\n".join(enc), env)  # noqa: S102 - generated from field names
    cls.decode = classmethod(env["decode"])  # type: ignore[assignment,method-assign,arg-type]
    cls.encode = env["encode"]  # type: ignore[method-assign,assignment]


def struct(
    name: str,
    fields: Sequence[tuple[str, TypeSpec] | tuple[str, TypeSpec, XdrValue]],
    *,
    module: str | None = None,
    doc: str | None = None,
) -> type[XdrStruct]:
    """A dataclass type for ``struct name { fields }``; a 3-tuple field gives a default."""
    typed: list[tuple[str, XdrType]] = []
    dc_fields: list[tuple[str, object] | tuple[str, object, dataclasses.Field[XdrValue]]] = []
    for spec in fields:
        fname, ftype = spec[0], as_type(spec[1])
        if not fname.isidentifier():
            raise LocalProtocolError(f"XDR: bad field name {fname!r}")
        typed.append((fname, ftype))
        if len(spec) == 3:
            dc_fields.append((fname, XdrValue, dataclasses.field(default=spec[2])))  # type: ignore[misc]
        else:
            dc_fields.append((fname, XdrValue))
    cls: type[XdrStruct] = dataclasses.make_dataclass(
        name, dc_fields, bases=(XdrStruct,), slots=True
    )
    cls.xdr_fields = tuple(typed)
    cls.xdr_min_size = sum(t.min_size for _, t in typed)
    cls.__module__ = (
        module if module is not None else sys._getframe(1).f_globals.get("__name__", __name__)
    )
    if doc is not None:
        cls.__doc__ = doc
    _compile(cls, typed)
    return cls
