"""The management daemon: volume arguments, client volfiles, GETSPEC, the portmapper, and a
gfrpc brick that signs in and out."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import pytest

from gfrpc.client import Volume
from gfrpc.client import volfile as vf
from gfrpc.errors import ConfigError, TimeoutError_
from gfrpc.programs import handshake as hs
from gfrpc.programs import pmap
from gfrpc.rpc import RpcClient
from gfrpc.rpc.dump_client import dump
from gfrpc.services.brick import BrickConfig, BrickServer
from gfrpc.services.mgmt import MgmtConfig, MgmtServer, parse_volume_arg
from gfrpc.services.mgmt.server import client_volfile
from gfrpc.testing.waiting import wait_for
from gfrpc.transport import make_poller

pytestmark = pytest.mark.timeout(60)


def test_volume_argument_is_parsed_and_checked() -> None:
    """NAME=HOST:/path,... gives the bricks in order; bad names, relative paths and repeated
    bricks are one-line configuration errors."""
    v = parse_volume_arg("v1=127.0.0.2:/srv/b1,127.0.0.2:/srv/b2/")
    assert v.name == "v1" and [str(b) for b in v.bricks] == [
        "127.0.0.2:/srv/b1",
        "127.0.0.2:/srv/b2",
    ]
    for bad in ("v1", "bad name=h:/x", "v=h:relative", "v=/no/host", "v=h:/a,h:/a"):
        with pytest.raises(ConfigError):
            parse_volume_arg(bad)


def test_client_volfile_is_a_distribute_graph_over_the_bricks() -> None:
    """The volfile has one protocol/client per brick (no remote-port: the portmapper gives it)
    under NAME-dht, and gfrpc's own volfile reader sees a distribute volume of those bricks;
    with io_tls each client turns TLS on."""
    v = parse_volume_arg("dv=h1:/b0,h2:/b1")
    graph = vf.parse(client_volfile(v, io_tls=True))
    assert vf.check_supported(graph) == "distribute"
    bricks = vf.client_bricks(graph)
    assert [(b.remote_host, b.remote_subvolume, b.remote_port) for b in bricks] == [
        ("h1", "/b0", None),
        ("h2", "/b1", None),
    ]
    assert all(b.ssl_enabled for b in bricks)
    assert vf.distribute_layout_order(graph) == ["dv-client-0", "dv-client-1"]


@pytest.fixture
def mgmtd(tmp_path: Path) -> Iterator[MgmtServer]:
    spec = parse_volume_arg(f"dv=127.0.0.1:{tmp_path / 'b0'},127.0.0.1:{tmp_path / 'b1'}")
    server = MgmtServer(MgmtConfig(volumes=[spec], port=0, host="127.0.0.1", poller="single"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(mgmtd: MgmtServer) -> Iterator[RpcClient]:
    poller = make_poller("single")
    poller.start()
    c = RpcClient(mgmtd.listener.address, poller=poller, ping_timeout=0)  # type: ignore[union-attr]
    c.connect()
    yield c
    c.close()
    poller.stop()


def _call(c: RpcClient, proc: int, req: object, rsp: object) -> object:
    return rsp.unpack(
        c.call(
            pmap.PMAP_PROGRAM,
            pmap.PMAP_VERSION,
            proc,  # type: ignore[attr-defined]
            req.pack(),
        ).body
    )  # type: ignore[attr-defined]


def test_dump_getspec_and_portmap(mgmtd: MgmtServer, client: RpcClient, tmp_path: Path) -> None:
    """DUMP lists GF-DUMP, Gluster Portmap and Gluster Handshake; GETSPEC answers the volfile
    for "dv" or "/dv" and ENOENT for another name; a brick of the volume signs in from
    loopback and PORTBYBRICK gives its port until it signs out; an unknown brick cannot sign
    in (EPERM) and has no port."""
    assert dump(client) == [
        (123451501, 1, "GF-DUMP"),
        (34123456, 1, "Gluster Portmap"),
        (14398633, 2, "Gluster Handshake"),
    ]
    for key in ("dv", "/dv"):
        rsp = hs.GfGetspecRsp.unpack(
            client.call(
                hs.GF_HNDSK_PROGRAM,
                hs.GF_HNDSK_VERSION,
                hs.GETSPEC,
                hs.GfGetspecReq(key=key).pack(),
            ).body
        )
        assert rsp.op_ret == len(rsp.spec) and "cluster/distribute" in rsp.spec
    missing = hs.GfGetspecRsp.unpack(
        client.call(
            hs.GF_HNDSK_PROGRAM, hs.GF_HNDSK_VERSION, hs.GETSPEC, hs.GfGetspecReq(key="nope").pack()
        ).body
    )
    assert (missing.op_ret, missing.op_errno) == (-1, errno.ENOENT)
    b0 = str(tmp_path / "b0")
    ask = pmap.PmapPortByBrickReq(brick=b0)
    assert _call(client, pmap.PORTBYBRICK, ask, pmap.PmapPortByBrickRsp).op_ret == -1  # type: ignore[attr-defined]
    ok = _call(
        client, pmap.SIGNIN, pmap.PmapSigninReq(brick=b0, port=49999, pid=1), pmap.PmapSigninRsp
    )
    assert ok.op_ret == 0  # type: ignore[attr-defined]
    got = _call(client, pmap.PORTBYBRICK, ask, pmap.PmapPortByBrickRsp)
    assert (got.op_ret, got.port) == (0, 49999)  # type: ignore[attr-defined]
    bad = _call(
        client, pmap.SIGNIN, pmap.PmapSigninReq(brick="/etc", port=1, pid=1), pmap.PmapSigninRsp
    )
    assert (bad.op_ret, bad.op_errno) == (-1, errno.EPERM)  # type: ignore[attr-defined]
    _call(client, pmap.SIGNOUT, pmap.PmapSignoutReq(brick=b0, port=49999), pmap.PmapSignoutRsp)
    assert _call(client, pmap.PORTBYBRICK, ask, pmap.PmapPortByBrickRsp).op_ret == -1  # type: ignore[attr-defined]
    with pytest.raises(TimeoutError_):  # BRICKBYPORT is never answered, as in glusterd
        client.call(
            pmap.PMAP_PROGRAM,
            pmap.PMAP_VERSION,
            pmap.BRICKBYPORT,
            pmap.PmapBrickByPortReq(port=49999).pack(),
            timeout=0.3,
        )


def test_sign_in_is_refused_from_addresses_not_allowed(tmp_path: Path) -> None:
    """With a sign-in list that excludes loopback, even a configured brick gets EPERM."""
    spec = parse_volume_arg(f"dv=127.0.0.1:{tmp_path / 'b0'}")
    with MgmtServer(
        MgmtConfig(
            volumes=[spec], port=0, host="127.0.0.1", poller="single", signin_allow=("10.*",)
        )
    ) as server:
        poller = make_poller("single")
        poller.start()
        c = RpcClient(server.listener.address, poller=poller, ping_timeout=0)  # type: ignore[union-attr]
        try:
            c.connect()
            rsp = _call(
                c,
                pmap.SIGNIN,
                pmap.PmapSigninReq(brick=str(tmp_path / "b0"), port=5, pid=1),
                pmap.PmapSigninRsp,
            )
            assert (rsp.op_ret, rsp.op_errno) == (-1, errno.EPERM)  # type: ignore[attr-defined]
        finally:
            c.close()
            poller.stop()


def test_bricks_sign_in_and_a_client_uses_the_volume(mgmtd: MgmtServer, tmp_path: Path) -> None:
    """Two gfrpc bricks started with mgmt= sign in with their ports; gfrpc's client resolves
    the volume through the daemon (GETSPEC, PORTBYBRICK) and spreads files over both bricks;
    a stopped brick signs out."""
    port = mgmtd.listener.address.port  # type: ignore[union-attr]
    bricks = []
    for name in ("b0", "b1"):
        (tmp_path / name).mkdir()
        b = BrickServer(
            BrickConfig(
                directory=str(tmp_path / name),
                port=0,
                host="127.0.0.1",
                volname="dv",
                poller="single",
                mgmt=f"127.0.0.1:{port}",
            )
        )
        b.start()
        bricks.append(b)
    try:
        for b in bricks:
            assert b.signin is not None
            # a sign-in's reply lands on the brick's poller thread: no event to wait on here
            wait_for(
                lambda b=b: mgmtd.registry.port_of(b.config.brick_path) == b.identity.port,
                10.0,
                "the brick's sign-in",
            )
        with Volume.connect(f"gluster://127.0.0.1:{port}/dv", poller="single") as vol:
            assert vol.kind == "distribute" and len(vol.bricks) == 2
            names = [f"f{i}" for i in range(16)]
            for n in names:
                vol.write_bytes(f"/{n}", n.encode())
            assert sorted(vol.listdir("/")) == sorted(names)
        assert all(any((tmp_path / b / n).exists() for n in names) for b in ("b0", "b1"))
    finally:
        for b in bricks:
            b.stop()
    assert mgmtd.registry.port_of(str(tmp_path / "b0")) is None
