"""The management daemon's races, designed out, one test each (issue 10): two clients creating
one name, callbacks while the daemon starts and stops, replies that outlive their buffers, and
a daemon killed in the middle of ``volume create``."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_cli_service import FakeSupervisor, cli_socket, tcp_address, workdir_mgmtd

from gfrpc.client.cli_client import CliClient, CliCommandError
from gfrpc.errors import GfrpcError
from gfrpc.programs import cli
from gfrpc.programs import handshake as hs
from gfrpc.programs.cli import CliProc, GetVolumeFlag
from gfrpc.services.mgmt import info
from gfrpc.services.mgmt.state import NoSuchVolumeError, VolumeStore
from gfrpc.transport import SocketOptions
from gfrpc.wire.gfdict import encode_serialized_dict
from gfrpc.wire.record import NEED_DATA, RecordDecoder, record_mark
from gfrpc.wire.rpcmsg import AUTH_NONE, ReplyHeader, decode_message, encode_call

pytestmark = pytest.mark.timeout(90)


def test_two_clients_one_name_exactly_one_wins(tmp_path: Path) -> None:
    """Two concurrent ``volume create`` of one name, through two daemons sharing one work
    directory (so only the database can decide): exactly one succeeds, the other gets
    "Volume NAME already exists", and the store holds the winner's bricks and no others."""
    wd = tmp_path / "wd"
    with workdir_mgmtd(wd) as a, workdir_mgmtd(wd, cli_socket_name="b.socket") as b:
        clients = [CliClient(cli_socket(a)), CliClient(cli_socket(b))]
        try:
            for round_ in range(10):
                name = f"v{round_}"
                results: list[object] = [None, None]
                barrier = threading.Barrier(2)

                def create(
                    i: int,
                    name: str,
                    brick: str,
                    barrier: threading.Barrier,
                    results: list[object] = results,
                ) -> None:
                    barrier.wait()
                    try:
                        clients[i].create(name, [brick], force=True)
                        results[i] = brick
                    except CliCommandError as e:
                        results[i] = e

                threads = [
                    threading.Thread(
                        target=create,
                        args=(i, name, f"localhost:{tmp_path}/r{round_}-c{i}", barrier),
                    )
                    for i in range(2)
                ]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(30)
                won = [r for r in results if isinstance(r, str)]
                lost = [r for r in results if isinstance(r, CliCommandError)]
                assert len(won) == 1 and len(lost) == 1, results
                assert str(lost[0]) == f"Volume {name} already exists"
                with VolumeStore(wd) as store:
                    vol = store.get_volume(name)
                    assert [str(x) for x in vol.bricks] == won
        finally:
            for c in clients:
                c.close()
    with VolumeStore(wd) as store:
        assert store.volume_names() == [f"v{i}" for i in range(10)]


def _hammer(path: str, tcp: tuple[str, int], stop: threading.Event, seen: dict[str, int]) -> None:
    """Connect, send LIST_VOLUME (UNIX) or a GF-DUMP PING (TCP), maybe read, close; forever."""
    call = encode_call(2, cli.GLUSTER_CLI_PROGRAM, 2, CliProc.LIST_VOLUME, AUTH_NONE)
    msg = call + cli.cli_request().pack()
    n = 0
    while not stop.is_set():
        n += 1
        family, addr = (
            (socket.AF_UNIX, path) if n % 2 else (socket.AF_INET, tcp)  # type: ignore[assignment]
        )
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            try:
                s.connect(addr)
                seen["connected"] += 1
                s.sendall(record_mark(len(msg)) + msg)
                if n % 3 == 0:  # sometimes wait for the answer, sometimes hang up at once
                    data = s.recv(1 << 16)
                    if data:
                        dec = RecordDecoder()
                        dec.receive_data(data)
                        rec = dec.next_record()
                        if rec is not NEED_DATA:
                            header, _ = decode_message(bytes(rec))  # type: ignore[arg-type]
                            assert isinstance(header, ReplyHeader)
                            seen["ok" if header.ok else "error"] += 1
            except OSError:
                seen["refused"] += 1


def test_callbacks_after_state_connect_storm_while_starting_and_stopping(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Connections opened and closed in a tight loop while the daemon starts and stops, five
    times over: no handler fails (every answer is a success, never SYSTEM_ERR), nothing is
    logged at ERROR, and no thread or file descriptor is left behind."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    wd = tmp_path / "wd"
    path = str(wd / "glusterd.socket")
    with workdir_mgmtd(wd) as server, CliClient(cli_socket(server)) as c:
        c.create("v", [f"localhost:{tmp_path}/b"], force=True)
    threads_before = threading.active_count()
    fds_before = len(os.listdir("/proc/self/fd"))
    seen = {"connected": 0, "ok": 0, "error": 0, "refused": 0}
    stop = threading.Event()
    hammers = [
        threading.Thread(target=_hammer, args=(path, ("127.0.0.1", port), stop, seen))
        for _ in range(3)
    ]
    caplog.set_level(logging.ERROR)
    for t in hammers:
        t.start()
    try:
        for _ in range(5):
            with workdir_mgmtd(wd, port=port, supervisor=FakeSupervisor()):
                time.sleep(0.3)  # the storm runs against a live daemon for a while
            time.sleep(0.05)
    finally:
        stop.set()
        for t in hammers:
            t.join(10)
    assert seen["connected"] > 20 and seen["ok"] > 0, seen
    assert seen["error"] == 0, seen
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert threading.active_count() <= threads_before
    assert len(os.listdir("/proc/self/fd")) <= fds_before + 2


def _getspec_call(xid: int, key: str) -> bytes:
    args = hs.GfGetspecReq(flags=1, key=key, xdata=encode_serialized_dict({})).pack()
    msg = encode_call(xid, hs.GF_HNDSK_PROGRAM, hs.GF_HNDSK_VERSION, hs.GETSPEC, AUTH_NONE) + args
    return record_mark(len(msg)) + msg


def _info_call(xid: int, name: str) -> bytes:
    d = {"flags": int(GetVolumeFlag.VOLUME), "volname": name}
    msg = encode_call(xid, cli.GLUSTER_CLI_PROGRAM, 2, CliProc.GET_VOLUME, AUTH_NONE)
    msg += cli.cli_request(d).pack()
    return record_mark(len(msg)) + msg


def _stalled_reader(addr: object, family: int, requests: bytes, count: int) -> list[bytes]:
    """Send every request (from a thread: the daemon stops reading at its outstanding limit),
    read nothing for 2 s, then read every reply; their bodies in xid order."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(addr)  # type: ignore[arg-type]
        writer = threading.Thread(target=s.sendall, args=(requests,))
        writer.start()
        time.sleep(2.0)  # the stall under test: replies pile up in the daemon's out-queue
        s.settimeout(30)
        dec = RecordDecoder(max_record_size=1 << 24)
        bodies: dict[int, bytes] = {}
        while len(bodies) < count:
            data = s.recv(1 << 20)
            assert data, f"connection closed after {len(bodies)} replies"
            dec.receive_data(data)
            while (rec := dec.next_record()) is not NEED_DATA:
                header, body = decode_message(bytes(rec))  # type: ignore[arg-type]
                assert isinstance(header, ReplyHeader) and header.ok
                bodies[header.xid] = bytes(body)
        writer.join(10)
    return [bodies[x] for x in sorted(bodies)]


def test_replies_outlive_their_buffers(tmp_path: Path) -> None:
    """With a 4 KiB SO_SNDBUF on the daemon's sockets and readers that stall for 2 s, 1,000
    large replies (500 volfiles of a 100-brick volume on TCP, 500 ``volume info`` of it on
    the UNIX socket) are built, handed to the transport and dropped by their handlers; every
    byte arrives, each reply's SHA-256 equal to the one built from the state."""
    bricks = [f"localhost:{tmp_path}/bricks/b{i:03d}" for i in range(100)]
    opts = SocketOptions(send_buffer=4096)
    with workdir_mgmtd(tmp_path / "wd", options=opts) as server:
        with CliClient(cli_socket(server)) as c:
            c.create("big", bricks, force=True)
            c.set("big", {"client.ssl": "on", "network.ping-timeout": "20"})
        assert server.store is not None and server.node_uuid is not None
        spec = server.volfile("big")
        assert spec is not None and len(spec) > 20_000
        want_spec = hs.GfGetspecRsp(
            op_ret=len(spec), op_errno=0, spec=spec, xdata=encode_serialized_dict({})
        ).pack()
        found = info.volume_info([server.store.get_volume("big")], server.node_uuid)
        want_info = cli.cli_reply(0, 0, "", dict(reversed(list(found.items())))).pack()
        host, port = tcp_address(server).rsplit(":", 1)
        unix = cli_socket(server).removeprefix("unix:")
        results: dict[str, list[bytes]] = {}
        jobs = {
            "spec": lambda: _stalled_reader(
                (host, int(port)),
                socket.AF_INET,
                b"".join(_getspec_call(x, "big") for x in range(1, 501)),
                500,
            ),
            "info": lambda: _stalled_reader(
                unix, socket.AF_UNIX, b"".join(_info_call(x, "big") for x in range(1, 501)), 500
            ),
        }
        threads = [
            threading.Thread(target=lambda k=k, f=f: results.__setitem__(k, f()))
            for k, f in jobs.items()
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    digest = hashlib.sha256
    assert [digest(b).hexdigest() for b in results["spec"]] == [digest(want_spec).hexdigest()] * 500
    assert [digest(b).hexdigest() for b in results["info"]] == [digest(want_info).hexdigest()] * 500


_CHILD = """
import os, sys
from pathlib import Path
from gfrpc.services.mgmt import MgmtConfig, MgmtServer
workdir, step = Path(sys.argv[1]), sys.argv[2]
def fault(name):
    if name == step:
        os._exit(9)  # as sudden as kill -9: no cleanup, no commit, no reply
server = MgmtServer(MgmtConfig(workdir=workdir, port=0, host="127.0.0.1", poller="single"),
                    fault=fault)
server.start()
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.mark.parametrize("step", VolumeStore.steps("create", bricks=2))
def test_daemon_killed_during_create_keeps_whole_volume_or_none(tmp_path: Path, step: str) -> None:
    """A daemon that dies (``os._exit``, as sudden as kill -9) at each step of ``volume
    create`` leaves, once restarted, either the whole volume (both bricks, Created) or no
    trace of it: the name can be created again."""
    wd = tmp_path / "wd"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(wd), step],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        bricks = [f"localhost:{tmp_path}/b0", f"localhost:{tmp_path}/b1"]
        with pytest.raises(GfrpcError), CliClient(f"unix:{wd}/glusterd.socket") as c:
            c.create("v", bricks, force=True)
        assert child.wait(30) == 9
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    with workdir_mgmtd(wd) as server, CliClient(cli_socket(server)) as c:
        names = c.volumes()
        if names:
            [vol] = c.info("v")
            assert vol.bricks == tuple(bricks) and vol.status == cli.VolumeStatus.CREATED
            assert step == "create:committed"
        else:
            assert step != "create:committed"
            with VolumeStore(wd) as store, pytest.raises(NoSuchVolumeError):
                store.get_volume("v")
            c.create("v", bricks, force=True)
            assert c.volumes() == ["v"]
