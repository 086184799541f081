"""gfrpc's client library against the kernel's FUSE client, on the same real glusterfsd 10.3
brick: the random file-system sequences of test_fuse_differential_interop.py, made once with
``os`` calls through a real FUSE mount and once with the ``gfrpc.client.Volume`` calls that
mean the same, must succeed or fail with the same errno and answer the same content. So the
client library answers as an application on a mount would see it. It runs once on the plain
volume and once, with a third of the sequences, on the TLS volume (both sides over TLS).
Seeded and replayable (``GFRPC_CLIENT_DIFF_SEED``, ``GFRPC_CLIENT_DIFF_SEQUENCES``)."""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from differential_support import first_differences
from test_fuse_differential_interop import USER, _calls, _plan, _summary

from gfrpc.client import Volume
from gfrpc.testing.realgluster import GlusterD, GlusterVolume

pytestmark = pytest.mark.timeout(600)

SEED = int(os.environ.get("GFRPC_CLIENT_DIFF_SEED", "80"))
SEQUENCES = int(os.environ.get("GFRPC_CLIENT_DIFF_SEQUENCES", "30"))
ONLY = int(os.environ["GFRPC_CLIENT_DIFF_ONLY"]) if "GFRPC_CLIENT_DIFF_ONLY" in os.environ else None
UMASK = 0o022  # the FUSE side's process umask; the library applies none of its own


def _volume_call(v: Any, top: str, op: str, path: str, path2: str, number: int) -> object:
    """The ``Volume`` calls that mean what test_fuse_differential_interop's ``_call`` does."""
    p, q = f"{top}/{path}", f"{top}/{path2}"
    if op == "mkdir":
        v.mkdir(p, number & 0o7777 & ~UMASK)
        return _summary(v.lstat(p))
    if op == "create":
        with v.open(p, "xb"):
            pass
        # open(2)'s mode, made a chmod: a brick gives a new file no set-id bits of a CREATE
        v.chmod(p, number & 0o1777 & ~UMASK)
        return _summary(v.lstat(p))
    if op == "write":
        with v.open(p, "r+b") as f:
            f.seek(number % 5000)
            f.write(b"x" * (number % 97 + 1))
        return _summary(v.stat(p))
    if op == "append":
        v.stat(p)  # the mount's side opens O_WRONLY|O_APPEND: no file is made
        with v.open(p, "ab") as f:
            f.write(b"tail")
        return _summary(v.stat(p))
    if op == "read":
        with v.open(p, "rb") as f:
            return f.read(8192)
    if op == "rename":
        v.rename(p, q)
        return None
    if op == "link":
        v.link(p, q)
        return _summary(v.lstat(q))
    if op == "symlink":
        v.symlink(path2, p)
        return v.readlink(p)
    if op == "unlink":
        v.unlink(p)
        return None
    if op == "rmdir":
        v.rmdir(p)
        return None
    if op == "chmod":
        v.chmod(p, number & 0o7777)
        return _summary(v.stat(p))
    if op == "truncate":
        v.truncate(p, number)
        return _summary(v.stat(p))
    if op == "listdir":
        return sorted(v.listdir(p))
    if op == "stat":
        return _summary(v.stat(p))
    if op == "lstat":
        return _summary(v.lstat(p))
    if op == "setxattr":
        v.setxattr(p, "user.diff", str(number).encode())
        return None
    if op == "getxattr":
        return v.getxattr(p, "user.diff")
    if op == "removexattr":
        v.removexattr(p, "user.diff")
        return None
    if op == "readlink":
        return v.readlink(p)
    if op == "utime":
        v.utime(p, (number, number))
        st = v.stat(p)
        return (st.st_mtime, _summary(st))
    if op == "chown":
        owner = USER if number % 2 else 0
        v.chown(p, owner, owner)
        return _summary(v.stat(p))
    if op == "open_trunc":
        with v.open(p, "r+b") as f:
            f.truncate(0)
        return _summary(v.stat(p))
    return "not compared"  # listxattr, access and fcntl locks: the library has no such call


def _client_plan(rng: Any) -> list[tuple[Any, ...]]:
    """The FUSE test's plan, with its fallocate calls made access calls (not compared): the
    library has no fallocate, and a call made on one side only would part the two."""
    return [("access", *step[1:]) if step[0] == "fallocate" else step for step in _plan(rng)]


def _volume_calls(v: Any, plan: list[tuple[Any, ...]]) -> list[object]:
    top = f"/cd-{uuid.uuid4().hex[:8]}"
    v.mkdir(top, 0o777)
    out: list[object] = []
    for op, path, path2, number in plan:
        try:
            out.append(("ok", _volume_call(v, top, op, path, path2, number)))
        except OSError as e:
            out.append(("error", errno.errorcode.get(e.errno or 0, e.errno)))
    return out


def _mount_calls(mnt: Path, plan: list[tuple[Any, ...]]) -> list[object]:
    top = mnt / f"cd-{uuid.uuid4().hex[:8]}"
    top.mkdir()
    answers = _calls(top, plan, follow=True)
    return [
        ("ok", "not compared") if step[0] in ("listxattr", "lock", "access") else a
        for step, a in zip(plan, answers, strict=True)
    ]


@pytest.fixture(scope="module", params=["plain", "tls"])
def mount_and_volume(
    request: pytest.FixtureRequest, glusterd: GlusterD
) -> Iterator[tuple[Path, Any, int]]:
    """A FUSE mount and a ``Volume`` of one real brick, both over TLS on the TLS volume, and
    the number of sequences to run there (the TLS one takes a third: the calls are the same,
    only the transport differs)."""
    tls = request.param == "tls"
    vol: GlusterVolume = request.getfixturevalue("gluster_volume_tls" if tls else "gluster_volume")
    old = os.umask(UMASK)
    try:
        with (
            glusterd.fuse_mount(vol.client_volfile(), timeout=30) as mnt,
            Volume.connect_brick(
                "127.0.0.1",
                vol.port,
                str(vol.brick_path),
                vol.name,
                tls=vol.tls_dir if tls else None,
            ) as volume,
        ):
            yield mnt, volume, max(1, SEQUENCES // 3) if tls else SEQUENCES
    finally:
        os.umask(old)


def test_the_client_library_answers_as_a_fuse_mount(
    mount_and_volume: tuple[Path, Any, int],
) -> None:
    """Rule: the same file-system sequences get the same errno and content through gfrpc's
    client library as through the kernel's FUSE client, on the same glusterfsd brick, over
    TLS too."""
    mnt, volume, sequences = mount_and_volume
    failures = first_differences(
        SEED,
        sequences,
        _client_plan,
        lambda plan: _mount_calls(mnt, plan),
        lambda plan: _volume_calls(volume, plan),
        ONLY,
    )
    assert not failures, "\n".join(failures)
