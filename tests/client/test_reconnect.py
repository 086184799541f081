"""gfrpc's client across a brick restart: reconnect, fresh SETVOLUME, fds reopened by gfid."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from gfrpc.client import Volume
from gfrpc.services.brick import BrickConfig, BrickServer

pytestmark = pytest.mark.timeout(60)


def start_brick(directory: Path, port: int = 0) -> BrickServer:
    directory.mkdir(parents=True, exist_ok=True)
    server = BrickServer(
        BrickConfig(
            directory=str(directory), port=port, host="127.0.0.1", volname="v", poller="pool"
        )
    )
    server.start()
    return server


def port_of(server: BrickServer) -> int:
    return int(server.listener.address.port)  # type: ignore[union-attr]


def stop_and_wait_for_the_client(server: BrickServer, vol: Volume) -> None:
    """Stop the brick and wait until the client has seen its connection go."""
    lost = threading.Event()
    client = vol.bricks[0].client
    assert client is not None
    client.on_disconnect = lambda _c, _r: lost.set()
    server.stop()
    assert lost.wait(10), "client did not notice the brick going away"


def test_an_open_file_goes_on_after_the_brick_restarts(tmp_path: Path) -> None:
    """After a brick restart the next call reconnects (new SETVOLUME) and an open file
    reopens its fd by gfid without truncating again: the data before and after both land."""
    first, second = os.urandom(1 << 20), os.urandom(1 << 20)
    server = start_brick(tmp_path / "b")
    port = port_of(server)
    vol = Volume.connect_brick("127.0.0.1", port, str(tmp_path / "b"), "v")
    try:
        conn = vol.bricks[0]
        conn.reconnect_interval = 0
        f = vol.open("/f", "wb")
        f.write(first)
        f.flush()
        stop_and_wait_for_the_client(server, vol)
        with pytest.raises(OSError) as down:
            vol.stat("/f")
        assert down.value.errno == errno.ENOTCONN
        server = start_brick(tmp_path / "b", port)
        f.write(second)
        f.close()
        assert conn.generation == 2
        assert vol.read_bytes("/f") == first + second
        assert (tmp_path / "b" / "f").read_bytes() == first + second
    finally:
        vol.close()
        server.stop()


def test_reconnect_attempts_wait_for_the_interval(tmp_path: Path) -> None:
    """While the brick is down, one attempt is made per reconnect_interval; calls between
    attempts fail at once with ENOTCONN, and a closed volume never reconnects."""
    server = start_brick(tmp_path / "b")
    port = port_of(server)
    vol = Volume.connect_brick("127.0.0.1", port, str(tmp_path / "b"), "v")
    try:
        conn = vol.bricks[0]
        conn.reconnect_interval = 3600
        conn._last_attempt = float("-inf")  # the first attempt after the loss is due at once
        stop_and_wait_for_the_client(server, vol)
        with pytest.raises(OSError, match="reconnect failed") as first:
            vol.listdir("/")
        assert first.value.errno == errno.ENOTCONN
        server = start_brick(tmp_path / "b", port)
        with pytest.raises(OSError, match="next reconnect attempt in") as second:
            vol.listdir("/")
        assert second.value.errno == errno.ENOTCONN
        conn.reconnect_interval = 0
        assert vol.listdir("/") == []
        vol.close()
        with pytest.raises(OSError) as closed:
            conn.stat(b"\0" * 15 + b"\1")
        assert closed.value.errno == errno.ENOTCONN
        assert conn.generation == 2
    finally:
        vol.close()
        server.stop()


def test_closing_after_the_brick_went_away_does_not_reconnect(tmp_path: Path) -> None:
    """A file whose connection is down closes without FLUSH/RELEASE, without an error and
    without a reconnect attempt, even when one would be due."""
    server = start_brick(tmp_path / "b")
    vol = Volume.connect_brick("127.0.0.1", port_of(server), str(tmp_path / "b"), "v")
    try:
        conn = vol.bricks[0]
        conn.reconnect_interval = 0
        f = vol.open("/f", "wb")
        f.write(b"kept")
        f.flush()
        stop_and_wait_for_the_client(server, vol)
        attempts_before = conn._last_attempt
        f.close()
        assert conn._last_attempt == attempts_before and conn.generation == 1
        assert (tmp_path / "b" / "f").read_bytes() == b"kept"
    finally:
        vol.close()
