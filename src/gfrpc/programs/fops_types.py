"""Building blocks of the GlusterFS 4.x v1 FOP program: gfids, iatt, statfs, locks, dirents.

Layouts are those of GlusterFS 10.3 ``rpc/xdr/src/glusterfs4-xdr.x`` (gfx_iattx, gfx_mdata_iatt,
gfx_dirlist, gfx_dirplist) and ``glusterfs3-xdr.x`` (gf_statfs, gf_proto_flock, gf_proto_lease,
gfs3_locklist). Field names are GlusterFS's; field order is the wire order.

gfx_iattx has **no ia_type field**: the file type travels in ``mode`` as POSIX ``S_IF*`` bits
(GlusterFS builds it with ``st_mode_from_ia(prot, type)`` and splits it again with
``ia_type_from_st_mode``/``ia_prot_from_st_mode``), so ``mode`` keeps only the type bits and
the 12 permission bits (suid, sgid, sticky, rwx for owner/group/other).

What the brick's posix store puts in an iatt (``iatt_from_stat`` + ``posix_fill_ino_from_gfid``),
and what :func:`iatt_from_stat` reproduces:

* ``ia_ino`` is not ``st_ino`` but the last 8 bytes of the gfid read big-endian
  (``gfid_to_ino``); the root directory is gfid ``00..01`` and so ino 1.
* ``ia_rdev`` is ``major << 32 | minor`` (``ia_makedev``), not the kernel's dev_t encoding.
* ``ia_blocks`` is clamped to ``ceil(size / 512)`` (XFS preallocation would otherwise show).
* ``ia_flags`` is the valid mask: TYPE|MODE|NLINK|UID|GID|ATIME|MTIME|CTIME|SIZE|BLOCKS, plus INO
  and GFID once the gfid is known (0x17ff for a normal stat); BTIME only when statx gave one.
"""

from __future__ import annotations

import enum
import os
import stat as _stat
from typing import Final

from gfrpc.errors import LocalProtocolError
from gfrpc.wire import xdr
from gfrpc.wire.gfdict import GFX_DICT, MDATA_SIZE
from gfrpc.wire.gfdict import IATT_SIZE as _IATTX_BYTES  # 148; IATT_SIZE here is the flag
from gfrpc.wire.xdr import XdrReader, XdrStruct, XdrType, XdrWriter

__all__ = [
    "GFID_SIZE",
    "NULL_GFID",
    "ROOT_GFID",
    "gfid_to_ino",
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
    "IATT_FROM_STAT",
    "Iatt",
    "iatt_from_stat",
    "iatt_type",
    "GfxMdataIatt",
    "GfStatfs",
    "statfs_from_statvfs",
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


def gfid_to_ino(gfid: bytes | bytearray | memoryview) -> int:
    """The inode number GlusterFS derives from a gfid: its last 8 bytes, big-endian."""
    if len(gfid) != GFID_SIZE:
        raise LocalProtocolError(f"gfid must be {GFID_SIZE} bytes, not {len(gfid)}")
    return int.from_bytes(bytes(gfid[8:]), "big")


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
IATT_FROM_STAT: Final = (
    IATT_TYPE
    | IATT_MODE
    | IATT_NLINK
    | IATT_UID
    | IATT_GID
    | IATT_SIZE
    | IATT_BLOCKS
    | IATT_ATIME
    | IATT_MTIME
    | IATT_CTIME
)  # 0x6ff

# SETATTR/FSETATTR "valid" bits: which stbuf fields to apply (libglusterfs xlator.h)
GF_SET_ATTR_MODE = 0x1
GF_SET_ATTR_UID = 0x2
GF_SET_ATTR_GID = 0x4
GF_SET_ATTR_SIZE = 0x8
GF_SET_ATTR_ATIME = 0x10
GF_SET_ATTR_MTIME = 0x20
GF_SET_ATTR_CTIME = 0x40
GF_ATTR_ATIME_NOW = 0x80  # "set atime to the server's now" (utimensat UTIME_NOW)
GF_ATTR_MTIME_NOW = 0x100

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


def _split_ns(ns: int) -> tuple[int, int]:
    sec, nsec = divmod(ns, 1_000_000_000)  # floor: tv_nsec is always in [0, 1e9)
    return sec, nsec


def iatt_from_stat(
    st: os.stat_result, gfid: bytes | bytearray | memoryview = NULL_GFID
) -> XdrStruct:
    """A gfx_iattx as GlusterFS's posix store builds it from ``lstat`` and the file's gfid.

    With a null gfid the inode number stays ``st_ino`` and IATT_GFID is not set (GlusterFS
    would report ino -1 there; a null gfid only happens before the gfid is assigned).
    """
    gfid = bytes(gfid)
    if len(gfid) != GFID_SIZE:
        raise LocalProtocolError(f"gfid must be {GFID_SIZE} bytes, not {len(gfid)}")
    flags = IATT_FROM_STAT | IATT_INO
    if gfid != NULL_GFID:
        ino = gfid_to_ino(gfid)
        flags |= IATT_GFID
    else:
        ino = st.st_ino
    kind = ia_type_from_mode(st.st_mode)
    mode = _TYPE_BITS.get(kind, 0) | _stat.S_IMODE(st.st_mode)
    blocks = min(st.st_blocks, (st.st_size + 511) // 512)
    rdev = (os.major(st.st_rdev) << 32) | os.minor(st.st_rdev)
    atime, atime_ns = _split_ns(st.st_atime_ns)
    mtime, mtime_ns = _split_ns(st.st_mtime_ns)
    ctime, ctime_ns = _split_ns(st.st_ctime_ns)
    btime = btime_ns = 0
    birth = getattr(st, "st_birthtime_ns", None)
    if birth is not None:
        btime, btime_ns = _split_ns(birth)
        flags |= IATT_BTIME
    return Iatt(
        ia_gfid=gfid,
        ia_flags=flags,
        ia_ino=ino,
        ia_dev=st.st_dev,
        ia_rdev=rdev,
        ia_size=st.st_size,
        ia_blocks=blocks,
        ia_atime=atime,
        ia_mtime=mtime,
        ia_ctime=ctime,
        ia_btime=btime,
        ia_atime_nsec=atime_ns,
        ia_mtime_nsec=mtime_ns,
        ia_ctime_nsec=ctime_ns,
        ia_btime_nsec=btime_ns,
        ia_nlink=st.st_nlink,
        ia_uid=st.st_uid,
        ia_gid=st.st_gid,
        ia_blksize=st.st_blksize,
        mode=mode,
    )


GfxMdataIatt = xdr.struct(
    "GfxMdataIatt",
    [
        ("ia_atime", xdr.Hyper, 0),
        ("ia_mtime", xdr.Hyper, 0),
        ("ia_ctime", xdr.Hyper, 0),
        ("ia_atime_nsec", xdr.UInt, 0),
        ("ia_mtime_nsec", xdr.UInt, 0),
        ("ia_ctime_nsec", xdr.UInt, 0),
    ],
    doc="gfx_mdata_iatt (36 bytes): the times the ctime/utime feature keeps",
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


def statfs_from_statvfs(sv: os.statvfs_result) -> XdrStruct:
    """A gf_statfs from ``os.statvfs`` (the fields map one to one)."""
    return GfStatfs(
        bsize=sv.f_bsize,
        frsize=sv.f_frsize,
        blocks=sv.f_blocks,
        bfree=sv.f_bfree,
        bavail=sv.f_bavail,
        files=sv.f_files,
        ffree=sv.f_ffree,
        favail=sv.f_favail,
        fsid=sv.f_fsid,
        flag=sv.f_flag,
        namemax=sv.f_namemax,
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

GfxDirlist = xdr.struct(
    "GfxDirlist",
    [
        ("d_ino", xdr.UHyper),
        ("d_off", xdr.UHyper),
        ("d_len", xdr.UInt),
        ("d_type", xdr.UInt),
        ("name", xdr.String()),
    ],
    doc="gfx_dirlist entry (READDIR) without ``nextentry``; d_len = strlen(name)",
)

GfxDirplist = xdr.struct(
    "GfxDirplist",
    [
        ("d_ino", xdr.UHyper),
        ("d_off", xdr.UHyper),
        ("d_len", xdr.UInt),
        ("d_type", xdr.UInt),
        ("name", xdr.String()),
        ("stat", IATT, None),
        ("dict", GFX_DICT, None),
    ],
    doc="gfx_dirplist entry (READDIRP) without ``nextentry``: dirent + iatt + per-entry dict",
)
