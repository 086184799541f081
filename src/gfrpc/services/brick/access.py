"""Access control of the brick: the checks GlusterFS 10.3's access-control xlator
(``xlators/system/posix-acl``) makes on every FOP, with the caller of the RPC credential.

Theory of operation. The brick runs as root and the kernel checks nothing for it, so every rule
a client's kernel would apply has to be applied here, from the credential's uid, gid and
supplementary groups (a FUSE client sends its caller's ids; a raw RPC client can send anything,
which is exactly why the brick must not trust the client's kernel). The rules, as posix-acl
makes them (facts read from its source, not copied):

* ``require`` = ``acl_permits``: mode bits plus the POSIX access ACL (``posix_acl.permits``).
  Root (uid 0) and internal clients (negative pid: rebalance, self-heal, gsyncd) always pass,
  even to execute a file without an x bit.
* What needs what: named LOOKUP: x on the parent; OPEN: r/w by access mode, w for O_TRUNC or
  O_APPEND, x instead of r for FMODE_EXEC; OPENDIR, READDIR, READDIRP (also on the anonymous
  fd): r on the directory; TRUNCATE: w; MKDIR, MKNOD, CREATE, SYMLINK: w+x on the parent;
  UNLINK, RMDIR: the sticky rule, then w+x on the parent; RENAME: w (only) on both parents,
  the sticky rule on the source and on a replaced target; LINK: w (only) on the new parent and
  the sticky rule there for the linked inode; ACCESS: the mask, answered by posix-acl itself.
* ``require_sticky`` = ``sticky_permits``: in a +t directory only the directory's owner or the
  entry's owner (or root / internal) may remove or rename the entry.
* ``check_setattr`` = ``setattr_scrutiny``: mode: owner only (EPERM), and set-gid dropped when
  the caller is not in the file's group; times: owner, or anyone with write permission (EACCES;
  GlusterFS does not tell "now" from explicit times, unlike the kernel); uid: root only, unless
  unchanged (EPERM); gid: the owner, to a group he is in (EPERM).
* ``check_setxattr`` = ``setxattr_scrutiny``: the ACL keys only by the owner (EPERM), any other
  key needs write permission (EACCES). GETXATTR: the ACL keys are free, anything else (and a
  listing) needs read permission. REMOVEXATTR: the ACL keys only by the owner (EPERM), and
  write permission for every key (EACCES).
* What posix-acl does NOT check in 10.3, and gfrpc therefore does not either: STAT, FSTAT,
  READLINK, STATFS, nameless LOOKUP, XATTROP, the lock FOPs, and every FOP on an fd — READ,
  WRITE, FTRUNCATE, FSETATTR, FSETXATTR, FGETXATTR, FREMOVEXATTR, FXATTROP, FALLOCATE, DISCARD,
  ZEROFILL, SEEK, COPY_FILE_RANGE, FSYNC, FLUSH — anonymous fds included: its fd checks sit
  under ``#if FD_MODE_CHECK_IS_IMPLEMENTED``, which nothing defines. An fd obtained by OPEN was
  checked there; the anonymous fd (-2) needs no OPEN. ``tests/services/access_table_support.py``
  records each of these rows against a real 10.3 brick.
* CREATE without O_EXCL of a name that exists opens that file with only the parent checked
  (posix-acl's create checks w+x on the parent; posix then opens the existing file): GlusterFS
  10.3 hands a read-write fd on root's 0600 file to anyone who may write the directory.
* Strict mode (``gfrpc brick --strict-access``, ``FopCall.strict``; off: GlusterFS's
  behaviour) closes those doors, and no longer takes a negative pid for an internal client:
  the anonymous fd then needs
  what the path-based twin of the FOP needs (READ, SEEK and COPY_FILE_RANGE's source r; WRITE,
  FTRUNCATE, FALLOCATE, DISCARD, ZEROFILL and COPY_FILE_RANGE's target w); FSETATTR,
  FSETXATTR, FGETXATTR and FREMOVEXATTR get the scrutiny of SETATTR, SETXATTR, GETXATTR and
  REMOVEXATTR on every fd (data access through an fd that OPEN checked stays allowed, as the
  kernel allows it after a chmod); CREATE of an existing file needs what OPEN would; MKNOD of
  a device node is root's alone (``fops/entry.py``; glusterfsd makes one for anyone).
* Set-id bits: a WRITE, TRUNCATE, FTRUNCATE, FALLOCATE, DISCARD, ZEROFILL or COPY_FILE_RANGE
  by anyone but root clears set-uid, and set-gid when group-executable or the caller is not in
  the file's group, as the kernel does for an unprivileged writer (``store.privs_to_drop``,
  applied by the store's data operations for the caller they are given). (A real brick keeps
  them: posix writes as root, with ``SET_FS_ID`` compiled out.)
"""

from __future__ import annotations

import errno
import os
import stat as st_
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from gfrpc.programs.fops import GF_ANON_FD_NO
from gfrpc.programs.fops_types import (
    GF_ATTR_ATIME_NOW,
    GF_ATTR_MTIME_NOW,
    GF_SET_ATTR_ATIME,
    GF_SET_ATTR_GID,
    GF_SET_ATTR_MODE,
    GF_SET_ATTR_MTIME,
    GF_SET_ATTR_UID,
)
from gfrpc.services.brick import posix_acl
from gfrpc.services.brick.store import PosixStore, in_group
from gfrpc.services.brick.store.base import Target, check_permits, not_a_parent

if TYPE_CHECKING:
    from gfrpc.services.brick.fops.common import FopCall

R, W, X = os.R_OK, os.W_OK, os.X_OK
#: GlusterFS's ``O_FMODE_EXEC`` open flag (an exec open needs x, not r)
O_FMODE_EXEC: Final = 0o40
_TIMES: Final = GF_SET_ATTR_ATIME | GF_SET_ATTR_MTIME | GF_ATTR_ATIME_NOW | GF_ATTR_MTIME_NOW


def trusted(call: FopCall) -> bool:
    """Root or an internal client (negative pid): ``acl_permits`` lets them do anything."""
    return call.caller.uid == 0 or call.internal


def require(store: PosixStore, target: Target, want: int, call: FopCall) -> None:
    """EACCES unless the caller may ``want`` (R|W|X) the target (``acl_permits``)."""
    if want and not trusted(call):
        store.access(target, want, call.caller)


def require_parent(store: PosixStore, pargfid: bytes, want: int, call: FopCall) -> None:
    """:func:`require` for the parent of a named FOP: EPERM first when it is not a directory,
    as GlusterFS's server resolver answers before posix-acl looks at permissions."""
    if want and not trusted(call):
        st, acl = store.stat_acl(pargfid)
        if not st_.S_ISDIR(st.st_mode):
            raise not_a_parent(pargfid)
        check_permits(st, acl, want, call.caller)


def require_parent_of_new(
    store: PosixStore,
    pargfid: bytes,
    name: str,
    want: int,
    call: FopCall,
    then: Callable[[], None] | None = None,
) -> None:
    """:func:`require_parent` (and ``then``, LINK's sticky check) for the parent of an entry
    to make: a name that exists is EEXIST before a refused permission is EACCES, as
    GlusterFS's resolver finds the name before posix-acl looks (looked up only when the
    permission is refused)."""
    try:
        require_parent(store, pargfid, want, call)
        if then is not None:
            then()
    except PermissionError as refused:
        try:
            entry_owner(store, pargfid, name)
        except OSError:
            raise refused from None
        raise OSError(errno.EEXIST, f"{name} exists") from None


def require_anon(store: PosixStore, gfid: bytes, fd_no: int, want: int, call: FopCall) -> None:
    """In strict mode (``call.strict``): EACCES unless the caller may ``want`` the file behind
    the anonymous fd (an fd from OPEN was checked there)."""
    if call.strict and fd_no == GF_ANON_FD_NO:
        require(store, gfid, want, call)


def open_mask(flags: int) -> int:
    """What OPEN needs for ``flags`` (posix-acl's ``posix_acl_open``)."""
    acc = flags & os.O_ACCMODE
    if acc == os.O_WRONLY:
        want = W
    elif acc == os.O_RDWR:
        want = R | W
    else:
        want = X if flags & O_FMODE_EXEC else R
    if flags & (os.O_TRUNC | os.O_APPEND):
        want |= W
    return want


def entry_owner(store: PosixStore, pargfid: bytes, name: str) -> int:
    """The uid of entry ``name`` of ``pargfid`` (ENOENT if there is none: the server's
    resolver finds that out before any permission is looked at)."""
    return store.entry_owner(pargfid, name)


def require_sticky(store: PosixStore, pargfid: bytes, owner: int, call: FopCall) -> None:
    """EACCES if ``pargfid`` is sticky and the caller owns neither it nor the entry (owned by
    ``owner``)."""
    if trusted(call):
        return
    parent = store.stat(pargfid)
    _sticky(parent.mode, parent.ia_uid, owner, call)


def _sticky(mode: int, dir_owner: int, owner: int, call: FopCall) -> None:
    if mode & st_.S_ISVTX and call.caller.uid not in (dir_owner, owner):
        raise OSError(errno.EACCES, "sticky directory: not the owner")


def require_removable(store: PosixStore, pargfid: bytes, name: str, call: FopCall) -> None:
    """UNLINK/RMDIR: the entry must exist (ENOENT), the sticky rule, then w+x on the parent,
    from one stat (and ACL) of the parent."""
    if trusted(call):
        return
    owner = entry_owner(store, pargfid, name)
    st, acl = store.stat_acl(pargfid)
    _sticky(st.st_mode, st.st_uid, owner, call)
    check_permits(st, acl, W | X, call.caller)


def check_setattr(
    store: PosixStore, target: Target, valid: int, mode: int, uid: int, gid: int, call: FopCall
) -> int:
    """``setattr_scrutiny``: raises EPERM/EACCES, or returns the mode to set (set-gid dropped
    when the caller is not in the file's group)."""
    caller = call.caller
    if caller.uid == 0:
        return mode
    cur = store.stat(target)
    owner = caller.uid == cur.ia_uid
    if valid & GF_SET_ATTR_MODE:
        if not owner:
            raise OSError(errno.EPERM, "only the owner may change the mode")
        if not in_group(caller, cur.ia_gid):
            mode &= ~st_.S_ISGID
    if valid & _TIMES and not owner:
        require(store, target, W, call)
    if valid & GF_SET_ATTR_UID and uid != cur.ia_uid:
        raise OSError(errno.EPERM, "only root may change the owner")
    if valid & GF_SET_ATTR_GID and not (owner and in_group(caller, gid)):
        raise OSError(errno.EPERM, "not allowed to change the group")
    return mode


def _owner_only(store: PosixStore, target: Target, call: FopCall) -> None:
    if store.stat(target).ia_uid != call.caller.uid:
        raise OSError(errno.EPERM, "only the owner may change ACLs")


def check_setxattr(store: PosixStore, target: Target, keys: list[str], call: FopCall) -> None:
    """``setxattr_scrutiny``: ACL keys by the owner only, other keys need write permission."""
    if call.caller.uid == 0:
        return
    if any(k in posix_acl.ACL_KEYS for k in keys):
        _owner_only(store, target, call)
    else:
        require(store, target, W, call)


def check_getxattr(store: PosixStore, target: Target, name: str, call: FopCall) -> None:
    """GETXATTR: the ACL keys are readable by anyone, anything else needs read permission."""
    if name not in posix_acl.ACL_KEYS:
        require(store, target, R, call)


def check_removexattr(store: PosixStore, target: Target, name: str, call: FopCall) -> None:
    """REMOVEXATTR: ACL keys by the owner only (EPERM); write permission for every key."""
    if call.caller.uid == 0:
        return
    if name in posix_acl.ACL_KEYS:
        _owner_only(store, target, call)
    require(store, target, W, call)
