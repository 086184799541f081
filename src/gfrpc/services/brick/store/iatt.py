"""What the brick reports about an inode: the one builder of the iatts the gfrpc brick sends.

The layouts and constants are the wire's and live in ``gfrpc.programs.fops_types`` (``Iatt`` =
gfx_iattx, ``GfStatfs`` = gf_statfs, the gfids, the ``IATT_*`` and ``GF_SET_ATTR_*`` bits);
this module only fills them in, as GlusterFS 10.3's posix store does (``libglusterfs``
``iatt_from_stat``, posix ``posix_pstat`` / ``posix_fdstat`` / ``posix_fill_ino_from_gfid``;
the values checked against a real 10.3 brick's replies in ``tests/fixtures/fops``):

* ``ia_ino`` is **not** the backend inode number: it is the last 8 bytes of the gfid read as a
  big-endian integer (:func:`gfid_to_ino`), so the root (gfid ``00…01``) has ino 1. A null gfid
  gives ``ia_ino = 2**64 - 1`` (posix stores ``-1``) and no IATT_INO bit.
* ``ia_rdev`` is ``major << 32 | minor`` (``ia_makedev``), not the kernel's ``st_rdev`` encoding.
* ``ia_blocks`` (512-byte units) is capped at ``ceil(size / 512)`` so preallocation beyond EOF
  does not show.
* ``ia_nlink`` of a non-directory is one less than the backend's: the extra link is the
  ``.glusterfs`` handle (the caller passes ``handle_link=True``).
* ``mode`` is ``st_mode``: the ``S_IF*`` type bits and the 12 permission bits, which is what
  ``st_mode_from_ia(prot, type)`` rebuilds (Linux has no file type GlusterFS lacks).
  ``ia_btime`` is 0: posix fills it from neither ``lstat`` nor the ctime xlator's metadata.
* ``ia_flags`` = the valid-field mask posix sets: TYPE MODE NLINK UID GID ATIME MTIME CTIME
  SIZE BLOCKS (``iatt_from_stat``), GFID always, INO once the gfid is known (``0x17ff``);
  ``ia_attributes`` and its mask are 0.
"""

from __future__ import annotations

import os
import stat as st_
import uuid
from typing import Final

from gfrpc.programs.fops_types import (
    GFID_SIZE,
    IATT_ATIME,
    IATT_BLOCKS,
    IATT_CTIME,
    IATT_GFID,
    IATT_GID,
    IATT_INO,
    IATT_MODE,
    IATT_MTIME,
    IATT_NLINK,
    IATT_SIZE,
    IATT_TYPE,
    IATT_UID,
    NULL_GFID,
    GfStatfs,
    Iatt,
    IattValue,
)
from gfrpc.wire.xdr import XdrStruct

__all__ = [
    "POSIX_IATT_FLAGS",
    "check_gfid",
    "gfid_str",
    "gfid_to_ino",
    "iatt_fields",
    "statfs_fields",
]

#: ``ia_flags`` of every iatt posix fills from a stat (IATT_INO is added once the gfid is known)
POSIX_IATT_FLAGS: Final = (
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
_NULL_INO: Final = (1 << 64) - 1
_NS: Final = 1_000_000_000


def gfid_to_ino(gfid: bytes) -> int:
    """GlusterFS ``gfid_to_ino``: the gfid's last 8 bytes as a big-endian uint64."""
    return int.from_bytes(gfid[8:16], "big")


def gfid_str(gfid: bytes) -> str:
    """Canonical lower-case uuid string of a 16-byte gfid (``uuid_utoa``)."""
    h = bytes(gfid).hex()
    if len(h) != 2 * GFID_SIZE:
        raise ValueError("a gfid is 16 bytes")
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def check_gfid(gfid: object) -> bytes:
    """Return ``gfid`` as 16 bytes (accepts bytes-likes and ``uuid.UUID``); EINVAL otherwise."""
    if type(gfid) is bytes and len(gfid) == GFID_SIZE:  # the usual case, several per FOP
        return gfid
    if isinstance(gfid, uuid.UUID):
        return gfid.bytes
    try:
        raw = bytes(gfid)  # type: ignore[call-overload]
    except TypeError:
        raw = b""
    if len(raw) != GFID_SIZE:
        raise OSError(22, "a gfid is 16 bytes")  # EINVAL
    return raw


def iatt_fields(gfid: bytes | None, st: os.stat_result, *, handle_link: bool = False) -> IattValue:
    """The gfx_iattx (``fops_types.Iatt``) of ``st`` for ``gfid`` (module notes: each rule).

    ``handle_link``: the inode has a ``.glusterfs`` hard link (every non-directory the store
    manages), so one link is hidden from ``ia_nlink`` as posix does.
    """
    if gfid is None:
        gfid = NULL_GFID
    elif type(gfid) is not bytes:
        gfid = bytes(gfid)  # a view is not a key (and a writable one cannot be hashed)
    nlink = st.st_nlink
    mode = st.st_mode
    atime, mtime, ctime = st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns
    size = st.st_size
    rdev = st.st_rdev
    # every input of the iatt: an inode that did not change since its last iatt gets that
    # (immutable) iatt again, as most LOOKUPs' parents and re-LOOKUPed entries do
    key: tuple[object, ...] = (gfid, handle_link, mode, nlink, size, atime, mtime, ctime)
    key += (st.st_uid, st.st_gid, st.st_dev, rdev, st.st_blocks, st.st_blksize)
    made = _MADE.get(key)
    if made is not None:
        return made
    if handle_link and nlink and not st_.S_ISDIR(mode):
        nlink -= 1
    null = gfid == NULL_GFID
    # positional, in gfx_iattx's wire order: 4x faster than keywords, and this runs twice for
    # every WRITE and once for every READ
    made = Iatt(
        gfid,  # ia_gfid
        POSIX_IATT_FLAGS if null else POSIX_IATT_FLAGS | IATT_INO,  # ia_flags
        _NULL_INO if null else int.from_bytes(gfid[8:16], "big"),  # ia_ino (gfid_to_ino)
        st.st_dev,  # ia_dev
        ((os.major(rdev) << 32) | os.minor(rdev)) if rdev else 0,  # ia_rdev
        size,  # ia_size
        min(st.st_blocks, (size + 511) // 512),  # ia_blocks
        0,  # ia_attributes
        0,  # ia_attributes_mask
        atime // _NS,  # ia_atime
        mtime // _NS,  # ia_mtime
        ctime // _NS,  # ia_ctime
        0,  # ia_btime
        atime % _NS,  # ia_atime_nsec
        mtime % _NS,  # ia_mtime_nsec
        ctime % _NS,  # ia_ctime_nsec
        0,  # ia_btime_nsec
        nlink,  # ia_nlink
        st.st_uid,  # ia_uid
        st.st_gid,  # ia_gid
        st.st_blksize,  # ia_blksize
        mode,  # mode
    )
    if len(_MADE) >= _MADE_MAX:
        _MADE.clear()
    _MADE[key] = made
    return made


#: iatts by every input of ``iatt_fields`` (nothing changes an iatt once made); cleared when full
_MADE: dict[tuple[object, ...], IattValue] = {}
_MADE_MAX: Final = 4096


def statfs_fields(v: os.statvfs_result) -> XdrStruct:
    """The gf_statfs (``fops_types.GfStatfs``) of ``os.statvfs``: the fields map one to one."""
    return GfStatfs(
        bsize=v.f_bsize,
        frsize=v.f_frsize,
        blocks=v.f_blocks,
        bfree=v.f_bfree,
        bavail=v.f_bavail,
        files=v.f_files,
        ffree=v.f_ffree,
        favail=v.f_favail,
        fsid=v.f_fsid & _NULL_INO,
        flag=v.f_flag,
        namemax=v.f_namemax,
    )
