"""FOP actors on inodes and directories: STAT, FSTAT, STATFS, ACCESS, SETATTR, FSETATTR,
READLINK, OPENDIR, READDIR, READDIRP, RELEASEDIR, FSYNCDIR.

GlusterFS 10.3 facts kept here:

* READDIR(P) replies are bounded by the request's ``size`` in bytes, which the server first
  caps at its 128 KiB page size (``server4_0_readdirp``); the store counts each entry's encoded
  size and always returns at least one. ``op_ret`` is the number of entries; when the listing
  is exhausted ``op_errno`` is ENOENT ("pick ENOENT to indicate EOF", posix). A real FUSE
  client then asks once more from the last entry's ``d_off`` and gets ``op_ret 0``, ENOENT and
  an empty list, which ends the listing. READDIRP entries carry the iatt and the xattrs the
  xdata names (DHT asks for its linkto key).
* SETATTR's ``valid`` is GF_SET_ATTR_* (mode, uid, gid, atime, mtime); GF_ATTR_ATIME_NOW /
  MTIME_NOW mean "the server's clock". Callers other than root may only change what
  posix-acl's ``setattr_scrutiny`` lets them (``access.check_setattr``); FSETATTR is not
  checked, as in GlusterFS 10.3 (see ``access.py``).
* ACCESS is answered from the access rules alone, as posix-acl does without winding to posix:
  root and internal clients may anything (even X_OK on a file without an x bit), a mask of 0
  (F_OK) is granted, a mask with no R/W/X bit is EINVAL.
* OPENDIR, READDIR and READDIRP need read permission on the directory (READDIR(P) also on the
  anonymous fd, where no OPENDIR was checked).
* READLINK answers ``op_ret`` = the length of the target, truncated to ``size`` like
  readlink(2).
"""

from __future__ import annotations

import errno
import os
import time
from typing import TYPE_CHECKING

from gfrpc.programs import fops as fp
from gfrpc.programs import fops_types as ft
from gfrpc.programs.fops_types import (
    GF_ATTR_ATIME_NOW,
    GF_ATTR_MTIME_NOW,
    GF_SET_ATTR_ATIME,
    GF_SET_ATTR_MTIME,
)
from gfrpc.services.brick import access as acc
from gfrpc.services.brick.fops.common import FopCall, FopReply, Xdata, asked_xattrs
from gfrpc.services.brick.store import DirEntry, Target
from gfrpc.wire.xdr import XdrStruct

if TYPE_CHECKING:
    from gfrpc.services.brick.fops import FopService

READDIR_MAX = 128 * 1024
#: the bytes of xattr values one READDIRP answers for the keys its xdata names, beyond which
#: (and one entry's more) the rest of its entries are left for the next READDIRP
READDIRP_XATTRS_MAX = READDIR_MAX


def stat(svc: FopService, call: FopCall) -> FopReply:
    return fp.GfxCommonIattRsp(op_ret=0, op_errno=0, stat=svc.store.stat(bytes(call.args.gfid)))


def fstat(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    target = call.client.target(bytes(a.gfid), a.fd)
    return fp.GfxCommonIattRsp(op_ret=0, op_errno=0, stat=svc.store.stat(target))


def statfs(svc: FopService, call: FopCall) -> FopReply:
    s = svc.store.statfs(bytes(call.args.gfid))
    return fp.GfxStatfsRsp(
        op_ret=0,
        op_errno=0,
        statfs=ft.GfStatfs(
            bsize=s.bsize,
            frsize=s.frsize,
            blocks=s.blocks,
            bfree=s.bfree,
            bavail=s.bavail,
            files=s.files,
            ffree=s.ffree,
            favail=s.favail,
            fsid=s.fsid,
            flag=s.flag,
            namemax=s.namemax,
        ),
    )


def access(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    gfid = bytes(a.gfid)
    mask = a.mask & (os.R_OK | os.W_OK | os.X_OK)
    if a.mask and not mask:
        raise OSError(errno.EINVAL, "access mask without R_OK, W_OK or X_OK")
    if acc.trusted(call) or not mask:
        svc.store.stat(gfid)  # the inode must still exist (ESTALE)
    else:
        acc.require(svc.store, gfid, mask, call)
    return fp.GfxCommonRsp(op_ret=0, op_errno=0)


def _setattr(
    svc: FopService, call: FopCall, target: Target, buf: XdrStruct, valid: int, checked: bool = True
) -> FopReply:
    mode = buf.mode
    if checked:
        mode = acc.check_setattr(svc.store, target, valid, mode, buf.ia_uid, buf.ia_gid, call)
    now = time.time_ns()
    atime, atime_nsec = buf.ia_atime, buf.ia_atime_nsec
    mtime, mtime_nsec = buf.ia_mtime, buf.ia_mtime_nsec
    if valid & GF_ATTR_ATIME_NOW:
        atime, atime_nsec = divmod(now, 1_000_000_000)
        valid |= GF_SET_ATTR_ATIME
    if valid & GF_ATTR_MTIME_NOW:
        mtime, mtime_nsec = divmod(now, 1_000_000_000)
        valid |= GF_SET_ATTR_MTIME
    pre, post = svc.store.setattr(
        target,
        valid,
        mode=mode,
        uid=buf.ia_uid,
        gid=buf.ia_gid,
        atime=atime,
        atime_nsec=atime_nsec % 1_000_000_000,
        mtime=mtime,
        mtime_nsec=mtime_nsec % 1_000_000_000,
    )
    return fp.GfxCommon2IattRsp(op_ret=0, op_errno=0, prestat=pre, poststat=post)


def setattr(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    return _setattr(svc, call, bytes(a.gfid), a.stbuf, a.valid)


def fsetattr(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    # posix-acl's fsetattr is compiled out in GlusterFS 10.3 (see strict mode)
    return _setattr(
        svc, call, call.client.target(bytes(a.gfid), a.fd), a.stbuf, a.valid, checked=call.strict
    )


def readlink(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    gfid = bytes(a.gfid)
    target = os.fsencode(svc.store.readlink(gfid))
    if a.size:
        target = target[: a.size]
    return fp.GfxReadlinkRsp(
        op_ret=len(target),
        op_errno=0,
        buf=svc.store.stat(gfid),
        path=os.fsdecode(target),
    )


def opendir(svc: FopService, call: FopCall) -> FopReply:
    gfid = bytes(call.args.gfid)
    acc.require(svc.store, gfid, acc.R, call)
    call.client.fds.check_room()
    d = svc.store.opendir(gfid)
    return fp.GfxOpenRsp(op_ret=0, op_errno=0, fd=call.client.add_fd(d))


def _readdir(svc: FopService, call: FopCall, plus: bool) -> tuple[list[DirEntry], bool]:
    a = call.args
    size = min(a.size, READDIR_MAX)
    anonymous = a.fd == fp.GF_ANON_FD_NO
    if anonymous:  # posix-acl looks at the inode before posix finds it is no directory
        acc.require(svc.store, bytes(a.gfid), acc.R, call)
    try:
        lent = call.client.directory(svc.store, bytes(a.gfid), a.fd)
    except NotADirectoryError as exc:  # posix's answer to an anonymous fd of a file
        raise OSError(errno.EINVAL, "not a directory") from exc
    with lent as d:
        if not anonymous:
            acc.require(svc.store, d, acc.R, call)
        if not size:  # posix answers nothing: no entry fits in 0 bytes
            return [], False
        entries, eof = svc.store.readdir(d, a.offset, size, plus=plus)
    return entries, eof


def readdir(svc: FopService, call: FopCall) -> FopReply:
    entries, eof = _readdir(svc, call, plus=False)
    items = [ft.GfxDirlist(*_dirent(e)) for e in entries]
    return fp.GfxReaddirRsp(op_ret=len(items), op_errno=errno.ENOENT if eof else 0, reply=items)


def readdirp(svc: FopService, call: FopCall) -> FopReply:
    entries, eof = _readdir(svc, call, plus=True)
    asked = call.args.xdata
    # the entries' xattrs count too: once they pass READDIRP_XATTRS_MAX, the rest of the
    # entries wait for the client's next READDIRP (from the last one answered)
    items, xattr_bytes = [], 0
    for e in entries:
        if xattr_bytes > READDIRP_XATTRS_MAX:
            eof = False
            break
        values = _entry_xattrs(svc, e, asked)
        xattr_bytes += sum(len(v) for v in values.values())
        items.append(ft.GfxDirplist(*_dirent(e), e.stat, values))
    return fp.GfxReaddirpRsp(op_ret=len(items), op_errno=errno.ENOENT if eof else 0, reply=items)


def _dirent(entry: DirEntry) -> tuple[int, int, int, int, str]:
    """The fields a READDIR and a READDIRP entry share, in wire order (``gfx_dirlist``'s d_ino,
    d_off, d_len = the name's length in bytes, d_type, name)."""
    return entry.d_ino, entry.d_off, len(os.fsencode(entry.name)), entry.d_type, entry.name


def _entry_xattrs(svc: FopService, entry: DirEntry, asked: Xdata | None) -> dict[str, bytes]:
    """What a READDIRP entry carries: the xattrs its xdata names (DHT's linkto key), none for
    '.' and '..'."""
    if not asked or entry.name in (".", "..") or entry.stat is None:
        return {}
    return asked_xattrs(svc.store, bytes(entry.stat.ia_gfid), asked)


def releasedir(svc: FopService, call: FopCall) -> FopReply:
    call.client.fds.releasedir(call.args.fd)
    return fp.GfxCommonRsp(op_ret=0, op_errno=0)


def fsyncdir(svc: FopService, call: FopCall) -> FopReply:
    """FSYNCDIR of a directory's fd (or a file's: posix takes any fd here)."""
    a = call.args
    if a.fd != fp.GF_ANON_FD_NO:
        svc.store.fsync(call.client.fds.get(a.fd), datasync=bool(a.data))
        return fp.GfxCommonRsp(op_ret=0, op_errno=0)
    with call.client.directory(svc.store, bytes(a.gfid), a.fd) as d:
        svc.store.fsync(d, datasync=bool(a.data))
    return fp.GfxCommonRsp(op_ret=0, op_errno=0)
