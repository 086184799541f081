"""BrickConnection and mgmt (GETSPEC, PORTBYBRICK) against fake glusterd/brick RPC servers on
loopback: the handshake a real GlusterFS client performs, its errors, and pipelined FOPs."""

from __future__ import annotations

import errno
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from gfrpc.client.connection import BrickConnection
from gfrpc.client.mgmt import VolfileError, fetch_volfile
from gfrpc.client.volume import Volume
from gfrpc.programs import fops, pmap
from gfrpc.programs import handshake as hs
from gfrpc.programs.fops import FopProc
from gfrpc.programs.fops_types import ROOT_GFID, Iatt
from gfrpc.rpc.server import Procedure, Program, Request, RpcServer
from gfrpc.transport import Poller, make_poller
from gfrpc.wire import rpcmsg
from gfrpc.wire.gfdict import as_str, decode_serialized_dict, encode_serialized_dict

pytestmark = pytest.mark.timeout(30)
BRICK = "/bricks/b0"


@dataclass
class FakeBrick:
    """A brick that records what it is sent: SETVOLUME dicts, credentials, FOP requests."""

    setvolume_answer: tuple[int, int, str] = (0, 0, "Success")
    serve_v400: bool = True
    setvolumes: list[dict[str, str]] = field(default_factory=list)
    flavors: list[tuple[int, int]] = field(default_factory=list)  # (proc, cred flavor)
    lookups: list[Any] = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)

    def program_list(self) -> list[Program]:
        progs = [
            Program(
                hs.GF_HNDSK_PROGRAM,
                hs.GF_HNDSK_VERSION,
                "GlusterFS Handshake",
                {hs.SETVOLUME: Procedure("SETVOLUME", self.setvolume)},
            )
        ]
        fop = {
            FopProc.LOOKUP: self.lookup,
            FopProc.WRITE: self.write,
            FopProc.READ: self.read,
            FopProc.STAT: self.stat,
        }
        progs.append(
            Program(
                fops.GLUSTER_FOP_PROGRAM,
                fops.GLUSTER_FOP_VERSION if self.serve_v400 else 330,
                "GlusterFS",
                {p: Procedure(p.name, h) for p, h in fop.items()},
            )
        )
        return progs

    def setvolume(self, r: Request) -> Any:
        self.flavors.append((r.proc, r.auth.flavor))
        d = decode_serialized_dict(hs.GfSetvolumeReq.unpack(r.args).dict)
        self.setvolumes.append({k: as_str(v) for k, v in d.items()})
        ret, err, text = self.setvolume_answer
        reply = encode_serialized_dict({"ERROR": text, "child_up": 1})
        return hs.GfSetvolumeRsp(op_ret=ret, op_errno=err, dict=reply)

    def lookup(self, r: Request) -> Any:
        self.flavors.append((r.proc, r.auth.flavor))
        self.lookups.append(fops.GfxLookupReq.unpack(r.args))
        root = Iatt(ia_gfid=ROOT_GFID, ia_ino=1, mode=0o40755, ia_nlink=3)
        return fops.GfxCommon2IattRsp(prestat=root)

    def write(self, r: Request) -> Any:
        req, payload = fops.decode_write_request(r.args)
        end = req.offset + len(payload)
        if len(self.data) < end:
            self.data.extend(bytes(end - len(self.data)))
        self.data[req.offset : end] = payload
        return fops.GfxCommon2IattRsp(op_ret=len(payload))

    def read(self, r: Request) -> Any:
        req = fops.GfxReadReq.unpack(r.args)
        chunk = bytes(self.data[req.offset : req.offset + req.size])
        return fops.encode_read_reply(fops.GfxReadRsp(op_ret=len(chunk), size=len(chunk)), chunk)

    def stat(self, r: Request) -> Any:
        if bytes(fops.GfxStatReq.unpack(r.args).gfid) == ROOT_GFID:
            return fops.GfxCommonIattRsp(stat=Iatt(ia_gfid=ROOT_GFID, ia_ino=1, mode=0o40755))
        return fops.GfxCommonIattRsp(op_ret=-1, op_errno=errno.ENOENT)


@dataclass
class FakeGlusterd:
    volfiles: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    getspecs: list[Any] = field(default_factory=list)

    def program_list(self) -> list[Program]:
        return [
            Program(
                hs.GF_HNDSK_PROGRAM,
                hs.GF_HNDSK_VERSION,
                "Gluster Handshake",
                {hs.GETSPEC: Procedure("GETSPEC", self.getspec)},
            ),
            Program(
                pmap.PMAP_PROGRAM,
                pmap.PMAP_VERSION,
                "Gluster Portmap",
                {pmap.PORTBYBRICK: Procedure("PORTBYBRICK", self.portbybrick)},
            ),
        ]

    def getspec(self, r: Request) -> Any:
        req = hs.GfGetspecReq.unpack(r.args)
        self.getspecs.append(
            (
                r.auth.flavor,
                req.flags,
                req.key,
                {k: as_str(v) for k, v in decode_serialized_dict(req.xdata).items()},
            )
        )
        spec = self.volfiles.get(req.key)
        if spec is None:
            return hs.GfGetspecRsp(op_ret=-1, op_errno=errno.ENOENT)
        return hs.GfGetspecRsp(op_ret=len(spec.encode()), spec=spec)

    def portbybrick(self, r: Request) -> Any:
        brick = pmap.PmapPortByBrickReq.unpack(r.args).brick
        port = self.ports.get(brick)
        return pmap.PmapPortByBrickRsp(op_ret=-1 if port is None else 0, port=port or 0)


@pytest.fixture(params=["pool", "own-thread"])
def poller(request: pytest.FixtureRequest) -> Iterator[Poller]:
    p = make_poller(request.param)
    p.start()
    yield p
    p.stop()


def serve(poller: Poller, fake: Any) -> tuple[RpcServer, int]:
    server = RpcServer(poller, workers=4)
    for prog in fake.program_list():
        server.register(prog)
    listener = server.listen("127.0.0.1:0")
    return server, int(listener.address.port)


@pytest.fixture
def brick(poller: Poller) -> Iterator[tuple[FakeBrick, int]]:
    fake = FakeBrick()
    server, port = serve(poller, fake)
    yield fake, port
    server.close()


def connect(poller: Poller, port: int, **kw: Any) -> BrickConnection:
    conn = BrickConnection(
        "127.0.0.1", port, BRICK, volname="vol", name="vol-client-0", poller=poller, timeout=5, **kw
    )
    conn.connect()
    return conn


def test_setvolume_dict_is_a_real_clients(poller: Poller, brick: tuple[FakeBrick, int]) -> None:
    """SETVOLUME carries remote-subvolume, a GlusterFS-shaped process-uuid, fops-version
    1298437, client-version 10.3, clnt-lk-version 1, opversion 100000, volfile-key,
    transport-type socket, remote-host/port and the volfile options; it and later FOPs use
    AUTH_GLUSTERFS_v3."""
    fake, port = brick
    conn = connect(poller, port, options={"transport-type": "tcp", "ping-timeout": "42"})
    try:
        d = fake.setvolumes[0]
        assert d["remote-subvolume"] == BRICK and d["fops-version"] == "1298437"
        assert d["client-version"] == "10.3" and d["clnt-lk-version"] == "1"
        assert d["opversion"] == "100000" and d["volfile-key"] == "vol"
        assert d["transport-type"] == "socket" and d["ping-timeout"] == "42"
        assert d["remote-host"] == "127.0.0.1" and d["remote-port"] == str(port)
        assert re.fullmatch(
            r"CTX_ID:[0-9a-f-]{36}-GRAPH_ID:0-PID:\d+-HOST:.+-PC_NAME:"
            r"vol-client-0-RECON_NO:-\d+",
            d["process-uuid"],
        )
        assert f"PID:{os.getpid()}-" in d["process-uuid"]
        conn.lookup_root()
        assert {flavor for _, flavor in fake.flavors} == {rpcmsg.AUTH_GLUSTERFS_V3}
    finally:
        conn.close()


def test_process_uuid_differs_per_connection_attempt(
    poller: Poller, brick: tuple[FakeBrick, int]
) -> None:
    """Two connection attempts with the same CTX_ID still send different process-uuids."""
    fake, port = brick
    for _ in range(2):
        connect(poller, port, ctx_id="11111111-2222-3333-4444-555555555555").close()
    a, b = (d["process-uuid"] for d in fake.setvolumes)
    assert a != b and a.split("RECON_NO")[0] == b.split("RECON_NO")[0]


def test_root_lookup_sends_gfid_req(poller: Poller, brick: tuple[FakeBrick, int]) -> None:
    """The first LOOKUP is nameless on gfid 00..01 with xdata gfid-req = the root gfid."""
    fake, port = brick
    conn = connect(poller, port)
    try:
        conn.lookup_root()
        req = fake.lookups[0]
        assert bytes(req.gfid) == ROOT_GFID and req.bname == "" and bytes(req.pargfid) == bytes(16)
        assert req.xdata["gfid-req"].bytes == ROOT_GFID
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("answer", "exc", "text"),
    [
        ((-1, errno.EACCES, "Authentication failed"), PermissionError, "authentication failed"),
        (
            (-1, errno.ENOENT, 'remote-subvolume "/x" is not found'),
            FileNotFoundError,
            "is not found",
        ),
    ],
)
def test_setvolume_refusal_is_a_clear_oserror(
    poller: Poller, answer: tuple[int, int, str], exc: type[OSError], text: str
) -> None:
    """op_ret -1 from SETVOLUME raises the OSError for its errno with the brick's ERROR text;
    EACCES says authentication failed."""
    fake = FakeBrick(setvolume_answer=answer)
    server, port = serve(poller, fake)
    try:
        with pytest.raises(exc) as info:
            connect(poller, port)
        assert text in str(info.value) and answer[2] in str(info.value)
    finally:
        server.close()


def test_server_without_v400_is_refused(poller: Poller) -> None:
    """A server whose DUMP does not list GlusterFS 4.x v1 (1298437/400) is refused with
    EPROTONOSUPPORT naming what it offers."""
    server, port = serve(poller, FakeBrick(serve_v400=False))
    try:
        with pytest.raises(OSError) as info:
            connect(poller, port)
        assert info.value.errno == errno.EPROTONOSUPPORT and "1298437 v330" in str(info.value)
    finally:
        server.close()


def test_portmapper_hop(poller: Poller, brick: tuple[FakeBrick, int]) -> None:
    """Connected to glusterd (DUMP lists the portmapper), the client asks PORTBYBRICK for its
    remote-subvolume and reconnects to that port; an unknown brick is ENOENT."""
    fake, brick_port = brick
    gd = FakeGlusterd(ports={BRICK: brick_port})
    server, gd_port = serve(poller, gd)
    try:
        conn = connect(poller, gd_port)
        assert conn.port == brick_port and fake.setvolumes
        conn.close()
        gd.ports.clear()
        with pytest.raises(FileNotFoundError, match="knows no brick"):
            connect(poller, gd_port)
    finally:
        server.close()


def test_fops_pipeline_and_map_errors(poller: Poller, brick: tuple[FakeBrick, int]) -> None:
    """Many WRITEs (memoryview payloads) and READs are in flight at once from several threads;
    a reply with op_ret -1 raises the OSError subclass of its errno with the path."""
    fake, port = brick
    conn = connect(poller, port)
    try:
        blob = bytearray(os.urandom(64 * 1024))
        view = memoryview(blob)
        futures = [
            conn.write_async(ROOT_GFID, 0, off, view[off : off + 4096])
            for off in range(0, len(blob), 4096)
        ]
        assert all(f.result()[0].op_ret == 4096 for f in futures)
        assert bytes(fake.data) == bytes(blob)
        results: list[bytes] = []

        def reader() -> None:
            fs = [conn.read_async(ROOT_GFID, 0, off, 8192) for off in range(0, len(blob), 8192)]
            results.append(b"".join(bytes(f.result()[1]) for f in fs))

        threads = [threading.Thread(target=reader) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [bytes(blob)] * 4
        with pytest.raises(FileNotFoundError) as info:
            conn.stat(bytes(15) + b"\x09", path="/gone")
        assert info.value.filename == "/gone"
    finally:
        conn.close()
    with pytest.raises(OSError) as nc:
        conn.stat(ROOT_GFID)
    assert nc.value.errno == errno.ENOTCONN


def test_getspec_like_a_real_client(poller: Poller) -> None:
    """GETSPEC sends flags 1, the volume name as key, min/max-op-version xdata and
    AUTH_GLUSTERFS_v2; op_ret -1 becomes an OSError naming the key."""
    gd = FakeGlusterd(volfiles={"vol": "volume x\n type protocol/client\nend-volume\n"})
    server, port = serve(poller, gd)
    try:
        text = fetch_volfile("127.0.0.1", "vol", port=port, poller=poller, timeout=5)
        assert text.startswith("volume x")
        flavor, flags, key, xdata = gd.getspecs[0]
        assert (flavor, flags, key) == (rpcmsg.AUTH_GLUSTERFS_V2, 1, "vol")
        assert xdata == {"min-op-version": "1", "max-op-version": "100000"}
        with pytest.raises(VolfileError) as info:
            fetch_volfile("127.0.0.1", "nope", port=port, poller=poller, timeout=5)
        assert info.value.errno == errno.ENOENT and "'nope'" in str(info.value)
    finally:
        server.close()


def test_volume_connect_through_fake_glusterd(poller: Poller, brick: tuple[FakeBrick, int]) -> None:
    """Volume.connect: GETSPEC, the volfile's client section (remote-host, remote-subvolume,
    remote-port = glusterd, so a portmapper hop), SETVOLUME with the volfile options and the
    URL's volume name as volfile-key, then the root LOOKUP."""
    fake, brick_port = brick
    gd = FakeGlusterd(ports={BRICK: brick_port})
    server, gd_port = serve(poller, gd)
    gd.volfiles["vol"] = (
        "volume vol-client-0\n type protocol/client\n option remote-host 127.0.0.1\n"
        f" option remote-port {gd_port}\n option remote-subvolume {BRICK}\n"
        " option transport.socket.ssl-enabled off\n option username u\nend-volume\n"
        "volume vol-dht\n type cluster/distribute\n subvolumes vol-client-0\nend-volume\n"
    )
    try:
        with Volume.connect(f"gluster://127.0.0.1:{gd_port}/vol", poller=poller) as v:
            assert v.kind == "distribute" and v.bricks[0].port == brick_port
            assert v.stat("/").st_ino == 1
    finally:
        server.close()
    d = fake.setvolumes[0]
    assert d["volfile-key"] == "vol" and d["username"] == "u"
    assert bytes(fake.lookups[0].gfid) == ROOT_GFID


@pytest.mark.parametrize(
    ("host", "text"),
    [("127.0.0.1", "127.0.0.1:49152:/b"), ("::1", "[::1]:49152:/b"), ("[::1]", "[::1]:49152:/b")],
)
def test_brick_where_writes_host_port_as_address_does(host: str, text: str) -> None:
    """Rule: a brick connection names itself ``HOST:PORT:BRICK`` with the host:port written by
    ``Address`` (``[v6]:port`` for IPv6), in messages and its repr."""
    conn = BrickConnection(host, 49152, "/b", volname="v", poller=None)
    assert conn.where == text
    assert repr(conn) == f"BrickConnection({text})"
