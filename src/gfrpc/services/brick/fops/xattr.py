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
  answer the new values; GET_AND_SET (4) stores the operand and answers the old value. Other
  ops are EINVAL, as in posix. The read-modify-write is atomic per brick. gfrpc answers a
  GET_AND_SET at most ``NAMED_XATTRS_MAX`` (64 KiB) of old values, E2BIG beyond, with nothing
  stored (posix answers any; a reply is reserved before it is made, ``fops._SIZED``).
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
from gfrpc.services.brick.store import NAMED_XATTRS_MAX, Target
from gfrpc.wire.gfdict import GfValue
from gfrpc.wire.xdr import XdrStruct

if TYPE_CHECKING:
    from gfrpc.services.brick.fops import FopService

XATTROP_ADD_ARRAY, XATTROP_ADD_ARRAY64, XATTROP_GET_AND_SET = 0, 1, 4
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


def _combine(op: int, old: bytes, operand: bytes) -> bytes:
    width = 4 if op == XATTROP_ADD_ARRAY else 8
    if len(operand) % width:
        raise OSError(errno.EINVAL, "xattrop operand is not a whole array")
    mask = (1 << (8 * width)) - 1
    out = bytearray()
    for i in range(0, len(operand), width):
        total = (
            int.from_bytes(old[i : i + width], "big", signed=True)
            + int.from_bytes(operand[i : i + width], "big", signed=True)
        ) & mask
        out += total.to_bytes(width, "big")
    return bytes(out)


def _xattrop(svc: FopService, target: Target, op: int, d: Xdata | None) -> FopReply:
    if op not in (XATTROP_ADD_ARRAY, XATTROP_ADD_ARRAY64, XATTROP_GET_AND_SET):
        raise OSError(errno.EINVAL, f"unknown xattrop type {op}")
    result: dict[str, bytes] = {}
    with _xattrop_lock:
        if op == XATTROP_GET_AND_SET:
            return _get_and_set(svc, target, d)
        for key, value in (d or {}).items():
            operand = xattr_bytes(value)
            old = _old_value(svc, target, key, len(operand))
            old = old[: len(operand)].ljust(len(operand), b"\0")
            if not any(operand):
                result[key] = old
                continue
            new = _combine(op, old, operand)
            svc.store.setxattr(target, [(key, new)])
            result[key] = new
    return fp.GfxCommonDictRsp(op_ret=0, op_errno=0, dict=result)


def _old_value(svc: FopService, target: Target, key: str, missing: int) -> bytes:
    """The stored value of ``key``, or ``missing`` zero bytes when there is none."""
    try:
        return svc.store.getxattr(target, key)[key]
    except OSError as exc:
        if exc.errno != errno.ENODATA:
            raise
        return bytes(missing)


def _get_and_set(svc: FopService, target: Target, d: Xdata | None) -> FopReply:
    """GET_AND_SET: store each operand and answer the old values. Those may be far longer
    than the operands (a 64 KiB value for a 1-byte operand), so past ``NAMED_XATTRS_MAX`` of
    them the request is E2BIG, found before anything is stored (the reply's reservation,
    ``fops._xattrop_size``, counts on it)."""
    changes = [(key, xattr_bytes(value)) for key, value in (d or {}).items()]
    result: dict[str, bytes] = {}
    total = 0
    for key, operand in changes:
        old = result[key] = _old_value(svc, target, key, len(operand))
        total += len(old)
        if total > NAMED_XATTRS_MAX:
            raise OSError(errno.E2BIG, f"the old values pass the {NAMED_XATTRS_MAX} bytes answered")
    for key, operand in changes:
        svc.store.setxattr(target, [(key, operand)])
    return fp.GfxCommonDictRsp(op_ret=0, op_errno=0, dict=result)


def xattrop(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    return _xattrop(svc, bytes(a.gfid), a.flags, a.dict)


def fxattrop(svc: FopService, call: FopCall) -> FopReply:
    a = call.args
    return _xattrop(svc, call.client.target(bytes(a.gfid), a.fd), a.flags, a.dict)


def ipc(svc: FopService, call: FopCall) -> FopReply:
    raise OSError(errno.EOPNOTSUPP, "no translator handles this IPC")
