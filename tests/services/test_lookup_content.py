"""quick-read's LOOKUP content (``glusterfs.content`` in the xdata): the brick answers a small
regular file's bytes with its LOOKUP, as GlusterFS's posix does, but only to a caller who may
read the file, only up to its own bound, and only when the bytes match the iatt it answers."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from brick_fops_support import ROOT, BrickHarness, FopClient, P, cred, running_brick

from gfrpc.programs import fops as fp
from gfrpc.services.brick import posix_acl as pa
from gfrpc.services.brick.fops.common import CONTENT_KEY
from gfrpc.services.brick.fops.entry import MAX_CONTENT
from gfrpc.wire.gfdict import GfType, GfValue

pytestmark = pytest.mark.timeout(60)

#: what quick-read sends: its max-file-size as a uint64 (data_from_uint64)
ASK = {CONTENT_KEY: GfValue(GfType.UINT, 64 * 1024)}


@pytest.fixture
def brick(tmp_path: Path) -> Iterator[BrickHarness]:
    d = tmp_path / "brick"
    d.mkdir()
    with running_brick(d) as h:
        yield h


@pytest.fixture
def c(brick: BrickHarness) -> FopClient:
    return brick.client()


def _file(c: FopClient, name: str, data: bytes, mode: int = 0o644) -> bytes:
    r = c.create(ROOT, name, mode=mode)
    assert r.op_ret == 0, r
    if data:
        assert c.write(bytes(r.stat.ia_gfid), r.fd, 0, data).op_ret == len(data)
    c.release(bytes(r.stat.ia_gfid), r.fd)
    return bytes(r.stat.ia_gfid)


def _content(reply: object) -> bytes | None:
    xdata = getattr(reply, "xdata", None) or {}
    value = xdata.get(CONTENT_KEY)
    return None if value is None else bytes(getattr(value, "value", value))


def test_named_and_nameless_lookups_carry_a_small_file(c: FopClient) -> None:
    """A LOOKUP asking for the content gets a small file's exact bytes, by name and by gfid,
    with the iatt of that size; an empty file's content is empty."""
    data = os.urandom(4096)
    gfid = _file(c, "small", data)
    r = c.lookup(ROOT, "small", xdata=ASK)
    assert r.op_ret == 0 and r.prestat.ia_size == 4096 and _content(r) == data
    r = c.call(P.LOOKUP, fp.GfxLookupReq(gfid=gfid, xdata=ASK))
    assert r.op_ret == 0 and _content(r) == data
    _file(c, "empty", b"")
    assert _content(c.lookup(ROOT, "empty", xdata=ASK)) == b""


def test_the_size_limit_is_the_clients_and_the_bricks(c: FopClient) -> None:
    """No content for a file bigger than the size the client asked for, or than the brick's own
    bound (quick-read's default max-file-size), whatever the client asks; a limit sent as text
    is read like GlusterFS's data_to_uint64; no content without the key."""
    _file(c, "k4", b"x" * 4096)
    _file(c, "big", b"y" * (MAX_CONTENT + 1))
    assert _content(c.lookup(ROOT, "k4", xdata={CONTENT_KEY: GfValue(GfType.UINT, 4095)})) is None
    assert _content(c.lookup(ROOT, "k4", xdata={CONTENT_KEY: "4096"})) == b"x" * 4096
    huge = {CONTENT_KEY: GfValue(GfType.UINT, 1 << 40)}
    r = c.lookup(ROOT, "big", xdata=huge)
    assert r.op_ret == 0 and _content(r) is None
    assert _content(c.lookup(ROOT, "k4")) is None


def test_a_caller_who_may_not_read_the_file_gets_no_content(
    brick: BrickHarness, c: FopClient
) -> None:
    """posix answers the content to anyone who may look the name up, and the client then
    serves it without the OPEN that checks read permission: the gfrpc brick answers it only to
    a caller who may read the file. The LOOKUP itself still succeeds."""
    secret = b"not for uid 1000"
    _file(c, "secret", secret, mode=0o600)
    stranger = cred(1000, 1000)
    r = c.call(P.LOOKUP, fp.GfxLookupReq(pargfid=ROOT, bname="secret", xdata=ASK), cred=stranger)
    assert r.op_ret == 0 and r.prestat.ia_size == len(secret)
    assert _content(r) is None
    assert _content(c.lookup(ROOT, "secret", xdata=ASK)) == secret  # root may read it


def test_no_content_for_what_is_not_a_regular_file(brick: BrickHarness, c: FopClient) -> None:
    """Directories, symlinks, fifos and sockets get no content, and the brick never opens a
    fifo (which would block it) to find out."""
    d = brick.directory
    os.mkdir(d / "dir")
    os.symlink("target", d / "link")
    os.mkfifo(d / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(d / "sock"))
    try:
        for name in ("dir", "link", "fifo", "sock"):
            r = c.lookup(ROOT, name, xdata=ASK)
            assert r.op_ret == 0 and _content(r) is None, name
    finally:
        sock.close()


def test_content_and_named_xattrs_come_together_and_internal_keys_stay_hidden(
    brick: BrickHarness, c: FopClient
) -> None:
    """md-cache names xattrs in the same LOOKUP: those the file has come back beside the
    content, those it lacks are left out, and internal ones (ctime's mdata, gfid2path) are never
    answered to a client."""
    _file(c, "x", b"abc")
    path = brick.directory / "x"
    os.setxattr(path, "user.kept", b"v")
    os.setxattr(path, "trusted.glusterfs.mdata", b"\x01" * 8)
    ask = dict(ASK)
    ask |= {"user.kept": 0, "security.capability": 0, "trusted.glusterfs.mdata": 0}
    ask |= {"trusted.gfid2path.abc": 0}
    r = c.lookup(ROOT, "x", xdata=ask)
    assert r.op_ret == 0
    got = {k: bytes(getattr(v, "value", v)) for k, v in (r.xdata or {}).items()}
    assert got == {CONTENT_KEY: b"abc", "user.kept": b"v"}


def test_content_follows_the_file_not_a_stale_size(brick: BrickHarness, c: FopClient) -> None:
    """The content answered is the file's bytes now, with the iatt of the same size: a file
    rewritten on the brick between two LOOKUPs gets its new bytes."""
    _file(c, "f", b"old")
    assert _content(c.lookup(ROOT, "f", xdata=ASK)) == b"old"
    (brick.directory / "f").write_bytes(b"newer bytes")
    r = c.lookup(ROOT, "f", xdata=ASK)
    assert r.prestat.ia_size == 11 and _content(r) == b"newer bytes"


def _acl(users: dict[int, int], group_obj: int = 0) -> bytes:
    """An access ACL of a 0600-or-so file: the owner rw, named ``users`` with their perms."""
    entries = (
        pa.Ace(pa.USER_OBJ, 6),
        *(pa.Ace(pa.USER, perm, uid) for uid, perm in sorted(users.items())),
        pa.Ace(pa.GROUP_OBJ, group_obj),
        pa.Ace(pa.MASK, 7),
        pa.Ace(pa.OTHER, 0),
    )
    return pa.encode_acl(entries)


def test_the_read_check_of_the_content_follows_the_files_access_acl(c: FopClient) -> None:
    """The content's read check is posix-acl's, on the file the bytes are read from: a user
    the mode bits refuse but the access ACL lets read gets the bytes; one it does not name
    gets none; the LOOKUP succeeds for both."""
    data = b"shared with 1001"
    gfid = _file(c, "acl", data, mode=0o600)
    got = c.call(P.SETXATTR, fp.GfxSetxattrReq(gfid=gfid, dict={pa.ACCESS_KEY: _acl({1001: 4})}))
    assert got.op_ret == 0, got
    for uid, expected in ((1001, data), (1002, None)):
        r = c.call(
            P.LOOKUP, fp.GfxLookupReq(pargfid=ROOT, bname="acl", xdata=ASK), cred=cred(uid, uid)
        )
        assert r.op_ret == 0 and _content(r) == expected, (uid, r)


def test_the_parents_search_permission_follows_its_access_acl(c: FopClient) -> None:
    """A LOOKUP by name needs search permission on the parent, checked with its access ACL on
    the same stat the reply's parent iatt comes from: a user the ACL gives x may look up
    (and gets the parent's iatt), one it does not is refused with EACCES."""
    made = c.mkdir(ROOT, "private", 0o700)
    pgfid = bytes(made.stat.ia_gfid)
    _file_in = c.create(pgfid, "inside", mode=0o644)
    assert _file_in.op_ret == 0
    c.release(bytes(_file_in.stat.ia_gfid), _file_in.fd)
    got = c.call(
        P.SETXATTR,
        fp.GfxSetxattrReq(gfid=pgfid, dict={pa.ACCESS_KEY: _acl({1001: 1}, group_obj=0)}),
    )
    assert got.op_ret == 0, got
    ok = c.call(P.LOOKUP, fp.GfxLookupReq(pargfid=pgfid, bname="inside"), cred=cred(1001, 1001))
    assert ok.op_ret == 0 and bytes(ok.poststat.ia_gfid) == pgfid
    refused = c.call(
        P.LOOKUP, fp.GfxLookupReq(pargfid=pgfid, bname="inside"), cred=cred(1002, 1002)
    )
    assert (refused.op_ret, refused.op_errno) == (-1, errno.EACCES)
    missing = c.call(P.LOOKUP, fp.GfxLookupReq(pargfid=pgfid, bname="nope"), cred=cred(1001, 1001))
    assert (missing.op_ret, missing.op_errno) == (-1, errno.ENOENT)
    assert bytes(missing.poststat.ia_gfid) == pgfid
