"""FOP actors on extended attributes: GETXATTR, FGETXATTR, SETXATTR, FSETXATTR, REMOVEXATTR,
FREMOVEXATTR, XATTROP, FXATTROP; and IPC.

GlusterFS 10.3 facts kept here (posix xlator):

* GETXATTR of one name answers ``{name: value}`` with ``op_ret`` = the value's size; an empty
  name lists every visible attribute (``op_ret`` = their total size). A missing attribute is
  ENODATA. Values travel as binary (gfx_dict PTR) and are stored as the exact bytes sent; a
  string value keeps the NUL GlusterFS's dict puts in its length, an integer is its decimal
  string with NUL (how GlusterFS's typed dict data reaches ``setxattr``).
* Which keys a client may see or change is the store's rule (``store.xattr``): the brick's
  identity keys are EPERM to set or remove.
* XATTROP: GF_XATTROP_ADD_ARRAY (0) / ADD_ARRAY64 (1) add big-endian int32 / int64 arrays to
  the stored ones (a missing attribute counts as zeros; an all-zero operand only reads) and
  answer the new values; the WITH_DEFAULT forms (5, 6; the quota marker's) carry the defaults
  as a second array, added where the stored element is 0; GET_AND_SET (4; the quota marker's
  and shard's) stores the operand and answers the old value, nothing for a missing key. The
  stored value is read into a buffer as long as the operand (zero-padded), so a longer one is
  ERANGE and no answer is longer than the request: checked against a real 10.3 brick
  (tests/interop/test_xattrop_interop.py). Other ops are EINVAL unless the operand is all
  zeros (then they only read), as in posix. The read-modify-write is atomic per brick.
* IPC is for translators the brick does not have: EOPNOTSUPP, as ``posix_ipc``.
* Access (``access.py``, posix-acl's rules): GETXATTR needs read permission except for the ACL
  keys; SETXATTR of an ACL key is for the owner only, of any other key needs write permission;
  REMOVEXATTR likewise, plus write permission for the ACL keys too. The fd variants and
  XATTROP/FXATTROP are not checked, as in GlusterFS 10.3 (the fd variants are with
  strict mode (``FopCall.strict``)).
"""

from __future__ import annotations

import errno
import threading
import uuid
from typing import TYPE_CHECKING

from gfrpc.programs import fops as fp
from gfrpc.services.brick import access
from gfrpc.services.brick.fops.common import FopCall, FopReply, Xdata
from gfrpc.services.brick.store import Target
from gfrpc.wire.gfdict import GfValue
from gfrpc.wire.xdr import XdrStruct

if TYPE_CHECKING:
    from gfrpc.services.brick.fops import FopService

XATTROP_ADD_ARRAY, XATTROP_ADD_ARRAY64, XATTROP_GET_AND_SET = 0, 1, 4
XATTROP_ADD_ARRAY_WITH_DEFAULT, XATTROP_ADD_ARRAY64_WITH_DEFAULT = 5, 6
_ADDS = (
    XATTROP_ADD_ARRAY,
    XATTROP_ADD_ARRAY64,
    XATTROP_ADD_ARRAY_WITH_DEFAULT,
    XATTROP_ADD_ARRAY64_WITH_DEFAULT,
)
XATTR_FLAGS = 0x3  # XATTR_CREATE | XATTR_REPLACE; GlusterFS keeps internal bits above them
_xattrop_lock = threading.Lock()


def xattr_bytes(value: object) -> bytes:
    """The bytes a dict value becomes in the backend xattr (see the module docstring)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape") + b"\0"
    if isinstance(value, bool | int | float):
        return f"{value}".encode() + b"\0"
    if isinstance(value, uuid.UUID):
        return value.bytes
    if isinstance(value, GfValue):
        inner = value.value
        return inner if isinstance(inner, bytes) else xattr_bytes(inner)
    raise OSError(errno.EINVAL, f"unsupported xattr value {type(value).__name__}")


def _dict_rsp(values: dict[str, bytes]) -> XdrStruct:
    return fp.GfxCommonDictRsp(op_ret=sum(len(v) for v in values.values()), op_errno=0, dict=values)


def getxattr(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    access.check_getxattr(svc.store, bytes(a.gfid), a.name, call)
    return _dict_rsp(svc.store.getxattr(bytes(a.gfid), a.name or None))


def fgetxattr(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    target = call.client.target(bytes(a.gfid), a.fd)
    if call.strict:
        access.check_getxattr(svc.store, target, a.name, call)
    return _dict_rsp(svc.store.getxattr(target, a.name or None))


def _set(
    svc: FopService, target: Target, d: Xdata | None, flags: int, call: FopCall | None = None
) -> FopReply:
    if not d:
        raise OSError(errno.EINVAL, "setxattr without a dict")
    if call is not None:
        access.check_setxattr(svc.store, target, list(d), call)
    pairs = [(k, xattr_bytes(v)) for k, v in d.items()]
    svc.store.setxattr(target, pairs, flags & XATTR_FLAGS)
    return fp.GfxCommonRsp(op_ret=0, op_errno=0)


def setxattr(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    return _set(svc, bytes(a.gfid), a.dict, a.flags, call)


def fsetxattr(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    return _set(
        svc, call.client.target(bytes(a.gfid), a.fd), a.dict, a.flags, call if call.strict else None
    )


def removexattr(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    access.check_removexattr(svc.store, bytes(a.gfid), a.name, call)
    svc.store.removexattr(bytes(a.gfid), a.name)
    return fp.GfxCommonRsp(op_ret=0, op_errno=0)


def fremovexattr(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    target = call.client.target(bytes(a.gfid), a.fd)
    if call.strict:
        access.check_removexattr(svc.store, target, a.name, call)
    svc.store.removexattr(target, a.name)
    return fp.GfxCommonRsp(op_ret=0, op_errno=0)


def _added(op: int, old: bytes, operand: bytes) -> bytes:
    """``old`` (as long as the stored part of ``operand``) plus ``operand``, element by element:
    big-endian int32s (ADD_ARRAY) or int64s (ADD_ARRAY64), wrapping. The WITH_DEFAULT forms'
    operands are two arrays, what to add and the defaults: an element stored as 0 (or missing)
    becomes their sum. Bytes past the last whole element keep their old value, as posix's."""
    width = 4 if op in (XATTROP_ADD_ARRAY, XATTROP_ADD_ARRAY_WITH_DEFAULT) else 8
    with_default = op in (XATTROP_ADD_ARRAY_WITH_DEFAULT, XATTROP_ADD_ARRAY64_WITH_DEFAULT)
    size = len(old)
    mask = (1 << (8 * width)) - 1
    out = bytearray(old)
    for i in range(0, size - size % width, width):
        stored = int.from_bytes(old[i : i + width], "big", signed=True)
        total = stored + int.from_bytes(operand[i : i + width], "big", signed=True)
        if with_default and stored == 0:
            total += int.from_bytes(operand[size + i : size + i + width], "big", signed=True)
        out[i : i + width] = (total & mask).to_bytes(width, "big")
    return bytes(out)


def _stored(svc: FopService, target: Target, key: str, size: int) -> bytes | None:
    """The stored value of ``key`` read into ``size`` bytes, zero-padded as posix's buffer is;
    None when there is none; ERANGE when it is longer than ``size``, as posix's ``getxattr``
    into that buffer fails."""
    try:
        value = svc.store.getxattr(target, key)[key]
    except OSError as exc:
        if exc.errno != errno.ENODATA:
            raise
        return None
    if len(value) > size:
        raise OSError(errno.ERANGE, f"{key} holds {len(value)} bytes, more than the {size} given")
    return value.ljust(size, b"\0")


def _xattrop(svc: FopService, target: Target, op: int, d: Xdata | None) -> FopReply:
    """Each key of ``d`` in turn, as posix's xattrop does (a key that fails leaves the keys
    before it done): the stored value is read into as many bytes as the operand has (half of
    them for the WITH_DEFAULT forms); an ADD with an all-zero operand only reads (and answers
    zeros for a missing key without storing it), any other adds and stores; GET_AND_SET
    stores the operand and answers the old value, or nothing for a missing key. So no answer
    is longer than its operand."""
    result: dict[str, bytes] = {}
    with _xattrop_lock:
        for key, value in (d or {}).items():
            operand = xattr_bytes(value)
            halves = op in (XATTROP_ADD_ARRAY_WITH_DEFAULT, XATTROP_ADD_ARRAY64_WITH_DEFAULT)
            size = len(operand) // 2 if halves else len(operand)
            old = _stored(svc, target, key, size)
            if op == XATTROP_GET_AND_SET:
                svc.store.setxattr(target, [(key, operand)])
                if old is not None:
                    result[key] = old
                continue
            old = bytes(size) if old is None else old
            if not any(operand):
                result[key] = old
                continue
            if op not in _ADDS:
                raise OSError(errno.EINVAL, f"unknown xattrop type {op}")
            new = _added(op, old, operand)
            svc.store.setxattr(target, [(key, new)])
            result[key] = new
    return fp.GfxCommonDictRsp(op_ret=0, op_errno=0, dict=result)


def xattrop(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    return _xattrop(svc, bytes(a.gfid), a.flags, a.dict)


def fxattrop(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    return _xattrop(svc, call.client.target(bytes(a.gfid), a.fd), a.flags, a.dict)


def ipc(svc: FopService, call: FopCall) -> FopReply:
    raise OSError(errno.EOPNOTSUPP, "no translator handles this IPC")
