"""Connection sharing between Volumes (gfrpc.client.shared), counted on the bricks, and one
Volume used by 32 threads at once (the locking described in volume.py's essay), against a
gfrpc management daemon and two gfrpc bricks (a distribute volume)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from client_support import hammer

from gfrpc.client import Volume, shared
from gfrpc.services.brick import BrickConfig, BrickServer
from gfrpc.services.mgmt import MgmtConfig, MgmtServer, parse_volume_arg
from gfrpc.testing.waiting import wait_for

pytestmark = pytest.mark.timeout(60)


@dataclass
class Counted:
    """A brick server and the client connections it admitted and saw end."""

    server: BrickServer
    opened: int = 0
    closed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        closing = self.server.rpc.on_disconnect
        assert closing is not None

        def admit(peer: object, cn: str | None) -> bool:
            with self.lock:
                self.opened += 1
            return True

        def ended(session: Any) -> None:
            closing(session)
            with self.lock:
                self.closed += 1

        self.server.rpc.accept_connection = admit
        self.server.rpc.on_disconnect = ended

    @property
    def live(self) -> int:
        with self.lock:
            return self.opened - self.closed


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, list[Counted]]]:
    """(URL of volume "sv", its two bricks with connection counters)."""
    dirs = [tmp_path / "b0", tmp_path / "b1"]
    for d in dirs:
        d.mkdir()
    mgmtd = MgmtServer(
        MgmtConfig(
            volumes=[parse_volume_arg("sv=" + ",".join(f"127.0.0.1:{d}" for d in dirs))],
            port=0,
            host="127.0.0.1",
            poller="single",
        )
    )
    mgmtd.start()
    port = mgmtd.listener.address.port  # type: ignore[union-attr]
    bricks = []
    try:
        for d in dirs:
            b = BrickServer(
                BrickConfig(
                    directory=str(d),
                    port=0,
                    host="127.0.0.1",
                    volname="sv",
                    poller="single",
                    mgmt=f"127.0.0.1:{port}",
                )
            )
            b.start()
            bricks.append(b)
        for b in bricks:
            assert mgmtd.registry.wait_until(
                lambda b=b: mgmtd.registry.port_of(b.config.brick_path) == b.identity.port, 10.0
            ), "a brick did not sign in"
        yield f"gluster://127.0.0.1:{port}/sv", [Counted(b) for b in bricks]
    finally:
        for b in bricks:
            b.stop()
        mgmtd.stop()


def new_shares(before: dict[object, int]) -> list[int]:
    """The user counts of the shares made since ``before`` (a snapshot of shared.shares())."""
    return [n for k, n in shared.shares().items() if k not in before]


def test_same_volume_and_identity_share_the_brick_connections(
    cluster: tuple[str, list[Counted]],
) -> None:
    """A second Volume.connect of the same URL and identity makes no new brick connection;
    both Volumes work, closing one leaves the other working, and the last close ends the
    connections on the bricks."""
    url, bricks = cluster
    before = shared.shares()  # what other tests in this process may still hold
    first = Volume.connect(url, poller="single")
    assert [b.opened for b in bricks] == [1, 1]
    second = Volume.connect(url, poller="single")
    assert [b.opened for b in bricks] == [1, 1]
    assert second.bricks == first.bricks and new_shares(before) == [2]
    first.write_bytes("/a", b"from the first")
    assert second.read_bytes("/a") == b"from the first"
    first.close()
    second.write_bytes("/b", b"still connected")
    assert second.listdir("/") and [b.live for b in bricks] == [1, 1]
    second.close()
    wait_for(lambda: all(b.live == 0 for b in bricks), 10.0, "the bricks to see the close")
    assert shared.shares() == before
    with Volume.connect(url, poller="single") as third:  # a fresh share after the last close
        assert third.read_bytes("/b") == b"still connected"
    assert [b.opened for b in bricks] == [2, 2]


def test_other_identities_and_share_false_get_their_own(
    cluster: tuple[str, list[Counted]],
) -> None:
    """Another uid/gid, another poller, or share=False: new connections, each closed on its
    own close."""
    url, bricks = cluster
    with Volume.connect(url, poller="single") as base:
        with Volume.connect(url, poller="single", uid=os.getuid(), gid=os.getgid()):
            assert [b.opened for b in bricks] == [1, 1]  # the same ids as the default
        with Volume.connect(url, poller="single", uid=1000, gid=1000):
            assert [b.opened for b in bricks] == [2, 2]
        with Volume.connect(url, poller="own-thread"):
            assert [b.opened for b in bricks] == [3, 3]
        with Volume.connect(url, poller="single", share=False):
            assert [b.opened for b in bricks] == [4, 4]
        wait_for(lambda: all(b.live == 1 for b in bricks), 10.0, "the other connections closing")
        base.write_bytes("/x", b"x")
    wait_for(lambda: all(b.live == 0 for b in bricks), 10.0, "the last connection closing")


def test_concurrent_connects_make_one_set_of_connections(
    cluster: tuple[str, list[Counted]],
) -> None:
    """16 threads connecting the same volume at once: one connection per brick, 16 users;
    after every close, none."""
    url, bricks = cluster
    before = shared.shares()
    start = threading.Barrier(16)

    def one(_: int) -> Volume:
        start.wait()
        return Volume.connect(url, poller="single")

    with ThreadPoolExecutor(16) as pool:
        vols = list(pool.map(one, range(16)))
    assert [b.opened for b in bricks] == [1, 1]
    assert new_shares(before) == [16]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(Volume.close, vols))
    wait_for(lambda: all(b.live == 0 for b in bricks), 10.0, "the bricks to see the close")
    assert shared.shares() == before


def test_a_forked_child_makes_its_own_connections(cluster: tuple[str, list[Counted]]) -> None:
    """After fork, the child's Volume.connect does not reuse the parent's (threadless)
    connections: it makes its own, and works; the parent's share is untouched."""
    url, bricks = cluster
    with Volume.connect(url, poller="single") as vol:
        vol.write_bytes("/parent", b"from the parent")
        pid = os.fork()
        if pid == 0:  # the child: exit code 0 only if everything worked
            code = 1
            try:
                assert shared.shares() == {}
                with Volume.connect(url, poller="single", timeout=5.0) as child:
                    code = 0 if child.read_bytes("/parent") == b"from the parent" else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert [b.opened for b in bricks] == [2, 2]
        assert vol.read_bytes("/parent") == b"from the parent"


# --------------------------------------------------------------------------------------------
def test_one_volume_used_by_32_threads(cluster: tuple[str, list[Counted]]) -> None:
    """Mixed writes, reads, renames (DHT renames across two bricks) and listings from 32
    threads on one Volume: no error but the expected ENOENT races, all data intact, the final
    listing equal to the model; two connections in all."""
    url, bricks = cluster
    with Volume.connect(url, poller="pool", event_threads=2) as vol:
        hammer(vol, "/hammer")
    assert [b.opened for b in bricks] == [1, 1]
