"""ONC RPC v2 messages (RFC 5531 §9) with GlusterFS's credential flavors.

``decode_message(record)`` splits a record into a typed header and the body (program
arguments or results, then any raw payload) as a ``memoryview`` - no copy.

Credential size rule (GlusterFS ``xdr-common.h``): a credential body is at most 400 bytes.
Encoding follows the GlusterFS client: groups that do not fit are dropped (with a log warning),
and an lk_owner that does not fit even with no groups is a ``LocalProtocolError``. Decoding a
credential or verifier longer than 400 bytes is a ``RemoteProtocolError``.
"""

from __future__ import annotations

import enum
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple, TypeVar

from gfrpc.errors import LocalProtocolError, RemoteProtocolError
from gfrpc.wire.xdr import XdrReader, XdrWriter

__all__ = [
    "CALL",
    "REPLY",
    "MSG_ACCEPTED",
    "MSG_DENIED",
    "RPC_VERSION",
    "AcceptStat",
    "RejectStat",
    "AuthStat",
    "AUTH_NULL",
    "AUTH_UNIX",
    "AUTH_GLUSTERFS",
    "AUTH_GLUSTERFS_V2",
    "AUTH_GLUSTERFS_V3",
    "MAX_AUTH_BYTES",
    "OpaqueAuth",
    "AUTH_NONE",
    "AuthUnix",
    "GlusterCredV1",
    "GlusterCredV2",
    "GlusterCredV3",
    "decode_credential",
    "default_lk_owner",
    "CallHeader",
    "ReplyHeader",
    "encode_call",
    "encode_accepted_reply",
    "encode_denied_reply",
    "decode_message",
]

log = logging.getLogger(__name__)
_PADS = (b"", b"\0\0\0", b"\0\0", b"\0")
_E = TypeVar("_E", bound=enum.IntEnum)

CALL: Final = 0
REPLY: Final = 1
MSG_ACCEPTED: Final = 0
MSG_DENIED: Final = 1
RPC_VERSION: Final = 2
GF_UNIVERSAL_ANSWER: Final = 42  # msg_type GlusterFS logs as "older version of protocol"

AUTH_NULL: Final = 0
AUTH_UNIX: Final = 1
AUTH_GLUSTERFS: Final = 5
AUTH_GLUSTERFS_V2: Final = 390039
AUTH_GLUSTERFS_V3: Final = 390040
MAX_AUTH_BYTES: Final = 400
V1_GROUPS: Final = 16  # AUTH_GLUSTERFS v1: fixed groups[16]
AUTH_UNIX_MAX_GIDS: Final = 16  # RFC 5531 appendix A: gids<16>
AUTH_UNIX_MAX_NAME: Final = 255


class AcceptStat(enum.IntEnum):
    SUCCESS = 0
    PROG_UNAVAIL = 1
    PROG_MISMATCH = 2
    PROC_UNAVAIL = 3
    GARBAGE_ARGS = 4
    SYSTEM_ERR = 5


class RejectStat(enum.IntEnum):
    RPC_MISMATCH = 0
    AUTH_ERROR = 1


class AuthStat(enum.IntEnum):
    AUTH_OK = 0
    AUTH_BADCRED = 1
    AUTH_REJECTEDCRED = 2
    AUTH_BADVERF = 3
    AUTH_REJECTEDVERF = 4
    AUTH_TOOWEAK = 5
    AUTH_INVALIDRESP = 6
    AUTH_FAILED = 7
    AUTH_KERB_GENERIC = 8
    AUTH_TIMEEXPIRE = 9
    AUTH_TKT_FILE = 10
    AUTH_DECODE = 11
    AUTH_NET_ADDR = 12
    RPCSEC_GSS_CREDPROBLEM = 13
    RPCSEC_GSS_CTXPROBLEM = 14


class OpaqueAuth(NamedTuple):
    """``opaque_auth``: a flavor and its body (at most 400 bytes)."""

    flavor: int
    body: bytes = b""


AUTH_NONE: Final = OpaqueAuth(AUTH_NULL, b"")


def default_lk_owner(pid: int) -> bytes:
    """GlusterFS's lk_owner when a frame has none: 4 bytes, the pid little-endian."""
    return (pid & 0xFFFFFFFF).to_bytes(4, "little")


def _with_opaque(head: bytes, data: bytes) -> bytes:
    return b"".join((head, struct.pack(">I", len(data)), data, _PADS[len(data) & 3]))


def _fit_groups(groups: Sequence[int], fixed_units: int, lk_owner: bytes, flavor: str) -> list[int]:
    """Drop groups that do not fit the 400-byte body, as the GlusterFS client does."""
    lk_units = (len(lk_owner) + 3) // 4
    room = MAX_AUTH_BYTES // 4 - fixed_units - lk_units
    if room < 0:
        raise LocalProtocolError(
            f"{flavor}: lk_owner of {len(lk_owner)} bytes does not fit "
            f"a {MAX_AUTH_BYTES}-byte credential"
        )
    if len(groups) > room:
        log.warning(
            "%s: %d groups do not fit a credential, sending the first %d", flavor, len(groups), room
        )
        return list(groups[:room])
    return list(groups)


@dataclass(frozen=True, slots=True)
class AuthUnix:
    """AUTH_UNIX / AUTH_SYS (RFC 5531 appendix A)."""

    stamp: int
    machinename: str
    uid: int
    gid: int
    gids: Sequence[int] = ()

    def to_auth(self) -> OpaqueAuth:
        w = XdrWriter()
        w.u32(self.stamp)
        w.string(self.machinename, AUTH_UNIX_MAX_NAME)
        w.u32(self.uid)
        w.u32(self.gid)
        w.u32_array(self.gids, AUTH_UNIX_MAX_GIDS)
        return OpaqueAuth(AUTH_UNIX, w.getvalue())

    @classmethod
    def decode(cls, r: XdrReader) -> AuthUnix:
        return cls(
            r.u32(),
            r.string(AUTH_UNIX_MAX_NAME),
            r.u32(),
            r.u32(),
            tuple(r.u32_array(AUTH_UNIX_MAX_GIDS)),
        )


@dataclass(frozen=True, slots=True)
class _GlusterCred:
    """The caller's ids, which every AUTH_GLUSTERFS version starts with (then an lk_owner)."""

    pid: int
    uid: int
    gid: int
    groups: Sequence[int] = ()

    def _auth(
        self, flavor: int, name: str, lk_owner: bytes | None, head: struct.Struct, *fields: int
    ) -> OpaqueAuth:
        """v2 and v3: ``fields`` packed as ``head``, the groups that fit, lk_owner as an opaque."""
        lk = default_lk_owner(self.pid) if lk_owner is None else bytes(lk_owner)
        fixed_units = head.size // 4 + 2  # + the group count and lk_owner's length
        groups = _fit_groups(self.groups, fixed_units, lk, name)
        try:
            body = struct.pack(f"{head.format}I{len(groups)}I", *fields, len(groups), *groups)
        except struct.error as exc:
            raise LocalProtocolError(f"{name}: bad field: {exc}") from None
        return OpaqueAuth(flavor, _with_opaque(body, lk))


@dataclass(frozen=True, slots=True)
class GlusterCredV1(_GlusterCred):
    """AUTH_GLUSTERFS (5), legacy: lk_owner is the u_quad_t as sent; at most 16 groups."""

    lk_owner: int = 0

    def to_auth(self) -> OpaqueAuth:
        if len(self.groups) > V1_GROUPS:
            raise LocalProtocolError(f"AUTH_GLUSTERFS carries at most {V1_GROUPS} groups")
        w = XdrWriter()
        w.u64(self.lk_owner)
        for v in (self.pid, self.uid, self.gid, len(self.groups)):
            w.u32(v)
        for g in (*self.groups, *(0,) * (V1_GROUPS - len(self.groups))):
            w.u32(g)
        return OpaqueAuth(AUTH_GLUSTERFS, w.getvalue())

    @classmethod
    def decode(cls, r: XdrReader) -> GlusterCredV1:
        lk_owner, pid, uid, gid, ngrps = r.u64(), r.u32(), r.u32(), r.u32(), r.u32()
        if ngrps > V1_GROUPS:  # the GlusterFS server refuses ngrps > 16 as well
            raise RemoteProtocolError(f"AUTH_GLUSTERFS with {ngrps} groups (max {V1_GROUPS})")
        groups = [r.u32() for _ in range(V1_GROUPS)]
        return cls(pid, uid, gid, tuple(groups[:ngrps]), lk_owner)


@dataclass(frozen=True, slots=True)
class GlusterCredV2(_GlusterCred):
    """AUTH_GLUSTERFS_v2 (390039): sent by GlusterFS clients with GF-DUMP."""

    lk_owner: bytes | None = None  # None: default_lk_owner(pid)

    def to_auth(self) -> OpaqueAuth:
        ids = (self.pid, self.uid, self.gid)
        return self._auth(AUTH_GLUSTERFS_V2, "AUTH_GLUSTERFS_v2", self.lk_owner, _V2_HEAD, *ids)

    @classmethod
    def decode(cls, r: XdrReader) -> GlusterCredV2:
        return cls(r.i32(), r.u32(), r.u32(), tuple(r.u32_array()), bytes(r.opaque()))


@dataclass(frozen=True, slots=True)
class GlusterCredV3(_GlusterCred):
    """AUTH_GLUSTERFS_v3 (390040): SETVOLUME, PING and FOPs of GlusterFS 4+ clients."""

    lk_owner: bytes | None = None  # None: default_lk_owner(pid)
    flags: int = 0  # 0x1 = internal client
    ctime_sec: int = 0
    ctime_nsec: int = 0

    def to_auth(self) -> OpaqueAuth:
        head = (self.pid, self.uid, self.gid, self.flags, self.ctime_nsec, self.ctime_sec)
        return self._auth(AUTH_GLUSTERFS_V3, "AUTH_GLUSTERFS_v3", self.lk_owner, _V3_HEAD, *head)

    @classmethod
    def decode(cls, r: XdrReader) -> GlusterCredV3:
        pid, uid, gid, flags, nsec, sec = r.unpack(_V3_HEAD, "AUTH_GLUSTERFS_v3 header")
        groups = tuple(r.u32_array())
        return cls(pid, uid, gid, groups, bytes(r.opaque()), flags, sec, nsec)


_V2_HEAD = struct.Struct(">iII")  # pid, uid, gid
_V3_HEAD = struct.Struct(">iIIIIQ")  # pid, uid, gid, flags, ctime_nsec, ctime_sec


Credential = AuthUnix | GlusterCredV1 | GlusterCredV2 | GlusterCredV3
_CRED_TYPES: dict[int, type[Credential]] = {
    AUTH_UNIX: AuthUnix,
    AUTH_GLUSTERFS: GlusterCredV1,
    AUTH_GLUSTERFS_V2: GlusterCredV2,
    AUTH_GLUSTERFS_V3: GlusterCredV3,
}


def decode_credential(auth: OpaqueAuth) -> Credential | None:
    """The typed credential in ``auth``; ``None`` for AUTH_NULL and unknown flavors.

    Trailing bytes after the fields are ignored, as GlusterFS's XDR decoding does.
    """
    cls = _CRED_TYPES.get(auth.flavor)
    if cls is None:
        return None
    if len(auth.body) > MAX_AUTH_BYTES:
        raise RemoteProtocolError(f"credential of {len(auth.body)} bytes (max {MAX_AUTH_BYTES})")
    return cls.decode(XdrReader(auth.body))


class CallHeader(NamedTuple):
    """A CALL; ``cred``/``verf`` as on the wire (``decode_credential`` types the cred)."""

    xid: int
    prog: int
    vers: int
    proc: int
    cred: OpaqueAuth = AUTH_NONE
    verf: OpaqueAuth = AUTH_NONE
    rpcvers: int = RPC_VERSION  # a server answers RPC_MISMATCH when this is not 2


class ReplyHeader(NamedTuple):
    """A REPLY: ``verf``/``accept_stat`` (and low/high for PROG_MISMATCH) when accepted;
    ``reject_stat`` with low/high (RPC_MISMATCH) or ``auth_stat`` (AUTH_ERROR) when denied."""

    xid: int
    reply_stat: int
    verf: OpaqueAuth | None = None
    accept_stat: AcceptStat | None = None
    mismatch_low: int | None = None
    mismatch_high: int | None = None
    reject_stat: RejectStat | None = None
    auth_stat: AuthStat | int | None = None

    @property
    def ok(self) -> bool:
        """Accepted with SUCCESS: the body holds the program's results."""
        return self.reply_stat == MSG_ACCEPTED and self.accept_stat == AcceptStat.SUCCESS


_CALL_HEAD = struct.Struct(">IIIIIIII")  # xid, CALL, rpcvers, prog, vers, proc, flavor, len
_REPLY_OK = struct.Struct(">IIIIII")  # xid, REPLY, ACCEPTED, verf 0/0, stat
_II = struct.Struct(">II")
SUCCESS_STAT = int(AcceptStat.SUCCESS)
_ACCEPT_STATS = frozenset(int(s) for s in AcceptStat)


def _auth_bytes(auth: OpaqueAuth | Credential) -> tuple[int, bytes]:
    if not isinstance(auth, OpaqueAuth):
        auth = auth.to_auth()
    if len(auth.body) > MAX_AUTH_BYTES:
        raise LocalProtocolError(f"auth body of {len(auth.body)} bytes (max {MAX_AUTH_BYTES})")
    return auth.flavor, auth.body


#: encoded credential + AUTH_NONE verifier of the credentials calls were made with (bounded)
_CALL_AUTHS: dict[OpaqueAuth, bytes] = {}
_CALL_AUTHS_KEPT = 256
_CALL_FIXED = struct.Struct(">IIIIII")  # xid, CALL, rpcvers, prog, vers, proc


def _call_auths(cred: OpaqueAuth) -> bytes:
    flavor, body = _auth_bytes(cred)
    auths = b"".join(
        (_II.pack(flavor, len(body)), body, _PADS[len(body) & 3], _II.pack(AUTH_NULL, 0))
    )
    if len(_CALL_AUTHS) >= _CALL_AUTHS_KEPT:
        _CALL_AUTHS.clear()
    _CALL_AUTHS[cred] = auths
    return auths


def encode_call(
    xid: int,
    prog: int,
    vers: int,
    proc: int,
    cred: OpaqueAuth | Credential = AUTH_NONE,
    verf: OpaqueAuth | Credential = AUTH_NONE,
) -> bytes:
    """The CALL header (no record mark, no arguments)."""
    if verf is AUTH_NONE and type(cred) is OpaqueAuth and type(cred.body) is bytes:
        # the hot path (every call of a client): its credential's bytes are made once
        auths = _CALL_AUTHS.get(cred)
        if auths is None:
            auths = _call_auths(cred)
        try:
            return _CALL_FIXED.pack(xid, CALL, RPC_VERSION, prog, vers, proc) + auths
        except struct.error as exc:
            raise LocalProtocolError(f"bad CALL header field: {exc}") from None
    cflavor, cbody = _auth_bytes(cred)
    vflavor, vbody = _auth_bytes(verf)
    try:
        head = _CALL_HEAD.pack(xid, CALL, RPC_VERSION, prog, vers, proc, cflavor, len(cbody))
        tail = struct.pack(">II", vflavor, len(vbody))
    except struct.error as exc:
        raise LocalProtocolError(f"bad CALL header field: {exc}") from None
    return b"".join((head, cbody, _PADS[len(cbody) & 3], tail, vbody, _PADS[len(vbody) & 3]))


def encode_accepted_reply(
    xid: int,
    accept_stat: int = AcceptStat.SUCCESS,
    verf: OpaqueAuth = AUTH_NONE,
    low: int | None = None,
    high: int | None = None,
) -> bytes:
    """An accepted REPLY header; PROG_MISMATCH needs ``low``/``high`` (supported versions)."""
    if accept_stat == SUCCESS_STAT and verf.flavor == AUTH_NULL and not verf.body:
        try:  # the hot path: every successful reply
            return _REPLY_OK.pack(xid, REPLY, MSG_ACCEPTED, 0, 0, SUCCESS_STAT)
        except struct.error as exc:
            raise LocalProtocolError(f"bad REPLY header field: {exc}") from None
    if accept_stat not in _ACCEPT_STATS:
        raise LocalProtocolError(f"unknown accept_stat {accept_stat}")
    if accept_stat == AcceptStat.PROG_MISMATCH and (low is None or high is None):
        raise LocalProtocolError("PROG_MISMATCH needs low and high versions")
    w = XdrWriter()
    if verf.flavor == AUTH_NULL and not verf.body:
        try:
            w.raw(_REPLY_OK.pack(xid, REPLY, MSG_ACCEPTED, 0, 0, accept_stat))
        except struct.error as exc:
            raise LocalProtocolError(f"bad REPLY header field: {exc}") from None
    else:
        w.u32(xid)
        w.u32(REPLY)
        w.u32(MSG_ACCEPTED)
        w.u32(verf.flavor)
        w.opaque(verf.body, MAX_AUTH_BYTES)
        w.u32(accept_stat)
    if accept_stat == AcceptStat.PROG_MISMATCH:
        assert low is not None and high is not None
        w.u32(low)
        w.u32(high)
    return w.getvalue()


def encode_denied_reply(
    xid: int,
    reject_stat: int,
    *,
    low: int = RPC_VERSION,
    high: int = RPC_VERSION,
    auth_stat: int | None = None,
) -> bytes:
    """A denied REPLY: RPC_MISMATCH (low/high) or AUTH_ERROR (needs ``auth_stat``)."""
    w = XdrWriter()
    w.u32(xid)
    w.u32(REPLY)
    w.u32(MSG_DENIED)
    if reject_stat == RejectStat.RPC_MISMATCH:
        w.u32(reject_stat)
        w.u32(low)
        w.u32(high)
    elif reject_stat == RejectStat.AUTH_ERROR:
        if auth_stat is None:
            raise LocalProtocolError("AUTH_ERROR needs an auth_stat")
        w.u32(reject_stat)
        w.u32(auth_stat)
    else:
        raise LocalProtocolError(f"unknown reject_stat {reject_stat}")
    return w.getvalue()


_new_tuple = tuple.__new__
_SUCCESS = AcceptStat.SUCCESS


def _auth_at(buf: memoryview, pos: int, end: int) -> tuple[OpaqueAuth, int]:
    """Read an opaque_auth at ``pos``; returns it and the position after it."""
    if end - pos < 8:
        raise RemoteProtocolError("RPC header truncated in an auth field")
    flavor, length = _II.unpack_from(buf, pos)
    if length > MAX_AUTH_BYTES:  # RFC 5531 §8.2 and GF_MAX_AUTH_BYTES: at most 400 bytes
        raise RemoteProtocolError(f"auth body of {length} bytes (max {MAX_AUTH_BYTES})")
    pos += 8
    after = pos + ((length + 3) & ~3)
    if after > end:
        raise RemoteProtocolError("RPC header truncated in an auth body")
    if flavor == AUTH_NULL and length == 0:
        return AUTH_NONE, after
    return OpaqueAuth(flavor, bytes(buf[pos : pos + length])), after


def _enum(kind: type[_E], value: int) -> _E:
    try:
        return kind(value)
    except ValueError:
        raise RemoteProtocolError(f"unknown {kind.__name__} {value}") from None


def decode_message(
    record: bytes | bytearray | memoryview,
) -> tuple[CallHeader | ReplyHeader, memoryview]:
    """Decode a CALL or REPLY header; returns it with the rest of the record (a view)."""
    buf = record if isinstance(record, memoryview) else memoryview(record)
    if buf.format != "B" or buf.ndim != 1:
        buf = buf.cast("B")
    end = len(buf)
    if end < 12:
        raise RemoteProtocolError(f"RPC message of {end} bytes is too short")
    xid, msg_type = _II.unpack_from(buf, 0)
    if msg_type == CALL:
        if end < 32:
            raise RemoteProtocolError(f"RPC CALL of {end} bytes is too short")
        _, _, rpcvers, prog, vers, proc, flavor, length = _CALL_HEAD.unpack_from(buf, 0)
        pos = 32 + ((length + 3) & ~3)
        if length <= MAX_AUTH_BYTES and pos + 8 <= end and flavor != AUTH_NULL:
            # the hot path (every FOP from a GlusterFS client): a credential, then an AUTH_NULL
            # verifier; the same bounds as _auth_at, in one pass
            vflavor, vlength = _II.unpack_from(buf, pos)
            if vflavor == AUTH_NULL and vlength == 0:
                # tuple.__new__: the named tuples without their Python-level __new__
                cred = _new_tuple(OpaqueAuth, (flavor, bytes(buf[32 : 32 + length])))
                header = _new_tuple(CallHeader, (xid, prog, vers, proc, cred, AUTH_NONE, rpcvers))
                return header, buf[pos + 8 :]
        cred, pos = _auth_at(buf, 24, end)
        verf, pos = _auth_at(buf, pos, end)
        return CallHeader(xid, prog, vers, proc, cred, verf, rpcvers), buf[pos:]
    if msg_type == REPLY:
        if end >= 24:
            # the hot path (every answered call): accepted, an AUTH_NULL verifier, SUCCESS
            _, _, reply_stat, vflavor, vlength, stat = _REPLY_OK.unpack_from(buf, 0)
            if reply_stat == MSG_ACCEPTED and vflavor == AUTH_NULL and vlength == 0 and stat == 0:
                fields = (xid, MSG_ACCEPTED, AUTH_NONE, _SUCCESS, None, None, None, None)
                return _new_tuple(ReplyHeader, fields), buf[24:]
        r = XdrReader(buf, 8)
        reply_stat = r.u32()
        if reply_stat == MSG_ACCEPTED:
            verf, r.pos = _auth_at(buf, r.pos, end)
            stat = _enum(AcceptStat, r.u32())
            if stat == AcceptStat.SUCCESS:
                return ReplyHeader(xid, reply_stat, verf, stat), r.rest()
            low = high = None
            if stat == AcceptStat.PROG_MISMATCH:
                low, high = r.u32(), r.u32()
            return ReplyHeader(xid, reply_stat, verf, stat, low, high), r.rest()
        if reply_stat == MSG_DENIED:
            rstat = _enum(RejectStat, r.u32())
            if rstat == RejectStat.RPC_MISMATCH:
                low, high = r.u32(), r.u32()
                return ReplyHeader(xid, reply_stat, None, None, low, high, rstat), r.rest()
            raw = r.u32()
            astat: AuthStat | int = AuthStat(raw) if raw in AuthStat._value2member_map_ else raw
            return ReplyHeader(xid, reply_stat, None, None, None, None, rstat, astat), r.rest()
        raise RemoteProtocolError(f"REPLY with unknown reply_stat {reply_stat}")
    if msg_type == GF_UNIVERSAL_ANSWER:
        raise RemoteProtocolError("msg_type 42: peer speaks an older version of the protocol")
    raise RemoteProtocolError(f"unknown RPC msg_type {msg_type}")
