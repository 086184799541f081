"""The brick supervisor (services/mgmt/supervisor.py) with real ``gfrpc brick`` processes
signing in at an in-process port mapper on loopback, and the volume options -> brick flags
mapping (brick_args.py)."""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gfrpc.programs import pmap
from gfrpc.programs.cli import ClusterType, VolumeStatus
from gfrpc.rpc import RpcClient
from gfrpc.rpc.server import RpcServer
from gfrpc.services.mgmt import supervisor
from gfrpc.services.mgmt.brick_args import brick_argv
from gfrpc.services.mgmt.portmap import PortMapper
from gfrpc.services.mgmt.registry import BrickRef, Registry, VolumeSpec
from gfrpc.services.mgmt.state import Brick, Volume, VolumeStateError
from gfrpc.services.mgmt.supervisor import (
    BASE_PORT,
    BrickSupervisor,
    brick_log_file,
    brick_pid_file,
    path_name,
)
from gfrpc.transport import Poller, make_poller

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"

#: a brick that signs in like gfrpc brick but only logs SIGTERM (stop must SIGKILL it)
FAKE_BRICK = """
import argparse, os, signal, time
from gfrpc.services.mgmt.signin import BrickSignin
from gfrpc.transport import make_poller
p = argparse.ArgumentParser()
p.add_argument("--dir"); p.add_argument("--port", type=int); p.add_argument("--mgmt")
args, _ = p.parse_known_args()
signal.signal(signal.SIGTERM, lambda *a: print("fake brick: ignoring SIGTERM", flush=True))
poller = make_poller("single"); poller.start()
BrickSignin(args.mgmt, os.path.abspath(args.dir), args.port, poller=poller).start()
while True:
    time.sleep(3600)
"""


#: ``gfrpc brick`` alone: the brick sub-command's parser and runner, without the rest of the
#: CLI (so these tests do not depend on the other sub-commands)
BRICK_LAUNCHER = """
import argparse, logging, sys
from gfrpc.cli.brick import COMMANDS
from gfrpc.cli.common import register
parser = argparse.ArgumentParser()
register(parser.add_subparsers(dest="command"), COMMANDS)
args = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
sys.exit(args.func(args))
"""


class Daemon:
    """The management side of a test: registry, port mapper on loopback, a supervisor."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.registry = Registry()
        self.poller: Poller = make_poller("single")
        self.poller.start()
        self.rpc = RpcServer(self.poller, workers=2)
        mapper = PortMapper(self.registry)
        self.rpc.register(mapper.program())
        self.rpc.on_disconnect = mapper.session_ended
        self.address = self.rpc.listen((HOST, 0)).address
        self.supervisors: list[BrickSupervisor] = []
        self.volumes: list[Volume] = []

    def supervisor(self, **kw: object) -> BrickSupervisor:
        if "brick_command" not in kw:
            launcher = self.workdir.parent / "brick_launcher.py"
            launcher.write_text(BRICK_LAUNCHER)
            kw["brick_command"] = [sys.executable, str(launcher), "brick"]
        s = BrickSupervisor(
            self.workdir,
            self.registry,
            mgmt_address=f"{HOST}:{self.address.port}",
            hostnames=[HOST, "localhost"],
            brick_host=HOST,
            **kw,  # type: ignore[arg-type]
        )
        self.supervisors.append(s)
        return s

    def volume(self, name: str, *paths: Path, options: dict[str, str] | None = None) -> Volume:
        v = Volume(
            name,
            uuid.uuid4(),
            ClusterType.NONE,
            "tcp",
            VolumeStatus.STARTED,
            tuple(Brick(HOST, str(p)) for p in paths),
            options or {},
        )
        self.volumes.append(v)
        self.registry.set_volumes(
            [
                VolumeSpec(x.name, tuple(BrickRef(b.host, b.path) for b in x.bricks))
                for x in self.volumes
            ]
        )
        return v

    def port_by_brick(self, path: Path) -> tuple[int, int]:
        c = RpcClient(self.address, poller=self.poller, ping_timeout=0)
        try:
            c.connect(timeout=5.0)
            req = pmap.PmapPortByBrickReq(brick=str(path)).pack()
            rsp = pmap.PmapPortByBrickRsp.unpack(
                c.call(pmap.PMAP_PROGRAM, pmap.PMAP_VERSION, pmap.PORTBYBRICK, req).body
            )
        finally:
            c.close()
        return (rsp.port, 0) if rsp.op_ret == 0 else (-1, rsp.op_errno)

    def close(self) -> None:
        for s in self.supervisors:
            if not s._closed:
                for v in self.volumes:
                    s.stop_volume(v, force=True)
                s.close()
        self.rpc.close()
        self.poller.stop()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path / "workdir")
    yield d
    d.close()


@pytest.fixture
def bricks(xattr_dir: Path) -> list[Path]:
    out = [xattr_dir / "b0", xattr_dir / "b1"]
    for p in out:
        p.mkdir()
    return out


def brick_pids(path: Path) -> list[int]:
    """Every process whose command line is a brick serving ``path``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"brick" in argv and str(path).encode() in argv:
                found.append(int(entry))
    return found


def test_file_names_are_glusterds() -> None:
    """Brick logs are DIR/logs/bricks/<path, slashes as dashes>.log and pid files
    DIR/vols/<vol>/run/<host>-<path>.pid, as glusterd names them (/srv/b1 -> srv-b1)."""
    w = Path("/w")
    assert path_name("/srv/b1") == "srv-b1"
    assert path_name("/data/glusterfs/v/brick1/") == "data-glusterfs-v-brick1"
    assert brick_log_file(w, "/srv/b1") == Path("/w/logs/bricks/srv-b1.log")
    assert brick_pid_file(w, "v", "node1", "/srv/b1") == Path("/w/vols/v/run/node1-srv-b1.pid")


def test_volume_options_become_brick_flags() -> None:
    """Server-side options map to gfrpc brick flags (server.ssl to --tls with the daemon's TLS
    directory, auth.ssl-allow only with TLS, auth.allow '*' left out); client-side ones do
    not reach the brick; a non-number for a number flag is refused; signing in over TLS
    (--mgmt-tls) needs server.ssl."""
    vid = uuid.uuid4()
    opts = {
        "server.ssl": "on",
        "auth.ssl-allow": "alice,bob",
        "auth.allow": "127.*",
        "server.event-threads": "4",
        "server.outstanding-rpc-limit": "128",
        "gfrpc.server.poller": "sharded",
        "gfrpc.io-threads": "8",
        "gfrpc.io-policy": "all",
        "gfrpc.baton": "off",
        "client.ssl": "on",
        "network.ping-timeout": "10",
    }
    v = Volume("v", vid, ClusterType.NONE, "tcp", VolumeStatus.STARTED, (Brick("h", "/b/"),), opts)
    argv = brick_argv(v, v.bricks[0], port=49152, mgmt_address="h:24007", tls_dir="/tls")
    pairs = dict(zip(argv[::2], argv[1::2], strict=False))
    assert argv[:10] == [
        "--dir", "/b", "--port", "49152", "--volname", "v",
        "--volume-id", str(vid), "--mgmt", "h:24007",
    ]  # fmt: skip
    for flag, value in {
        "--allow": "127.*",
        "--event-threads": "4",
        "--outstanding-rpc-limit": "128",
        "--poller": "sharded",
        "--io-threads": "8",
        "--io-policy": "all",
        "--baton": "off",
    }.items():
        assert argv[argv.index(flag) + 1] == value
    assert "--tls" in argv and argv[argv.index("--tls-dir") + 1] == "/tls"
    assert argv[argv.index("--ssl-allow") + 1] == "alice,bob"
    assert "ping" not in " ".join(argv) and pairs["--dir"] == "/b"
    plain = Volume("v", vid, ClusterType.NONE, "tcp", VolumeStatus.STARTED, v.bricks, {
        "server.ssl": "off", "auth.ssl-allow": "alice", "auth.allow": "*"
    })  # fmt: skip
    plain_argv = brick_argv(plain, plain.bricks[0], port=1, mgmt_address="h")
    assert not {"--tls", "--ssl-allow", "--allow"} & set(plain_argv)
    bad = Volume("v", vid, ClusterType.NONE, "tcp", VolumeStatus.STARTED, v.bricks, {
        "gfrpc.io-threads": "many"
    })  # fmt: skip
    with pytest.raises(VolumeStateError):
        brick_argv(bad, bad.bricks[0], port=1, mgmt_address="h")
    assert "--mgmt-tls" in brick_argv(v, v.bricks[0], port=1, mgmt_address="h", mgmt_tls=True)
    with pytest.raises(VolumeStateError, match="server.ssl on"):
        brick_argv(plain, plain.bricks[0], port=1, mgmt_address="h", mgmt_tls=True)


def test_start_signs_in_status_and_stop(daemon: Daemon, bricks: list[Path]) -> None:
    """start_volume spawns one gfrpc brick per local brick on distinct free ports from 49152
    and returns once each signed in: status is online with port and pid in brick order, the
    port mapper hands the ports out, logs and pid files have glusterd's names. A second start
    starts nothing. stop_volume stops them (signed out, exited, reaped) and removes the pid
    files."""
    sup = daemon.supervisor()
    v = daemon.volume("sv", *bricks)
    sup.start_volume(v)
    states = sup.status(v)
    assert [(s.host, s.path, s.online) for s in states] == [(HOST, str(b), True) for b in bricks]
    ports = [s.port for s in states]
    pids = [s.pid for s in states]
    assert all(p is not None and p >= BASE_PORT for p in ports) and len(set(ports)) == 2
    for b, s in zip(bricks, states, strict=True):
        assert daemon.port_by_brick(b) == (s.port, 0)
        assert brick_pids(b) == [s.pid]
        assert brick_log_file(daemon.workdir, str(b)).name == path_name(str(b)) + ".log"
        assert "ready on" in brick_log_file(daemon.workdir, str(b)).read_text()
        pid_file = daemon.workdir / "vols" / "sv" / "run" / f"{HOST}-{path_name(str(b))}.pid"
        assert pid_file.read_text().strip() == str(s.pid)
    sup.start_volume(v)  # already running: not started twice
    assert [s.pid for s in sup.status(v)] == pids
    sup.stop_volume(v)
    assert [(s.online, s.port, s.pid) for s in sup.status(v)] == [(False, None, None)] * 2
    for b, pid in zip(bricks, pids, strict=True):
        assert daemon.port_by_brick(b) == (-1, errno.ENOENT)
        assert not Path(f"/proc/{pid}").exists()  # exited and reaped
        assert not brick_pid_file(daemon.workdir, "sv", HOST, str(b)).exists()
        assert "stopping" in brick_log_file(daemon.workdir, str(b)).read_text()  # SIGTERM


def test_a_brick_killed_with_minus_9_is_offline_within_2s_and_force_restarts_it(
    daemon: Daemon, bricks: list[Path]
) -> None:
    """kill -9 of a brick: status shows it offline within 2 s and PORTBYBRICK answers ENOENT;
    start_volume(force=True) right then starts a new one, which is online; the dead child is
    reaped."""
    sup = daemon.supervisor()
    v = daemon.volume("kv", bricks[0])
    sup.start_volume(v)
    (before,) = sup.status(v)
    assert before.pid is not None
    os.kill(before.pid, signal.SIGKILL)
    assert daemon.registry.wait_until(lambda: not sup.status(v)[0].online, 2.0)
    assert daemon.port_by_brick(bricks[0]) == (-1, errno.ENOENT)
    sup.start_volume(v, force=True)  # at once: the kernel may not have reported the exit yet
    (after,) = sup.status(v)
    assert after.online and after.pid not in (None, before.pid)
    assert daemon.port_by_brick(bricks[0]) == (after.port, 0)
    reaped = Path(f"/proc/{before.pid}")  # no zombie left (the watcher reaps, then notifies)
    assert daemon.registry.wait_until(lambda: not reaped.exists(), 2.0)


def test_stop_sends_sigterm_then_sigkill_after_the_timeout(
    daemon: Daemon, bricks: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A brick that ignores SIGTERM gets SIGTERM first and SIGKILL once stop_timeout has
    passed without it signing out; then it is gone."""
    fake = tmp_path / "fake_brick.py"
    fake.write_text(FAKE_BRICK)
    sup = daemon.supervisor(brick_command=[sys.executable, str(fake)], stop_timeout=1.0)
    v = daemon.volume("tv", bricks[0])
    sup.start_volume(v)
    (state,) = sup.status(v)
    assert state.online and state.pid is not None
    caplog.set_level(logging.INFO, logger="gfrpc.mgmtd")
    t0 = time.monotonic()
    sup.stop_volume(v)
    took = time.monotonic() - t0
    assert 1.0 <= took < 6.0
    assert "ignoring SIGTERM" in brick_log_file(daemon.workdir, str(bricks[0])).read_text()
    assert any("SIGKILL" in r.getMessage() for r in caplog.records)
    assert not Path(f"/proc/{state.pid}").exists()
    assert daemon.port_by_brick(bricks[0]) == (-1, errno.ENOENT)


def test_adopt_after_a_daemon_restart_does_not_start_a_second_process(
    daemon: Daemon, bricks: list[Path]
) -> None:
    """A new supervisor on the same work directory adopts the running brick from its pid file
    (status online, same pid), start_volume then starts nothing, and the adopted brick, not a
    child of the new supervisor, is still watched: killed, it goes offline within 2 s. A pid
    file naming a process that is not that brick is removed."""
    first = daemon.supervisor()
    v = daemon.volume("av", bricks[0])
    stale = daemon.volume("stale", bricks[1])
    first.start_volume(v)
    (running,) = first.status(v)
    first.close()
    stale_pid_file = brick_pid_file(daemon.workdir, "stale", HOST, str(bricks[1]))
    stale_pid_file.parent.mkdir(parents=True)
    stale_pid_file.write_text(f"{os.getpid()}\n")  # alive, but not a brick

    second = daemon.supervisor()
    second.adopt([v, stale])
    assert not stale_pid_file.exists()
    (adopted,) = second.status(v)
    assert adopted.online and (adopted.pid, adopted.port) == (running.pid, running.port)
    second.start_volume(v)
    assert brick_pids(bricks[0]) == [running.pid]
    assert running.pid is not None
    os.kill(running.pid, signal.SIGKILL)
    assert daemon.registry.wait_until(lambda: not second.status(v)[0].online, 2.0)
    os.waitpid(running.pid, 0)  # the first supervisor's child: reap it here


def test_a_brick_that_cannot_start_is_an_error_with_its_last_log_line(
    daemon: Daemon, bricks: list[Path]
) -> None:
    """A brick process that exits before signing in makes start_volume fail with the last
    line of its log; a missing brick directory is glusterd's error unless forced, and force
    creates it."""
    sup = daemon.supervisor(
        brick_command=[
            sys.executable,
            "-c",
            "import sys; print('cannot serve: no disk'); sys.exit(3)",
        ]
    )
    v = daemon.volume("fv", bricks[0])
    with pytest.raises(VolumeStateError, match="cannot serve: no disk"):
        sup.start_volume(v)
    assert sup.status(v)[0].online is False
    missing = bricks[1] / "not-there"
    m = daemon.volume("mv", missing)
    with pytest.raises(
        VolumeStateError, match=f"Failed to find brick directory {missing} for volume mv"
    ):
        daemon.supervisor().start_volume(m)
    with pytest.raises(VolumeStateError, match="cannot serve"):
        sup.start_volume(m, force=True)
    assert missing.is_dir()


def test_ports_in_use_are_skipped_and_a_lost_port_race_is_retried(
    daemon: Daemon, bricks: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port some socket holds is not given to a brick; and a brick that still loses its
    port (bound by someone else between the probe and its bind) is started again on another
    port, so the start succeeds."""
    holder = socket.socket()
    try:
        for held in range(50000, 51000):  # well inside 49152..60999, with room above it
            try:
                holder.bind((HOST, held))
                break
            except OSError:
                continue
        holder.listen()
        sup = daemon.supervisor(base_port=held)
        v = daemon.volume("pv", bricks[0])
        sup.start_volume(v)
        (probed,) = sup.status(v)
        assert probed.online and probed.port is not None and probed.port > held
        sup.stop_volume(v)
        monkeypatch.setattr(supervisor, "_bound_ports", set)  # the probe misses the holder
        sup.start_volume(v)
        (retried,) = sup.status(v)
        assert retried.online and retried.port is not None and retried.port > held
        assert "in use" in brick_log_file(daemon.workdir, str(bricks[0])).read_text()
    finally:
        holder.close()
