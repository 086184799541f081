"""``gfrpc du``, ``find``, ``tree``, ``cat``, ``mv`` and ``ls -l`` (gfrpc.cli.tree_tools and
files): the output of their Unix namesakes, checked against the real ``du``, ``find`` and
``ls`` run on the same tree (the brick's own directory, or a local copy), and against exact
text for ``tree`` (not installed here)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_volume_support import CliVolume, gfrpc_volume, make_tree

from gfrpc.cli import main
from gfrpc.cli.files import ls_time, ls_total
from gfrpc.cli.tree_tools import human_size
from gfrpc.client import Volume

pytestmark = pytest.mark.timeout(60)
C_LOCALE = {**os.environ, "LC_ALL": "C"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CliVolume, Path, Path]]:
    """A one-brick volume holding make_tree's tree at /t (copied with -p), the local source,
    and the tree's directory inside the brick."""
    root = tmp_path_factory.mktemp("tree-tools")
    src = make_tree(root / "src")
    aligned = root / "aligned"  # whole 4 KiB blocks: st_blocks = ceil(size / 512), see du
    (aligned / "x" / "y").mkdir(parents=True)
    for rel, size in (("a", 4096), ("x/b", 3 * 8192), ("x/y/c", 1 << 20), ("x/y/e", 0)):
        (aligned / rel).write_bytes(os.urandom(size))
    (aligned / "x" / "l").symlink_to("../a")
    with gfrpc_volume(root, "tt") as v:
        assert main(["cp", "-r", "-p", "-q", str(src), v / "t"]) == 0
        assert main(["cp", "-r", "-p", "-q", str(aligned), v / "al"]) == 0
        yield v, src, v.bricks[0]


def run(*argv: str) -> list[str]:
    out = subprocess.run(argv, capture_output=True, text=True, env=C_LOCALE, check=True)
    return out.stdout.splitlines()


def ours(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("flags", [[], ["-s"], ["-h"], ["-sh"]])
def test_du_matches_gnu_du(
    tree: tuple[CliVolume, Path, Path], capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    """Rule: du prints what GNU du prints for the same inodes (the brick's directory): 1K
    blocks rounded up from st_blocks, every directory post-order, -s totals, -h sizes. (The
    files fill whole blocks: a brick reports at most ceil(size / 512) blocks, as GlusterFS's
    posix does, so du on a partly filled last block differs from du on the brick; the
    interop test compares with du on a FUSE mount instead.)"""
    v, _, brick = tree
    url = v / "al"
    mine = ours(capsys, "du", *flags, url)
    real = [line.replace(str(brick / "al"), url) for line in run("du", *flags, str(brick / "al"))]
    assert sorted(mine) == sorted(real)
    assert mine[-1] == real[-1]  # the total of the operand comes last


def test_human_sizes_round_up_like_gnu() -> None:
    """Rule: -h sizes use powers of 1024, one decimal below 10, rounded up."""
    cases = {0: "0", 1023: "1023", 1024: "1.0K", 1025: "1.1K", 4096: "4.0K", 10 * 1024: "10K"}
    cases |= {10 * 1024 - 1: "10K", 1024**2: "1.0M", 1024**2 - 1: "1.0M", 5 * 1024**3: "5.0G"}
    assert {n: human_size(n) for n in cases} == cases


@pytest.mark.parametrize(
    "flags", [[], ["-name", "*.txt"], ["-type", "d"], ["-type", "f"], ["-type", "l"]]
)
def test_find_matches_find(
    tree: tuple[CliVolume, Path, Path], capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    """Rule: find prints the start point and the paths below it as find does, filtered by
    -name (base-name glob) and -type f|d|l."""
    v, src, _ = tree
    url = v / "t"
    mine = ours(capsys, "find", url, *flags)
    real = [line.replace(str(src), url, 1) for line in run("find", str(src), *flags)]
    assert sorted(mine) == sorted(real)


def test_tree_draws_like_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Rule: tree prints the operand, then box-drawing lines in name order without dot
    files, `name -> target` for links, and `N directories, M files` (singular for one)."""
    with gfrpc_volume(tmp_path, "tr") as v, Volume.connect(v.url) as vol:
        vol.makedirs("/t/b/d")
        vol.makedirs("/t/e")
        for p in ("/t/a.txt", "/t/b/c.txt", "/t/.hidden", "/t/e/f"):
            vol.write_bytes(p, b"x")
        vol.symlink("a.txt", "/t/z")
        url = v / "t"
        assert ours(capsys, "tree", url) == [
            url,
            "├── a.txt",
            "├── b",
            "│   ├── c.txt",
            "│   └── d",
            "├── e",
            "│   └── f",
            "└── z -> a.txt",
            "",
            "3 directories, 4 files",
        ]
        assert ours(capsys, "tree", v / "t/e")[-1] == "0 directories, 1 file"
        assert ours(capsys, "tree", v / "t/b/d")[-1] == "0 directories, 0 files"


def test_cat_concatenates_and_reports_a_missing_file(
    tree: tuple[CliVolume, Path, Path], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """Rule: cat writes the files in order; a missing one is one line on stderr and the
    others are still written (exit 1)."""
    v, src, _ = tree
    code = main(["cat", v / "t/small.txt", v / "t/nope", v / "t/big.bin"])
    out, err = capsysbinary.readouterr()
    assert code == 1
    assert out == (src / "small.txt").read_bytes() + (src / "big.bin").read_bytes()
    assert err.decode().splitlines() == [f"gfrpc cat: {v / 't/nope'}: No such file or directory"]


def test_mv_renames_and_moves_into_directories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rule: mv renames inside the volume; an existing directory receives the sources by
    name; DEST may be a plain /path in the same volume; a missing source is one line."""
    with gfrpc_volume(tmp_path, "mv") as v, Volume.connect(v.url) as vol:
        vol.makedirs("/d")
        for name in ("a", "b", "c"):
            vol.write_bytes(f"/{name}", name.encode())
        assert main(["mv", v / "a", v / "a2"]) == 0
        assert main(["mv", v / "a2", v / "b", v / "d"]) == 0
        assert main(["mv", v / "c", "/d/c3"]) == 0
        assert sorted(vol.listdir("/d")) == ["a2", "b", "c3"]
        assert vol.read_bytes("/d/c3") == b"c"
        capsys.readouterr()
        assert main(["mv", v / "gone", v / "d"]) == 1
        assert capsys.readouterr().err.splitlines() == [
            f"gfrpc mv: cannot stat '{v / 'gone'}': No such file or directory"
        ]


def test_ls_l_matches_ls_l(
    tree: tuple[CliVolume, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Rule: `ls -l` prints what GNU `ls -l` prints for the same tree copied with -p: mode,
    links, owner and group names, size, time, name and `-> target`, columns aligned, after a
    `total` line (its value is checked against a FUSE mount in the interop test: a brick
    reports fewer blocks than the local file system for a partly filled last block)."""
    v, src, _ = tree
    for sub in ("", "/sub"):
        mine = ours(capsys, "ls", "-l", v / f"t{sub}")
        real = run("ls", "-l", f"{src}{sub}")
        assert mine[0].startswith("total ") and real[0].startswith("total ")
        assert mine[1:] == real[1:]


def test_ls_time_column() -> None:
    """Rule: the time column is `%b %e %H:%M` within six months, `%b %e  %Y` when older or
    in the future."""
    now = time.mktime((2026, 12, 1, 12, 0, 0, 0, 0, -1))
    recent = time.mktime((2026, 11, 3, 9, 5, 0, 0, 0, -1))
    old = time.mktime((2020, 3, 14, 9, 5, 0, 0, 0, -1))
    assert ls_time(recent, now) == "Nov  3 09:05"
    assert ls_time(old, now) == "Mar 14  2020"
    assert ls_time(now + 3600, now) == "Dec  1  2026"


def test_ls_total_rounds_the_sum_up() -> None:
    """Rule: the `total` line adds the 512-byte blocks first and then rounds up to 1K blocks
    (what GNU ls printed on a FUSE mount for entries of 6145, 1, 0, 8, 8 and 1 blocks)."""
    assert ls_total([6145, 1, 0, 8, 8, 1]) == 3082
    assert ls_total([1, 1]) == 1
    assert ls_total([]) == 0
