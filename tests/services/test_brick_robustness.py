"""The brick under hostile or unlucky clients: garbage arguments for every procedure, a client
that vanishes in the middle of a WRITE, unknown fds, lock waiters, and many writers at once."""

from __future__ import annotations

import errno
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from brick_fops_support import (
    ROOT,
    BrickHarness,
    P,
    cred,
    open_fd_count,
    open_targets,
    running_brick,
    setvolume_params,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gfrpc.errors import RpcError
from gfrpc.programs import fops as fp
from gfrpc.programs import fops_types as ft
from gfrpc.programs import handshake as hs
from gfrpc.testing.waiting import wait_for
from gfrpc.wire import rpcmsg
from gfrpc.wire.gfdict import encode_serialized_dict
from gfrpc.wire.record import record_mark

pytestmark = pytest.mark.timeout(120)

ALLOWED_RPC_ERRORS = {"GARBAGE_ARGS", "PROC_UNAVAIL"}


@pytest.fixture(scope="module")
def shared_brick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrickHarness]:
    d = tmp_path_factory.mktemp("fuzz") / "brick"
    d.mkdir()
    with running_brick(d) as h:
        yield h


@pytest.fixture
def brick(tmp_path: Path) -> Iterator[BrickHarness]:
    d = tmp_path / "brick"
    d.mkdir()
    with running_brick(d) as h:
        yield h


def _call_raw(client, proc: int, args: bytes) -> None:  # type: ignore[no-untyped-def]
    try:
        reply = client.rpc.call(
            fp.GLUSTER_FOP_PROGRAM, fp.GLUSTER_FOP_VERSION, proc, args, timeout=20
        )
    except RpcError as exc:
        assert exc.stat in ALLOWED_RPC_ERRORS, f"proc {proc}: {exc}"
        return
    if proc in fp.PROCEDURES:
        fp.decode_reply(proc, reply.body)  # a well-formed reply struct, whatever its op_ret


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(proc=st.integers(0, 56), args=st.binary(max_size=300))
def test_random_arguments_get_garbage_args_or_an_error_reply(
    shared_brick: BrickHarness, proc: int, args: bytes
) -> None:
    """Random bytes as the arguments of any procedure 0..56 are answered GARBAGE_ARGS,
    PROC_UNAVAIL or a reply struct (never SYSTEM_ERR, never a dropped connection), and the
    same connection then still serves a good LOOKUP."""
    client = getattr(shared_brick, "fuzz_client", None)
    if client is None:
        client = shared_brick.fuzz_client = shared_brick.client()  # type: ignore[attr-defined]
    _call_raw(client, proc, args)
    assert client.call(P.LOOKUP, fp.GfxLookupReq(gfid=ROOT)).op_ret == 0


def _sample_requests() -> list[tuple[int, bytes]]:
    out = []
    for proc, (req_type, _) in fp.PROCEDURES.items():
        fields: dict[str, object] = {}
        for name in ("gfid", "pargfid", "oldgfid", "newgfid", "gfid1", "gfid2"):
            if name in req_type.__dataclass_fields__:
                fields[name] = ROOT
        for name in ("bname", "name", "oldbname", "newbname", "linkname", "volume"):
            if name in req_type.__dataclass_fields__:
                fields[name] = "zz"
        if "xdata" in req_type.__dataclass_fields__:
            fields["xdata"] = {"k": b"v"}
        out.append((proc, req_type(**fields).pack()))
    return out


@pytest.mark.parametrize("proc, packed", _sample_requests(), ids=lambda v: str(v)[:12])
def test_truncated_requests_are_garbage_args(
    shared_brick: BrickHarness, proc: int, packed: bytes
) -> None:
    """Every request struct cut short at any byte is GARBAGE_ARGS (or, where a prefix happens
    to be complete, an error reply), and the connection stays usable."""
    client = shared_brick.client()
    for cut in range(0, len(packed), max(1, len(packed) // 12)):
        _call_raw(client, proc, packed[:cut])
    assert client.call(P.LOOKUP, fp.GfxLookupReq(gfid=ROOT)).op_ret == 0


# -- disconnects, unknown fds --------------------------------------------------------------------


def _rpc(sock: socket.socket, xid: int, prog: int, vers: int, proc: int, args: bytes) -> bytes:
    cred_v3 = rpcmsg.GlusterCredV3(pid=1, uid=0, gid=0)
    msg = rpcmsg.encode_call(xid, prog, vers, proc, cred=cred_v3) + args
    sock.sendall(record_mark(len(msg)) + msg)
    (mark,) = struct.unpack(">I", _recv(sock, 4))
    header, body = rpcmsg.decode_message(_recv(sock, mark & 0x7FFFFFFF))
    assert header.xid == xid and header.ok
    return bytes(body)


def _recv(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        assert chunk, "brick closed the connection"
        buf += chunk
    return buf


def test_disconnect_in_the_middle_of_a_write_leaves_no_open_fd(brick: BrickHarness) -> None:
    """A client with open files that disconnects halfway through a WRITE record leaves no open
    descriptor in the brick process (every fd of its table is closed)."""
    client = brick.client()  # a well-behaved neighbour, connected before the baseline
    assert client.call(P.LOOKUP, fp.GfxLookupReq(gfid=ROOT)).op_ret == 0
    baseline = open_targets(brick.directory)
    sock = socket.create_connection(("127.0.0.1", brick.listener.address.port))
    params = encode_serialized_dict(setvolume_params(brick.brick_path))
    body = _rpc(
        sock,
        2,
        hs.GF_HNDSK_PROGRAM,
        hs.GF_HNDSK_VERSION,
        hs.SETVOLUME,
        hs.GfSetvolumeReq(dict=params).pack(),
    )
    assert hs.GfSetvolumeRsp.unpack(body).op_ret == 0
    gfids = []
    for i in range(5):
        rsp = fp.GfxCreateRsp.unpack(
            _rpc(
                sock,
                3 + i,
                fp.GLUSTER_FOP_PROGRAM,
                fp.GLUSTER_FOP_VERSION,
                P.CREATE,
                fp.GfxCreateReq(pargfid=ROOT, bname=f"half{i}", flags=os.O_RDWR, mode=0o644).pack(),
            )
        )
        assert rsp.op_ret == 0 and rsp.fd == i
        gfids.append(bytes(rsp.stat.ia_gfid))
    od = fp.GfxOpenRsp.unpack(
        _rpc(
            sock,
            9,
            fp.GLUSTER_FOP_PROGRAM,
            fp.GLUSTER_FOP_VERSION,
            P.OPENDIR,
            fp.GfxOpendirReq(gfid=ROOT).pack(),
        )
    )
    assert od.op_ret == 0
    held = open_targets(brick.directory)
    assert all(held[str(brick.directory / f"half{i}")] == 1 for i in range(5)), held
    assert held[str(brick.directory)] == baseline[str(brick.directory)] + 1  # the OPENDIR
    total = open_fd_count()
    header = fp.GfxWriteReq(gfid=gfids[0], fd=0, offset=0, size=1 << 20).pack()
    msg = (
        rpcmsg.encode_call(
            20,
            fp.GLUSTER_FOP_PROGRAM,
            fp.GLUSTER_FOP_VERSION,
            P.WRITE,
            cred=rpcmsg.GlusterCredV3(pid=1, uid=0, gid=0),
        )
        + header
    )
    sock.sendall(record_mark(len(msg) + (1 << 20)) + msg + bytes(100_000))
    time.sleep(0.1)
    sock.close()
    wait_for(
        lambda: open_targets(brick.directory) == baseline,
        10.0,
        "the brick's open files to fall back to the baseline",
    )
    assert open_fd_count() < total
    assert (brick.directory / "half0").stat().st_size == 0
    assert client.call(P.LOOKUP, fp.GfxLookupReq(gfid=ROOT)).op_ret == 0


def test_release_of_unknown_fds_is_harmless(brick: BrickHarness) -> None:
    """RELEASE/RELEASEDIR of fds never opened (or released twice) answer op_ret 0, and other
    FOPs on such an fd are EBADF."""
    c = brick.client()
    for fd in (0, 7, 12345, -2):
        assert c.call(P.RELEASE, fp.GfxReleaseReq(gfid=ROOT, fd=fd)).op_ret == 0
        assert c.call(P.RELEASEDIR, fp.GfxReleasedirReq(gfid=ROOT, fd=fd)).op_ret == 0
    r = c.create(ROOT, "once")
    g = bytes(r.stat.ia_gfid)
    assert c.release(g, r.fd).op_ret == 0 and c.release(g, r.fd).op_ret == 0
    bad = c.call(P.FSTAT, fp.GfxFstatReq(gfid=g, fd=r.fd))
    assert (bad.op_ret, bad.op_errno) == (-1, errno.EBADF)


def test_fds_are_per_connection(brick: BrickHarness) -> None:
    """An fd number from one connection means nothing on another (EBADF there)."""
    a, b = brick.client(), brick.client()
    r = a.create(ROOT, "mine")
    other = b.call(P.FSTAT, fp.GfxFstatReq(gfid=bytes(r.stat.ia_gfid), fd=r.fd))
    assert (other.op_ret, other.op_errno) == (-1, errno.EBADF)


# -- locks ----------------------------------------------------------------------------------------


def _flock(type_: int, start: int = 0, length: int = 0) -> object:
    return ft.GfProtoFlock(type=type_, whence=0, start=start, len=length)


def test_blocking_posix_lock_is_answered_when_granted(brick: BrickHarness) -> None:
    """LK F_SETLKW on a held range is deferred (no worker held) and answered when the holder
    unlocks; F_SETLK on it is EAGAIN; F_GETLK names the holder."""
    a, b = brick.client(cred=cred(0, 0, pid=1)), brick.client(cred=cred(0, 0, pid=2))
    r = a.create(ROOT, "locked")
    g = bytes(r.stat.ia_gfid)
    assert a.call(P.LK, fp.GfxLkReq(gfid=g, fd=r.fd, cmd=1, type=1, flock=_flock(1))).op_ret == 0
    nb = b.call(P.LK, fp.GfxLkReq(gfid=g, fd=-2, cmd=1, type=1, flock=_flock(1)))
    assert (nb.op_ret, nb.op_errno) == (-1, errno.EAGAIN)
    gl = b.call(P.LK, fp.GfxLkReq(gfid=g, fd=-2, cmd=0, type=1, flock=_flock(1)))
    assert gl.flock.type == 1 and bytes(gl.flock.lk_owner) == (1).to_bytes(4, "little")
    waiting = b.call_async(P.LK, fp.GfxLkReq(gfid=g, fd=-2, cmd=2, type=1, flock=_flock(1)))
    time.sleep(0.3)
    assert not waiting.done()
    for _ in range(20):  # the brick keeps serving while a lock request waits
        assert b.call(P.STAT, fp.GfxStatReq(gfid=g)).op_ret == 0
    assert a.call(P.LK, fp.GfxLkReq(gfid=g, fd=r.fd, cmd=1, type=2, flock=_flock(2))).op_ret == 0
    rsp = fp.GfxLkRsp.unpack(waiting.result(10).body)
    assert rsp.op_ret == 0


def test_disconnect_releases_locks_and_wakes_waiters(brick: BrickHarness) -> None:
    """INODELK/ENTRYLK held by a client that disconnects are released, all of them before any
    waiter is woken; a blocked waiter on another connection is granted."""
    a, b = brick.client(), brick.client()
    ino = fp.GfxInodelkReq(gfid=ROOT, cmd=1, type=1, flock=_flock(1), volume="dom")
    assert a.call(P.INODELK, ino).op_ret == 0
    ent = fp.GfxEntrylkReq(gfid=ROOT, cmd=2, type=1, namelen=1, name="n", volume="dom")
    assert a.call(P.ENTRYLK, ent).op_ret == 0
    busy = b.call(P.ENTRYLK, ent)
    assert (busy.op_ret, busy.op_errno) == (-1, errno.EAGAIN)
    waiting = b.call_async(
        P.INODELK, fp.GfxInodelkReq(gfid=ROOT, cmd=2, type=1, flock=_flock(1), volume="dom")
    )
    time.sleep(0.3)
    assert not waiting.done()
    a.close()
    assert fp.GfxCommonRsp.unpack(waiting.result(10).body).op_ret == 0
    assert b.call(P.ENTRYLK, ent).op_ret == 0
    unlock = fp.GfxEntrylkReq(gfid=ROOT, cmd=1, type=1, namelen=1, name="n", volume="dom")
    assert b.call(P.ENTRYLK, unlock).op_ret == 0
    again = b.call(P.ENTRYLK, unlock)
    assert (again.op_ret, again.op_errno) == (-1, errno.EINVAL)


# -- concurrency ---------------------------------------------------------------------------------


def test_24_concurrent_writers_keep_their_bytes(brick: BrickHarness) -> None:
    """24 threads (over 4 connections) writing different files at once each end with exactly
    the bytes they wrote."""
    clients = [brick.client() for _ in range(4)]
    chunk = 48 * 1024
    expected: dict[str, bytes] = {}
    lock = threading.Lock()

    def writer(i: int) -> None:
        c = clients[i % len(clients)]
        data = os.urandom(chunk * 16 + i)
        r = c.create(ROOT, f"w{i:02d}")
        g = bytes(r.stat.ia_gfid)
        for off in range(0, len(data), chunk):
            piece = data[off : off + chunk]
            assert c.write(g, r.fd, off, piece).op_ret == len(piece)
        assert c.release(g, r.fd).op_ret == 0
        with lock:
            expected[f"w{i:02d}"] = data

    with ThreadPoolExecutor(24) as pool:
        for f in [pool.submit(writer, i) for i in range(24)]:
            f.result(60)
    assert len(expected) == 24
    for name, data in expected.items():
        assert (brick.directory / name).read_bytes() == data
