"""What the xattrs a LOOKUP, READDIRP, GETXATTR or XATTROP answers may cost: a request of a
few kilobytes may name a thousand keys, and on a file system that keeps many 64 KiB values
per inode (XFS) that was a 64 MiB reply. The brick answers at most NAMED_XATTRS_MAX of values
per inode, a READDIRP stops adding entries once their values pass READDIRP_XATTRS_MAX (the
rest come with the client's next READDIRP), an XATTROP answers no more than its operands, and
each of these replies fits what it reserved in the server's reply budget. The bounds are made
small here, so that the rule shows on any file system with user xattrs."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from brick_fops_support import ROOT, BrickHarness, FopClient, P, running_brick

from gfrpc.programs import fops as fp
from gfrpc.services.brick import store as store_module
from gfrpc.services.brick.fops import common as fop_common
from gfrpc.services.brick.fops import entry as fop_entry
from gfrpc.services.brick.fops import inode as fop_inode
from gfrpc.services.brick.fops import xattr as fop_xattr

pytestmark = pytest.mark.timeout(60)

ASKED = {"user.a": b"", "user.b": b"", "user.c": b""}


@pytest.fixture
def brick(tmp_path: Path) -> Iterator[BrickHarness]:
    d = tmp_path / "brick"
    d.mkdir()
    with running_brick(d) as h:
        yield h


@pytest.fixture
def c(brick: BrickHarness) -> FopClient:
    return brick.client()


def _file_with_xattrs(c: FopClient, brick: BrickHarness, name: str) -> None:
    r = c.create(ROOT, name)
    assert r.op_ret == 0, r
    c.release(bytes(r.stat.ia_gfid), r.fd)
    path = os.path.join(brick.directory, name)
    try:
        os.setxattr(path, "user.a", b"a" * 60)
    except OSError as e:
        pytest.skip(f"no user xattrs here: {e}")
    os.setxattr(path, "user.b", b"b" * 60)
    os.setxattr(path, "user.c", b"c" * 10)


def test_a_lookup_answers_named_xattrs_up_to_the_bound(
    c: FopClient, brick: BrickHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule: a LOOKUP gets the values it names in the order named while their bytes stay
    within NAMED_XATTRS_MAX; the rest are left out, as keys the inode lacks are."""
    _file_with_xattrs(c, brick, "f")
    assert set(c.lookup(ROOT, "f", xdata=ASKED).xdata or {}) >= set(ASKED)  # all fit
    monkeypatch.setattr(store_module, "NAMED_XATTRS_MAX", 100)
    got = c.lookup(ROOT, "f", xdata=ASKED).xdata or {}
    assert "user.a" in got and "user.b" not in got and "user.c" not in got


def test_a_readdirp_leaves_entries_for_the_next_once_their_xattrs_pass_the_bound(
    c: FopClient, brick: BrickHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule: a READDIRP stops adding entries once the values of the xattrs it names pass
    READDIRP_XATTRS_MAX (it answers at least one entry), says it has not reached the end, and
    the client's next READDIRP from the last entry answered goes on: every entry comes once."""
    names = [f"f{i}" for i in range(6)]
    for name in names:
        _file_with_xattrs(c, brick, name)
    monkeypatch.setattr(fop_inode, "READDIRP_XATTRS_MAX", 200)  # each entry: 130 bytes
    d = c.call(P.OPENDIR, fp.GfxOpendirReq(gfid=ROOT))
    seen: list[str] = []
    pages = 0
    offset = 0
    while True:
        req = fp.GfxReaddirpReq(gfid=ROOT, fd=d.fd, offset=offset, size=1 << 20, xdata=ASKED)
        r = c.call(P.READDIRP, req)
        assert r.op_ret > 0, r
        pages += 1
        files = [e for e in r.reply if e.name.startswith("f")]
        assert len(files) <= 2  # 130 + 130 passes 200: no third
        for e in files:
            assert set(e.dict or {}) == set(ASKED)
        seen += [e.name for e in files]
        offset = r.reply[-1].d_off
        if r.op_errno:  # ENOENT: the end
            break
    assert sorted(seen) == names and pages >= 3


def test_a_getxattr_of_all_keys_past_the_bound_is_e2big(
    c: FopClient, brick: BrickHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule: a GETXATTR of all of an inode's xattrs answers them while their values stay
    within ALL_XATTRS_MAX, and is refused with E2BIG past it (not answered as big as the file
    system keeps them); one named key is answered whatever the bound."""
    _file_with_xattrs(c, brick, "f")
    gfid = bytes(c.lookup(ROOT, "f").prestat.ia_gfid)

    def getxattr(name: str) -> object:
        return c.call(P.GETXATTR, fp.GfxGetxattrReq(gfid=gfid, namelen=len(name), name=name))

    whole = getxattr("")
    assert whole.op_ret >= 130 and set(ASKED) <= set(whole.dict)  # type: ignore[attr-defined]
    monkeypatch.setattr(store_module, "ALL_XATTRS_MAX", 100)
    refused = getxattr("")
    assert (refused.op_ret, refused.op_errno) == (-1, errno.E2BIG)  # type: ignore[attr-defined]
    assert getxattr("user.a").op_ret == 60  # type: ignore[attr-defined]


def _xattrop(c: FopClient, gfid: bytes, op: int, changes: dict[str, bytes]) -> object:
    return c.call(P.XATTROP, fp.GfxXattropReq(gfid=gfid, flags=op, dict=changes))


def test_an_xattrop_answers_no_more_than_its_operands(c: FopClient, brick: BrickHarness) -> None:
    """Rule: an XATTROP reads each stored value into as many bytes as its operand has, as
    posix does: a GET_AND_SET of a 1-byte operand over a 60-byte value is ERANGE (not a
    60-byte answer), and one that fits answers the old value padded to the operand's length;
    so no reply is longer than its request (what ``reply_size`` reserves)."""
    _file_with_xattrs(c, brick, "f")
    gfid = bytes(c.lookup(ROOT, "f").prestat.ia_gfid)
    path = os.path.join(brick.directory, "f")
    refused = _xattrop(c, gfid, fop_xattr.XATTROP_GET_AND_SET, {"user.a": b"1"})
    assert (refused.op_ret, refused.op_errno) == (-1, errno.ERANGE)  # type: ignore[attr-defined]
    assert os.getxattr(path, "user.a") == b"a" * 60
    swapped = _xattrop(c, gfid, fop_xattr.XATTROP_GET_AND_SET, {"user.c": b"2" * 12})
    assert swapped.op_ret == 0, swapped  # type: ignore[attr-defined]
    assert swapped.dict == {"user.c": b"c" * 10 + b"\0\0"}  # type: ignore[attr-defined]
    assert os.getxattr(path, "user.c") == b"2" * 12
    added = _xattrop(c, gfid, fop_xattr.XATTROP_ADD_ARRAY, {"user.b": bytes(4)})
    assert (added.op_ret, added.op_errno) == (-1, errno.ERANGE)  # type: ignore[attr-defined]


def test_a_lookup_reply_fits_what_it_reserved(c: FopClient, brick: BrickHarness) -> None:
    """Rule: the reply a LOOKUP naming keys reserves (``reply_size``) covers the biggest it
    can answer: quick-read's 64 KiB of content and the named xattrs; a LOOKUP without xdata
    reserves nothing (its reply is two iatts)."""
    r = c.create(ROOT, "big")
    c.write(bytes(r.stat.ia_gfid), r.fd, 0, b"x" * fop_entry.MAX_CONTENT)
    c.release(bytes(r.stat.ia_gfid), r.fd)
    _file_with_xattrs(c, brick, "small")
    reply_size = brick.server.fops.program().procedures[P.LOOKUP].reply_size
    assert reply_size is not None
    for name in ("big", "small"):
        asked = {**ASKED, fop_common.CONTENT_KEY: fop_entry.MAX_CONTENT}
        req = fp.GfxLookupReq(pargfid=ROOT, bname=name, xdata=asked)
        got = c.call(P.LOOKUP, req)
        assert got.op_ret == 0 and fop_common.CONTENT_KEY in got.xdata, got
        assert len(got.pack()) + 64 <= reply_size(memoryview(req.pack()))
        assert reply_size(memoryview(fp.GfxLookupReq(pargfid=ROOT, bname=name).pack())) == 0
