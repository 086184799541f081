"""The access-control table (tests/services/access_table_support.py) against a real GlusterFS
10.3 brick.

The same rows run against a gfrpc brick in tests/services/test_access_control.py; here raw v400
FOPs with each row's AUTH_GLUSTERFS credential go to the glusterfsd of the harness's one-brick
volume, whose access-control (posix-acl) xlator decides. Both must agree row by row; a row whose
``real_mode_after`` differs is where gfrpc is deliberately stricter (see access.py).

The harness puts its bricks under the system temp directory; the probe below checks that this
file system stores POSIX ACLs (the ACL rows would not mean anything otherwise).

Last, end to end: a real FUSE client mounted with ``--acl`` (no ``default_permissions``) on a
gfrpc brick, used by an unprivileged user. Not every refusal there is the brick's: with the old
mode-bits-only brick, the client side (kernel 6.18 + glusterfs 10.3 FUSE) already refused the
listing, the xattr calls and the sticky unlink without sending them; OPEN reaches the brick,
and reading through an ACL entry needs the brick to honour ACLs (the old brick said EACCES).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from access_fops_support import run_row
from access_table_support import ROWS, Row
from brick_fops_support import FopClient, real_brick_client
from gfrpc_daemons_support import gfrpc_brick

from gfrpc.services.brick import posix_acl as pa
from gfrpc.testing import need
from gfrpc.testing.realgluster import GlusterVolume, client_volfile

pytestmark = pytest.mark.timeout(300)
PREFIX = f"access-{uuid.uuid4().hex[:6]}-"


def _acl_support(directory: Path) -> str | None:
    """None if ``directory``'s file system stores POSIX ACLs, else why not."""
    probe = directory / f".acl-probe-{uuid.uuid4().hex[:6]}"
    probe.write_bytes(b"")
    try:
        os.setxattr(
            probe,
            pa.ACCESS_KEY,
            pa.encode_acl(
                (
                    pa.Ace(pa.USER_OBJ, 6),
                    pa.Ace(pa.USER, 4, 1001),
                    pa.Ace(pa.GROUP_OBJ, 4),
                    pa.Ace(pa.MASK, 4),
                    pa.Ace(pa.OTHER, 0),
                )
            ),
        )
        return None
    except OSError as exc:
        return f"{directory}: no POSIX ACLs ({exc.strerror})"
    finally:
        probe.unlink()


@pytest.fixture(scope="module")
def real(gluster_volume: GlusterVolume) -> Iterator[FopClient]:
    """A raw FOP connection (SETVOLUME'd) to the real brick of the plain volume."""
    reason = _acl_support(gluster_volume.brick_path.parent)
    need(reason is None, reason or "")
    v = gluster_volume
    with real_brick_client(v.address, str(v.brick_path), v.name) as c:
        yield c


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_access_table_on_real_glusterfs(real: FopClient, row: Row) -> None:
    """Each row of the access table gives the same errno on a real GlusterFS 10.3 brick as on
    gfrpc (and the same mode afterwards, except where ``real_mode_after`` says otherwise)."""
    got, mode = run_row(real, row, PREFIX + row.name)
    assert got == row.expect, f"{row.name}: real GlusterFS errno {got}, table {row.expect}"
    want_mode = row.real_mode_after if row.real_mode_after is not None else row.mode_after
    if want_mode is not None:
        assert mode == want_mode, f"{row.name}: real mode {mode:o}, table {want_mode:o}"


# -- a real FUSE client, used by an unprivileged user, on a gfrpc brick -----------------------

_USER_SCRIPT = r"""
import errno, json, os
def attempt(fn):
    try:
        fn()
        return 0
    except OSError as e:
        return e.errno
acl = bytes.fromhex(os.environ["ACL"])
print(json.dumps({
    "listdir_private": attempt(lambda: os.listdir("private")),
    "read_secret": attempt(lambda: open("secret", "rb").read()),
    "getxattr_secret": attempt(lambda: os.getxattr("secret", "user.k")),
    "setxattr_secret": attempt(lambda: os.setxattr("secret", "user.j", b"1")),
    "set_acl_secret": attempt(lambda: os.setxattr("secret", "system.posix_acl_access", acl)),
    "write_secret": attempt(lambda: open("secret", "r+b").write(b"x")),
    "unlink_sticky_rootfile": attempt(lambda: os.unlink("tmp/rootfile")),
    "read_shared_by_acl": attempt(lambda: open("shared", "rb").read()),
    "create_in_tmp": attempt(lambda: open("tmp/mine", "wb").close()),
}))
"""


@pytest.mark.timeout(150)
def test_fuse_user_on_gfrpc_brick(
    fuse_mount: Callable[..., AbstractContextManager[Path]], tmp_path: Path
) -> None:
    """Through a real FUSE client (``--acl``) uid 1001 on a gfrpc brick cannot list a 0700 root
    directory, read, write or touch the xattrs of a 0600 root file, set an ACL on it (EPERM)
    or delete root's file in a sticky directory; an ACL entry root gave him lets him read
    (the brick must honour the ACL), and he may create in the sticky directory."""
    need(os.geteuid() == 0, "a gfrpc brick (trusted.* xattrs) and FUSE mounts need root")
    need(shutil.which("glusterfs"), "the glusterfs FUSE client is not installed")
    reason = _acl_support(tmp_path)
    need(reason is None, reason or "")
    bob_rw = pa.encode_acl(
        (
            pa.Ace(pa.USER_OBJ, 6),
            pa.Ace(pa.USER, 6, 1001),
            pa.Ace(pa.GROUP_OBJ, 0),
            pa.Ace(pa.MASK, 6),
            pa.Ace(pa.OTHER, 0),
        )
    )
    bob_r = pa.encode_acl(
        (
            pa.Ace(pa.USER_OBJ, 6),
            pa.Ace(pa.USER, 4, 1001),
            pa.Ace(pa.GROUP_OBJ, 0),
            pa.Ace(pa.MASK, 4),
            pa.Ace(pa.OTHER, 0),
        )
    )
    with gfrpc_brick(tmp_path, "pool") as brick:
        volfile = client_volfile(
            remote_port=brick.port, remote_subvolume=str(brick.path), name="acltest-client-0"
        )
        with fuse_mount(volfile, timeout=30, extra_args=["--acl"]) as mnt:
            (mnt / "private").mkdir(0o700)
            (mnt / "private" / "f").write_bytes(b"f")
            secret = mnt / "secret"
            secret.write_bytes(b"s")
            secret.chmod(0o600)
            os.setxattr(secret, "user.k", b"v")
            (mnt / "tmp").mkdir()
            (mnt / "tmp").chmod(0o1777)
            (mnt / "tmp" / "rootfile").write_bytes(b"r")
            shared = mnt / "shared"
            shared.write_bytes(b"ok")
            os.setxattr(shared, pa.ACCESS_KEY, bob_r)
            out = subprocess.run(
                ["/usr/bin/python3", "-c", _USER_SCRIPT],
                cwd=mnt,
                user=1001,
                group=1001,
                extra_groups=[],
                capture_output=True,
                text=True,
                timeout=60,
                env={"ACL": bob_rw.hex(), "PATH": "/usr/bin:/bin"},
            )
            assert out.returncode == 0, out.stderr
            got = json.loads(out.stdout)
            assert secret.stat().st_mode & 0o7777 == 0o600 and secret.read_bytes() == b"s"
            assert (mnt / "tmp" / "rootfile").exists()
    e = errno
    assert got == {
        "listdir_private": e.EACCES,
        "read_secret": e.EACCES,
        "getxattr_secret": e.EACCES,
        "setxattr_secret": e.EACCES,
        "set_acl_secret": e.EPERM,
        "write_secret": e.EACCES,
        "unlink_sticky_rootfile": e.EACCES,
        "read_shared_by_acl": 0,
        "create_in_tmp": 0,
    }, got
