"""gfrpc's transport, RPC client and CLI against a real GlusterFS 10 (glusterd and bricks)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gfrpc.programs import dump as gfdump
from gfrpc.rpc.client import RpcClient
from gfrpc.rpc.dump_client import dump, ping
from gfrpc.testing.realgluster import GlusterD, GlusterVolume
from gfrpc.tls import TLSOptions, make_context
from gfrpc.transport import make_poller

pytestmark = pytest.mark.timeout(120)

GFRPC = [sys.executable, "-m", "gfrpc.cli"]


def gfrpc(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GFRPC, *args], capture_output=True, text=True, timeout=timeout)


def test_cli_dump_lists_glusterd_programs(glusterd: GlusterD) -> None:
    """`gfrpc dump` against a real glusterd lists Portmap 34123456 v1 and Handshake 14398633 v2,
    one `PROGNUM VERSION NAME` line each."""
    out = gfrpc("dump", "127.0.0.1:24007")
    assert out.returncode == 0, out.stderr
    lines = {tuple(line.split(" ", 2)) for line in out.stdout.splitlines()}
    assert ("34123456", "1", "Gluster Portmap") in lines
    assert ("14398633", "2", "Gluster Handshake") in lines
    assert ("123451501", "1", "GF-DUMP") in lines


def test_cli_dump_default_port_is_24007(glusterd: GlusterD) -> None:
    """A HOST without a port means glusterd's port 24007."""
    out = gfrpc("dump", "127.0.0.1")
    assert out.returncode == 0, out.stderr
    assert "34123456 1 Gluster Portmap" in out.stdout


def test_cli_portmap_matches_volume_status(
    glusterd: GlusterD, gluster_volume: GlusterVolume
) -> None:
    """`gfrpc portmap` prints the port that `gluster volume status` shows for the brick."""
    [node] = glusterd.volume_status(gluster_volume.name)
    out = gfrpc("portmap", "127.0.0.1:24007", str(gluster_volume.brick_path))
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) == int(node["port"]) == gluster_volume.port


def test_cli_portmap_unknown_brick_fails(glusterd: GlusterD) -> None:
    """An unknown brick path exits non-zero with a one-line reason and no traceback."""
    out = gfrpc("portmap", "127.0.0.1:24007", "/no/such/brick")
    assert out.returncode != 0
    assert out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


@pytest.mark.parametrize("poller_name", ["single", "own-thread", "pool"])
def test_dump_and_ping_real_brick_plain(gluster_volume: GlusterVolume, poller_name: str) -> None:
    """GF-DUMP DUMP and PING work against a real glusterfsd without TLS, on every poller."""
    poller = make_poller(poller_name)
    poller.start()
    client = RpcClient(gluster_volume.address, poller=poller)
    try:
        client.connect(timeout=10)
        progs = dump(client, timeout=10)
        assert (1298437, 400, "GlusterFS 4.x v1") in progs
        assert all(ping(client, timeout=10) < 5 for _ in range(5))
    finally:
        client.close()
        poller.stop()


@pytest.mark.parametrize("poller_name", ["single", "own-thread", "pool"])
def test_dump_and_ping_real_brick_tls(gluster_volume_tls: GlusterVolume, poller_name: str) -> None:
    """With client.ssl/server.ssl on, DUMP and PING go over mutual TLS to the real brick."""
    assert gluster_volume_tls.tls_dir is not None
    ctx = make_context(TLSOptions.from_dir(gluster_volume_tls.tls_dir), server_side=False)
    poller = make_poller(poller_name)
    poller.start()
    client = RpcClient(gluster_volume_tls.address, poller=poller, tls=ctx)
    try:
        client.connect(timeout=10)
        assert client.endpoint.peer_cn  # the brick's certificate CN is known
        progs = dump(client, timeout=10)
        assert (1298437, 400, "GlusterFS 4.x v1") in progs
        for _ in range(5):
            client.call(
                gfdump.GF_DUMP_PROGRAM, gfdump.GF_DUMP_VERSION, gfdump.PING, b"", timeout=10
            )
    finally:
        client.close()
        poller.stop()


def test_cli_ping_and_dump_tls_brick(gluster_volume_tls: GlusterVolume) -> None:
    """`gfrpc ping` and `gfrpc dump` with --tls --tls-dir reach the real TLS brick."""
    addr = f"127.0.0.1:{gluster_volume_tls.port}"
    tls = ["--tls", "--tls-dir", str(gluster_volume_tls.tls_dir)]
    out = gfrpc("ping", addr, "--count", "5", *tls)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("5 pings answered")
    assert "p50" in out.stdout and "p99" in out.stdout
    out = gfrpc("dump", addr, *tls)
    assert out.returncode == 0, out.stderr
    assert "1298437 400 GlusterFS 4.x v1" in out.stdout


def test_cli_plaintext_to_tls_brick_fails_cleanly(gluster_volume_tls: GlusterVolume) -> None:
    """A plaintext ping to a TLS brick fails with one line, not a traceback or a hang."""
    out = gfrpc("ping", f"127.0.0.1:{gluster_volume_tls.port}", "--timeout", "10")
    assert out.returncode != 0
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
