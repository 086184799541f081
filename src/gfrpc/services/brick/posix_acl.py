"""POSIX ACLs as Linux stores them in ``system.posix_acl_access`` / ``system.posix_acl_default``,
and the POSIX.1e permission algorithm GlusterFS's access-control xlator applies.

Theory of operation.

* The xattr format (``include/uapi/linux/posix_acl_xattr.h``): a little-endian u32 version (2),
  then entries of (tag u16, perm u16, id u32). The kernel keeps them sorted by tag (USER_OBJ,
  USER..., GROUP_OBJ, GROUP..., MASK, OTHER); USER_OBJ, GROUP_OBJ, MASK and OTHER carry the id
  0xFFFFFFFF. :func:`decode_acl` refuses anything else with EINVAL, as the kernel does.
* The brick's files live on a file system with ACL support (ext4, xfs): the kernel keeps an
  access ACL and the mode in step (``chmod`` rewrites USER_OBJ, MASK and OTHER; setting an ACL
  rewrites the mode; an ACL equivalent to the mode is not stored at all). So the owner and
  other permissions are always read from the mode, and the ACL only adds named users and
  groups, the owning group's own entry and the mask. The brick runs as root, so the kernel never
  applies any of it for us: :func:`permits` does, for a caller taken from the RPC credential.
* :func:`permits` is ``acl_permits`` of GlusterFS 10.3's ``posix-acl.c`` (itself the kernel's
  ``posix_acl_permission``): the owner gets the owner bits; a named user gets its entry masked
  by MASK; then every group entry that matches the caller (owning group, named groups, primary
  or supplementary gid) is tried, and the first that grants everything wins (masked); a caller
  in a matching group that grants too little is refused even when OTHER would allow; everyone
  else gets OTHER. Root and internal clients never get here (``access.py``).
* :func:`inherit` is ``posix_acl_inherit_mode`` (the kernel's ``posix_acl_create_masq``): a new
  entry in a directory with a default ACL gets that ACL as its access ACL with USER_OBJ, OTHER
  and MASK (or GROUP_OBJ without a mask) narrowed to the requested mode, and the mode narrowed
  to them; the client's umask is NOT applied then.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass
from typing import Final

ACCESS_KEY: Final = "system.posix_acl_access"
DEFAULT_KEY: Final = "system.posix_acl_default"
#: GlusterFS's own (text) names of the same ACLs, treated like them by the access checks
GF_ACCESS_KEY: Final = "glusterfs.posix.acl"
GF_DEFAULT_KEY: Final = "glusterfs.posix.default_acl"
ACL_KEYS: Final = frozenset({ACCESS_KEY, DEFAULT_KEY, GF_ACCESS_KEY, GF_DEFAULT_KEY})

USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
UNDEFINED_ID: Final = 0xFFFFFFFF
VERSION: Final = 2
R, W, X = 4, 2, 1  # same values as os.R_OK, os.W_OK, os.X_OK

_HEADER = struct.Struct("<I")
_ENTRY = struct.Struct("<HHI")
_TAG_ORDER = {USER_OBJ: 0, USER: 1, GROUP_OBJ: 2, GROUP: 3, MASK: 4, OTHER: 5}
_MAX_ENTRIES = 8192


@dataclass(frozen=True, slots=True)
class Ace:
    """One ACL entry: tag, perm (rwx bits), id (uid/gid for USER/GROUP)."""

    tag: int
    perm: int
    id: int = UNDEFINED_ID


Acl = tuple[Ace, ...]


def decode_acl(data: bytes | bytearray | memoryview) -> Acl:
    """The entries of a Linux ACL xattr value (EINVAL if malformed)."""
    data = bytes(data)
    if len(data) < _HEADER.size or (len(data) - _HEADER.size) % _ENTRY.size:
        raise OSError(errno.EINVAL, "ACL xattr of a bad size")
    if _HEADER.unpack_from(data)[0] != VERSION:
        raise OSError(errno.EOPNOTSUPP, "ACL xattr of an unknown version")
    count = (len(data) - _HEADER.size) // _ENTRY.size
    if count > _MAX_ENTRIES:
        raise OSError(errno.EINVAL, "too many ACL entries")
    acl = tuple(
        Ace(*_ENTRY.unpack_from(data, _HEADER.size + i * _ENTRY.size)) for i in range(count)
    )
    _check(acl)
    return acl


def encode_acl(acl: Acl) -> bytes:
    """The Linux xattr value of ``acl`` (entries written in the order given)."""
    return _HEADER.pack(VERSION) + b"".join(_ENTRY.pack(a.tag, a.perm & 7, a.id) for a in acl)


def _check(acl: Acl) -> None:
    """The kernel's ``posix_acl_valid``: one USER_OBJ, GROUP_OBJ and OTHER, a MASK when there
    are named entries, tags in order, no duplicate named ids."""
    last = -1
    seen: set[tuple[int, int]] = set()
    counts = dict.fromkeys(_TAG_ORDER, 0)
    for a in acl:
        order = _TAG_ORDER.get(a.tag)
        if order is None or order < last or a.perm & ~7:
            raise OSError(errno.EINVAL, "bad ACL entry")
        if a.tag in (USER, GROUP):
            if (a.tag, a.id) in seen:
                raise OSError(errno.EINVAL, "duplicate ACL entry")
            seen.add((a.tag, a.id))
        last = order
        counts[a.tag] += 1
    if any(counts[t] != 1 for t in (USER_OBJ, GROUP_OBJ, OTHER)) or counts[MASK] > 1:
        raise OSError(errno.EINVAL, "incomplete ACL")
    if (counts[USER] or counts[GROUP]) and not counts[MASK]:
        raise OSError(errno.EINVAL, "ACL with named entries needs a mask")


def permits(
    mode: int,
    owner: int,
    group: int,
    acl: Acl | None,
    uid: int,
    gid: int,
    groups: tuple[int, ...],
    want: int,
) -> bool:
    """Whether a (non-root) caller ``uid``/``gid``/``groups`` may ``want`` (R|W|X bits) an inode
    of ``mode``, ``owner``, ``group`` with access ACL ``acl`` (None: the mode alone)."""
    want &= 7
    if uid == owner:
        return (mode >> 6) & want == want
    if acl is None or len(acl) <= 3:
        if gid == group or group in groups:
            return (mode >> 3) & want == want
        return mode & want == want
    mask = next((a.perm for a in acl if a.tag == MASK), 7)
    for a in acl:
        if a.tag == USER and a.id == uid:
            return a.perm & mask & want == want
    found = False
    for a in acl:
        if a.tag == GROUP_OBJ:
            hit = gid == group or group in groups
        elif a.tag == GROUP:
            hit = gid == a.id or a.id in groups
        else:
            continue
        if hit:
            if a.perm & want == want:  # the first group granting it decides, masked
                return a.perm & mask & want == want
            found = True
    return not found and mode & want == want


def inherit(default: Acl, mode: int) -> tuple[int, Acl]:
    """(mode, access ACL) of a new entry created with ``mode`` under a default ACL."""
    perm = mode & 0o777
    out: list[Ace] = []
    mask_at = group_at = -1
    for a in default:
        if a.tag == USER_OBJ:
            a = Ace(a.tag, a.perm & (perm >> 6), a.id)
            perm &= (a.perm << 6) | 0o077
        elif a.tag == OTHER:
            a = Ace(a.tag, a.perm & perm, a.id)
            perm &= a.perm | 0o770
        elif a.tag == MASK:
            mask_at = len(out)
        elif a.tag == GROUP_OBJ:
            group_at = len(out)
        out.append(a)
    at = mask_at if mask_at >= 0 else group_at
    if at >= 0:
        a = out[at]
        out[at] = Ace(a.tag, a.perm & (perm >> 3), a.id)
        perm &= (out[at].perm << 3) | 0o707
    return (mode & ~0o777) | perm, tuple(out)
