"""The refusals of the namespace FOPs against a real GlusterFS 10.3 brick, beside the gfrpc
brick: the same raw v400 calls in a new directory of each must get the same op_ret and errno
from both (existing names, missing ones, a directory where a file is wanted and the reverse,
a full directory, bad and over-long names, links to directories, a file as the parent). A
parent that is not a directory and a name with '/' are EPERM in both (GlusterFS's server
resolver); '.', '..' and '' as a name to make or remove differ on purpose (below)."""

from __future__ import annotations

import errno
import os
import stat
import uuid
from typing import Any

import pytest
from brick_fops_support import ROOT, FopClient, P, new_entry

from gfrpc.programs import fops as fp

pytestmark = pytest.mark.timeout(120)


def _answers(c: FopClient) -> list[tuple[str, tuple[int, int]]]:
    """One sequence of namespace calls in a new directory; (op_ret >= 0 or -1, errno)."""
    out: list[tuple[str, tuple[int, int]]] = []

    def call(what: str, proc: int, req: Any) -> Any:
        r = c.call(proc, req)
        out.append((what, (0 if r.op_ret >= 0 else -1, r.op_errno if r.op_ret < 0 else 0)))
        return r

    def mkdir(what: str, parent: bytes, name: str) -> Any:
        req = fp.GfxMkdirReq(pargfid=parent, bname=name, mode=0o755, umask=0o022, xdata=new_entry())
        return call(what, P.MKDIR, req)

    def create(what: str, parent: bytes, name: str, flags: int = os.O_RDWR | os.O_CREAT) -> Any:
        req = fp.GfxCreateReq(
            pargfid=parent, bname=name, flags=flags, mode=0o644, umask=0o022, xdata=new_entry()
        )
        r = call(what, P.CREATE, req)
        if r.op_ret >= 0:
            c.release(bytes(r.stat.ia_gfid), r.fd)
        return r

    top = mkdir("mkdir the top", ROOT, f"ent-{uuid.uuid4().hex[:8]}")
    d = bytes(top.stat.ia_gfid)
    sub = bytes(mkdir("mkdir sub", d, "sub").stat.ia_gfid)
    f = bytes(create("create f", d, "f").stat.ia_gfid)
    create("create in sub", sub, "inner")
    mkdir("mkdir over a dir", d, "sub")
    mkdir("mkdir over a file", d, "f")
    create("create O_EXCL over a file", d, "f", os.O_RDWR | os.O_CREAT | os.O_EXCL)
    create("create O_EXCL over a dir", d, "sub", os.O_RDWR | os.O_CREAT | os.O_EXCL)
    create("create over a dir", d, "sub")
    req = fp.GfxMknodReq(
        pargfid=d, bname="f", mode=stat.S_IFREG | 0o644, dev=0, umask=0o022, xdata=new_entry()
    )
    call("mknod over a file", P.MKNOD, req)
    req = fp.GfxSymlinkReq(pargfid=d, bname="f", linkname="target", umask=0o022, xdata=new_entry())
    call("symlink over a file", P.SYMLINK, req)
    call("link a dir", P.LINK, fp.GfxLinkReq(oldgfid=sub, newgfid=d, newbname="subl"))
    call("link over a file", P.LINK, fp.GfxLinkReq(oldgfid=f, newgfid=d, newbname="f"))
    call("unlink a dir", P.UNLINK, fp.GfxUnlinkReq(pargfid=d, bname="sub"))
    call("unlink a missing name", P.UNLINK, fp.GfxUnlinkReq(pargfid=d, bname="none"))
    call("rmdir a file", P.RMDIR, fp.GfxRmdirReq(pargfid=d, bname="f"))
    call("rmdir a full dir", P.RMDIR, fp.GfxRmdirReq(pargfid=d, bname="sub"))
    call("rmdir a missing name", P.RMDIR, fp.GfxRmdirReq(pargfid=d, bname="none"))
    mkdir("mkdir empty", d, "empty")

    def rename(what: str, old: str, new: str) -> Any:
        req = fp.GfxRenameReq(oldgfid=d, newgfid=d, oldbname=old, newbname=new)
        return call(what, P.RENAME, req)

    rename("rename a file onto a dir", "f", "empty")
    rename("rename a dir onto a file", "empty", "f")
    rename("rename a dir onto a full dir", "empty", "sub")
    rename("rename a missing name", "none", "other")
    rename("rename a dir into itself", "sub", "sub")
    call(
        "rename a dir under itself",
        P.RENAME,
        fp.GfxRenameReq(oldgfid=d, newgfid=sub, oldbname="sub", newbname="deeper"),
    )
    call("lookup a missing name", P.LOOKUP, fp.GfxLookupReq(pargfid=d, bname="none"))
    call("lookup under a file", P.LOOKUP, fp.GfxLookupReq(pargfid=f, bname="x"))
    mkdir("mkdir under a file", f, "x")
    for bad in ("a/b", ".", "..", ""):
        mkdir(f"mkdir {bad!r}", d, bad)
        call(f"lookup {bad!r}", P.LOOKUP, fp.GfxLookupReq(pargfid=d, bname=bad))
        call(f"unlink {bad!r}", P.UNLINK, fp.GfxUnlinkReq(pargfid=d, bname=bad))
    create("create under a file", f, "x")
    call("unlink under a file", P.UNLINK, fp.GfxUnlinkReq(pargfid=f, bname="x"))
    call(
        "rename under a file",
        P.RENAME,
        fp.GfxRenameReq(oldgfid=d, newgfid=f, oldbname="empty", newbname="x"),
    )
    call("link under a file", P.LINK, fp.GfxLinkReq(oldgfid=f, newgfid=f, newbname="x"))
    mkdir("mkdir a name of 256 bytes", d, "n" * 256)
    create("create a name of 255 bytes", d, "n" * 255)
    call("readlink a file", P.READLINK, fp.GfxReadlinkReq(gfid=f, size=4096))
    call("opendir a file", P.OPENDIR, fp.GfxOpendirReq(gfid=f))
    call("open a dir for writing", P.OPEN, fp.GfxOpenReq(gfid=sub, flags=os.O_WRONLY))
    call("truncate a dir", P.TRUNCATE, fp.GfxTruncateReq(gfid=sub, offset=0))
    return out


def test_namespace_refusals_answer_as_a_real_brick_does(
    real_fops: FopClient, gfrpc_fops: FopClient
) -> None:
    """Rule: the same namespace calls get the same success or errno from the gfrpc brick as
    from glusterfsd."""
    theirs = _answers(real_fops)
    mine = _answers(gfrpc_fops)
    differ = {t[0]: (t[1], m[1]) for t, m in zip(theirs, mine, strict=True) if t != m}
    # gfrpc refuses '.', '..' and '' as a name to make or remove with EINVAL before anything
    # else (store/handles.py, check_name: a name is one component, never the directory itself
    # or its parent); glusterfsd lets them reach the kernel: EEXIST for MKDIR, ENOENT for UNLINK
    for bad in (".", "..", ""):
        for what, theirs_expected in (
            (f"mkdir {bad!r}", errno.EEXIST),
            (f"unlink {bad!r}", errno.ENOENT),
        ):
            if differ.get(what) == ((-1, theirs_expected), (-1, errno.EINVAL)):
                del differ[what]
    assert not differ, "\n".join(
        f"{w}: glusterfsd {errno.errorcode.get(t[1], t)}, gfrpc {errno.errorcode.get(m[1], m)}"
        for w, (t, m) in differ.items()
    )
