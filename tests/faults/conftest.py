"""Fixtures of the fault tests (helpers in fault_support.py, the proxy in proxy_support.py).

Every brick process started here is stopped by pid afterwards (SIGCONT first, in case a test
froze it); every proxy is closed and its threads joined.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fault_support import BrickProcess, TlsDirs
from proxy_support import FaultProxy

from gfrpc.tls.certs import write_certs

#: the client pollers of the network-fault tests: pool only, unless GFRPC_FAULTS_ALL_POLLERS=1
CLIENT_POLLERS = (
    ("single", "own-thread", "pool") if os.environ.get("GFRPC_FAULTS_ALL_POLLERS") else ("pool",)
)


def _start_brick(
    workdir: Path,
    made: list[BrickProcess],
    poller: str,
    tls: TlsDirs | None,
    name: str,
    extra: tuple[str, ...],
) -> BrickProcess:
    brick = BrickProcess(workdir / name, poller, tls, workdir / f"{name}.log", extra)
    made.append(brick)
    return brick.start()


@pytest.fixture
def brick_factory(tmp_path: Path) -> Iterator[Callable[..., BrickProcess]]:
    """``brick_factory(poller="pool", tls=None, name="brick", extra=())``: a started
    :class:`BrickProcess` under ``tmp_path``; every one is stopped after the test."""
    made: list[BrickProcess] = []

    def factory(
        poller: str = "pool",
        tls: TlsDirs | None = None,
        name: str = "brick",
        extra: tuple[str, ...] = (),
    ) -> BrickProcess:
        return _start_brick(tmp_path, made, poller, tls, name, extra)

    yield factory
    for b in made:
        b.stop()


@pytest.fixture(scope="module")
def shared_bricks(
    tmp_path_factory: pytest.TempPathFactory, tls_dirs: TlsDirs
) -> Iterator[Callable[[bool], BrickProcess]]:
    """``shared_bricks(tls)``: one pool-poller brick per TLS setting for a whole module
    (tests that do not harm the brick use distinct file names in it)."""
    made: list[BrickProcess] = []
    by_tls: dict[bool, BrickProcess] = {}
    workdir = tmp_path_factory.mktemp("shared-bricks")

    def get(tls: bool) -> BrickProcess:
        if tls not in by_tls:
            by_tls[tls] = _start_brick(
                workdir,
                made,
                "pool",
                tls_dirs if tls else None,
                f"brick-{'tls' if tls else 'plain'}",
                (),
            )
        brick = by_tls[tls]
        assert brick.proc is not None and brick.proc.poll() is None, brick.log_tail()
        return brick

    yield get
    for b in made:
        b.stop()


@pytest.fixture(scope="session")
def tls_dirs(tmp_path_factory: pytest.TempPathFactory) -> TlsDirs:
    """A brick identity (CN fault-brick) and a client identity (CN fault-client) under one
    throwaway CA, as ``gfrpc certs`` writes them."""
    root = tmp_path_factory.mktemp("fault-certs")
    write_certs(root / "brick", "fault-brick")
    write_certs(root / "client", "fault-client", ca_dir=root / "brick")
    return TlsDirs(root / "brick", root / "client")


@pytest.fixture
def proxy_factory() -> Iterator[Callable[[tuple[str, int]], FaultProxy]]:
    """``proxy_factory((host, port))``: a running FaultProxy, closed after the test."""
    made: list[FaultProxy] = []

    def factory(target: tuple[str, int]) -> FaultProxy:
        p = FaultProxy(target)
        made.append(p)
        return p

    yield factory
    for p in made:
        p.close()


@pytest.fixture(params=CLIENT_POLLERS)
def client_poller(request: pytest.FixtureRequest) -> str:
    """The client's polling model for tests that do not run every one by default
    (``GFRPC_FAULTS_ALL_POLLERS=1`` runs them on all three)."""
    return str(request.param)
