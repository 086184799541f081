"""Building blocks of the GlusterFS 4.x v1 FOP program: gfids, iatt, statfs, locks, dirents.

Layouts are those of GlusterFS 10.3 ``rpc/xdr/src/glusterfs4-xdr.x`` (gfx_iattx, gfx_mdata_iatt,
gfx_dirlist, gfx_dirplist) and ``glusterfs3-xdr.x`` (gf_statfs, gf_proto_flock, gf_proto_lease,
gfs3_locklist). Field names are GlusterFS's; field order is the wire order.

gfx_iattx has **no ia_type field**: the file type travels in ``mode`` as POSIX ``S_IF*`` bits
(GlusterFS builds it with ``st_mode_from_ia(prot, type)`` and splits it again with
``ia_type_from_st_mode``/``ia_prot_from_st_mode``), so ``mode`` keeps only the type bits and
the 12 permission bits (suid, sgid, sticky, rwx for owner/group/other).

This module holds the wire's facts only: the layouts, the gfid constants, the ``IATT_*``
valid-field bits and the ``GF_SET_ATTR_*`` bits. How a brick fills an iatt from a ``stat``
(posix's ``iatt_from_stat`` + ``posix_fill_ino_from_gfid``) is the brick store's business:
``gfrpc.services.brick.store.iatt`` builds the iatts the gfrpc brick sends.
"""

from __future__ import annotations

import enum
import stat as _stat
from typing import Final, TypeAlias

from gfrpc.errors import LocalProtocolError
from gfrpc.wire import xdr
from gfrpc.wire.gfdict import GFX_DICT, MDATA_SIZE
from gfrpc.wire.gfdict import IATT_SIZE as _IATTX_BYTES  # 148; IATT_SIZE here is the flag
from gfrpc.wire.xdr import XdrReader, XdrStruct, XdrType, XdrWriter

__all__ = [
    "GFID_SIZE",
    "NULL_GFID",
    "ROOT_GFID",
    "IaType",
    "ia_type_from_mode",
    "IATT_TYPE",
    "IATT_MODE",
    "IATT_NLINK",
    "IATT_UID",
    "IATT_GID",
    "IATT_ATIME",
    "IATT_MTIME",
    "IATT_CTIME",
    "IATT_INO",
    "IATT_SIZE",
    "IATT_BLOCKS",
    "IATT_BTIME",
    "IATT_GFID",
    "GF_SET_ATTR_MODE",
    "GF_SET_ATTR_UID",
    "GF_SET_ATTR_GID",
    "GF_SET_ATTR_SIZE",
    "GF_SET_ATTR_ATIME",
    "GF_SET_ATTR_MTIME",
    "GF_SET_ATTR_CTIME",
    "GF_ATTR_ATIME_NOW",
    "GF_ATTR_MTIME_NOW",
    "Iatt",
    "IattValue",
    "iatt_type",
    "GfxMdataIatt",
    "GfStatfs",
    "GfProtoFlock",
    "GfProtoLease",
    "Gfs3Locklist",
    "GfxDirlist",
    "GfxDirplist",
    "GFID",
    "OrZero",
    "IATT",
]

GFID_SIZE: Final = 16
NULL_GFID: Final = bytes(16)
ROOT_GFID: Final = bytes(15) + b"\x01"  # the volume root, always; ia_ino 1
GFID: Final = xdr.FixedOpaque(GFID_SIZE)  # ``opaque gfid[16]``


class IaType(enum.IntEnum):
    """GlusterFS ``ia_type_t`` (iatt.h); not on the wire in v400, derived from ``mode``."""

    IA_INVAL = 0
    IA_IFREG = 1
    IA_IFDIR = 2
    IA_IFLNK = 3
    IA_IFBLK = 4
    IA_IFCHR = 5
    IA_IFIFO = 6
    IA_IFSOCK = 7


_TYPE_BITS: Final = {
    IaType.IA_IFREG: _stat.S_IFREG,
    IaType.IA_IFDIR: _stat.S_IFDIR,
    IaType.IA_IFLNK: _stat.S_IFLNK,
    IaType.IA_IFBLK: _stat.S_IFBLK,
    IaType.IA_IFCHR: _stat.S_IFCHR,
    IaType.IA_IFIFO: _stat.S_IFIFO,
    IaType.IA_IFSOCK: _stat.S_IFSOCK,
}
_FROM_BITS: Final = {bits: t for t, bits in _TYPE_BITS.items()}


def ia_type_from_mode(mode: int) -> IaType:
    """``ia_type_from_st_mode``: IA_INVAL for a type GlusterFS does not know."""
    return _FROM_BITS.get(_stat.S_IFMT(mode), IaType.IA_INVAL)


# ia_flags: which members of an iatt are valid (iatt.h).
IATT_TYPE: Final = 0x1
IATT_MODE: Final = 0x2
IATT_NLINK: Final = 0x4
IATT_UID: Final = 0x8
IATT_GID: Final = 0x10
IATT_ATIME: Final = 0x20
IATT_MTIME: Final = 0x40
IATT_CTIME: Final = 0x80
IATT_INO: Final = 0x100
IATT_SIZE: Final = 0x200
IATT_BLOCKS: Final = 0x400
IATT_BTIME: Final = 0x800
IATT_GFID: Final = 0x1000
# SETATTR/FSETATTR "valid" bits: which stbuf fields to apply (libglusterfs xlator.h)
GF_SET_ATTR_MODE: Final = 0x1
GF_SET_ATTR_UID: Final = 0x2
GF_SET_ATTR_GID: Final = 0x4
GF_SET_ATTR_SIZE: Final = 0x8
GF_SET_ATTR_ATIME: Final = 0x10
GF_SET_ATTR_MTIME: Final = 0x20
GF_SET_ATTR_CTIME: Final = 0x40
GF_ATTR_ATIME_NOW: Final = 0x80  # "set atime to the server's now" (utimensat UTIME_NOW)
GF_ATTR_MTIME_NOW: Final = 0x100

Iatt = xdr.struct(
    "Iatt",
    [
        ("ia_gfid", GFID, NULL_GFID),
        ("ia_flags", xdr.UHyper, 0),
        ("ia_ino", xdr.UHyper, 0),
        ("ia_dev", xdr.UHyper, 0),
        ("ia_rdev", xdr.UHyper, 0),
        ("ia_size", xdr.UHyper, 0),
        ("ia_blocks", xdr.UHyper, 0),
        ("ia_attributes", xdr.UHyper, 0),
        ("ia_attributes_mask", xdr.UHyper, 0),
        ("ia_atime", xdr.Hyper, 0),
        ("ia_mtime", xdr.Hyper, 0),
        ("ia_ctime", xdr.Hyper, 0),
        ("ia_btime", xdr.Hyper, 0),
        ("ia_atime_nsec", xdr.UInt, 0),
        ("ia_mtime_nsec", xdr.UInt, 0),
        ("ia_ctime_nsec", xdr.UInt, 0),
        ("ia_btime_nsec", xdr.UInt, 0),
        ("ia_nlink", xdr.UInt, 0),
        ("ia_uid", xdr.UInt, 0),
        ("ia_gid", xdr.UInt, 0),
        ("ia_blksize", xdr.UInt, 0),
        ("mode", xdr.UInt, 0),
    ],
    doc="gfx_iattx (148 bytes); ``mode`` = S_IF* type bits | 0o7777 permission bits. "
    "``Iatt()`` is the all-zero iatt GlusterFS sends where no stat applies.",
)
assert Iatt.xdr_min_size == _IATTX_BYTES
#: how code annotates a gfx_iattx value: ``xdr.struct`` classes are made at run time, so type
#: checkers know an ``Iatt(...)`` as an ``XdrStruct``
IattValue: TypeAlias = XdrStruct


class OrZero(XdrType):
    """A struct field whose Python value may be ``None``, sent as the all-zero struct.

    GlusterFS zero-fills the iatts (flocks, statfs) of a reply that has none to give, e.g. on
    errors; ``None`` spells that. Decoding always yields the struct (zero or not).
    """

    def __init__(self, cls: type[XdrStruct]) -> None:
        self.cls = cls
        self.zero = cls().pack()
        self.min_size = cls.xdr_min_size
        self.decode = cls.decode  # type: ignore[method-assign]

    def decode(self, reader: XdrReader) -> XdrStruct:  # replaced in __init__
        raise NotImplementedError

    def encode(self, writer: XdrWriter, value: object) -> None:
        if value is None:
            writer.raw(self.zero)
        elif isinstance(value, self.cls):
            value.encode(writer)
        else:
            raise LocalProtocolError(
                f"XDR: expected {self.cls.__name__} or None, not {type(value).__name__}"
            )


IATT: Final = OrZero(Iatt)  # the gfx_iattx field type (None = zero iatt)


def iatt_type(iatt: XdrStruct) -> IaType:
    """The ia_type GlusterFS derives from an iatt's ``mode``."""
    return ia_type_from_mode(iatt.mode)


GfxMdataIatt = xdr.struct(
    "GfxMdataIatt",
    [(f"ia_{t}time", xdr.Hyper, 0) for t in "amc"]
    + [(f"ia_{t}time_nsec", xdr.UInt, 0) for t in "amc"],
    doc="gfx_mdata_iatt (36 bytes): the times the ctime/utime feature keeps: hyper ia_atime, "
    "ia_mtime, ia_ctime; u_int ia_atime_nsec, ia_mtime_nsec, ia_ctime_nsec",
)
assert GfxMdataIatt.xdr_min_size == MDATA_SIZE

GfStatfs = xdr.struct(
    "GfStatfs",
    [
        (name, xdr.UHyper, 0)
        for name in (
            "bsize",
            "frsize",
            "blocks",
            "bfree",
            "bavail",
            "files",
            "ffree",
            "favail",
            "fsid",
            "flag",
            "namemax",
        )
    ],
    doc="gf_statfs (glusterfs3-xdr.x): struct statvfs as 11 u_quad",
)


GfProtoFlock = xdr.struct(
    "GfProtoFlock",
    [
        ("type", xdr.UInt, 0),
        ("whence", xdr.UInt, 0),
        ("start", xdr.UHyper, 0),
        ("len", xdr.UHyper, 0),
        ("pid", xdr.UInt, 0),
        ("lk_owner", xdr.Opaque(), b""),
    ],
    doc="gf_proto_flock (glusterfs3-xdr.x)",
)

GfProtoLease = xdr.struct(
    "GfProtoLease",
    [
        ("cmd", xdr.UInt, 0),
        ("lease_type", xdr.UInt, 0),
        ("lease_id", GFID, NULL_GFID),
        ("lease_flags", xdr.UInt, 0),
    ],
    doc="gf_proto_lease (glusterfs3-xdr.x); lease_id is 16 opaque bytes",
)

Gfs3Locklist = xdr.struct(
    "Gfs3Locklist",
    [
        ("flock", GfProtoFlock),
        ("client_uid", xdr.String()),
        ("lk_flags", xdr.UInt, 0),
    ],
    doc="gfs3_locklist entry without its ``nextentry`` pointer (a LinkedList item)",
)

# The dirent both directory listings start with: gfx_dirlist and gfx_dirplist share these fields.
_DIRENT: Final = (
    ("d_ino", xdr.UHyper),
    ("d_off", xdr.UHyper),
    ("d_len", xdr.UInt),
    ("d_type", xdr.UInt),
    ("name", xdr.String()),
)

GfxDirlist = xdr.struct(
    "GfxDirlist",
    _DIRENT,
    doc="gfx_dirlist entry (READDIR) without ``nextentry``; d_len = strlen(name)",
)

GfxDirplist = xdr.struct(
    "GfxDirplist",
    [*_DIRENT, ("stat", IATT, None), ("dict", GFX_DICT, None)],
    doc="gfx_dirplist entry (READDIRP) without ``nextentry``: dirent + iatt + per-entry dict",
)
