"""The brick and a client that pipelines large READs and never reads the replies: the READs
(and READDIR(P)s) declare their reply size, so the RPC server starts only as many as fit in the
connection's unsent-reply budget (``ServerLimits.max_unsent_bytes``), instead of building every
reply and pinning it (24 unread 32 MiB READs used to pin 768 MiB)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from brick_fops_support import ROOT, BrickHarness, running_brick, setvolume_params

from gfrpc.programs import fops as fp
from gfrpc.programs import handshake as hs
from gfrpc.services.brick.fops.common import CONTENT_KEY
from gfrpc.testing.waiting import settled
from gfrpc.transport import ServerLimits
from gfrpc.wire import rpcmsg
from gfrpc.wire.gfdict import GfType, GfValue, encode_serialized_dict
from gfrpc.wire.record import record_mark

pytestmark = pytest.mark.timeout(120)

MIB = 1 << 20
READ_SIZE = 4 * MIB
BUDGET = 8 * MIB


def _call(xid: int, prog: int, vers: int, proc: int, args: bytes) -> bytes:
    body = rpcmsg.encode_call(xid, prog, vers, proc, rpcmsg.GlusterCredV3(pid=1, uid=0, gid=0))
    return record_mark(len(body) + len(args)) + body + args


@pytest.fixture
def brick(xattr_dir: Path) -> Iterator[BrickHarness]:
    (xattr_dir / "big").write_bytes(b"x" * READ_SIZE)
    limits = ServerLimits(max_unsent_bytes=BUDGET)
    with running_brick(xattr_dir, "pool", limits=limits) as h:
        yield h


def test_unread_large_reads_are_not_all_served(brick: BrickHarness) -> None:
    """24 pipelined 4 MiB READs from a client that never reads: with an 8 MiB unsent budget
    the brick serves at most 2 (+1) of them while the client reads nothing; once it reads,
    all 24 are answered with their data."""
    c = brick.client()
    gfid = bytes(c.lookup(ROOT, "big").prestat.ia_gfid)
    host, port = brick.address.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # small: the kernel holds little
    setvolume = hs.GfSetvolumeReq(dict=encode_serialized_dict(setvolume_params(brick.brick_path)))
    s.sendall(_call(1, hs.GF_HNDSK_PROGRAM, hs.GF_HNDSK_VERSION, hs.SETVOLUME, setvolume.pack()))
    assert s.recv(65536)
    reads_before = brick.server.fops.counts["READ"]
    read = fp.GfxReadReq(gfid=gfid, fd=fp.GF_ANON_FD_NO, offset=0, size=READ_SIZE).pack()
    s.sendall(
        b"".join(
            _call(10 + i, fp.GLUSTER_FOP_PROGRAM, fp.GLUSTER_FOP_VERSION, fp.FopProc.READ, read)
            for i in range(24)
        )
    )
    served = settled(lambda: brick.server.fops.counts["READ"] - reads_before, quiet=0.7)
    assert 1 <= served <= BUDGET // READ_SIZE + 1, f"{served} READs of 4 MiB served unread"
    got = 0
    while got < 24 * READ_SIZE:
        chunk = s.recv(MIB)
        assert chunk
        got += len(chunk)
    assert brick.server.fops.counts["READ"] - reads_before == 24
    s.close()


def test_unread_lookup_contents_stay_within_the_outstanding_limit(brick: BrickHarness) -> None:
    """quick-read's LOOKUPs carry up to 64 KiB of a file each and declare no reply size: a
    client that pipelines 400 of them and never reads gets served only the outstanding-rpc-limit
    (64) that the brick may hold unsent plus what the kernel's socket buffers took, so the brick
    holds at most about 4 MiB of their replies; once it reads, all 400 are answered."""
    (brick.directory / "small").write_bytes(b"q" * (64 << 10))
    c = brick.client()
    assert c.lookup(ROOT, "small").op_ret == 0
    host, port = brick.address.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    setvolume = hs.GfSetvolumeReq(dict=encode_serialized_dict(setvolume_params(brick.brick_path)))
    s.sendall(_call(1, hs.GF_HNDSK_PROGRAM, hs.GF_HNDSK_VERSION, hs.SETVOLUME, setvolume.pack()))
    assert s.recv(65536)
    before = brick.server.fops.counts["LOOKUP"]
    ask = {CONTENT_KEY: GfValue(GfType.UINT, 64 << 10)}
    lookup = fp.GfxLookupReq(pargfid=ROOT, bname="small", xdata=ask).pack()
    proc = fp.FopProc.LOOKUP
    calls = [
        _call(10 + i, fp.GLUSTER_FOP_PROGRAM, fp.GLUSTER_FOP_VERSION, proc, lookup)
        for i in range(400)
    ]
    s.sendall(b"".join(calls))
    served = settled(lambda: brick.server.fops.counts["LOOKUP"] - before, quiet=0.7)
    # the brick holds at most 64 unsent; beyond them only what the kernel's socket buffers took
    wmem_max = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    kernel = (wmem_max + 2 * 65536) // (64 << 10) + 1
    assert 1 <= served <= 64 + kernel < 400, f"{served} content LOOKUPs served unread"
    got = 0
    while got < 400 * (64 << 10):
        chunk = s.recv(MIB)
        assert chunk
        got += len(chunk)
    assert brick.server.fops.counts["LOOKUP"] - before == 400
    s.close()
