"""Tests of gfrpc.programs.dump (GF-DUMP) and gfrpc.programs.names, on real captures."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gfrpc.errors import RemoteProtocolError
from gfrpc.programs import dump
from gfrpc.programs.names import (
    BRICK_PROGRAMS,
    GLUSTERD_PROGRAMS,
    PROGRAM_NAMES,
    program_name,
)
from gfrpc.wire.record import record_mark
from gfrpc.wire.rpcmsg import CallHeader, GlusterCredV2, ReplyHeader, decode_message, encode_call

Feed = Callable[[bytes], list[bytes]]
Golden = Callable[[str], bytes]


def test_golden_dump_call(golden: Golden, feed: Feed) -> None:
    """The real DUMP call is gf_dump_req{gfs_id=0xcaed}; we rebuild it byte for byte."""
    data = golden("glusterd_dump_call")
    [record] = feed(data)
    header, body = decode_message(record)
    assert isinstance(header, CallHeader)
    assert (header.prog, header.vers, header.proc) == (dump.GF_DUMP_PROGRAM, 1, dump.DUMP)
    assert dump.GfDumpReq.unpack(body) == dump.GfDumpReq(0xCAED)
    msg = (
        encode_call(
            2,
            dump.GF_DUMP_PROGRAM,
            dump.GF_DUMP_VERSION,
            dump.DUMP,
            GlusterCredV2(pid=0, uid=0, gid=0),
        )
        + dump.GfDumpReq().pack()
    )
    assert record_mark(len(msg)) + msg == data


def test_golden_glusterd_dump_reply(golden: Golden, feed: Feed) -> None:
    """glusterd's DUMP reply lists Gluster Portmap 34123456 v1 and Gluster Handshake 14398633 v2."""
    data = golden("glusterd_dump_reply")
    [record] = feed(data)
    header, body = decode_message(record)
    assert isinstance(header, ReplyHeader) and header.ok and header.xid == 2
    rsp = dump.GfDumpRsp.unpack(body)
    progs = [(p.progname, p.prognum, p.progver) for p in rsp.progs]
    assert ("Gluster Portmap", 34123456, 1) in progs
    assert ("Gluster Handshake", 14398633, 2) in progs
    assert tuple(progs) == GLUSTERD_PROGRAMS
    assert (rsp.gfs_id, rsp.op_ret, rsp.op_errno) == (0, 0, 0)
    assert rsp.pack() == bytes(body)


def test_golden_brick_dump_reply(golden: Golden, feed: Feed) -> None:
    """A brick's DUMP reply lists the FOP programs v400 and v330 and 'GlusterFS Handshake'."""
    [record] = feed(golden("brick_dump_reply"))
    _, body = decode_message(record)
    rsp = dump.GfDumpRsp.unpack(body)
    assert tuple((p.progname, p.prognum, p.progver) for p in rsp.progs) == BRICK_PROGRAMS
    assert rsp.pack() == bytes(body)


def test_golden_ping(golden: Golden, feed: Feed) -> None:
    """PING has no arguments; its reply is a gf_common_rsp of 12 zero bytes."""
    [call] = feed(golden("glusterd_ping_call"))
    header, body = decode_message(call)
    assert isinstance(header, CallHeader) and header.proc == dump.PING and len(body) == 0
    [reply] = feed(golden("glusterd_ping_reply"))
    _, body = decode_message(reply)
    assert dump.GfCommonRsp.unpack(body) == dump.GfCommonRsp(0, 0, b"")
    assert dump.GfCommonRsp().pack() == bytes(12)


def test_dump_reply_truncated_at_every_cut(golden: Golden) -> None:
    """Every proper prefix of a DUMP reply body raises RemoteProtocolError."""
    _, body = decode_message(golden("glusterd_dump_reply")[4:])
    for cut in range(len(body)):
        with pytest.raises(RemoteProtocolError):
            dump.GfDumpRsp.unpack(body[:cut])


def test_empty_program_list() -> None:
    """A DUMP reply without programs is a NULL pointer (one 0 bool)."""
    assert dump.GfDumpRsp(0, -1, 22).pack().hex() == "0000000000000000ffffffff0000001600000000"


def test_program_names() -> None:
    """names.py knows the programs as GlusterFS prints them, incl. 4.x v1, 3.3 and Callback."""
    assert program_name(1298437, 400) == "GlusterFS 4.x v1"
    assert program_name(1298437, 330) == "GlusterFS 3.3"
    assert program_name(52743234, 1) == "GlusterFS Callback"
    assert program_name(34123456, 1) == "Gluster Portmap"
    assert program_name(14398633, 2) == "Gluster Handshake"
    assert program_name(123451501, 1) == "GF-DUMP"
    assert program_name(1, 1) is None
    assert len(PROGRAM_NAMES) == 11
