"""Backup volfile servers: ``gluster://h1,h2:24008,[::1]/vol`` parsed and printed, and
``Volume.connect`` trying the management daemons in order (gfrpc mgmtds and bricks)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gfrpc.client import Volume
from gfrpc.client.mgmt import VolfileError
from gfrpc.client.url import GlusterURL, parse_url
from gfrpc.errors import ConfigError
from gfrpc.services.brick import BrickConfig, BrickServer
from gfrpc.services.mgmt import MgmtConfig, MgmtServer, parse_volume_arg

pytestmark = pytest.mark.timeout(60)


def test_url_with_several_servers_parses_and_round_trips() -> None:
    """host/port stay the first server; ``servers`` lists all, each with its own optional
    port (IPv6 in brackets); str() gives a URL that parses back to the same value."""
    u = parse_url("gluster://h1,h2:24008,[::1]/vol/a/b")
    assert (u.host, u.port, u.volume, u.path) == ("h1", 24007, "vol", "/a/b")
    assert u.servers == (("h1", 24007), ("h2", 24008), ("::1", 24007))
    assert str(u) == "gluster://h1:24007,h2:24008,[::1]:24007/vol/a/b"
    assert parse_url(str(u)) == u
    one = parse_url("gluster://h/v")
    assert one.servers == (("h", 24007),) and one == GlusterURL("h", 24007, "v", "/")
    moved = replace(u, host="h2", port=24008)  # host/port always lead the list
    assert moved.servers == (("h2", 24008), ("h1", 24007), ("::1", 24007))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("gluster://h1,,h2/v", "empty server"),
        ("gluster://h1,/v", "empty server"),
        ("gluster://,h1/v", "empty server"),
        ("gluster://h1,h1:24007/v", "named twice"),
        ("gluster://h1,h2:0/v", "out of range"),
        ("gluster://h1,::1/v", "IPv6 addresses go in brackets"),
    ],
)
def test_bad_server_lists_are_one_line_errors(url: str, message: str) -> None:
    """Rule: a malformed server list is a ConfigError saying what is wrong."""
    with pytest.raises(ConfigError, match=message):
        parse_url(url)


def _free_port() -> int:
    """A loopback port with nothing listening (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mgmtd(spec: str) -> MgmtServer:
    server = MgmtServer(
        MgmtConfig(volumes=[parse_volume_arg(spec)], port=0, host="127.0.0.1", poller="single")
    )
    server.start()
    return server


def _mport(server: MgmtServer) -> int:
    return int(server.listener.address.port)  # type: ignore[union-attr]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[MgmtServer, MgmtServer, int]]:
    """mgmtd B serving volume "bv" (one gfrpc brick signed in at it), mgmtd C that knows only
    another volume, and the port of mgmtd A, started and then stopped (down)."""
    brick_dir = tmp_path / "b0"
    brick_dir.mkdir()
    a = _mgmtd(f"bv=127.0.0.1:{brick_dir}")
    down = _mport(a)
    a.stop()
    b = _mgmtd(f"bv=127.0.0.1:{brick_dir}")
    c = _mgmtd(f"other=127.0.0.1:{tmp_path / 'x'}")
    brick = BrickServer(
        BrickConfig(
            directory=str(brick_dir),
            port=0,
            host="127.0.0.1",
            volname="bv",
            poller="single",
            mgmt=f"127.0.0.1:{_mport(b)}",
        )
    )
    brick.start()
    try:
        assert b.registry.wait_until(
            lambda: b.registry.port_of(brick.config.brick_path) == brick.identity.port, 10.0
        ), "the brick did not sign in"
        yield b, c, down
    finally:
        brick.stop()
        b.stop()
        c.stop()


def test_first_server_down_the_next_one_serves(
    cluster: tuple[MgmtServer, MgmtServer, int],
) -> None:
    """With the first volfile server down (connection refused) and the second refusing the
    volume (ENOENT), the third gives the volfile, and the bricks are reached through its
    portmapper."""
    b, c, down = cluster
    url = f"gluster://127.0.0.1:{down},127.0.0.1:{_mport(c)},127.0.0.1:{_mport(b)}/bv"
    with Volume.connect(url, poller="single", timeout=5.0) as vol:
        vol.write_bytes("/f", b"through the backup server")
        assert vol.read_bytes("/f") == b"through the backup server"
        assert vol.bricks[0].port != _mport(b)  # the brick's own port, from B's portmapper


def test_all_servers_failing_is_one_error_naming_each(
    cluster: tuple[MgmtServer, MgmtServer, int],
) -> None:
    """When no volfile server gives the volume, one single-line VolfileError names every
    server and why it failed; a URL with one server keeps that server's own error."""
    _, c, down = cluster
    url = f"gluster://127.0.0.1:{down},127.0.0.1:{_mport(c)}/bv"
    with pytest.raises(VolfileError) as info:
        Volume.connect(url, poller="single", timeout=5.0)
    text = str(info.value)
    assert "\n" not in text
    assert f"127.0.0.1:{down}: " in text and f"127.0.0.1:{_mport(c)}: " in text
    assert "refused" in text.lower() and "No such file or directory" in text
    with pytest.raises(OSError, match="refused") as alone:
        Volume.connect(f"gluster://127.0.0.1:{down}/bv", poller="single", timeout=5.0)
    assert not isinstance(alone.value, VolfileError)
