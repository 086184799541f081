"""``gfrpc put/get/ls/stat/rm/mkdir``: file operations on a GlusterFS volume or one brick.

Each command takes a ``gluster://HOST[:PORT]/VOLNAME/PATH`` URL (the volume is found through
glusterd's GETSPEC and portmapper, like a gfapi client), or ``--brick HOST:PORT:BRICK-PATH``
and a plain path inside that brick.
"""

from __future__ import annotations

import argparse
import grp
import os
import posixpath
import pwd
import shutil
import stat
import sys
import time
from collections.abc import Iterable, Mapping, Sequence

from gfrpc.client.file import StatResult
from gfrpc.client.transfer import VolumeStore
from gfrpc.errors import ConfigError

from .common import Command, arg
from .places import VOLUME_FLAGS, Places, open_volume
from .transfer import TRANSFER_FLAGS, run_copy

CHUNK = 1 << 20
SIX_MONTHS = 31_556_952 // 2  # seconds; GNU ls shows the year for older (or future) times


def run_put(args: argparse.Namespace) -> int:
    """Copy LOCAL ('-' = stdin) to a file in the volume. TARGET is
    gluster://HOST[:PORT]/VOL/PATH, or a path with --brick. A TARGET that is an existing
    directory receives LOCAL's base name; with -r LOCAL may be a directory (the tree is
    copied as 'gfrpc cp -r' copies it)."""
    with Places(args) as places:
        dest = places.remote(args.target)
        if args.local != "-":
            return run_copy(args, [places.local_path(args.local)], dest)
        assert isinstance(dest.store, VolumeStore)
        vol, path = dest.store.volume, dest.path
        if path.endswith("/") or vol.is_dir(path):
            raise ConfigError(f"{args.target}: standard input needs a file name, not a directory")
        with vol.open(path, "wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out, CHUNK)
    return 0


def run_get(args: argparse.Namespace) -> int:
    """Copy SOURCE (gluster://HOST[:PORT]/VOL/PATH, or a path with --brick) to LOCAL ('-' =
    stdout). An existing directory LOCAL receives SOURCE's base name; with -r SOURCE may be
    a directory."""
    with Places(args) as places:
        src = places.remote(args.source)
        if args.local != "-":
            return run_copy(args, [src], places.local_path(args.local))
        assert isinstance(src.store, VolumeStore)
        with src.store.volume.open(src.path, "rb") as f:
            shutil.copyfileobj(f, sys.stdout.buffer, CHUNK)
            sys.stdout.buffer.flush()
    return 0


def run_ls(args: argparse.Namespace) -> int:
    """Print one name per line; -l prints like 'ls -l': a total line for a directory, then
    mode, links, owner, group, size, modification time ('%b %e %H:%M', or '%b %e  %Y' when
    older than six months or in the future), name and '-> target' for symbolic links."""
    with open_volume(args, args.target) as (vol, path):
        st = vol.lstat(path)
        if stat.S_ISLNK(st.st_mode) and not args.long:
            st = vol.stat(path)
        listing = stat.S_ISDIR(st.st_mode)
        if listing:
            with vol.scandir(path) as it:
                entries = sorted(
                    ((e.name, e.stat(follow_symlinks=False)) for e in it), key=lambda e: e[0]
                )
        else:
            entries = [(posixpath.basename(path) or path, st)]
        if not args.long:
            for name, _ in entries:
                print(name)
            return 0
        targets = {
            name: vol.readlink(posixpath.join(path, name) if listing else path)
            for name, est in entries
            if stat.S_ISLNK(est.st_mode)
        }
    if listing:
        print(f"total {ls_total(est.st_blocks for _, est in entries)}")
    for line in long_lines(entries, targets, time.time()):
        print(line)
    return 0


def ls_total(blocks: Iterable[int]) -> int:
    """``ls -l``'s total: the entries' 512-byte blocks added, then rounded up to 1K blocks."""
    return -(-sum(blocks) // 2)


def long_lines(
    entries: Sequence[tuple[str, StatResult]], targets: Mapping[str, str], now: float
) -> list[str]:
    """``ls -l`` lines, columns as wide as their widest value (numbers right-aligned, names
    left-aligned), owner and group names where this machine knows the ids."""
    rows = [
        (
            stat.filemode(st.st_mode),
            str(st.st_nlink),
            user_name(st.st_uid),
            group_name(st.st_gid),
            _size_column(st),
            ls_time(st.st_mtime, now),
            name + (f" -> {targets[name]}" if name in targets else ""),
        )
        for name, st in entries
    ]
    if not rows:
        return []
    w = [max(len(r[i]) for r in rows) for i in range(5)]
    return [
        f"{m} {n:>{w[1]}} {u:<{w[2]}} {g:<{w[3]}} {z:>{w[4]}} {t} {name}"
        for m, n, u, g, z, t, name in rows
    ]


def _size_column(st: StatResult) -> str:
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return f"{os.major(st.st_rdev)}, {os.minor(st.st_rdev)}"
    return str(st.st_size)


def ls_time(mtime: float, now: float) -> str:
    """GNU ls's time column: ``%b %e %H:%M`` within six months, else ``%b %e  %Y``."""
    recent = now - SIX_MONTHS < mtime <= now
    return time.strftime("%b %e %H:%M" if recent else "%b %e  %Y", time.localtime(mtime))


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def run_stat(args: argparse.Namespace) -> int:
    """Print size, mode, uid, gid, times, gfid and inode."""
    with open_volume(args, args.target) as (vol, path):
        st = vol.stat(path)
    print(f"  File: {path}")
    print(
        f"  Size: {st.st_size:<15} Blocks: {st.st_blocks:<10} IO Block: {st.st_blksize:<6} "
        f"{_kind(st.st_mode)}"
    )
    print(f"Device: {st.st_dev:<15} Inode: {st.st_ino:<11} Links: {st.st_nlink}")
    print(
        f"Access: ({stat.S_IMODE(st.st_mode):04o}/{stat.filemode(st.st_mode)})  "
        f"Uid: {st.st_uid}  Gid: {st.st_gid}"
    )
    print(f"  GFID: {st.gfid}")
    for label, ns in (
        ("Access", st.st_atime_ns),
        ("Modify", st.st_mtime_ns),
        ("Change", st.st_ctime_ns),
    ):
        print(f"{label}: {_time(ns)}")
    return 0


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISREG, "regular file"),
        (stat.S_ISDIR, "directory"),
        (stat.S_ISLNK, "symbolic link"),
        (stat.S_ISFIFO, "fifo"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character special file"),
        (stat.S_ISBLK, "block special file"),
    ):
        if test(mode):
            return name
    return "unknown"


def _time(ns: int) -> str:
    sec, frac = divmod(ns, 1_000_000_000)
    return (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sec))
        + f".{frac:09d} "
        + time.strftime("%z", time.localtime(sec))
    )


def run_rm(args: argparse.Namespace) -> int:
    """Remove a file; with -d also empty directories."""
    with open_volume(args, args.target) as (vol, path):
        if args.dir and vol.is_dir(path):
            vol.rmdir(path)
        else:
            vol.unlink(path)
    return 0


def run_mkdir(args: argparse.Namespace) -> int:
    """Create a directory (-p: with its parents, no error if it exists)."""
    with open_volume(args, args.target) as (vol, path):
        if args.parents:
            vol.makedirs(path, args.mode, exist_ok=True)
        else:
            vol.mkdir(path, args.mode)
    return 0


_TARGET = arg("target", metavar="URL|PATH")

COMMANDS = (
    Command(
        "put",
        run_put,
        help="copy a local file (-r: a tree) into a volume",
        arguments=(
            arg("local", metavar="LOCAL"),
            arg("target", metavar="TARGET"),
            *TRANSFER_FLAGS,
            arg("-p", "--preserve", action="store_true", help="keep modes and times"),
            *VOLUME_FLAGS,
        ),
    ),
    Command(
        "get",
        run_get,
        help="copy a file (-r: a tree) out of a volume",
        arguments=(
            arg("source", metavar="SOURCE"),
            arg("local", metavar="LOCAL"),
            *TRANSFER_FLAGS,
            arg("-p", "--preserve", action="store_true", help="keep modes and times"),
            *VOLUME_FLAGS,
        ),
    ),
    Command(
        "ls",
        run_ls,
        help="list a directory of a volume",
        arguments=(
            arg("target", metavar="URL|PATH", nargs="?", default="/"),
            arg("-l", dest="long", action="store_true", help="long listing"),
            *VOLUME_FLAGS,
        ),
    ),
    Command(
        "stat",
        run_stat,
        help="show a file's attributes",
        arguments=(_TARGET, *VOLUME_FLAGS),
    ),
    Command(
        "rm",
        run_rm,
        help="remove a file (-d: an empty directory)",
        arguments=(
            _TARGET,
            arg("-d", "--dir", action="store_true", help="remove empty directories too"),
            *VOLUME_FLAGS,
        ),
    ),
    Command(
        "mkdir",
        run_mkdir,
        help="create a directory",
        arguments=(
            _TARGET,
            arg("-p", "--parents", action="store_true"),
            arg("--mode", type=lambda s: int(s, 8), default=0o777, metavar="OCTAL"),
            *VOLUME_FLAGS,
        ),
    ),
)
