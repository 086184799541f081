"""Closing a file releases its fd on the brick, though nothing waits for the RELEASE's reply
(``FopCalls.release`` → ``RpcClient.send``), against a gfrpc management daemon and a gfrpc
brick that allows each connection 4 open fds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from client_support import start_brick

from gfrpc.client import Volume
from gfrpc.services.mgmt import MgmtConfig, MgmtServer, parse_volume_arg

pytestmark = pytest.mark.timeout(60)

CAP = 4


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    """The URL of volume "rv": one brick whose connections may hold ``CAP`` open fds."""
    brick_dir = tmp_path / "b0"
    brick_dir.mkdir()  # before mgmtd reads the volume
    mgmtd = MgmtServer(
        MgmtConfig(
            volumes=[parse_volume_arg(f"rv=127.0.0.1:{brick_dir}")],
            port=0,
            host="127.0.0.1",
            poller="single",
        )
    )
    mgmtd.start()
    port = mgmtd.listener.address.port  # type: ignore[union-attr]
    try:
        brick = start_brick(brick_dir, "rv", mgmt=f"127.0.0.1:{port}", max_open_fds=CAP)
        try:
            assert mgmtd.registry.wait_until(
                lambda: mgmtd.registry.port_of(brick.config.brick_path) == brick.identity.port,
                10.0,
            ), "the brick did not sign in"
            yield f"gluster://127.0.0.1:{port}/rv"
        finally:
            brick.stop()
    finally:
        mgmtd.stop()


def test_closed_files_give_their_fds_back(url: str) -> None:
    """Ten times the brick's per-connection cap of files, each created, written and closed in
    turn on one connection, all succeed: every close's RELEASE freed its fd before the next
    CREATE needed one. With the cap's worth still open, one more open is refused (EMFILE),
    so the cap is really there."""
    with Volume.connect(url) as vol:
        for i in range(10 * CAP):
            with vol.open(f"/f{i}", "wb") as f:
                f.write(b"%d" % i)
        assert vol.read_bytes(f"/f{10 * CAP - 1}") == b"%d" % (10 * CAP - 1)
        held = [vol.open(f"/f{i}", "rb") for i in range(CAP)]
        with pytest.raises(OSError) as info:
            vol.open(f"/f{CAP}", "rb")
        assert info.value.errno == 24  # EMFILE
        for f in held:
            f.close()
        assert vol.read_bytes("/f0") == b"0"
