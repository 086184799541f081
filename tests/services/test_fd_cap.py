"""Per-connection open-fd cap: one client cannot use up the brick's descriptors.

The rule (``store.fds``, "Open-fd cap"): an ``FdTable`` holds at most ``max_open`` fds
(``DEFAULT_MAX_OPEN_FDS`` when none is given); one more is EMFILE for that table alone, the
refused object is closed, and releasing an fd makes room again.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from brick_fops_support import ROOT, P, open_targets, running_brick

from gfrpc.errors import ConfigError
from gfrpc.programs import fops as fp
from gfrpc.services.brick.store import FdTable, PosixStore
from gfrpc.services.brick.store import fds as store_fds


def _fd_is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def test_table_refuses_past_its_cap_and_closes_the_refused_file(store: PosixStore) -> None:
    """The (max_open + 1)-th add is EMFILE; the refused file's descriptor is closed (no leak);
    a release makes room again and the freed number is reused."""
    gfid, f, *_ = store.create(ROOT, "f", 0, 0o644)
    f.close()
    table = FdTable(max_open=3)
    assert table.max_open == 3
    files = [store.open(gfid, os.O_RDONLY) for _ in range(3)]
    assert [table.add(x) for x in files] == [0, 1, 2]
    extra = store.open(gfid, os.O_RDONLY)
    with pytest.raises(OSError) as e:
        table.add(extra)
    assert e.value.errno == errno.EMFILE
    assert extra.closed and not _fd_is_open(extra.fd)
    with pytest.raises(OSError) as e2:
        table.check_room()
    assert e2.value.errno == errno.EMFILE
    assert len(table) == 3
    table.release(1)
    table.check_room()
    again = store.open(gfid, os.O_RDONLY)
    assert table.add(again) == 1
    table.close_all()
    assert all(x.closed for x in (*files, again))


def test_tables_are_independent(store: PosixStore) -> None:
    """A full table does not limit another connection's table."""
    gfid, f, *_ = store.create(ROOT, "f", 0, 0o644)
    f.close()
    full, other = FdTable(max_open=1), FdTable(max_open=1)
    full.add(store.open(gfid, os.O_RDONLY))
    with pytest.raises(OSError):
        full.add(store.open(gfid, os.O_RDONLY))
    assert other.add(store.open(gfid, os.O_RDONLY)) == 0
    full.close_all()
    other.close_all()


def test_default_cap_is_read_when_a_table_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without max_open a table takes the module default at construction (so a brick option
    can set it); the shipped default leaves room for a busy mount."""
    assert store_fds.DEFAULT_MAX_OPEN_FDS >= 1024
    assert FdTable().max_open == store_fds.DEFAULT_MAX_OPEN_FDS
    monkeypatch.setattr(store_fds, "DEFAULT_MAX_OPEN_FDS", 7)
    assert FdTable().max_open == 7
    assert FdTable(max_open=9).max_open == 9


@pytest.mark.parametrize("bad", [0, -1])
def test_cap_below_one_is_a_config_error(bad: int) -> None:
    """A cap that would refuse every open is a configuration error."""
    with pytest.raises(ConfigError):
        FdTable(max_open=bad)


CAP = 4


@pytest.mark.timeout(90)
def test_wire_one_client_at_its_cap_does_not_stop_others(brick: Path) -> None:
    """Over the wire (BrickConfig.max_open_fds = 4, the brick's --max-open-fds): a client
    holding 4 fds gets EMFILE for OPEN, CREATE and OPENDIR, while a second client opens freely;
    a refused CREATE makes no file; anonymous-fd I/O still works for the first; a RELEASE gives
    it room again; refused opens leak nothing."""
    with running_brick(brick, "single", max_open_fds=CAP) as h:
        a, b = h.client(), h.client()
        r = a.create(ROOT, "data")
        assert r.op_ret == 0
        gfid, fds = bytes(r.stat.ia_gfid), [r.fd]
        assert a.write(gfid, r.fd, 0, b"hello").op_ret == 5
        while len(fds) < CAP:
            o = a.call(P.OPEN, fp.GfxOpenReq(gfid=gfid, flags=os.O_RDONLY))
            assert o.op_ret == 0, o
            fds.append(o.fd)
        before = open_targets(brick)
        refused = [
            a.call(P.OPEN, fp.GfxOpenReq(gfid=gfid, flags=os.O_RDONLY)),
            a.call(P.OPENDIR, fp.GfxOpendirReq(gfid=ROOT)),
            a.create(ROOT, "one-too-many"),
        ]
        for rsp in refused:
            assert (rsp.op_ret, rsp.op_errno) == (-1, errno.EMFILE), rsp
        assert open_targets(brick) == before  # the refused descriptors were closed
        assert not (brick / "one-too-many").exists()  # refused before anything was made
        rsp, data = a.read(gfid, fp.GF_ANON_FD_NO, 0, 5)
        assert data == b"hello"
        for proc, req in (
            (P.OPEN, fp.GfxOpenReq(gfid=gfid, flags=os.O_RDONLY)),
            (P.OPENDIR, fp.GfxOpendirReq(gfid=ROOT)),
        ):
            assert b.call(proc, req).op_ret == 0
        other = b.create(ROOT, "b-file")
        assert other.op_ret == 0
        assert a.release(gfid, fds[1]).op_ret == 0
        o = a.call(P.OPEN, fp.GfxOpenReq(gfid=gfid, flags=os.O_RDONLY))
        assert (o.op_ret, o.fd) == (0, fds[1])
