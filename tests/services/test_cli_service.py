"""gfrpc mgmtd's gluster CLI service: the recorded CLI calls answered with glusterd's keys, the
UNIX-socket/TCP split, option checks, volfiles from state, and the node's identity.

Also the shared pieces of the other CLI-service tests: ``FakeSupervisor`` (the
``BrickSupervisor`` interface, bricks "online" without processes) and ``workdir_mgmtd``.
"""

from __future__ import annotations

import re
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gfrpc.client import volfile as vf
from gfrpc.client.cli_client import CliClient, CliCommandError
from gfrpc.client.mgmt import get_spec, mgmt_client
from gfrpc.errors import RpcError
from gfrpc.programs import cli
from gfrpc.programs.cli import CliProc, GlusterdErrno, VolumeStatus
from gfrpc.services.mgmt import MgmtConfig, MgmtServer
from gfrpc.services.mgmt.state import Fault, Volume, VolumeStore, node_uuid
from gfrpc.services.mgmt.volopts import OptionError, check_option
from gfrpc.transport import SocketOptions, make_poller
from gfrpc.wire.record import NEED_DATA, RecordDecoder
from gfrpc.wire.rpcmsg import CallHeader, ReplyHeader, decode_message

pytestmark = pytest.mark.timeout(60)

CALLBACK_PROGRAM = 52743234
#: where the recordings' volume lived (tests/fixtures/cli/README.md): host "vm"
RECORDED_HOST = "vm"
RECORDED_BRICK = "/tmp/gfrpc-interop-dkp_rs1d/bricks/gfrpc-cli"
#: values that depend on the run (uuids, ports, pids, secrets, host): compared by shape only
RUN_VALUES = re.compile(
    r"(^|\.)(uuid|volume_id|volume-id|vol-id|peerid|port|pid|originator_uuid|transaction_id|"
    r"internal-username|internal-password)$"
)


# ---- shared: a fake supervisor and an in-process daemon ------------------------------------


@dataclass(frozen=True)
class FakeBrick:
    host: str
    path: str
    port: int | None
    pid: int | None
    online: bool


@dataclass
class FakeSupervisor:
    """``BrickSupervisor``'s interface with no processes: started bricks are online on ports
    from 49152 with made-up pids."""

    running: dict[str, tuple[int, int]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def start_volume(self, volume: Volume, *, force: bool = False) -> None:
        self.calls.append(f"start {volume.name}{' force' if force else ''}")
        for b in volume.bricks:
            n = len(self.running)
            self.running.setdefault(b.path, (49152 + n, 40000 + n))

    def stop_volume(self, volume: Volume, *, force: bool = False) -> None:
        self.calls.append(f"stop {volume.name}{' force' if force else ''}")
        for b in volume.bricks:
            self.running.pop(b.path, None)

    def status(self, volume: Volume) -> list[FakeBrick]:
        out = []
        for b in volume.bricks:
            port, pid = self.running.get(b.path, (None, None))
            out.append(FakeBrick(b.host, b.path, port, pid, port is not None))
        return out

    def adopt(self, volumes: Sequence[Volume]) -> None:
        self.calls.append("adopt " + ",".join(v.name for v in volumes))

    def close(self) -> None:
        self.calls.append("close")


@contextmanager
def workdir_mgmtd(
    workdir: Path,
    *,
    supervisor: FakeSupervisor | None = None,
    hostnames: Sequence[str] = ("localhost", "127.0.0.1", RECORDED_HOST),
    fault: Fault | None = None,
    options: SocketOptions | None = None,
    port: int = 0,
    cli_socket_name: str | None = None,
) -> Iterator[MgmtServer]:
    """A started mgmtd with ``--workdir`` on loopback (a free port unless ``port``), its CLI
    socket ``workdir/glusterd.socket`` (or ``cli_socket_name`` there); stopped after."""
    config = MgmtConfig(
        workdir=workdir,
        cli_socket=str(workdir / cli_socket_name) if cli_socket_name else None,
        port=port,
        host="127.0.0.1",
        poller="single",
        hostnames=hostnames,
        socket_options=options or SocketOptions(),
    )
    sup = supervisor
    server = MgmtServer(
        config, supervisor=(lambda s: sup) if sup is not None else None, fault=fault
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def cli_socket(server: MgmtServer) -> str:
    assert server.cli_listener is not None
    return str(server.cli_listener.address)


def tcp_address(server: MgmtServer) -> str:
    assert server.listener is not None
    return str(server.listener.address)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[MgmtServer, FakeSupervisor]]:
    sup = FakeSupervisor()
    with workdir_mgmtd(tmp_path / "wd", supervisor=sup) as server:
        yield server, sup


# ---- golden: the recorded CLI calls, answered like glusterd --------------------------------

#: the recorded commands in the order they ran (tests/fixtures/cli/transcript.txt)
SEQUENCE = [
    "peer-status",
    "pool-list",
    "volume-list-empty",
    "volume-create",
    "volume-create-exists",
    "volume-start",
    "volume-start-missing",
    "volume-info",
    "volume-info-all",
    "volume-info-xml",
    "volume-info-missing",
    "volume-list",
    "volume-status",
    "volume-status-xml",
    "volume-status-all",
    "volume-set",
    "volume-set-unknown",
    "volume-reset-key",
    "volume-reset",
    "volume-stop",
    "volume-delete",
]


def _exchange(path: str, data: bytes, replies: int, feed: Callable[[bytes], list[bytes]]) -> list:
    """Send recorded call records on a fresh UNIX connection; the CLI-program replies."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(20)
        s.connect(path)
        s.sendall(data)
        got = b""
        out: list = []
        while len(out) < replies:
            chunk = s.recv(1 << 16)
            assert chunk, "daemon closed the connection"
            got += chunk
            out = [r for r in feed(got) if isinstance(decode_message(r)[0], ReplyHeader)]
    return sorted(out, key=lambda r: decode_message(r)[0].xid)  # calls may overtake


def _whole(data: bytes) -> list[bytes]:
    dec = RecordDecoder()
    dec.receive_data(data)
    out = []
    while (rec := dec.next_record()) is not NEED_DATA:
        out.append(bytes(rec))  # type: ignore[arg-type]
    return out


def _recorded_replies(golden: Callable[[str], bytes], feed: Callable, name: str) -> list[bytes]:
    out = []
    for r in feed(golden(f"cli/{name}.reply")):
        header, _ = decode_message(r)
        if isinstance(header, CallHeader):  # glusterd's FETCHSPEC callback: not a reply
            assert header.prog == CALLBACK_PROGRAM
            continue
        out.append(r)
    return sorted(out, key=lambda r: decode_message(r)[0].xid)


def _decode(record: bytes, proc: int) -> cli.XdrStruct:  # type: ignore[name-defined]
    header, body = decode_message(record)
    assert isinstance(header, ReplyHeader) and header.ok
    t = cli.Gf1CliPeerListRsp if proc == CliProc.LIST_FRIENDS else cli.GfCliRsp
    return t.unpack(body)


def _shape(key: str, value: bytes) -> object:
    """What must match in a value: run-specific ones by form (NUL-ended text or 16 raw
    bytes, integer or not), everything else exactly."""
    if RUN_VALUES.search(key):
        # a random 16-byte id ends in NUL one time in 256: text is NUL-ended ASCII, no inner NUL
        text = value.endswith(b"\0") and value[:-1].isascii() and b"\0" not in value[:-1]
        return ("text", value[:-1].lstrip(b"-").isdigit()) if text else ("raw", len(value))
    if key in ("brick0.hostname", "friend1.hostname") or key.endswith(".brick1"):
        return value.replace(RECORDED_HOST.encode(), b"HOST")
    return value


def test_recorded_cli_calls_get_glusterd_replies(
    tmp_path: Path, golden: Callable[[str], bytes]
) -> None:
    """Each recorded gluster CLI call, replayed in the recorded order against a gfrpc mgmtd,
    gets glusterd's reply: the same op_ret, op_errno and op_errstr, the same dict keys, and
    the same values except run-specific ones (uuids, ports, pids, host), which keep their form.
    The three options glusterd sets on every new volume (fips-mode-rchecksum,
    address-family, nfs.disable) are glusterd's own and left out by gfrpc."""
    made_brick = not Path(RECORDED_BRICK).exists()
    sup = FakeSupervisor()
    try:
        with workdir_mgmtd(tmp_path / "wd", supervisor=sup) as server:
            path = cli_socket(server).removeprefix("unix:")
            for name in SEQUENCE:
                calls = _whole(golden(f"cli/{name}.call"))
                proc = decode_message(calls[0])[0].proc
                want = _recorded_replies(golden, _whole, name)
                got = _exchange(path, golden(f"cli/{name}.call"), len(want), _whole)
                for w_rec, g_rec in zip(want, got, strict=True):
                    w, g = _decode(w_rec, proc), _decode(g_rec, proc)
                    assert (g.op_ret, g.op_errno) == (w.op_ret, w.op_errno), name
                    if proc != CliProc.LIST_FRIENDS:
                        # glusterd suggests the nearest of *its* option names
                        assert g.op_errstr.split("\n")[0] == w.op_errstr.split("\n")[0], name
                    wd, gd = cli.cli_dict(w), cli.cli_dict(g)
                    defaults = ("fips-mode-rchecksum", "address-family", "nfs.disable")
                    wd = {k: v for k, v in wd.items() if not k.endswith(defaults)}
                    if "volume0.opt_count" in wd:
                        wd["volume0.opt_count"] = b"0\0"
                    assert set(gd) == set(wd), name
                    assert {k: _shape(k, v) for k, v in gd.items()} == {
                        k: _shape(k, v) for k, v in wd.items()
                    }, name
    finally:
        if made_brick:
            shutil.rmtree("/tmp/gfrpc-interop-dkp_rs1d", ignore_errors=True)


# ---- the UNIX socket and TCP ----------------------------------------------------------------


def test_write_commands_over_tcp_are_refused_and_reads_work(
    daemon: tuple[MgmtServer, FakeSupervisor], tmp_path: Path
) -> None:
    """On the TCP port (glusterd's "GlusterD svc cli read-only") every write procedure is
    PROC_UNAVAIL and changes nothing; info, list, status and the peer list are answered."""
    server, _ = daemon
    with CliClient(cli_socket(server)) as unix:
        unix.create("v", [f"localhost:{tmp_path}/b0"], force=True)
        unix.start("v")
    with CliClient(tcp_address(server)) as tcp:
        for attempt in (
            lambda: tcp.create("w", [f"localhost:{tmp_path}/b1"], force=True),
            lambda: tcp.stop("v"),
            lambda: tcp.delete("v"),
            lambda: tcp.set("v", {"network.ping-timeout": "10"}),
            lambda: tcp.reset("v"),
            lambda: tcp.start("v", force=True),
        ):
            with pytest.raises(RpcError) as e:
                attempt()
            assert e.value.stat == "PROC_UNAVAIL"
        assert tcp.volumes() == ["v"]
        [info] = tcp.info("v")
        assert info.status == VolumeStatus.STARTED and info.options == {}
        assert [r.online for r in tcp.status("v")["v"]] == [True]
        assert len(tcp.peers(pool=True)) == 1 and tcp.peers() == []


def test_unix_socket_serves_every_volume_command(
    daemon: tuple[MgmtServer, FakeSupervisor], tmp_path: Path
) -> None:
    """create, start, status, set, reset, stop and delete through the UNIX socket change the
    store and call the supervisor, in that order; refusals carry glusterd's texts."""
    server, sup = daemon
    bricks = [f"localhost:{tmp_path}/b{i}" for i in range(3)]
    with CliClient(cli_socket(server)) as c:
        vid = c.create("v", bricks, force=True)
        with pytest.raises(CliCommandError, match="^Volume v already exists$"):
            c.create("v", [f"localhost:{tmp_path}/other"], force=True)
        with pytest.raises(CliCommandError, match="Brick: .* not available"):
            c.create("w", [f"localhost:{tmp_path}/b1/sub"], force=True)
        with pytest.raises(CliCommandError, match="not in 'Peer in Cluster' state"):
            c.create("w", [f"elsewhere.invalid:{tmp_path}/x"], force=True)
        with pytest.raises(CliCommandError, match="^Volume v is not started$"):
            c.status("v")
        c.start("v")
        with pytest.raises(CliCommandError, match="^Volume v already started$"):
            c.start("v")
        c.start("v", force=True)
        rows = c.status("v")["v"]
        assert [(r.path, r.online) for r in rows] == [(b.split(":")[1], True) for b in bricks]
        c.set("v", {"client.ssl": "on", "network.ping-timeout": "20"})
        c.set("v", {"gfrpc.server.poller": "sharded"})
        [info] = c.info("v")
        assert info.volume_id == vid and info.bricks == tuple(bricks)
        assert info.options == {
            "client.ssl": "on",
            "network.ping-timeout": "20",
            "gfrpc.server.poller": "sharded",
        }
        c.reset("v", "client.ssl")
        assert list(c.info()[0].options) == ["network.ping-timeout", "gfrpc.server.poller"]
        c.reset("v")
        assert c.info("v")[0].options == {}
        with pytest.raises(CliCommandError, match="has been started.Volume needs to be stopped"):
            c.delete("v")
        c.stop("v")
        with pytest.raises(CliCommandError, match="^Volume v is not in the started state$"):
            c.stop("v")
        c.delete("v")
        assert c.volumes() == []
        with pytest.raises(CliCommandError, match="^Volume v does not exist$"):
            c.info("v")
    assert sup.calls == ["adopt ", "start v", "start v force", "stop v"]


def test_unsupported_commands_are_refused_with_a_clear_message(
    daemon: tuple[MgmtServer, FakeSupervisor], tmp_path: Path
) -> None:
    """replica/disperse volumes and commands gfrpc does not have are op_ret -1 with a message
    that names them, never a silent success or a dropped call."""
    server, _ = daemon
    with CliClient(cli_socket(server)) as c:
        for kind in (cli.ClusterType.REPLICATE, cli.ClusterType.DISPERSE):
            with pytest.raises(CliCommandError, match="distribute volumes only") as e:
                c.create("r", [f"localhost:{tmp_path}/r0", f"localhost:{tmp_path}/r1"], kind=kind)
            assert e.value.op_errno == GlusterdErrno.OPNOTSUP
        r = c.call(CliProc.ADD_BRICK, {"volname": "r"})
        assert r.op_ret == -1 and "does not support 'volume add-brick'" in r.op_errstr
        assert c.volumes() == []


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("gfrpc.no-such-key", "1", "option : gfrpc.no-such-key does not exist"),
        ("client.ssl", "maybe", "option transport.socket.ssl-enabled maybe: 'maybe' is not a "),
        ("network.ping-timeout", "2000", "'2000' in 'option ping-timeout 2000' is out of range"),
        ("network.frame-timeout", "x", 'invalid time format "x" in "option frame-timeout"'),
        (
            "client.event-threads",
            "33",
            "'33' in 'option event-threads 33' is out of range [1 - 32]",
        ),
        ("server.event-threads", "0", "'0' in 'option event-threads 0' is out of range [1 - 1024]"),
        ("server.outstanding-rpc-limit", "ten", 'invalid number format "ten" in option'),
        ("gfrpc.io-policy", "fast", "option io-policy fast: 'fast' is not valid (possible options"),
    ],
)
def test_option_values_are_checked_as_glusterd_does(key: str, value: str, error: str) -> None:
    """An unknown key or a value its translator option refuses gets libglusterfs's text."""
    with pytest.raises(OptionError) as e:
        check_option(key, value)
    assert str(e.value).startswith(error)


def test_good_option_values_pass() -> None:
    """Booleans in any of GlusterFS's words, times with units, integers in range pass."""
    for key, value in [
        ("client.ssl", "on"),
        ("server.ssl", "Enable"),
        ("network.ping-timeout", "1m"),
        ("network.frame-timeout", "86400"),
        ("server.outstanding-rpc-limit", "0"),
        ("auth.ssl-allow", "alice,bob*"),
        ("auth.allow", "127.0.0.1"),
        ("gfrpc.server.poller", "own-thread"),
        ("gfrpc.io-threads", "0"),
    ]:
        assert check_option(key, value) == value


# ---- volfiles from state --------------------------------------------------------------------


def test_getspec_follows_volume_set(
    daemon: tuple[MgmtServer, FakeSupervisor], tmp_path: Path
) -> None:
    """GETSPEC is generated from the stored state on each call: a volume with client.ssl on
    gets TLS on every protocol/client, ping-timeout/frame-timeout/event-threads appear under
    their translator names, and a reset takes them out again; an unknown name is ENOENT."""
    server, _ = daemon
    host, port = tcp_address(server).rsplit(":", 1)
    with CliClient(cli_socket(server)) as c:
        c.create("v", [f"localhost:{tmp_path}/b0", f"localhost:{tmp_path}/b1"], force=True)
        poller = make_poller("single")
        poller.start()
        m = mgmt_client(host, int(port), poller=poller)
        try:
            graph = vf.parse(get_spec(m, "/v"))
            assert not any(b.ssl_enabled for b in vf.client_bricks(graph))
            c.set("v", {"client.ssl": "on", "network.ping-timeout": "1m"})
            c.set("v", {"client.event-threads": "4", "network.frame-timeout": "60"})
            text = get_spec(m, "v")
            graph = vf.parse(text)
            assert vf.check_supported(graph) == "distribute"
            assert all(b.ssl_enabled for b in vf.client_bricks(graph))
            for line in ("ping-timeout 60", "event-threads 4", "frame-timeout 60"):
                assert text.count(f"option {line}\n") == 2
            c.reset("v")
            assert "ssl-enabled" not in get_spec(m, "v")
            with pytest.raises(OSError, match="No such file"):
                get_spec(m, "nosuch")
        finally:
            m.close()
            poller.stop()


def test_node_uuid_is_kept_in_the_workdir(tmp_path: Path) -> None:
    """The node's UUID is made once, kept in glusterd.info as glusterd writes it, and shown
    by pool list after a restart."""
    first = node_uuid(tmp_path)
    assert node_uuid(tmp_path) == first
    assert f"UUID={first}\n" in (tmp_path / "glusterd.info").read_text()
    with workdir_mgmtd(tmp_path) as server, CliClient(cli_socket(server)) as c:
        assert c.peers(pool=True) == [(str(first), "localhost", True)]


def test_state_survives_a_restart(tmp_path: Path) -> None:
    """Volumes, options and status come back after the daemon restarts, and the supervisor
    is asked to adopt them before anything is served."""
    with workdir_mgmtd(tmp_path) as server, CliClient(cli_socket(server)) as c:
        c.create("v", [f"localhost:{tmp_path}/b0"], force=True)
        c.set("v", {"auth.allow": "127.*"})
        c.start("v")
    sup = FakeSupervisor()
    with workdir_mgmtd(tmp_path, supervisor=sup) as server, CliClient(cli_socket(server)) as c:
        assert sup.calls == ["adopt v"]
        [info] = c.info()
        assert (info.name, info.status, dict(info.options)) == (
            "v",
            VolumeStatus.STARTED,
            {"auth.allow": "127.*"},
        )
    with VolumeStore(tmp_path) as store:
        assert store.get_volume("v").volume_id == info.volume_id
        assert isinstance(info.volume_id, uuid.UUID)


def test_oversized_requests_are_refused_before_any_work(
    daemon: tuple[MgmtServer, FakeSupervisor], tmp_path: Path
) -> None:
    """More than 1,024 bricks, a brick path of PATH_MAX or more, or an option value over
    4,096 characters is refused with a message, before a directory is made or a row written."""
    server, _ = daemon
    with CliClient(cli_socket(server)) as c:
        many = [f"localhost:{tmp_path}/m/b{i}" for i in range(1025)]
        with pytest.raises(CliCommandError, match="at most 1024"):
            c.create("m", many, force=True)
        with pytest.raises(CliCommandError, match="Wrong brick type"):
            c.create("m", [f"localhost:/{'x' * 4096}"], force=True)
        assert not (tmp_path / "m").exists() and c.volumes() == []
        c.create("v", [f"localhost:{tmp_path}/b0"], force=True)
        with pytest.raises(CliCommandError, match="too long"):
            c.set("v", {"auth.allow": "1" * 4097})
        assert c.info("v")[0].options == {}
