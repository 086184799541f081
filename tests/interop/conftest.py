"""Fixtures that run a real GlusterFS 10 for interop tests (see docs/INTEROP.md).

The launcher is the public test kit, ``gfrpc.testing.realgluster``; its ``GlusterUnavailable``
is turned into ``gfrpc.testing.need(False, reason)`` by the hook wrappers below.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from brick_fops_support import FopClient, real_brick_client, running_brick

from gfrpc.testing import need
from gfrpc.testing.realgluster import (
    GlusterD,
    GlusterUnavailable,
    GlusterVolume,
    TLSMaterial,
    make_tls_material,
)
from gfrpc.testing.realgluster import fuse_mount as gluster_fuse_mount

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/interop is an interop test (this hook sees all items)."""
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.interop)


def _need_gluster(phase: str) -> Callable[..., Generator[None, object, object]]:
    """A hook wrapper turning the launcher's GlusterUnavailable into ``need(False, reason)``."""

    def wrapper(item: pytest.Item) -> Generator[None, object, object]:
        try:
            return (yield)
        except GlusterUnavailable as exc:
            reason = str(exc)
        need(False, reason)  # outside the except block: no chained traceback
        raise AssertionError("unreachable: need(False, ...) always raises")

    wrapper.__name__ = f"pytest_runtest_{phase}"
    return pytest.hookimpl(wrapper=True)(wrapper)


# The launcher (gfrpc.testing.realgluster) knows nothing of pytest: where it finds a prerequisite
# missing it raises GlusterUnavailable. In fixtures (setup), test bodies (call) and teardown,
# that becomes need(False, reason): a failure under CI=true, a skip otherwise.
pytest_runtest_setup = _need_gluster("setup")
pytest_runtest_call = _need_gluster("call")
pytest_runtest_teardown = _need_gluster("teardown")


@pytest.fixture(scope="session")
def glusterd() -> Iterator[GlusterD]:
    """A private ``glusterd -N`` on 127.0.0.1:24007 (state in a temp dir); stopped at the end."""
    gd = GlusterD.start()
    try:
        yield gd
    finally:
        gd.stop()


@pytest.fixture(scope="session")
def interop_tls(glusterd: GlusterD) -> TLSMaterial:
    """Test CA + server / client / untrusted-client identities (glusterfs.pem/.key/.ca dirs)."""
    return make_tls_material(glusterd.root / "tls")


@pytest.fixture(scope="session")
def gluster_volume(glusterd: GlusterD) -> Iterator[GlusterVolume]:
    """A started one-brick volume without TLS."""
    vol = glusterd.create_volume(f"gfrpc-plain-{glusterd.root.name[-6:]}")
    yield vol
    glusterd.delete_volume(vol.name)


@pytest.fixture(scope="session")
def gluster_volume_tls(glusterd: GlusterD, interop_tls: TLSMaterial) -> Iterator[GlusterVolume]:
    """A started one-brick volume with client.ssl/server.ssl on and our own cert files."""
    vol = glusterd.create_volume(f"gfrpc-tls-{glusterd.root.name[-6:]}", tls=interop_tls)
    yield vol
    glusterd.delete_volume(vol.name)


@pytest.fixture
def fuse_mount(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., AbstractContextManager[Path]]:
    """``with fuse_mount(volfile_text) as mnt:`` — a real FUSE client on a hand-written volfile.

    Independent of the ``glusterd`` fixture, so it also serves tests of a gfrpc brick.
    """
    return functools.partial(gluster_fuse_mount, workdir=tmp_path_factory.mktemp("fuse"))


@pytest.fixture(scope="module")
def real_fops(gluster_volume: GlusterVolume) -> Iterator[FopClient]:
    """A raw FOP connection (SETVOLUME'd) to the real brick of the plain volume."""
    v = gluster_volume
    with real_brick_client(v.address, str(v.brick_path), v.name) as c:
        yield c


@pytest.fixture(scope="module")
def gfrpc_fops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FopClient]:
    """A raw FOP connection (SETVOLUME'd) to an in-process gfrpc brick of a fresh directory,
    to compare its answers with ``real_fops``'."""
    d = tmp_path_factory.mktemp("gfrpc-brick") / "brick"
    d.mkdir()
    with running_brick(d) as h:
        yield h.client()
