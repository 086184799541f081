"""Tests of gfrpc.wire.rpcmsg: RFC 5531 CALL/REPLY headers and GlusterFS credentials."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gfrpc.errors import LocalProtocolError, RemoteProtocolError
from gfrpc.wire import rpcmsg
from gfrpc.wire.record import record_mark
from gfrpc.wire.rpcmsg import (
    AUTH_GLUSTERFS_V2,
    AUTH_GLUSTERFS_V3,
    AUTH_NONE,
    AcceptStat,
    AuthStat,
    AuthUnix,
    CallHeader,
    GlusterCredV1,
    GlusterCredV2,
    GlusterCredV3,
    OpaqueAuth,
    RejectStat,
    ReplyHeader,
    decode_credential,
    decode_message,
    default_lk_owner,
    encode_accepted_reply,
    encode_call,
    encode_denied_reply,
)

Feed = Callable[[bytes], list[bytes]]


def test_worked_example_ping_v3(feed: Feed) -> None:
    """Reference §4.3 worked example: GF-DUMP PING, xid 5, AUTH_GLUSTERFS_v3 for pid 1234."""
    expected = bytes.fromhex(
        "80000050 00000005 00000000 00000002 075bb86d 00000001 00000002"
        "0005f398 00000028"
        "000004d2 00000000 00000000 00000000 00000000 00000000 00000000"
        "00000000 00000004 d2040000"
        "00000000 00000000"
    )
    cred = GlusterCredV3(pid=1234, uid=0, gid=0)
    msg = encode_call(5, 123451501, 1, 2, cred)
    assert record_mark(len(msg)) + msg == expected
    [record] = feed(expected)
    header, body = decode_message(record)
    assert header == CallHeader(5, 123451501, 1, 2, cred.to_auth(), AUTH_NONE)
    assert len(body) == 0
    assert decode_credential(header.cred) == GlusterCredV3(1234, 0, 0, (), b"\xd2\x04\0\0")
    reply = encode_accepted_reply(5) + bytes(12)
    assert (record_mark(len(reply)) + reply).hex() == (
        "80000024000000050000000100000000000000000000000000000000000000000000000000000000"
    )


def test_golden_dump_call_from_capture(golden: Callable[[str], bytes], feed: Feed) -> None:
    """A real GlusterFS DUMP call decodes, and encode_call reproduces its bytes exactly."""
    data = golden("glusterd_dump_call")
    [record] = feed(data)
    header, body = decode_message(record)
    assert isinstance(header, CallHeader)
    assert (header.xid, header.prog, header.vers, header.proc) == (2, 123451501, 1, 1)
    assert header.cred.flavor == AUTH_GLUSTERFS_V2 and header.verf == AUTH_NONE
    cred = decode_credential(header.cred)
    assert cred == GlusterCredV2(0, 0, 0, (), default_lk_owner(0))
    assert bytes(body).hex() == "000000000000caed"
    rebuilt = encode_call(2, 123451501, 1, 1, GlusterCredV2(pid=0, uid=0, gid=0)) + bytes(body)
    assert record_mark(len(rebuilt)) + rebuilt == data


def test_golden_lookup_call_cred_v3(golden: Callable[[str], bytes], feed: Feed) -> None:
    """A real FOP call carries AUTH_GLUSTERFS_v3 with the default lk_owner (pid LE)."""
    data = golden("brick_lookup_call")
    [record] = feed(data)
    header, body = decode_message(record)
    assert isinstance(header, CallHeader)
    assert (header.prog, header.vers, header.proc, header.xid) == (1298437, 400, 27, 4)
    cred = decode_credential(header.cred)
    assert cred == GlusterCredV3(29800, 0, 0, (), default_lk_owner(29800))
    assert encode_call(4, 1298437, 400, 27, GlusterCredV3(pid=29800, uid=0, gid=0)) == bytes(
        record[: len(record) - len(body)]
    )


def test_golden_reply_header(golden: Callable[[str], bytes], feed: Feed) -> None:
    """A real accepted SUCCESS reply decodes; its body is a view of the record."""
    [record] = feed(golden("glusterd_ping_reply"))
    header, body = decode_message(record)
    assert header == ReplyHeader(3, rpcmsg.MSG_ACCEPTED, AUTH_NONE, AcceptStat.SUCCESS)
    assert header.ok and bytes(body) == bytes(12)
    assert type(header) is ReplyHeader and type(header.accept_stat) is AcceptStat
    assert encode_accepted_reply(3) == bytes(record[:24])


@pytest.mark.parametrize("stat", list(AcceptStat))
def test_every_accept_stat_roundtrips(stat: AcceptStat) -> None:
    """Every accept_stat encodes and decodes; PROG_MISMATCH carries low/high versions."""
    low, high = (330, 400) if stat == AcceptStat.PROG_MISMATCH else (None, None)
    data = encode_accepted_reply(9, stat, low=low, high=high) + b"res"
    header, body = decode_message(data)
    assert header == ReplyHeader(9, rpcmsg.MSG_ACCEPTED, AUTH_NONE, stat, low, high)
    assert bytes(body) == b"res"
    assert header.ok == (stat == AcceptStat.SUCCESS)


def test_prog_mismatch_requires_versions() -> None:
    """Sending PROG_MISMATCH without low/high is our error."""
    with pytest.raises(LocalProtocolError):
        encode_accepted_reply(1, AcceptStat.PROG_MISMATCH)


def test_rpc_mismatch() -> None:
    """MSG_DENIED RPC_MISMATCH carries the supported RPC versions (2, 2)."""
    data = encode_denied_reply(7, RejectStat.RPC_MISMATCH)
    assert data.hex() == "000000070000000100000001000000000000000200000002"
    header, _ = decode_message(data)
    assert header == ReplyHeader(7, rpcmsg.MSG_DENIED, None, None, 2, 2, RejectStat.RPC_MISMATCH)
    assert not header.ok


@pytest.mark.parametrize("astat", list(AuthStat))
def test_auth_error(astat: AuthStat) -> None:
    """MSG_DENIED AUTH_ERROR carries an auth_stat."""
    header, _ = decode_message(encode_denied_reply(7, RejectStat.AUTH_ERROR, auth_stat=astat))
    assert isinstance(header, ReplyHeader)
    assert header.reject_stat == RejectStat.AUTH_ERROR and header.auth_stat == astat
    with pytest.raises(LocalProtocolError):
        encode_denied_reply(7, RejectStat.AUTH_ERROR)


def test_credential_over_400_bytes_rejected() -> None:
    """GF_MAX_AUTH_BYTES: a credential body longer than 400 bytes is a peer error."""
    ok = encode_call(1, 2, 3, 4, OpaqueAuth(99, bytes(400)))
    assert decode_message(ok)[0].cred == OpaqueAuth(99, bytes(400))  # type: ignore[union-attr]
    bad = ok[:28] + (404).to_bytes(4, "big") + bytes(404) + bytes(8)
    with pytest.raises(RemoteProtocolError):
        decode_message(bad)
    with pytest.raises(LocalProtocolError):
        encode_call(1, 2, 3, 4, OpaqueAuth(99, bytes(401)))


def test_unknown_message_types() -> None:
    """Unknown msg_type, reply_stat or accept_stat are peer errors (42 = old protocol)."""
    for data in (
        "0000000100000002",
        "000000010000002a",
        "000000010000000100000002",
        "000000010000000100000000000000000000000000000009",
        "00000001000000010000000100000005",
    ):
        with pytest.raises(RemoteProtocolError):
            decode_message(bytes.fromhex(data))


def test_call_rpcvers_reported() -> None:
    """A CALL with rpcvers != 2 still decodes so the server can answer RPC_MISMATCH."""
    data = bytearray(encode_call(1, 2, 3, 4))
    data[8:12] = (3).to_bytes(4, "big")
    assert decode_message(bytes(data))[0].rpcvers == 3  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["call", "reply", "ok", "mismatch", "denied"])
def test_truncated_headers_raise_at_every_cut(kind: str) -> None:
    """Every cut inside a header raises RemoteProtocolError; the whole header decodes."""
    data = {
        "call": encode_call(
            1, 2, 3, 4, GlusterCredV3(pid=1, uid=2, gid=3, groups=(4, 5)), OpaqueAuth(7, b"abcde")
        ),
        "reply": encode_accepted_reply(1, verf=OpaqueAuth(7, b"xyz")),
        "ok": encode_accepted_reply(1),
        "mismatch": encode_accepted_reply(1, AcceptStat.PROG_MISMATCH, low=1, high=2),
        "denied": encode_denied_reply(1, RejectStat.AUTH_ERROR, auth_stat=AuthStat.AUTH_TOOWEAK),
    }[kind]
    assert len(decode_message(data)[1]) == 0
    for cut in range(len(data)):
        with pytest.raises(RemoteProtocolError):
            decode_message(data[:cut])


def test_default_lk_owner_is_pid_little_endian() -> None:
    """Without a frame lk_owner, GlusterFS sends 4 bytes: the pid little-endian."""
    assert default_lk_owner(0x01020304) == bytes.fromhex("04030201")
    assert (
        GlusterCredV2(pid=7, uid=0, gid=0)
        .to_auth()
        .body.endswith(bytes.fromhex("0000000407000000"))
    )


@pytest.mark.parametrize(
    "cls,fixed_units,flavor",
    [(GlusterCredV2, 5, AUTH_GLUSTERFS_V2), (GlusterCredV3, 9, AUTH_GLUSTERFS_V3)],
)
def test_groups_truncated_to_400_bytes(cls: type, fixed_units: int, flavor: int) -> None:
    """Like the GlusterFS client: groups that do not fit 400 bytes are dropped."""
    cred = cls(pid=1, uid=0, gid=0, groups=tuple(range(200)))
    auth = cred.to_auth()
    assert auth.flavor == flavor and len(auth.body) == 400
    decoded = decode_credential(auth)
    assert list(decoded.groups) == list(range(100 - fixed_units - 1))  # type: ignore[union-attr]


def test_lk_owner_too_big_is_local_error() -> None:
    """An lk_owner that cannot fit even without groups refuses to encode."""
    with pytest.raises(LocalProtocolError):
        GlusterCredV3(pid=1, uid=0, gid=0, lk_owner=bytes(400)).to_auth()
    assert len(GlusterCredV2(pid=1, uid=0, gid=0, lk_owner=bytes(380)).to_auth().body) == 400


def test_v1_and_unix_credentials() -> None:
    """AUTH_GLUSTERFS v1 (fixed groups[16]) and AUTH_UNIX round-trip; v1 ngrps > 16 is refused."""
    v1 = GlusterCredV1(pid=5, uid=6, gid=7, groups=(8, 9), lk_owner=0x1122)
    auth = v1.to_auth()
    assert len(auth.body) == 8 + 16 + 64
    assert decode_credential(auth) == v1
    bad = bytearray(auth.body)
    bad[20:24] = (17).to_bytes(4, "big")
    with pytest.raises(RemoteProtocolError):
        decode_credential(OpaqueAuth(auth.flavor, bytes(bad)))
    with pytest.raises(LocalProtocolError):
        GlusterCredV1(pid=5, uid=6, gid=7, groups=tuple(range(17))).to_auth()
    unix = AuthUnix(stamp=1, machinename="vm", uid=0, gid=0, gids=(1, 2))
    assert decode_credential(unix.to_auth()) == unix
    assert decode_credential(AUTH_NONE) is None
    assert decode_credential(OpaqueAuth(12345, b"")) is None


def test_truncated_credential_bodies() -> None:
    """A credential body cut anywhere is a RemoteProtocolError, never a partial credential."""
    for auth in (
        GlusterCredV3(1, 2, 3, (4,)).to_auth(),
        GlusterCredV2(1, 2, 3).to_auth(),
        GlusterCredV1(1, 2, 3).to_auth(),
        AuthUnix(1, "h", 2, 3, (4,)).to_auth(),
    ):
        for cut in range(len(auth.body)):
            with pytest.raises(RemoteProtocolError):
                decode_credential(OpaqueAuth(auth.flavor, auth.body[:cut]))


_u32 = st.integers(0, 2**32 - 1)
_auth = st.builds(OpaqueAuth, _u32, st.binary(max_size=400))


@given(_u32, _u32, _u32, _u32, _auth, _auth, st.binary(max_size=50))
def test_hypothesis_call_roundtrip(
    xid: int, prog: int, vers: int, proc: int, cred: OpaqueAuth, verf: OpaqueAuth, body: bytes
) -> None:
    """decode_message(encode_call(...) + args) gives back the header and the args."""
    header, rest = decode_message(encode_call(xid, prog, vers, proc, cred, verf) + body)
    assert header == CallHeader(xid, prog, vers, proc, cred, verf)
    assert bytes(rest) == body


@given(_u32, st.sampled_from(list(AcceptStat)), _auth, _u32, _u32)
def test_hypothesis_reply_roundtrip(
    xid: int, stat: AcceptStat, verf: OpaqueAuth, low: int, high: int
) -> None:
    """Accepted replies round-trip for every stat and verifier."""
    mism = stat == AcceptStat.PROG_MISMATCH
    data = encode_accepted_reply(xid, stat, verf, low if mism else None, high if mism else None)
    header, _ = decode_message(data)
    assert header == ReplyHeader(xid, 0, verf, stat, low if mism else None, high if mism else None)


@given(
    st.integers(-(2**31), 2**31 - 1),
    _u32,
    _u32,
    st.lists(_u32, max_size=120),
    st.none() | st.binary(max_size=64),
    _u32,
    st.integers(0, 2**64 - 1),
    _u32,
)
def test_hypothesis_cred_v3_roundtrip(
    pid: int,
    uid: int,
    gid: int,
    groups: list[int],
    lk: bytes | None,
    flags: int,
    sec: int,
    nsec: int,
) -> None:
    """AUTH_GLUSTERFS_v3 round-trips (groups cut to what fits in 400 bytes)."""
    cred = GlusterCredV3(pid, uid, gid, tuple(groups), lk, flags, sec, nsec)
    auth = cred.to_auth()
    assert len(auth.body) <= 400
    out = decode_credential(auth)
    assert isinstance(out, GlusterCredV3)
    assert out.lk_owner == (default_lk_owner(pid) if lk is None else lk)
    assert tuple(out.groups) == tuple(groups[: len(out.groups)])
    assert (out.pid, out.uid, out.gid, out.flags, out.ctime_sec, out.ctime_nsec) == (
        pid,
        uid,
        gid,
        flags,
        sec,
        nsec,
    )


@pytest.mark.parametrize("body", [b"", b"a", b"abcd", b"abcdefg", bytes(400)])
def test_call_with_a_remembered_credential_is_the_same_bytes(body: bytes) -> None:
    """A CALL whose credential's bytes are remembered (an OpaqueAuth, the AUTH_NONE verifier)
    is byte for byte the CALL the general encoder makes, every time, and still decodes."""
    cred = OpaqueAuth(rpcmsg.AUTH_GLUSTERFS_V3, body)
    general = encode_call(7, 1298437, 400, 27, cred, OpaqueAuth(rpcmsg.AUTH_NULL, b""))
    assert encode_call(7, 1298437, 400, 27, cred) == general
    assert encode_call(7, 1298437, 400, 27, cred) == general  # from the remembered bytes
    header, rest = decode_message(general)
    assert header == CallHeader(7, 1298437, 400, 27, cred, AUTH_NONE) and not len(rest)


def test_remembered_credentials_are_bounded_and_checked() -> None:
    """Too long a credential is still our error, and the remembered ones stay bounded."""
    with pytest.raises(LocalProtocolError):
        encode_call(1, 2, 3, 4, OpaqueAuth(rpcmsg.AUTH_GLUSTERFS_V3, bytes(401)))
    for i in range(1000):
        encode_call(1, 2, 3, 4, OpaqueAuth(rpcmsg.AUTH_GLUSTERFS_V3, i.to_bytes(4, "big")))
    assert len(rpcmsg._CALL_AUTHS) <= rpcmsg._CALL_AUTHS_KEPT
    with pytest.raises(LocalProtocolError):  # a field out of range, on the remembered path
        encode_call(2**32, 2, 3, 4, OpaqueAuth(rpcmsg.AUTH_GLUSTERFS_V3, b""))
