"""gfrpc's client against gfrpc bricks: one brick (plain and TLS, every poller) and a
two-brick distribute volume from a hand-written volfile."""

from __future__ import annotations

import gc
import hashlib
import os
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from gfrpc.client import Volume, dht
from gfrpc.services.brick import BrickConfig, BrickServer
from gfrpc.testing.waiting import wait_for
from gfrpc.tls import TLSOptions, write_certs
from gfrpc.transport import POLLER_NAMES, Endpoint

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("certs")
    write_certs(root / "brick", "brick-1")
    write_certs(root / "client", "client-1", ca_dir=root / "brick")
    return root / "brick", root / "client"


def _brick(
    directory: Path, *, poller: str = "pool", tls_dir: Path | None = None, volname: str = "v"
) -> BrickServer:
    directory.mkdir(parents=True, exist_ok=True)
    server = BrickServer(
        BrickConfig(
            directory=str(directory),
            port=0,
            host="127.0.0.1",
            volname=volname,
            poller=poller,
            tls=TLSOptions.from_dir(tls_dir) if tls_dir else None,
        )
    )
    server.start()
    return server


def _client(server: BrickServer, poller: str, tls_dir: Path | None) -> Volume:
    """gfrpc's client on the one brick of ``server`` (volume ``v``)."""
    port = server.listener.address.port  # type: ignore[union-attr]
    return Volume.connect_brick(
        "127.0.0.1", port, server.config.brick_path, "v", tls=tls_dir, poller=poller
    )


@pytest.fixture(params=POLLER_NAMES)
def poller_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_round_trip_through_one_gfrpc_brick(
    tmp_path: Path, certs: tuple[Path, Path], poller_name: str, tls: bool
) -> None:
    """A 16 MiB file written with Volume.connect_brick reads back identically (sha256), lands
    as an ordinary file under the brick directory, and the namespace calls work."""
    brick_tls, client_tls = certs
    server = _brick(tmp_path / "b", poller=poller_name, tls_dir=brick_tls if tls else None)
    data = os.urandom(16 << 20)
    try:
        with _client(server, poller_name, client_tls if tls else None) as vol:
            vol.makedirs("/d/e")
            with vol.open("/d/e/f", "wb") as f:
                f.write(data)
            with vol.open("/d/e/f", "rb") as f:
                back = f.read()
            assert hashlib.sha256(back).digest() == hashlib.sha256(data).digest()
            assert vol.stat("/d/e/f").st_size == len(data)
            vol.rename("/d/e/f", "/d/g")
            assert set(vol.listdir("/d")) == {"e", "g"}
            assert (tmp_path / "b" / "d" / "g").read_bytes() == data
            vol.unlink("/d/g")
            vol.rmdir("/d/e")
            assert vol.listdir("/d") == []
    finally:
        server.stop()


def _distribute_volfile(ports: list[int], paths: list[str]) -> str:
    lines = []
    for i, (port, path) in enumerate(zip(ports, paths, strict=True)):
        lines += [
            f"volume dv-client-{i}",
            "    type protocol/client",
            "    option remote-host 127.0.0.1",
            f"    option remote-port {port}",
            f"    option remote-subvolume {path}",
            "    option transport-type tcp",
            "end-volume",
            "",
        ]
    lines += [
        "volume dv-dht",
        "    type cluster/distribute",
        "    subvolumes " + " ".join(f"dv-client-{i}" for i in range(len(ports))),
        "end-volume",
        "",
    ]
    return "\n".join(lines)


@pytest.fixture
def two_bricks(tmp_path: Path) -> Iterator[tuple[Volume, list[Path]]]:
    dirs = [tmp_path / "b0", tmp_path / "b1"]
    servers = [_brick(d, volname="dv") for d in dirs]
    try:
        text = _distribute_volfile(
            [s.listener.address.port for s in servers],  # type: ignore[union-attr]
            [s.config.brick_path for s in servers],
        )
        with Volume.from_volfile(text, volname="dv") as vol:
            yield vol, dirs
    finally:
        for s in servers:
            s.stop()


def test_distribute_over_gfrpc_bricks_places_files_by_dht(two_bricks) -> None:
    """On a two-brick distribute volume of gfrpc bricks, directories exist on both bricks with
    a layout xattr, each file lands on the brick its DHT hash picks, and a listing merges both."""
    vol, dirs = two_bricks
    vol.mkdir("/data")
    layouts = [dht.parse_layout(os.getxattr(d / "data", dht.LAYOUT_XATTR)) for d in dirs]
    names = [f"file-{i}.bin" for i in range(40)]
    for name in names:
        vol.write_bytes(f"/data/{name}", name.encode())
    for name in names:
        where = [d for d in dirs if (d / "data" / name).exists()]
        assert len(where) == 1, name
        assert where[0] == dirs[dht.pick_subvolume(layouts, name)], name
        assert vol.read_bytes(f"/data/{name}") == name.encode()
    assert sorted(vol.listdir("/data")) == sorted(names)
    assert all(any((d / "data").iterdir()) for d in dirs)  # 40 names spread over both bricks


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_brick_frees_a_gone_clients_connection_without_the_cycle_collector(
    tmp_path: Path,
    certs: tuple[Path, Path],
    poller_name: str,
    tls: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rule (transport/lifecycle.py, ``GONE``; Performance notes 74): with the cyclic garbage
    collector off, the brick frees the connection of a client that went away with files still
    open (and so its TLS session and buffers) by reference counting alone. At most one
    endpoint per poller thread lingers, in its loop's locals until its next event."""
    brick_tls, client_tls = certs
    server_side: list[weakref.ref[Endpoint]] = []
    born = Endpoint.__init__

    def noting(self: Endpoint, *args: object, **kwargs: object) -> None:
        born(self, *args, **kwargs)  # type: ignore[arg-type]
        if self.server_side:
            server_side.append(weakref.ref(self))

    monkeypatch.setattr(Endpoint, "__init__", noting)
    server = _brick(tmp_path / "b", poller=poller_name, tls_dir=brick_tls if tls else None)
    gc.collect()
    gc.disable()
    try:
        for i in range(3):
            vol = _client(server, poller_name, client_tls if tls else None)
            vol.makedirs(f"/d{i}")
            kept = vol.open(f"/d{i}/f", "wb")
            kept.write(os.urandom(1 << 20))
            kept.flush()
            vol.close()  # with the file still open on the brick
        wait_for(
            lambda: all(r() is None or r().closed for r in server_side),
            what="the brick saw every client go",
        )
        assert len(server_side) >= 3
        alive = sum(r() is not None for r in server_side)
        assert alive <= 2, f"{alive} of {len(server_side)} closed connections not freed"
    finally:
        gc.enable()
        server.stop()
