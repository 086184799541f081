"""Tests of gfrpc.programs.handshake (SETVOLUME, GETSPEC), on real captures."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gfrpc.errors import RemoteProtocolError
from gfrpc.programs import dump
from gfrpc.programs import handshake as hs
from gfrpc.wire.gfdict import as_int, as_str, decode_serialized_dict, encode_serialized_dict
from gfrpc.wire.record import record_mark
from gfrpc.wire.rpcmsg import (
    CallHeader,
    GlusterCredV2,
    GlusterCredV3,
    decode_credential,
    decode_message,
    encode_call,
)

Feed = Callable[[bytes], list[bytes]]
Golden = Callable[[str], bytes]


def test_golden_setvolume_call(golden: Golden, feed: Feed) -> None:
    """Real SETVOLUME: AUTH_GLUSTERFS_v3 and an old serialized dict; rebuilt exactly."""
    data = golden("brick_setvolume_call")
    [record] = feed(data)
    header, body = decode_message(record)
    assert isinstance(header, CallHeader)
    assert (header.prog, header.vers, header.proc) == (hs.GF_HNDSK_PROGRAM, 2, hs.SETVOLUME)
    cred = decode_credential(header.cred)
    assert cred == GlusterCredV3(0, 0, 0, (), bytes(4))
    req = hs.GfSetvolumeReq.unpack(body)
    d = decode_serialized_dict(req.dict)
    assert as_int(d["fops-version"]) == 1298437
    assert as_str(d["remote-subvolume"]) == "/tmp/cap/b1"
    values = {k: as_str(v) for k, v in d.items()}
    msg = (
        encode_call(
            3,
            hs.GF_HNDSK_PROGRAM,
            hs.GF_HNDSK_VERSION,
            hs.SETVOLUME,
            GlusterCredV3(pid=0, uid=0, gid=0),
        )
        + hs.GfSetvolumeReq(encode_serialized_dict(values)).pack()
    )
    assert record_mark(len(msg)) + msg == data


def test_golden_setvolume_reply(golden: Golden, feed: Feed) -> None:
    """Real SETVOLUME reply: op_ret 0 and a dict with ERROR=Success and child_up=1."""
    [record] = feed(golden("brick_setvolume_reply"))
    _, body = decode_message(record)
    rsp = hs.GfSetvolumeRsp.unpack(body)
    assert (rsp.op_ret, rsp.op_errno) == (0, 22)
    d = decode_serialized_dict(rsp.dict)
    assert as_str(d["ERROR"]) == "Success" and as_int(d["child_up"]) == 1
    assert rsp.pack() == bytes(body)


def test_golden_getspec_call(golden: Golden, feed: Feed) -> None:
    """Real GETSPEC: flags 1, key '/capv', xdata with op-versions; rebuilt exactly."""
    data = golden("glusterd_getspec_call")
    [record] = feed(data)
    header, body = decode_message(record)
    assert isinstance(header, CallHeader) and header.proc == hs.GETSPEC
    req = hs.GfGetspecReq.unpack(body)
    assert (req.flags, req.key) == (1, "/capv")
    xdata = decode_serialized_dict(req.xdata)
    assert {k: as_int(v) for k, v in xdata.items()} == {
        "max-op-version": 100000,
        "min-op-version": 1,
    }
    msg = (
        encode_call(
            2,
            hs.GF_HNDSK_PROGRAM,
            hs.GF_HNDSK_VERSION,
            hs.GETSPEC,
            GlusterCredV2(pid=0, uid=0, gid=0),
        )
        + hs.GfGetspecReq(
            1, "/capv", encode_serialized_dict({"max-op-version": 100000, "min-op-version": 1})
        ).pack()
    )
    assert record_mark(len(msg)) + msg == data


@pytest.mark.parametrize(
    "value",
    [
        hs.GfSetvolumeReq(b"\0\0\0\0"),
        hs.GfSetvolumeRsp(-1, 13, b"abc"),
        hs.GfGetspecReq(0, "vol", b""),
        hs.GfGetspecRsp(0, 0, "volume x\nend-volume\n", b"\1"),
    ],
)
def test_structs_roundtrip_and_truncation(value: object) -> None:
    """Handshake structs round-trip, and every cut raises RemoteProtocolError."""
    data = value.pack()  # type: ignore[attr-defined]
    assert type(value).unpack(data) == value  # type: ignore[attr-defined]
    for cut in range(len(data)):
        with pytest.raises(RemoteProtocolError):
            type(value).unpack(data[:cut])  # type: ignore[attr-defined]


def test_one_gf_common_rsp() -> None:
    """gf_common_rsp (the PING reply) has one definition: the handshake uses GF-DUMP's."""
    assert hs.GfCommonRsp is dump.GfCommonRsp
    assert hs.GfCommonRsp().pack() == bytes(12)
