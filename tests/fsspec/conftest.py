"""gfrpc volumes for the fsspec tests: ``gfrpc mgmtd`` and gfrpc bricks in this process,
started once for the session (two bricks for the unit tests, one for fsspec's kit). Bricks
keep gfids in trusted.* xattrs: without root the tests skip (the brick tests do the same)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fsspec_support import VOLUME, Cluster, counted_fops, gfrpc_volume

from gfrpc.fsspec import GlusterFileSystem
from gfrpc.tls import write_certs

__all__ = ["VOLUME", "Cluster", "counted_fops"]  # the tests import them from here


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
    """``fsspec_support.gfrpc_volume``, skipped where bricks cannot keep trusted.* xattrs."""
    if not _xattrs_work(root):
        pytest.skip("gfrpc bricks need trusted.* xattrs (root on an xattr-capable fs)")
    with gfrpc_volume(root, bricks, tls_dir) as c:
        yield c


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
