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
from gfrpc.testing.waiting import settled
from gfrpc.transport import ServerLimits
from gfrpc.wire import rpcmsg
from gfrpc.wire.gfdict import encode_serialized_dict
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
