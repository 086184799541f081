"""``gfrpc put/get/ls/stat/rm/mkdir``: file operations on a GlusterFS volume or one brick.

Each command takes a ``gluster://HOST[:PORT]/VOLNAME/PATH`` URL (the volume is found through
glusterd's GETSPEC and portmapper, like a gfapi client), or ``--brick HOST:PORT:BRICK-PATH``
and a plain path inside that brick.
"""

from __future__ import annotations

import argparse
import posixpath
import shutil
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gfrpc.client.file import StatResult
from gfrpc.client.url import parse_brick, parse_url
from gfrpc.client.volume import Volume
from gfrpc.errors import ConfigError

from .common import Command, add_tls_arguments, arg, poller_flag, tls_context

CHUNK = 1 << 20


_VOLUME_FLAGS = (
    arg(
        "--brick",
        metavar="HOST:PORT:BRICK-PATH",
        help="talk to this brick directly (no glusterd); paths are plain paths",
    ),
    arg(
        "--volname",
        default="gfrpc",
        metavar="NAME",
        help="volume name sent to the brick with --brick (default gfrpc)",
    ),
    arg(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="connect/handshake timeout (default 10)",
    ),
    poller_flag(),
    add_tls_arguments,
)


@contextmanager
def _volume(args: argparse.Namespace, target: str) -> Iterator[tuple[Volume, str]]:
    """The volume ``target`` lives in, and the path inside it."""
    tls = tls_context(args, server_side=False)
    opts: dict[str, Any] = {"tls": tls, "timeout": args.timeout, "poller": args.poller}
    if args.brick:
        if target.lower().startswith("gluster://"):
            raise ConfigError("with --brick give a plain path inside the brick, not a URL")
        b = parse_brick(args.brick)
        vol = Volume.connect_brick(b.host, b.port, b.brick_path, args.volname, **opts)
        path = target or "/"
    else:
        if not target.lower().startswith("gluster://"):
            raise ConfigError(
                f"{target!r}: expected gluster://HOST[:PORT]/VOLNAME/PATH "
                "(or a plain path with --brick HOST:PORT:BRICK-PATH)"
            )
        u = parse_url(target)
        vol = Volume.connect(u, **opts)
        path = u.path
    try:
        yield vol, path
    finally:
        vol.close()


def run_put(args: argparse.Namespace) -> int:
    """Copy LOCAL ('-' = stdin) to a file in the volume. TARGET is
    gluster://HOST[:PORT]/VOL/PATH, or a path with --brick. A TARGET that is an existing
    directory receives LOCAL's base name."""
    with _volume(args, args.target) as (vol, path):
        if args.local != "-" and (path.endswith("/") or vol.is_dir(path)):
            path = posixpath.join(path, Path(args.local).name)
        src = sys.stdin.buffer if args.local == "-" else open(args.local, "rb")  # noqa: SIM115
        try:
            with vol.open(path, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
        finally:
            if src is not sys.stdin.buffer:
                src.close()
    return 0


def run_get(args: argparse.Namespace) -> int:
    """Copy SOURCE (gluster://HOST[:PORT]/VOL/PATH, or a path with --brick) to LOCAL ('-' =
    stdout)."""
    with _volume(args, args.source) as (vol, path):
        with vol.open(path, "rb") as src:
            if args.local == "-":
                shutil.copyfileobj(src, sys.stdout.buffer, CHUNK)
                sys.stdout.buffer.flush()
            else:
                with open(args.local, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
    return 0


def run_ls(args: argparse.Namespace) -> int:
    """Print one name per line (-l: mode, links, uid, gid, size, mtime, name)."""
    with _volume(args, args.target) as (vol, path):
        st = vol.stat(path)
        if stat.S_ISDIR(st.st_mode):
            entries = sorted(
                ((e.name, e.stat()) for e in vol.scandir(path)), key=lambda item: item[0]
            )
        else:
            entries = [(posixpath.basename(path), st)]
    for name, est in entries:
        print(_long(name, est) if args.long else name)
    return 0


def _long(name: str, st: StatResult) -> str:
    mtime = time.strftime("%Y-%m-%d %H:%M", time.localtime(st.st_mtime))
    return (
        f"{stat.filemode(st.st_mode)} {st.st_nlink:>3} {st.st_uid:>5} {st.st_gid:>5} "
        f"{st.st_size:>12} {mtime} {name}"
    )


def run_stat(args: argparse.Namespace) -> int:
    """Print size, mode, uid, gid, times, gfid and inode."""
    with _volume(args, args.target) as (vol, path):
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
    with _volume(args, args.target) as (vol, path):
        if args.dir and vol.is_dir(path):
            vol.rmdir(path)
        else:
            vol.unlink(path)
    return 0


def run_mkdir(args: argparse.Namespace) -> int:
    """Create a directory (-p: with its parents, no error if it exists)."""
    with _volume(args, args.target) as (vol, path):
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
        help="copy a local file into a volume",
        arguments=(arg("local", metavar="LOCAL"), arg("target", metavar="TARGET"), *_VOLUME_FLAGS),
    ),
    Command(
        "get",
        run_get,
        help="copy a file out of a volume",
        arguments=(arg("source", metavar="SOURCE"), arg("local", metavar="LOCAL"), *_VOLUME_FLAGS),
    ),
    Command(
        "ls",
        run_ls,
        help="list a directory of a volume",
        arguments=(
            arg("target", metavar="URL|PATH", nargs="?", default="/"),
            arg("-l", dest="long", action="store_true", help="long listing"),
            *_VOLUME_FLAGS,
        ),
    ),
    Command(
        "stat",
        run_stat,
        help="show a file's attributes",
        arguments=(_TARGET, *_VOLUME_FLAGS),
    ),
    Command(
        "rm",
        run_rm,
        help="remove a file (-d: an empty directory)",
        arguments=(
            _TARGET,
            arg("-d", "--dir", action="store_true", help="remove empty directories too"),
            *_VOLUME_FLAGS,
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
            *_VOLUME_FLAGS,
        ),
    ),
)
