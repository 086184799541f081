"""``gfrpc volume --xml`` (``gfrpc.cli.volume_xml``): the documents the stock ``gluster --xml``
prints, from glusterd's recorded replies and from an in-process gfrpc mgmtd. The comparison
with the stock binary itself is ``tests/interop/test_volume_xml_interop.py``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from test_cli_service import FakeSupervisor, cli_socket, workdir_mgmtd

from gfrpc.cli import main
from gfrpc.cli import volume_xml as vx
from gfrpc.client.cli_client import CliReply
from gfrpc.errors import RemoteProtocolError
from gfrpc.programs import cli
from gfrpc.wire.gfdict import as_str
from gfrpc.wire.record import NEED_DATA, RecordDecoder
from gfrpc.wire.rpcmsg import ReplyHeader, decode_message

pytestmark = pytest.mark.timeout(30)

TRANSCRIPT = Path(__file__).resolve().parents[1] / "fixtures" / "cli" / "transcript.txt"


def _recorded_reply(golden: Callable[[str], bytes], name: str) -> CliReply:
    """The CLI program reply of a recorded command, as CliClient.call returns it."""
    dec = RecordDecoder()
    dec.receive_data(golden(f"cli/{name}.reply"))
    while (record := dec.next_record()) is not NEED_DATA:
        header, body = decode_message(record)  # type: ignore[arg-type]
        if isinstance(header, ReplyHeader):
            rsp = cli.GfCliRsp.unpack(body)
            values = {k: as_str(v) for k, v in cli.cli_dict(rsp).items()}
            return CliReply(int(rsp.op_ret), int(rsp.op_errno), str(rsp.op_errstr), values)
    raise AssertionError(f"no reply in {name}")


def _printed(command: str) -> str:
    """What the stock CLI printed for ``gluster COMMAND`` in the recorded transcript."""
    for block in TRANSCRIPT.read_text().split("$ gluster ")[1:]:
        line, _status, *rest = block.split("\n")
        if line == command:
            return "\n".join(rest).rstrip("\n") + "\n"
    raise AssertionError(command)


def test_glusterds_recorded_replies_give_the_recorded_documents(
    golden: Callable[[str], bytes],
) -> None:
    """From real glusterd's recorded replies, ``volume info --xml`` and ``volume status --xml``
    are the stock CLI's recorded output byte for byte (element order, quirks, indentation)."""
    info = _recorded_reply(golden, "volume-info-xml")
    doc = vx.vol_info((info.op_ret, info.op_errno, info.op_errstr), [info.dict])
    assert vx.to_text(doc) == _printed("volume info gfrpc-cli --xml")
    status = _recorded_reply(golden, "volume-status-xml")
    doc = vx.vol_status((0, 0, ""), [status.dict])
    assert vx.to_text(doc) == _printed("volume status gfrpc-cli --xml")


def test_text_is_libxml2s_formatted_save() -> None:
    """Element-only content is indented two spaces a level; an element holding text keeps its
    children on its line; an empty element is <x/>; & < > and CR are escaped in text, and
    quotes, TAB and LF too in attributes; a control character is refused (the CLI prints
    nothing for it)."""
    root = ET.Element("cliOutput")
    ET.SubElement(root, "opErrstr").text = ""
    mixed = ET.SubElement(ET.SubElement(root, "bricks"), "brick", uuid='a"b\tc\n')
    mixed.text = "h:/p<&>\r\"'\t\n"
    ET.SubElement(mixed, "name").text = "x"
    assert vx.to_text(root) == (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        "<cliOutput>\n"
        "  <opErrstr/>\n"
        "  <bricks>\n"
        '    <brick uuid="a&quot;b&#9;c&#10;">h:/p&lt;&amp;&gt;&#13;"\'\t\n<name>x</name></brick>\n'
        "  </bricks>\n"
        "</cliOutput>\n"
    )
    ET.SubElement(root, "output").text = "bad \x01"
    with pytest.raises(RemoteProtocolError):
        vx.to_text(root)


def _status_dict(cmd: int, **bricks: str) -> dict[str, str]:
    d = {"volname": "v", "count": "2", "cmd": str(cmd), "brick-index-max": "2"}
    d |= {"other-count": "0", "type": "0", "tasks": "0"}
    for i, (status, port) in enumerate([("1", "0"), ("0", "49152")]):
        p = f"brick{i}."
        d |= {p + "hostname": "h", p + "path": f"/b{i}", p + "peerid": "u", p + "pid": "-1"}
        d |= {p + "status": status, p + "port": port, p + "rdma_port": "0"}
    return d | bricks  # brick2 has no hostname: not a node the CLI shows


def test_status_nodes_follow_the_clis_rules() -> None:
    """A brick shows its port only when online with a port (else N/A, tcp and rdma too); a
    brick without a hostname is left out; plain status ends with <tasks/>, detail has no tasks
    and shows each detail field the reply has, in the CLI's order (inodeSize holding the file
    system name, as the CLI writes it)."""
    plain = vx.vol_status((0, 0, ""), [_status_dict(0x100)]).find("volStatus/volumes/volume")
    assert plain is not None
    nodes = plain.findall("node")
    assert [
        (n.findtext("port"), n.findtext("ports/tcp"), n.findtext("ports/rdma")) for n in nodes
    ] == [
        ("N/A", "N/A", "N/A"),
        ("N/A", "N/A", "N/A"),
    ]
    assert [c.tag for c in plain] == ["volName", "nodeCount", "node", "node", "tasks"]
    detail = _status_dict(0x120, **{"brick0.free": "5", "brick0.fs_name": "xfs"})
    detail |= {"brick0.inode_size": "512", "brick0.total": "9", "brick1.status": "1"}
    vol = vx.vol_status((0, 0, ""), [detail]).find("volStatus/volumes/volume")
    assert vol is not None and vol.find("tasks") is None
    n0, n1 = vol.findall("node")
    assert [(c.tag, c.text) for c in n0][-4:] == [
        ("sizeTotal", "9"),
        ("sizeFree", "5"),
        ("fsName", "xfs"),
        ("inodeSize", "xfs"),
    ]
    assert (n1.findtext("port"), n1.findtext("ports/tcp"), n1.findtext("ports/rdma")) == (
        "49152",
        "49152",
        "N/A",
    )


def test_info_types_bricks_and_options_as_the_cli_reads_them() -> None:
    """distCount is bricks per leaf, a replicate volume of several leaves is
    Distributed-Replicate (type 7), isArbiter follows the key's presence, and options come
    in the CLI's dict order (the reverse of the wire's), named past the volume's prefix."""
    d = {"count": "1", "volume0.name": "r", "volume0.volume_id": "i", "volume0.status": "2"}
    d |= {"volume0.snap_count": "0", "volume0.brick_count": "4", "volume0.dist_count": "2"}
    for k in ("replica_count", "arbiter_count", "disperse_count", "redundancy_count"):
        d[f"volume0.{k}"] = "2" if k == "replica_count" else "0"
    d |= {"volume0.type": "2", "volume0.transport": "0", "volume0.opt_count": "2"}
    for j in range(1, 5):
        d |= {f"volume0.brick{j}": f"h:/b{j}", f"volume0.brick{j}.uuid": "u"}
    d |= {"volume0.brick2.isArbiter": "1"}
    d |= {"volume0.option.b.second": "2", "volume0.option.a.first": "1"}
    vol = vx.vol_info((0, 0, ""), [d]).find("volInfo/volumes/volume")
    assert vol is not None
    got = [vol.findtext(t) for t in ("distCount", "type", "typeStr", "statusStr")]
    assert got == ["2", "7", "Distributed-Replicate", "Stopped"]
    assert [b.findtext("isArbiter") for b in vol.iter("brick")] == ["0", "1", "0", "0"]
    assert [(o.findtext("name"), o.findtext("value")) for o in vol.iter("option")] == [
        ("a.first", "1"),
        ("b.second", "2"),
    ]


def test_gfrpc_volume_xml_against_a_mgmtd(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every ``gfrpc volume`` action prints one parsable document with ``--xml`` before or
    after the action; a refusal is a document with opRet -1 and the daemon's message, exit 0;
    bad arguments are one error line, exit 1; ``status`` of all volumes leaves a stopped
    one out."""
    with workdir_mgmtd(tmp_path / "wd", supervisor=FakeSupervisor()) as server:
        sock = cli_socket(server).removeprefix("unix:")

        def run(*argv: str) -> tuple[int, ET.Element]:
            code = main(["volume", "--glusterd-sock", sock, *argv])
            out, err = capsys.readouterr()
            assert err == ""
            return code, ET.fromstring(out)

        b = f"localhost:{tmp_path}/b"
        code, doc = run("--xml", "create", "v", b, "force")
        assert code == 0 and doc.findtext("volCreate/volume/name") == "v"
        vid = doc.findtext("volCreate/volume/id")
        code, doc = run("create", "v", b, "force", "--xml")
        assert (code, doc.findtext("opRet"), doc.findtext("opErrstr")) == (
            0,
            "-1",
            "Volume v already exists",
        )
        assert doc.find("volCreate") is None
        assert run("create", "w", f"{b}w", "force", "--xml")[0] == 0
        assert run("start", "v", "--xml")[1].findtext("volStart/volume/id") == vid
        assert run("set", "v", "network.ping-timeout", "20", "--xml")[1].findtext("output") == (
            "Set volume successful"
        )
        assert [e.text for e in run("--xml", "list")[1].iter("volume")] == ["v", "w"]
        code, doc = run("--xml", "info")
        assert [e.findtext("name") for e in doc.iter("volume")] == ["v", "w"]
        assert doc.findtext("volInfo/volumes/count") == "2"
        assert doc.findtext(".//option/value") == "20"
        code, doc = run("status", "--xml")
        assert [e.findtext("volName") for e in doc.iter("volume")] == ["v"]
        assert run("status", "v", "detail", "--xml")[1].find(".//node/sizeTotal") is not None
        code, doc = run("status", "w", "--xml")
        assert (code, doc.findtext("cliOp"), doc.findtext("output")) == (
            0,
            "volStatus",
            "Volume w is not started",
        )
        assert run("reset", "v", "--xml")[1].findtext("cliOp") == "volReset"
        assert run("stop", "v", "--xml")[1].findtext("volStop/volume/name") == "v"
        assert run("delete", "v", "--xml")[1].findtext("volDelete/volume/id") == vid
        code, doc = run("info", "v", "--xml")
        assert (code, doc.findtext("opRet"), doc.findtext("volInfo/volumes/count")) == (
            0,
            "-1",
            "0",
        )
        assert main(["volume", "--glusterd-sock", sock, "--xml", "set", "w", "k"]) == 1
        _, err = capsys.readouterr()
        assert err.count("\n") == 1
