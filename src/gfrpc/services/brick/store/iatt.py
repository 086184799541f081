"""What the brick reports about an inode: GlusterFS's ``iatt`` built from a ``stat``.

Facts from GlusterFS 10.3 (``libglusterfs`` ``iatt_from_stat``, posix ``posix_pstat`` /
``posix_fill_ino_from_gfid``), mirrored here:

* ``ia_ino`` is **not** the backend inode number: it is the last 8 bytes of the gfid read as a
  big-endian integer (``gfid_to_ino``), so the root (gfid ``00…01``) has ino 1. A null gfid
  gives ``ia_ino = 2**64 - 1`` (posix stores ``-1``).
* ``ia_rdev`` is ``major << 32 | minor`` (``ia_makedev``), not the kernel's ``st_rdev`` encoding.
* ``ia_blocks`` (512-byte units) is capped at ``ceil(size / 512)`` so preallocation beyond EOF
  does not show.
* ``ia_nlink`` of a non-directory is one less than the backend's: the extra link is the
  ``.glusterfs`` handle (the caller passes ``handle_link=True``).
* ``mode`` carries the ``S_IF*`` type bits (``st_mode_from_ia``). ``ia_btime`` is 0 (posix does
  not fill it without the ctime xlator's metadata).
* ``ia_flags`` = the valid-field mask posix sets: TYPE MODE NLINK UID GID ATIME MTIME CTIME INO
  SIZE BLOCKS GFID (``0x17ff``); ``ia_attributes`` and its mask are 0.

The field names are those of ``gfx_iattx`` (glusterfs4-xdr.x) so the FOP codec can copy them
one to one; this module knows nothing about XDR.
"""

from __future__ import annotations

import os
import stat as st_
import uuid
from dataclasses import asdict, dataclass
from typing import Any

# setattr "valid" bits: wire facts, kept with the FOP types
from gfrpc.programs.fops_types import (  # noqa: F401 (re-exported)
    GF_ATTR_ATIME_NOW,
    GF_ATTR_MTIME_NOW,
    GF_SET_ATTR_ATIME,
    GF_SET_ATTR_CTIME,
    GF_SET_ATTR_GID,
    GF_SET_ATTR_MODE,
    GF_SET_ATTR_MTIME,
    GF_SET_ATTR_SIZE,
    GF_SET_ATTR_UID,
)

ROOT_GFID = bytes(15) + b"\x01"
NULL_GFID = bytes(16)


# gfx_iattx.ia_flags bits (libglusterfs iatt.h)
IATT_TYPE = 0x1
IATT_MODE = 0x2
IATT_NLINK = 0x4
IATT_UID = 0x8
IATT_GID = 0x10
IATT_ATIME = 0x20
IATT_MTIME = 0x40
IATT_CTIME = 0x80
IATT_INO = 0x100
IATT_SIZE = 0x200
IATT_BLOCKS = 0x400
IATT_BTIME = 0x800
IATT_GFID = 0x1000
POSIX_IATT_FLAGS = (
    IATT_TYPE
    | IATT_MODE
    | IATT_NLINK
    | IATT_UID
    | IATT_GID
    | IATT_ATIME
    | IATT_MTIME
    | IATT_CTIME
    | IATT_SIZE
    | IATT_BLOCKS
    | IATT_GFID
)


def gfid_to_ino(gfid: bytes) -> int:
    """GlusterFS ``gfid_to_ino``: the gfid's last 8 bytes as a big-endian uint64."""
    return int.from_bytes(gfid[8:16], "big")


def gfid_str(gfid: bytes) -> str:
    """Canonical lower-case uuid string of a 16-byte gfid (``uuid_utoa``)."""
    h = bytes(gfid).hex()
    if len(h) != 32:
        raise ValueError("a gfid is 16 bytes")
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def check_gfid(gfid: Any) -> bytes:
    """Return ``gfid`` as 16 bytes (accepts bytes-likes and ``uuid.UUID``); EINVAL otherwise."""
    if isinstance(gfid, uuid.UUID):
        return gfid.bytes
    try:
        raw = bytes(gfid)
    except TypeError:
        raw = b""
    if len(raw) != 16:
        raise OSError(22, "a gfid is 16 bytes")  # EINVAL
    return raw


@dataclass(frozen=True, slots=True)
class Iatt:
    """One inode as GlusterFS reports it (fields named as in ``gfx_iattx``)."""

    ia_gfid: bytes
    ia_flags: int
    ia_ino: int
    ia_dev: int
    ia_rdev: int
    ia_size: int
    ia_blocks: int
    ia_attributes: int
    ia_attributes_mask: int
    ia_atime: int
    ia_mtime: int
    ia_ctime: int
    ia_btime: int
    ia_atime_nsec: int
    ia_mtime_nsec: int
    ia_ctime_nsec: int
    ia_btime_nsec: int
    ia_nlink: int
    ia_uid: int
    ia_gid: int
    ia_blksize: int
    mode: int

    @property
    def is_dir(self) -> bool:
        return st_.S_ISDIR(self.mode)

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for codecs that take keyword arguments)."""
        return asdict(self)


def iatt_fields(gfid: bytes | None, st: os.stat_result, *, handle_link: bool = False) -> Iatt:
    """Build the ``Iatt`` of ``st`` for ``gfid`` (see the module notes for each rule).

    ``handle_link``: the inode has a ``.glusterfs`` hard link (every non-directory the store
    manages), so one link is hidden from ``ia_nlink`` as posix does.
    """
    gfid = NULL_GFID if gfid is None else gfid
    nlink = st.st_nlink
    if handle_link and nlink and not st_.S_ISDIR(st.st_mode):
        nlink -= 1
    blocks = min(st.st_blocks, (st.st_size + 511) // 512)
    null = gfid == NULL_GFID
    return Iatt(
        ia_gfid=gfid,
        ia_flags=POSIX_IATT_FLAGS | (0 if null else IATT_INO),
        ia_ino=(1 << 64) - 1 if null else gfid_to_ino(gfid),
        ia_dev=st.st_dev,
        ia_rdev=(os.major(st.st_rdev) << 32) | os.minor(st.st_rdev),
        ia_size=st.st_size,
        ia_blocks=blocks,
        ia_attributes=0,
        ia_attributes_mask=0,
        ia_atime=st.st_atime_ns // 1_000_000_000,
        ia_mtime=st.st_mtime_ns // 1_000_000_000,
        ia_ctime=st.st_ctime_ns // 1_000_000_000,
        ia_btime=0,
        ia_atime_nsec=st.st_atime_ns % 1_000_000_000,
        ia_mtime_nsec=st.st_mtime_ns % 1_000_000_000,
        ia_ctime_nsec=st.st_ctime_ns % 1_000_000_000,
        ia_btime_nsec=0,
        ia_nlink=nlink,
        ia_uid=st.st_uid,
        ia_gid=st.st_gid,
        ia_blksize=st.st_blksize,
        mode=st.st_mode,
    )


@dataclass(frozen=True, slots=True)
class StatFs:
    """``gf_statfs`` (glusterfs3-xdr.x) field for field."""

    bsize: int
    frsize: int
    blocks: int
    bfree: int
    bavail: int
    files: int
    ffree: int
    favail: int
    fsid: int
    flag: int
    namemax: int

    @classmethod
    def from_statvfs(cls, v: os.statvfs_result) -> StatFs:
        return cls(
            v.f_bsize,
            v.f_frsize,
            v.f_blocks,
            v.f_bfree,
            v.f_bavail,
            v.f_files,
            v.f_ffree,
            v.f_favail,
            v.f_fsid & ((1 << 64) - 1),
            v.f_flag,
            v.f_namemax,
        )
