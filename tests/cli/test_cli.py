"""The `gfrpc` command line: names, help, one-line errors, and the brick process lifecycle."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gfrpc import __version__

pytestmark = pytest.mark.timeout(60)

GFRPC = [sys.executable, "-m", "gfrpc.cli"]
SUBCOMMANDS = [
    "dump",
    "ping",
    "portmap",
    "brick",
    "mgmtd",
    "certs",
    "put",
    "get",
    "ls",
    "stat",
    "rm",
    "mkdir",
    "bench",
    "bench-transport",
    "bench-write",
]


def gfrpc(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GFRPC, *args], capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_version() -> None:
    """`gfrpc --version` prints the package version."""
    out = gfrpc("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"gfrpc {__version__}"


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command: str) -> None:
    """Every sub-command answers --help with its usage line."""
    out = gfrpc(command, "--help")
    assert out.returncode == 0
    assert out.stdout.startswith(f"usage: gfrpc {command}")


def test_connection_refused_is_one_line() -> None:
    """A refused connection prints `connection refused` on one line, no traceback, exit 1."""
    out = gfrpc("dump", f"127.0.0.1:{free_port()}")
    assert out.returncode == 1
    assert out.stderr.strip() == "gfrpc dump: connection refused"


def test_a_reader_that_stops_reading_ends_the_command_quietly() -> None:
    """When whoever reads gfrpc's output goes away (``gfrpc ... | head``), gfrpc stops with
    the shell's status for SIGPIPE (141) and prints nothing: no error line, no traceback."""
    saved = Path(__file__).resolve().parents[2] / "docs" / "bench" / "compare.json"
    proc = subprocess.Popen(
        [*GFRPC, "bench", "--from-json", str(saved)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # nobody reads: the first write that reaches the pipe fails
    _, err = proc.communicate(timeout=30)
    assert err.decode() == "" and proc.returncode == 141


def test_missing_tls_files_is_one_line(tmp_path: Path) -> None:
    """--tls with a directory lacking glusterfs.pem names the missing file in one line."""
    out = gfrpc("ping", f"127.0.0.1:{free_port()}", "--tls", "--tls-dir", str(tmp_path))
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "glusterfs.pem" in lines[0]


def test_certs_writes_glusterfs_files(tmp_path: Path) -> None:
    """`gfrpc certs DIR --cn NAME` writes glusterfs.pem/.key/.ca with private keys 0600,
    and --ca signs a second peer with the first one's CA."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert gfrpc("certs", str(a), "--cn", "alpha").returncode == 0
    out = gfrpc("certs", str(b), "--cn", "beta", "--ca", str(a))
    assert out.returncode == 0, out.stderr
    for d in (a, b):
        for name in ("glusterfs.pem", "glusterfs.key", "glusterfs.ca"):
            assert (d / name).is_file()
        assert (d / "glusterfs.key").stat().st_mode & 0o777 == 0o600
    assert (a / "ca.key").stat().st_mode & 0o777 == 0o600
    assert (a / "glusterfs.ca").read_bytes() == (b / "glusterfs.ca").read_bytes()


def _start_brick(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    brick = tmp_path / "brick"
    brick.mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [*GFRPC, "brick", "--dir", str(brick), "--port", "0", "--host", "127.0.0.1", *extra],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()  # the one "ready" line
    m = re.search(r"ready on 127\.0\.0\.1:(\d+)", line)
    assert m, line
    return proc, int(m.group(1))


def test_brick_reports_the_fops_it_served_on_sigusr1(tmp_path: Path) -> None:
    """SIGUSR1 makes a running `gfrpc brick` log one line with how many of each FOP it has
    served (as glusterfsd dumps its state on SIGUSR1); it goes on serving, and SIGTERM still
    stops it with the same counts."""
    from gfrpc.client import Volume

    proc, port = _start_brick(tmp_path)
    assert proc.stderr is not None
    try:
        with Volume.connect_brick("127.0.0.1", port, str(tmp_path / "brick"), "gfrpc") as vol:
            vol.write_bytes("/f", b"x")
            vol.unlink("/f")
            proc.send_signal(signal.SIGUSR1)
            line = ""
            while "FOPs served:" not in line:  # after the brick's other lines (accepted ...)
                line = proc.stderr.readline()
                assert line, "the brick ended without a report"
            served = dict(kv.split("=") for kv in line.split("FOPs served: ")[1].split())
            assert served["CREATE"] == "1" and served["UNLINK"] == "1", line
            vol.write_bytes("/g", b"y")  # still serving
            assert vol.read_bytes("/g") == b"y"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "stopping; FOPs served:" in rest and "CREATE=2" in rest, rest


@pytest.mark.parametrize("poller", ["single", "own-thread", "pool"])
def test_brick_serves_dump_and_stops_on_sigterm(tmp_path: Path, poller: str) -> None:
    """`gfrpc brick` logs one ready line, lists GF-DUMP in its DUMP reply, answers pings, and
    exits 0 on SIGTERM."""
    proc, port = _start_brick(tmp_path, "--poller", poller)
    try:
        out = gfrpc("dump", f"127.0.0.1:{port}")
        assert out.returncode == 0, out.stderr
        assert "123451501 1 GF-DUMP" in out.stdout.splitlines()
        out = gfrpc("ping", f"127.0.0.1:{port}", "--count", "3")
        assert out.returncode == 0 and out.stdout.startswith("3 pings answered")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_brick_stops_on_sigint(tmp_path: Path) -> None:
    """SIGINT stops the brick cleanly too (exit 0)."""
    proc, _ = _start_brick(tmp_path)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 0


def test_brick_tls_with_ssl_allow(tmp_path: Path) -> None:
    """A TLS brick serves a client whose CN is in --ssl-allow; one whose CN is not fails
    SETVOLUME ("authentication failed", one line); a plaintext client fails cleanly."""
    ca, good, bad = tmp_path / "ca", tmp_path / "good", tmp_path / "bad"
    assert gfrpc("certs", str(ca), "--cn", "brick-1").returncode == 0
    assert gfrpc("certs", str(good), "--cn", "client-7", "--ca", str(ca)).returncode == 0
    assert gfrpc("certs", str(bad), "--cn", "intruder", "--ca", str(ca)).returncode == 0
    proc, port = _start_brick(tmp_path, "--tls", "--tls-dir", str(ca), "--ssl-allow", "client-*")
    brick = f"127.0.0.1:{port}:{tmp_path / 'brick'}"
    try:
        ok = gfrpc("ls", "--brick", brick, "--tls", "--tls-dir", str(good))
        assert ok.returncode == 0, ok.stderr
        refused = gfrpc("ls", "--brick", brick, "--tls", "--tls-dir", str(bad))
        assert refused.returncode == 1
        assert len(refused.stderr.strip().splitlines()) == 1
        assert "authentication failed" in refused.stderr.lower()
        plain = gfrpc("ls", "--brick", brick)
        assert plain.returncode == 1 and "Traceback" not in plain.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_brick_missing_dir_is_one_line(tmp_path: Path) -> None:
    """A brick directory that does not exist is a one-line error."""
    out = gfrpc("brick", "--dir", str(tmp_path / "nope"), "--port", "0")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"gfrpc brick: brick directory {tmp_path / 'nope'} does not exist"
    ]


def test_bad_poller_name_is_a_usage_error() -> None:
    """An unknown --poller is refused by argparse (exit 2), listing the three names."""
    out = gfrpc("brick", "--dir", "/", "--port", "0", "--poller", "threads")
    assert out.returncode == 2 and "own-thread" in out.stderr


def test_no_traceback_without_debug(tmp_path: Path) -> None:
    """Errors print no traceback unless --debug is given."""
    port = str(free_port())
    assert "Traceback" not in gfrpc("ping", f"127.0.0.1:{port}").stderr
    assert "Traceback" in gfrpc("--debug", "ping", f"127.0.0.1:{port}").stderr


def test_mgmtd_serves_the_portmapper_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`gfrpc mgmtd` logs one ready line; a brick started with --mgmt signs in, so
    `gfrpc portmap` prints its port; SIGTERM stops both cleanly (exit 0)."""
    mgmtd = subprocess.Popen(
        [
            *GFRPC,
            "mgmtd",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--volume",
            f"v=127.0.0.1:{tmp_path / 'brick'}",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert mgmtd.stderr is not None
    m = re.search(r"mgmtd ready on 127\.0\.0\.1:(\d+)", mgmtd.stderr.readline())
    assert m
    port = int(m.group(1))
    brick, brick_port = _start_brick(tmp_path, "--volname", "v", "--mgmt", f"127.0.0.1:{port}")
    try:
        assert brick.stderr is not None
        assert "signed in" in brick.stderr.readline()  # the brick's own report, once done
        out = gfrpc("portmap", f"127.0.0.1:{port}", str(tmp_path / "brick"))
        assert out.returncode == 0 and out.stdout.strip() == str(brick_port), out
    finally:
        brick.send_signal(signal.SIGTERM)
        assert brick.wait(20) == 0
        mgmtd.send_signal(signal.SIGTERM)
        assert mgmtd.wait(20) == 0


def test_mgmtd_bad_volume_is_one_line() -> None:
    """A malformed --volume is one line on stderr and exit status 1, no traceback."""
    out = gfrpc("mgmtd", "--port", "0", "--volume", "v=relative/path")
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "HOST:/absolute/path" in out.stderr
