"""Random sequences of namespace, attribute, xattr and data calls, the same on a real GlusterFS
10.3 brick and on the gfrpc brick: every call must get the same success or errno from both.

Each sequence runs in a new directory of each brick over a few names (two levels), by root and
by a user, and refers to entries by path: each brick's gfids are looked up on that brick. The
sequences come from a fixed seed, so a failure names a sequence that can be replayed
(``GFRPC_DIFF_SEED``, ``GFRPC_DIFF_SEQUENCES``; ``GFRPC_DIFF_ONLY=N`` runs sequence N alone
and shows every call's two answers). Calls that glusterfsd answers on purpose
otherwise (tests/interop/test_fd_calls_interop.py and its siblings name them) or that break it
are not made (each counts as one skipped call on both): OPEN of a directory or a fifo, and the
calls by which glusterfsd follows a symlink (TRUNCATE, CREATE over one, OPENDIR, STATFS), and
calls through an anonymous fd of a directory whose RENAME failed: both refuse the RENAME
alike, but glusterfsd's anonymous fds of that directory answer ENOENT from then on; and a
RENAME onto the same name, after which glusterfsd takes a file for unlinked.

Beside success or errno, a successful call's content is compared: the iatt an entry call,
STAT, LOOKUP, WRITE or SETATTR answers (type and mode, link count, owner, group, size; not
gfids, inode numbers or times), the bytes READ answers, the names and types READDIR(P)
answers, the values GETXATTR answers and READLINK's target."""

from __future__ import annotations

import os
import random
import stat
import uuid
from typing import Any

import pytest
from brick_fops_support import ROOT, FopClient, P, cred
from differential_support import first_differences

from gfrpc.programs import fops as fp
from gfrpc.programs import fops_types as ft
from gfrpc.programs.fops_types import Iatt
from gfrpc.services.brick import posix_acl as pa

pytestmark = pytest.mark.timeout(300)

SEED = int(os.environ.get("GFRPC_DIFF_SEED", "80"))
SEQUENCES = int(os.environ.get("GFRPC_DIFF_SEQUENCES", "150"))
ONLY = int(os.environ["GFRPC_DIFF_ONLY"]) if "GFRPC_DIFF_ONLY" in os.environ else None
CALLS = 25
NAMES = ("a", "b", "c")
PATHS = [n for n in NAMES] + [f"{d}/{n}" for d in NAMES[:2] for n in NAMES]
CALLERS = {
    "root": cred(0, 0),
    "alice": cred(1000, 1000, (1000,)),
    "bob": cred(1001, 1001, (1001, 1000)),  # in alice's group
}
MISSING = uuid.UUID(int=0xD1FF << 64 | SEED).bytes  # a gfid no brick knows (never the root's)
UNKNOWN_FD = 987654
SKIPPED = (1, 0)  # a call not made: it would have followed a symlink on glusterfsd


#: how every sequence begins, so that its calls find entries to act on
_PREFIX = (
    ("root", "mkdir", "a", "", 0o777),
    ("root", "mkdir", "b", "", 0o755),
    ("root", "create", "a/a", "", 0o644),
    ("root", "create", "b/b", "", 0o600),
    ("alice", "create", "a/b", "", 0o640),
    ("root", "create", "c", "", 0o666),
    ("root", "fopen", "c", "", 0o644),  # slot 0, O_RDONLY
    ("alice", "fopen", "a/b", "", 0o755),  # slot 1, O_WRONLY
)


def _plan(rng: random.Random) -> list[tuple[Any, ...]]:
    """One sequence: (caller, op, path, path2, number) per call."""
    ops = (
        "mkdir", "create", "mknod", "symlink", "link", "unlink", "rmdir", "rename", "lookup",
        "stat", "chmod", "chown", "truncate", "write", "read", "setxattr", "getxattr",
        "removexattr", "readdir", "access", "opendir", "open", "readlink", "readdirp",
        "statfs", "xattrop", "utimes", "chgrp", "setxattr-trusted", "setfacl", "setdefacl",
        "getfacl",
        "fopen", "fread", "fwrite", "ftruncate", "fstat", "fsync", "fsetattr", "fsetxattr",
        "frelease",
    )  # fmt: skip
    out: list[tuple[Any, ...]] = list(_PREFIX)
    for _ in range(CALLS):
        out.append(
            (
                rng.choice(("root", "root", "alice", "bob")),
                rng.choice(ops),
                rng.choice(PATHS),
                rng.choice(PATHS),
                rng.choice((0, 0o644, 0o755, 0o700, 0o777, 0o1777, 0o600, 0o444)),
            )
        )
    return out


def _acl(number: int) -> bytes:
    """An access or default ACL drawn from ``number``: bob (1001) and group 1000 get bits of
    it, the mask and the owner's and others' bits too."""
    bits = number & 7
    return pa.encode_acl(
        (
            pa.Ace(pa.USER_OBJ, 7),
            pa.Ace(pa.USER, bits, 1001),
            pa.Ace(pa.GROUP_OBJ, (number >> 3) & 7),
            pa.Ace(pa.GROUP, 5, 1000),
            pa.Ace(pa.MASK, (number >> 6) & 7 or 7),
            pa.Ace(pa.OTHER, bits & 5),
        )
    )


def _attrs(ia: Any) -> tuple[int, ...]:
    """What two bricks' iatts of the same entry must share (not its gfid, inode or times)."""
    return (ia.mode, ia.ia_nlink, ia.ia_uid, ia.ia_gid, ia.ia_size)


def _what_it_says(op: str, r: Any) -> object:
    """The content of a successful answer that both bricks must agree on."""
    rsp = r[0] if isinstance(r, tuple) else r
    if op in ("stat", "fstat"):
        return _attrs(rsp.stat)
    if op == "lookup":
        return _attrs(rsp.prestat)
    if op in ("read", "fread"):
        return (rsp.op_ret, bytes(r[1]))
    if op in ("write", "fwrite"):
        return (rsp.op_ret, _attrs(rsp.poststat))
    if op in ("readdir", "readdirp"):
        return sorted((e.name, e.d_type) for e in rsp.reply)
    if op in ("getxattr", "getfacl"):
        return {
            k: bytes(v) if isinstance(v, bytes | bytearray | memoryview) else v
            for k, v in (rsp.dict or {}).items()
        }
    if op == "readlink":
        return rsp.path
    if op in ("mkdir", "mknod", "symlink", "link"):
        return _attrs(rsp.stat)
    if op in ("chmod", "chown", "chgrp", "truncate", "ftruncate", "fsetattr"):
        return _attrs(rsp.poststat)
    return None


def _run(c: FopClient, plan: list[tuple[Any, ...]]) -> list[tuple[int, int]]:
    top = c.call(
        P.MKDIR,
        fp.GfxMkdirReq(
            pargfid=ROOT,
            bname=f"diff-{uuid.uuid4().hex[:8]}",
            mode=0o777,
            xdata={"gfid-req": uuid.uuid4()},
        ),
    )
    assert top.op_ret == 0, top
    t = bytes(top.stat.ia_gfid)
    c.call(P.SETATTR, fp.GfxSetattrReq(gfid=t, stbuf=Iatt(mode=0o777), valid=ft.GF_SET_ATTR_MODE))

    def gfid_of(path: str) -> bytes:
        g = t
        for part in path.split("/"):
            r = c.call(P.LOOKUP, fp.GfxLookupReq(pargfid=g, bname=part))
            if r.op_ret < 0:
                return MISSING
            g = bytes(r.prestat.ia_gfid)
        return g

    def is_symlink(g: bytes) -> bool:
        return g != MISSING and stat.S_ISLNK(c.call(P.STAT, fp.GfxStatReq(gfid=g)).stat.mode)

    def parent_and_name(path: str) -> tuple[bytes, str]:
        head, _, name = path.rpartition("/")
        return (gfid_of(head) if head else t), name

    out: list[tuple[int, int]] = []
    slots: dict[int, tuple[bytes, int]] = {}  # slot -> (gfid, fd) of an OPEN of the sequence
    # entries whose RENAME failed: glusterfsd refuses it as gfrpc does, but its anonymous fds
    # of such a directory, and of what is under it, answer ENOENT from then on (a probe,
    # 2026-12-07; files are left out too, to be safe)
    broken: set[bytes] = set()
    for caller, op, path, path2, number in plan:
        who = CALLERS[caller]
        new = {"gfid-req": uuid.uuid4()}
        proc: int
        req: Any
        if op.startswith("f") and op != "fopen":
            slot = slots.get(number % 3)
            if slot is None and op == "fsetattr":
                out.append(SKIPPED)  # an FSETATTR of an unknown fd kills glusterfsd
                continue
            fg, fd = slot if slot is not None else (MISSING, UNKNOWN_FD)
            if op == "fread":
                proc = P.READ
                req = fp.GfxReadReq(gfid=fg, fd=fd, offset=0, size=100)
            elif op == "fwrite":
                proc = P.WRITE
                req = (fp.GfxWriteReq(gfid=fg, fd=fd, offset=number, size=5), b"hello")
            elif op == "ftruncate":
                proc, req = P.FTRUNCATE, fp.GfxFtruncateReq(gfid=fg, fd=fd, offset=number)
            elif op == "fstat":
                proc, req = P.FSTAT, fp.GfxFstatReq(gfid=fg, fd=fd)
            elif op == "fsync":
                proc, req = P.FSYNC, fp.GfxFsyncReq(gfid=fg, fd=fd)
            elif op == "fsetattr":
                proc = P.FSETATTR
                req = fp.GfxFsetattrReq(
                    gfid=fg, fd=fd, stbuf=Iatt(mode=number), valid=ft.GF_SET_ATTR_MODE
                )
            elif op == "fsetxattr":
                proc = P.FSETXATTR
                req = fp.GfxFsetxattrReq(gfid=fg, fd=fd, flags=0, dict={"user.diff": b"f"})
            else:
                slots.pop(number % 3, None)
                proc, req = P.RELEASE, fp.GfxReleaseReq(gfid=fg, fd=fd)
        elif op in ("mkdir", "create", "mknod", "symlink"):
            pg, name = parent_and_name(path)
            if op == "mkdir":
                proc, req = P.MKDIR, fp.GfxMkdirReq(pargfid=pg, bname=name, mode=number, xdata=new)
            elif op == "create":
                if is_symlink(gfid_of(path)):
                    out.append(SKIPPED)  # glusterfsd opens (and creates) what the link names
                    continue
                proc = P.CREATE
                req = fp.GfxCreateReq(
                    pargfid=pg, bname=name, flags=os.O_RDWR | os.O_CREAT, mode=number, xdata=new
                )
            elif op == "mknod":
                proc = P.MKNOD
                req = fp.GfxMknodReq(pargfid=pg, bname=name, mode=stat.S_IFREG | number, xdata=new)
            else:
                proc = P.SYMLINK
                req = fp.GfxSymlinkReq(pargfid=pg, bname=name, linkname=path2, xdata=new)
        elif op in ("unlink", "rmdir", "lookup"):
            pg, name = parent_and_name(path)
            if op == "unlink":
                proc, req = P.UNLINK, fp.GfxUnlinkReq(pargfid=pg, bname=name)
            elif op == "rmdir":
                proc, req = P.RMDIR, fp.GfxRmdirReq(pargfid=pg, bname=name)
            else:
                proc, req = P.LOOKUP, fp.GfxLookupReq(pargfid=pg, bname=name)
        elif op in ("link", "rename"):
            pg, name = parent_and_name(path2)
            if op == "link":
                proc = P.LINK
                req = fp.GfxLinkReq(oldgfid=gfid_of(path), newgfid=pg, newbname=name)
            else:
                if path == path2:
                    # both answer success, but glusterfsd then takes a file so renamed for
                    # unlinked: nlink 0, STAT by gfid ENOENT until a LOOKUP by name (a probe)
                    out.append(SKIPPED)
                    continue
                opg, oname = parent_and_name(path)
                proc = P.RENAME
                req = fp.GfxRenameReq(oldgfid=opg, newgfid=pg, oldbname=oname, newbname=name)
        else:
            g = gfid_of(path)
            if op in ("read", "write", "readdir", "readdirp") and broken & {
                gfid_of(path[:i]) for i in range(len(path) + 1) if path[i : i + 1] in ("/", "")
            }:
                out.append(SKIPPED)  # glusterfsd's anonymous fds there fail (see ``broken``)
                continue
            if op == "stat":
                proc, req = P.STAT, fp.GfxStatReq(gfid=g)
            elif op == "chmod":
                proc = P.SETATTR
                req = fp.GfxSetattrReq(gfid=g, stbuf=Iatt(mode=number), valid=ft.GF_SET_ATTR_MODE)
            elif op == "chown":
                proc = P.SETATTR
                req = fp.GfxSetattrReq(
                    gfid=g, stbuf=Iatt(ia_uid=1000, ia_gid=1000), valid=ft.GF_SET_ATTR_UID
                )
            elif op == "truncate":
                if is_symlink(g):
                    out.append(SKIPPED)  # glusterfsd truncates what the link names
                    continue
                proc, req = P.TRUNCATE, fp.GfxTruncateReq(gfid=g, offset=number)
            elif op == "write":
                proc = P.WRITE
                req = (
                    fp.GfxWriteReq(gfid=g, fd=fp.GF_ANON_FD_NO, offset=number, size=5),
                    b"hello",
                )
            elif op == "read":
                proc = P.READ
                req = fp.GfxReadReq(gfid=g, fd=fp.GF_ANON_FD_NO, offset=0, size=100)
            elif op == "setxattr":
                proc = P.SETXATTR
                req = fp.GfxSetxattrReq(gfid=g, flags=0, dict={"user.diff": b"v"})
            elif op == "getxattr":
                proc = P.GETXATTR
                req = fp.GfxGetxattrReq(gfid=g, namelen=9, name="user.diff")
            elif op == "removexattr":
                proc, req = P.REMOVEXATTR, fp.GfxRemovexattrReq(gfid=g, name="user.diff")
            elif op == "readdir":
                proc = P.READDIR
                req = fp.GfxReaddirReq(gfid=g, fd=fp.GF_ANON_FD_NO, offset=0, size=4096)
            elif op == "access":
                proc, req = P.ACCESS, fp.GfxAccessReq(gfid=g, mask=os.W_OK)
            elif op in ("open", "fopen"):
                kind = None if g == MISSING else c.call(P.STAT, fp.GfxStatReq(gfid=g)).stat.mode
                if kind is not None and (stat.S_ISDIR(kind) or stat.S_ISFIFO(kind)):
                    out.append(SKIPPED)  # glusterfsd opens these (deliberate; a fifo freezes it)
                    continue
                flags = (os.O_RDONLY, os.O_WRONLY, os.O_RDWR | os.O_TRUNC, os.O_RDONLY)[number % 4]
                proc, req = P.OPEN, fp.GfxOpenReq(gfid=g, flags=flags)
            elif op == "readlink":
                proc, req = P.READLINK, fp.GfxReadlinkReq(gfid=g, size=4096)
            elif op == "readdirp":
                proc = P.READDIRP
                req = fp.GfxReaddirpReq(gfid=g, fd=fp.GF_ANON_FD_NO, offset=0, size=4096)
            elif op == "statfs":
                if is_symlink(g):
                    out.append(SKIPPED)  # glusterfsd's statvfs(2) follows the link
                    continue
                proc, req = P.STATFS, fp.GfxStatfsReq(gfid=g)
            elif op == "xattrop":
                proc = P.XATTROP
                req = fp.GfxXattropReq(gfid=g, flags=1, dict={"trusted.diff.n": bytes(4)})
            elif op == "utimes":
                proc = P.SETATTR
                req = fp.GfxSetattrReq(
                    gfid=g,
                    stbuf=Iatt(ia_atime=number, ia_mtime=number),
                    valid=ft.GF_SET_ATTR_ATIME | ft.GF_SET_ATTR_MTIME,
                )
            elif op == "chgrp":
                proc = P.SETATTR
                req = fp.GfxSetattrReq(
                    gfid=g, stbuf=Iatt(ia_gid=1000 + number % 3), valid=ft.GF_SET_ATTR_GID
                )
            elif op in ("setfacl", "setdefacl"):
                key = pa.ACCESS_KEY if op == "setfacl" else pa.DEFAULT_KEY
                proc = P.SETXATTR
                req = fp.GfxSetxattrReq(gfid=g, flags=0, dict={key: _acl(number)})
            elif op == "getfacl":
                proc = P.GETXATTR
                req = fp.GfxGetxattrReq(gfid=g, namelen=len(pa.ACCESS_KEY), name=pa.ACCESS_KEY)
            elif op == "setxattr-trusted":
                proc = P.SETXATTR
                req = fp.GfxSetxattrReq(gfid=g, flags=0, dict={"trusted.diff": b"v"})
            else:
                if is_symlink(g):
                    out.append(SKIPPED)  # glusterfsd opens the directory the link names
                    continue
                proc, req = P.OPENDIR, fp.GfxOpendirReq(gfid=g)
        moved = gfid_of(path) if op == "rename" else MISSING
        r = c.call(proc, req, cred=who)
        rsp = r[0] if isinstance(r, tuple) else r
        if op == "rename" and rsp.op_ret < 0 and moved != MISSING:
            broken.add(moved)
        answer: Any = (0 if rsp.op_ret >= 0 else -1, rsp.op_errno if rsp.op_ret < 0 else 0)
        if rsp.op_ret >= 0:
            answer = (answer, _what_it_says(op, r))
        out.append(answer)
        if op == "create" and rsp.op_ret >= 0:
            c.release(bytes(rsp.stat.ia_gfid), rsp.fd)
        if op == "open" and rsp.op_ret >= 0:
            c.release(g, rsp.fd)
        if op == "fopen" and rsp.op_ret >= 0:
            old = slots.get(number % 3)
            if old is not None:
                c.release(*old)
            slots[number % 3] = (g, rsp.fd)
        if op == "opendir" and rsp.op_ret >= 0:
            c.call(P.RELEASEDIR, fp.GfxReleasedirReq(gfid=g, fd=rsp.fd))
    return out


def test_random_sequences_answer_as_a_real_brick_does(
    real_fops: FopClient, gfrpc_fops: FopClient
) -> None:
    """Rule: every call of every drawn sequence gets the same success or errno from the gfrpc
    brick as from glusterfsd."""
    failures = first_differences(
        SEED,
        SEQUENCES,
        _plan,
        lambda plan: _run(real_fops, plan),
        lambda plan: _run(gfrpc_fops, plan),
        ONLY,
    )
    assert not failures, "\n".join(failures)
