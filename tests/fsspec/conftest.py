"""gfrpc volumes for the fsspec tests: ``gfrpc mgmtd`` and gfrpc bricks in this process,
started once for the session (two bricks for the unit tests, one for fsspec's kit). Bricks
keep gfids in trusted.* xattrs: without root the tests skip (the brick tests do the same)."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gfrpc.fsspec import GlusterFileSystem
from gfrpc.services.brick import BrickConfig, BrickServer
from gfrpc.services.mgmt import MgmtConfig, MgmtServer, parse_volume_arg
from gfrpc.testing.waiting import wait_for
from gfrpc.tls import TLSOptions, write_certs

VOLUME = "fsv"


@dataclass
class Cluster:
    port: int  # the management daemon's port (the gluster:// URL's)
    bricks: list[Path]

    @property
    def url(self) -> str:
        return f"gluster://127.0.0.1:{self.port}/{VOLUME}"

    def options(self) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.port, "volume": VOLUME}


def _xattrs_work(directory: Path) -> bool:
    probe = directory / "probe"
    probe.touch()
    try:
        os.setxattr(probe, "trusted.gfrpc-probe", b"1")
        return True
    except OSError:
        return False
    finally:
        probe.unlink()


@contextmanager
def _volume(root: Path, bricks: int, tls_dir: Path | None = None) -> Iterator[Cluster]:
    """mgmtd and ``bricks`` gfrpc bricks of volume VOLUME under ``root``, signed in; with
    ``tls_dir`` (the bricks' glusterfs.pem/.key/.ca) the bricks speak TLS only."""
    if not _xattrs_work(root):
        pytest.skip("gfrpc bricks need trusted.* xattrs (root on an xattr-capable fs)")
    dirs = [root / f"b{i}" for i in range(bricks)]
    spec = parse_volume_arg(f"{VOLUME}=" + ",".join(f"127.0.0.1:{d}" for d in dirs))
    mgmtd = MgmtServer(
        MgmtConfig(
            volumes=[spec], port=0, host="127.0.0.1", poller="single", io_tls=tls_dir is not None
        )
    )
    mgmtd.start()
    port = mgmtd.listener.address.port  # type: ignore[union-attr]
    servers = []
    try:
        for d in dirs:
            d.mkdir()
            b = BrickServer(
                BrickConfig(
                    directory=str(d),
                    port=0,
                    host="127.0.0.1",
                    volname=VOLUME,
                    poller="pool",
                    mgmt=f"127.0.0.1:{port}",
                    tls=TLSOptions.from_dir(tls_dir) if tls_dir else None,
                )
            )
            b.start()
            servers.append(b)
        for b in servers:
            # the sign-in's reply lands on the brick's poller thread: no event to wait on
            wait_for(
                lambda b=b: mgmtd.registry.port_of(b.config.brick_path) == b.identity.port,
                10.0,
                "the brick's sign-in",
            )
        yield Cluster(port, dirs)
    finally:
        for b in servers:
            b.stop()
        mgmtd.stop()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A two-brick distribute volume (DHT placement, linkto files, cross-brick copies)."""
    with _volume(tmp_path_factory.mktemp("fsspec-dht"), 2) as c:
        yield c


@pytest.fixture(scope="session")
def kit_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A one-brick volume for fsspec's kit (about half the FOPs per directory operation of
    the two-brick one: the kit is long, and it checks fsspec's semantics, not DHT's)."""
    with _volume(tmp_path_factory.mktemp("fsspec-kit"), 1) as c:
        yield c


@pytest.fixture(scope="session")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Path]]:
    """A one-brick volume whose brick speaks TLS only, and the client's TLS directory."""
    root = tmp_path_factory.mktemp("fsspec-tls")
    write_certs(root / "brick-tls", "brick-1")
    write_certs(root / "client-tls", "client-1", ca_dir=root / "brick-tls")
    with _volume(root, 1, tls_dir=root / "brick-tls") as c:
        yield c, root / "client-tls"


@pytest.fixture
def fs(cluster: Cluster) -> GlusterFileSystem:
    """The (cached) file system of the session's volume."""
    return GlusterFileSystem(**cluster.options())


@pytest.fixture
def top(fs: GlusterFileSystem) -> Iterator[str]:
    """A fresh directory for one test, removed afterwards."""
    path = f"/t-{uuid.uuid4().hex[:10]}"
    fs.makedirs(path)
    yield path
    if fs.exists(path):
        fs.rm(path, recursive=True)


@contextmanager
def counted_fops(fs: GlusterFileSystem) -> Iterator[Counter[str]]:
    """Count the FOPs ``fs``'s volume sends (by name) inside the block."""
    counts: Counter[str] = Counter()
    senders = ("send_fop", "call_fop", "forget_fop")  # every FOP leaves through one of them
    patched = []
    for conn in fs.volume.bricks:
        for name in senders:
            original: Callable[..., Any] = getattr(conn, name)

            def counting(proc: Any, *args: Any, _orig: Any = original, **kw: Any) -> Any:
                counts[getattr(proc, "name", str(proc))] += 1
                return _orig(proc, *args, **kw)

            setattr(conn, name, counting)
        patched.append(conn)
    try:
        yield counts
    finally:
        for conn in patched:
            for name in senders:
                delattr(conn, name)
