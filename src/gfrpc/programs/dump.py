"""GF-DUMP (123451501 v1): the program list every GlusterFS RPC server answers, and PING.

A GlusterFS client's first call on a connection is DUMP (with ``gfs_id = 0xcaed`` and
AUTH_GLUSTERFS_v2); the reply lists ``(progname, prognum, progver)`` as a linked list. PING takes
no arguments and is answered with a ``gf_common_rsp`` of 12 zero bytes.
"""

from __future__ import annotations

from typing import Final

from gfrpc.wire import xdr

__all__ = [
    "GF_DUMP_PROGRAM",
    "GF_DUMP_VERSION",
    "NULL",
    "DUMP",
    "PING",
    "CLIENT_GFS_ID",
    "GfDumpReq",
    "GfDumpRsp",
    "GfProgDetail",
    "GfCommonRsp",
]

GF_DUMP_PROGRAM: Final = 123451501
GF_DUMP_VERSION: Final = 1
NULL: Final = 0
DUMP: Final = 1
PING: Final = 2
CLIENT_GFS_ID: Final = 0xCAED  # what GlusterFS clients put in gf_dump_req

#: ``int op_ret; int op_errno``, zero by default: the fields most replies of GF-DUMP, the handshake
#: and the portmapper begin with (the other program modules import it from here).
OP_RESULT: Final = (("op_ret", xdr.Int, 0), ("op_errno", xdr.Int, 0))

GfDumpReq = xdr.struct(
    "GfDumpReq", [("gfs_id", xdr.UHyper, CLIENT_GFS_ID)], doc="gf_dump_req { u_quad gfs_id }"
)
GfProgDetail = xdr.struct(
    "GfProgDetail",
    [("progname", xdr.String()), ("prognum", xdr.UHyper), ("progver", xdr.UHyper)],
    doc="gf_prog_detail without its ``next`` pointer (the list is GfDumpRsp.progs)",
)
GfDumpRsp = xdr.struct(
    "GfDumpRsp",
    [("gfs_id", xdr.UHyper, 0), *OP_RESULT, ("progs", xdr.LinkedList(GfProgDetail), ())],
    doc="gf_dump_rsp { u_quad gfs_id; int op_ret; int op_errno; gf_prog_detail *prog }",
)
GfCommonRsp = xdr.struct(
    "GfCommonRsp",
    [*OP_RESULT, ("xdata", xdr.Opaque(), b"")],
    doc="gf_common_rsp { int op_ret; int op_errno; opaque xdata<> }: the reply to GF-DUMP's and "
    "the handshake's PING, and to the FOP program's NULL",
)
