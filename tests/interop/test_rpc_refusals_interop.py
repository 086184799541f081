"""The RPC layer's and the handshake's refusals against a real GlusterFS 10.3 brick, beside the
gfrpc brick: the same calls on fresh connections (an unknown program, version or procedure,
arguments that do not decode, each credential flavor, a FOP before SETVOLUME, SETVOLUMEs that
name the wrong brick or none) must get the same RPC outcome (accepted or the reply's stat) and
the same op_ret and errno from both, but for the answers that differ on purpose
(``DELIBERATE``). A credential of each flavor also makes a directory in the root (root's,
0755), whose answer and owner must agree."""

from __future__ import annotations

import errno
import struct
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from brick_fops_support import ROOT, FopClient, P, running_brick

from gfrpc.errors import NotConnectedError, RpcError
from gfrpc.programs import dump
from gfrpc.programs import fops as fp
from gfrpc.programs import handshake as hs
from gfrpc.testing.realgluster import GlusterVolume
from gfrpc.transport import make_poller
from gfrpc.wire import rpcmsg

pytestmark = pytest.mark.timeout(120)

PROG, VERS = fp.GLUSTER_FOP_PROGRAM, fp.GLUSTER_FOP_VERSION
Connect = Callable[[], FopClient]

# Answers gfrpc gives on purpose where glusterfsd 10.3 answers otherwise (its answer noted):
DELIBERATE: dict[str, object] = {
    # glusterfsd accepts an empty process-uuid, and knows its clients by that string, so all
    # such clients would be one (one lock owner space); gfrpc wants a name for each client.
    "setvolume with no process-uuid": (-1, errno.EINVAL),
    # glusterfsd answers PROG_MISMATCH with a range of 0 to 0; gfrpc names the versions it
    # serves, as RFC 5531 says.
    "the fop program at version 399": ("PROG_MISMATCH", 400, 400),
    "the dump program at another version": ("PROG_MISMATCH", 1, 1),
    # glusterfsd also serves GlusterFS 3.3's FOP program (330); gfrpc serves GlusterFS 4's
    # (400) alone, and a client picks the version from the DUMP's list.
    "the fop program at version 330": ("PROG_MISMATCH", 400, 400),
    # glusterfsd runs a call whose AUTH_GLUSTERFS credential does not decode as root (the
    # MKDIR below made a directory of uid 0); gfrpc refuses it: AUTH_ERROR, AUTH_BADCRED.
    "stat with a glusterfs credential that does not decode": "AUTH_ERROR",
    "mkdir with a credential that does not decode": "AUTH_ERROR",
}


@pytest.fixture(scope="module")
def poller() -> Iterator[Any]:
    p = make_poller("single")
    p.start()
    yield p
    p.stop()


def _connector(address: Any, brick_path: str, poller: Any) -> Iterator[Connect]:
    made: list[FopClient] = []

    def connect() -> FopClient:
        c = FopClient(address, poller, brick_path)
        made.append(c)
        return c

    yield connect
    for c in made:
        c.close()


@pytest.fixture(scope="module")
def real_connect(gluster_volume: GlusterVolume, poller: Any) -> Iterator[Connect]:
    v = gluster_volume
    yield from _connector(v.address, str(v.brick_path), poller)


@pytest.fixture(scope="module")
def gfrpc_connect(tmp_path_factory: pytest.TempPathFactory, poller: Any) -> Iterator[Connect]:
    d = tmp_path_factory.mktemp("gfrpc-brick") / "brick"
    d.mkdir()
    with running_brick(d) as h:
        yield from _connector(h.address, h.brick_path, poller)


def _outcome(c: FopClient, prog: int, vers: int, proc: int, args: bytes, cred: Any) -> object:
    """The RPC outcome: the reply's stat (with a PROG_MISMATCH's range), or for an accepted
    FOP its op_ret sign and errno."""
    try:
        reply = c.rpc.call(prog, vers, proc, args, cred=cred, timeout=20)
    except RpcError as e:
        return (e.stat, e.low, e.high) if e.low is not None else e.stat
    except NotConnectedError:
        return "disconnected"
    if prog != PROG:
        return "accepted"
    op_ret, op_errno = struct.unpack_from(">ii", reply.body)  # every FOP reply begins so
    return (0 if op_ret >= 0 else -1, op_errno if op_ret < 0 else 0)


def _volume(c: FopClient, **extra: Any) -> tuple[int, int]:
    op_ret, op_errno, _ = c.setvolume(**extra)
    return (0 if op_ret >= 0 else -1, op_errno if op_ret < 0 else 0)


def _answers(connect: Connect, *, real: bool, volume: str) -> dict[str, object]:
    out: dict[str, object] = {}
    stat_root = fp.GfxStatReq(gfid=ROOT).pack()
    glusterfs = rpcmsg.GlusterCredV3(pid=4242, uid=0, gid=0, groups=())

    # a connection that never sent SETVOLUME
    c = connect()
    out["dump before setvolume"] = _outcome(
        c,
        dump.GF_DUMP_PROGRAM,
        dump.GF_DUMP_VERSION,
        dump.DUMP,
        dump.GfDumpReq(gfs_id=0).pack(),
        None,
    )
    out["stat before setvolume"] = _outcome(c, PROG, VERS, P.STAT, stat_root, glusterfs)

    def volume_kw(**kw: Any) -> dict[str, Any]:
        if real:
            kw.setdefault("volfile-key", volume)
        return kw

    # SETVOLUMEs, each on its own connection
    out["setvolume of another brick path"] = _volume(
        connect(), **volume_kw(**{"remote-subvolume": "/no/such/brick"})
    )
    out["setvolume with no process-uuid"] = _volume(connect(), **volume_kw(**{"process-uuid": ""}))
    twice = connect()
    out["setvolume once"] = _volume(twice, **volume_kw())
    out["setvolume twice"] = _volume(twice, **volume_kw())

    # a connection that passed SETVOLUME
    c = connect()
    assert _volume(c, **volume_kw()) == (0, 0)

    def call(
        what: str, prog: int, vers: int, proc: int, args: bytes, cred: Any = glusterfs
    ) -> None:
        out[what] = _outcome(c, prog, vers, proc, args, cred)

    call("stat", PROG, VERS, P.STAT, stat_root)
    call("an unknown program", 1234567, 1, 1, b"")
    call("the fop program at version 399", PROG, 399, P.STAT, stat_root)
    call("the fop program at version 330", PROG, 330, P.STAT, stat_root)
    call("an unknown procedure", PROG, VERS, 200, b"")
    call("stat with arguments cut short", PROG, VERS, P.STAT, stat_root[:10])
    call("stat with no arguments", PROG, VERS, P.STAT, b"")
    call("stat with AUTH_NULL", PROG, VERS, P.STAT, stat_root, rpcmsg.AUTH_NONE)
    unix = rpcmsg.AuthUnix(stamp=1, machinename="m", uid=0, gid=0)
    call("stat with AUTH_UNIX", PROG, VERS, P.STAT, stat_root, unix)
    call("stat with an unknown flavor", PROG, VERS, P.STAT, stat_root, rpcmsg.OpaqueAuth(77, b"x"))
    call(
        "stat with a glusterfs credential that does not decode",
        PROG,
        VERS,
        P.STAT,
        stat_root,
        rpcmsg.OpaqueAuth(rpcmsg.AUTH_GLUSTERFS_V3, b"\0\0"),
    )

    def mkdir(what: str, cred: Any) -> None:
        """A MKDIR in the root (0755, root's) with ``cred``, and the owner it got."""
        req = fp.GfxMkdirReq(
            pargfid=ROOT,
            bname=f"rpc-{uuid.uuid4().hex[:8]}",
            mode=0o755,
            umask=0,
            xdata={"gfid-req": uuid.uuid4()},
        )
        try:
            reply = c.rpc.call(PROG, VERS, P.MKDIR, req.pack(), cred=cred, timeout=20)
        except RpcError as e:
            out[what] = e.stat
            return
        rsp, _ = fp.decode_reply(P.MKDIR, reply.body)
        out[what] = (rsp.op_ret, rsp.op_errno if rsp.op_ret < 0 else 0)
        if rsp.op_ret >= 0:
            out[what] = (0, 0, rsp.stat.ia_uid, rsp.stat.ia_gid)

    mkdir("mkdir with AUTH_NULL", rpcmsg.AUTH_NONE)
    mkdir(
        "mkdir with AUTH_UNIX uid 1000",
        rpcmsg.AuthUnix(stamp=1, machinename="m", uid=1000, gid=1000),
    )
    mkdir("mkdir with AUTH_GLUSTERFS uid 1000", rpcmsg.GlusterCredV3(pid=1, uid=1000, gid=1000))
    mkdir(
        "mkdir with a credential that does not decode",
        rpcmsg.OpaqueAuth(rpcmsg.AUTH_GLUSTERFS_V3, b"\0\0"),
    )
    mkdir("mkdir with an unknown flavor", rpcmsg.OpaqueAuth(77, b"x"))
    call(
        "the handshake program's unknown procedure",
        hs.GF_HNDSK_PROGRAM,
        hs.GF_HNDSK_VERSION,
        77,
        b"",
    )
    call(
        "the dump program at another version",
        dump.GF_DUMP_PROGRAM,
        dump.GF_DUMP_VERSION + 1,
        dump.DUMP,
        dump.GfDumpReq(gfs_id=0).pack(),
    )
    call("still served", PROG, VERS, P.STAT, stat_root)
    return out


def test_rpc_refusals_answer_as_a_real_brick_does(
    gluster_volume: GlusterVolume, real_connect: Connect, gfrpc_connect: Connect
) -> None:
    """Rule: the same calls get the same RPC outcome and the same op_ret and errno from the
    gfrpc brick as from glusterfsd."""
    theirs = _answers(real_connect, real=True, volume=gluster_volume.name)
    mine = _answers(gfrpc_connect, real=False, volume="")
    assert {w: mine.pop(w) for w in DELIBERATE} == DELIBERATE
    for w in DELIBERATE:
        del theirs[w]
    assert theirs.keys() == mine.keys()
    differ = {w: (theirs[w], mine[w]) for w in theirs if theirs[w] != mine[w]}
    assert not differ, "\n".join(f"{w}: glusterfsd {t}, gfrpc {m}" for w, (t, m) in differ.items())
