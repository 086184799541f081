"""``gfrpc cp``, ``put -r``, ``get -r`` and the progress bar (gfrpc.cli.transfer, progress and
gfrpc.client.transfer), against gfrpc bricks behind an in-process mgmtd (gluster:// URLs)."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_volume_support import CliVolume, gfrpc_volume, make_tree, same_tree

from gfrpc.cli import main
from gfrpc.cli.progress import BarProgress, NullProgress, make_progress, wants_bar
from gfrpc.client import Volume
from gfrpc.client.transfer import CopyOptions, LocalStore, Location, VolumeStore, copy
from gfrpc.testing import need

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def vol(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliVolume]:
    """A two-brick distribute volume (files spread by DHT)."""
    with gfrpc_volume(tmp_path_factory.mktemp("bricks"), "tv", bricks=2) as v:
        yield v


def err_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_tree_round_trip_local_volume_local(
    vol: CliVolume, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rule: `cp -r` local → volume → local gives a tree `diff -r` calls equal (contents,
    names, empty files and directories), symbolic links (dangling too) stay links with the
    same target, and an executable keeps its x bits without -p; nothing on stderr off a TTY."""
    src = make_tree(tmp_path / "src")
    assert main(["cp", "-r", str(src), vol / "rt"]) == 0
    assert main(["cp", "-r", vol / "rt", str(tmp_path / "back")]) == 0
    assert capsys.readouterr().err == ""
    assert same_tree(src, tmp_path / "back") == []
    assert os.readlink(tmp_path / "back" / "sub" / "dangling") == "../nowhere"
    assert (tmp_path / "back" / "sub" / "run.sh").stat().st_mode & 0o111 == 0o111
    with Volume.connect(vol.url) as v:
        assert stat.S_ISLNK(v.lstat("/rt/link-to-small").st_mode)
        assert v.readlink("/rt/link-to-small") == "small.txt"
        assert v.stat("/rt/sub/run.sh").st_mode & 0o777 == 0o755


def test_preserve_keeps_modes_and_times(vol: CliVolume, tmp_path: Path) -> None:
    """Rule: with -p, files and directories keep their permission bits and their atime and
    mtime to the nanosecond, through the volume and back (directories too, though files were
    written into them after they were made)."""
    src = make_tree(tmp_path / "src")
    (src / "sub" / "a.txt").chmod(0o640)
    (src / "sub" / "deeper").chmod(0o750)
    stamp = 1_600_000_000_123_456_789
    for p in sorted(src.rglob("*"), reverse=True) + [src]:
        if not p.is_symlink():
            os.utime(p, ns=(stamp - 5_000, stamp))
            stamp += 1_000_000_007
    before = {p: p.stat() for p in [src, *src.rglob("*")] if not p.is_symlink()}
    assert main(["cp", "-r", "-p", str(src), vol / "keep"]) == 0
    assert main(["cp", "-rp", vol / "keep", str(tmp_path / "back")]) == 0
    with Volume.connect(vol.url) as v:
        assert v.stat("/keep/sub/a.txt").st_mode & 0o7777 == 0o640
        assert v.stat("/keep/sub").st_mtime_ns == (src / "sub").stat().st_mtime_ns
    for p, a in before.items():  # reading the source moved its atimes (relatime) since
        b = (tmp_path / "back" / p.relative_to(src)).stat()
        assert (stat.S_IMODE(a.st_mode), a.st_mtime_ns, a.st_atime_ns) == (
            stat.S_IMODE(b.st_mode),
            b.st_mtime_ns,
            b.st_atime_ns,
        ), p


def test_an_unreadable_file_is_one_error_and_the_rest_is_copied(
    vol: CliVolume, tmp_path: Path
) -> None:
    """Rule: a source file that cannot be opened is one line on stderr in GNU cp's words
    (`cannot open 'F' for reading: Permission denied`), every other file is still copied,
    and the exit code is 1. (Root runs the copy without CAP_DAC_OVERRIDE/READ_SEARCH, since
    root reads any file.)"""
    src = make_tree(tmp_path / "src")
    secret = src / "sub" / "secret"
    secret.write_text("no")
    secret.chmod(0)
    no_override: list[str] = []
    if os.geteuid() == 0:
        need(shutil.which("setpriv"), "setpriv (util-linux) drops root's file-access override")
        no_override = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    with Volume.connect(vol.url) as v:
        v.mkdir("/partial")
    out = subprocess.run(
        [*no_override, sys.executable, "-m", "gfrpc.cli", "cp", "-r", str(src), vol / "partial"],
        capture_output=True,
        text=True,
        timeout=40,
    )
    assert out.returncode == 1, out.stderr
    assert out.stderr.splitlines() == [
        f"gfrpc cp: cannot open '{secret}' for reading: Permission denied"
    ]
    with Volume.connect(vol.url) as v:
        copied = "/partial/src"
        assert v.read_bytes(f"{copied}/sub/a.txt") == (src / "sub" / "a.txt").read_bytes()
        assert v.read_bytes(f"{copied}/big.bin") == (src / "big.bin").read_bytes()
        assert v.readlink(f"{copied}/link-to-small") == "small.txt"
        assert not v.exists(f"{copied}/sub/secret")


def test_destination_rules_are_cps(
    vol: CliVolume, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rule: an existing directory DEST receives the sources by name; several sources need a
    directory; `cp -r dir new` makes new; a directory without -r is omitted, a missing
    source reported and a file is not copied onto itself, each as one GNU-worded line, while
    the other sources are copied."""
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("A")
    b.write_text("B")
    d = make_tree(tmp_path / "d")
    assert main(["mkdir", "-p", vol / "into"]) == 0
    assert main(["cp", str(a), str(b), vol / "into"]) == 0
    assert main(["cp", "-r", str(d), vol / "newname"]) == 0  # made, not d inside it
    assert main(["cp", "-r", str(d), vol / "newname"]) == 0  # now it exists: newname/d
    capsys.readouterr()
    assert main(["cp", str(a), str(b), vol / "into/a.txt"]) == 1
    assert err_lines(capsys) == [f"gfrpc cp: target '{vol / 'into/a.txt'}' is not a directory"]
    missing = tmp_path / "missing"
    assert main(["cp", str(missing), str(d), str(b), vol / "mixed"]) == 1
    assert err_lines(capsys) == [f"gfrpc cp: target '{vol / 'mixed'}': No such file or directory"]
    assert main(["mkdir", vol / "mixed"]) == 0
    assert main(["cp", str(missing), str(d), str(b), vol / "mixed"]) == 1
    assert err_lines(capsys) == [
        f"gfrpc cp: cannot stat '{missing}': No such file or directory",
        f"gfrpc cp: -r not specified; omitting directory '{d}'",
    ]
    assert main(["cp", vol / "into/a.txt", vol / "into"]) == 1
    assert err_lines(capsys) == [
        f"gfrpc cp: '{vol / 'into/a.txt'}' and '{vol / 'into/a.txt'}' are the same file"
    ]
    with Volume.connect(vol.url) as v:
        assert v.read_bytes("/into/a.txt") == b"A"
        assert sorted(v.listdir("/into")) == ["a.txt", "b.txt"]
        assert v.read_bytes("/newname/small.txt") == b"hello\n"
        assert v.read_bytes("/newname/d/small.txt") == b"hello\n"
        assert v.listdir("/mixed") == ["b.txt"]


def test_volume_to_volume(vol: CliVolume, tmp_path: Path) -> None:
    """Rule: both operands may be volumes (here two volumes of two daemons): the tree
    arrives whole."""
    src = make_tree(tmp_path / "src")
    assert main(["cp", "-r", str(src), vol / "v2v"]) == 0
    with gfrpc_volume(tmp_path / "other", "ov") as other:
        assert main(["cp", "-r", vol / "v2v", other / "copy"]) == 0
        assert main(["cp", "-r", other / "copy", str(tmp_path / "back")]) == 0
    assert same_tree(src, tmp_path / "back") == []


def test_put_and_get_take_directories_with_r(vol: CliVolume, tmp_path: Path) -> None:
    """Rule: `put -r LOCAL-DIR URL` and `get -r URL LOCAL-DIR` copy trees with cp's engine,
    and `get`/`put` of a single file still work as before."""
    src = make_tree(tmp_path / "src")
    assert main(["put", "-r", str(src), vol / "pt"]) == 0
    assert main(["get", "-r", vol / "pt", str(tmp_path / "got")]) == 0
    assert same_tree(src, tmp_path / "got") == []
    assert main(["get", vol / "pt/small.txt", str(tmp_path / "one")]) == 0
    assert (tmp_path / "one").read_text() == "hello\n"


class _CountingStore(LocalStore):
    """A local store that holds each open source until ``jobs`` are open at once."""

    def __init__(self, jobs: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(jobs, timeout=10)
        self.lock = threading.Lock()
        self.open_now = self.most = 0

    def open_read(self, path: str) -> object:
        with self.lock:
            self.open_now += 1
            self.most = max(self.most, self.open_now)
        self.barrier.wait()
        store = self

        class Counted(io.FileIO):
            def close(self) -> None:
                if not self.closed:
                    with store.lock:
                        store.open_now -= 1
                super().close()

        return Counted(path, "rb")


@pytest.mark.parametrize("jobs", [1, 3])
def test_jobs_is_the_number_of_files_in_flight(vol: CliVolume, tmp_path: Path, jobs: int) -> None:
    """Rule: --jobs N copies N files at once (all N meet at a barrier) and never more."""
    src = tmp_path / "many"
    src.mkdir()
    for i in range(3 * jobs):
        (src / f"f{i}").write_bytes(os.urandom(1000 + i))
    store = _CountingStore(jobs)
    with Volume.connect(vol.url) as v:
        failures = copy(
            [Location(store, str(src), str(src))],
            Location(VolumeStore(v), f"/jobs{jobs}", "dst"),
            CopyOptions(recursive=True, jobs=jobs),
        )
        assert failures == 0
        assert sorted(v.listdir(f"/jobs{jobs}")) == sorted(os.listdir(src))
    assert store.most == jobs
    assert main(["cp", "-r", "--jobs", str(jobs), str(src), vol / f"cli-jobs{jobs}"]) == 0


def test_progress_bar_only_on_a_terminal() -> None:
    """Rule: a bar is wanted on a TTY only, never with --quiet; off a TTY, or quiet, the
    copy gets a progress that draws nothing."""

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert wants_bar(False, Tty()) is True
    assert wants_bar(True, Tty()) is False
    assert wants_bar(False, io.StringIO()) is False
    assert isinstance(make_progress(False, stream=io.StringIO()), NullProgress)
    assert isinstance(make_progress(True, stream=Tty()), NullProgress)
    assert isinstance(make_progress(False, stream=Tty()), BarProgress)


def test_progress_counts_bytes_and_files(vol: CliVolume, tmp_path: Path) -> None:
    """Rule: the bar's counts end at files done = total (links count as files) and bytes
    done = total, and what it draws says `N/N files`."""
    from rich.console import Console

    src = make_tree(tmp_path / "src")
    regular = [p for p in src.rglob("*") if p.is_file() and not p.is_symlink()]
    links = [p for p in src.rglob("*") if p.is_symlink()]
    screen = io.StringIO()
    bar = make_progress(False, console=Console(file=screen, force_terminal=True, width=120))
    assert isinstance(bar, BarProgress)
    with Volume.connect(vol.url) as v:
        failures = copy(
            [Location(LocalStore(), str(src), str(src))],
            Location(VolumeStore(v), "/progress", "dst"),
            CopyOptions(recursive=True),
            progress=bar,
        )
    assert failures == 0
    n = len(regular) + len(links)
    assert (bar.files_done, bar.files_total) == (n, n)
    assert bar.bytes_done == bar.bytes_total == sum(p.stat().st_size for p in regular)
    assert f"{n}/{n} files" in screen.getvalue()


def test_errors_go_above_the_bar(vol: CliVolume, tmp_path: Path) -> None:
    """Rule: while a bar is drawn, an error line is printed through the bar's console (above
    it, not through it), still worded `gfrpc cp: ...`, and the exit code is 1."""
    from rich.console import Console

    from gfrpc.cli import build_parser
    from gfrpc.cli.transfer import run_copy

    (tmp_path / "ok").write_text("ok")
    screen = io.StringIO()
    args = build_parser().parse_args(["cp", "x", "y"])
    with Volume.connect(vol.url) as v:
        code = run_copy(
            args,
            [Location(LocalStore(), str(tmp_path / p), p) for p in ("ok", "missing")],
            Location(VolumeStore(v), "/", "dst"),
            console=Console(file=screen, force_terminal=True, width=200),
        )
    assert code == 1
    assert "gfrpc cp: cannot stat 'missing': No such file or directory" in screen.getvalue()


def test_put_and_get_r_with_brick(tmp_path: Path) -> None:
    """Rule: with --brick HOST:PORT:BRICK-PATH, put -r and get -r take a plain path inside
    the brick for the volume side, and the tree goes in and comes out whole."""
    from gfrpc.services.brick import BrickConfig, BrickServer

    src = make_tree(tmp_path / "src")
    (tmp_path / "b").mkdir()
    server = BrickServer(
        BrickConfig(
            directory=str(tmp_path / "b"), port=0, host="127.0.0.1", volname="v", poller="single"
        )
    )
    server.start()
    try:
        port = int(server.listener.address.port)  # type: ignore[union-attr]
        brick = ["--brick", f"127.0.0.1:{port}:{tmp_path / 'b'}", "--volname", "v"]
        assert main(["put", "-r", str(src), "/tree", *brick]) == 0
        assert main(["get", "-r", "/tree", str(tmp_path / "out"), *brick]) == 0
    finally:
        server.stop()
    assert same_tree(src, tmp_path / "out") == []
