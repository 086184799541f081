"""What is fuzzed: how to start each server, open a usable connection, seed it and check it.

A target knows four things: the ``gfrpc`` command line of its server, how to make a fresh
connection ready for fuzzing (a brick needs a real SETVOLUME first, or every FOP would only be
refused), how to build its seeds (a brick's seeds name a file and a directory made here), and
the health check that proves the server still serves a fresh client: DUMP + SETVOLUME + LOOKUP
of the root for a brick, DUMP + GETSPEC + PORTBYBRICK for mgmtd.
"""

from __future__ import annotations

import ssl
from itertools import count
from typing import Any

from gfrpc.fuzz.corpus import (
    FUZZ_CRED,
    Seed,
    brick_seeds,
    escape_seeds,
    mgmtd_seeds,
    setvolume_args,
)
from gfrpc.fuzz.sandbox import Sandbox
from gfrpc.fuzz.wireclient import RawConnection, reply_op_ret
from gfrpc.programs import dump, fops, pmap
from gfrpc.programs import handshake as hs
from gfrpc.programs.fops import FopProc
from gfrpc.programs.fops_types import ROOT_GFID
from gfrpc.wire import rpcmsg

__all__ = ["Target", "BrickTarget", "MgmtdTarget", "TARGETS"]

_XIDS = count(0x10000000)
VOLNAME = "fz"
MGMT_BRICKS = ("/srv/fz/b0", "/srv/fz/b1")


def _call(
    conn: RawConnection, prog: int, vers: int, proc: int, args: bytes, cred: Any = FUZZ_CRED
) -> bytes:
    return conn.call(rpcmsg.encode_call(next(_XIDS), prog, vers, proc, cred) + args)


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise OSError(f"health check failed: {what}")


class Target:
    """Base: a target with no connection set-up; subclasses fill in the server and checks."""

    name = "?"

    def __init__(self, sandbox: Sandbox, tls: ssl.SSLContext | None) -> None:
        self.sandbox = sandbox
        self.tls = tls

    def server_args(self, poller: str, tls_dir: str | None) -> list[str]:
        raise NotImplementedError

    def connect(self, port: int) -> RawConnection:
        return RawConnection(port, self.tls)

    def seeds(self, port: int) -> list[Seed]:
        raise NotImplementedError

    def health(self, port: int) -> None:
        """Raise ``OSError`` unless a fresh client is served."""
        raise NotImplementedError

    @staticmethod
    def _tls_args(tls_dir: str | None) -> list[str]:
        return ["--tls", "--tls-dir", tls_dir] if tls_dir else []

    def _dump(self, conn: RawConnection) -> None:
        reply = _call(
            conn, dump.GF_DUMP_PROGRAM, dump.GF_DUMP_VERSION, dump.DUMP, dump.GfDumpReq().pack()
        )
        _, op_ret, _ = reply_op_ret(reply, 8)
        _check(op_ret == 0, f"DUMP op_ret {op_ret}")


class BrickTarget(Target):
    """``gfrpc brick`` over ``sandbox/brick``; connections are SETVOLUME'd before fuzzing."""

    name = "brick"

    @property
    def brick_path(self) -> str:
        return str(self.sandbox.brick)

    def server_args(self, poller: str, tls_dir: str | None) -> list[str]:
        return [
            "brick",
            "--dir",
            self.brick_path,
            "--port",
            "0",
            "--host",
            "127.0.0.1",
            "--volname",
            VOLNAME,
            "--poller",
            poller,
            *self._tls_args(tls_dir),
        ]

    def connect(self, port: int) -> RawConnection:
        conn = RawConnection(port, self.tls)
        try:
            self._setvolume(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _setvolume(self, conn: RawConnection) -> None:
        reply = _call(
            conn,
            hs.GF_HNDSK_PROGRAM,
            hs.GF_HNDSK_VERSION,
            hs.SETVOLUME,
            setvolume_args(self.brick_path, VOLNAME),
        )
        _, op_ret, op_errno = reply_op_ret(reply)
        _check(op_ret == 0, f"SETVOLUME op_ret {op_ret} errno {op_errno}")

    def _fop(self, conn: RawConnection, proc: FopProc, req: Any) -> Any:
        reply = _call(conn, fops.GLUSTER_FOP_PROGRAM, fops.GLUSTER_FOP_VERSION, proc, req.pack())
        header, body = rpcmsg.decode_message(reply)
        _check(isinstance(header, rpcmsg.ReplyHeader) and header.ok, f"{proc.name} not SUCCESS")
        return fops.decode_reply(proc, body)[0]

    def _entry_gfid(
        self, conn: RawConnection, name: str, make: FopProc, linkname: str = ""
    ) -> bytes:
        rsp = self._fop(conn, FopProc.LOOKUP, fops.GfxLookupReq(pargfid=ROOT_GFID, bname=name))
        if rsp.op_ret == 0:
            return bytes(rsp.prestat.ia_gfid)
        req: Any
        if make == FopProc.MKDIR:
            req = fops.GfxMkdirReq(pargfid=ROOT_GFID, bname=name, mode=0o755, umask=0o022)
        elif make == FopProc.SYMLINK:
            req = fops.GfxSymlinkReq(pargfid=ROOT_GFID, bname=name, linkname=linkname, umask=0o022)
        else:
            req = fops.GfxCreateReq(
                pargfid=ROOT_GFID, bname=name, flags=0o102, mode=0o644, umask=0o022
            )
        rsp = self._fop(conn, make, req)
        _check(rsp.op_ret == 0, f"{make.name} {name}: errno {rsp.op_errno}")
        return bytes(rsp.stat.ia_gfid)

    def seeds(self, port: int) -> list[Seed]:
        canary = self.sandbox.canary
        conn = self.connect(port)
        try:
            file_gfid = self._entry_gfid(conn, "fz-file", FopProc.CREATE)
            dir_gfid = self._entry_gfid(conn, "fz-dir", FopProc.MKDIR)
            # symlinks that point out of the brick: following one would write outside
            escapes = [
                self._entry_gfid(conn, name, FopProc.SYMLINK, target)
                for name, target in (
                    ("fz-esc-rel", "../canary/canary.txt"),
                    ("fz-esc-abs", str(canary / "canary.txt")),
                    ("fz-esc-dir", "../canary/sub"),
                    ("fz-esc-absdir", str(canary / "sub")),
                )
            ]
        finally:
            conn.close()
        return brick_seeds(self.brick_path, file_gfid, dir_gfid) + escape_seeds(
            escapes, str(canary)
        )

    def health(self, port: int) -> None:
        conn = RawConnection(port, self.tls)
        try:
            self._dump(conn)
            self._setvolume(conn)
            rsp = self._fop(conn, FopProc.LOOKUP, fops.GfxLookupReq(gfid=ROOT_GFID))
            _check(rsp.op_ret == 0, f"LOOKUP of the root: errno {rsp.op_errno}")
        finally:
            conn.close()


class MgmtdTarget(Target):
    """``gfrpc mgmtd`` serving volume ``fz`` over two (absent) bricks."""

    name = "mgmtd"

    def server_args(self, poller: str, tls_dir: str | None) -> list[str]:
        bricks = ",".join(f"127.0.0.1:{b}" for b in MGMT_BRICKS)
        return [
            "mgmtd",
            "--volume",
            f"{VOLNAME}={bricks}",
            "--port",
            "0",
            "--host",
            "127.0.0.1",
            "--poller",
            poller,
            *self._tls_args(tls_dir),
        ]

    def seeds(self, port: int) -> list[Seed]:
        return mgmtd_seeds(VOLNAME, MGMT_BRICKS)

    def health(self, port: int) -> None:
        conn = RawConnection(port, self.tls)
        try:
            self._dump(conn)
            reply = _call(
                conn,
                hs.GF_HNDSK_PROGRAM,
                hs.GF_HNDSK_VERSION,
                hs.GETSPEC,
                hs.GfGetspecReq(key=VOLNAME).pack(),
            )
            _, op_ret, _ = reply_op_ret(reply)
            _check(op_ret > 0, f"GETSPEC {VOLNAME} op_ret {op_ret}")
            reply = _call(
                conn,
                pmap.PMAP_PROGRAM,
                pmap.PMAP_VERSION,
                pmap.PORTBYBRICK,
                pmap.PmapPortByBrickReq(brick=MGMT_BRICKS[0]).pack(),
            )
            reply_op_ret(reply)
        finally:
            conn.close()


TARGETS: dict[str, type[Target]] = {"brick": BrickTarget, "mgmtd": MgmtdTarget}
