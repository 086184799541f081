"""A gfrpc volume for the file-command tests: an in-process mgmtd on a free loopback port and
N gfrpc bricks signed in to it, so ``gluster://127.0.0.1:PORT/NAME`` URLs work as with glusterd.
Also a sample tree (files of several sizes, an empty file, a nested directory, a symlink) and
a helper to compare two local trees the way ``diff -r`` does."""

from __future__ import annotations

import filecmp
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from gfrpc.services.brick import BrickConfig, BrickServer
from gfrpc.services.mgmt import MgmtConfig, MgmtServer, parse_volume_arg
from gfrpc.testing.waiting import wait_for


@dataclass
class CliVolume:
    url: str  # gluster://127.0.0.1:PORT/NAME
    bricks: list[Path]

    def __truediv__(self, path: str) -> str:
        return f"{self.url}/{path.lstrip('/')}"


@contextmanager
def gfrpc_volume(root: Path, name: str = "cv", bricks: int = 1) -> Iterator[CliVolume]:
    """A ``bricks``-brick distribute volume ``name`` with directories under ``root``."""
    dirs = [root / f"{name}-b{i}" for i in range(bricks)]
    spec = parse_volume_arg(f"{name}=127.0.0.1:" + ",127.0.0.1:".join(str(d) for d in dirs))
    with ExitStack() as stack:
        mgmtd = MgmtServer(MgmtConfig(volumes=[spec], port=0, host="127.0.0.1", poller="single"))
        mgmtd.start()
        stack.callback(mgmtd.stop)
        port = int(mgmtd.listener.address.port)  # type: ignore[union-attr]
        for d in dirs:
            d.mkdir(parents=True)
            b = BrickServer(
                BrickConfig(
                    directory=str(d),
                    port=0,
                    host="127.0.0.1",
                    volname=name,
                    poller="single",
                    mgmt=f"127.0.0.1:{port}",
                )
            )
            b.start()
            stack.callback(b.stop)

            def signed_in(b: BrickServer = b) -> bool:
                return bool(mgmtd.registry.port_of(b.config.brick_path) == b.identity.port)

            wait_for(signed_in, 10.0, "the brick's sign-in")
        yield CliVolume(f"gluster://127.0.0.1:{port}/{name}", dirs)


def make_tree(top: Path) -> Path:
    """A small tree with the shapes a copy must keep; returns ``top``."""
    (top / "sub" / "deeper").mkdir(parents=True)
    (top / "empty-dir").mkdir()
    (top / "big.bin").write_bytes(os.urandom(3 * (1 << 20) + 17))
    (top / "small.txt").write_text("hello\n")
    (top / "empty").write_bytes(b"")
    (top / "sub" / "a.txt").write_text("a" * 5000)
    (top / "sub" / "deeper" / "b.dat").write_bytes(os.urandom(70_000))
    (top / "sub" / "run.sh").write_text("#!/bin/sh\n")
    (top / "sub" / "run.sh").chmod(0o755)
    (top / "link-to-small").symlink_to("small.txt")
    (top / "sub" / "dangling").symlink_to("../nowhere")
    return top


def same_tree(a: Path, b: Path) -> list[str]:
    """What ``diff -r`` (without following links) would report: missing names, differing
    contents, differing link targets; empty when the trees are equal."""
    problems: list[str] = []

    def walk(x: Path, y: Path) -> None:
        nx, ny = sorted(os.listdir(x)), sorted(os.listdir(y))
        if nx != ny:
            problems.append(f"{x} vs {y}: {nx} != {ny}")
        for n in set(nx) & set(ny):
            px, py = x / n, y / n
            if px.is_symlink() or py.is_symlink():
                if not (px.is_symlink() and py.is_symlink()) or os.readlink(px) != os.readlink(py):
                    problems.append(f"link {px} vs {py}")
            elif px.is_dir() and py.is_dir():
                walk(px, py)
            elif not (px.is_file() and py.is_file() and filecmp.cmp(px, py, shallow=False)):
                problems.append(f"content {px} vs {py}")

    walk(a, b)
    return problems
