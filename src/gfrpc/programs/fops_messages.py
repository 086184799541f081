"""The messages of the FOP program 1298437 v400: every ``gfx_*_req`` and ``gfx_*_rsp``.

Every message is an ``xdr.struct`` built from GlusterFS 10.3 ``rpc/xdr/src/glusterfs4-xdr.x``;
field names are GlusterFS's. All fields have defaults (gfid/pargfid null, numbers 0, strings
empty, dicts ``None`` = the NULL gfx_dict that GlusterFS sends for "no dict", iatts ``None`` = the
zero iatt), so messages are built by keyword: ``GfxStatReq(gfid=ROOT_GFID)``.

Import them from :mod:`gfrpc.programs.fops`, the program's face (procedure numbers, the
procedure table, the WRITE/READ payload codec); their ``__module__`` says so too, so that reprs,
pickles and docs name the public path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

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
from gfrpc.wire.xdr import XdrStruct

__all__ = [
    "FopNullReq",
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

#: the module the messages present themselves as (the facade that re-exports them)
_PUBLIC_MODULE: Final = "gfrpc.programs.fops"

# --------------------------------------------------------------------------- struct shorthand

_G = GFID
_U, _I, _UH, _H = xdr.UInt, xdr.Int, xdr.UHyper, xdr.Hyper
_S = xdr.String()
_D = GFX_DICT
_IA = IATT

_Field = tuple[str, xdr.TypeSpec]


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


def _msg(name: str, fields: Sequence[_Field], doc: str) -> type[XdrStruct]:
    """An ``xdr.struct`` whose every field has the default of its type."""
    spec = [(fname, ftype, _default(xdr.as_type(ftype))) for fname, ftype in fields]
    return xdr.struct(name, spec, module=_PUBLIC_MODULE, doc=doc)


def _req(name: str, doc: str, *fields: _Field) -> type[XdrStruct]:
    """A ``gfx_*_req``: ``fields`` in wire order, then ``gfx_dict xdata`` (as every one ends)."""
    return _msg(name, [*fields, ("xdata", _D)], doc)


def _rsp(name: str, doc: str, *fields: _Field) -> type[XdrStruct]:
    """A ``gfx_*_rsp``: ``int op_ret; int op_errno; gfx_dict xdata``, then ``fields``.

    Every v400 reply starts so, except ``gfx_read_rsp`` (xdata last), which is spelled out.
    """
    return _msg(name, [("op_ret", _I), ("op_errno", _I), ("xdata", _D), *fields], doc)


# Fields that many requests share, under the name and C type glusterfs4-xdr.x gives them. Where
# one name has another type in some struct (``size`` is u_quad_t in fallocate, discard and
# zerofill; ``namelen`` is u_quad_t in the entrylks), that struct spells the field out.
_GFID: Final[_Field] = ("gfid", _G)  # opaque gfid[16]
_PARGFID: Final[_Field] = ("pargfid", _G)  # the parent directory of bname
_FD: Final[_Field] = ("fd", _H)  # quad_t, the brick's fd number (GF_ANON_FD_NO = none)
_OFFSET: Final[_Field] = ("offset", _UH)  # u_quad_t
_SIZE: Final[_Field] = ("size", _U)  # u_int
_FLAG: Final[_Field] = ("flag", _U)  # u_int (read, write, put, copy_file_range)
_FLAGS: Final[_Field] = ("flags", _U)  # u_int (open flags, setxattr flags, ...)
_MODE: Final[_Field] = ("mode", _U)  # u_int
_UMASK: Final[_Field] = ("umask", _U)  # u_int
_BNAME: Final[_Field] = ("bname", _S)  # string, the entry's name in pargfid
_NAME: Final[_Field] = ("name", _S)  # string, an xattr or entrylk name
_DICT: Final[_Field] = ("dict", _D)  # gfx_dict, the xattrs to set or change
_CMD: Final[_Field] = ("cmd", _U)  # u_int, the lock command (F_SETLK..., ENTRYLK_LOCK...)
_TYPE: Final[_Field] = ("type", _U)  # u_int, the lock type (F_WRLCK..., ENTRYLK_WRLCK...)
_FLOCK: Final[_Field] = ("flock", OrZero(GfProtoFlock))  # gf_proto_flock
_VOLUME: Final[_Field] = ("volume", _S)  # string, the lock domain

# --------------------------------------------------------------------------- common replies

FopNullReq = _msg("FopNullReq", [], "NULL takes no arguments (the reply is dump.GfCommonRsp)")
GfxCommonRsp = _rsp("GfxCommonRsp", "gfx_common_rsp { op_ret; op_errno; xdata }")
GfxCommonIattRsp = _rsp(
    "GfxCommonIattRsp", "gfx_common_iatt_rsp (STAT, FSTAT, ICREATE)", ("stat", _IA)
)
GfxCommon2IattRsp = _rsp(
    "GfxCommon2IattRsp",
    "gfx_common_2iatt_rsp. LOOKUP: prestat = entry, poststat = postparent; UNLINK/RMDIR: "
    "preparent, postparent; WRITE/TRUNCATE/FSYNC/SETATTR/...: prebuf, postbuf",
    ("prestat", _IA),
    ("poststat", _IA),
)
GfxCommon3IattRsp = _rsp(
    "GfxCommon3IattRsp",
    "gfx_common_3iatt_rsp (MKNOD, MKDIR, SYMLINK, LINK, COPY_FILE_RANGE)",
    ("stat", _IA),
    ("preparent", _IA),
    ("postparent", _IA),
)
GfxCommonDictRsp = _rsp(
    "GfxCommonDictRsp",
    "gfx_common_dict_rsp (GETXATTR, FGETXATTR, XATTROP, FXATTROP)",
    _DICT,
    ("prestat", _IA),
    ("poststat", _IA),
)

# --------------------------------------------------------------------------- requests and replies
# In procedure order. ``_req(name, doc, *fields)`` appends ``xdata``; ``_rsp`` prepends
# ``op_ret, op_errno, xdata``. So ``GfxMkdirReq`` is gfx_mkdir_req { pargfid; mode; umask;
# bname; xdata }.

GfxStatReq = _req("GfxStatReq", "gfx_stat_req", _GFID)
GfxReadlinkReq = _req("GfxReadlinkReq", "gfx_readlink_req", _GFID, _SIZE)
GfxReadlinkRsp = _rsp("GfxReadlinkRsp", "gfx_readlink_rsp", ("buf", _IA), ("path", _S))
GfxMknodReq = _req("GfxMknodReq", "gfx_mknod_req", _PARGFID, ("dev", _UH), _MODE, _UMASK, _BNAME)
GfxMkdirReq = _req("GfxMkdirReq", "gfx_mkdir_req", _PARGFID, _MODE, _UMASK, _BNAME)
GfxUnlinkReq = _req("GfxUnlinkReq", "gfx_unlink_req", _PARGFID, _BNAME, ("xflags", _U))
GfxRmdirReq = _req(
    "GfxRmdirReq",
    "gfx_rmdir_req (xflags before bname, unlike unlink)",
    _PARGFID,
    ("xflags", _I),
    _BNAME,
)
GfxSymlinkReq = _req("GfxSymlinkReq", "gfx_symlink_req", _PARGFID, _BNAME, _UMASK, ("linkname", _S))
GfxRenameReq = _req(
    "GfxRenameReq",
    "gfx_rename_req (oldgfid/newgfid are the parent directories)",
    ("oldgfid", _G),
    ("newgfid", _G),
    ("oldbname", _S),
    ("newbname", _S),
)
GfxRenameRsp = _rsp(
    "GfxRenameRsp",
    "gfx_rename_rsp",
    ("stat", _IA),
    ("preoldparent", _IA),
    ("postoldparent", _IA),
    ("prenewparent", _IA),
    ("postnewparent", _IA),
)
GfxLinkReq = _req(
    "GfxLinkReq",
    "gfx_link_req (newgfid = new parent)",
    ("oldgfid", _G),
    ("newgfid", _G),
    ("newbname", _S),
)
GfxTruncateReq = _req("GfxTruncateReq", "gfx_truncate_req", _GFID, _OFFSET)
GfxOpenReq = _req("GfxOpenReq", "gfx_open_req", _GFID, _FLAGS)
GfxOpenRsp = _rsp("GfxOpenRsp", "gfx_open_rsp (OPEN, OPENDIR)", _FD)
GfxReadReq = _req("GfxReadReq", "gfx_read_req", _GFID, _FD, _OFFSET, _SIZE, _FLAG)
GfxReadRsp = _msg(
    "GfxReadRsp",
    [("op_ret", _I), ("op_errno", _I), ("stat", _IA), ("size", _U), ("xdata", _D)],
    "gfx_read_rsp (xdata last!), followed by op_ret raw data bytes",
)
GfxWriteReq = _req(
    "GfxWriteReq",
    "gfx_write_req, followed by exactly size raw payload bytes",
    _GFID,
    _FD,
    _OFFSET,
    _SIZE,
    _FLAG,
)
GfxStatfsReq = _req("GfxStatfsReq", "gfx_statfs_req", _GFID)
GfxStatfsRsp = _rsp("GfxStatfsRsp", "gfx_statfs_rsp", ("statfs", OrZero(GfStatfs)))
GfxFlushReq = _req("GfxFlushReq", "gfx_flush_req", _GFID, _FD)
GfxFsyncReq = _req("GfxFsyncReq", "gfx_fsync_req (data = datasync flag)", _GFID, _FD, ("data", _U))
GfxSetxattrReq = _req("GfxSetxattrReq", "gfx_setxattr_req", _GFID, _FLAGS, _DICT)
GfxGetxattrReq = _req("GfxGetxattrReq", "gfx_getxattr_req", _GFID, ("namelen", _U), _NAME)
GfxRemovexattrReq = _req("GfxRemovexattrReq", "gfx_removexattr_req", _GFID, _NAME)
GfxOpendirReq = _req("GfxOpendirReq", "gfx_opendir_req", _GFID)
GfxFsyncdirReq = _req("GfxFsyncdirReq", "gfx_fsyncdir_req", _GFID, _FD, ("data", _I))
GfxAccessReq = _req("GfxAccessReq", "gfx_access_req", _GFID, ("mask", _U))
GfxCreateReq = _req("GfxCreateReq", "gfx_create_req", _PARGFID, _FLAGS, _MODE, _UMASK, _BNAME)
GfxCreateRsp = _rsp(
    "GfxCreateRsp",
    "gfx_create_rsp (fd is u_quad_t here, quad_t elsewhere)",
    ("stat", _IA),
    ("fd", _UH),
    ("preparent", _IA),
    ("postparent", _IA),
)
GfxFtruncateReq = _req("GfxFtruncateReq", "gfx_ftruncate_req", _GFID, _FD, _OFFSET)
GfxFstatReq = _req("GfxFstatReq", "gfx_fstat_req", _GFID, _FD)
GfxLkReq = _req("GfxLkReq", "gfx_lk_req", _GFID, _FD, _CMD, _TYPE, _FLOCK)
GfxLkRsp = _rsp("GfxLkRsp", "gfx_lk_rsp", _FLOCK)
GfxLookupReq = _req(
    "GfxLookupReq",
    "gfx_lookup_req: by gfid (nameless) or by pargfid + bname",
    _GFID,
    _PARGFID,
    _FLAGS,
    _BNAME,
)
GfxReaddirReq = _req("GfxReaddirReq", "gfx_readdir_req", _GFID, _FD, _OFFSET, _SIZE)
GfxReaddirRsp = _rsp(
    "GfxReaddirRsp",
    "gfx_readdir_rsp; reply = list of GfxDirlist (the wire's linked list)",
    ("reply", xdr.LinkedList(GfxDirlist)),
)
GfxInodelkReq = _req("GfxInodelkReq", "gfx_inodelk_req", _GFID, _CMD, _TYPE, _FLOCK, _VOLUME)
GfxFinodelkReq = _req(
    "GfxFinodelkReq", "gfx_finodelk_req", _GFID, _FD, _CMD, _TYPE, _FLOCK, _VOLUME
)
GfxEntrylkReq = _req(
    "GfxEntrylkReq",
    "gfx_entrylk_req (namelen is u_quad_t)",
    _GFID,
    _CMD,
    _TYPE,
    ("namelen", _UH),
    _NAME,
    _VOLUME,
)
GfxFentrylkReq = _req(
    "GfxFentrylkReq",
    "gfx_fentrylk_req",
    _GFID,
    _FD,
    _CMD,
    _TYPE,
    ("namelen", _UH),
    _NAME,
    _VOLUME,
)
GfxXattropReq = _req("GfxXattropReq", "gfx_xattrop_req", _GFID, _FLAGS, _DICT)
GfxFxattropReq = _req("GfxFxattropReq", "gfx_fxattrop_req", _GFID, _FD, _FLAGS, _DICT)
GfxFgetxattrReq = _req("GfxFgetxattrReq", "gfx_fgetxattr_req", _GFID, _FD, ("namelen", _U), _NAME)
GfxFsetxattrReq = _req("GfxFsetxattrReq", "gfx_fsetxattr_req", _GFID, _FD, _FLAGS, _DICT)
GfxRchecksumReq = _req(
    "GfxRchecksumReq", "gfx_rchecksum_req", _GFID, _FD, _OFFSET, ("len", _U), _FLAGS
)
GfxRchecksumRsp = _rsp(
    "GfxRchecksumRsp",
    "gfx_rchecksum_rsp",
    _FLAGS,
    ("weak_checksum", _U),
    ("strong_checksum", xdr.Opaque()),
)
GfxSetattrReq = _req(
    "GfxSetattrReq",
    "gfx_setattr_req (valid = GF_SET_ATTR_* mask of stbuf fields to apply)",
    _GFID,
    ("stbuf", _IA),
    ("valid", _I),
)
GfxFsetattrReq = _req(
    "GfxFsetattrReq", "gfx_fsetattr_req", _GFID, _FD, ("stbuf", _IA), ("valid", _I)
)
GfxReaddirpReq = _req("GfxReaddirpReq", "gfx_readdirp_req", _GFID, _FD, _OFFSET, _SIZE)
GfxReaddirpRsp = _rsp(
    "GfxReaddirpRsp",
    "gfx_readdirp_rsp; reply = list of GfxDirplist (dirent, iatt, dict)",
    ("reply", xdr.LinkedList(GfxDirplist)),
)
GfxReleaseReq = _req("GfxReleaseReq", "gfx_release_req", _GFID, _FD)
GfxReleasedirReq = _req(
    "GfxReleasedirReq", "gfx_releasedir_req (same layout as gfx_release_req)", _GFID, _FD
)
GfxFremovexattrReq = _req("GfxFremovexattrReq", "gfx_fremovexattr_req", _GFID, _FD, _NAME)
GfxFallocateReq = _req(
    "GfxFallocateReq", "gfx_fallocate_req", _GFID, _FD, _FLAGS, _OFFSET, ("size", _UH)
)
GfxDiscardReq = _req("GfxDiscardReq", "gfx_discard_req", _GFID, _FD, _OFFSET, ("size", _UH))
GfxZerofillReq = _req("GfxZerofillReq", "gfx_zerofill_req", _GFID, _FD, _OFFSET, ("size", _UH))
GfxIpcReq = _req("GfxIpcReq", "gfx_ipc_req", ("op", _I))
GfxSeekReq = _req(
    "GfxSeekReq",
    "gfx_seek_req (what: gf_seek_what_t, GF_SEEK_DATA 0 / GF_SEEK_HOLE 1)",
    _GFID,
    _FD,
    _OFFSET,
    ("what", _I),
)
GfxSeekRsp = _rsp("GfxSeekRsp", "gfx_seek_rsp", _OFFSET)
_LEASE: Final[_Field] = ("lease", OrZero(GfProtoLease))
GfxLeaseReq = _req("GfxLeaseReq", "gfx_lease_req", _GFID, _LEASE)
GfxLeaseRsp = _rsp("GfxLeaseRsp", "gfx_lease_rsp", _LEASE)
GfxGetactivelkReq = _req("GfxGetactivelkReq", "gfx_getactivelk_req", _GFID)
GfxGetactivelkRsp = _rsp(
    "GfxGetactivelkRsp", "gfx_getactivelk_rsp", ("reply", xdr.LinkedList(Gfs3Locklist))
)
GfxSetactivelkReq = _req(
    "GfxSetactivelkReq", "gfx_setactivelk_req", _GFID, ("request", xdr.LinkedList(Gfs3Locklist))
)
GfxIcreateReq = _req("GfxIcreateReq", "gfx_icreate_req", _GFID, _MODE)
GfxNamelinkReq = _req("GfxNamelinkReq", "gfx_namelink_req", _PARGFID, _BNAME)
GfxPutReq = _req(
    "GfxPutReq",
    "gfx_put_req (defined, but the 10.3 v400 brick has no PUT actor)",
    _PARGFID,
    _BNAME,
    _MODE,
    _UMASK,
    _FLAG,
    _OFFSET,
    _SIZE,
    ("xattr", _D),
)
GfxCopyFileRangeReq = _req(
    "GfxCopyFileRangeReq",
    "gfx_copy_file_range_req",
    ("gfid1", _G),
    ("gfid2", _G),
    ("fd_in", _H),
    ("fd_out", _H),
    ("off_in", _UH),
    ("off_out", _UH),
    _SIZE,
    _FLAG,
)
