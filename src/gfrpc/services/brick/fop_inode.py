"""FOP actors on inodes and directories: STAT, FSTAT, STATFS, ACCESS, SETATTR, FSETATTR,
READLINK, OPENDIR, READDIR, READDIRP, RELEASEDIR, FSYNCDIR.

GlusterFS 10.3 facts kept here:

* READDIR(P) replies are bounded by the request's ``size`` in bytes, which the server first
  caps at its 128 KiB page size (``server4_0_readdirp``); the store counts each entry's encoded
  size and always returns at least one. ``op_ret`` is the number of entries; when the listing
  is exhausted ``op_errno`` is ENOENT ("pick ENOENT to indicate EOF", posix). A real FUSE
  client then asks once more from the last entry's ``d_off`` and gets ``op_ret 0``, ENOENT and
  an empty list, which ends the listing. READDIRP entries carry the iatt and an empty dict.
* SETATTR's ``valid`` is GF_SET_ATTR_* (mode, uid, gid, atime, mtime); GF_ATTR_ATIME_NOW /
  MTIME_NOW mean "the server's clock". Callers other than root may only change what
  chmod/chown/utimes would let them (EPERM otherwise), as the posix-acl xlator enforces.
* READLINK answers ``op_ret`` = the length of the target, truncated to ``size`` like
  readlink(2).
"""

from __future__ import annotations

import errno
import os
import time
from typing import Any

from gfrpc.programs import fops as fp
from gfrpc.programs import fops_types as ft
from gfrpc.services.brick.fop_common import FopCall, permit, wire_iatt
from gfrpc.services.brick.store import Caller
from gfrpc.services.brick.store_iatt import (
    GF_ATTR_ATIME_NOW,
    GF_ATTR_MTIME_NOW,
    GF_SET_ATTR_ATIME,
    GF_SET_ATTR_GID,
    GF_SET_ATTR_MODE,
    GF_SET_ATTR_MTIME,
    GF_SET_ATTR_UID,
)

READDIR_MAX = 128 * 1024


def stat(svc: Any, call: FopCall) -> Any:
    return fp.GfxCommonIattRsp(op_ret=0, op_errno=0,
                               stat=wire_iatt(svc.store.stat(bytes(call.args.gfid))))


def fstat(svc: Any, call: FopCall) -> Any:
    a = call.args
    target = call.client.target(bytes(a.gfid), a.fd)
    return fp.GfxCommonIattRsp(op_ret=0, op_errno=0, stat=wire_iatt(svc.store.stat(target)))


def statfs(svc: Any, call: FopCall) -> Any:
    s = svc.store.statfs(bytes(call.args.gfid))
    return fp.GfxStatfsRsp(op_ret=0, op_errno=0, statfs=ft.GfStatfs(
        bsize=s.bsize, frsize=s.frsize, blocks=s.blocks, bfree=s.bfree, bavail=s.bavail,
        files=s.files, ffree=s.ffree, favail=s.favail, fsid=s.fsid, flag=s.flag,
        namemax=s.namemax))


def access(svc: Any, call: FopCall) -> Any:
    a = call.args
    svc.store.access(bytes(a.gfid), a.mask, call.caller)
    return fp.GfxCommonRsp(op_ret=0, op_errno=0)


def _check_setattr(svc: Any, target: Any, valid: int, buf: Any, caller: Caller) -> None:
    if caller.uid == 0:
        return
    cur = svc.store.stat(target)
    owner = cur.ia_uid == caller.uid
    if valid & GF_SET_ATTR_UID and buf.ia_uid != cur.ia_uid:
        raise OSError(errno.EPERM, "only root may change the owner")
    if valid & GF_SET_ATTR_GID and buf.ia_gid != cur.ia_gid and not (
            owner and (buf.ia_gid == caller.gid or buf.ia_gid in caller.groups)):
        raise OSError(errno.EPERM, "not allowed to change the group")
    if valid & GF_SET_ATTR_MODE and not owner:
        raise OSError(errno.EPERM, "not the owner")
    if valid & (GF_SET_ATTR_ATIME | GF_SET_ATTR_MTIME) and not owner:
        both_now = GF_ATTR_ATIME_NOW | GF_ATTR_MTIME_NOW
        if valid & both_now != both_now:
            raise OSError(errno.EPERM, "not the owner")
        permit(svc.store, target, os.W_OK, caller)


def _setattr(svc: Any, call: FopCall, target: Any, buf: Any, valid: int) -> Any:
    _check_setattr(svc, target, valid, buf, call.caller)
    now = time.time_ns()
    atime, atime_nsec = buf.ia_atime, buf.ia_atime_nsec
    mtime, mtime_nsec = buf.ia_mtime, buf.ia_mtime_nsec
    if valid & GF_ATTR_ATIME_NOW:
        atime, atime_nsec = divmod(now, 1_000_000_000)
        valid |= GF_SET_ATTR_ATIME
    if valid & GF_ATTR_MTIME_NOW:
        mtime, mtime_nsec = divmod(now, 1_000_000_000)
        valid |= GF_SET_ATTR_MTIME
    pre, post = svc.store.setattr(target, valid, mode=buf.mode, uid=buf.ia_uid, gid=buf.ia_gid,
                                  atime=atime, atime_nsec=atime_nsec % 1_000_000_000,
                                  mtime=mtime, mtime_nsec=mtime_nsec % 1_000_000_000)
    return fp.GfxCommon2IattRsp(op_ret=0, op_errno=0, prestat=wire_iatt(pre),
                                poststat=wire_iatt(post))


def setattr(svc: Any, call: FopCall) -> Any:
    a = call.args
    return _setattr(svc, call, bytes(a.gfid), a.stbuf, a.valid)


def fsetattr(svc: Any, call: FopCall) -> Any:
    a = call.args
    return _setattr(svc, call, call.client.target(bytes(a.gfid), a.fd), a.stbuf, a.valid)


def readlink(svc: Any, call: FopCall) -> Any:
    a = call.args
    gfid = bytes(a.gfid)
    target = os.fsencode(svc.store.readlink(gfid))
    if a.size:
        target = target[:a.size]
    return fp.GfxReadlinkRsp(op_ret=len(target), op_errno=0, buf=wire_iatt(svc.store.stat(gfid)),
                             path=os.fsdecode(target))


def opendir(svc: Any, call: FopCall) -> Any:
    gfid = bytes(call.args.gfid)
    permit(svc.store, gfid, os.R_OK, call.caller)
    d = svc.store.opendir(gfid)
    return fp.GfxOpenRsp(op_ret=0, op_errno=0, fd=call.client.add_fd(d))


def _readdir(svc: Any, call: FopCall, plus: bool) -> tuple[list[Any], bool]:
    a = call.args
    size = min(a.size, READDIR_MAX)
    with call.client.directory(svc.store, bytes(a.gfid), a.fd) as d:
        entries, eof = svc.store.readdir(d, a.offset, size, plus=plus)
    return entries, eof


def readdir(svc: Any, call: FopCall) -> Any:
    entries, eof = _readdir(svc, call, plus=False)
    items = [ft.GfxDirlist(d_ino=e.d_ino, d_off=e.d_off, d_len=len(os.fsencode(e.name)),
                           d_type=e.d_type, name=e.name) for e in entries]
    return fp.GfxReaddirRsp(op_ret=len(items), op_errno=errno.ENOENT if eof else 0, reply=items)


def readdirp(svc: Any, call: FopCall) -> Any:
    entries, eof = _readdir(svc, call, plus=True)
    items = [ft.GfxDirplist(d_ino=e.d_ino, d_off=e.d_off, d_len=len(os.fsencode(e.name)),
                            d_type=e.d_type, name=e.name, stat=wire_iatt(e.stat), dict={})
             for e in entries]
    return fp.GfxReaddirpRsp(op_ret=len(items), op_errno=errno.ENOENT if eof else 0,
                             reply=items)


def releasedir(svc: Any, call: FopCall) -> Any:
    call.client.fds.releasedir(call.args.fd)
    return fp.GfxCommonRsp(op_ret=0, op_errno=0)


def fsyncdir(svc: Any, call: FopCall) -> Any:
    a = call.args
    with call.client.directory(svc.store, bytes(a.gfid), a.fd) as d:
        svc.store.fsync(d, datasync=bool(a.data))
    return fp.GfxCommonRsp(op_ret=0, op_errno=0)


P = fp.FopProc
ACTORS = {
    P.STAT: stat, P.FSTAT: fstat, P.STATFS: statfs, P.ACCESS: access, P.SETATTR: setattr,
    P.FSETATTR: fsetattr, P.READLINK: readlink, P.OPENDIR: opendir, P.READDIR: readdir,
    P.READDIRP: readdirp, P.RELEASEDIR: releasedir, P.FSYNCDIR: fsyncdir,
}
