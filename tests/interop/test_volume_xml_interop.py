"""``gfrpc volume --xml`` against the stock ``gluster --xml`` (Debian's glusterfs-cli 10.3), both
talking to one gfrpc mgmtd (no glusterd needed): for every action, in the same daemon state,
the two print the same document, byte for byte, and exit alike.

The only values allowed to differ are those that differ run to run by nature: a brick's free
space and free inodes (``status detail``; the disk is shared), and the volume-id of a volume
created (or deleted) once by each CLI, compared by substituting the id each one made.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_cli_service import RECORDED_HOST, FakeSupervisor, workdir_mgmtd

from gfrpc.cli import main
from gfrpc.services.mgmt import MgmtServer
from gfrpc.testing import need

pytestmark = pytest.mark.timeout(60)

RUN_TO_RUN = re.compile(r"<(sizeFree|inodesFree)>\d+</")
Tree = tuple[str, tuple[tuple[str, str], ...], str, tuple["Tree", ...]]


def _tree(e: ET.Element) -> Tree:
    """An element as (tag, attributes, text, children): what the comparison looks at."""
    return (e.tag, tuple(e.attrib.items()), e.text or "", tuple(_tree(c) for c in e))


@dataclass
class Both:
    """The stock CLI and ``gfrpc volume`` on one daemon socket."""

    server: MgmtServer
    sup: FakeSupervisor
    sock: str
    log: Path
    capsys: pytest.CaptureFixture[str]
    bricks: Path

    def stock(self, *args: str) -> tuple[int, str]:
        argv = ["gluster", f"--glusterd-sock={self.sock}", f"--log-file={self.log}"]
        r = subprocess.run(
            [*argv, "--mode=script", *args], capture_output=True, text=True, timeout=30
        )
        return r.returncode, r.stdout + r.stderr

    def gfrpc(self, *args: str) -> tuple[int, str]:
        self.capsys.readouterr()
        code = main(["volume", "--glusterd-sock", self.sock, *args[1:]])
        out, err = self.capsys.readouterr()
        return code, out + err

    def same(self, *args: str, ids: tuple[str, str] | None = None) -> None:
        """``gluster ARGS`` and ``gfrpc ARGS`` (ARGS starting with "volume") print the same
        document and exit alike; ``ids``: (stock's id, gfrpc's id) to substitute first."""
        want, got = self.stock(*args), self.gfrpc(*args)
        if ids is not None:
            want = (want[0], want[1].replace(ids[0], "<id>"))
            got = (got[0], got[1].replace(ids[1], "<id>"))
        want = (want[0], RUN_TO_RUN.sub(r"<\1>N</", want[1]))
        got = (got[0], RUN_TO_RUN.sub(r"<\1>N</", got[1]))
        assert _tree(ET.fromstring(got[1])) == _tree(ET.fromstring(want[1])), args
        assert got == want, args

    def same_write(self, action: tuple[str, ...], undo: tuple[str, ...]) -> None:
        """``volume ACTION --xml`` by the stock CLI, ``undo`` (by the stock CLI; nothing when
        empty), the same by gfrpc, ``undo`` again: the documents and exit statuses are the
        same."""
        want = self.stock("volume", *action, "--xml")
        if undo:
            assert self.stock("volume", *undo)[0] == 0, undo
        got = self.gfrpc("volume", *action, "--xml")
        if undo:
            assert self.stock("volume", *undo)[0] == 0, undo
        assert _tree(ET.fromstring(got[1])) == _tree(ET.fromstring(want[1])), action
        assert got == want, action

    def brick(self, name: str) -> str:
        return f"{RECORDED_HOST}:{self.bricks}/{name}"

    def volume_id(self, name: str) -> str:
        assert self.server.store is not None
        return str(self.server.store.get_volume(name).volume_id)


@pytest.fixture
def both(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Both]:
    need(shutil.which("gluster"), "the stock gluster CLI (glusterfs-cli) is not installed")
    sup = FakeSupervisor()
    with workdir_mgmtd(tmp_path / "wd", supervisor=sup) as server:
        assert server.cli_listener is not None
        sock = str(server.cli_listener.address).removeprefix("unix:")
        yield Both(server, sup, sock, tmp_path / "cli.log", capsys, tmp_path / "bricks")


def test_read_only_actions_and_refusals_print_the_stock_documents(both: Both) -> None:
    """list, info (one, all), status (one, all, detail; an offline brick; a stopped volume
    left out) and every refusal (no such volume, exists, replica, unknown option, already
    started, not started) print the stock CLI's document and exit status."""
    for args in (
        ("volume", "list", "--xml"),
        ("volume", "info", "--xml"),
        ("volume", "status", "--xml"),
        ("volume", "status", "all", "detail", "--xml"),
        ("volume", "--xml", "info", "nosuch"),
        ("volume", "status", "nosuch", "--xml"),
        ("volume", "status", "nosuch", "detail", "--xml"),
    ):
        both.same(*args)
    for verb in ("start", "stop", "delete", "reset"):
        both.same("volume", verb, "nosuch", "--xml")
    both.same("volume", "set", "nosuch", "network.ping-timeout", "20", "--xml")
    assert both.stock("volume", "create", "v", both.brick("v0"), both.brick("v1"), "force")[0] == 0
    assert both.stock("volume", "create", "w", both.brick("w0"), "force")[0] == 0
    assert both.stock("volume", "start", "v")[0] == 0
    both.sup.running.pop(f"{both.bricks}/v1")  # a brick of a started volume is down
    assert both.stock("volume", "set", "v", "network.ping-timeout", "20")[0] == 0
    assert both.stock("volume", "set", "v", "auth.allow", "a<b>&c\"d'e", "client.ssl", "on")[0] == 0
    later: tuple[tuple[str, ...], ...] = (
        ("volume", "list", "--xml"),
        ("volume", "info", "--xml"),
        ("volume", "info", "all", "--xml"),
        ("volume", "info", "v", "--xml"),
        ("volume", "--xml", "status"),
        ("volume", "status", "v", "--xml"),
        ("volume", "status", "all", "--xml"),
        ("volume", "status", "v", "detail", "--xml"),
        ("volume", "status", "w", "--xml"),
        ("volume", "create", "v", both.brick("x"), "force", "--xml"),
        ("volume", "create", "r", "replica", "2", both.brick("r0"), both.brick("r1"), "--xml"),
        ("volume", "set", "v", "gfrpc.no-such-key", "1", "--xml"),
        ("volume", "set", "v", "network.ping-timeout", "<x>&", "--xml"),
        ("volume", "reset", "v", "no.such-key", "--xml"),
        ("volume", "start", "v", "--xml"),
        ("volume", "stop", "w", "--xml"),
        ("volume", "delete", "v", "--xml"),
    )
    for command in later:
        both.same(*command)


def test_write_actions_print_the_stock_documents(both: Both) -> None:
    """create, start (and force), stop (and force), set, reset (one key, all) and delete print
    the stock CLI's document, each CLI acting on the same state in turn (the state put back
    between the two); create and delete differ only by the volume-id each run made."""
    v = ("v", both.brick("v0"), both.brick("v1"), "force")
    want = both.stock("volume", "create", *v, "--xml")
    stock_id = both.volume_id("v")
    assert both.stock("volume", "delete", "v")[0] == 0
    got = both.gfrpc("volume", "create", *v, "--xml")
    mine_id = both.volume_id("v")
    assert got == (want[0], want[1].replace(stock_id, mine_id))
    ping = ("set", "v", "network.ping-timeout", "20")
    steps: list[tuple[tuple[str, ...], tuple[str, ...] | None]] = [
        (("start", "v"), ("stop", "v")),
        (("start", "v", "force"), ("stop", "v")),
        (("set", "v", "network.ping-timeout", "20", "client.ssl", "on"), ("reset", "v")),
        (ping, None),  # the state for the resets
        (("reset", "v", "network.ping-timeout"), ping),
        (("reset", "v"), ping),
        (("start", "v"), None),  # the state for the stops
        (("stop", "v"), ("start", "v")),
        (("stop", "v", "force"), ("start", "v")),
        (("start", "v", "force"), ()),  # already started: force starts it again
        (("stop", "v"), None),  # the state for delete
    ]
    for action, undo in steps:  # undo None: a step that only sets the state up
        if undo is None:
            assert both.stock("volume", *action)[0] == 0, action
        else:
            both.same_write(action, undo)
    want = both.stock("volume", "delete", "v", "--xml")
    assert both.stock("volume", "create", *v)[0] == 0
    again_id = both.volume_id("v")
    got = both.gfrpc("volume", "delete", "v", "--xml")
    assert got == (want[0], want[1].replace(mine_id, again_id))
