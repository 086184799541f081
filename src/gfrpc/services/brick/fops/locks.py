"""FOP actors for locks: LK (POSIX record locks), INODELK / FINODELK, ENTRYLK / FENTRYLK.

The lock tables (``locks.py``) hold GlusterFS's features/locks semantics; this module maps the
wire onto them. A lock owner is this connection plus the credential's ``lk_owner`` (the
locks xlator uses ``frame->root->lk_owner`` and the client). Commands and types are
GlusterFS's: GF_LK_GETLK 0 / SETLK 1 / SETLKW 2, GF_LK_F_RDLCK 0 / WRLCK 1 / UNLCK 2;
ENTRYLK_LOCK 0 / UNLOCK 1 / LOCK_NB 2 and ENTRYLK_RDLCK 0 / WRLCK 1; an ENTRYLK with
``namelen`` 0 locks the whole directory. INODELK takes no GETLK nor an unknown command
(ENOTSUP, as the locks xlator answers); ENTRYLK refuses an unknown one (EINVAL). A held lock
keeps its domain and name, so their lengths are bounded as the number of locks is (locks.py,
"What one client may hold"): a domain past ``DOMAIN_MAX`` characters is EINVAL and an ENTRYLK
name past NAME_MAX bytes ENAMETOOLONG; glusterfsd takes any.

Blocking requests (SETLKW, ENTRYLK_LOCK) do not hold a worker: the request is deferred and the
lock table's grant callback sends the reply, as the locks xlator unwinds a blocked frame. A
connection that goes away drops its waiters (their requests get no reply) and its locks; a lock
that an in-flight request takes after the disconnect is released again at once.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from gfrpc.errors import LocalProtocolError
from gfrpc.programs import fops as fp
from gfrpc.programs import fops_types as ft
from gfrpc.rpc.server import Request
from gfrpc.services.brick.fops.common import DEFERRED, FopCall, FopReply, lk_owner_of
from gfrpc.services.brick.locks import (
    ENTRYLK_LOCK,
    F_UNLCK,
    GF_LK_GETLK,
    GF_LK_SETLK,
    GF_LK_SETLKW,
    Owner,
    RangeLock,
    make_range,
)
from gfrpc.wire.xdr import XdrStruct, text_bytes

if TYPE_CHECKING:
    from gfrpc.services.brick.fops import FopService


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _owner(call: FopCall) -> Owner:
    return Owner(call.client.lock_id, lk_owner_of(call.request))


def _locked_gfid(svc: FopService, call: FopCall, fd_no: int | None) -> bytes:
    """The inode a lock FOP names: its fd's (``fd_no``: LK, FINODELK, FENTRYLK), else the
    request's gfid, which must exist (ESTALE for an unknown gfid, as the server's resolver)."""
    if fd_no is not None and fd_no != fp.GF_ANON_FD_NO:
        return call.client.fds.get(fd_no).gfid
    gfid = bytes(call.args.gfid)
    svc.store.stat(gfid)
    return gfid


def _range(call: FopCall, type_: int, flock: XdrStruct, *, inodelk: bool = False) -> RangeLock:
    return make_range(
        _owner(call), type_, _signed(flock.start), _signed(flock.len), inodelk=inodelk
    )


def _proto_flock(lock: RangeLock, pid: int = 0) -> FopReply:
    return ft.GfProtoFlock(
        type=lock.type,
        whence=0,
        start=lock.start,
        len=lock.length,
        pid=pid,
        lk_owner=lock.owner.lk_owner,
    )


def _acquire(
    svc: FopService,
    call: FopCall,
    blocking: bool,
    ok: XdrStruct,
    err_type: type[XdrStruct],
    take: Callable[[Callable[[object], None] | None], bool],
) -> FopReply:
    """Run ``take(on_grant)``; a blocking one is answered from the grant callback."""
    client, request = call.client, call.request
    if not blocking:
        take(None)
        _release_if_gone(svc, call)
        return ok
    if not client.track(request):
        raise OSError(errno.ENOTCONN, "client disconnected")
    request.defer()

    def granted(_lock: object) -> None:
        client.untrack(request)
        _release_if_gone(svc, call)
        _answer(request, ok)

    try:
        done = take(granted)
    except OSError as exc:
        client.untrack(request)
        _answer(request, err_type(op_ret=-1, op_errno=exc.errno or errno.EIO))
        return DEFERRED
    if done:
        client.untrack(request)
        _release_if_gone(svc, call)
        _answer(request, ok)
    return DEFERRED


def _answer(request: Request, reply: XdrStruct) -> None:
    try:
        request.reply(reply)
    except LocalProtocolError:  # dropped at disconnect meanwhile
        pass


def _release_if_gone(svc: FopService, call: FopCall) -> None:
    if call.client.closed:
        for table in (svc.posix_locks, svc.inode_locks, svc.entry_locks):
            table.release_client(call.client.lock_id)


def lk(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    gfid = _locked_gfid(svc, call, a.fd)
    lock = _range(call, a.type, a.flock)
    if a.cmd == GF_LK_GETLK:
        blocker = svc.posix_locks.getlk(gfid, lock)
        flock = (
            _proto_flock(blocker)
            if blocker is not None
            else ft.GfProtoFlock(
                type=F_UNLCK,
                whence=0,
                start=lock.start,
                len=lock.length,
                pid=a.flock.pid,
                lk_owner=bytes(a.flock.lk_owner),
            )
        )
        return fp.GfxLkRsp(op_ret=0, op_errno=0, flock=flock)
    if a.cmd not in (GF_LK_SETLK, GF_LK_SETLKW):
        raise OSError(errno.EINVAL, f"unsupported lk command {a.cmd}")
    ok = fp.GfxLkRsp(op_ret=0, op_errno=0, flock=a.flock)
    blocking = a.cmd == GF_LK_SETLKW and lock.type != F_UNLCK
    return _acquire(
        svc,
        call,
        blocking,
        ok,
        fp.GfxLkRsp,
        lambda cb: svc.posix_locks.setlk(gfid, lock, block=blocking, on_grant=cb),
    )


#: the longest lock domain taken (GlusterFS's are xlator names, under a volume name of at most
#: 255 bytes): a held lock keeps its domain, so its length is bounded as the locks are
DOMAIN_MAX: Final = 1024
#: the longest name an ENTRYLK locks (NAME_MAX)
ENTRYLK_NAME_MAX: Final = 255


def _domain(volume: str) -> str:
    """The lock domain of an INODELK or ENTRYLK; EINVAL past ``DOMAIN_MAX`` characters."""
    if len(volume) > DOMAIN_MAX:
        raise OSError(errno.EINVAL, f"a lock domain of {len(volume)} characters")
    return volume


def _inodelk(svc: FopService, call: FopCall, gfid: bytes) -> FopReply:
    a = call.args
    if a.cmd not in (GF_LK_SETLK, GF_LK_SETLKW):  # GETLK too, as GlusterFS's locks xlator
        raise OSError(errno.ENOTSUP, f"unsupported inodelk command {a.cmd}")
    domain = _domain(a.volume)
    lock = _range(call, a.type, a.flock, inodelk=True)
    blocking = a.cmd == GF_LK_SETLKW and lock.type != F_UNLCK
    ok = fp.GfxCommonRsp(op_ret=0, op_errno=0)
    return _acquire(
        svc,
        call,
        blocking,
        ok,
        fp.GfxCommonRsp,
        lambda cb: svc.inode_locks.lock(domain, gfid, lock, block=blocking, on_grant=cb),
    )


def inodelk(svc: FopService, call: FopCall) -> FopReply:
    return _inodelk(svc, call, _locked_gfid(svc, call, None))


def finodelk(svc: FopService, call: FopCall) -> FopReply:
    return _inodelk(svc, call, _locked_gfid(svc, call, call.args.fd))


def _entrylk(svc: FopService, call: FopCall, gfid: bytes) -> FopReply:
    a = call.args
    domain = _domain(a.volume)
    basename = a.name if a.namelen else None
    if basename is not None and len(text_bytes(basename)) > ENTRYLK_NAME_MAX:
        raise OSError(errno.ENAMETOOLONG, "an entrylk name longer than NAME_MAX")
    owner = _owner(call)
    ok = fp.GfxCommonRsp(op_ret=0, op_errno=0)
    return _acquire(
        svc,
        call,
        a.cmd == ENTRYLK_LOCK,
        ok,
        fp.GfxCommonRsp,
        lambda cb: svc.entry_locks.entrylk(
            domain, gfid, owner, basename, a.cmd, a.type, on_grant=cb
        ),
    )


def entrylk(svc: FopService, call: FopCall) -> FopReply:
    return _entrylk(svc, call, _locked_gfid(svc, call, None))


def fentrylk(svc: FopService, call: FopCall) -> FopReply:
    return _entrylk(svc, call, _locked_gfid(svc, call, call.args.fd))
