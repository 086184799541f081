"""The stock ``gluster`` CLI (Debian's glusterfs-cli 10.3) against a gfrpc mgmtd, no glusterd.

``gluster --glusterd-sock=DIR/glusterd.socket --mode=script ...`` runs the commands recorded
against a real glusterd in ``tests/fixtures/cli/transcript.txt``, on a volume of the same name
and brick, and prints the same text modulo the run's UUIDs, ports and pids; its ``--xml``
output parses and matches the daemon's state. The CLI needs nothing under /var/lib/glusterd
(it only writes the log file it is given), and ignores glusterd's FETCHSPEC callback, which
gfrpc does not send.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_cli_service import RECORDED_BRICK, RECORDED_HOST, FakeSupervisor, workdir_mgmtd

from gfrpc.services.mgmt import MgmtServer
from gfrpc.testing import need

pytestmark = pytest.mark.timeout(120)

TRANSCRIPT = Path(__file__).resolve().parents[1] / "fixtures" / "cli" / "transcript.txt"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PORT_OR_PID = re.compile(r"\b\d{5}\b")


class StockCli:
    def __init__(self, socket_path: str, log: Path) -> None:
        self.argv = ["gluster", f"--glusterd-sock={socket_path}", f"--log-file={log}"]
        self.argv.append("--mode=script")

    def __call__(self, *args: str) -> tuple[int, str]:
        r = subprocess.run([*self.argv, *args], capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout + r.stderr


@pytest.fixture
def stock(tmp_path: Path) -> Iterator[tuple[StockCli, MgmtServer, FakeSupervisor]]:
    need(shutil.which("gluster"), "the stock gluster CLI (glusterfs-cli) is not installed")
    made = not Path(RECORDED_BRICK).exists()
    sup = FakeSupervisor()
    try:
        with workdir_mgmtd(tmp_path / "wd", supervisor=sup) as server:
            assert server.cli_listener is not None
            sock = str(server.cli_listener.address).removeprefix("unix:")
            yield StockCli(sock, tmp_path / "cli.log"), server, sup
    finally:
        if made:
            shutil.rmtree("/tmp/gfrpc-interop-dkp_rs1d", ignore_errors=True)


def _transcript() -> list[tuple[list[str], int, str]]:
    """(gluster arguments, exit status, output) of each recorded command."""
    out = []
    for block in TRANSCRIPT.read_text().split("$ gluster ")[1:]:
        command, status, *rest = block.split("\n")
        out.append((command.split(), int(status.removeprefix("# exit ")), "\n".join(rest)))
    return out


def _normal(text: str) -> str:
    """Without the run's values (UUIDs, 5-digit ports and pids), glusterd's three default
    options (gfrpc sets none on create), and glusterd's option-name suggestion."""
    text = UUID.sub("<uuid>", PORT_OR_PID.sub("<n>", text))
    text = re.sub(r"Options Reconfigured:\n(?:[^\n]+: [^\n]+\n)+", "", text)
    text = re.sub(r"<optCount>\d+</optCount>", "<optCount/>", text)
    text = re.sub(r"<options>.*?</options>|<options/>", "<options/>", text, flags=re.S)
    text = re.sub(r"\nDid you mean [^\n]*\?", "", text)
    return text.rstrip("\n") + "\n"


def test_stock_cli_prints_what_it_prints_against_glusterd(
    stock: tuple[StockCli, MgmtServer, FakeSupervisor],
) -> None:
    """Every recorded command (peer status, pool list, volume list/create/start/info/status/
    set/reset/stop/delete, --xml included, and the refusals) exits with the same status and
    prints the same text against gfrpc mgmtd, modulo the run's UUIDs, ports and pids."""
    gluster, _, _ = stock
    for args, status, text in _transcript():
        code, out = gluster(*args)
        assert code == status, (args, out)
        assert _normal(out) == _normal(text), args


def test_stock_cli_xml_matches_the_state(
    stock: tuple[StockCli, MgmtServer, FakeSupervisor], tmp_path: Path
) -> None:
    """``volume info --xml`` and ``volume status --xml`` parse, and their fields are the
    stored volume's: name, id, status, bricks with the node's UUID, options in the order set,
    and each brick's port, pid and online state from the supervisor."""
    gluster, server, sup = stock
    # the CLI itself refuses localhost and loopback addresses as brick hosts
    bricks = [f"{RECORDED_HOST}:{tmp_path}/x{i}" for i in range(3)]
    assert gluster("volume", "create", "xv", *bricks, "force")[0] == 0
    assert gluster("volume", "start", "xv")[0] == 0
    assert gluster("volume", "set", "xv", "client.ssl", "on")[0] == 0
    assert gluster("volume", "set", "xv", "network.ping-timeout", "20")[0] == 0
    assert server.store is not None
    vol = server.store.get_volume("xv")
    code, out = gluster("volume", "info", "xv", "--xml")
    assert code == 0
    v = ET.fromstring(out).find("volInfo/volumes/volume")
    assert v is not None
    assert (v.findtext("name"), v.findtext("id"), v.findtext("statusStr")) == (
        "xv",
        str(vol.volume_id),
        "Started",
    )
    assert (v.findtext("brickCount"), v.findtext("typeStr")) == ("3", "Distribute")
    assert [b.findtext("name") for b in v.iter("brick")] == bricks
    assert {b.findtext("hostUuid") for b in v.iter("brick")} == {str(server.node_uuid)}
    assert [(o.findtext("name"), o.findtext("value")) for o in v.iter("option")] == [
        ("client.ssl", "on"),
        ("network.ping-timeout", "20"),
    ]
    code, out = gluster("volume", "status", "xv", "--xml")
    assert code == 0
    nodes = ET.fromstring(out).findall("volStatus/volumes/volume/node")
    states = {p: s for p, s in sup.running.items()}
    assert [
        (n.findtext("hostname"), n.findtext("path"), n.findtext("status"), n.findtext("port"))
        for n in nodes
    ] == [(RECORDED_HOST, b.split(":")[1], "1", str(states[b.split(":")[1]][0])) for b in bricks]
    assert [n.findtext("pid") for n in nodes] == [str(states[b.split(":")[1]][1]) for b in bricks]
    assert gluster("volume", "stop", "xv")[0] == 0
    code, out = gluster("volume", "status", "xv", "--xml")
    assert ET.fromstring(out).findtext("opErrstr") == "Volume xv is not started"
