"""XATTROP and FXATTROP against a real GlusterFS 10.3 brick, beside the gfrpc brick: the
replicate translator's changelog arithmetic (ADD_ARRAY of big-endian int32 arrays, a missing
key counting as zeros, an all-zero operand only reading; ADD_ARRAY64), the quota marker's
ADD_ARRAY_WITH_DEFAULT and GET_AND_SET (the old value answered, read into as many bytes as the
operand has: ERANGE when it is longer) must answer the same on both, and leave the same
values."""

from __future__ import annotations

import errno
import struct

import pytest
from brick_fops_support import FopClient, P, new_file

from gfrpc.programs import fops as fp
from gfrpc.services.brick.fops.xattr import (
    XATTROP_ADD_ARRAY,
    XATTROP_ADD_ARRAY64,
    XATTROP_ADD_ARRAY_WITH_DEFAULT,
    XATTROP_GET_AND_SET,
)

pytestmark = pytest.mark.timeout(120)

AFR = "trusted.afr.interop-client-0"
QUOTA = "trusted.interop.size"
SWAP = "user.interop.swap"
DIRS = "trusted.interop.dirs"
ODD = "trusted.interop.odd"


def _int32s(*values: int) -> bytes:
    return struct.pack(f">{len(values)}i", *values)


def _answers(c: FopClient) -> list[object]:
    """Run one sequence of XATTROPs and FXATTROPs on a new file; what each answered (op_ret,
    op_errno, the reply dict's values as bytes), then the values left on the file."""
    gfid, fd, _ = new_file(c, "xo")
    out: list[object] = []

    def xattrop(op: int, changes: dict[str, bytes], *, on_fd: bool = False) -> None:
        if on_fd:
            r = c.call(P.FXATTROP, fp.GfxFxattropReq(gfid=gfid, fd=fd, flags=op, dict=changes))
        else:
            r = c.call(P.XATTROP, fp.GfxXattropReq(gfid=gfid, flags=op, dict=changes))
        values = {k: bytes(getattr(v, "value", v)) for k, v in (r.dict or {}).items()}
        out.append((r.op_ret, r.op_errno if r.op_ret < 0 else 0, values))

    xattrop(XATTROP_ADD_ARRAY, {AFR: _int32s(0, 0, 1)})  # missing: counted as zeros
    xattrop(XATTROP_ADD_ARRAY, {AFR: _int32s(0, 2, -1)}, on_fd=True)
    xattrop(XATTROP_ADD_ARRAY, {AFR: bytes(12)})  # all zeros: only reads
    xattrop(XATTROP_ADD_ARRAY64, {QUOTA: struct.pack(">q", 5)})
    xattrop(XATTROP_ADD_ARRAY64, {QUOTA: struct.pack(">q", -7)}, on_fd=True)
    xattrop(XATTROP_GET_AND_SET, {SWAP: b"first"})  # missing: nothing answered
    xattrop(XATTROP_GET_AND_SET, {SWAP: b"second"})  # the old value, padded to 6 bytes
    xattrop(XATTROP_GET_AND_SET, {SWAP: b"x"})  # 6 bytes stored do not fit in 1: ERANGE
    xattrop(XATTROP_ADD_ARRAY_WITH_DEFAULT, {DIRS: _int32s(1, 0) + _int32s(10, 20)})
    xattrop(XATTROP_ADD_ARRAY_WITH_DEFAULT, {DIRS: _int32s(1, 1) + _int32s(10, 20)})
    xattrop(XATTROP_ADD_ARRAY, {ODD: _int32s(1) + b"\x07\x07"})  # 2 bytes past the array
    xattrop(2, {AFR: bytes(12)})  # OR_ARRAY, which posix lacks: an all-zero operand reads
    xattrop(2, {AFR: _int32s(0, 0, 1)})  # and any other is EINVAL
    for key in (AFR, QUOTA, SWAP, DIRS, ODD):
        got = c.call(P.GETXATTR, fp.GfxGetxattrReq(gfid=gfid, namelen=len(key), name=key))
        out.append((key, got.op_ret, bytes(getattr(got.dict[key], "value", got.dict[key]))))
    c.release(gfid, fd)
    return out


def test_xattrop_answers_as_a_real_brick_does(real_fops: FopClient, gfrpc_fops: FopClient) -> None:
    """Rule: the same XATTROPs and FXATTROPs on a new file get the same answers from the gfrpc
    brick as from glusterfsd (new values for ADD_ARRAY(64), old ones for GET_AND_SET) and leave
    the same values."""
    theirs = _answers(real_fops)
    assert theirs[0] == (0, 0, {AFR: _int32s(0, 0, 1)})  # the real brick's arithmetic
    assert theirs[5:8] == [  # GET_AND_SET: nothing, the old value padded, then ERANGE
        (0, 0, {}),
        (0, 0, {SWAP: b"first\0"}),
        (-1, errno.ERANGE, {}),
    ]
    assert _answers(gfrpc_fops) == theirs
