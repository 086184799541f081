"""Tests of gfrpc.programs.pmap (Gluster Portmap), on a real capture."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gfrpc.errors import RemoteProtocolError
from gfrpc.programs import pmap
from gfrpc.wire.record import record_mark
from gfrpc.wire.rpcmsg import CallHeader, GlusterCredV2, decode_message, encode_call

Feed = Callable[[bytes], list[bytes]]
Golden = Callable[[str], bytes]


def test_golden_portbybrick_call(golden: Golden, feed: Feed) -> None:
    """The real PORTBYBRICK call names the brick path; we rebuild the call exactly."""
    data = golden("glusterd_portbybrick_call")
    [record] = feed(data)
    header, body = decode_message(record)
    assert isinstance(header, CallHeader)
    assert (header.prog, header.vers, header.proc, header.xid) == (
        pmap.PMAP_PROGRAM,
        pmap.PMAP_VERSION,
        pmap.PORTBYBRICK,
        4,
    )
    req = pmap.PmapPortByBrickReq.unpack(body)
    assert req.brick == "/tmp/cap/b1"
    msg = (
        encode_call(
            4,
            pmap.PMAP_PROGRAM,
            pmap.PMAP_VERSION,
            pmap.PORTBYBRICK,
            GlusterCredV2(pid=0, uid=0, gid=0),
        )
        + pmap.PmapPortByBrickReq("/tmp/cap/b1").pack()
    )
    assert record_mark(len(msg)) + msg == data


def test_golden_portbybrick_reply(golden: Golden, feed: Feed) -> None:
    """glusterd answers PORTBYBRICK with op_ret 0 and the brick's port (56623)."""
    [record] = feed(golden("glusterd_portbybrick_reply"))
    _, body = decode_message(record)
    rsp = pmap.PmapPortByBrickRsp.unpack(body)
    assert rsp == pmap.PmapPortByBrickRsp(op_ret=0, op_errno=0, status=0, port=56623)
    assert rsp.pack() == bytes(body)


@pytest.mark.parametrize(
    "value",
    [
        pmap.PmapPortByBrickReq("/b"),
        pmap.PmapPortByBrickRsp(-1, 2, 0, 0),
        pmap.PmapBrickByPortReq(49152),
        pmap.PmapBrickByPortRsp(0, 0, 0, "/data/b1"),
        pmap.PmapSigninReq("/data/b1", 49152, 1234),
        pmap.PmapSigninRsp(0, 0),
        pmap.PmapSignoutReq("/data/b1", 49152, 0),
        pmap.PmapSignoutRsp(-1, 5),
    ],
)
def test_structs_roundtrip_and_truncation(value: object) -> None:
    """Every PMAP struct round-trips, and every cut of its encoding raises RemoteProtocolError."""
    data = value.pack()  # type: ignore[attr-defined]
    assert type(value).unpack(data) == value  # type: ignore[attr-defined]
    for cut in range(len(data)):
        with pytest.raises(RemoteProtocolError):
            type(value).unpack(data[:cut])  # type: ignore[attr-defined]


def test_signin_layout() -> None:
    """pmap_signin_req = string brick<>; int port; int pid (reference §5.4)."""
    assert pmap.PmapSigninReq("/b", 49152, 7).pack().hex() == "000000022f6200000000c00000000007"
