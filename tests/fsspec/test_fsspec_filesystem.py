"""GlusterFileSystem against a gfrpc distribute volume (two bricks, in this process): the
core of fsspec's developer guide, with the FOPs it costs counted."""

from __future__ import annotations

import datetime
import gc
import hashlib
import os
import pickle
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.local import LocalFileSystem
from fsspec.spec import AbstractFileSystem

import fsspec
from conftest import Cluster, counted_fops
from gfrpc.errors import ConfigError
from gfrpc.fsspec import GlusterFileSystem
from gfrpc.testing.waiting import wait_for

pytestmark = pytest.mark.timeout(60)

MiB = 1 << 20


def test_ls_detail_is_readdirp_without_a_stat_per_entry(fs: GlusterFileSystem, top: str) -> None:
    """``ls(detail=True)`` of 30 files and 3 directories sends OPENDIR/READDIRP/RELEASEDIR and
    no STAT or LOOKUP per entry; the entries carry READDIRP's sizes, types and modes."""
    for i in range(30):
        fs.pipe_file(f"{top}/f{i:02d}", b"x" * i)
    for d in ("d0", "d1", "d2"):
        fs.mkdir(f"{top}/{d}")
    fs.info(top)  # the path is resolved (and cached) before counting
    with counted_fops(fs) as calls:
        entries = fs.ls(top, detail=True)
    assert calls["STAT"] == 0 and calls["LOOKUP"] == 0, calls
    assert calls["READDIRP"] >= 2 and set(calls) <= {"OPENDIR", "READDIRP", "RELEASEDIR"}
    by_name = {e["name"]: e for e in entries}
    assert len(by_name) == 33
    assert by_name[f"{top}/f07"]["size"] == 7 and by_name[f"{top}/f07"]["type"] == "file"
    assert by_name[f"{top}/d1"]["type"] == "directory"
    assert stat.S_ISREG(by_name[f"{top}/f07"]["mode"])
    assert sorted(fs.ls(top, detail=False)) == sorted(by_name)


def test_info_fields_and_times(fs: GlusterFileSystem, top: str) -> None:
    """``info`` gives name, size, type, mode, mtime, created (ctime, as fsspec's local fs);
    ``created``/``modified`` are those times as aware UTC datetimes; ``ls`` of a file is its
    info."""
    fs.pipe_file(f"{top}/f", b"abc")
    info = fs.info(f"{top}/f")
    assert info["name"] == f"{top}/f" and info["size"] == 3 and info["type"] == "file"
    assert info["islink"] is False and stat.S_IMODE(info["mode"]) == 0o644
    assert fs.modified(f"{top}/f") == datetime.datetime.fromtimestamp(
        info["mtime"], tz=datetime.UTC
    )
    assert fs.created(f"{top}/f").tzinfo is datetime.UTC
    assert fs.ls(f"{top}/f") == [info]
    assert fs.info(top)["type"] == "directory" and fs.isdir(top) and fs.isfile(f"{top}/f")


def test_symlinks_look_as_on_the_local_file_system(
    fs: GlusterFileSystem, top: str, tmp_path: Path
) -> None:
    """Links to a file, to a directory and a dangling link give the same ``info``/``ls``
    types, sizes, ``islink`` and ``destination`` as fsspec's LocalFileSystem on the same tree."""
    local = LocalFileSystem()
    (tmp_path / "f").write_bytes(b"12345")
    (tmp_path / "d").mkdir()
    fs.pipe_file(f"{top}/f", b"12345")
    fs.mkdir(f"{top}/d")
    for name, target in (("lf", "f"), ("ld", "d"), ("dangling", "nowhere")):
        os.symlink(target, tmp_path / name)
        fs.volume.symlink(target, f"{top}/{name}")

    keys = ("type", "islink", "destination")
    for name in ("lf", "ld"):
        mine, theirs = fs.info(f"{top}/{name}"), local.info(str(tmp_path / name))
        assert [mine.get(k) for k in keys] == [theirs.get(k) for k in keys], name
        if name == "lf":
            assert mine["size"] == theirs["size"] == 5
    with pytest.raises(FileNotFoundError):
        local.info(str(tmp_path / "dangling"))
    with pytest.raises(FileNotFoundError):
        fs.info(f"{top}/dangling")

    def listing(entries: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
        out = {}
        for e in entries:
            size = e["size"] if e["type"] != "directory" else None
            out[os.path.basename(e["name"])] = (e["type"], e["islink"], size)
        return out

    assert listing(fs.ls(top)) == listing(local.ls(str(tmp_path), detail=True))


def test_errors_are_the_builtin_exceptions(fs: GlusterFileSystem, top: str) -> None:
    """Missing paths, existing names, directories opened as files and files used as
    directories raise FileNotFoundError, FileExistsError, IsADirectoryError and
    NotADirectoryError."""
    fs.pipe_file(f"{top}/f", b"x")
    with pytest.raises(FileNotFoundError):
        fs.info(f"{top}/missing")
    with pytest.raises(FileNotFoundError):
        fs.cat_file(f"{top}/missing")
    with pytest.raises(FileNotFoundError):
        fs.open(f"{top}/missing", "rb")
    with pytest.raises(FileNotFoundError):
        fs.ls(f"{top}/missing")
    with pytest.raises(FileExistsError):
        fs.mkdir(f"{top}/f")
    with pytest.raises(FileExistsError):
        fs.makedirs(top)
    with pytest.raises(FileExistsError):
        fs.pipe_file(f"{top}/f", b"y", mode="create")
    with pytest.raises(IsADirectoryError):
        fs.open(top, "rb")
    with pytest.raises(IsADirectoryError):
        fs.rm_file(top)
    with pytest.raises(NotADirectoryError):
        fs.mkdir(f"{top}/f/sub", create_parents=False)
    with pytest.raises(NotADirectoryError):
        fs.rmdir(f"{top}/f")
    with pytest.raises(OSError):
        fs.rmdir(top)  # not empty
    fs.makedirs(top, exist_ok=True)
    assert not fs.exists(f"{top}/f/sub")


def test_permission_error_for_another_identity(
    cluster: Cluster, fs: GlusterFileSystem, top: str
) -> None:
    """As uid 1000, writing into root's 0o755 directory is PermissionError, and so is
    moving a file into it (fsspec's mv kit asks for that)."""
    fs.pipe_file(f"{top}/f", b"x")
    fs.volume.chmod(top, 0o755)
    other = GlusterFileSystem(**cluster.options(), uid=1000, gid=1000)
    try:
        with pytest.raises(PermissionError):
            other.pipe_file(f"{top}/g", b"x")
        with pytest.raises(PermissionError):
            other.mv(f"{top}/f", f"{top}/h")
        assert other.cat_file(f"{top}/f") == b"x"  # reading is allowed
    finally:
        other.close()


def test_mv_is_one_rename(fs: GlusterFileSystem, top: str) -> None:
    """``mv`` of a file sends one RENAME and no READ/WRITE; into an existing directory it
    lands inside; a whole directory moves with its contents."""
    fs.pipe_file(f"{top}/a", b"data")
    fs.mkdir(f"{top}/dir")
    fs.info(f"{top}/a")  # resolved before counting
    with counted_fops(fs) as calls:
        fs.mv(f"{top}/a", f"{top}/b")
    assert calls["RENAME"] == 1 and calls["READ"] == calls["WRITE"] == 0, calls
    fs.mv(f"{top}/b", f"{top}/dir")
    assert fs.cat_file(f"{top}/dir/b") == b"data"
    fs.mv(f"{top}/dir", f"{top}/moved")
    assert fs.ls(f"{top}/moved", detail=False) == [f"{top}/moved/b"]
    assert not fs.exists(f"{top}/dir")


def test_mv_errors_as_fsspecs_mv_kit(fs: GlusterFileSystem, top: str) -> None:
    """The rules of fsspec's ``tests/abstract/mv.py`` (written for the local fs): moving to a
    directory that does not exist is FileNotFoundError and leaves the source; a missing source
    is FileNotFoundError."""
    fs.pipe_file(f"{top}/source_file.txt", b"content")
    with pytest.raises(FileNotFoundError):
        fs.mv(f"{top}/source_file.txt", f"{top}/non_existent_directory/destination_file.txt")
    assert fs.cat_file(f"{top}/source_file.txt") == b"content"
    with pytest.raises(FileNotFoundError):
        fs.mv(f"{top}/nothing", f"{top}/x")


def _brick_of(cluster: Cluster, path: str) -> int:
    """Which brick directory holds the data of ``path`` (a regular file, not a linkto)."""
    for i, d in enumerate(cluster.bricks):
        p = d / path.lstrip("/")
        if p.exists() and p.stat().st_size and not p.stat().st_mode & stat.S_ISVTX:
            return i
    raise AssertionError(f"{path} is on no brick")


def test_cp_file_on_the_server_when_on_one_brick(
    cluster: Cluster, fs: GlusterFileSystem, top: str
) -> None:
    """A copy whose source and target land on the same brick is COPY_FILE_RANGE (no READ,
    no WRITE); one across bricks streams READs and WRITEs; both copies are exact."""
    data = os.urandom(3 * MiB + 5)
    fs.pipe_file(f"{top}/src", data)
    src_brick = _brick_of(cluster, f"{top}/src")
    seen: dict[bool, Any] = {}
    for i in range(40):
        dst = f"{top}/copy{i}"
        with counted_fops(fs) as calls:
            fs.cp_file(f"{top}/src", dst)
        same = _brick_of(cluster, dst) == src_brick
        seen.setdefault(same, (dst, dict(calls)))
        if len(seen) == 2:
            break
    assert set(seen) == {True, False}, "names never fell on both bricks"
    same_dst, same_calls = seen[True]
    assert same_calls.get("COPY_FILE_RANGE", 0) >= 1
    assert same_calls.get("READ", 0) == same_calls.get("WRITE", 0) == 0
    other_dst, other_calls = seen[False]
    assert other_calls.get("COPY_FILE_RANGE", 0) == 0
    assert other_calls["READ"] >= 4 and other_calls["WRITE"] >= 4
    for dst in (same_dst, other_dst):
        assert hashlib.sha256(fs.cat_file(dst)).digest() == hashlib.sha256(data).digest()


def test_a_small_file_copied_across_bricks_is_one_read(
    cluster: Cluster, fs: GlusterFileSystem, top: str
) -> None:
    """A copy of a 5,000-byte file to a name on the other brick reads it with one READ (its
    size and one byte more, to see the end), not a copy chunk's worth of pipelined READs, and
    the copy is exact."""
    data = os.urandom(5000)
    fs.pipe_file(f"{top}/small", data)
    src_brick = _brick_of(cluster, f"{top}/small")
    for i in range(40):
        dst = f"{top}/copy{i}"
        with counted_fops(fs) as calls:
            fs.cp_file(f"{top}/small", dst)
        if _brick_of(cluster, dst) != src_brick:
            break
    else:
        raise AssertionError("names never fell on the other brick")
    assert calls["READ"] == 1 and calls["WRITE"] == 1, calls
    assert fs.cat_file(dst) == data


def test_cp_file_makes_parents_and_copies_directories(fs: GlusterFileSystem, top: str) -> None:
    """``cp_file`` into a missing directory makes it (auto_mkdir); a directory source makes
    the target directory; an empty file copies as empty."""
    fs.touch(f"{top}/empty")
    fs.cp_file(f"{top}/empty", f"{top}/new/deeper/empty")
    assert fs.info(f"{top}/new/deeper/empty")["size"] == 0
    fs.cp_file(f"{top}/new", f"{top}/newdir")
    assert fs.isdir(f"{top}/newdir")


def test_a_write_into_a_known_directory_looks_at_nothing_first(
    fs: GlusterFileSystem, top: str, cluster: Cluster
) -> None:
    """With auto_mkdir, pipe_file, open('wb') and touch of a new name in a directory the volume
    knows send no STAT or LOOKUP before their CREATE (the parent is made only when the CREATE
    finds it missing); into a missing directory the parents are made and the file written;
    with auto_mkdir off a missing parent is FileNotFoundError and nothing is made."""
    for i, write in enumerate(
        (
            lambda p: fs.pipe_file(p, b"data"),
            lambda p: fs.open(p, "wb").close(),
            lambda p: fs.touch(p),
        )
    ):
        with counted_fops(fs) as calls:
            write(f"{top}/new{i}")
        assert calls["CREATE"] == 1 and not calls["STAT"] and not calls["LOOKUP"], calls
    fs.pipe_file(f"{top}/a/b/c", b"deep")
    assert fs.cat_file(f"{top}/a/b/c") == b"deep"
    with fs.open(f"{top}/x/y", "wb") as f:
        f.write(b"y")
    assert fs.cat_file(f"{top}/x/y") == b"y"
    strict = GlusterFileSystem(**cluster.options(), auto_mkdir=False, skip_instance_cache=True)
    with pytest.raises(FileNotFoundError):
        strict.pipe_file(f"{top}/none/f", b"z")
    with pytest.raises(FileNotFoundError):
        strict.open(f"{top}/none/g", "wb")
    assert not fs.exists(f"{top}/none")


def test_du_takes_sizes_from_the_listings(fs: GlusterFileSystem, top: str) -> None:
    """``du`` gives what fsspec's own ``du`` gives (total, per path, with directories, to a
    depth, of a file), but sends no LOOKUP or STAT per file: its sizes come from the
    READDIRPs that listed the tree."""
    for i, d in enumerate(("", "/a", "/a/b", "/c")):
        fs.makedirs(f"{top}{d}", exist_ok=True)
        for j in range(3):
            fs.pipe_file(f"{top}{d}/f{j}", b"x" * (100 * i + j))
    for kw in ({}, {"total": False}, {"withdirs": True, "total": False}, {"maxdepth": 1}):
        assert fs.du(top, **kw) == AbstractFileSystem.du(fs, top, **kw), kw
    assert fs.du(f"{top}/a/f1") == AbstractFileSystem.du(fs, f"{top}/a/f1") == 101
    with counted_fops(fs) as calls:
        assert fs.du(top) == sum(100 * i + j for i in range(4) for j in range(3))
    assert calls["LOOKUP"] + calls["STAT"] <= 4, calls  # the directories', at most


def test_file_reads_and_writes_are_pipelined_ranges(fs: GlusterFileSystem, top: str) -> None:
    """Writing 20 MiB through ``open("wb")`` flushes 8 MiB blocks as 1 MiB WRITEs (20 in
    all); one 8 MiB ``_fetch_range`` is 8 READs; seek + read give the right bytes."""
    data = os.urandom(20 * MiB)
    with counted_fops(fs) as calls:
        with fs.open(f"{top}/big", "wb") as f:
            f.write(data)
    assert calls["WRITE"] == 20, calls
    with fs.open(f"{top}/big", "rb") as f:
        with counted_fops(fs) as calls:
            block = f._fetch_range(0, 8 * MiB)
        assert calls["READ"] == 8 and block == data[: 8 * MiB]
        f.seek(12 * MiB + 3)
        assert f.read(100) == data[12 * MiB + 3 : 12 * MiB + 103]
        assert f.size == len(data)
    assert fs.cat_file(f"{top}/big", start=-10) == data[-10:]
    assert fs.cat_file(f"{top}/big", start=5, end=9) == data[5:9]
    assert fs.cat_file(f"{top}/big") == data


def test_append_exclusive_and_text_modes(fs: GlusterFileSystem, top: str) -> None:
    """``ab`` appends after the existing bytes; ``xb`` refuses an existing file; text mode
    writes and reads through the same file class."""
    fs.pipe_file(f"{top}/f", b"head-")
    with fs.open(f"{top}/f", "ab") as f:
        f.write(b"tail")
    assert fs.cat_file(f"{top}/f") == b"head-tail"
    with pytest.raises(FileExistsError):
        fs.open(f"{top}/f", "xb")
    with fs.open(f"{top}/t.txt", "w") as f:
        f.write("héllo\n")
    with fs.open(f"{top}/t.txt", "r") as f:
        assert f.read() == "héllo\n"


def test_transaction_commits_on_exit_and_discards_on_error(fs: GlusterFileSystem, top: str) -> None:
    """Inside ``fs.transaction`` a written file appears under its name only at the end; an
    exception leaves nothing behind."""
    with fs.transaction:
        with fs.open(f"{top}/t", "wb") as f:
            f.write(b"committed")
        assert not fs.exists(f"{top}/t")
    assert fs.cat_file(f"{top}/t") == b"committed"
    with pytest.raises(RuntimeError), fs.transaction:
        with fs.open(f"{top}/u", "wb") as f:
            f.write(b"dropped")
        raise RuntimeError("boom")
    assert fs.ls(top, detail=False) == [f"{top}/t"]


def test_touch_rm_and_find(fs: GlusterFileSystem, top: str) -> None:
    """``touch`` makes empty files (and parents); ``rm(recursive=True)`` removes a tree;
    ``find`` walks it."""
    for p in ("a/b/c", "a/d", "e"):
        fs.touch(f"{top}/{p}")
    assert fs.find(top) == [f"{top}/a/b/c", f"{top}/a/d", f"{top}/e"]
    fs.touch(f"{top}/e", truncate=False)
    fs.rm(f"{top}/a", recursive=True)
    assert fs.ls(top, detail=False) == [f"{top}/e"]


def test_instances_are_cached_and_url_forms_agree(cluster: Cluster) -> None:
    """``fsspec.filesystem("gluster", ...)`` (the entry point) and ``url_to_fs`` of a
    ``gluster://`` URL with the same server and volume give the one cached instance."""
    a = fsspec.filesystem("gluster", **cluster.options())
    b, path = fsspec.core.url_to_fs(f"{cluster.url}/some/file")
    assert a is b and isinstance(a, GlusterFileSystem) and path == "/some/file"
    assert a.unstrip_protocol("/some/file") == f"{cluster.url}/some/file"


def test_unpickled_in_another_process_reconnects(cluster: Cluster, top: str) -> None:
    """An instance pickled before it ever connected is rebuilt from its arguments in a new
    Python process, connects there on first use and reads the file."""
    fs = GlusterFileSystem(**cluster.options(), skip_instance_cache=True)
    blob = pickle.dumps(fs)
    GlusterFileSystem(**cluster.options()).pipe_file(f"{top}/p", b"from the parent")
    script = textwrap.dedent(
        f"""
        import pickle, sys
        fs = pickle.loads(sys.stdin.buffer.read())
        assert "not connected" in repr(fs)
        sys.stdout.buffer.write(fs.cat_file({top + "/p"!r}))
        fs.close()
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], input=blob, capture_output=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    assert out.stdout == b"from the parent"


def test_ping_timeout_reaches_the_brick_connections(cluster: Cluster) -> None:
    """``ping_timeout``/``frame_timeout`` storage options override the volfile's values on
    every brick connection."""
    fs = GlusterFileSystem(
        **cluster.options(), ping_timeout=7, frame_timeout=99, skip_instance_cache=True
    )
    try:
        assert [c.ping_timeout for c in fs.volume.bricks] == [7.0, 7.0]
        assert [c.frame_timeout for c in fs.volume.bricks] == [99.0, 99.0]
        assert fs.exists("/")
    finally:
        fs.close()


def test_tls_directory_as_a_storage_option(tls_cluster: tuple[Cluster, Path]) -> None:
    """``storage_options={"tls": DIR}`` reaches a brick that speaks TLS only, by URL (the
    option is kept as a string, so the instance still pickles and caches); without it the
    connection is refused."""
    cluster, client_tls = tls_cluster
    url = f"{cluster.url}/secure/x.bin"
    with fsspec.open(url, "wb", tls=client_tls) as f:
        f.write(b"over TLS")
    fs, path = fsspec.core.url_to_fs(url, tls=client_tls)
    assert fs.tls == str(client_tls) and fs.cat_file(path) == b"over TLS"
    assert pickle.loads(pickle.dumps(fs)) is fs
    plain = GlusterFileSystem(**cluster.options(), timeout=3.0, skip_instance_cache=True)
    with pytest.raises((OSError, ConfigError)):  # the volfile's default ssl files are absent
        plain.cat_file(path)
    plain.close()


def test_forked_child_connects_again(fs: GlusterFileSystem, top: str) -> None:
    """An instance connected before ``fork`` connects anew in the child (the parent's
    sockets and poller threads are not the child's) and the parent's keeps working."""
    fs.pipe_file(f"{top}/f", b"before fork")
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 only if it read and wrote through the volume
        code = 1
        signal.alarm(30)  # a hung child ends itself rather than outliving the test
        try:
            fs.pipe_file(f"{top}/child", fs.cat_file(f"{top}/f") + b", in the child")
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert fs.cat_file(f"{top}/child") == b"before fork, in the child"


def test_a_dropped_file_is_closed_off_the_collecting_thread(
    fs: GlusterFileSystem, top: str
) -> None:
    """A file the program drops without ``close()`` is closed (its last bytes written, its fd
    released) on another thread, never inside the garbage collector's caller: that caller may
    hold the transport lock the FOPs need (a deadlock seen under pyarrow)."""
    threads: list[int] = []
    f = fs.open(f"{top}/dropped", "wb")
    f.write(b"written, never closed")
    raw_close = f.raw.close

    def recording_close() -> None:
        threads.append(threading.get_ident())
        raw_close()

    f.raw.close = recording_close
    del f
    gc.collect()
    wait_for(lambda: threads, 10.0, "the dropped file's close")
    assert threads[0] != threading.get_ident()
    wait_for(lambda: fs.cat_file(f"{top}/dropped") == b"written, never closed", 10.0, "data")


def test_a_file_dropped_at_interpreter_exit_starts_no_thread(
    fs: GlusterFileSystem, top: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file collected while the interpreter shuts down is left to the brick (which
    releases a closed connection's fds): a thread started then never runs, and waiting for it
    to start hung the exit (seen with tools/fsspec-fops)."""
    f = fs.open(f"{top}/at-exit", "wb")
    started: list[object] = []
    monkeypatch.setattr(threading.Thread, "start", lambda t: started.append(t))
    monkeypatch.setattr(sys, "is_finalizing", lambda: True)
    f.__del__()
    assert started == []
    monkeypatch.setattr(sys, "is_finalizing", lambda: False)
    f.__del__()  # (the same file, not at exit: its close goes to a thread)
    assert len(started) == 1
    monkeypatch.undo()
    f.close()


def test_a_small_file_is_read_by_the_one_lookup_that_brings_it(
    cluster: Cluster, fs: GlusterFileSystem, top: str
) -> None:
    """On the gfrpc bricks, ``cat_file`` (whole or a range) and ``open(..., "rb").read()`` of a
    small file that every caller may read send one LOOKUP and no OPEN, READ or RELEASE; a file
    only its owner may read is opened (an OPEN and a READ), and another user gets
    PermissionError from the brick, not the bytes."""
    body = os.urandom(3000)
    fs.pipe_file(f"{top}/pub", body)
    fs.pipe_file(f"{top}/own", body)
    fs.volume.chmod(f"{top}/own", 0o600)
    for read in (
        lambda: fs.cat_file(f"{top}/pub"),
        lambda: fs.cat_file(f"{top}/pub", start=10, end=-10),
        lambda: fs.open(f"{top}/pub", "rb").read(),
    ):
        with counted_fops(fs) as calls:
            got = read()
        assert got in (body, body[10:-10])
        assert dict(calls) == {"LOOKUP": 1}, calls
    with counted_fops(fs) as calls:
        assert fs.cat_file(f"{top}/own") == body
    assert calls["OPEN"] == 1 and calls["READ"] >= 1, calls
    other = GlusterFileSystem(**cluster.options(), uid=1000, gid=1000, skip_instance_cache=True)
    with pytest.raises(PermissionError):
        other.cat_file(f"{top}/own")
    with pytest.raises(PermissionError):
        other.open(f"{top}/own", "rb")
    assert other.cat_file(f"{top}/pub") == body
