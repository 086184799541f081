"""GlusterFS 4.x v1 FOP program (1298437, version 400): requests, replies, procedure table.

The messages are ``xdr.struct``s from GlusterFS 10.3 ``rpc/xdr/src/glusterfs4-xdr.x``, defined
in :mod:`gfrpc.programs.fops_messages` and re-exported here: import them from this module
(``fops.GfxStatReq(gfid=ROOT_GFID)``). Which reply a procedure sends is taken from the brick
(``server-rpc-fops_v2.c``).

Two procedures carry raw bytes after their XDR (reference §5.4; this is how the 2011 socket layer
could read them straight into page-aligned buffers):

* WRITE: ``gfx_write_req`` then exactly ``size`` payload bytes, no length word, no padding.
  :func:`decode_write_request` slices the payload off as a view (no copy) and rejects a payload
  whose length is not ``size`` (the brick only asserts it).
* READ reply: ``gfx_read_rsp`` then ``op_ret`` data bytes. The client takes ``op_ret`` (not
  ``size``, which the brick sets equal to it) as the data length. A server answers at most the
  ``size`` that was asked (the posix store reads at most that); :func:`encode_read_reply`
  checks that ``op_ret`` equals the data length, and :func:`decode_read_reply` rejects data that
  is shorter or longer than ``op_ret``.

Procedure numbers are ``GFS3_OP_*`` (protocol-common.h), not ``GF_FOP_*``. In 10.3 the v400
brick has no actor for PUT (55) and answers COMPOUND (49) with GARBAGE_ARGS, so neither is in
:data:`PROCEDURES`; NULL (0) replies with the old ``gf_common_rsp`` (opaque xdata).
"""

from __future__ import annotations

import enum
from typing import Any, Final

from gfrpc.errors import LocalProtocolError, RemoteProtocolError
from gfrpc.programs import fops_messages
from gfrpc.programs.dump import GfCommonRsp
from gfrpc.programs.fops_messages import *  # noqa: F403 - every message, re-exported
from gfrpc.programs.fops_messages import (
    FopNullReq,
    GfxAccessReq,
    GfxCommon2IattRsp,
    GfxCommon3IattRsp,
    GfxCommonDictRsp,
    GfxCommonIattRsp,
    GfxCommonRsp,
    GfxCopyFileRangeReq,
    GfxCreateReq,
    GfxCreateRsp,
    GfxDiscardReq,
    GfxEntrylkReq,
    GfxFallocateReq,
    GfxFentrylkReq,
    GfxFgetxattrReq,
    GfxFinodelkReq,
    GfxFlushReq,
    GfxFremovexattrReq,
    GfxFsetattrReq,
    GfxFsetxattrReq,
    GfxFstatReq,
    GfxFsyncdirReq,
    GfxFsyncReq,
    GfxFtruncateReq,
    GfxFxattropReq,
    GfxGetactivelkReq,
    GfxGetactivelkRsp,
    GfxGetxattrReq,
    GfxIcreateReq,
    GfxInodelkReq,
    GfxIpcReq,
    GfxLeaseReq,
    GfxLeaseRsp,
    GfxLinkReq,
    GfxLkReq,
    GfxLkRsp,
    GfxLookupReq,
    GfxMkdirReq,
    GfxMknodReq,
    GfxNamelinkReq,
    GfxOpendirReq,
    GfxOpenReq,
    GfxOpenRsp,
    GfxRchecksumReq,
    GfxRchecksumRsp,
    GfxReaddirpReq,
    GfxReaddirpRsp,
    GfxReaddirReq,
    GfxReaddirRsp,
    GfxReadlinkReq,
    GfxReadlinkRsp,
    GfxReadReq,
    GfxReadRsp,
    GfxReleasedirReq,
    GfxReleaseReq,
    GfxRemovexattrReq,
    GfxRenameReq,
    GfxRenameRsp,
    GfxRmdirReq,
    GfxSeekReq,
    GfxSeekRsp,
    GfxSetactivelkReq,
    GfxSetattrReq,
    GfxSetxattrReq,
    GfxStatfsReq,
    GfxStatfsRsp,
    GfxStatReq,
    GfxSymlinkReq,
    GfxTruncateReq,
    GfxUnlinkReq,
    GfxWriteReq,
    GfxXattropReq,
    GfxZerofillReq,
)
from gfrpc.wire.xdr import XdrReader, XdrStruct

__all__ = [
    "GLUSTER_FOP_PROGRAM",
    "GLUSTER_FOP_VERSION",
    "GLUSTER_FOP_NAME",
    "GF_ANON_FD_NO",
    "FopProc",
    "PROCEDURES",
    "encode_write_request",
    "decode_write_request",
    "encode_read_reply",
    "decode_read_reply",
    "decode_request",
    "decode_reply",
    "GfCommonRsp",
]
# the messages (gfx_*_req/rsp), defined in fops_messages and re-exported here
__all__ += fops_messages.__all__

GLUSTER_FOP_PROGRAM: Final = 1298437
GLUSTER_FOP_VERSION: Final = 400  # GLUSTER_FOP_VERSION_v2
GLUSTER_FOP_NAME: Final = "GlusterFS 4.x v1"
GF_ANON_FD_NO: Final = -2  # "no remote fd": the brick opens by gfid


class FopProc(enum.IntEnum):
    """``enum gf_fop_procnum`` (GFS3_OP_*), the procedure numbers of v330 and v400."""

    NULL = 0
    STAT = 1
    READLINK = 2
    MKNOD = 3
    MKDIR = 4
    UNLINK = 5
    RMDIR = 6
    SYMLINK = 7
    RENAME = 8
    LINK = 9
    TRUNCATE = 10
    OPEN = 11
    READ = 12
    WRITE = 13
    STATFS = 14
    FLUSH = 15
    FSYNC = 16
    SETXATTR = 17
    GETXATTR = 18
    REMOVEXATTR = 19
    OPENDIR = 20
    FSYNCDIR = 21
    ACCESS = 22
    CREATE = 23
    FTRUNCATE = 24
    FSTAT = 25
    LK = 26
    LOOKUP = 27
    READDIR = 28
    INODELK = 29
    FINODELK = 30
    ENTRYLK = 31
    FENTRYLK = 32
    XATTROP = 33
    FXATTROP = 34
    FGETXATTR = 35
    FSETXATTR = 36
    RCHECKSUM = 37
    SETATTR = 38
    FSETATTR = 39
    READDIRP = 40
    RELEASE = 41
    RELEASEDIR = 42
    FREMOVEXATTR = 43
    FALLOCATE = 44
    DISCARD = 45
    ZEROFILL = 46
    IPC = 47
    SEEK = 48
    COMPOUND = 49
    LEASE = 50
    GETACTIVELK = 51
    SETACTIVELK = 52
    ICREATE = 53
    NAMELINK = 54
    PUT = 55
    COPY_FILE_RANGE = 56


# --------------------------------------------------------------------------- procedure table

_P = FopProc
PROCEDURES: Final[dict[FopProc, tuple[type[XdrStruct], type[XdrStruct]]]] = {
    _P.NULL: (FopNullReq, GfCommonRsp),
    _P.STAT: (GfxStatReq, GfxCommonIattRsp),
    _P.READLINK: (GfxReadlinkReq, GfxReadlinkRsp),
    _P.MKNOD: (GfxMknodReq, GfxCommon3IattRsp),
    _P.MKDIR: (GfxMkdirReq, GfxCommon3IattRsp),
    _P.UNLINK: (GfxUnlinkReq, GfxCommon2IattRsp),
    _P.RMDIR: (GfxRmdirReq, GfxCommon2IattRsp),
    _P.SYMLINK: (GfxSymlinkReq, GfxCommon3IattRsp),
    _P.RENAME: (GfxRenameReq, GfxRenameRsp),
    _P.LINK: (GfxLinkReq, GfxCommon3IattRsp),
    _P.TRUNCATE: (GfxTruncateReq, GfxCommon2IattRsp),
    _P.OPEN: (GfxOpenReq, GfxOpenRsp),
    _P.READ: (GfxReadReq, GfxReadRsp),
    _P.WRITE: (GfxWriteReq, GfxCommon2IattRsp),
    _P.STATFS: (GfxStatfsReq, GfxStatfsRsp),
    _P.FLUSH: (GfxFlushReq, GfxCommonRsp),
    _P.FSYNC: (GfxFsyncReq, GfxCommon2IattRsp),
    _P.SETXATTR: (GfxSetxattrReq, GfxCommonRsp),
    _P.GETXATTR: (GfxGetxattrReq, GfxCommonDictRsp),
    _P.REMOVEXATTR: (GfxRemovexattrReq, GfxCommonRsp),
    _P.OPENDIR: (GfxOpendirReq, GfxOpenRsp),
    _P.FSYNCDIR: (GfxFsyncdirReq, GfxCommonRsp),
    _P.ACCESS: (GfxAccessReq, GfxCommonRsp),
    _P.CREATE: (GfxCreateReq, GfxCreateRsp),
    _P.FTRUNCATE: (GfxFtruncateReq, GfxCommon2IattRsp),
    _P.FSTAT: (GfxFstatReq, GfxCommonIattRsp),
    _P.LK: (GfxLkReq, GfxLkRsp),
    _P.LOOKUP: (GfxLookupReq, GfxCommon2IattRsp),
    _P.READDIR: (GfxReaddirReq, GfxReaddirRsp),
    _P.INODELK: (GfxInodelkReq, GfxCommonRsp),
    _P.FINODELK: (GfxFinodelkReq, GfxCommonRsp),
    _P.ENTRYLK: (GfxEntrylkReq, GfxCommonRsp),
    _P.FENTRYLK: (GfxFentrylkReq, GfxCommonRsp),
    _P.XATTROP: (GfxXattropReq, GfxCommonDictRsp),
    _P.FXATTROP: (GfxFxattropReq, GfxCommonDictRsp),
    _P.FGETXATTR: (GfxFgetxattrReq, GfxCommonDictRsp),
    _P.FSETXATTR: (GfxFsetxattrReq, GfxCommonRsp),
    _P.RCHECKSUM: (GfxRchecksumReq, GfxRchecksumRsp),
    _P.SETATTR: (GfxSetattrReq, GfxCommon2IattRsp),
    _P.FSETATTR: (GfxFsetattrReq, GfxCommon2IattRsp),
    _P.READDIRP: (GfxReaddirpReq, GfxReaddirpRsp),
    _P.RELEASE: (GfxReleaseReq, GfxCommonRsp),
    _P.RELEASEDIR: (GfxReleasedirReq, GfxCommonRsp),
    _P.FREMOVEXATTR: (GfxFremovexattrReq, GfxCommonRsp),
    _P.FALLOCATE: (GfxFallocateReq, GfxCommon2IattRsp),
    _P.DISCARD: (GfxDiscardReq, GfxCommon2IattRsp),
    _P.ZEROFILL: (GfxZerofillReq, GfxCommon2IattRsp),
    _P.IPC: (GfxIpcReq, GfxCommonRsp),
    _P.SEEK: (GfxSeekReq, GfxSeekRsp),
    _P.LEASE: (GfxLeaseReq, GfxLeaseRsp),
    _P.GETACTIVELK: (GfxGetactivelkReq, GfxGetactivelkRsp),
    _P.SETACTIVELK: (GfxSetactivelkReq, GfxCommonRsp),
    _P.ICREATE: (GfxIcreateReq, GfxCommonIattRsp),
    _P.NAMELINK: (GfxNamelinkReq, GfxCommon2IattRsp),
    _P.COPY_FILE_RANGE: (GfxCopyFileRangeReq, GfxCommon3IattRsp),
}

# --------------------------------------------------------------------------- payload helpers

Buffer = bytes | bytearray | memoryview


def encode_write_request(req: XdrStruct, payload: Buffer) -> list[Buffer]:
    """``[header, payload]`` for WRITE: the payload rides raw after the XDR header.

    ``req`` is a :class:`GfxWriteReq` whose ``size`` must equal ``len(payload)``
    (``LocalProtocolError`` otherwise). The payload object is passed through, not copied.
    """
    if not isinstance(req, GfxWriteReq):
        raise LocalProtocolError(f"WRITE needs a GfxWriteReq, not {type(req).__name__}")
    n = memoryview(payload).nbytes
    if req.size != n:
        raise LocalProtocolError(f"WRITE size {req.size} but the payload has {n} bytes")
    return [req.pack(), payload]


def decode_write_request(args: Buffer, unread: int = 0) -> tuple[Any, memoryview]:
    """``(GfxWriteReq, payload view)`` from WRITE's call arguments (no copy of the payload).

    A payload whose length is not ``size`` is a ``RemoteProtocolError``. ``unread``: the last
    bytes of ``args`` that have not arrived yet (a transport's unread tail); the header must
    end before them, and is decoded without looking at them.
    """
    view = args if isinstance(args, memoryview) else memoryview(args)
    head = len(view) - unread
    reader = XdrReader(view[:head])
    req = GfxWriteReq.decode(reader)
    payload = view[head - len(reader.rest()) :]
    if req.size != len(payload):
        raise RemoteProtocolError(
            f"WRITE: size says {req.size} bytes but {len(payload)} follow the header"
        )
    return req, payload


def encode_read_reply(rsp: XdrStruct, data: Buffer) -> list[Buffer]:
    """``[header, data]`` for a READ reply; ``op_ret`` must be ``len(data)`` (0 bytes on error).

    A server must not send more than the request's ``size`` (that is its caller's check).
    """
    if not isinstance(rsp, GfxReadRsp):
        raise LocalProtocolError(f"READ reply needs a GfxReadRsp, not {type(rsp).__name__}")
    n = memoryview(data).nbytes
    if n != max(rsp.op_ret, 0):
        raise LocalProtocolError(f"READ op_ret {rsp.op_ret} but {n} data bytes")
    return [rsp.pack(), data]


def decode_read_reply(body: Buffer) -> tuple[Any, memoryview]:
    """``(GfxReadRsp, data view)``: the data is the ``op_ret`` bytes after the header.

    Fewer or more bytes than ``op_ret`` (or any byte after a failed read) is a
    ``RemoteProtocolError``.
    """
    reader = XdrReader(body)
    rsp = GfxReadRsp.decode(reader)
    data = reader.rest()
    if len(data) != max(rsp.op_ret, 0):
        raise RemoteProtocolError(
            f"READ reply: op_ret {rsp.op_ret} but {len(data)} data bytes follow the header"
        )
    return rsp, data


_EMPTY: Final = memoryview(b"")


def _proc_types(proc: int) -> tuple[type[XdrStruct], type[XdrStruct]]:
    try:
        return PROCEDURES[FopProc(proc)]
    except (ValueError, KeyError):
        raise RemoteProtocolError(f"FOP procedure {proc} has no v400 message schema") from None


def decode_request(proc: int, args: Buffer) -> tuple[Any, memoryview]:
    """``(request, payload)`` for any procedure; the payload is empty except for WRITE."""
    if proc == FopProc.WRITE:
        return decode_write_request(args)
    return _proc_types(proc)[0].unpack(args), _EMPTY


def decode_reply(proc: int, body: Buffer) -> tuple[Any, memoryview]:
    """``(reply, data)`` for any procedure; the data is empty except for READ."""
    if proc == FopProc.READ:
        return decode_read_reply(body)
    return _proc_types(proc)[1].unpack(body), _EMPTY
