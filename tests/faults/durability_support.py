"""Helpers of the durability tests: a ``gfrpc brick`` subprocess that can be killed with
SIGKILL and restarted on the same directory, and a small raw FOP client.

The brick runs as ``python -m gfrpc.cli brick`` in its own process, so ``kill -9`` hits a real
peer in the middle of whatever it was doing, never the test's interpreter. Its "ready on
HOST:PORT" log line is the only sign of life another process can wait for; it is polled.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from gfrpc.programs import fops as fp
from gfrpc.programs import handshake as hs
from gfrpc.rpc import RpcClient
from gfrpc.transport import Poller
from gfrpc.wire.gfdict import encode_serialized_dict

ROOT = bytes(15) + b"\x01"
P = fp.FopProc
VOLNAME = "durability"
START_TIMEOUT = 30.0


class BrickProcess:
    """``gfrpc brick`` of ``directory`` on 127.0.0.1 (any free port), in a subprocess."""

    def __init__(self, directory: Path, log: Path, poller: str = "pool") -> None:
        self.directory = directory.resolve()
        self.log = log
        self.poller = poller
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.starts = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> BrickProcess:
        """Start (or restart) the brick and wait for its ready line."""
        assert self.proc is None or self.proc.poll() is not None
        self.directory.mkdir(exist_ok=True)
        self.starts += 1
        marker = f"=== start {self.starts} ===\n"
        with open(self.log, "ab") as out:
            out.write(marker.encode())
            out.flush()
            offset = out.tell()
            argv = [
                sys.executable,
                "-m",
                "gfrpc.cli",
                "brick",
                "--dir",
                str(self.directory),
                "--port",
                "0",
                "--host",
                "127.0.0.1",
                "--volname",
                VOLNAME,
                "--poller",
                self.poller,
            ]
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with open(self.log, "rb") as f:
                f.seek(offset)
                text = f.read().decode(errors="replace")
            m = re.search(r"ready on 127\.0\.0\.1:(\d+)", text)
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"gfrpc brick did not start:\n{self.tail()}")
            time.sleep(0.05)

    def kill9(self) -> None:
        """SIGKILL the brick (our own child, by pid) and reap it."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers; always reaped."""
        p = self.proc
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no brick log)"


def gfid_xdata(gfid: bytes) -> dict[str, Any]:
    return {"gfid-req": uuid.UUID(bytes=gfid)}


class RawClient:
    """One SETVOLUME'd connection speaking raw v400 FOPs (replies decoded, errors not raised:
    callers look at ``op_ret``/``op_errno``)."""

    def __init__(self, brick: BrickProcess, poller: Poller, *, frame_timeout: float = 30) -> None:
        self.rpc = RpcClient(
            brick.address, poller=poller, ping_timeout=0, frame_timeout=frame_timeout
        )
        self.rpc.connect()
        params = {
            "opversion": 100000,
            "clnt-lk-version": 1,
            "client-version": "10.3",
            "process-uuid": f"CTX_ID:{uuid.uuid4()}-GRAPH_ID:0-PID:{os.getpid()}-HOST:t-"
            "PC_NAME:t-client-0-RECON_NO:-0",
            "fops-version": fp.GLUSTER_FOP_PROGRAM,
            "remote-subvolume": str(brick.directory),
            "transport-type": "socket",
        }
        body = self.rpc.call(
            hs.GF_HNDSK_PROGRAM,
            hs.GF_HNDSK_VERSION,
            hs.SETVOLUME,
            hs.GfSetvolumeReq(dict=encode_serialized_dict(params)).pack(),
        ).body
        rsp = hs.GfSetvolumeRsp.unpack(body)
        if rsp.op_ret != 0:
            self.rpc.close()
            raise AssertionError(f"SETVOLUME refused: errno {rsp.op_errno}")

    def call(self, proc: int, req: Any) -> Any:
        args = fp.encode_write_request(req[0], req[1]) if isinstance(req, tuple) else req.pack()
        rsp, data = fp.decode_reply(
            proc, self.rpc.call(fp.GLUSTER_FOP_PROGRAM, fp.GLUSTER_FOP_VERSION, proc, args).body
        )
        return (rsp, bytes(data)) if proc == P.READ else rsp

    def close(self) -> None:
        self.rpc.close()

    # -- the FOPs the tests use ----------------------------------------------------------------

    def lookup(self, pargfid: bytes, name: str) -> Any:
        return self.call(P.LOOKUP, fp.GfxLookupReq(pargfid=pargfid, bname=name))

    def lookup_gfid(self, gfid: bytes) -> Any:
        return self.call(P.LOOKUP, fp.GfxLookupReq(gfid=gfid))

    def create(
        self,
        pargfid: bytes,
        name: str,
        gfid: bytes | None = None,
        flags: int = os.O_RDWR | os.O_CREAT | os.O_EXCL,
    ) -> Any:
        return self.call(
            P.CREATE,
            fp.GfxCreateReq(
                pargfid=pargfid,
                bname=name,
                flags=flags,
                mode=0o644,
                umask=0o022,
                xdata=gfid_xdata(gfid) if gfid else None,
            ),
        )

    def mkdir(self, pargfid: bytes, name: str, gfid: bytes | None = None) -> Any:
        return self.call(
            P.MKDIR,
            fp.GfxMkdirReq(
                pargfid=pargfid, bname=name, mode=0o755, xdata=gfid_xdata(gfid) if gfid else None
            ),
        )

    def symlink(self, pargfid: bytes, name: str, target: str, gfid: bytes | None = None) -> Any:
        return self.call(
            P.SYMLINK,
            fp.GfxSymlinkReq(
                pargfid=pargfid,
                bname=name,
                linkname=target,
                umask=0o022,
                xdata=gfid_xdata(gfid) if gfid else None,
            ),
        )

    def write(self, gfid: bytes, fd: int, offset: int, data: bytes) -> Any:
        return self.call(
            P.WRITE, (fp.GfxWriteReq(gfid=gfid, fd=fd, offset=offset, size=len(data)), data)
        )

    def fsync(self, gfid: bytes, fd: int) -> Any:
        return self.call(P.FSYNC, fp.GfxFsyncReq(gfid=gfid, fd=fd, data=0))

    def release(self, gfid: bytes, fd: int) -> Any:
        return self.call(P.RELEASE, fp.GfxReleaseReq(gfid=gfid, fd=fd))

    def read_all(self, gfid: bytes, chunk: int = 1 << 20) -> bytes:
        """The whole file by gfid (OPEN + READs + RELEASE); AssertionError on any error."""
        o = self.call(P.OPEN, fp.GfxOpenReq(gfid=gfid, flags=os.O_RDONLY))
        assert o.op_ret == 0, f"OPEN {uuid.UUID(bytes=gfid)}: errno {o.op_errno}"
        out = bytearray()
        try:
            while True:
                rsp, data = self.call(
                    P.READ, fp.GfxReadReq(gfid=gfid, fd=o.fd, offset=len(out), size=chunk)
                )
                assert rsp.op_ret >= 0, f"READ: errno {rsp.op_errno}"
                out += data
                if len(data) < chunk:
                    return bytes(out)
        finally:
            self.release(gfid, o.fd)

    def rename(self, oldpar: bytes, oldname: str, newpar: bytes, newname: str) -> Any:
        return self.call(
            P.RENAME,
            fp.GfxRenameReq(oldgfid=oldpar, newgfid=newpar, oldbname=oldname, newbname=newname),
        )

    def unlink(self, pargfid: bytes, name: str) -> Any:
        return self.call(P.UNLINK, fp.GfxUnlinkReq(pargfid=pargfid, bname=name))

    def rmdir(self, pargfid: bytes, name: str) -> Any:
        return self.call(P.RMDIR, fp.GfxRmdirReq(pargfid=pargfid, bname=name))

    def listdir(self, gfid: bytes) -> list[str]:
        """Every name in directory ``gfid`` but "." and ".." (OPENDIR + READDIRs)."""
        o = self.call(P.OPENDIR, fp.GfxOpendirReq(gfid=gfid))
        assert o.op_ret == 0, f"OPENDIR: errno {o.op_errno}"
        names: list[str] = []
        offset = 0
        try:
            while True:
                r = self.call(
                    P.READDIR, fp.GfxReaddirReq(gfid=gfid, fd=o.fd, offset=offset, size=64 * 1024)
                )
                assert r.op_ret >= 0, f"READDIR: errno {r.op_errno}"
                if not r.reply:
                    return [n for n in names if n not in (".", "..")]
                names.extend(e.name for e in r.reply)
                offset = r.reply[-1].d_off
        finally:
            self.call(P.RELEASEDIR, fp.GfxReleasedirReq(gfid=gfid, fd=o.fd))

    def remove_tree(self, pargfid: bytes, name: str) -> None:
        """``rm -r`` over the wire; AssertionError naming the first FOP that failed."""
        lk = self.lookup(pargfid, name)
        assert lk.op_ret == 0, f"LOOKUP {name}: errno {lk.op_errno}"
        gfid = bytes(lk.prestat.ia_gfid)
        if (lk.prestat.mode & 0o170000) != 0o040000:
            r = self.unlink(pargfid, name)
            assert r.op_ret == 0, f"UNLINK {name}: errno {r.op_errno}"
            return
        for child in self.listdir(gfid):
            self.remove_tree(gfid, child)
        r = self.rmdir(pargfid, name)
        assert r.op_ret == 0, f"RMDIR {name}: errno {r.op_errno}"
