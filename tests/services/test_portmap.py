"""The port mapper (services/mgmt/portmap.py) over the dynamic registry: who may sign in, how
long a port is handed out, and which sign-in wins."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gfrpc.errors import TimeoutError_
from gfrpc.programs import pmap
from gfrpc.rpc import RpcClient
from gfrpc.rpc.server import RpcServer
from gfrpc.services.mgmt.portmap import PortMapper
from gfrpc.services.mgmt.registry import BrickRef, Registry, VolumeSpec
from gfrpc.transport import Poller, make_poller

pytestmark = pytest.mark.timeout(30)

B0, B1 = "/srv/pm/b0", "/srv/pm/b1"


class Mapper:
    """A registry and PortMapper served on loopback, and a factory of client connections."""

    def __init__(self, signin_allow: tuple[str, ...] = ("127.*",)) -> None:
        self.registry = Registry([VolumeSpec("pv", (BrickRef("h", B0), BrickRef("h", B1)))])
        self.mapper = PortMapper(self.registry, signin_allow=signin_allow)
        self.poller: Poller = make_poller("single")
        self.poller.start()
        self.rpc = RpcServer(self.poller, workers=2)
        self.rpc.register(self.mapper.program())
        self.rpc.on_disconnect = self.mapper.session_ended
        self.address = self.rpc.listen(("127.0.0.1", 0)).address
        self.clients: list[RpcClient] = []

    def client(self) -> RpcClient:
        c = RpcClient(self.address, poller=self.poller, ping_timeout=0)
        c.connect(timeout=5.0)
        self.clients.append(c)
        return c

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.rpc.close()
        self.poller.stop()


@pytest.fixture
def pm() -> Iterator[Mapper]:
    m = Mapper()
    yield m
    m.close()


def sign_in(c: RpcClient, brick: str, port: int, pid: int) -> tuple[int, int]:
    req = pmap.PmapSigninReq(brick=brick, port=port, pid=pid).pack()
    rsp = pmap.PmapSigninRsp.unpack(
        c.call(pmap.PMAP_PROGRAM, pmap.PMAP_VERSION, pmap.SIGNIN, req).body
    )
    return rsp.op_ret, rsp.op_errno


def sign_out(c: RpcClient, brick: str, port: int) -> None:
    req = pmap.PmapSignoutReq(brick=brick, port=port).pack()
    c.call(pmap.PMAP_PROGRAM, pmap.PMAP_VERSION, pmap.SIGNOUT, req)


def port_by_brick(c: RpcClient, brick: str) -> tuple[int, int]:
    """(port, 0), or (-1, errno) when PORTBYBRICK refuses."""
    req = pmap.PmapPortByBrickReq(brick=brick).pack()
    rsp = pmap.PmapPortByBrickRsp.unpack(
        c.call(pmap.PMAP_PROGRAM, pmap.PMAP_VERSION, pmap.PORTBYBRICK, req).body
    )
    return (rsp.port, 0) if rsp.op_ret == 0 else (-1, rsp.op_errno)


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def gone(registry: Registry, path: str) -> Callable[[], bool]:
    return lambda: registry.entry(path) is None


def test_a_port_is_handed_out_only_while_its_sign_in_connection_is_open(pm: Mapper) -> None:
    """PORTBYBRICK answers a brick's port while the connection it signed in over is open;
    once that connection closes (as when a brick is killed with -9) it answers ENOENT."""
    brick, asker = pm.client(), pm.client()
    assert port_by_brick(asker, B0) == (-1, errno.ENOENT)
    assert sign_in(brick, B0, 49200, os.getpid()) == (0, 0)
    assert port_by_brick(asker, B0) == (49200, 0)
    brick.close()
    assert pm.registry.wait_until(gone(pm.registry, B0), 5.0)  # the disconnect hook ran
    assert port_by_brick(asker, B0) == (-1, errno.ENOENT)


def test_a_stale_sign_in_from_another_pid_is_refused_when_a_pid_is_expected(pm: Mapper) -> None:
    """When the supervisor registered the pid it started for a path, a SIGNIN carrying another
    pid (a live one, even) is refused with EPERM and does not overwrite the current entry."""
    new, old = pm.client(), pm.client()
    pm.registry.expect(B0, os.getpid())
    assert sign_in(new, B0, 49201, os.getpid()) == (0, 0)
    assert sign_in(old, B0, 49199, os.getppid()) == (-1, errno.EPERM)
    assert port_by_brick(new, B0) == (49201, 0)
    entry = pm.registry.entry(B0)
    assert entry is not None and (entry.port, entry.pid) == (49201, os.getpid())


def test_without_an_expectation_a_dead_pid_is_refused_and_the_newest_live_one_wins(
    pm: Mapper,
) -> None:
    """Without an expected pid, a local SIGNIN from a pid that is not alive is refused; of
    two live sign-ins the newest wins, and the older connection can neither sign it out nor
    take it away by closing."""
    a, b, asker = pm.client(), pm.client(), pm.client()
    assert sign_in(a, B0, 49210, dead_pid()) == (-1, errno.EPERM)
    assert port_by_brick(asker, B0) == (-1, errno.ENOENT)
    assert sign_in(a, B0, 49210, os.getppid()) == (0, 0)
    assert sign_in(b, B0, 49211, os.getpid()) == (0, 0)
    assert port_by_brick(asker, B0) == (49211, 0)
    sign_out(a, B0, 49210)  # not the owner: ignored
    sign_out(a, B0, 49211)
    assert port_by_brick(asker, B0) == (49211, 0)
    a.close()
    assert not pm.registry.wait_until(gone(pm.registry, B0), 0.3)
    assert port_by_brick(asker, B0) == (49211, 0)
    sign_out(b, B0, 49211)  # the owner
    assert port_by_brick(asker, B0) == (-1, errno.ENOENT)


def test_a_brick_restarted_on_a_new_port_replaces_its_entry_at_once(pm: Mapper) -> None:
    """A new sign-in of a path (a restarted brick, a new connection, a new port) is what the
    very next PORTBYBRICK answers; the old connection closing later does not remove it."""
    first, asker = pm.client(), pm.client()
    assert sign_in(first, B1, 49220, os.getpid()) == (0, 0)
    second = pm.client()
    pm.registry.expect(B1, os.getpid())
    assert sign_in(second, B1, 49221, os.getpid()) == (0, 0)
    assert port_by_brick(asker, B1) == (49221, 0)
    first.close()
    assert not pm.registry.wait_until(gone(pm.registry, B1), 0.3)
    assert port_by_brick(asker, B1) == (49221, 0)


def test_unknown_bricks_bad_ports_and_brickbyport(pm: Mapper) -> None:
    """Only bricks of known volumes sign in, on ports 1..65535 (EPERM otherwise); volumes
    given later with set_volumes count at once; BRICKBYPORT is never answered, as in glusterd."""
    c = pm.client()
    assert sign_in(c, "/etc", 49230, os.getpid()) == (-1, errno.EPERM)
    assert sign_in(c, B0, 0, os.getpid()) == (-1, errno.EPERM)
    assert sign_in(c, B0, 70000, os.getpid()) == (-1, errno.EPERM)
    pm.registry.set_volumes([VolumeSpec("other", (BrickRef("h", "/etc"),))])
    assert sign_in(c, "/etc", 49230, os.getpid()) == (0, 0)
    assert sign_in(c, B0, 49231, os.getpid()) == (-1, errno.EPERM)  # pv is gone
    with pytest.raises(TimeoutError_):
        c.call(
            pmap.PMAP_PROGRAM,
            pmap.PMAP_VERSION,
            pmap.BRICKBYPORT,
            pmap.PmapBrickByPortReq(port=49230).pack(),
            timeout=0.3,
        )


def test_sign_in_from_an_address_not_allowed_is_refused() -> None:
    """With a sign-in list that excludes loopback, a known brick gets EPERM and no port."""
    m = Mapper(signin_allow=("10.*",))
    try:
        c = m.client()
        assert sign_in(c, B0, 49240, os.getpid()) == (-1, errno.EPERM)
        assert port_by_brick(c, B0) == (-1, errno.ENOENT)
    finally:
        m.close()


def test_registry_forgets_a_dead_process_only_if_it_owns_the_entry(tmp_path: Path) -> None:
    """forget(path, pid) drops the entry signed in by that pid, not a newer one of another pid;
    expect(path, pid) drops an entry signed in by another pid."""
    r = Registry([VolumeSpec("pv", (BrickRef("h", B0),))])
    token = object()
    assert r.sign_in(B0, 49250, pid=os.getpid(), token=token) == 0
    assert not r.forget(B0, os.getppid())
    assert r.port_of(B0) == 49250
    assert r.forget(B0, os.getpid())
    assert r.port_of(B0) is None
    assert r.sign_in(B0, 49251, pid=os.getppid(), token=token) == 0
    r.expect(B0, os.getpid())
    assert r.port_of(B0) is None
