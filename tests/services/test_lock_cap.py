"""Per-connection lock cap: one client cannot grow the brick's lock lists without end.

The rule (``locks.py``, "What one client may hold"): each lock table keeps at most
``max_locks`` granted locks per client connection (``BrickConfig.max_locks``, the brick's
``--max-locks``); one more is ENOLCK for that connection alone.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from brick_fops_support import ROOT, P, cred, running_brick

from gfrpc.cli import build_parser
from gfrpc.cli.brick import brick_config
from gfrpc.programs import fops as fp
from gfrpc.programs import fops_types as ft
from gfrpc.services.brick.fops.locks import DOMAIN_MAX
from gfrpc.services.brick.locks import DEFAULT_MAX_LOCKS, ENTRYLK_LOCK_NB, F_WRLCK

CAP = 4


def _lk(gfid: bytes, fd: int, start: int) -> fp.GfxLkReq:
    flock = ft.GfProtoFlock(type=F_WRLCK, whence=0, start=start, len=1)
    return fp.GfxLkReq(gfid=gfid, fd=fd, cmd=1, type=F_WRLCK, flock=flock)


def _inodelk(gfid: bytes, cmd: int = 1, domain: str = "dom") -> fp.GfxInodelkReq:
    flock = ft.GfProtoFlock(type=F_WRLCK, whence=0, start=0, len=0)
    return fp.GfxInodelkReq(gfid=gfid, cmd=cmd, type=F_WRLCK, flock=flock, volume=domain)


def _entrylk(gfid: bytes, name: str, domain: str = "dom") -> fp.GfxEntrylkReq:
    return fp.GfxEntrylkReq(
        gfid=gfid, cmd=ENTRYLK_LOCK_NB, type=1, namelen=len(name), name=name, volume=domain
    )


@pytest.mark.timeout(90)
def test_wire_a_client_at_its_lock_cap_gets_enolck_and_others_lock_on(brick: Path) -> None:
    """Over the wire (BrickConfig.max_locks = 4): a client holding 4 POSIX locks gets ENOLCK
    for a fifth, and one holding 4 inodelks of one range for a fifth, while a second client
    takes both kinds; its disconnect gives the room back to a new connection."""
    with running_brick(brick, "single", max_locks=CAP) as h:
        a, b = h.client(cred=cred(0, 0, pid=1)), h.client(cred=cred(0, 0, pid=2))
        r = a.create(ROOT, "locked")
        gfid = bytes(r.stat.ia_gfid)
        for n in range(CAP):
            assert a.call(P.LK, _lk(gfid, r.fd, 10 * n)).op_ret == 0
            assert a.call(P.INODELK, _inodelk(gfid)).op_ret == 0
        for req in (_lk(gfid, r.fd, 100), _inodelk(gfid)):
            rsp = a.call(P.LK if isinstance(req, fp.GfxLkReq) else P.INODELK, req)
            assert (rsp.op_ret, rsp.op_errno) == (-1, errno.ENOLCK), rsp
        assert b.call(P.LK, _lk(gfid, fp.GF_ANON_FD_NO, 200)).op_ret == 0
        blocked = b.call(P.INODELK, _inodelk(gfid))  # a's inodelks conflict: EAGAIN, not ENOLCK
        assert (blocked.op_ret, blocked.op_errno) == (-1, errno.EAGAIN)
        a.close()
        c = h.client(cred=cred(0, 0, pid=3))
        # F_SETLKW: granted once the brick has dropped a's locks (no race with the close)
        assert c.call(P.INODELK, _inodelk(gfid, cmd=2), timeout=30).op_ret == 0


@pytest.mark.timeout(90)
def test_wire_a_held_lock_keeps_no_long_domain_or_name(brick: Path) -> None:
    """Rule (fops/locks.py): a held lock keeps its domain and name, so an INODELK or ENTRYLK
    domain past DOMAIN_MAX characters is EINVAL and an ENTRYLK name past NAME_MAX bytes
    ENAMETOOLONG; the longest allowed are taken."""
    with running_brick(brick, "single") as h:
        a = h.client()
        gfid = ROOT
        long_domain = "d" * (DOMAIN_MAX + 1)
        for proc, req, refusal in (
            (P.INODELK, _inodelk(gfid, domain=long_domain), errno.EINVAL),
            (P.ENTRYLK, _entrylk(gfid, "x", domain=long_domain), errno.EINVAL),
            (P.ENTRYLK, _entrylk(gfid, "n" * 256), errno.ENAMETOOLONG),
            (P.ENTRYLK, _entrylk(gfid, "é" * 128), errno.ENAMETOOLONG),  # 256 bytes
        ):
            rsp = a.call(proc, req)
            assert (rsp.op_ret, rsp.op_errno) == (-1, refusal), rsp
        assert a.call(P.INODELK, _inodelk(gfid, domain="d" * DOMAIN_MAX)).op_ret == 0
        assert a.call(P.ENTRYLK, _entrylk(gfid, "n" * 255, domain="d" * DOMAIN_MAX)).op_ret == 0


def test_max_locks_flag_reaches_the_brick_config() -> None:
    """Rule: `gfrpc brick --max-locks N` sets BrickConfig.max_locks; its default is the lock
    tables' own, and 0 is refused."""
    parse = build_parser().parse_args
    base = ["brick", "--dir", "/x", "--port", "0"]
    assert brick_config(parse(base)).max_locks == DEFAULT_MAX_LOCKS
    assert brick_config(parse([*base, "--max-locks", "7"])).max_locks == 7
    with pytest.raises(SystemExit):
        parse([*base, "--max-locks", "0"])
