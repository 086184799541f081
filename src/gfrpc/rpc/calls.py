"""What an RPC call sends and what comes back: credentials and replies (client side).

GlusterFS's client credentials (``default_credential``: AUTH_GLUSTERFS_v2 for GF-DUMP DUMP,
v3 for everything else), the conversion of what callers give to the wire's ``OpaqueAuth``, the
:class:`Reply` of a successful call and the :class:`~gfrpc.errors.RpcError` an unsuccessful
reply header stands for (``reply_error``).
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Iterable
from typing import Protocol

from gfrpc.errors import RpcError
from gfrpc.programs import dump as gfdump
from gfrpc.wire import rpcmsg

__all__ = [
    "Completion",
    "DISCARD",
    "Discarded",
    "Args",
    "Buffer",
    "CredentialLike",
    "Reply",
    "default_credential",
    "fail",
    "reply_error",
    "to_auth",
]

Buffer = bytes | bytearray | memoryview
Args = Buffer | Iterable[Buffer]
#: a credential as callers give it: typed (``rpcmsg.GlusterCredV3`` ...) or as on the wire
CredentialLike = rpcmsg.Credential | rpcmsg.OpaqueAuth

log = logging.getLogger("gfrpc.rpc.client")  # the client's logger: these are its calls


class Reply:
    """A successful reply: ``header`` (``rpcmsg.ReplyHeader``) and ``body``, a memoryview of
    the program results followed by any raw payload."""

    __slots__ = ("header", "body")

    def __init__(self, header: rpcmsg.ReplyHeader, body: memoryview) -> None:
        self.header = header
        self.body = body

    @property
    def xid(self) -> int:
        return int(self.header.xid)

    def __repr__(self) -> str:
        return f"Reply(xid={self.xid}, body={len(self.body)} bytes)"


def reply_error(header: rpcmsg.ReplyHeader) -> RpcError | None:
    """The RpcError a reply header stands for, or None when it is MSG_ACCEPTED/SUCCESS."""
    if header.reply_stat == rpcmsg.MSG_ACCEPTED:
        if header.accept_stat == rpcmsg.AcceptStat.SUCCESS:
            return None
        stat = _name(rpcmsg.AcceptStat, header.accept_stat)
        if header.accept_stat == rpcmsg.AcceptStat.PROG_MISMATCH:
            return _mismatch(header, stat, stat, "supported")
        return RpcError(f"xid {header.xid}: {stat}", stat=stat)
    stat = _name(rpcmsg.RejectStat, header.reject_stat)
    if header.reject_stat == rpcmsg.RejectStat.RPC_MISMATCH:
        return _mismatch(header, stat, f"MSG_DENIED {stat}", "rpc")
    return RpcError(
        f"xid {header.xid}: MSG_DENIED {stat} (auth_stat {header.auth_stat})", stat=stat
    )


def _mismatch(header: rpcmsg.ReplyHeader, stat: str, what: str, kind: str) -> RpcError:
    """PROG_MISMATCH / RPC_MISMATCH, with the peer's lowest and highest versions."""
    low, high = header.mismatch_low, header.mismatch_high
    return RpcError(
        f"xid {header.xid}: {what} ({kind} versions {low}..{high})", stat=stat, low=low, high=high
    )


def _name(kind: type[enum.IntEnum], value: int | None) -> str:
    if value is not None:
        try:
            return str(kind(value).name)
        except ValueError:
            pass
    return str(value)


def default_credential(prog: int, proc: int) -> rpcmsg.GlusterCredV2 | rpcmsg.GlusterCredV3:
    """What GlusterFS's client sends: AUTH_GLUSTERFS_v2 for GF-DUMP DUMP, v3 otherwise."""
    pid = os.getpid()
    if prog == gfdump.GF_DUMP_PROGRAM and proc == gfdump.DUMP:
        return rpcmsg.GlusterCredV2(pid=pid, uid=os.getuid(), gid=os.getgid())
    return rpcmsg.GlusterCredV3(pid=pid, uid=os.getuid(), gid=os.getgid())


def to_auth(cred: CredentialLike | None) -> rpcmsg.OpaqueAuth:
    """Accept an ``OpaqueAuth`` or a typed credential (anything with ``to_auth()``)."""
    if cred is None:
        return rpcmsg.AUTH_NONE
    if isinstance(cred, rpcmsg.OpaqueAuth):
        return cred
    return cred.to_auth()


class Completion(Protocol):
    """What the call table needs of a call's completion: a Future or a ``Waiter``."""

    def done(self) -> bool: ...
    def set_result(self, result: Reply) -> None: ...
    def set_exception(self, exception: BaseException | None) -> None: ...


class Discarded:
    """The completion of ``RpcClient.send`` (one, ``DISCARD``, serves every such call): the
    reply is dropped, a failure logged at debug level."""

    __slots__ = ()

    def done(self) -> bool:
        return False

    def set_result(self, result: Reply) -> None:
        pass

    def set_exception(self, exception: BaseException | None) -> None:
        log.debug("a call sent without waiting failed: %s", exception)


DISCARD = Discarded()


def fail(future: Completion, exc: BaseException) -> None:
    """Complete ``future`` with ``exc`` unless it is already done (then nothing happens)."""
    try:
        future.set_exception(exc)
    except Exception:
        pass
