"""Valid requests the campaign starts from: every FOP of a brick, and what mgmtd answers.

A :class:`Seed` is one valid CALL (program, version, procedure, credential, arguments);
``Seed.record(xid)`` gives its bytes without the record mark. Brick seeds name real objects
created by the campaign's setup (the root, a file and a directory, by gfid), so unmutated seeds
succeed and mutated ones reach the deep code paths (path resolution, fds, locks, xattrs), not
only the first "no such gfid" check. Each FOP appears with and without an ``xdata`` dict, and a
few with the other credential flavors (AUTH_GLUSTERFS v2, AUTH_UNIX, AUTH_NULL).
``escape_seeds`` adds requests aimed at leaving the brick directory: writes through symlinks that
point outside it, entries created below such symlinks, and names with ``..`` or ``/``.

Left out on purpose: COMPOUND and PUT (no v400 schema, the brick answers GARBAGE_ARGS for
them anyway), pmap BRICKBYPORT (mgmtd drops it without a reply, as glusterd does, so every
such input would only wait for the idle timeout).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gfrpc.programs import dump, fops, pmap
from gfrpc.programs import handshake as hs
from gfrpc.programs.fops import FopProc
from gfrpc.programs.fops_types import NULL_GFID, ROOT_GFID
from gfrpc.wire import rpcmsg
from gfrpc.wire.gfdict import encode_serialized_dict

__all__ = [
    "Seed",
    "FUZZ_CRED",
    "brick_seeds",
    "escape_seeds",
    "mgmtd_seeds",
    "setvolume_args",
    "LK_OWNER",
]

LK_OWNER = b"gfrpc-fz"
FUZZ_CRED = rpcmsg.GlusterCredV3(pid=4242, uid=0, gid=0, groups=(0, 1), lk_owner=LK_OWNER)
_OTHER_CREDS: tuple[Any, ...] = (
    rpcmsg.GlusterCredV2(pid=4242, uid=0, gid=0, groups=(0,), lk_owner=LK_OWNER),
    rpcmsg.AuthUnix(stamp=1, machinename="fz", uid=0, gid=0, gids=(0,)),
    rpcmsg.AUTH_NONE,
)
XDATA = {"gfrpc-fz": 1, "glusterfs.fz": "x", "trusted.fz": b"\x00\x01"}


@dataclass(frozen=True)
class Seed:
    """One valid CALL; ``record(xid)`` is its bytes (header + arguments, no record mark)."""

    name: str
    prog: int
    vers: int
    proc: int
    args: bytes
    cred: Any = FUZZ_CRED

    def record(self, xid: int) -> bytes:
        return rpcmsg.encode_call(xid, self.prog, self.vers, self.proc, self.cred) + self.args

    @property
    def header_len(self) -> int:
        return len(rpcmsg.encode_call(0, self.prog, self.vers, self.proc, self.cred))


def setvolume_args(brick_path: str, volname: str = "") -> bytes:
    """SETVOLUME arguments as a GlusterFS 10 client sends them (the checks the brick makes)."""
    d: dict[str, str | int | bytes] = {
        "remote-subvolume": brick_path,
        "process-uuid": f"CTX_ID:fz-GRAPH_ID:0-PID:{os.getpid()}-HOST:fz-PC_NAME:fz-client-0"
        "-RECON_NO:-0",
        "fops-version": fops.GLUSTER_FOP_PROGRAM,
        "client-version": "10.3",
        "clnt-lk-version": 1,
        "opversion": 100000,
        "volfile-key": volname or "fz",
        "transport-type": "socket",
    }
    return hs.GfSetvolumeReq(dict=encode_serialized_dict(d)).pack()


def _fop_fields(proc: FopProc, root: bytes, file_gfid: bytes, dir_gfid: bytes) -> dict[str, Any]:
    """Field values that make ``proc`` a sensible request on the setup's objects."""
    f: dict[str, Any] = {
        "gfid": file_gfid,
        "pargfid": root,
        "fd": fops.GF_ANON_FD_NO,
        "gfid1": file_gfid,
        "gfid2": file_gfid,
        "fd_in": fops.GF_ANON_FD_NO,
        "fd_out": fops.GF_ANON_FD_NO,
        "size": 4096,
        "mode": 0o644,
        "umask": 0o022,
        "name": "user.fz",
        "volume": "fz-vol",
        "oldgfid": root,
        "newgfid": root,
    }
    dir_ops = {
        FopProc.OPENDIR,
        FopProc.READDIR,
        FopProc.READDIRP,
        FopProc.FSYNCDIR,
        FopProc.RELEASEDIR,
        FopProc.ENTRYLK,
        FopProc.FENTRYLK,
    }
    if proc in dir_ops:
        f["gfid"] = dir_gfid
    names = {
        FopProc.LOOKUP: "fz-file",
        FopProc.MKNOD: "fz-node",
        FopProc.MKDIR: "fz-tmpdir",
        FopProc.UNLINK: "fz-node",
        FopProc.RMDIR: "fz-tmpdir",
        FopProc.SYMLINK: "fz-sym",
        FopProc.CREATE: "fz-new",
        FopProc.NAMELINK: "fz-nl",
    }
    f["bname"] = names.get(proc, "fz-file")
    if proc == FopProc.MKNOD:
        f["mode"] = stat.S_IFREG | 0o644
    if proc == FopProc.MKDIR:
        f["mode"] = 0o755
    if proc == FopProc.ICREATE:
        f["mode"] = stat.S_IFREG | 0o644
        f["gfid"] = bytes(range(16))
    if proc == FopProc.OPEN:
        f["flags"] = os.O_RDWR
    if proc == FopProc.CREATE:
        f["flags"] = os.O_RDWR | os.O_CREAT
    if proc == FopProc.SYMLINK:
        f["linkname"] = "fz-file"
    if proc == FopProc.RENAME:
        f.update(oldbname="fz-r1", newbname="fz-r2")
    if proc == FopProc.LINK:
        f.update(oldgfid=file_gfid, newbname="fz-hl")
    if proc in (FopProc.GETXATTR, FopProc.FGETXATTR):
        f["namelen"] = len("user.fz")
    if proc in (FopProc.ENTRYLK, FopProc.FENTRYLK):
        f.update(name="fz-entry", namelen=len("fz-entry"))
    if proc in (FopProc.SETXATTR, FopProc.FSETXATTR):
        f["dict"] = {"user.fz": b"value"}
    if proc in (FopProc.XATTROP, FopProc.FXATTROP):
        f["dict"] = {"trusted.fz.count": bytes(8)}
    if proc == FopProc.SEEK:
        f["what"] = 0  # GF_SEEK_DATA
    if proc in (FopProc.FALLOCATE, FopProc.DISCARD, FopProc.ZEROFILL):
        f["size"] = 4096
    if proc == FopProc.RCHECKSUM:
        f["len"] = 4096
    if proc == FopProc.LOOKUP:
        f["gfid"] = NULL_GFID  # LOOKUP by parent gfid + name
    return f


def _build(req_type: Any, values: dict[str, Any], xdata: Any) -> Any:
    names = {n for n, _ in req_type.xdr_fields}
    kwargs = {k: v for k, v in values.items() if k in names}
    if "xdata" in names:
        kwargs["xdata"] = xdata
    return req_type(**kwargs)


def brick_seeds(
    brick_path: str, file_gfid: bytes, dir_gfid: bytes, root: bytes = ROOT_GFID
) -> list[Seed]:
    """Valid requests for a brick after SETVOLUME: every FOP (twice), DUMP, PING, handshake."""
    fp, fv = fops.GLUSTER_FOP_PROGRAM, fops.GLUSTER_FOP_VERSION
    seeds: list[Seed] = []
    for proc, (req_type, _rsp) in fops.PROCEDURES.items():
        values = _fop_fields(proc, root, file_gfid, dir_gfid)
        for xdata in (None, XDATA):
            req = _build(req_type, values, xdata)
            if proc == FopProc.WRITE:
                payload = b"gfrpc fuzz data\n" * 4
                req = _build(req_type, {**values, "size": len(payload)}, xdata)
                args = b"".join(bytes(p) for p in fops.encode_write_request(req, payload))
            else:
                args = req.pack()
            seeds.append(Seed(f"{proc.name}{'+xdata' if xdata else ''}", fp, fv, proc, args))
    lookup_root = fops.GfxLookupReq(gfid=root).pack()
    for cred in _OTHER_CREDS:
        seeds.append(Seed("LOOKUP-root/cred", fp, fv, FopProc.LOOKUP, lookup_root, cred))
        seeds.append(
            Seed("STAT/cred", fp, fv, FopProc.STAT, fops.GfxStatReq(gfid=file_gfid).pack(), cred)
        )
    seeds += _common_seeds()
    seeds.append(
        Seed(
            "SETVOLUME",
            hs.GF_HNDSK_PROGRAM,
            hs.GF_HNDSK_VERSION,
            hs.SETVOLUME,
            setvolume_args(brick_path),
        )
    )
    return seeds


def escape_seeds(link_gfids: Sequence[bytes], outside: str) -> list[Seed]:
    """Requests that would write outside the brick if the brick followed a symlink or took a
    name with ``..`` or ``/`` in it: writes, truncates, attribute and xattr changes through
    symlinks that point out of the brick (``link_gfids``), entries created under them, and
    creations with path-like names."""
    fp, fv, P = fops.GLUSTER_FOP_PROGRAM, fops.GLUSTER_FOP_VERSION, FopProc
    anon = fops.GF_ANON_FD_NO
    seeds: list[Seed] = []
    payload = b"escaped!"

    def add(name: str, proc: FopProc, req: Any) -> None:
        if proc == P.WRITE:
            args = b"".join(bytes(p) for p in fops.encode_write_request(req, payload))
        else:
            args = req.pack()
        seeds.append(Seed(f"escape-{name}", fp, fv, proc, args))

    for g in link_gfids:
        add("WRITE", P.WRITE, fops.GfxWriteReq(gfid=g, fd=anon, size=len(payload)))
        add("TRUNCATE", P.TRUNCATE, fops.GfxTruncateReq(gfid=g, offset=1))
        add("OPEN", P.OPEN, fops.GfxOpenReq(gfid=g, flags=os.O_RDWR | os.O_TRUNC))
        add("SETATTR", P.SETATTR, fops.GfxSetattrReq(gfid=g, valid=1))
        add("SETXATTR", P.SETXATTR, fops.GfxSetxattrReq(gfid=g, dict={"user.fz": b"x"}))
        add("FALLOCATE", P.FALLOCATE, fops.GfxFallocateReq(gfid=g, fd=anon, size=4096))
        add(
            "CREATE-under",
            P.CREATE,
            fops.GfxCreateReq(
                pargfid=g, bname="fz-escaped", flags=os.O_RDWR | os.O_CREAT, mode=0o644
            ),
        )
        add("MKDIR-under", P.MKDIR, fops.GfxMkdirReq(pargfid=g, bname="fz-escaped", mode=0o755))
        add("LINK", P.LINK, fops.GfxLinkReq(oldgfid=g, newgfid=ROOT_GFID, newbname="fz-hl2"))
    for bname in (
        "..",
        ".",
        "../fz-escaped",
        "../../fz-escaped",
        "a/b",
        "/fz-escaped",
        outside + "/fz-escaped",
        ".glusterfs",
        ".glusterfs/fz",
    ):
        add(
            "CREATE-name",
            P.CREATE,
            fops.GfxCreateReq(
                pargfid=ROOT_GFID, bname=bname, flags=os.O_RDWR | os.O_CREAT, mode=0o644
            ),
        )
        add("MKDIR-name", P.MKDIR, fops.GfxMkdirReq(pargfid=ROOT_GFID, bname=bname, mode=0o755))
        add(
            "SYMLINK-name",
            P.SYMLINK,
            fops.GfxSymlinkReq(pargfid=ROOT_GFID, bname=bname, linkname="fz-file"),
        )
        add(
            "RENAME-name",
            P.RENAME,
            fops.GfxRenameReq(
                oldgfid=ROOT_GFID, oldbname="fz-file", newgfid=ROOT_GFID, newbname=bname
            ),
        )
        add(
            "MKNOD-name",
            P.MKNOD,
            fops.GfxMknodReq(pargfid=ROOT_GFID, bname=bname, mode=stat.S_IFREG | 0o644),
        )
    return seeds


def _common_seeds() -> list[Seed]:
    return [
        Seed(
            "DUMP",
            dump.GF_DUMP_PROGRAM,
            dump.GF_DUMP_VERSION,
            dump.DUMP,
            dump.GfDumpReq().pack(),
            rpcmsg.GlusterCredV2(pid=1, uid=0, gid=0),
        ),
        Seed("PING", dump.GF_DUMP_PROGRAM, dump.GF_DUMP_VERSION, dump.PING, b""),
        Seed("HS-PING", hs.GF_HNDSK_PROGRAM, hs.GF_HNDSK_VERSION, hs.PING, b""),
        Seed(
            "GETSPEC",
            hs.GF_HNDSK_PROGRAM,
            hs.GF_HNDSK_VERSION,
            hs.GETSPEC,
            hs.GfGetspecReq(key="fz").pack(),
        ),
    ]


def mgmtd_seeds(volname: str, bricks: Sequence[str]) -> list[Seed]:
    """Valid requests for the management daemon: DUMP, PING, GETSPEC, the portmapper."""
    pp, pv = pmap.PMAP_PROGRAM, pmap.PMAP_VERSION
    seeds = _common_seeds()
    seeds.append(
        Seed(
            "GETSPEC-vol",
            hs.GF_HNDSK_PROGRAM,
            hs.GF_HNDSK_VERSION,
            hs.GETSPEC,
            hs.GfGetspecReq(
                key=volname, xdata=encode_serialized_dict({"brick_port": 0, "fz": "x"})
            ).pack(),
        )
    )
    for brick in bricks:
        seeds += [
            Seed(
                "PORTBYBRICK", pp, pv, pmap.PORTBYBRICK, pmap.PmapPortByBrickReq(brick=brick).pack()
            ),
            Seed(
                "SIGNIN",
                pp,
                pv,
                pmap.SIGNIN,
                pmap.PmapSigninReq(brick=brick, port=49999, pid=4242).pack(),
            ),
            Seed(
                "SIGNOUT", pp, pv, pmap.SIGNOUT, pmap.PmapSignoutReq(brick=brick, port=49999).pack()
            ),
        ]
    seeds.append(
        Seed(
            "PORTBYBRICK-unknown",
            pp,
            pv,
            pmap.PORTBYBRICK,
            pmap.PmapPortByBrickReq(brick="/no/such/brick").pack(),
        )
    )
    return seeds
