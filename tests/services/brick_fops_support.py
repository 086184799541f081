"""Helpers for the brick FOP tests: a BrickServer on loopback and a raw FOP client over RpcClient.

Imported by the test_brick_*.py modules (pytest's default import mode puts tests/services on
sys.path).
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gfrpc.programs import fops as fp
from gfrpc.programs import handshake as hs
from gfrpc.rpc import RpcClient
from gfrpc.services.brick import BrickConfig, BrickServer
from gfrpc.transport import Poller, make_poller
from gfrpc.wire import rpcmsg
from gfrpc.wire.gfdict import decode_serialized_dict, encode_serialized_dict

ROOT = bytes(15) + b"\x01"
PROG, VERS = fp.GLUSTER_FOP_PROGRAM, fp.GLUSTER_FOP_VERSION
P = fp.FopProc


def setvolume_params(brick_path: str, **extra: Any) -> dict[str, Any]:
    """The SETVOLUME dict of a real 10.3 FUSE client (keys from a capture)."""
    params: dict[str, Any] = {
        "opversion": 100000,
        "clnt-lk-version": 1,
        "client-version": "10.3",
        "process-uuid": f"CTX_ID:{uuid.uuid4()}-GRAPH_ID:0-PID:{os.getpid()}-HOST:t-"
        "PC_NAME:t-client-0-RECON_NO:-0",
        "fops-version": fp.GLUSTER_FOP_PROGRAM,
        "remote-subvolume": brick_path,
        "transport-type": "socket",
    }
    params.update(extra)
    return params


class FopClient:
    """One connection to a brick speaking raw v400 FOPs."""

    def __init__(
        self, address: Any, poller: Poller, brick_path: str, *, cred: Any = None, tls: Any = None
    ) -> None:
        self.brick_path = brick_path
        self.rpc = RpcClient(
            address, poller=poller, ping_timeout=0, frame_timeout=30, cred=cred, tls=tls
        )
        self.rpc.connect()

    def setvolume(self, **extra: Any) -> tuple[int, int, dict[str, bytes]]:
        body = self.rpc.call(
            hs.GF_HNDSK_PROGRAM,
            hs.GF_HNDSK_VERSION,
            hs.SETVOLUME,
            hs.GfSetvolumeReq(
                dict=encode_serialized_dict(setvolume_params(self.brick_path, **extra))
            ).pack(),
        ).body
        rsp = hs.GfSetvolumeRsp.unpack(body)
        return rsp.op_ret, rsp.op_errno, decode_serialized_dict(rsp.dict)

    def call(self, proc: int, req: Any, *, cred: Any = None, timeout: float | None = None) -> Any:
        """Send ``req`` (a v400 request struct) and decode the reply struct."""
        args = fp.encode_write_request(req[0], req[1]) if isinstance(req, tuple) else req.pack()
        reply = self.rpc.call(PROG, VERS, proc, args, cred=cred, timeout=timeout)
        rsp, data = fp.decode_reply(proc, reply.body)
        if proc == P.READ:
            return rsp, bytes(data)
        return rsp

    def call_async(self, proc: int, req: Any, *, cred: Any = None) -> Any:
        return self.rpc.call_async(PROG, VERS, proc, req.pack(), cred=cred)

    # -- conveniences ----------------------------------------------------------------------------

    def lookup(self, pargfid: bytes, name: str, **kw: Any) -> Any:
        return self.call(P.LOOKUP, fp.GfxLookupReq(pargfid=pargfid, bname=name, **kw))

    def create(
        self,
        pargfid: bytes,
        name: str,
        *,
        flags: int = os.O_RDWR | os.O_CREAT,
        mode: int = 0o644,
        cred: Any = None,
    ) -> Any:
        return self.call(
            P.CREATE,
            fp.GfxCreateReq(pargfid=pargfid, bname=name, flags=flags, mode=mode, umask=0o022),
            cred=cred,
        )

    def mkdir(self, pargfid: bytes, name: str, mode: int = 0o755, cred: Any = None) -> Any:
        return self.call(P.MKDIR, fp.GfxMkdirReq(pargfid=pargfid, bname=name, mode=mode), cred=cred)

    def write(self, gfid: bytes, fd: int, offset: int, data: bytes) -> Any:
        return self.call(
            P.WRITE, (fp.GfxWriteReq(gfid=gfid, fd=fd, offset=offset, size=len(data)), data)
        )

    def read(self, gfid: bytes, fd: int, offset: int, size: int) -> tuple[Any, bytes]:
        rsp, data = self.call(P.READ, fp.GfxReadReq(gfid=gfid, fd=fd, offset=offset, size=size))
        return rsp, data

    def release(self, gfid: bytes, fd: int) -> Any:
        return self.call(P.RELEASE, fp.GfxReleaseReq(gfid=gfid, fd=fd))

    def close(self) -> None:
        self.rpc.close()


def new_entry() -> dict[str, Any]:
    """The xdata of a call that makes an entry: a fresh ``gfid-req`` (a real posix refuses a
    new entry without one)."""
    return {"gfid-req": uuid.uuid4()}


def new_file(c: FopClient, prefix: str, pargfid: bytes = ROOT) -> tuple[bytes, int, str]:
    """CREATE (O_RDWR, 0644, umask 022) of a new name ``prefix-<random>`` in ``pargfid``:
    the file's gfid, its open fd and its name."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    req = fp.GfxCreateReq(
        pargfid=pargfid,
        bname=name,
        flags=os.O_RDWR | os.O_CREAT,
        mode=0o644,
        umask=0o022,
        xdata=new_entry(),
    )
    created = c.call(P.CREATE, req)
    assert created.op_ret == 0, created
    return bytes(created.stat.ia_gfid), created.fd, name


def cred(
    uid: int, gid: int, groups: tuple[int, ...] = (), pid: int = 4242, lk_owner: bytes | None = None
) -> Any:
    return rpcmsg.GlusterCredV3(pid=pid, uid=uid, gid=gid, groups=groups, lk_owner=lk_owner)


class BrickHarness:
    """A BrickServer on 127.0.0.1 serving ``directory``; ``client()`` connects (SETVOLUME'd)."""

    def __init__(self, directory: Path, poller_name: str = "pool", **config: Any) -> None:
        self.directory = directory
        self.server = BrickServer(
            BrickConfig(
                directory=str(directory), port=0, host="127.0.0.1", poller=poller_name, **config
            )
        )
        self.listener = self.server.start()
        self.address = str(self.listener.address)
        self.poller = make_poller("single")
        self.poller.start()
        self.clients: list[FopClient] = []

    @property
    def brick_path(self) -> str:
        return self.server.config.brick_path

    def client(self, *, setvolume: bool = True, cred: Any = None) -> FopClient:
        c = FopClient(self.address, self.poller, self.brick_path, cred=cred)
        self.clients.append(c)
        if setvolume:
            op_ret, op_errno, _ = c.setvolume()
            assert (op_ret, op_errno) == (0, 0)
        return c

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.server.stop()
        self.poller.stop()


@contextmanager
def running_brick(
    directory: Path, poller_name: str = "pool", **config: Any
) -> Iterator[BrickHarness]:
    h = BrickHarness(directory, poller_name, **config)
    try:
        yield h
    finally:
        h.close()


@contextmanager
def real_brick_client(address: Any, brick_path: str, volume: str) -> Iterator[FopClient]:
    """A raw FOP connection, SETVOLUME'd, to a real glusterfsd brick of ``volume``."""
    poller = make_poller("single")
    poller.start()
    c = FopClient(address, poller, brick_path)
    try:
        op_ret, op_errno, info = c.setvolume(**{"volfile-key": volume})
        # (a 10.3 brick answers op_ret 0 with a stale op_errno EINVAL when it accepts)
        assert op_ret == 0, f"SETVOLUME at the real brick: errno {op_errno}, {info}"
        yield c
    finally:
        c.close()
        poller.stop()


def open_fd_count() -> int:
    """Open descriptors of this process (/proc/self/fd)."""
    return len(os.listdir("/proc/self/fd"))


def open_targets(under: Path) -> Counter[str]:
    """What this process's open descriptors point to under ``under``, leaving out the store's
    own cache of ``.glusterfs`` hash directories (opened once, kept for the brick's life)."""
    out: Counter[str] = Counter()
    for n in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{n}")
        except OSError:
            continue
        if target.startswith(str(under)) and "/.glusterfs" not in target:
            out[target] += 1
    return out
