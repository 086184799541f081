"""gfrpc's client against a real GlusterFS 10.3 two-brick distribute volume: one Volume used
by 32 threads at once, shared connections, streaming listings, and a backup volfile server
list whose first server is down.

Run as ``flock /tmp/gfrpc-interop.lock tools/in-netns .venv/bin/pytest -q
tests/interop/test_client_threads_interop.py``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from client_support import hammer

from gfrpc.client import Volume, shared
from gfrpc.testing.realgluster import GlusterD, GlusterVolume

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def dist_volume(glusterd: GlusterD) -> Iterator[GlusterVolume]:
    """A started two-brick distribute volume of the harness's glusterd."""
    vol = glusterd.create_volume(f"gfrpc-thr-{glusterd.root.name[-6:]}", bricks=2)
    yield vol
    glusterd.delete_volume(vol.name)


def _url(vol: GlusterVolume) -> str:
    host, port = vol.glusterd_address
    return f"gluster://{host}:{port}/{vol.name}"


def test_one_volume_used_by_32_threads_on_real_bricks(dist_volume: GlusterVolume) -> None:
    """Mixed writes, reads, DHT renames and listings from 32 threads on one Volume against
    two real glusterfsd: no error but the expected ENOENT races, all data intact, the final
    listing (streamed over both bricks) equal to the model."""
    with Volume.connect(_url(dist_volume), poller="pool", event_threads=2) as vol:
        assert vol.kind == "distribute" and len(vol.bricks) == 2
        races = hammer(vol, "/hammer")
    print(f"ENOENT races seen: {races}")


def test_shared_connections_and_streamed_walk_on_real_bricks(dist_volume: GlusterVolume) -> None:
    """Two Volumes of the same URL share the brick connections (the same objects, one share
    of two users); walk streams the tree over both real bricks; the last close ends it."""
    url = _url(dist_volume)
    before = shared.shares()  # what earlier tests in this process still hold (fsspec caches)
    with Volume.connect(url, poller="single") as a, Volume.connect(url, poller="single") as b:
        ours = {k: n for k, n in shared.shares().items() if k not in before}
        assert a.bricks == b.bricks and list(ours.values()) == [2]
        a.makedirs("/walk/x/y")
        for i in range(30):
            b.write_bytes(f"/walk/x/f{i}", b"x")
        rows = {p: (sorted(d), len(f)) for p, d, f in a.walk("/walk")}
        assert rows == {"/walk": (["x"], 0), "/walk/x": (["y"], 30), "/walk/x/y": ([], 0)}
    assert shared.shares() == before


def test_first_volfile_server_down(dist_volume: GlusterVolume) -> None:
    """``gluster://DOWN,glusterd/vol``: the first server refuses the connection, the real
    glusterd gives the volfile, and the volume works."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = s.getsockname()[1]
    host, port = dist_volume.glusterd_address
    url = f"gluster://127.0.0.1:{down},{host}:{port}/{dist_volume.name}"
    with Volume.connect(url, poller="single", timeout=5.0) as vol:
        vol.write_bytes("/backup-server", b"ok")
        assert vol.read_bytes("/backup-server") == b"ok"
