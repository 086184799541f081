"""Gluster Portmap (34123456 v1), served by glusterd: which port serves a brick.

PORTBYBRICK answers ``op_ret = -1`` for an unknown brick (``status`` is unused); glusterd
never answers BRICKBYPORT. Bricks register with SIGNIN and leave with SIGNOUT.
"""

from __future__ import annotations

from typing import Final

from gfrpc.programs.dump import OP_RESULT
from gfrpc.wire import xdr

__all__ = [
    "PMAP_PROGRAM",
    "PMAP_VERSION",
    "NULL",
    "PORTBYBRICK",
    "BRICKBYPORT",
    "SIGNUP",
    "SIGNIN",
    "SIGNOUT",
    "PmapPortByBrickReq",
    "PmapPortByBrickRsp",
    "PmapBrickByPortReq",
    "PmapBrickByPortRsp",
    "PmapSigninReq",
    "PmapSigninRsp",
    "PmapSignoutReq",
    "PmapSignoutRsp",
]

PMAP_PROGRAM: Final = 34123456
PMAP_VERSION: Final = 1
NULL: Final = 0
PORTBYBRICK: Final = 1
BRICKBYPORT: Final = 2
SIGNUP: Final = 3  # placeholder, unused by GlusterFS
SIGNIN: Final = 4
SIGNOUT: Final = 5

PmapPortByBrickReq = xdr.struct("PmapPortByBrickReq", [("brick", xdr.String())])
PmapPortByBrickRsp = xdr.struct(
    "PmapPortByBrickRsp", [*OP_RESULT, ("status", xdr.Int, 0), ("port", xdr.Int, 0)]
)
PmapBrickByPortReq = xdr.struct("PmapBrickByPortReq", [("port", xdr.Int)])
PmapBrickByPortRsp = xdr.struct(
    "PmapBrickByPortRsp", [*OP_RESULT, ("status", xdr.Int, 0), ("brick", xdr.String(), "")]
)
PmapSigninReq = xdr.struct(
    "PmapSigninReq", [("brick", xdr.String()), ("port", xdr.Int), ("pid", xdr.Int, 0)]
)
PmapSigninRsp = xdr.struct("PmapSigninRsp", OP_RESULT)
PmapSignoutReq = xdr.struct(
    "PmapSignoutReq", [("brick", xdr.String()), ("port", xdr.Int), ("rdma_port", xdr.Int, 0)]
)
PmapSignoutRsp = xdr.struct("PmapSignoutRsp", OP_RESULT)
