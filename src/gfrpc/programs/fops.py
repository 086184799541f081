"""GlusterFS 4.x v1 FOP program (1298437, version 400): requests, replies, procedure table.

Every message is an ``xdr.struct`` built from GlusterFS 10.3 ``rpc/xdr/src/glusterfs4-xdr.x``;
which reply a procedure sends is taken from the brick (``server-rpc-fops_v2.c``), and field names
are GlusterFS's. All fields have defaults (gfid/pargfid null, numbers 0, strings empty, dicts
``None`` = the NULL gfx_dict that GlusterFS sends for "no dict", iatts ``None`` = the zero iatt),
so messages are built by keyword: ``GfxStatReq(gfid=ROOT_GFID)``.

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
from collections.abc import Sequence
from typing import Any, Final

from gfrpc.errors import LocalProtocolError, RemoteProtocolError
from gfrpc.programs.dump import GfCommonRsp
from gfrpc.programs.fops_types import (
    GFID,
    IATT,
    NULL_GFID,
    GfProtoFlock,
    GfProtoLease,
    Gfs3Locklist,
    GfStatfs,
    GfxDirlist,
    GfxDirplist,
    OrZero,
)
from gfrpc.wire import xdr
from gfrpc.wire.gfdict import GFX_DICT
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
    "FopNullReq",
    "GfCommonRsp",
    "GfxCommonRsp",
    "GfxCommonIattRsp",
    "GfxCommon2IattRsp",
    "GfxCommon3IattRsp",
    "GfxCommonDictRsp",
    "GfxStatReq",
    "GfxReadlinkReq",
    "GfxReadlinkRsp",
    "GfxMknodReq",
    "GfxMkdirReq",
    "GfxUnlinkReq",
    "GfxRmdirReq",
    "GfxSymlinkReq",
    "GfxRenameReq",
    "GfxRenameRsp",
    "GfxLinkReq",
    "GfxTruncateReq",
    "GfxOpenReq",
    "GfxOpenRsp",
    "GfxReadReq",
    "GfxReadRsp",
    "GfxWriteReq",
    "GfxStatfsReq",
    "GfxStatfsRsp",
    "GfxFlushReq",
    "GfxFsyncReq",
    "GfxSetxattrReq",
    "GfxGetxattrReq",
    "GfxRemovexattrReq",
    "GfxOpendirReq",
    "GfxFsyncdirReq",
    "GfxAccessReq",
    "GfxCreateReq",
    "GfxCreateRsp",
    "GfxFtruncateReq",
    "GfxFstatReq",
    "GfxLkReq",
    "GfxLkRsp",
    "GfxLookupReq",
    "GfxReaddirReq",
    "GfxReaddirRsp",
    "GfxInodelkReq",
    "GfxFinodelkReq",
    "GfxEntrylkReq",
    "GfxFentrylkReq",
    "GfxXattropReq",
    "GfxFxattropReq",
    "GfxFgetxattrReq",
    "GfxFsetxattrReq",
    "GfxRchecksumReq",
    "GfxRchecksumRsp",
    "GfxSetattrReq",
    "GfxFsetattrReq",
    "GfxReaddirpReq",
    "GfxReaddirpRsp",
    "GfxReleaseReq",
    "GfxReleasedirReq",
    "GfxFremovexattrReq",
    "GfxFallocateReq",
    "GfxDiscardReq",
    "GfxZerofillReq",
    "GfxIpcReq",
    "GfxSeekReq",
    "GfxSeekRsp",
    "GfxLeaseReq",
    "GfxLeaseRsp",
    "GfxGetactivelkReq",
    "GfxGetactivelkRsp",
    "GfxSetactivelkReq",
    "GfxIcreateReq",
    "GfxNamelinkReq",
    "GfxPutReq",
    "GfxCopyFileRangeReq",
]

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


# --------------------------------------------------------------------------- struct shorthand

_G = GFID
_U, _I, _UH, _H = xdr.UInt, xdr.Int, xdr.UHyper, xdr.Hyper
_S = xdr.String()
_D = GFX_DICT
_IA = IATT


def _default(t: xdr.XdrType) -> Any:
    if t is _G:
        return NULL_GFID
    if t is _S:
        return ""
    if t is _D or isinstance(t, OrZero):
        return None
    if isinstance(t, xdr.LinkedList):
        return ()
    if isinstance(t, xdr.Opaque):
        return b""
    return 0


def _msg(name: str, fields: Sequence[tuple[str, Any]], doc: str) -> type[XdrStruct]:
    """An ``xdr.struct`` whose every field has the default of its type."""
    spec = [(fname, ftype, _default(xdr.as_type(ftype))) for fname, ftype in fields]
    return xdr.struct(name, spec, module=__name__, doc=doc)


_RSP = [("op_ret", _I), ("op_errno", _I), ("xdata", _D)]

# --------------------------------------------------------------------------- common replies

FopNullReq = _msg("FopNullReq", [], "NULL takes no arguments (the reply is dump.GfCommonRsp)")
GfxCommonRsp = _msg("GfxCommonRsp", _RSP, "gfx_common_rsp { op_ret; op_errno; xdata }")
GfxCommonIattRsp = _msg(
    "GfxCommonIattRsp", [*_RSP, ("stat", _IA)], "gfx_common_iatt_rsp (STAT, FSTAT, ICREATE)"
)
GfxCommon2IattRsp = _msg(
    "GfxCommon2IattRsp",
    [*_RSP, ("prestat", _IA), ("poststat", _IA)],
    "gfx_common_2iatt_rsp. LOOKUP: prestat = entry, poststat = postparent; UNLINK/RMDIR: "
    "preparent, postparent; WRITE/TRUNCATE/FSYNC/SETATTR/...: prebuf, postbuf",
)
GfxCommon3IattRsp = _msg(
    "GfxCommon3IattRsp",
    [*_RSP, ("stat", _IA), ("preparent", _IA), ("postparent", _IA)],
    "gfx_common_3iatt_rsp (MKNOD, MKDIR, SYMLINK, LINK, COPY_FILE_RANGE)",
)
GfxCommonDictRsp = _msg(
    "GfxCommonDictRsp",
    [*_RSP, ("dict", _D), ("prestat", _IA), ("poststat", _IA)],
    "gfx_common_dict_rsp (GETXATTR, FGETXATTR, XATTROP, FXATTROP)",
)

# --------------------------------------------------------------------------- requests and replies

GfxStatReq = _msg("GfxStatReq", [("gfid", _G), ("xdata", _D)], "gfx_stat_req")
GfxReadlinkReq = _msg(
    "GfxReadlinkReq", [("gfid", _G), ("size", _U), ("xdata", _D)], "gfx_readlink_req"
)
GfxReadlinkRsp = _msg("GfxReadlinkRsp", [*_RSP, ("buf", _IA), ("path", _S)], "gfx_readlink_rsp")
GfxMknodReq = _msg(
    "GfxMknodReq",
    [("pargfid", _G), ("dev", _UH), ("mode", _U), ("umask", _U), ("bname", _S), ("xdata", _D)],
    "gfx_mknod_req",
)
GfxMkdirReq = _msg(
    "GfxMkdirReq",
    [("pargfid", _G), ("mode", _U), ("umask", _U), ("bname", _S), ("xdata", _D)],
    "gfx_mkdir_req",
)
GfxUnlinkReq = _msg(
    "GfxUnlinkReq",
    [("pargfid", _G), ("bname", _S), ("xflags", _U), ("xdata", _D)],
    "gfx_unlink_req",
)
GfxRmdirReq = _msg(
    "GfxRmdirReq",
    [("pargfid", _G), ("xflags", _I), ("bname", _S), ("xdata", _D)],
    "gfx_rmdir_req (xflags before bname, unlike unlink)",
)
GfxSymlinkReq = _msg(
    "GfxSymlinkReq",
    [("pargfid", _G), ("bname", _S), ("umask", _U), ("linkname", _S), ("xdata", _D)],
    "gfx_symlink_req",
)
GfxRenameReq = _msg(
    "GfxRenameReq",
    [("oldgfid", _G), ("newgfid", _G), ("oldbname", _S), ("newbname", _S), ("xdata", _D)],
    "gfx_rename_req (oldgfid/newgfid are the parent directories)",
)
GfxRenameRsp = _msg(
    "GfxRenameRsp",
    [
        *_RSP,
        ("stat", _IA),
        ("preoldparent", _IA),
        ("postoldparent", _IA),
        ("prenewparent", _IA),
        ("postnewparent", _IA),
    ],
    "gfx_rename_rsp",
)
GfxLinkReq = _msg(
    "GfxLinkReq",
    [("oldgfid", _G), ("newgfid", _G), ("newbname", _S), ("xdata", _D)],
    "gfx_link_req (newgfid = new parent)",
)
GfxTruncateReq = _msg(
    "GfxTruncateReq", [("gfid", _G), ("offset", _UH), ("xdata", _D)], "gfx_truncate_req"
)
GfxOpenReq = _msg("GfxOpenReq", [("gfid", _G), ("flags", _U), ("xdata", _D)], "gfx_open_req")
GfxOpenRsp = _msg("GfxOpenRsp", [*_RSP, ("fd", _H)], "gfx_open_rsp (OPEN, OPENDIR)")
GfxReadReq = _msg(
    "GfxReadReq",
    [("gfid", _G), ("fd", _H), ("offset", _UH), ("size", _U), ("flag", _U), ("xdata", _D)],
    "gfx_read_req",
)
GfxReadRsp = _msg(
    "GfxReadRsp",
    [("op_ret", _I), ("op_errno", _I), ("stat", _IA), ("size", _U), ("xdata", _D)],
    "gfx_read_rsp (xdata last!), followed by op_ret raw data bytes",
)
GfxWriteReq = _msg(
    "GfxWriteReq",
    [("gfid", _G), ("fd", _H), ("offset", _UH), ("size", _U), ("flag", _U), ("xdata", _D)],
    "gfx_write_req, followed by exactly size raw payload bytes",
)
GfxStatfsReq = _msg("GfxStatfsReq", [("gfid", _G), ("xdata", _D)], "gfx_statfs_req")
GfxStatfsRsp = _msg("GfxStatfsRsp", [*_RSP, ("statfs", OrZero(GfStatfs))], "gfx_statfs_rsp")
GfxFlushReq = _msg("GfxFlushReq", [("gfid", _G), ("fd", _H), ("xdata", _D)], "gfx_flush_req")
GfxFsyncReq = _msg(
    "GfxFsyncReq",
    [("gfid", _G), ("fd", _H), ("data", _U), ("xdata", _D)],
    "gfx_fsync_req (data = datasync flag)",
)
GfxSetxattrReq = _msg(
    "GfxSetxattrReq", [("gfid", _G), ("flags", _U), ("dict", _D), ("xdata", _D)], "gfx_setxattr_req"
)
GfxGetxattrReq = _msg(
    "GfxGetxattrReq",
    [("gfid", _G), ("namelen", _U), ("name", _S), ("xdata", _D)],
    "gfx_getxattr_req",
)
GfxRemovexattrReq = _msg(
    "GfxRemovexattrReq", [("gfid", _G), ("name", _S), ("xdata", _D)], "gfx_removexattr_req"
)
GfxOpendirReq = _msg("GfxOpendirReq", [("gfid", _G), ("xdata", _D)], "gfx_opendir_req")
GfxFsyncdirReq = _msg(
    "GfxFsyncdirReq", [("gfid", _G), ("fd", _H), ("data", _I), ("xdata", _D)], "gfx_fsyncdir_req"
)
GfxAccessReq = _msg("GfxAccessReq", [("gfid", _G), ("mask", _U), ("xdata", _D)], "gfx_access_req")
GfxCreateReq = _msg(
    "GfxCreateReq",
    [("pargfid", _G), ("flags", _U), ("mode", _U), ("umask", _U), ("bname", _S), ("xdata", _D)],
    "gfx_create_req",
)
GfxCreateRsp = _msg(
    "GfxCreateRsp",
    [*_RSP, ("stat", _IA), ("fd", _UH), ("preparent", _IA), ("postparent", _IA)],
    "gfx_create_rsp (fd is u_quad_t here, quad_t elsewhere)",
)
GfxFtruncateReq = _msg(
    "GfxFtruncateReq",
    [("gfid", _G), ("fd", _H), ("offset", _UH), ("xdata", _D)],
    "gfx_ftruncate_req",
)
GfxFstatReq = _msg("GfxFstatReq", [("gfid", _G), ("fd", _H), ("xdata", _D)], "gfx_fstat_req")
_FLOCK = OrZero(GfProtoFlock)
GfxLkReq = _msg(
    "GfxLkReq",
    [("gfid", _G), ("fd", _H), ("cmd", _U), ("type", _U), ("flock", _FLOCK), ("xdata", _D)],
    "gfx_lk_req",
)
GfxLkRsp = _msg("GfxLkRsp", [*_RSP, ("flock", _FLOCK)], "gfx_lk_rsp")
GfxLookupReq = _msg(
    "GfxLookupReq",
    [("gfid", _G), ("pargfid", _G), ("flags", _U), ("bname", _S), ("xdata", _D)],
    "gfx_lookup_req: by gfid (nameless) or by pargfid + bname",
)
GfxReaddirReq = _msg(
    "GfxReaddirReq",
    [("gfid", _G), ("fd", _H), ("offset", _UH), ("size", _U), ("xdata", _D)],
    "gfx_readdir_req",
)
GfxReaddirRsp = _msg(
    "GfxReaddirRsp",
    [*_RSP, ("reply", xdr.LinkedList(GfxDirlist))],
    "gfx_readdir_rsp; reply = list of GfxDirlist (the wire's linked list)",
)
GfxInodelkReq = _msg(
    "GfxInodelkReq",
    [("gfid", _G), ("cmd", _U), ("type", _U), ("flock", _FLOCK), ("volume", _S), ("xdata", _D)],
    "gfx_inodelk_req",
)
GfxFinodelkReq = _msg(
    "GfxFinodelkReq",
    [
        ("gfid", _G),
        ("fd", _H),
        ("cmd", _U),
        ("type", _U),
        ("flock", _FLOCK),
        ("volume", _S),
        ("xdata", _D),
    ],
    "gfx_finodelk_req",
)
GfxEntrylkReq = _msg(
    "GfxEntrylkReq",
    [
        ("gfid", _G),
        ("cmd", _U),
        ("type", _U),
        ("namelen", _UH),
        ("name", _S),
        ("volume", _S),
        ("xdata", _D),
    ],
    "gfx_entrylk_req (namelen is u_quad_t)",
)
GfxFentrylkReq = _msg(
    "GfxFentrylkReq",
    [
        ("gfid", _G),
        ("fd", _H),
        ("cmd", _U),
        ("type", _U),
        ("namelen", _UH),
        ("name", _S),
        ("volume", _S),
        ("xdata", _D),
    ],
    "gfx_fentrylk_req",
)
GfxXattropReq = _msg(
    "GfxXattropReq", [("gfid", _G), ("flags", _U), ("dict", _D), ("xdata", _D)], "gfx_xattrop_req"
)
GfxFxattropReq = _msg(
    "GfxFxattropReq",
    [("gfid", _G), ("fd", _H), ("flags", _U), ("dict", _D), ("xdata", _D)],
    "gfx_fxattrop_req",
)
GfxFgetxattrReq = _msg(
    "GfxFgetxattrReq",
    [("gfid", _G), ("fd", _H), ("namelen", _U), ("name", _S), ("xdata", _D)],
    "gfx_fgetxattr_req",
)
GfxFsetxattrReq = _msg(
    "GfxFsetxattrReq",
    [("gfid", _G), ("fd", _H), ("flags", _U), ("dict", _D), ("xdata", _D)],
    "gfx_fsetxattr_req",
)
GfxRchecksumReq = _msg(
    "GfxRchecksumReq",
    [("gfid", _G), ("fd", _H), ("offset", _UH), ("len", _U), ("flags", _U), ("xdata", _D)],
    "gfx_rchecksum_req",
)
GfxRchecksumRsp = _msg(
    "GfxRchecksumRsp",
    [*_RSP, ("flags", _U), ("weak_checksum", _U), ("strong_checksum", xdr.Opaque())],
    "gfx_rchecksum_rsp",
)
GfxSetattrReq = _msg(
    "GfxSetattrReq",
    [("gfid", _G), ("stbuf", _IA), ("valid", _I), ("xdata", _D)],
    "gfx_setattr_req (valid = GF_SET_ATTR_* mask of stbuf fields to apply)",
)
GfxFsetattrReq = _msg(
    "GfxFsetattrReq",
    [("gfid", _G), ("fd", _H), ("stbuf", _IA), ("valid", _I), ("xdata", _D)],
    "gfx_fsetattr_req",
)
GfxReaddirpReq = _msg(
    "GfxReaddirpReq",
    [("gfid", _G), ("fd", _H), ("offset", _UH), ("size", _U), ("xdata", _D)],
    "gfx_readdirp_req",
)
GfxReaddirpRsp = _msg(
    "GfxReaddirpRsp",
    [*_RSP, ("reply", xdr.LinkedList(GfxDirplist))],
    "gfx_readdirp_rsp; reply = list of GfxDirplist (dirent, iatt, dict)",
)
GfxReleaseReq = _msg("GfxReleaseReq", [("gfid", _G), ("fd", _H), ("xdata", _D)], "gfx_release_req")
GfxReleasedirReq = _msg(
    "GfxReleasedirReq",
    [("gfid", _G), ("fd", _H), ("xdata", _D)],
    "gfx_releasedir_req (same layout as gfx_release_req)",
)
GfxFremovexattrReq = _msg(
    "GfxFremovexattrReq",
    [("gfid", _G), ("fd", _H), ("name", _S), ("xdata", _D)],
    "gfx_fremovexattr_req",
)
GfxFallocateReq = _msg(
    "GfxFallocateReq",
    [("gfid", _G), ("fd", _H), ("flags", _U), ("offset", _UH), ("size", _UH), ("xdata", _D)],
    "gfx_fallocate_req",
)
GfxDiscardReq = _msg(
    "GfxDiscardReq",
    [("gfid", _G), ("fd", _H), ("offset", _UH), ("size", _UH), ("xdata", _D)],
    "gfx_discard_req",
)
GfxZerofillReq = _msg(
    "GfxZerofillReq",
    [("gfid", _G), ("fd", _H), ("offset", _UH), ("size", _UH), ("xdata", _D)],
    "gfx_zerofill_req",
)
GfxIpcReq = _msg("GfxIpcReq", [("op", _I), ("xdata", _D)], "gfx_ipc_req")
GfxSeekReq = _msg(
    "GfxSeekReq",
    [("gfid", _G), ("fd", _H), ("offset", _UH), ("what", _I), ("xdata", _D)],
    "gfx_seek_req (what: SEEK_DATA 3 / SEEK_HOLE 4)",
)
GfxSeekRsp = _msg("GfxSeekRsp", [*_RSP, ("offset", _UH)], "gfx_seek_rsp")
_LEASE = OrZero(GfProtoLease)
GfxLeaseReq = _msg("GfxLeaseReq", [("gfid", _G), ("lease", _LEASE), ("xdata", _D)], "gfx_lease_req")
GfxLeaseRsp = _msg("GfxLeaseRsp", [*_RSP, ("lease", _LEASE)], "gfx_lease_rsp")
GfxGetactivelkReq = _msg("GfxGetactivelkReq", [("gfid", _G), ("xdata", _D)], "gfx_getactivelk_req")
GfxGetactivelkRsp = _msg(
    "GfxGetactivelkRsp", [*_RSP, ("reply", xdr.LinkedList(Gfs3Locklist))], "gfx_getactivelk_rsp"
)
GfxSetactivelkReq = _msg(
    "GfxSetactivelkReq",
    [("gfid", _G), ("request", xdr.LinkedList(Gfs3Locklist)), ("xdata", _D)],
    "gfx_setactivelk_req",
)
GfxIcreateReq = _msg(
    "GfxIcreateReq", [("gfid", _G), ("mode", _U), ("xdata", _D)], "gfx_icreate_req"
)
GfxNamelinkReq = _msg(
    "GfxNamelinkReq", [("pargfid", _G), ("bname", _S), ("xdata", _D)], "gfx_namelink_req"
)
GfxPutReq = _msg(
    "GfxPutReq",
    [
        ("pargfid", _G),
        ("bname", _S),
        ("mode", _U),
        ("umask", _U),
        ("flag", _U),
        ("offset", _UH),
        ("size", _U),
        ("xattr", _D),
        ("xdata", _D),
    ],
    "gfx_put_req (defined, but the 10.3 v400 brick has no PUT actor)",
)
GfxCopyFileRangeReq = _msg(
    "GfxCopyFileRangeReq",
    [
        ("gfid1", _G),
        ("gfid2", _G),
        ("fd_in", _H),
        ("fd_out", _H),
        ("off_in", _UH),
        ("off_out", _UH),
        ("size", _U),
        ("flag", _U),
        ("xdata", _D),
    ],
    "gfx_copy_file_range_req",
)

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


def decode_write_request(args: Buffer) -> tuple[Any, memoryview]:
    """``(GfxWriteReq, payload view)`` from WRITE's call arguments (no copy of the payload).

    A payload whose length is not ``size`` is a ``RemoteProtocolError``.
    """
    reader = XdrReader(args)
    req = GfxWriteReq.decode(reader)
    payload = reader.rest()
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
