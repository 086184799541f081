"""What a new entry's mode and owner become, against a real GlusterFS 10.3 brick, beside the
gfrpc brick: CREATE, MKDIR, MKNOD and SYMLINK with odd modes and umasks, by root and by a user,
in an open directory, a set-gid directory of a group the user is not in, and one of a group
the user is in, must succeed or fail alike and leave the same mode, uid and gid. (glusterfsd
gives no new entry the set-uid or set-gid bit of its request, root's included; a directory in
a set-gid directory inherits set-gid, a file does not.)"""

from __future__ import annotations

import os
import stat
import uuid
from typing import Any

import pytest
from brick_fops_support import ROOT, FopClient, P, cred, new_entry

from gfrpc.programs import fops as fp
from gfrpc.programs import fops_types as ft
from gfrpc.programs.fops_types import Iatt

pytestmark = pytest.mark.timeout(120)

ROOT_CRED = cred(0, 0)
ALICE = cred(1000, 1000, (1000, 3000))  # in group 3000, not in 5000
OTHER_GROUP, HER_GROUP = 5000, 3000


def _answers(c: FopClient) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []

    def made(what: str, r: Any, ia: Any) -> Any:
        if r.op_ret < 0:
            out.append((what, (-1, r.op_errno)))
        else:
            out.append((what, (oct(ia.mode), ia.ia_uid, ia.ia_gid)))
        return r

    def mkdir(what: str, parent: bytes, name: str, mode: int, umask: int, who: Any) -> Any:
        req = fp.GfxMkdirReq(pargfid=parent, bname=name, mode=mode, umask=umask, xdata=new_entry())
        r = c.call(P.MKDIR, req, cred=who)
        return made(what, r, r.stat)

    def setattr(gfid: bytes, mode: int, gid: int) -> None:
        valid = ft.GF_SET_ATTR_MODE | ft.GF_SET_ATTR_GID
        r = c.call(
            P.SETATTR, fp.GfxSetattrReq(gfid=gfid, stbuf=Iatt(mode=mode, ia_gid=gid), valid=valid)
        )
        assert r.op_ret == 0, r

    top = mkdir("top", ROOT, f"mode-{uuid.uuid4().hex[:8]}", 0o755, 0, ROOT_CRED)
    t = bytes(top.stat.ia_gfid)
    setattr(t, 0o777, 0)
    dirs = {}
    for name, mode, gid in (
        ("open", 0o777, 0),
        ("sgid-other", 0o2777, OTHER_GROUP),
        ("sgid-hers", 0o2777, HER_GROUP),
    ):
        d = mkdir(f"mkdir {name}", t, name, 0o755, 0, ROOT_CRED)
        dirs[name] = bytes(d.stat.ia_gfid)
        setattr(dirs[name], mode, gid)

    n = 0

    def create(what: str, where: str, mode: int, umask: int, who: Any, flags: int = 0) -> None:
        nonlocal n
        n += 1
        req = fp.GfxCreateReq(
            pargfid=dirs[where],
            bname=f"f{n}",
            flags=flags or os.O_RDWR | os.O_CREAT | os.O_EXCL,
            mode=mode,
            umask=umask,
            xdata=new_entry(),
        )
        r = c.call(P.CREATE, req, cred=who)
        made(what, r, r.stat)
        if r.op_ret >= 0:
            c.release(bytes(r.stat.ia_gfid), r.fd)

    def mknod(what: str, where: str, mode: int, umask: int, who: Any, dev: int = 0) -> None:
        nonlocal n
        n += 1
        req = fp.GfxMknodReq(
            pargfid=dirs[where], bname=f"n{n}", mode=mode, dev=dev, umask=umask, xdata=new_entry()
        )
        r = c.call(P.MKNOD, req, cred=who)
        made(what, r, r.stat)

    for who_name, who in (("root", ROOT_CRED), ("alice", ALICE)):
        for where in ("open", "sgid-other", "sgid-hers"):
            at = f"by {who_name} in {where}"
            create(f"create 0644 umask 022 {at}", where, 0o644, 0o022, who)
            create(f"create 0666 umask 077 {at}", where, 0o666, 0o077, who)
            create(f"create 07777 umask 0 {at}", where, 0o7777, 0, who)
            create(f"create 02755 umask 0 {at}", where, 0o2755, 0, who)
            create(f"create with the type of a directory {at}", where, stat.S_IFDIR | 0o644, 0, who)
            n += 1
            mkdir(f"mkdir 07777 umask 0 {at}", dirs[where], f"d{n}", 0o7777, 0, who)
            n += 1
            mkdir(f"mkdir 0777 umask 027 {at}", dirs[where], f"d{n}", 0o777, 0o027, who)
            mknod(f"mknod a fifo {at}", where, stat.S_IFIFO | 0o4666, 0o022, who)
            mknod(f"mknod a socket {at}", where, stat.S_IFSOCK | 0o644, 0, who)
            mknod(f"mknod a regular file {at}", where, stat.S_IFREG | 0o6755, 0, who)
            mknod(
                f"mknod /dev/null's twin {at}",
                where,
                stat.S_IFCHR | 0o666,
                0,
                who,
                os.makedev(1, 3),
            )
            mknod(f"mknod of no type {at}", where, 0o644, 0, who)
            mknod(f"mknod a directory {at}", where, stat.S_IFDIR | 0o755, 0, who)
            mknod(f"mknod a symlink {at}", where, stat.S_IFLNK | 0o755, 0, who)
            n += 1
            req = fp.GfxSymlinkReq(
                pargfid=dirs[where], bname=f"s{n}", linkname="x", umask=0o777, xdata=new_entry()
            )
            r = c.call(P.SYMLINK, req, cred=who)
            made(f"symlink umask 0777 {at}", r, r.stat)
    return out


def test_new_entries_get_the_modes_and_owners_a_real_brick_gives(
    real_fops: FopClient, gfrpc_fops: FopClient
) -> None:
    """Rule: CREATE, MKDIR, MKNOD and SYMLINK succeed or fail as on glusterfsd, and the new
    entry's mode, uid and gid are the same."""
    theirs = dict(_answers(real_fops))
    mine = dict(_answers(gfrpc_fops))
    differ = {w: (theirs[w], mine[w]) for w in theirs if theirs[w] != mine[w]}
    assert not differ, "\n".join(f"{w}: glusterfsd {t}, gfrpc {m}" for w, (t, m) in differ.items())
