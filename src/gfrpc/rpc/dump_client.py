"""Client helpers for the GF-DUMP program every GlusterFS RPC server answers (CLI, probes)."""

from __future__ import annotations

import os
import time

from gfrpc.programs import dump as gfdump
from gfrpc.rpc.client import RpcClient


def dump(client: RpcClient, *, timeout: float | None = None) -> list[tuple[int, int, str]]:
    """The server's programs as ``(prognum, progver, name)``, in the order it lists them.

    Sent with AUTH_GLUSTERFS_v2 (the client default for DUMP), as GlusterFS clients do.
    Raises OSError when the server answers ``op_ret = -1``.
    """
    request = gfdump.GfDumpReq(gfs_id=gfdump.CLIENT_GFS_ID).pack()
    reply = client.call(
        gfdump.GF_DUMP_PROGRAM, gfdump.GF_DUMP_VERSION, gfdump.DUMP, request, timeout=timeout
    )
    rsp = gfdump.GfDumpRsp.unpack(reply.body)
    if rsp.op_ret < 0:
        raise OSError(rsp.op_errno, f"GF-DUMP DUMP failed: {os.strerror(rsp.op_errno)}")
    return [(p.prognum, p.progver, p.progname) for p in rsp.progs]


def ping(client: RpcClient, *, timeout: float | None = None) -> float:
    """Round-trip time of one GF-DUMP PING, in seconds."""
    start = time.perf_counter()
    client.call(gfdump.GF_DUMP_PROGRAM, gfdump.GF_DUMP_VERSION, gfdump.PING, b"", timeout=timeout)
    return time.perf_counter() - start
