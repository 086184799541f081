"""``gfrpc cp -r`` and the Unix-like commands against a real GlusterFS 10.3 volume, checked
through the real FUSE client mounted on the same volume: what gfrpc copies in, ``diff -r``
finds equal (with modes and times under ``-p``); what ``cp -r`` wrote through FUSE, gfrpc
copies out whole; and ``gfrpc du``/``ls -l``/``find`` print what ``du``/``ls -l``/``find``
print on the mount."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gfrpc.cli import main
from gfrpc.testing.realgluster import GlusterD, GlusterVolume

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cli"))
from cli_volume_support import make_tree  # noqa: E402

pytestmark = pytest.mark.timeout(120)
C_LOCALE = {**os.environ, "LC_ALL": "C"}


@pytest.fixture
def mounted(glusterd: GlusterD, gluster_volume: GlusterVolume) -> Iterator[tuple[str, Path]]:
    """(the volume's gluster:// URL of a fresh directory, the same directory on a FUSE mount)."""
    name = f"cp-{uuid.uuid4().hex[:8]}"
    with glusterd.fuse_mount(gluster_volume.client_volfile()) as mnt:
        (mnt / name).mkdir()
        yield f"gluster://127.0.0.1/{gluster_volume.name}/{name}", mnt / name


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env=C_LOCALE, timeout=60)


def test_cp_r_in_and_out_agree_with_fuse(mounted: tuple[str, Path], tmp_path: Path) -> None:
    """Rule: a tree `gfrpc cp -r -p` put in a real volume is, seen through FUSE, `diff -r`
    equal to its source, with the same modes and mtimes; a tree `cp -r` wrote through FUSE
    comes out of `gfrpc cp -r` `diff -r` equal."""
    url, mnt = mounted
    src = make_tree(tmp_path / "src")
    os.utime(src / "sub" / "a.txt", ns=(1_500_000_000_000_000_000, 1_500_000_000_123_456_789))
    assert main(["cp", "-r", "-p", str(src), f"{url}/in"]) == 0
    diff = run("diff", "-r", "--no-dereference", str(src), str(mnt / "in"))
    assert diff.returncode == 0, diff.stdout + diff.stderr
    for p in [*src.rglob("*")]:
        if not p.is_symlink():
            a, b = p.stat(), (mnt / "in" / p.relative_to(src)).stat()
            assert (a.st_mode, a.st_mtime_ns) == (b.st_mode, b.st_mtime_ns), p
    other = make_tree(tmp_path / "other")
    assert run("cp", "-r", str(other), str(mnt / "fuse-made")).returncode == 0
    assert main(["cp", "-r", f"{url}/fuse-made", str(tmp_path / "out")]) == 0
    diff = run("diff", "-r", "--no-dereference", str(other), str(tmp_path / "out"))
    assert diff.returncode == 0, diff.stdout + diff.stderr


def test_du_ls_find_print_what_they_print_on_fuse(
    mounted: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rule: gfrpc du (plain, -s, -h), ls -l and find print, for a tree in a real volume,
    what du, ls -l and find print for it on a FUSE mount (paths aside)."""
    url, mnt = mounted
    src = make_tree(tmp_path / "src")
    assert main(["cp", "-r", "-p", str(src), f"{url}/t"]) == 0
    checks = [
        (["du", f"{url}/t"], ["du", str(mnt / "t")]),
        (["du", "-s", f"{url}/t"], ["du", "-s", str(mnt / "t")]),
        (["du", "-h", f"{url}/t"], ["du", "-h", str(mnt / "t")]),
        (["ls", "-l", f"{url}/t"], ["ls", "-l", str(mnt / "t")]),
        (["ls", "-l", f"{url}/t/sub"], ["ls", "-l", str(mnt / "t" / "sub")]),
        (["find", f"{url}/t"], ["find", str(mnt / "t")]),
        (["find", f"{url}/t", "-name", "*.txt"], ["find", str(mnt / "t"), "-name", "*.txt"]),
    ]
    for ours, theirs in checks:
        capsys.readouterr()
        assert main(ours) == 0, ours
        mine = capsys.readouterr().out.splitlines()
        real = run(*theirs)
        assert real.returncode == 0, real.stderr
        expected = [line.replace(str(mnt), url) for line in real.stdout.splitlines()]
        if ours[0] == "ls":
            assert mine == expected, ours
        else:
            assert sorted(mine) == sorted(expected), ours
