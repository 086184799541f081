"""Random file-system calls through two real FUSE mounts, one of a glusterfsd 10.3 brick and
one of a gfrpc brick: each call (mkdir, open/create, write, read, rename, link, symlink,
unlink, rmdir, chmod, truncate, listdir, stat, xattrs, fcntl locks) must succeed or fail with
the same errno on both, and answer the same content. Unlike the raw-call comparisons, the
calls here go through the real client's whole graph (md-cache, quick-read, write-behind...) as
an application's would. It runs without TLS and, with a third of the sequences, with TLS on
both mounts. Seeded and replayable (``GFRPC_FUSE_DIFF_SEED``,
``GFRPC_FUSE_DIFF_SEQUENCES``)."""

from __future__ import annotations

import errno
import fcntl
import os
import pickle
import random
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from differential_support import first_differences
from gfrpc_daemons_support import gfrpc_brick

from gfrpc.testing.realgluster import GlusterD, GlusterVolume, client_volfile

pytestmark = pytest.mark.timeout(600)

SEED = int(os.environ.get("GFRPC_FUSE_DIFF_SEED", "80"))
SEQUENCES = int(os.environ.get("GFRPC_FUSE_DIFF_SEQUENCES", "30"))
ONLY = int(os.environ["GFRPC_FUSE_DIFF_ONLY"]) if "GFRPC_FUSE_DIFF_ONLY" in os.environ else None
NAMES = ("a", "b", "c")
PATHS = [*NAMES, *(f"{d}/{n}" for d in NAMES[:2] for n in NAMES)]
OPS = (
    "mkdir", "create", "write", "append", "read", "rename", "link", "symlink", "unlink",
    "rmdir", "chmod", "truncate", "listdir", "stat", "lstat", "setxattr", "getxattr",
    "listxattr", "removexattr", "readlink", "lock", "utime", "chown", "access", "fallocate",
    "open_trunc",
)  # fmt: skip
#: modes, sizes and offsets; a mode's low bits are also access(2)'s question, and its parity
#: chown's new owner (root or the user)
NUMBERS = (0, 0o644, 0o755, 0o600, 0o1777, 100, 4096, 0o4755, 0o2775)
USER = 1000
PREFIX = (("mkdir", "a", "", 0o755), ("mkdir", "b", "", 0o700), ("create", "a/a", "", 0o644))


def _plan(rng: random.Random) -> list[tuple[Any, ...]]:
    steps: list[tuple[Any, ...]] = list(PREFIX)
    for _ in range(30):
        steps.append(
            (
                rng.choice(OPS),
                rng.choice(PATHS),
                rng.choice(PATHS),
                rng.choice(NUMBERS),
            )
        )
    return steps


def _summary(st: os.stat_result) -> tuple[int, ...]:
    """What two mounts' stats of the same entry must share (not inode numbers or times)."""
    size = 0 if stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode) else st.st_size
    return (st.st_mode, st.st_nlink, st.st_uid, st.st_gid, size)


def _call(top: Path, op: str, path: str, path2: str, number: int, follow: bool = False) -> object:
    """One call; ``follow``: the xattr calls and utime follow a symlink (as ``os``'s do by
    default and gfrpc's client library does), else they act on the link."""
    p, q = top / path, top / path2
    if op == "mkdir":
        os.mkdir(p, number & 0o7777)
        return _summary(os.lstat(p))
    if op == "create":
        fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, number & 0o7777)
        os.close(fd)
        return _summary(os.lstat(p))
    if op in ("write", "append"):
        flags = os.O_WRONLY | (os.O_APPEND if op == "append" else 0)
        fd = os.open(p, flags)
        try:
            if op == "write":
                os.pwrite(fd, b"x" * (number % 97 + 1), number % 5000)
            else:
                os.write(fd, b"tail")
        finally:
            os.close(fd)
        return _summary(os.stat(p))
    if op == "read":
        with open(p, "rb") as f:
            return f.read(8192)
    if op == "rename":
        os.rename(p, q)
        return None
    if op == "link":
        os.link(p, q)
        return _summary(os.lstat(q))
    if op == "symlink":
        os.symlink(path2, p)
        return os.readlink(p)
    if op == "unlink":
        os.unlink(p)
        return None
    if op == "rmdir":
        os.rmdir(p)
        return None
    if op == "chmod":
        os.chmod(p, number & 0o7777)
        return _summary(os.stat(p))
    if op == "truncate":
        os.truncate(p, number)
        return _summary(os.stat(p))
    if op == "listdir":
        return sorted(os.listdir(p))
    if op == "stat":
        return _summary(os.stat(p))
    if op == "lstat":
        return _summary(os.lstat(p))
    if op == "setxattr":
        os.setxattr(p, "user.diff", str(number).encode(), follow_symlinks=follow)
        return None
    if op == "getxattr":
        return os.getxattr(p, "user.diff", follow_symlinks=follow)
    if op == "listxattr":
        return sorted(k for k in os.listxattr(p, follow_symlinks=follow) if k.startswith("user."))
    if op == "removexattr":
        os.removexattr(p, "user.diff", follow_symlinks=follow)
        return None
    if op == "readlink":
        return os.readlink(p)
    if op == "lock":
        fd = os.open(p, os.O_RDWR)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, number % 100)
            fcntl.lockf(fd, fcntl.LOCK_UN, 10, number % 100)
        finally:
            os.close(fd)
        return None
    if op == "utime":
        os.utime(p, (number, number), follow_symlinks=follow)
        st = os.stat(p) if follow else os.lstat(p)
        return (st.st_mtime, _summary(st))
    if op == "chown":
        owner = USER if number % 2 else 0
        os.chown(p, owner, owner, follow_symlinks=follow)
        return _summary(os.stat(p) if follow else os.lstat(p))
    if op == "access":
        return os.access(p, number & 7)
    if op in ("fallocate", "open_trunc"):
        fd = os.open(p, os.O_WRONLY | (os.O_TRUNC if op == "open_trunc" else 0))
        try:
            if op == "fallocate":
                os.posix_fallocate(fd, number % 5000, number % 3000)
        finally:
            os.close(fd)
        return _summary(os.stat(p))
    raise AssertionError(op)


def _calls(top: Path, plan: list[tuple[Any, ...]], follow: bool = False) -> list[object]:
    out: list[object] = []
    for op, path, path2, number in plan:
        try:
            out.append(("ok", _call(top, op, path, path2, number, follow)))
        except OSError as e:
            out.append(("error", errno.errorcode.get(e.errno or 0, e.errno)))
    return out


def _run(mnt: Path, plan: list[tuple[Any, ...]], uid: int = 0) -> list[object]:
    """The plan's answers, in a new directory (0777) of the mount, as ``uid`` (gid the same):
    for a user, root makes the plan's first entries (``PREFIX``: a directory of 0755, one of
    0700, a file of 0644) and the rest runs in a child process that has become that user."""
    top = mnt / f"fd-{uuid.uuid4().hex[:8]}"
    top.mkdir()
    top.chmod(0o777)
    if uid == 0:
        return _calls(top, plan)
    first = _calls(top, plan[: len(PREFIX)])
    plan = plan[len(PREFIX) :]
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become the user, run, send the answers, leave at once
        code = 1
        try:
            os.close(reader)
            os.chdir(top)  # as root: the mount's parents are private to root
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            with os.fdopen(writer, "wb") as w:
                pickle.dump(_calls(Path("."), plan), w)
            code = 0
        finally:
            os._exit(code)
    os.close(writer)
    with os.fdopen(reader, "rb") as r:
        data = r.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0 and data, f"the child running as {uid} failed ({status})"
    answers: list[object] = pickle.loads(data)
    return first + answers


@pytest.fixture(scope="module", params=["plain", "tls"])
def mounts(
    request: pytest.FixtureRequest,
    glusterd: GlusterD,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, Path, int]]:
    """A FUSE mount of the real one-brick volume and one of a gfrpc brick, with the same
    hand-written client graph, both over TLS for the "tls" variant (the TLS volume, and a
    gfrpc brick with the same certificates that allows the test client's CN); and the number
    of sequences to run (a third with TLS: the calls are the same, only the transport differs)."""
    tls = request.param == "tls"
    vol: GlusterVolume = request.getfixturevalue("gluster_volume_tls" if tls else "gluster_volume")
    extra: list[str] = []
    client_tls = None
    if tls:
        material = request.getfixturevalue("interop_tls")
        extra = ["--tls", "--tls-dir", str(material.server.dir)]
        extra += ["--ssl-allow", material.client.cn]
        client_tls = material.client.dir
    work = tmp_path_factory.mktemp("fuse-diff")
    with (
        glusterd.fuse_mount(vol.client_volfile(), timeout=30) as real,
        gfrpc_brick(work, "sharded", *extra) as brick,
    ):
        volfile = client_volfile(
            remote_port=brick.port,
            remote_subvolume=str(brick.path),
            tls_dir=client_tls,
            name="fusediff-client-0",
        )
        with glusterd.fuse_mount(volfile, timeout=30) as mine:
            yield real, mine, max(1, SEQUENCES // 3) if tls else SEQUENCES


@pytest.mark.parametrize("uid", [0, 1000], ids=["root", "user"])
def test_random_calls_through_fuse_agree(mounts: tuple[Path, Path, int], uid: int) -> None:
    """Rule: the same file-system calls through a real FUSE mount, by root and by a user,
    succeed or fail alike, and answer the same content, on a glusterfsd brick and on a gfrpc
    brick, over TLS too."""
    real, mine, sequences = mounts
    failures = first_differences(
        SEED,
        sequences,
        _plan,
        lambda plan: _run(real, plan, uid),
        lambda plan: _run(mine, plan, uid),
        ONLY,
    )
    assert not failures, "\n".join(failures)
