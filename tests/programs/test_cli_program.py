"""Tests of gfrpc.programs.cli on the stock gluster CLI's recorded exchanges with glusterd 10.3.

Each fixture pair ``tests/fixtures/cli/<command>.{call,reply}.hex`` is one CLI command (see its
README). Every record decodes with the CLI program's structs, names the procedure and the dict
keys the command sends, and encodes back to the same bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from gfrpc.errors import ConfigError, LocalProtocolError, RemoteProtocolError
from gfrpc.programs import cli
from gfrpc.programs.cli import CliProc, GetVolumeFlag, GlusterdErrno, StatusFlag
from gfrpc.programs.names import program_name
from gfrpc.wire.gfdict import as_int, as_str
from gfrpc.wire.record import record_mark
from gfrpc.wire.rpcmsg import (
    AUTH_NONE,
    CallHeader,
    GlusterCredV2,
    ReplyHeader,
    decode_credential,
    decode_message,
    encode_accepted_reply,
    encode_call,
)
from gfrpc.wire.xdr import XdrStruct

Feed = Callable[[bytes], list[bytes]]
Golden = Callable[[str], bytes]

CALLBACK_PROGRAM = 52743234  # GlusterFS Callback; glusterd sends FETCHSPEC (1) to the CLI
CMD = "cmd-str"

#: command -> (procedure, request keys of each call on its connection)
COMMANDS: dict[str, tuple[CliProc, list[set[str]]]] = {
    "peer-status": (CliProc.LIST_FRIENDS, [set()]),
    "pool-list": (CliProc.LIST_FRIENDS, [set()]),
    "volume-list-empty": (CliProc.LIST_VOLUME, [set()]),
    "volume-list": (CliProc.LIST_VOLUME, [set()]),
    "volume-create": (
        CliProc.CREATE_VOLUME,
        [{"volname", "type", "transport", "bricks", "count", "force", CMD}],
    ),
    "volume-create-exists": (
        CliProc.CREATE_VOLUME,
        [{"volname", "type", "transport", "bricks", "count", "force", CMD}],
    ),
    "volume-start": (CliProc.START_VOLUME, [{"volname", "flags", CMD}]),
    "volume-start-missing": (CliProc.START_VOLUME, [{"volname", "flags", CMD}]),
    "volume-stop": (CliProc.STOP_VOLUME, [{"volname", "flags", CMD}]),
    "volume-delete": (CliProc.DELETE_VOLUME, [{"volname", CMD}]),
    "volume-info": (CliProc.GET_VOLUME, [{"volname", "flags"}]),
    "volume-info-xml": (CliProc.GET_VOLUME, [{"volname", "flags"}]),
    "volume-info-missing": (CliProc.GET_VOLUME, [{"volname", "flags"}]),
    "volume-info-all": (CliProc.GET_VOLUME, [{"flags"}, {"volname", "flags"}]),
    "volume-status": (CliProc.STATUS_VOLUME, [{"volname", "cmd", CMD}]),
    "volume-status-xml": (CliProc.STATUS_VOLUME, [{"volname", "cmd", CMD}]),
    "volume-status-all": (CliProc.STATUS_VOLUME, [{"cmd", CMD}, {"volname", "cmd", CMD}]),
    "volume-set": (CliProc.SET_VOLUME, [{"volname", "count", "key1", "value1", CMD}]),
    "volume-set-unknown": (CliProc.SET_VOLUME, [{"volname", "count", "key1", "value1", CMD}]),
    "volume-reset": (CliProc.RESET_VOLUME, [{"volname", "key", CMD}]),
    "volume-reset-key": (CliProc.RESET_VOLUME, [{"volname", "key", CMD}]),
}


def _req_type(proc: int) -> type[XdrStruct]:
    return cli.Gf1CliPeerListReq if proc == CliProc.LIST_FRIENDS else cli.GfCliReq


def _rsp_type(proc: int) -> type[XdrStruct]:
    return cli.Gf1CliPeerListRsp if proc == CliProc.LIST_FRIENDS else cli.GfCliRsp


def _calls(golden: Golden, feed: Feed, command: str) -> list[tuple[CallHeader, XdrStruct]]:
    out = []
    for record in feed(golden(f"cli/{command}.call")):
        header, body = decode_message(record)
        assert isinstance(header, CallHeader)
        out.append((header, _req_type(header.proc).unpack(body)))
    return out


def _replies(golden: Golden, feed: Feed, command: str) -> list[XdrStruct]:
    """The CLI program replies of a recorded command (glusterd's callback CALLs checked and
    left out)."""
    proc = COMMANDS[command][0]
    out = []
    for record in feed(golden(f"cli/{command}.reply")):
        header, body = decode_message(record)
        if isinstance(header, CallHeader):
            assert (header.prog, header.vers, header.proc) == (CALLBACK_PROGRAM, 1, 1)
            assert header.cred == AUTH_NONE and len(body) == 0
            continue
        assert isinstance(header, ReplyHeader) and header.ok
        rsp = _rsp_type(proc).unpack(body)
        assert rsp.pack() == bytes(body)
        out.append(rsp)
    return out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_recorded_calls_decode_and_rebuild(command: str, golden: Golden, feed: Feed) -> None:
    """Every recorded CLI call is CLI program 1238463 v2 with AUTH_GLUSTERFS_v2 (pid 0, xids
    from 2), names the expected procedure and dict keys, and is rebuilt byte for byte from the
    decoded values with encode_call + cli_request."""
    proc, key_sets = COMMANDS[command]
    data = golden(f"cli/{command}.call")
    calls = _calls(golden, feed, command)
    assert [set(cli.cli_dict(req)) for _, req in calls] == key_sets
    rebuilt = b""
    for n, (header, req) in enumerate(calls):
        assert (header.prog, header.vers, header.proc) == (cli.GLUSTER_CLI_PROGRAM, 2, proc)
        assert header.xid == 2 + n
        cred = decode_credential(header.cred)
        assert cred == GlusterCredV2(pid=0, uid=0, gid=0, groups=(), lk_owner=bytes(4))
        d = cli.cli_dict(req)
        if proc == CliProc.LIST_FRIENDS:
            body = cli.Gf1CliPeerListReq(flags=req.flags, dict=cli.encode_cli_dict(d)).pack()
        else:
            body = cli.cli_request(d).pack()
        msg = encode_call(header.xid, cli.GLUSTER_CLI_PROGRAM, 2, proc, cred) + body
        rebuilt += record_mark(len(msg)) + msg
    assert rebuilt == data


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_recorded_replies_decode_and_rebuild(command: str, golden: Golden, feed: Feed) -> None:
    """Every recorded glusterd reply decodes as gf_cli_rsp (gf1_cli_peer_list_rsp for
    LIST_FRIENDS), its dict decodes, and cli_reply(...) of the decoded values gives the same
    bytes (the dict's wire order is kept)."""
    replies = _replies(golden, feed, command)
    assert len(replies) == len(COMMANDS[command][1])
    for rsp in replies:
        d = cli.cli_dict(rsp)
        if isinstance(rsp, cli.Gf1CliPeerListRsp):
            again = cli.Gf1CliPeerListRsp(rsp.op_ret, rsp.op_errno, cli.encode_cli_dict(d))
        else:
            again = cli.cli_reply(rsp.op_ret, rsp.op_errno, rsp.op_errstr, d)
        assert again.pack() == rsp.pack()


def test_create_request_values(golden: Golden, feed: Feed) -> None:
    """volume create sends bricks with a space before and after each one, count = bricks,
    force and type as decimal C strings, transport tcp, and the command line as cmd-str."""
    [(_, req)] = _calls(golden, feed, "volume-create")
    d = cli.cli_dict(req)
    bricks = as_str(d["bricks"])
    assert bricks.startswith(" ") and bricks.endswith(" ") and len(bricks.split()) == 1
    assert d["count"] == b"1\0" and d["force"] == b"1\0" and d["type"] == b"0\0"
    assert as_int(d["type"]) == cli.ClusterType.NONE and as_str(d["transport"]) == "tcp"
    assert as_str(d["cmd-str"]) == f"volume create gfrpc-cli{bricks}force"
    assert list(d)[0] == "cmd-str"  # added last by the CLI, first on the wire


def test_set_reset_start_status_values(golden: Golden, feed: Feed) -> None:
    """set: key1/value1 and count 2 for one pair; reset without a key sends key "all"; start
    sends flags 0; status sends cmd VOL (ALL first for every volume); info flags."""
    [(_, s)] = _calls(golden, feed, "volume-set")
    d = cli.cli_dict(s)
    assert (as_str(d["key1"]), as_str(d["value1"]), as_int(d["count"])) == (
        "network.ping-timeout",
        "20",
        2,
    )
    [(_, r)] = _calls(golden, feed, "volume-reset")
    assert as_str(cli.cli_dict(r)["key"]) == "all"
    [(_, st)] = _calls(golden, feed, "volume-start")
    assert as_int(cli.cli_dict(st)["flags"]) == 0
    calls = _calls(golden, feed, "volume-status-all")
    assert [StatusFlag(as_int(cli.cli_dict(q)["cmd"])) for _, q in calls] == [
        StatusFlag.ALL,
        StatusFlag.VOL,
    ]
    calls = _calls(golden, feed, "volume-info-all")
    assert [as_int(cli.cli_dict(q)["flags"]) for _, q in calls] == [GetVolumeFlag.NEXT] * 2
    [(_, one)] = _calls(golden, feed, "volume-info")
    assert as_int(cli.cli_dict(one)["flags"]) == GetVolumeFlag.VOLUME
    [(h, pl)] = _calls(golden, feed, "pool-list")
    assert pl.flags == cli.ListFriendsFlag.POOL_NODES and pl.dict == b""


def test_info_and_status_reply_keys(golden: Golden, feed: Feed) -> None:
    """GET_VOLUME numbers volumes from 0 and bricks from 1; STATUS_VOLUME numbers bricks from 0
    and carries cmd, count, brick-index-max, other-count, hot_brick_count -1, type -1, tasks."""
    [info] = _replies(golden, feed, "volume-info")
    d = {k: as_str(v) for k, v in cli.cli_dict(info).items()}
    assert d["count"] == "1" and d["volume0.name"] == "gfrpc-cli"
    [(_, create)] = _calls(golden, feed, "volume-create")
    assert d["volume0.brick1"] == as_str(cli.cli_dict(create)["bricks"]).strip()
    assert {"volume0.opt_count", "volume0.brick1.uuid", "volume0.volume_id"} <= set(d)
    [status] = _replies(golden, feed, "volume-status")
    d = {k: as_str(v) for k, v in cli.cli_dict(status).items()}
    assert StatusFlag(int(d["cmd"])) == StatusFlag.VOL
    assert (d["hot_brick_count"], d["type"], d["brick-index-max"], d["count"]) == (
        "-1",
        "-1",
        "0",
        "1",
    )
    assert {"brick0.hostname", "brick0.path", "brick0.port", "brick0.pid", "brick0.status"} <= set(
        d
    )
    first, _ = _replies(golden, feed, "volume-status-all")
    d = {k: as_str(v) for k, v in cli.cli_dict(first).items() if k.startswith("vol")}
    assert d == {"vol_count": "1", "vol0": "gfrpc-cli"}
    [listed] = _replies(golden, feed, "volume-list")
    assert {k: as_str(v) for k, v in cli.cli_dict(listed).items()} == {
        "count": "1",
        "volume0": "gfrpc-cli",
    }
    [pool] = _replies(golden, feed, "pool-list")
    d = {k: as_str(v) for k, v in cli.cli_dict(pool).items()}
    assert (d["count"], d["friend1.hostname"], d["friend1.connected"]) == ("1", "localhost", "1")


@pytest.mark.parametrize(
    ("command", "errno", "errstr"),
    [
        ("volume-create-exists", 0, "Volume gfrpc-cli already exists"),
        ("volume-start-missing", GlusterdErrno.INTRNL, "Volume gfrpc-nosuch does not exist"),
        ("volume-info-missing", GlusterdErrno.NOVOL, "Volume does not exist"),
        (
            "volume-set-unknown",
            GlusterdErrno.INTRNL,
            "option : gfrpc.no-such-key does not exist\nDid you mean nfs.mount-udp?",
        ),
    ],
)
def test_error_replies(command: str, errno: int, errstr: str, golden: Golden, feed: Feed) -> None:
    """Failures are op_ret -1 with glusterd's op_errno and the text the CLI prints."""
    [rsp] = _replies(golden, feed, command)
    assert (rsp.op_ret, rsp.op_errno, rsp.op_errstr) == (-1, errno, errstr)


def test_procedure_numbers() -> None:
    """CliProc numbers follow enum gluster_cli_procnum: 50 procedures, spot-checked against
    the recorded calls' numbers and the reference table; the read-only set is TCP's."""
    assert len(CliProc) == 50 and [int(p) for p in CliProc] == list(range(50))
    assert (CliProc.CREATE_VOLUME, CliProc.SET_VOLUME, CliProc.RESET_VOLUME) == (4, 12, 20)
    assert (CliProc.STATUS_VOLUME, CliProc.LIST_VOLUME, CliProc.UUID_GET) == (27, 33, 36)
    assert CliProc.ADD_TIER_BRICK == 49
    assert CliProc.CREATE_VOLUME not in cli.READ_ONLY_PROCS
    assert CliProc.GET_VOLUME in cli.READ_ONLY_PROCS
    assert program_name(cli.GLUSTER_CLI_PROGRAM, cli.GLUSTER_CLI_VERSION) is not None


def test_dict_encoding_rules() -> None:
    """ints and strs become NUL-terminated text, bytes go as given, an empty dict is an empty
    opaque (as the CLI sends for volume list), and cli_dict reads them back raw."""
    req = cli.cli_request({"volname": "v", "flags": 1, "raw": b"\x01\x02"})
    assert cli.cli_dict(req) == {"volname": b"v\0", "flags": b"1\0", "raw": b"\x01\x02"}
    assert cli.cli_request({}).pack() == b"\0\0\0\0"
    assert cli.cli_request().pack() == cli.cli_request(None).pack()
    rsp = cli.cli_reply(-1, GlusterdErrno.NOVOL, "Volume does not exist", {"count": 0})
    back = cli.GfCliRsp.unpack(rsp.pack())
    assert (back.op_ret, back.op_errstr, cli.cli_dict(back)) == (
        -1,
        "Volume does not exist",
        {"count": b"0\0"},
    )
    with pytest.raises(LocalProtocolError):
        cli.cli_request({"x": 1.5})  # type: ignore[dict-item]


def test_lengths_bounded_before_allocation() -> None:
    """A dict or error text longer than our bound is refused from its length word alone,
    before anything is read or allocated."""
    huge = struct.pack(">I", cli.CLI_DICT_MAX + 1)
    with pytest.raises(RemoteProtocolError):
        cli.GfCliReq.unpack(huge + bytes(64))
    errstr = struct.pack(">iiI", -1, 0, cli.CLI_ERRSTR_MAX + 1)
    with pytest.raises(RemoteProtocolError):
        cli.GfCliRsp.unpack(errstr + bytes(64))
    with pytest.raises(RemoteProtocolError):  # a dict whose pair count cannot fit
        cli.cli_dict(cli.GfCliReq(dict=struct.pack(">I", 1000) + bytes(8)))


@pytest.mark.parametrize(
    "value",
    [
        cli.cli_request({"volname": "v"}),
        cli.cli_reply(-1, 2, "no", {"count": 1}),
        cli.Gf1CliPeerListReq(1, b""),
        cli.Gf1CliPeerListRsp(0, 0, cli.encode_cli_dict({"count": 0})),
    ],
)
def test_structs_roundtrip_and_truncation(value: XdrStruct) -> None:
    """CLI structs round-trip, and every cut of their encoding raises RemoteProtocolError."""
    data = value.pack()
    assert type(value).unpack(data) == value
    for cut in range(len(data)):
        with pytest.raises(RemoteProtocolError):
            type(value).unpack(data[:cut])


def test_reply_rebuilt_with_header(golden: Golden, feed: Feed) -> None:
    """A whole recorded reply record is encode_accepted_reply(xid) + the cli_reply body."""
    [record] = feed(golden("cli/volume-list.reply"))
    header, body = decode_message(record)
    rsp = cli.GfCliRsp.unpack(body)
    msg = encode_accepted_reply(header.xid) + cli.cli_reply(0, 0, "", cli.cli_dict(rsp)).pack()
    assert msg == record


@pytest.mark.parametrize(
    "name", ["", "-v", "a/b", "a b", "all", "force", "volume", "x" * 257, "vé"]
)
def test_volume_name_rule_refuses(name: str) -> None:
    """The CLI's volume name rule: ASCII alnum, '-', '_', no leading '-', at most 256
    characters, not a reserved word."""
    with pytest.raises(ConfigError):
        cli.validate_volume_name(name)


@pytest.mark.parametrize("name", ["v", "gfrpc-cli", "a_b-1", "x" * 256, "All"])
def test_volume_name_rule_accepts(name: str) -> None:
    """Names the CLI accepts pass unchanged."""
    assert cli.validate_volume_name(name) == name
