"""``gfrpc volume ...``: the gluster CLI's volume commands without the gluster binary, against
an in-process gfrpc mgmtd, printing what ``gluster`` prints."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli_service import FakeSupervisor, cli_socket, tcp_address, workdir_mgmtd

from gfrpc.cli import main

pytestmark = pytest.mark.timeout(60)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["volume", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_gfrpc_volume_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """create, start, info, list, status, set, reset, stop and delete through ``gfrpc volume``
    print gluster's lines; a refusal prints gluster's "failed:" line and exits 1."""
    sup = FakeSupervisor()
    with workdir_mgmtd(tmp_path / "wd", supervisor=sup) as server:
        sock = ["--glusterd-sock", cli_socket(server).removeprefix("unix:")]
        b0, b1 = f"localhost:{tmp_path}/b0", f"localhost:{tmp_path}/b1"

        def run(*argv: str) -> tuple[int, str, str]:
            return _run(capsys, *sock, *argv)

        assert run("list") == (0, "No volumes present in cluster\n", "")
        assert run("create", "v", b0, b1, "force") == (
            0,
            "volume create: v: success: please start the volume to access data\n",
            "",
        )
        assert run("create", "v", b0, "force") == (
            1,
            "",
            "volume create: v: failed: Volume v already exists\n",
        )
        code, _, err = run("create", "r", "replica", "2", f"{b0}x", f"{b1}x", "force")
        assert code == 1 and "distribute volumes only" in err
        assert run("start", "v") == (0, "volume start: v: success\n", "")
        assert run("start", "nosuch")[2] == (
            "volume start: nosuch: failed: Volume nosuch does not exist\n"
        )
        assert run("set", "v", "network.ping-timeout", "20") == (0, "volume set: success\n", "")
        code, _, err = run("set", "v", "gfrpc.no-such-key", "1")
        assert code == 1 and err.startswith(
            "volume set: failed: option : gfrpc.no-such-key does not exist"
        )
        code, out, _ = run("info", "v")
        vid = server.store.get_volume("v").volume_id  # type: ignore[union-attr]
        assert code == 0 and out.splitlines() == [
            " ",
            "Volume Name: v",
            "Type: Distribute",
            f"Volume ID: {vid}",
            "Status: Started",
            "Snapshot Count: 0",
            "Number of Bricks: 2",
            "Transport-type: tcp",
            "Bricks:",
            f"Brick1: {b0}",
            f"Brick2: {b1}",
            "Options Reconfigured:",
            "network.ping-timeout: 20",
        ]
        assert run("info", "nosuch") == (1, "", "Volume nosuch does not exist\n")
        assert run("list") == (0, "v\n", "")
        code, out, _ = run("status")
        lines = out.splitlines()
        assert code == 0 and lines[:3] == [
            "Status of volume: v",
            "Gluster process                             TCP Port  RDMA Port  Online  Pid",
            "-" * 78,
        ]
        rows = [w.split() for w in lines[3:] if w.rstrip().endswith(("40000", "40001"))]
        assert [r[-4:] for r in rows] == [
            ["49152", "0", "Y", "40000"],
            ["49153", "0", "Y", "40001"],
        ]
        assert "".join(lines[3:]).replace(" ", "").count(f"Brick{b0}") == 1  # wrapped at 43
        code, out, _ = run("status", "v", "detail")
        assert code == 0 and "Online               : Y" in out and "Total Disk Space" in out
        assert run("reset", "v") == (0, "volume reset: success: reset volume successful\n", "")
        assert run("stop", "v") == (0, "volume stop: v: success\n", "")
        assert run("status", "v") == (1, "", "Volume v is not started\n")
        assert run("delete", "v") == (0, "volume delete: v: success\n", "")
        assert run("list") == (0, "No volumes present in cluster\n", "")
    assert sup.calls == ["adopt ", "start v", "stop v", "close"]


def test_gfrpc_volume_over_tcp_reads_but_does_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --remote-host (TCP), info and list work and a write command fails with one line
    that says to use the UNIX socket."""
    with workdir_mgmtd(tmp_path / "wd") as server:
        sock = cli_socket(server).removeprefix("unix:")
        assert (
            _run(
                capsys, "--glusterd-sock", sock, "create", "v", f"localhost:{tmp_path}/b", "force"
            )[0]
            == 0
        )
        tcp = ["--remote-host", tcp_address(server)]
        assert _run(capsys, *tcp, "list") == (0, "v\n", "")
        code, _, err = _run(capsys, *tcp, "delete", "v")
        assert code == 1 and err.count("\n") == 1 and "UNIX socket only" in err
        assert _run(capsys, *tcp, "list") == (0, "v\n", "")


def test_gfrpc_volume_without_a_daemon_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No daemon on the socket: one error line, exit 1, no traceback."""
    code, _, err = _run(capsys, "--glusterd-sock", str(tmp_path / "none.socket"), "list")
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
