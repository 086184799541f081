"""How the rows of ``access_table_support.py`` are run: each row's directory and object are set
up as root through FOPs, then the row's FOP is sent with the caller's credential (see the
table's docstring). Shared by tests/services/test_access_control.py (a gfrpc brick) and
tests/interop/test_access_interop.py (a real GlusterFS 10.3 brick).
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from access_table_support import CALLERS, AclSpec, Obj, Row
from brick_fops_support import FopClient, cred

from gfrpc.programs import fops as fp
from gfrpc.programs import fops_types as ft
from gfrpc.services.brick import posix_acl as pa

P = fp.FopProc
ANON = fp.GF_ANON_FD_NO
ROOT_GFID = bytes(15) + b"\x01"
DATA = b"0123456789abcdef" * 512  # what every file holds (8 KiB)


def cred_of(name: str) -> Any:
    uid, gid, groups, pid = CALLERS[name]
    return cred(uid, gid, groups, pid=pid)


# -- the context a row's FOP runs in ----------------------------------------------------------
@dataclass
class Ctx:
    c: FopClient
    cred: Any
    pg: bytes  # the row's directory
    g: bytes  # its "obj"
    subject: bytes = b""  # whose mode ``mode_after`` checks (default: obj)
    root: Any = field(default_factory=lambda: cred_of("root"))

    def call(self, proc: int, req: Any, *, as_root: bool = False) -> Any:
        return self.c.call(proc, req, cred=self.root if as_root else self.cred)


def errno_of(rsp: Any) -> int:
    return 0 if rsp.op_ret >= 0 else int(rsp.op_errno)


def _gfid_req() -> dict[str, Any]:
    return {"gfid-req": uuid.uuid4()}


def _must(rsp: Any, what: str) -> Any:
    assert rsp.op_ret >= 0, f"setup {what} failed: errno {rsp.op_errno}"
    return rsp


def _make(x: Ctx, pg: bytes, name: str, o: Obj) -> bytes:
    """Create ``o`` as root under ``pg``; returns its gfid."""
    if o.kind == "d":
        r = _must(
            x.call(
                P.MKDIR,
                fp.GfxMkdirReq(pargfid=pg, bname=name, mode=0o700, xdata=_gfid_req()),
                as_root=True,
            ),
            "mkdir",
        )
        g = bytes(r.stat.ia_gfid)
    elif o.kind == "l":
        r = _must(
            x.call(
                P.SYMLINK,
                fp.GfxSymlinkReq(pargfid=pg, bname=name, linkname="target", xdata=_gfid_req()),
                as_root=True,
            ),
            "symlink",
        )
        return bytes(r.stat.ia_gfid)
    else:
        r = _must(
            x.call(
                P.CREATE,
                fp.GfxCreateReq(
                    pargfid=pg,
                    bname=name,
                    mode=stat.S_IFREG | 0o600,
                    flags=os.O_RDWR | os.O_CREAT | os.O_EXCL,
                    xdata=_gfid_req(),
                ),
                as_root=True,
            ),
            "create",
        )
        g = bytes(r.stat.ia_gfid)
        _must(
            x.call(
                P.WRITE,
                (fp.GfxWriteReq(gfid=g, fd=r.fd, offset=0, size=len(DATA)), DATA),
                as_root=True,
            ),
            "write",
        )
        x.call(P.RELEASE, fp.GfxReleaseReq(gfid=g, fd=r.fd), as_root=True)
        _must(
            x.call(P.SETXATTR, fp.GfxSetxattrReq(gfid=g, dict={"user.t": b"v"}), as_root=True),
            "setxattr",
        )
    _must(
        x.call(
            P.SETATTR,
            fp.GfxSetattrReq(
                gfid=g,
                stbuf=ft.Iatt(ia_uid=o.uid, ia_gid=o.gid, mode=o.mode),
                valid=ft.GF_SET_ATTR_UID | ft.GF_SET_ATTR_GID | ft.GF_SET_ATTR_MODE,
            ),
            as_root=True,
        ),
        "setattr",
    )
    acls = {}
    if o.acl is not None:
        acls[pa.ACCESS_KEY] = o.acl.access_xattr(o.mode)
    if o.dacl is not None:
        acls[pa.DEFAULT_KEY] = o.dacl.default_xattr()
    if acls:
        _must(x.call(P.SETXATTR, fp.GfxSetxattrReq(gfid=g, dict=acls), as_root=True), "set ACL")
    return g


def prepare(c: FopClient, row: Row, dirname: str = "") -> Ctx:
    """Make the row's directory (``dirname``, default the row's name) and object (as root) and
    return the context of its FOP."""
    x = Ctx(c, cred_of(row.caller), ROOT_GFID, ROOT_GFID)
    x.pg = _make(x, ROOT_GFID, dirname or row.name, row.parent)
    x.g = x.subject = _make(x, x.pg, "obj", row.obj)
    if row.tgt is not None:
        _make(x, x.pg, "tgt", row.tgt)
    return x


def mode_of(x: Ctx, gfid: bytes) -> int:
    r = _must(x.call(P.STAT, fp.GfxStatReq(gfid=gfid), as_root=True), "stat")
    return stat.S_IMODE(r.stat.mode)


# -- the FOPs ----------------------------------------------------------------------------------
def _new(x: Ctx, proc: int, req: Any) -> int:
    r = x.call(proc, req)
    if r.op_ret >= 0 and proc == P.CREATE:
        x.call(P.RELEASE, fp.GfxReleaseReq(gfid=bytes(r.stat.ia_gfid), fd=r.fd), as_root=True)
    return errno_of(r)


def _open(x: Ctx, flags: int) -> int:
    r = x.call(P.OPEN, fp.GfxOpenReq(gfid=x.g, flags=flags))
    if r.op_ret >= 0:
        x.call(P.RELEASE, fp.GfxReleaseReq(gfid=x.g, fd=r.fd), as_root=True)
    return errno_of(r)


def _opendir(x: Ctx, _: Any) -> int:
    r = x.call(P.OPENDIR, fp.GfxOpendirReq(gfid=x.g))
    if r.op_ret >= 0:
        x.call(P.RELEASEDIR, fp.GfxReleasedirReq(gfid=x.g, fd=r.fd), as_root=True)
    return errno_of(r)


def _readdir_fd(x: Ctx, _: Any) -> int:
    """READDIR as the caller on an fd root opened: the check is on the directory, not the fd."""
    d = _must(x.call(P.OPENDIR, fp.GfxOpendirReq(gfid=x.g), as_root=True), "opendir")
    try:
        return errno_of(x.call(P.READDIR, fp.GfxReaddirReq(gfid=x.g, fd=d.fd, size=4096)))
    finally:
        x.call(P.RELEASEDIR, fp.GfxReleasedirReq(gfid=x.g, fd=d.fd), as_root=True)


def _write_fd(x: Ctx, _: Any) -> int:
    """WRITE as the caller on an fd root opened (O_RDWR) on this connection."""
    f = _must(x.call(P.OPEN, fp.GfxOpenReq(gfid=x.g, flags=os.O_RDWR), as_root=True), "open")
    try:
        return errno_of(x.call(P.WRITE, (fp.GfxWriteReq(gfid=x.g, fd=f.fd, size=4), b"abcd")))
    finally:
        x.call(P.RELEASE, fp.GfxReleaseReq(gfid=x.g, fd=f.fd), as_root=True)


def _copy(x: Ctx, _: Any) -> int:
    dst = _must(
        x.call(
            P.CREATE,
            fp.GfxCreateReq(
                pargfid=x.pg,
                bname="dst",
                mode=stat.S_IFREG | 0o666,
                flags=os.O_RDWR | os.O_CREAT,
                xdata=_gfid_req(),
            ),
            as_root=True,
        ),
        "create dst",
    )
    dg = bytes(dst.stat.ia_gfid)
    x.call(P.RELEASE, fp.GfxReleaseReq(gfid=dg, fd=dst.fd), as_root=True)
    return errno_of(
        x.call(
            P.COPY_FILE_RANGE,
            fp.GfxCopyFileRangeReq(
                gfid1=x.g, gfid2=dg, fd_in=ANON, fd_out=ANON, off_in=0, off_out=0, size=16
            ),
        )
    )


def _setattr(x: Ctx, arg: tuple[int, dict[str, int]], fd: int | None = None) -> int:
    valid, buf = arg
    if fd is None:
        return errno_of(
            x.call(P.SETATTR, fp.GfxSetattrReq(gfid=x.g, stbuf=ft.Iatt(**buf), valid=valid))
        )
    return errno_of(
        x.call(P.FSETATTR, fp.GfxFsetattrReq(gfid=x.g, fd=fd, stbuf=ft.Iatt(**buf), valid=valid))
    )


def _xattr_value(key: str) -> bytes:
    if key in (pa.ACCESS_KEY, pa.DEFAULT_KEY):  # an ACL that would give bob rw
        return AclSpec(users=((1001, 6),), group_obj=6, user_obj=6, mask=6, other=6).default_xattr()
    return b"w"


def _create_then(x: Ctx, arg: tuple[str, int, int, str]) -> int:
    """``creator`` makes "new" (a file with CREATE, or a directory with MKDIR) with mode and
    umask; then the caller opens it O_RDWR (file) or creates in it (directory)."""
    creator, mode, umask, kind = arg
    who = cred_of(creator)
    if kind == "f":
        r = _must(
            x.c.call(
                P.CREATE,
                fp.GfxCreateReq(
                    pargfid=x.pg,
                    bname="new",
                    mode=stat.S_IFREG | mode,
                    umask=umask,
                    flags=os.O_RDWR | os.O_CREAT | os.O_EXCL,
                    xdata=_gfid_req(),
                ),
                cred=who,
            ),
            "create new",
        )
        x.subject = bytes(r.stat.ia_gfid)
        x.call(P.RELEASE, fp.GfxReleaseReq(gfid=x.subject, fd=r.fd), as_root=True)
        return _open(Ctx(x.c, x.cred, x.pg, x.subject), os.O_RDWR)
    r = _must(
        x.c.call(
            P.MKDIR,
            fp.GfxMkdirReq(pargfid=x.pg, bname="new", mode=mode, umask=umask, xdata=_gfid_req()),
            cred=who,
        ),
        "mkdir new",
    )
    x.subject = bytes(r.stat.ia_gfid)
    return _new(
        x,
        P.CREATE,
        fp.GfxCreateReq(
            pargfid=x.subject,
            bname="inner",
            mode=stat.S_IFREG | 0o644,
            umask=0o022,
            flags=os.O_RDWR | os.O_CREAT | os.O_EXCL,
            xdata=_gfid_req(),
        ),
    )


def _inodelk(x: Ctx, fd: Any) -> int:
    """A write lock on the whole file (SETLK), then its unlock, in a private domain."""
    got = 0
    for type_ in (1, 2):  # F_WRLCK, then F_UNLCK
        lock = ft.GfProtoFlock(type=type_, len=0)
        if fd is None:
            r = x.call(
                P.INODELK,
                fp.GfxInodelkReq(gfid=x.g, cmd=1, type=type_, flock=lock, volume="access-table"),
            )
        else:
            r = x.call(
                P.FINODELK,
                fp.GfxFinodelkReq(
                    gfid=x.g, fd=fd, cmd=1, type=type_, flock=lock, volume="access-table"
                ),
            )
        got = got or errno_of(r)
    return got


def _entrylk(x: Ctx, fd: Any) -> int:
    """An entry lock (LOCK_NB, write) on "obj" of the row's directory, then its unlock."""
    got = 0
    for cmd in (2, 1):  # ENTRYLK_LOCK_NB, then ENTRYLK_UNLOCK
        if fd is None:
            r = x.call(
                P.ENTRYLK,
                fp.GfxEntrylkReq(
                    gfid=x.pg, cmd=cmd, type=1, namelen=3, name="obj", volume="access-table"
                ),
            )
        else:
            r = x.call(
                P.FENTRYLK,
                fp.GfxFentrylkReq(
                    gfid=x.pg, fd=fd, cmd=cmd, type=1, namelen=3, name="obj", volume="access-table"
                ),
            )
        got = got or errno_of(r)
    return got


FOPS: dict[str, Callable[[Ctx, Any], int]] = {
    "lookup": lambda x, a: errno_of(x.call(P.LOOKUP, fp.GfxLookupReq(pargfid=x.pg, bname="obj"))),
    "lookup_gfid": lambda x, a: errno_of(x.call(P.LOOKUP, fp.GfxLookupReq(gfid=x.g))),
    "stat": lambda x, a: errno_of(x.call(P.STAT, fp.GfxStatReq(gfid=x.g))),
    "fstat": lambda x, a: errno_of(x.call(P.FSTAT, fp.GfxFstatReq(gfid=x.g, fd=ANON))),
    "statfs": lambda x, a: errno_of(x.call(P.STATFS, fp.GfxStatfsReq(gfid=x.g))),
    "access": lambda x, a: errno_of(x.call(P.ACCESS, fp.GfxAccessReq(gfid=x.g, mask=a))),
    "open": lambda x, a: _open(x, a),
    "opendir": _opendir,
    "readdir": lambda x, a: errno_of(
        x.call(P.READDIR, fp.GfxReaddirReq(gfid=x.g, fd=ANON, size=4096))
    ),
    "readdirp": lambda x, a: errno_of(
        x.call(P.READDIRP, fp.GfxReaddirpReq(gfid=x.g, fd=ANON, size=4096))
    ),
    "readdir_fd": _readdir_fd,
    "read": lambda x, a: errno_of(x.call(P.READ, fp.GfxReadReq(gfid=x.g, fd=ANON, size=16))[0]),
    "write": lambda x, a: errno_of(
        x.call(P.WRITE, (fp.GfxWriteReq(gfid=x.g, fd=ANON, size=4), b"abcd"))
    ),
    "truncate": lambda x, a: errno_of(x.call(P.TRUNCATE, fp.GfxTruncateReq(gfid=x.g, offset=10))),
    "ftruncate": lambda x, a: errno_of(
        x.call(P.FTRUNCATE, fp.GfxFtruncateReq(gfid=x.g, fd=ANON, offset=10))
    ),
    "fallocate": lambda x, a: errno_of(
        x.call(P.FALLOCATE, fp.GfxFallocateReq(gfid=x.g, fd=ANON, offset=0, size=4096))
    ),
    "discard": lambda x, a: errno_of(
        x.call(P.DISCARD, fp.GfxDiscardReq(gfid=x.g, fd=ANON, offset=0, size=4096))
    ),
    "zerofill": lambda x, a: errno_of(
        x.call(P.ZEROFILL, fp.GfxZerofillReq(gfid=x.g, fd=ANON, offset=0, size=4096))
    ),
    "seek": lambda x, a: errno_of(x.call(P.SEEK, fp.GfxSeekReq(gfid=x.g, fd=ANON, what=0))),
    "copy_file_range": _copy,
    "write_fd": _write_fd,
    "fsync": lambda x, a: errno_of(x.call(P.FSYNC, fp.GfxFsyncReq(gfid=x.g, fd=ANON))),
    "flush": lambda x, a: errno_of(x.call(P.FLUSH, fp.GfxFlushReq(gfid=x.g, fd=ANON))),
    "readlink": lambda x, a: errno_of(x.call(P.READLINK, fp.GfxReadlinkReq(gfid=x.g, size=256))),
    "mkdir": lambda x, a: _new(
        x,
        P.MKDIR,
        fp.GfxMkdirReq(pargfid=x.pg, bname="new", mode=0o755, umask=0o022, xdata=_gfid_req()),
    ),
    "mknod": lambda x, a: _new(
        x,
        P.MKNOD,
        fp.GfxMknodReq(
            pargfid=x.pg, bname="new", mode=stat.S_IFIFO | 0o644, umask=0o022, xdata=_gfid_req()
        ),
    ),
    "mknod_device": lambda x, a: _new(
        x,
        P.MKNOD,
        fp.GfxMknodReq(
            pargfid=x.pg,
            bname="new",
            mode=stat.S_IFCHR | 0o666,
            dev=os.makedev(1, 5),
            umask=0o022,
            xdata=_gfid_req(),
        ),
    ),
    "create": lambda x, a: _new(
        x,
        P.CREATE,
        fp.GfxCreateReq(
            pargfid=x.pg,
            bname="new",
            mode=stat.S_IFREG | 0o644,
            umask=0o022,
            flags=os.O_RDWR | os.O_CREAT | os.O_EXCL,
            xdata=_gfid_req(),
        ),
    ),
    "create_existing": lambda x, a: _new(
        x,
        P.CREATE,
        fp.GfxCreateReq(
            pargfid=x.pg,
            bname="obj",
            mode=stat.S_IFREG | 0o644,
            umask=0o022,
            flags=os.O_RDWR | os.O_CREAT,
            xdata=_gfid_req(),
        ),
    ),
    "symlink": lambda x, a: _new(
        x,
        P.SYMLINK,
        fp.GfxSymlinkReq(pargfid=x.pg, bname="new", linkname="t", umask=0o022, xdata=_gfid_req()),
    ),
    "unlink": lambda x, a: errno_of(x.call(P.UNLINK, fp.GfxUnlinkReq(pargfid=x.pg, bname="obj"))),
    "rmdir": lambda x, a: errno_of(x.call(P.RMDIR, fp.GfxRmdirReq(pargfid=x.pg, bname="obj"))),
    "rename": lambda x, a: errno_of(
        x.call(
            P.RENAME,
            fp.GfxRenameReq(oldgfid=x.pg, newgfid=x.pg, oldbname="obj", newbname=a or "moved"),
        )
    ),
    "link": lambda x, a: errno_of(
        x.call(P.LINK, fp.GfxLinkReq(oldgfid=x.g, newgfid=x.pg, newbname="hard"))
    ),
    "setattr": lambda x, a: _setattr(x, a),
    "fsetattr": lambda x, a: _setattr(x, a, ANON),
    "setxattr": lambda x, a: errno_of(
        x.call(P.SETXATTR, fp.GfxSetxattrReq(gfid=x.g, dict={a: _xattr_value(a)}))
    ),
    "fsetxattr": lambda x, a: errno_of(
        x.call(P.FSETXATTR, fp.GfxFsetxattrReq(gfid=x.g, fd=ANON, dict={a: _xattr_value(a)}))
    ),
    "getxattr": lambda x, a: errno_of(
        x.call(P.GETXATTR, fp.GfxGetxattrReq(gfid=x.g, namelen=len(a), name=a))
    ),
    "fgetxattr": lambda x, a: errno_of(
        x.call(P.FGETXATTR, fp.GfxFgetxattrReq(gfid=x.g, fd=ANON, namelen=len(a), name=a))
    ),
    "removexattr": lambda x, a: errno_of(
        x.call(P.REMOVEXATTR, fp.GfxRemovexattrReq(gfid=x.g, name=a))
    ),
    "fremovexattr": lambda x, a: errno_of(
        x.call(P.FREMOVEXATTR, fp.GfxFremovexattrReq(gfid=x.g, fd=ANON, name=a))
    ),
    "xattrop": lambda x, a: errno_of(
        x.call(P.XATTROP, fp.GfxXattropReq(gfid=x.g, dict={"trusted.afr.t": bytes(12)}))
    ),
    "fxattrop": lambda x, a: errno_of(
        x.call(P.FXATTROP, fp.GfxFxattropReq(gfid=x.g, fd=ANON, dict={"trusted.afr.t": bytes(12)}))
    ),
    "create_then": _create_then,
    "fsyncdir": lambda x, a: errno_of(x.call(P.FSYNCDIR, fp.GfxFsyncdirReq(gfid=x.g, fd=ANON))),
    "inodelk": _inodelk,
    "finodelk": lambda x, a: _inodelk(x, ANON),
    "entrylk": _entrylk,
    "fentrylk": lambda x, a: _entrylk(x, ANON),
    "lk": lambda x, a: errno_of(
        x.call(
            P.LK,
            fp.GfxLkReq(gfid=x.g, fd=ANON, cmd=0, type=1, flock=ft.GfProtoFlock(type=1, len=0)),
        )
    ),
}


def run_row(c: FopClient, row: Row, dirname: str = "") -> tuple[int, int | None]:
    """Set the row up, run its FOP as its caller: (errno, mode of the subject afterwards)."""
    x = prepare(c, row, dirname)
    got = FOPS[row.fop](x, row.arg)
    return got, mode_of(x, x.subject) if row.mode_after is not None else None
