"""GlusterFS Handshake (14398633 v2): SETVOLUME, GETSPEC and PING.

The ``dict`` and ``xdata`` fields carry the *old serialized dict*
(``gfrpc.wire.gfdict.encode_serialized_dict`` / ``decode_serialized_dict``), as raw bytes here.
PING is answered with ``gf_common_rsp``, re-exported from :mod:`gfrpc.programs.dump`.
"""

from __future__ import annotations

from typing import Final

from gfrpc.programs.dump import OP_RESULT, GfCommonRsp
from gfrpc.wire import xdr

__all__ = [
    "GF_HNDSK_PROGRAM",
    "GF_HNDSK_VERSION",
    "NULL",
    "SETVOLUME",
    "GETSPEC",
    "PING",
    "SET_LK_VER",
    "EVENT_NOTIFY",
    "GET_VOLUME_INFO",
    "GET_SNAPSHOT_INFO",
    "GfSetvolumeReq",
    "GfSetvolumeRsp",
    "GfGetspecReq",
    "GfGetspecRsp",
    "GfSetLkVerReq",
    "GfSetLkVerRsp",
    "GfCommonRsp",
]

GF_HNDSK_PROGRAM: Final = 14398633
GF_HNDSK_VERSION: Final = 2
NULL: Final = 0
SETVOLUME: Final = 1
GETSPEC: Final = 2
PING: Final = 3
SET_LK_VER: Final = 4
EVENT_NOTIFY: Final = 5
GET_VOLUME_INFO: Final = 6
GET_SNAPSHOT_INFO: Final = 7

GfSetvolumeReq = xdr.struct(
    "GfSetvolumeReq", [("dict", xdr.Opaque(), b"")], doc="gf_setvolume_req { opaque dict<> }"
)
GfSetvolumeRsp = xdr.struct(
    "GfSetvolumeRsp",
    [*OP_RESULT, ("dict", xdr.Opaque(), b"")],
    doc="gf_setvolume_rsp { int op_ret; int op_errno; opaque dict<> }",
)
GfGetspecReq = xdr.struct(
    "GfGetspecReq",
    [("flags", xdr.UInt, 0), ("key", xdr.String(), ""), ("xdata", xdr.Opaque(), b"")],
    doc="gf_getspec_req { unsigned flags; string key<>; opaque xdata<> }",
)
GfGetspecRsp = xdr.struct(
    "GfGetspecRsp",
    [*OP_RESULT, ("spec", xdr.String(), ""), ("xdata", xdr.Opaque(), b"")],
    doc="gf_getspec_rsp { int op_ret; int op_errno; string spec<>; opaque xdata<> }",
)
GfSetLkVerReq = xdr.struct(
    "GfSetLkVerReq",
    [("uid", xdr.String(), ""), ("lk_ver", xdr.Int, 0)],
    doc="gf_set_lk_ver_req { string uid<>; int lk_ver }",
)
GfSetLkVerRsp = xdr.struct(
    "GfSetLkVerRsp",
    [*OP_RESULT, ("lk_ver", xdr.Int, 0)],
    doc="gf_set_lk_ver_rsp { int op_ret; int op_errno; int lk_ver }",
)
