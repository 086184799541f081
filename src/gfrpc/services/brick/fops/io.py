"""FOP actors on file data: OPEN, READ, WRITE, FLUSH, FSYNC, RELEASE, TRUNCATE, FTRUNCATE,
FALLOCATE, DISCARD, ZEROFILL, SEEK, COPY_FILE_RANGE.

GlusterFS 10.3 facts kept here (posix xlator, ``server-rpc-fops_v2.c``):

* READ answers ``op_ret`` = bytes read, the data raw after the reply header, never more than
  the ``size`` asked (gfrpc also caps one READ at 32 MiB, a legal short read). At end of file
  ``op_errno`` is ENOENT while ``op_ret`` is still the byte count: posix's "hack to notify
  higher layers of EOF" (offset + bytes read >= size, or an empty file).
* WRITE takes the raw payload that follows its header (a view of the received record, passed
  to ``pwrite`` without a copy); ``op_ret`` = bytes written; prestat/poststat are the file
  before and after. ``O_SYNC``/``O_DSYNC`` in the write's ``flag`` make it durable before the
  reply.
* The anonymous fd (-2) opens the file by gfid for the one call.
* FLUSH is where GlusterFS's locks xlator drops the caller's POSIX locks on the file (the
  ``close()`` semantics of fcntl locks); RELEASE of an unknown fd is harmless.
* SEEK's ``what`` is ``gf_seek_what_t``: 0 = SEEK_DATA, 1 = SEEK_HOLE.
* Access (``access.py``): OPEN needs what its flags ask for and TRUNCATE write permission; the
  FOPs on an fd are not checked, as in GlusterFS 10.3 (its posix-acl compiles those checks
  out), the anonymous fd included, unless strict mode (``FopCall.strict``) is on. What
  modifies a file's data clears its set-uid/set-gid
  bits for callers other than root (``access.drop_privs``), as the kernel does.
"""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Any

from gfrpc.programs import fops as fp
from gfrpc.services.brick import access
from gfrpc.services.brick.fops.common import FopCall, lk_owner_of, open_flags, wire_iatt
from gfrpc.services.brick.locks import Owner
from gfrpc.services.brick.store.base import iatt_of
from gfrpc.services.brick.store.iatt import GF_SET_ATTR_MODE

MAX_READ = 32 << 20
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10
_MAX_OFF = (1 << 63) - 1
_SYNC_FLAGS = os.O_SYNC | os.O_DSYNC
_libc = ctypes.CDLL(None, use_errno=True)
_fallocate_fn = _libc.fallocate
_fallocate_fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
_fallocate_fn.restype = ctypes.c_int


def fallocate(fd: int, mode: int, offset: int, length: int) -> None:
    """fallocate(2) with its mode flags (``os.posix_fallocate`` has none)."""
    if not (0 <= offset <= _MAX_OFF and 0 < length <= _MAX_OFF):
        raise OSError(errno.EINVAL, "bad fallocate range")
    if _fallocate_fn(fd, mode, offset, length) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def open_(svc: Any, call: FopCall) -> Any:
    a = call.args
    gfid = bytes(a.gfid)
    flags = open_flags(a.flags)
    access.require(svc.store, gfid, access.open_mask(a.flags), call)
    call.client.fds.check_room()
    f = svc.store.open(gfid, flags)
    return fp.GfxOpenRsp(op_ret=0, op_errno=0, fd=call.client.add_fd(f))


def read(svc: Any, call: FopCall) -> Any:
    a = call.args
    size = min(a.size, MAX_READ)
    access.require_anon(svc.store, bytes(a.gfid), a.fd, access.R, call)
    with call.client.file(svc.store, bytes(a.gfid), a.fd, os.O_RDONLY) as f:
        with f.pinned() as fd:
            data = os.pread(fd, size, a.offset) if size else b""
            st = os.fstat(fd)
        gfid = f.gfid
    eof = st.st_size == 0 or a.offset + len(data) >= st.st_size
    rsp = fp.GfxReadRsp(
        op_ret=len(data),
        op_errno=errno.ENOENT if eof else 0,
        stat=wire_iatt(iatt_of(gfid, st)),
        size=len(data),
    )
    return fp.encode_read_reply(rsp, data)


def write(svc: Any, call: FopCall) -> Any:
    a, payload = call.args, call.payload
    access.require_anon(svc.store, bytes(a.gfid), a.fd, access.W, call)
    with call.client.file(svc.store, bytes(a.gfid), a.fd) as f:
        with f.pinned() as fd:
            pre = os.fstat(fd)
            access.drop_privs(fd, pre, call.caller)
            done = 0
            total = len(payload)
            while done < total:
                n = os.pwrite(fd, payload[done:], a.offset + done)
                if n <= 0:
                    break
                done += n
            if a.flag & _SYNC_FLAGS:
                os.fdatasync(fd)
            post = os.fstat(fd)
        gfid = f.gfid
    return fp.GfxCommon2IattRsp(
        op_ret=done,
        op_errno=0,
        prestat=wire_iatt(iatt_of(gfid, pre)),
        poststat=wire_iatt(iatt_of(gfid, post)),
    )


def flush(svc: Any, call: FopCall) -> Any:
    a = call.args
    gfid = bytes(a.gfid)
    if a.fd != fp.GF_ANON_FD_NO:
        gfid = call.client.fds.get(a.fd).gfid
    owner = Owner(call.client.lock_id, lk_owner_of(call.request))
    svc.posix_locks.release_owner(gfid, owner)
    return fp.GfxCommonRsp(op_ret=0, op_errno=0)


def fsync(svc: Any, call: FopCall) -> Any:
    a = call.args
    with call.client.file(svc.store, bytes(a.gfid), a.fd, os.O_RDONLY) as f:
        with f.pinned() as fd:
            pre = os.fstat(fd)
            (os.fdatasync if a.data else os.fsync)(fd)
            post = os.fstat(fd)
        gfid = f.gfid
    return fp.GfxCommon2IattRsp(
        op_ret=0,
        op_errno=0,
        prestat=wire_iatt(iatt_of(gfid, pre)),
        poststat=wire_iatt(iatt_of(gfid, post)),
    )


def release(svc: Any, call: FopCall) -> Any:
    call.client.fds.release(call.args.fd)
    return fp.GfxCommonRsp(op_ret=0, op_errno=0)


def truncate(svc: Any, call: FopCall) -> Any:
    a = call.args
    gfid = bytes(a.gfid)
    access.require(svc.store, gfid, access.W, call)
    pre, post = svc.store.truncate(gfid, a.offset)
    return _truncated(svc, call, gfid, pre, post)


def _truncated(svc: Any, call: FopCall, target: Any, pre: Any, post: Any) -> Any:
    kill = access.privs_to_drop(post.mode, post.ia_gid, call.caller)
    if kill:
        post = svc.store.setattr(target, GF_SET_ATTR_MODE, mode=post.mode & 0o7777 & ~kill)[1]
    return fp.GfxCommon2IattRsp(
        op_ret=0, op_errno=0, prestat=wire_iatt(pre), poststat=wire_iatt(post)
    )


def ftruncate(svc: Any, call: FopCall) -> Any:
    a = call.args
    access.require_anon(svc.store, bytes(a.gfid), a.fd, access.W, call)
    with call.client.file(svc.store, bytes(a.gfid), a.fd) as f:
        pre, post = svc.store.truncate(f, a.offset)
        return _truncated(svc, call, f, pre, post)


def _falloc(svc: Any, call: FopCall, mode: int) -> Any:
    a = call.args
    access.require_anon(svc.store, bytes(a.gfid), a.fd, access.W, call)
    with call.client.file(svc.store, bytes(a.gfid), a.fd) as f:
        with f.pinned() as fd:
            pre = os.fstat(fd)
            access.drop_privs(fd, pre, call.caller)
            if mode == FALLOC_FL_ZERO_RANGE:
                try:
                    fallocate(fd, FALLOC_FL_ZERO_RANGE, a.offset, a.size)
                except OSError as exc:  # e.g. tmpfs: punch a hole, then allocate it again
                    if exc.errno not in (errno.EOPNOTSUPP, errno.ENOSYS):
                        raise
                    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, a.offset, a.size)
                    fallocate(fd, 0, a.offset, a.size)
            else:
                fallocate(fd, mode, a.offset, a.size)
            post = os.fstat(fd)
        gfid = f.gfid
    return fp.GfxCommon2IattRsp(
        op_ret=0,
        op_errno=0,
        prestat=wire_iatt(iatt_of(gfid, pre)),
        poststat=wire_iatt(iatt_of(gfid, post)),
    )


def fallocate_(svc: Any, call: FopCall) -> Any:
    return _falloc(svc, call, call.args.flags & 0x7F)


def discard(svc: Any, call: FopCall) -> Any:
    return _falloc(svc, call, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)


def zerofill(svc: Any, call: FopCall) -> Any:
    return _falloc(svc, call, FALLOC_FL_ZERO_RANGE)


def seek(svc: Any, call: FopCall) -> Any:
    a = call.args
    if a.what not in (0, 1) or a.offset > _MAX_OFF:
        raise OSError(errno.EINVAL, "bad seek")
    access.require_anon(svc.store, bytes(a.gfid), a.fd, access.R, call)
    with call.client.file(svc.store, bytes(a.gfid), a.fd, os.O_RDONLY) as f:
        with f.pinned() as fd:
            where = os.lseek(fd, a.offset, os.SEEK_DATA if a.what == 0 else os.SEEK_HOLE)
    return fp.GfxSeekRsp(op_ret=0, op_errno=0, offset=where)


def copy_file_range(svc: Any, call: FopCall) -> Any:
    a = call.args
    if a.off_in > _MAX_OFF or a.off_out > _MAX_OFF:
        raise OSError(errno.EINVAL, "bad offset")
    store, client = svc.store, call.client
    access.require_anon(store, bytes(a.gfid1), a.fd_in, access.R, call)
    access.require_anon(store, bytes(a.gfid2), a.fd_out, access.W, call)
    with (
        client.file(store, bytes(a.gfid1), a.fd_in, os.O_RDONLY) as src,
        client.file(store, bytes(a.gfid2), a.fd_out) as dst,
    ):
        with src.pinned() as ifd, dst.pinned() as ofd:
            pre = os.fstat(ofd)
            access.drop_privs(ofd, pre, call.caller)
            n = os.copy_file_range(ifd, ofd, a.size, a.off_in, a.off_out)
            stat, post = os.fstat(ifd), os.fstat(ofd)
        sgfid, dgfid = src.gfid, dst.gfid
    return fp.GfxCommon3IattRsp(
        op_ret=n,
        op_errno=0,
        stat=wire_iatt(iatt_of(sgfid, stat)),
        preparent=wire_iatt(iatt_of(dgfid, pre)),
        postparent=wire_iatt(iatt_of(dgfid, post)),
    )


P = fp.FopProc
ACTORS = {
    P.OPEN: open_,
    P.READ: read,
    P.WRITE: write,
    P.FLUSH: flush,
    P.FSYNC: fsync,
    P.RELEASE: release,
    P.TRUNCATE: truncate,
    P.FTRUNCATE: ftruncate,
    P.FALLOCATE: fallocate_,
    P.DISCARD: discard,
    P.ZEROFILL: zerofill,
    P.SEEK: seek,
    P.COPY_FILE_RANGE: copy_file_range,
}
