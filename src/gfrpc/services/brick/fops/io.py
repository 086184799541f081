"""FOP actors on file data: OPEN, READ, WRITE, FLUSH, FSYNC, RELEASE, TRUNCATE, FTRUNCATE,
FALLOCATE, DISCARD, ZEROFILL, SEEK, COPY_FILE_RANGE.

The actors translate between the wire and the store, which makes every system call on the
brick's data (``store.data``: pread, pwrite, fsync, ftruncate, fallocate, lseek,
copy_file_range). GlusterFS 10.3 facts kept here (posix xlator, ``server-rpc-fops_v2.c``):

* READ answers ``op_ret`` = bytes read, the data raw after the reply header, never more than
  the ``size`` asked (gfrpc also caps one READ at 32 MiB, a legal short read). At end of file
  ``op_errno`` is ENOENT while ``op_ret`` is still the byte count: posix's "hack to notify
  higher layers of EOF" (offset + bytes read >= size, or an empty file). A big READ's data
  leaves as a ``FileRegion`` (``store.read_out``): the kernel sends it with sendfile(2).
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
  modifies a file's data clears its set-uid/set-gid bits for callers other than root, as the
  kernel does (the store does it for the ``caller`` it is given).
* Offsets beyond ``off_t`` are EINVAL for COPY_FILE_RANGE before anything is opened, and
  ENXIO for SEEK (lseek's answer to a negative offset); an unknown ``what`` is ENOTSUP.
* As posix answers (checked call by call against glusterfsd in
  ``tests/interop/test_fd_calls_interop.py``): a READ of 0 bytes is EINVAL; a directory's fd
  is EISDIR to READ, EINVAL to FTRUNCATE, EBADF to the other data calls, and FSYNC syncs it.
  FALLOCATE's ``flags`` mean "keep the size" when not 0.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from gfrpc.programs import fops as fp
from gfrpc.services.brick import access
from gfrpc.services.brick.fops.common import FopCall, FopReply, lk_owner_of, open_flags
from gfrpc.services.brick.locks import Owner
from gfrpc.services.brick.store.data import (
    FALLOC_FL_KEEP_SIZE,
    FALLOC_FL_PUNCH_HOLE,
    FALLOC_FL_ZERO_RANGE,
    MAX_OFFSET,
)
from gfrpc.transport.outqueue import FileRegion

if TYPE_CHECKING:
    from gfrpc.services.brick.fops import FopService

MAX_READ = 32 << 20
_SYNC_FLAGS = os.O_SYNC | os.O_DSYNC
#: gf_seek_what_t
GF_SEEK_DATA, GF_SEEK_HOLE = 0, 1


def open_(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    gfid = bytes(a.gfid)
    flags = open_flags(a.flags)
    access.require(svc.store, gfid, access.open_mask(a.flags), call)
    call.client.fds.check_room()
    f = svc.store.open(gfid, flags)
    return fp.GfxOpenRsp(op_ret=0, op_errno=0, fd=call.client.add_fd(f))


def read(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    size = min(a.size, MAX_READ)
    access.require_anon(svc.store, bytes(a.gfid), a.fd, access.R, call)
    with call.client.file(svc.store, bytes(a.gfid), a.fd, os.O_RDONLY, errno.EISDIR) as f:
        if not size:
            raise OSError(errno.EINVAL, "a READ of 0 bytes")  # posix's answer
        data, stat = svc.store.read_out(f, a.offset, size)
    eof = stat.ia_size == 0 or a.offset + len(data) >= stat.ia_size
    rsp = fp.GfxReadRsp(
        op_ret=len(data), op_errno=errno.ENOENT if eof else 0, stat=stat, size=len(data)
    )
    if isinstance(data, FileRegion):  # sent by the kernel (sendfile) once the header is out
        return [rsp.pack(), data]
    return fp.encode_read_reply(rsp, data)


def write(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    access.require_anon(svc.store, bytes(a.gfid), a.fd, access.W, call)
    with call.client.file(svc.store, bytes(a.gfid), a.fd) as f:
        done, pre, post = svc.store.write(
            f,
            a.offset,
            call.payload,
            sync=bool(a.flag & _SYNC_FLAGS),
            caller=call.caller,
            tail=call.request.tail,
        )
    return fp.GfxCommon2IattRsp(op_ret=done, op_errno=0, prestat=pre, poststat=post)


def flush(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    gfid = bytes(a.gfid)
    if a.fd != fp.GF_ANON_FD_NO:
        gfid = call.client.fds.get(a.fd).gfid
    owner = Owner(call.client.lock_id, lk_owner_of(call.request))
    svc.posix_locks.release_owner(gfid, owner)
    return fp.GfxCommonRsp(op_ret=0, op_errno=0)


def fsync(svc: FopService, call: FopCall) -> FopReply:
    """FSYNC of a file's fd, or of a directory's (fsync(2) takes both, as in posix)."""
    a = call.args
    if a.fd != fp.GF_ANON_FD_NO:
        pre, post = svc.store.fsync(call.client.fds.get(a.fd), datasync=bool(a.data))
        return fp.GfxCommon2IattRsp(op_ret=0, op_errno=0, prestat=pre, poststat=post)
    with call.client.file(svc.store, bytes(a.gfid), a.fd, os.O_RDONLY) as f:
        pre, post = svc.store.fsync(f, datasync=bool(a.data))
    return fp.GfxCommon2IattRsp(op_ret=0, op_errno=0, prestat=pre, poststat=post)


def release(svc: FopService, call: FopCall) -> FopReply:
    call.client.fds.release(call.args.fd)
    return fp.GfxCommonRsp(op_ret=0, op_errno=0)


def truncate(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    gfid = bytes(a.gfid)
    access.require(svc.store, gfid, access.W, call)
    pre, post = svc.store.truncate(gfid, a.offset, caller=call.caller)
    return fp.GfxCommon2IattRsp(op_ret=0, op_errno=0, prestat=pre, poststat=post)


def ftruncate(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    access.require_anon(svc.store, bytes(a.gfid), a.fd, access.W, call)
    with call.client.file(svc.store, bytes(a.gfid), a.fd, on_dir=errno.EINVAL) as f:
        pre, post = svc.store.truncate(f, a.offset, caller=call.caller)
    return fp.GfxCommon2IattRsp(op_ret=0, op_errno=0, prestat=pre, poststat=post)


def _falloc(svc: FopService, call: FopCall, mode: int) -> FopReply:
    a = call.args
    access.require_anon(svc.store, bytes(a.gfid), a.fd, access.W, call)
    with call.client.file(svc.store, bytes(a.gfid), a.fd) as f:
        pre, post = svc.store.fallocate(f, a.offset, a.size, mode, caller=call.caller)
    return fp.GfxCommon2IattRsp(op_ret=0, op_errno=0, prestat=pre, poststat=post)


def fallocate(svc: FopService, call: FopCall) -> FopReply:
    """FALLOCATE's ``flags`` only say "keep the size" or not: posix allocates with
    FALLOC_FL_KEEP_SIZE for any other value than 0 (clients send holes as DISCARD, zeros as
    ZEROFILL)."""
    return _falloc(svc, call, FALLOC_FL_KEEP_SIZE if call.args.flags else 0)


def discard(svc: FopService, call: FopCall) -> FopReply:
    return _falloc(svc, call, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)


def zerofill(svc: FopService, call: FopCall) -> FopReply:
    return _falloc(svc, call, FALLOC_FL_ZERO_RANGE)


def seek(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    if a.what not in (GF_SEEK_DATA, GF_SEEK_HOLE):
        raise OSError(errno.ENOTSUP, f"unknown seek {a.what}")  # posix's answer
    if a.offset > MAX_OFFSET:  # a negative off_t: lseek(2) finds no data or hole there
        raise OSError(errno.ENXIO, "bad seek offset")
    access.require_anon(svc.store, bytes(a.gfid), a.fd, access.R, call)
    with call.client.file(svc.store, bytes(a.gfid), a.fd, os.O_RDONLY) as f:
        where = svc.store.seek(f, a.offset, hole=a.what == GF_SEEK_HOLE)
    return fp.GfxSeekRsp(op_ret=0, op_errno=0, offset=where)


def copy_file_range(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    if a.off_in > MAX_OFFSET or a.off_out > MAX_OFFSET:
        raise OSError(errno.EINVAL, "bad offset")
    store, client = svc.store, call.client
    access.require_anon(store, bytes(a.gfid1), a.fd_in, access.R, call)
    access.require_anon(store, bytes(a.gfid2), a.fd_out, access.W, call)
    with (
        client.file(store, bytes(a.gfid1), a.fd_in, os.O_RDONLY) as src,
        client.file(store, bytes(a.gfid2), a.fd_out) as dst,
    ):
        n, stat, pre, post = store.copy_file_range(
            src, dst, a.size, a.off_in, a.off_out, caller=call.caller
        )
    return fp.GfxCommon3IattRsp(op_ret=n, op_errno=0, stat=stat, preparent=pre, postparent=post)
