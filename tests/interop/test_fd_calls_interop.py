"""The calls on open files and their attributes against a real GlusterFS 10.3 brick, beside the
gfrpc brick: OPEN's flags, READ, WRITE, FTRUNCATE, FALLOCATE, DISCARD, ZEROFILL, SEEK and FSYNC
on fds of the wrong mode, kind or number and at odd offsets, SETATTR and FSETATTR with each
valid bit, READDIR(P) at odd sizes and on a file's fd, and the lock calls' refusals. The same
raw v400 calls in a new directory of each brick must get the same op_ret and errno, and leave
the same sizes and modes, but for the answers that differ on purpose (``DELIBERATE``) and two
calls that kill glusterfsd (``KILLS_GLUSTERFSD``).

Last, a client's own symlinks must lead nowhere outside the brick. glusterfsd 10.3 follows
them in four calls (measured with this harness, 2026-12-07): TRUNCATE by a symlink's gfid
truncates its target, any file of the server's that the caller's uid may write (root's
credential: any file at all); OPENDIR by it opens the target directory, whose names READDIR
then lists; CREATE without O_EXCL of the link's name creates the file the link names, as root,
anywhere (and then answers ENOENT); STATFS by it answers for the target's file system.
"""

from __future__ import annotations

import errno
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from brick_fops_support import ROOT, FopClient, P, new_entry

from gfrpc.programs import fops as fp
from gfrpc.programs import fops_types as ft
from gfrpc.programs.fops_types import Iatt
from gfrpc.services.brick.locks import (
    ENTRYLK_LOCK_NB,
    ENTRYLK_UNLOCK,
    ENTRYLK_WRLCK,
    F_RDLCK,
    F_UNLCK,
    F_WRLCK,
    GF_LK_GETLK,
    GF_LK_SETLK,
)

pytestmark = pytest.mark.timeout(120)

GF_SEEK_DATA, GF_SEEK_HOLE = 0, 1  # gf_seek_what_t
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 0x01, 0x02
NEG = (1 << 64) - 1  # -1 in the wire's u_quad offsets


# Calls that kill glusterfsd 10.3 (SIGSEGV, the whole brick and every client's calls with it),
# asked of gfrpc alone, and what gfrpc answers instead:
# - a failed FSETATTR: server4_fsetattr_cbk's log call has one argument too few for its format,
#   so every FSETATTR that fails at error level (an unknown fd: EBADF) crashes the brick;
# - an LK of an unknown lock type: server4_0_lk logs it through the request's fd before the fd
#   is resolved (a NULL pointer).
# - an OPEN of a fifo without O_NONBLOCK does not kill it but freezes the whole brick: posix's
#   open(2) waits for a writer, and meanwhile not even a new connection's SETVOLUME is answered
#   (30 s frame timeout, 2026-12-07). gfrpc opens no fifo (EPERM).
KILLS_GLUSTERFSD: dict[str, tuple[int, int]] = {
    "fsetattr an unknown fd": (-1, errno.EBADF),
    "lk with an unknown type": (-1, errno.EINVAL),
    "open a fifo": (-1, errno.EPERM),
}


# Answers gfrpc gives on purpose where glusterfsd 10.3 answers otherwise (its answer noted):
DELIBERATE: dict[str, tuple[int, int]] = {
    # posix opens a directory read-only (success). Clients list a directory through OPENDIR,
    # and gfapi's glfs_open refuses one itself; gfrpc's OPEN takes regular files only.
    "open a directory read-only": (-1, errno.EISDIR),
    # posix passes it to lseek(2) (success); a directory has no data to seek.
    "seek a directory's fd": (-1, errno.EBADF),
    # posix opens it (its reads and writes would meet whatever else on the server has it
    # open); clients open fifos locally.
    "open a fifo O_NONBLOCK": (-1, errno.EPERM),
    # posix truncates whatever the link names (ENOENT here: "f" from the handle's directory);
    # gfrpc never follows a symlink on the brick (see test_client_symlinks_lead_nowhere).
    "truncate a symlink": (-1, errno.EINVAL),
    # posix-locks takes command 99 for a GETLK and answers a write lock; 7 and 9 as lock types
    # are granted; ENTRYLK's command 99 fails with errno 0. gfrpc refuses them all as invalid.
    "lk with an unknown command": (-1, errno.EINVAL),
    "inodelk with an unknown type": (-1, errno.EINVAL),
    "entrylk with an unknown command": (-1, errno.EINVAL),
    "entrylk with an unknown type": (-1, errno.EINVAL),
}


def _outcome(r: Any) -> tuple[int, int]:
    return (0 if r.op_ret >= 0 else -1, r.op_errno if r.op_ret < 0 else 0)


def _answers(c: FopClient, *, real: bool) -> list[tuple[str, object]]:
    """One sequence of fd and attribute calls in a new directory: (what, answer). ``real``:
    ``c`` is glusterfsd's, and the one call that kills it is left out."""
    out: list[tuple[str, object]] = []

    def call(what: str, proc: int, req: Any, detail: Any = None) -> Any:
        if real and what in KILLS_GLUSTERFSD:
            return None
        r = c.call(proc, req)
        rsp = r[0] if isinstance(r, tuple) else r
        answer: object = _outcome(rsp)
        if detail is not None and rsp.op_ret >= 0:
            answer = (answer, detail(r))
        out.append((what, answer))
        return rsp

    top = c.call(
        P.MKDIR,
        fp.GfxMkdirReq(
            pargfid=ROOT, bname=f"fd-{uuid.uuid4().hex[:8]}", mode=0o755, xdata=new_entry()
        ),
    )
    assert top.op_ret == 0, top
    d = bytes(top.stat.ia_gfid)
    made = c.call(
        P.CREATE,
        fp.GfxCreateReq(
            pargfid=d, bname="f", flags=os.O_RDWR | os.O_CREAT, mode=0o644, xdata=new_entry()
        ),
    )
    f, fd_rw = bytes(made.stat.ia_gfid), made.fd
    c.write(f, fd_rw, 0, b"x" * 100)
    sym = c.call(
        P.SYMLINK, fp.GfxSymlinkReq(pargfid=d, bname="s", linkname="f", xdata=new_entry())
    ).stat.ia_gfid

    def size_of(gfid: bytes) -> int:
        return int(c.call(P.STAT, fp.GfxStatReq(gfid=gfid)).stat.ia_size)

    def open_(what: str, gfid: bytes, flags: int) -> int | None:
        r = call(what, P.OPEN, fp.GfxOpenReq(gfid=gfid, flags=flags))
        return r.fd if r is not None and r.op_ret >= 0 else None

    # -- OPEN's flags
    fd_r = open_("open O_RDONLY", f, os.O_RDONLY)
    fd_w = open_("open O_WRONLY", f, os.O_WRONLY)
    open_("open O_DIRECTORY on a file", f, os.O_RDONLY | os.O_DIRECTORY)
    open_("open O_CREAT|O_EXCL an existing file", f, os.O_RDWR | os.O_CREAT | os.O_EXCL)
    open_("open a directory read-only", d, os.O_RDONLY)
    open_("open a directory O_RDWR", d, os.O_RDWR)
    open_("open a symlink", bytes(sym), os.O_RDONLY)
    open_("open a missing gfid", uuid.uuid4().bytes, os.O_RDONLY)

    def node(name: str, mode: int, dev: int = 0) -> bytes:
        req = fp.GfxMknodReq(pargfid=d, bname=name, mode=mode, dev=dev, umask=0, xdata=new_entry())
        return bytes(c.call(P.MKNOD, req).stat.ia_gfid)

    fifo = node("fifo", stat.S_IFIFO | 0o666)
    open_("open a socket", node("sock", stat.S_IFSOCK | 0o666), os.O_RDONLY)
    zero = node("zero", stat.S_IFCHR | 0o666, os.makedev(1, 5))
    open_("open a character device", zero, os.O_RDONLY)
    open_("open a block device", node("blk", stat.S_IFBLK | 0o666, os.makedev(7, 200)), 0)
    open_("open a fifo O_NONBLOCK", fifo, os.O_RDONLY | os.O_NONBLOCK)
    open_("open a fifo", fifo, os.O_RDONLY)
    call(
        "read a character device by the anonymous fd",
        P.READ,
        fp.GfxReadReq(gfid=zero, fd=fp.GF_ANON_FD_NO, offset=0, size=16),
    )
    fd_a = open_("open O_WRONLY|O_APPEND", f, os.O_WRONLY | os.O_APPEND)
    assert fd_r is not None and fd_w is not None and fd_a is not None
    call(
        "write at 0 through O_APPEND",
        P.WRITE,
        (fp.GfxWriteReq(gfid=f, fd=fd_a, offset=0, size=4), b"tail"),
    )
    out.append(("size after the O_APPEND write", size_of(f)))
    open_("open O_RDONLY|O_TRUNC", f, os.O_RDONLY | os.O_TRUNC)
    out.append(("size after O_RDONLY|O_TRUNC", size_of(f)))
    c.write(f, fd_rw, 0, b"y" * 100)

    # -- READ and WRITE on fds of the wrong mode, number or offset
    def read(what: str, fd: int, offset: int, size: int, gfid: bytes = f) -> None:
        call(
            what,
            P.READ,
            fp.GfxReadReq(gfid=gfid, fd=fd, offset=offset, size=size),
            lambda r: (r[0].op_ret, len(r[1])),
        )

    def write(what: str, fd: int, offset: int, data: bytes, gfid: bytes = f) -> None:
        req = fp.GfxWriteReq(gfid=gfid, fd=fd, offset=offset, size=len(data))
        call(what, P.WRITE, (req, data), lambda r: r.op_ret)

    read("read a write-only fd", fd_w, 0, 10)
    write("write a read-only fd", fd_r, 0, b"z")
    read("read an unknown fd", 987654, 0, 10)
    write("write an unknown fd", 987654, 0, b"z")
    read("read past the end", fd_r, 1000, 10)
    read("read straddling the end", fd_r, 95, 10)
    read("read of size 0", fd_r, 0, 0)
    read("read at a negative offset", fd_r, NEG, 10)
    write("write at a negative offset", fd_w, NEG - 4, b"z")
    write("write of nothing", fd_w, 0, b"")
    read("read with the fd of another gfid", fd_r, 0, 10, gfid=d)
    dfd0 = c.call(P.OPENDIR, fp.GfxOpendirReq(gfid=d)).fd
    read("read a directory's fd", dfd0, 0, 10, gfid=d)
    write("write a directory's fd", dfd0, 0, b"z", gfid=d)
    call("fsync a directory's fd", P.FSYNC, fp.GfxFsyncReq(gfid=d, fd=dfd0))
    call("fstat a directory's fd", P.FSTAT, fp.GfxFstatReq(gfid=d, fd=dfd0))
    call("ftruncate a directory's fd", P.FTRUNCATE, fp.GfxFtruncateReq(gfid=d, fd=dfd0, offset=0))
    call(
        "fallocate a directory's fd",
        P.FALLOCATE,
        fp.GfxFallocateReq(gfid=d, fd=dfd0, flags=0, offset=0, size=10),
    )
    call(
        "zerofill a directory's fd",
        P.ZEROFILL,
        fp.GfxZerofillReq(gfid=d, fd=dfd0, offset=0, size=10),
    )
    call("seek a directory's fd", P.SEEK, fp.GfxSeekReq(gfid=d, fd=dfd0, offset=0, what=0))
    call("flush a directory's fd", P.FLUSH, fp.GfxFlushReq(gfid=d, fd=dfd0))
    call("fsyncdir a file's fd", P.FSYNCDIR, fp.GfxFsyncdirReq(gfid=f, fd=fd_r))
    c.call(P.RELEASEDIR, fp.GfxReleasedirReq(gfid=d, fd=dfd0))

    # -- the calls that change a file's size or blocks, through fds of either mode
    def trunc(what: str, fd: int, offset: int) -> None:
        call(what, P.FTRUNCATE, fp.GfxFtruncateReq(gfid=f, fd=fd, offset=offset))

    trunc("ftruncate a read-only fd", fd_r, 10)
    trunc("ftruncate to a negative size", fd_w, NEG)
    trunc("ftruncate an unknown fd", 987654, 0)
    out.append(("size after the ftruncates", size_of(f)))
    call("truncate to a negative size", P.TRUNCATE, fp.GfxTruncateReq(gfid=f, offset=NEG))
    call("truncate a symlink", P.TRUNCATE, fp.GfxTruncateReq(gfid=bytes(sym), offset=0))
    call("access a symlink", P.ACCESS, fp.GfxAccessReq(gfid=bytes(sym), mask=os.R_OK))

    def falloc(what: str, fd: int, flags: int, offset: int, size: int) -> None:
        req = fp.GfxFallocateReq(gfid=f, fd=fd, flags=flags, offset=offset, size=size)
        call(what, P.FALLOCATE, req)

    falloc("fallocate a read-only fd", fd_r, 0, 0, 4096)
    falloc("fallocate with a negative offset", fd_w, 0, NEG, 4096)
    falloc("fallocate of size 0", fd_w, 0, 0, 0)
    falloc("fallocate PUNCH_HOLE without KEEP_SIZE", fd_w, FALLOC_FL_PUNCH_HOLE, 0, 10)
    falloc("fallocate with unknown flags", fd_w, 0x400000, 0, 10)
    falloc("fallocate KEEP_SIZE", fd_w, FALLOC_FL_KEEP_SIZE, 0, 8192)
    out.append(("size after the fallocates", size_of(f)))
    call("discard a read-only fd", P.DISCARD, fp.GfxDiscardReq(gfid=f, fd=fd_r, offset=0, size=10))
    call("discard of size 0", P.DISCARD, fp.GfxDiscardReq(gfid=f, fd=fd_w, offset=0, size=0))
    call(
        "zerofill a read-only fd", P.ZEROFILL, fp.GfxZerofillReq(gfid=f, fd=fd_r, offset=0, size=10)
    )
    call(
        "zerofill past the end", P.ZEROFILL, fp.GfxZerofillReq(gfid=f, fd=fd_w, offset=200, size=10)
    )
    out.append(("size after the zerofill", size_of(f)))

    def seek(what: str, fd: int, offset: int, whence: int) -> None:
        req = fp.GfxSeekReq(gfid=f, fd=fd, offset=offset, what=whence)
        call(what, P.SEEK, req, lambda r: r.offset)

    seek("seek data at 0", fd_r, 0, GF_SEEK_DATA)
    seek("seek a hole at 0", fd_r, 0, GF_SEEK_HOLE)
    seek("seek data past the end", fd_r, 10_000, GF_SEEK_DATA)
    seek("seek a hole past the end", fd_r, 10_000, GF_SEEK_HOLE)
    seek("seek with an unknown what", fd_r, 0, 3)
    seek("seek at a negative offset", fd_r, NEG, GF_SEEK_DATA)
    call("fsync an unknown fd", P.FSYNC, fp.GfxFsyncReq(gfid=f, fd=987654))
    call("fsync a read-only fd", P.FSYNC, fp.GfxFsyncReq(gfid=f, fd=fd_r))
    call("flush an unknown fd", P.FLUSH, fp.GfxFlushReq(gfid=f, fd=987654))
    call("fstat an unknown fd", P.FSTAT, fp.GfxFstatReq(gfid=f, fd=987654))

    # -- SETATTR and FSETATTR, bit by bit
    def setattr(what: str, gfid: bytes, valid: int, fd: int | None = None, **stbuf: Any) -> None:
        ia = Iatt(**{k if k == "mode" else f"ia_{k}": v for k, v in stbuf.items()})
        if fd is None:
            req: Any = fp.GfxSetattrReq(gfid=gfid, stbuf=ia, valid=valid)
            proc = P.SETATTR
        else:
            req = fp.GfxFsetattrReq(gfid=gfid, fd=fd, stbuf=ia, valid=valid)
            proc = P.FSETATTR
        call(
            what,
            proc,
            req,
            lambda r: (
                oct(r.poststat.mode),
                r.poststat.ia_uid,
                r.poststat.ia_gid,
                r.poststat.ia_size,
            ),
        )

    setattr("setattr nothing", f, 0)
    setattr("setattr mode with setuid and sticky", f, ft.GF_SET_ATTR_MODE, mode=0o7755)
    setattr("setattr mode with a type in it", f, ft.GF_SET_ATTR_MODE, mode=stat.S_IFDIR | 0o600)
    setattr("setattr uid and gid", f, ft.GF_SET_ATTR_UID | ft.GF_SET_ATTR_GID, uid=1234, gid=5678)
    setattr("setattr uid -1", f, ft.GF_SET_ATTR_UID, uid=0xFFFFFFFF)
    setattr("setattr the size bit", f, ft.GF_SET_ATTR_SIZE, size=3)
    setattr("setattr times", f, ft.GF_SET_ATTR_ATIME | ft.GF_SET_ATTR_MTIME, atime=10, mtime=20)
    setattr("setattr ctime alone", f, ft.GF_SET_ATTR_CTIME, ctime=30)
    setattr("setattr the mode of a symlink", bytes(sym), ft.GF_SET_ATTR_MODE, mode=0o600)
    setattr("setattr a missing gfid", uuid.uuid4().bytes, ft.GF_SET_ATTR_MODE, mode=0o600)
    setattr("fsetattr mode through a read-only fd", f, ft.GF_SET_ATTR_MODE, fd=fd_r, mode=0o640)
    setattr("fsetattr an unknown fd", f, ft.GF_SET_ATTR_MODE, fd=987654, mode=0o640)
    setattr("setattr unknown bits", f, 0x10000, mode=0o600)

    # -- READDIR(P) at odd offsets and on a file's fd
    od = c.call(P.OPENDIR, fp.GfxOpendirReq(gfid=d))
    dfd = od.fd

    def names(r: Any) -> list[str]:
        return sorted(e.name for e in r.reply)

    for proc, label in ((P.READDIR, "readdir"), (P.READDIRP, "readdirp")):
        make = fp.GfxReaddirReq if proc == P.READDIR else fp.GfxReaddirpReq
        call(f"{label} all", proc, make(gfid=d, fd=dfd, offset=0, size=65536), names)
        call(f"{label} of size 0", proc, make(gfid=d, fd=dfd, offset=0, size=0), names)
        call(
            f"{label} at a negative offset",
            proc,
            make(gfid=d, fd=dfd, offset=NEG - 4, size=4096),
            names,
        )
        call(f"{label} on a file's fd", proc, make(gfid=f, fd=fd_r, offset=0, size=4096), names)
        call(f"{label} an unknown fd", proc, make(gfid=d, fd=987654, offset=0, size=4096), names)

    # -- the lock calls' refusals
    def flock(type_: int, start: int = 0, length: int = 0, whence: int = 0) -> Any:
        return ft.GfProtoFlock(type=type_, whence=whence, start=start, len=length, lk_owner=b"o1")

    def lk(what: str, fd: int, cmd: int, lock: Any) -> None:
        req = fp.GfxLkReq(gfid=f, fd=fd, cmd=cmd, type=lock.type, flock=lock)
        call(what, P.LK, req, lambda r: (r.flock.type, r.flock.start, r.flock.len))

    lk("lk write lock on a read-only fd", fd_r, GF_LK_SETLK, flock(F_WRLCK))
    lk("lk read lock on a write-only fd", fd_w, GF_LK_SETLK, flock(F_RDLCK))
    lk("lk unlock of nothing held", fd_rw, GF_LK_SETLK, flock(F_UNLCK))
    lk("lk getlk with nothing held", fd_rw, GF_LK_GETLK, flock(F_WRLCK))
    lk("lk with an unknown type", fd_rw, GF_LK_SETLK, flock(7))
    lk("lk with an unknown command", fd_rw, 99, flock(F_WRLCK))
    lk("lk with a negative start", fd_rw, GF_LK_SETLK, flock(F_WRLCK, start=(1 << 64) - 5))
    lk("lk from SEEK_END", fd_rw, GF_LK_SETLK, flock(F_WRLCK, whence=os.SEEK_END))
    lk("lk an unknown fd", 987654, GF_LK_SETLK, flock(F_WRLCK))

    def inodelk(what: str, cmd: int, lock: Any, volume: str = "interop-vol") -> None:
        req = fp.GfxInodelkReq(gfid=f, cmd=cmd, type=lock.type, flock=lock, volume=volume)
        call(what, P.INODELK, req)

    inodelk("inodelk unlock of nothing held", GF_LK_SETLK, flock(F_UNLCK))
    inodelk("inodelk with an unknown type", GF_LK_SETLK, flock(7))
    inodelk("inodelk with an unknown command", 99, flock(F_WRLCK))
    inodelk("inodelk getlk", GF_LK_GETLK, flock(F_WRLCK))
    inodelk("inodelk of a missing gfid", GF_LK_SETLK, flock(F_WRLCK))

    def entrylk(what: str, cmd: int, type_: int, name: str = "e") -> None:
        req = fp.GfxEntrylkReq(
            gfid=d, cmd=cmd, type=type_, namelen=len(name), name=name, volume="interop-vol"
        )
        call(what, P.ENTRYLK, req)

    entrylk("entrylk unlock of nothing held", ENTRYLK_UNLOCK, ENTRYLK_WRLCK)
    entrylk("entrylk with an unknown command", 99, ENTRYLK_WRLCK)
    entrylk("entrylk with an unknown type", ENTRYLK_LOCK_NB, 9)
    entrylk("entrylk lock then", ENTRYLK_LOCK_NB, ENTRYLK_WRLCK)
    entrylk("entrylk unlock", ENTRYLK_UNLOCK, ENTRYLK_WRLCK)
    entrylk("entrylk unlock again", ENTRYLK_UNLOCK, ENTRYLK_WRLCK)

    # -- the fds' end
    call("releasedir a file's fd", P.RELEASEDIR, fp.GfxReleasedirReq(gfid=d, fd=fd_r))
    call("release an unknown fd", P.RELEASE, fp.GfxReleaseReq(gfid=f, fd=987654))
    for fd in (fd_rw, fd_r, fd_w, fd_a):
        c.release(f, fd)
    call("release twice", P.RELEASE, fp.GfxReleaseReq(gfid=f, fd=fd_rw))
    read("read a released fd", fd_r, 0, 10)
    c.call(P.RELEASEDIR, fp.GfxReleasedirReq(gfid=d, fd=dfd))
    return out


def _show(answer: object) -> str:
    if isinstance(answer, tuple) and len(answer) == 2 and answer[0] == -1:
        return errno.errorcode.get(int(answer[1]), str(answer[1]))  # type: ignore[call-overload]
    return repr(answer)


def test_fd_and_attribute_calls_answer_as_a_real_brick_does(
    real_fops: FopClient, gfrpc_fops: FopClient
) -> None:
    """Rule: the same calls on open files, attributes, directory listings and locks get the
    same success or errno (and leave the same sizes and modes) from the gfrpc brick as from
    glusterfsd."""
    theirs = dict(_answers(real_fops, real=True))
    mine = dict(_answers(gfrpc_fops, real=False))
    assert {w: mine.pop(w) for w in KILLS_GLUSTERFSD} == KILLS_GLUSTERFSD
    assert {w: mine.pop(w) for w in DELIBERATE} == DELIBERATE
    for w in DELIBERATE:
        del theirs[w]
    assert theirs.keys() == mine.keys()
    differ = {w: (theirs[w], mine[w]) for w in theirs if theirs[w] != mine[w]}
    assert not differ, "\n".join(
        f"{w}: glusterfsd {_show(t)}, gfrpc {_show(m)}" for w, (t, m) in differ.items()
    )


def test_client_symlinks_lead_nowhere(gfrpc_fops: FopClient, tmp_path: Path) -> None:
    """Rule: a symlink a client makes, naming a file or directory outside the brick, is never
    followed: TRUNCATE, OPENDIR, READDIR, READ and WRITE (anonymous fd), MKDIR under it, CREATE
    over it and SETATTR by its gfid are refused or act on the link, and nothing outside changes
    (glusterfsd 10.3 truncates the file, lists the directory, and makes the missing file the
    link names)."""
    c = gfrpc_fops
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim"
    victim.write_bytes(b"precious" * 10)
    before = (sorted(os.listdir(outside)), victim.read_bytes(), victim.stat().st_mode)

    names: dict[bytes, str] = {}

    def symlink(target: Path) -> bytes:
        name = f"ln-{uuid.uuid4().hex[:8]}"
        r = c.call(P.SYMLINK, fp.GfxSymlinkReq(pargfid=ROOT, bname=name, linkname=str(target)))
        assert r.op_ret == 0, r
        names[bytes(r.stat.ia_gfid)] = name
        return bytes(r.stat.ia_gfid)

    to_file, to_dir = symlink(victim), symlink(outside)
    to_nothing = symlink(outside / "planted")
    over = fp.GfxCreateReq(
        pargfid=ROOT, bname=names[to_nothing], flags=os.O_RDWR | os.O_CREAT, mode=0o644
    )
    anon = fp.GF_ANON_FD_NO
    answers = {
        "truncate": c.call(P.TRUNCATE, fp.GfxTruncateReq(gfid=to_file, offset=0)),
        "opendir": c.call(P.OPENDIR, fp.GfxOpendirReq(gfid=to_dir)),
        "readdir": c.call(P.READDIR, fp.GfxReaddirReq(gfid=to_dir, fd=anon, offset=0, size=4096)),
        "read": c.call(P.READ, fp.GfxReadReq(gfid=to_file, fd=anon, offset=0, size=10))[0],
        "write": c.call(
            P.WRITE, (fp.GfxWriteReq(gfid=to_file, fd=anon, offset=0, size=5), b"owned")
        ),
        "mkdir under": c.call(
            P.MKDIR, fp.GfxMkdirReq(pargfid=to_dir, bname="planted", mode=0o755, xdata=new_entry())
        ),
        "create over": c.call(P.CREATE, over),
    }
    assert {w: _outcome(r) for w, r in answers.items()} == {
        "truncate": (-1, errno.EINVAL),
        "opendir": (-1, errno.ENOTDIR),
        "readdir": (-1, errno.EINVAL),  # as for an anonymous fd of any non-directory
        "read": (-1, errno.EBADF),  # glusterfsd's answer for an anonymous fd of a symlink
        "write": (-1, errno.EBADF),
        "mkdir under": (-1, errno.EPERM),
        "create over": (-1, errno.ELOOP),
    }
    valid = ft.GF_SET_ATTR_MODE | ft.GF_SET_ATTR_MTIME
    r = c.call(P.SETATTR, fp.GfxSetattrReq(gfid=to_file, stbuf=Iatt(mode=0o777), valid=valid))
    assert r.op_ret == 0 and stat.S_ISLNK(r.poststat.mode)  # the link's own times
    assert (sorted(os.listdir(outside)), victim.read_bytes(), victim.stat().st_mode) == before
