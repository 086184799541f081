"""Access control on the gfrpc brick (``services/brick/access.py`` + ``posix_acl.py``): the shared
table of ``access_table_support.py`` run against a gfrpc brick, plus the ACL codec and algorithm
alone.

The same table runs against a real GlusterFS 10.3 brick in tests/interop/test_access_interop.py.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from access_fops_support import run_row
from access_table_support import ROWS, Row
from brick_fops_support import BrickHarness, FopClient, running_brick

from gfrpc.programs import fops as fp
from gfrpc.services.brick import posix_acl as pa
from gfrpc.services.brick.fops import ACTORS

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def brick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrickHarness]:
    d = tmp_path_factory.mktemp("access") / "brick"
    d.mkdir()
    with running_brick(d) as h:
        yield h


@pytest.fixture(scope="module")
def c(brick: BrickHarness) -> FopClient:
    return brick.client()


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_access_table_on_gfrpc(c: FopClient, row: Row) -> None:
    """Each row of the access table: the caller's FOP gets the errno posix-acl would give (and
    the object's mode afterwards is what the row says)."""
    got, mode = run_row(c, row)
    assert got == row.expect, f"{row.name}: errno {got}, want {row.expect}"
    if row.mode_after is not None:
        assert mode == row.mode_after, f"{row.name}: mode {mode:o}, want {row.mode_after:o}"


def test_table_covers_every_fop_the_brick_serves(
    c: FopClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every procedure the gfrpc brick implements is sent by some row of the table (IPC aside,
    which no translator of a brick answers), so no FOP escapes the comparison with GlusterFS."""
    sent: set[int] = set()
    real_call = c.call

    def recording(proc: int, req: Any, **kw: Any) -> Any:
        sent.add(proc)
        return real_call(proc, req, **kw)

    monkeypatch.setattr(c, "call", recording)
    for fop in dict.fromkeys(r.fop for r in ROWS):
        row = next(r for r in ROWS if r.fop == fop)
        run_row(c, row, "cover-" + row.name)
    missing = set(ACTORS) - sent - {fp.FopProc.IPC}
    assert not missing, sorted(p.name for p in missing)


STRICT = [r for r in ROWS if r.strict is not None]


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FopClient]:
    d = tmp_path_factory.mktemp("strict") / "brick"
    d.mkdir()
    with running_brick(d, strict_access=True) as h:
        yield h.client()


@pytest.mark.parametrize("row", STRICT, ids=[r.name for r in STRICT])
def test_fd_checks_when_enabled(strict: FopClient, row: Row) -> None:
    """With --strict-access (BrickConfig.strict_access) the anonymous fd needs what the
    path-based FOP needs, the f-attribute FOPs get the scrutiny of their twins, a negative pid
    is an ordinary caller; an fd from OPEN still writes."""
    got, _ = run_row(strict, row, "strict-" + row.name)
    assert got == row.strict, f"{row.name}: errno {got}, want {row.strict}"


def test_default_acl_is_copied_by_the_kernel(c: FopClient, brick: BrickHarness) -> None:
    """A file created under a default ACL carries it as its access ACL on disk (the kernel
    copies it when the store creates the entry), narrowed to the create mode, umask ignored;
    a new directory also gets it as its default ACL."""
    row = next(r for r in ROWS if r.name == "inherit_mkdir_default_acl")
    assert run_row(c, row, "kernel_copies_default_acl")[0] == 0
    sub = brick.directory / "kernel_copies_default_acl" / "new"
    access = pa.decode_acl(os.getxattr(sub, pa.ACCESS_KEY))
    default = pa.decode_acl(os.getxattr(sub, pa.DEFAULT_KEY))
    assert pa.Ace(pa.USER, 7, 1001) in access and pa.Ace(pa.USER, 7, 1001) in default
    assert pa.Ace(pa.MASK, 7) in access  # mode 0777 & default mask rwx, no umask
    inner = pa.decode_acl(os.getxattr(sub / "inner", pa.ACCESS_KEY))
    assert pa.Ace(pa.MASK, 4) in inner  # 0644 (umask ignored under a default ACL) & rwx


# -- the ACL codec and algorithm --------------------------------------------------------------

ACL = (
    pa.Ace(pa.USER_OBJ, 6),
    pa.Ace(pa.USER, 6, 1001),
    pa.Ace(pa.GROUP_OBJ, 4),
    pa.Ace(pa.GROUP, 6, 2000),
    pa.Ace(pa.MASK, 4),
    pa.Ace(pa.OTHER, 0),
)


def test_acl_xattr_round_trip_matches_the_kernel(tmp_path: Path) -> None:
    """encode_acl writes Linux's xattr layout: the kernel accepts it, sets the mode from it
    (group bits = mask) and hands the same bytes back; decode_acl reads them."""
    f = tmp_path / "f"
    f.write_bytes(b"")
    raw = pa.encode_acl(ACL)
    assert raw[:4] == b"\x02\x00\x00\x00" and len(raw) == 4 + 8 * len(ACL)
    try:
        os.setxattr(f, pa.ACCESS_KEY, raw)
    except OSError as exc:
        pytest.skip(f"no ACL support here: {exc}")
    assert f.stat().st_mode & 0o777 == 0o640
    assert os.getxattr(f, pa.ACCESS_KEY) == raw
    assert pa.decode_acl(raw) == ACL


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x02\x00\x00",
        b"\x01\x00\x00\x00" + pa.encode_acl(ACL)[4:],
        pa.encode_acl(ACL)[:-1],
        pa.encode_acl(tuple(reversed(ACL))),
        pa.encode_acl(ACL[:1] + ACL[2:4] + ACL[5:]),  # a named entry without MASK
        pa.encode_acl(ACL[:2] + ACL[1:]),  # duplicate named user
    ],
    ids=["empty", "short", "version1", "truncated", "unsorted", "no-mask", "duplicate"],
)
def test_decode_acl_refuses_malformed_values(raw: bytes) -> None:
    """A value the kernel would not accept is EINVAL (EOPNOTSUPP for another version)."""
    with pytest.raises(OSError) as e:
        pa.decode_acl(raw)
    assert e.value.errno in (errno.EINVAL, errno.EOPNOTSUPP)


@pytest.mark.parametrize(
    ("uid", "gid", "groups", "want", "ok"),
    [
        (1000, 9, (), pa.R | pa.W, True),  # owner: owner bits, no mask
        (1001, 9, (), pa.R, True),  # named user, within the mask
        (1001, 9, (), pa.W, False),  # named user rw, masked to r
        (1005, 1000, (), pa.R, True),  # owning group r
        (1005, 9, (2000,), pa.R, True),  # named group through a supplementary group
        (1005, 9, (2000,), pa.W, False),  # named group rw, masked
        (1005, 9, (), pa.R, False),  # other: nothing
        (1005, 1000, (2000,), pa.X, False),  # in groups, none grants x: other is not consulted
    ],
)
def test_permits_is_posix_1e(
    uid: int, gid: int, groups: tuple[int, ...], want: int, ok: bool
) -> None:
    """Owner bits for the owner; named users and all matching groups masked; a caller in a
    matching group that grants too little gets nothing from OTHER."""
    mode = 0o640  # owner rw, mask r, other none (what the kernel makes of ACL)
    assert pa.permits(mode, 1000, 1000, ACL, uid, gid, groups, want) is ok


def test_permits_without_acl_is_the_mode() -> None:
    """No ACL: owner, then group (primary or supplementary), then other; group beats other."""
    assert pa.permits(0o604, 1, 50, None, 2, 7, (50,), pa.R) is False
    assert pa.permits(0o640, 1, 50, None, 2, 7, (50,), pa.R) is True
    assert pa.permits(0o604, 1, 50, None, 2, 7, (), pa.R) is True
    assert pa.permits(0o077, 1, 50, None, 1, 50, (), pa.R) is False


def test_inherit_narrows_by_the_mode() -> None:
    """posix_acl_inherit_mode: USER_OBJ, MASK and OTHER narrowed to the create mode, named
    entries and GROUP_OBJ kept; the mode narrowed to the ACL."""
    default = (
        pa.Ace(pa.USER_OBJ, 7),
        pa.Ace(pa.USER, 7, 1001),
        pa.Ace(pa.GROUP_OBJ, 5),
        pa.Ace(pa.MASK, 5),
        pa.Ace(pa.OTHER, 1),
    )
    mode, acl = pa.inherit(default, 0o100664)
    assert mode == 0o100640 and acl == (
        pa.Ace(pa.USER_OBJ, 6),
        pa.Ace(pa.USER, 7, 1001),
        pa.Ace(pa.GROUP_OBJ, 5),
        pa.Ace(pa.MASK, 4),
        pa.Ace(pa.OTHER, 0),
    )
    minimal = (pa.Ace(pa.USER_OBJ, 7), pa.Ace(pa.GROUP_OBJ, 5), pa.Ace(pa.OTHER, 5))
    assert pa.inherit(minimal, 0o2777) == (0o2755, minimal)
