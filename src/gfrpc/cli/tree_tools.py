"""``gfrpc du``, ``find``, ``tree``, ``cat`` and ``mv``: the Unix namesakes, on a volume.

Each takes ``gluster://HOST[:PORT]/VOLNAME/PATH`` operands (or plain paths with ``--brick``) and
prints what its namesake prints, with the operand as typed at the start of every path:

* ``du`` sums ``st_blocks`` (512-byte units) per directory, post-order, and shows 1 KiB units
  rounded up like GNU du (``-h``: GNU's human sizes, rounded up; ``-s``: the totals only); a
  file with several links counts once.
* ``find`` prints the start point and everything below it, top-down, filtered by ``-name
  GLOB`` (the base name, fnmatch) and ``-type f|d|l``.
* ``tree`` draws ``├── ``/``└── `` lines (``│   `` and four spaces below them), hides dot
  files, sorts names in byte order (tree's order in the C locale), shows ``name -> target`` for
  links and ends with ``N directories, M files`` (links to directories count as directories).
* ``cat`` writes the files to stdout; ``mv`` renames within one volume.

A failure on one operand or directory is one line on stderr (``gfrpc du: cannot read
directory 'x': ...``); the others go on and the exit code is 1.
"""

from __future__ import annotations

import argparse
import fnmatch
import posixpath
import shutil
import stat
import sys
from collections.abc import Callable
from typing import Any

from gfrpc.client.transfer import Location, VolumeStore, strerror, walk
from gfrpc.client.volume import Volume
from gfrpc.errors import GfrpcError

from .common import Command, arg
from .places import VOLUME_FLAGS, Places, is_url

CHUNK = 8 << 20
_ERRORS = (OSError, GfrpcError)


class _Failures:
    """Counts and prints one-line errors as ``gfrpc COMMAND: ...``."""

    def __init__(self, command: str) -> None:
        self.command, self.count = command, 0

    def __call__(self, text: str) -> None:
        self.count += 1
        print(f"gfrpc {self.command}: {text}", file=sys.stderr, flush=True)

    @property
    def code(self) -> int:
        return 1 if self.count else 0


def _volume_of(loc: Location) -> Volume:
    assert isinstance(loc.store, VolumeStore)
    return loc.store.volume


# -- du -------------------------------------------------------------------------------------
def human_size(nbytes: int) -> str:
    """GNU's ``-h``: powers of 1024, one decimal below 10, always rounded up (``4.0K``,
    ``12K``, ``1.1M``); less than 1024 bytes as a plain number."""
    if nbytes < 1024:
        return str(nbytes)
    units, power = "KMGTPEZY", 0
    while power + 1 < len(units) and nbytes >= 1024 ** (power + 2):
        power += 1
    scale = 1024 ** (power + 1)
    tenths = -(-nbytes * 10 // scale)
    if tenths < 100:
        return f"{tenths // 10}.{tenths % 10}{units[power]}"
    whole = -(-nbytes // scale)
    if whole >= 1024 and power + 1 < len(units):
        return f"1.0{units[power + 1]}"
    return f"{whole}{units[power]}"


def run_du(args: argparse.Namespace) -> int:
    """Print the disk usage of each PATH and, unless -s, of every directory below it, in
    1024-byte blocks (from st_blocks, rounded up) or -h human sizes, like GNU du."""
    fail = _Failures("du")

    def show(nblocks: int, shown: str) -> None:
        size = human_size(nblocks * 512) if args.human else str(-(-nblocks // 2))
        print(f"{size}\t{shown}")

    with Places(args) as places:
        for text in args.paths:
            try:
                top = places.remote(text)
                st = _volume_of(top).lstat(top.path)
            except _ERRORS as exc:
                fail(f"cannot access '{text}': {strerror(exc)}")
                continue
            seen: set[int] = set()
            if stat.S_ISDIR(st.st_mode):
                total = _du_dir(top, st.st_blocks, seen, show, fail, args.summarize)
            else:
                total = st.st_blocks
            show(total, top.shown)
    return fail.code


def _du_dir(
    loc: Location,
    own_blocks: int,
    seen: set[int],
    show: Callable[[int, str], None],
    fail: _Failures,
    summarize: bool,
) -> int:
    total = own_blocks
    try:
        entries = sorted(loc.store.scandir(loc.path), key=lambda e: e[0])
    except _ERRORS as exc:
        fail(f"cannot read directory '{loc.shown}': {strerror(exc)}")
        return total
    for name, st in entries:
        if stat.S_ISDIR(st.st_mode):
            child = loc.child(name)
            sub = _du_dir(child, st.st_blocks, seen, show, fail, summarize)
            if not summarize:
                show(sub, child.shown)
            total += sub
        elif st.st_nlink > 1:
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_blocks
        else:
            total += st.st_blocks
    return total


# -- find -----------------------------------------------------------------------------------
_TYPES = {"f": "file", "d": "dir", "l": "link"}


def run_find(args: argparse.Namespace) -> int:
    """Print PATH and every path below it, top-down, the way find prints them; -name GLOB
    keeps those whose base name matches, -type f|d|l those of that kind."""
    fail = _Failures("find")
    kind = _TYPES.get(args.type) if args.type else None

    def matches(name: str, k: str) -> bool:
        return (args.name is None or fnmatch.fnmatchcase(name, args.name)) and (
            kind is None or k == kind
        )

    with Places(args) as places:
        for text in args.paths:
            try:
                top = places.remote(text)
                st = _volume_of(top).lstat(top.path)
            except _ERRORS as exc:
                fail(f"'{text}': {strerror(exc)}")
                continue
            top_kind = "dir" if stat.S_ISDIR(st.st_mode) else _kind_of(st.st_mode)
            if matches(posixpath.basename(top.path.rstrip("/")) or "/", top_kind):
                print(top.shown)
            if top_kind == "dir":
                for loc, k, _ in walk(top, lambda d, exc: fail(f"'{d.shown}': {strerror(exc)}")):
                    if matches(loc.name, k):
                        print(loc.shown)
    return fail.code


def _kind_of(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "link"
    return "dir" if stat.S_ISDIR(mode) else "other"


# -- tree -----------------------------------------------------------------------------------
def run_tree(args: argparse.Namespace) -> int:
    """Draw the tree below PATH as tree(1) does, then 'N directories, M files'."""
    fail = _Failures("tree")
    counts = [0, 0]  # directories, files
    with Places(args) as places:
        try:
            top = places.remote(args.path)
            vol = _volume_of(top)
            is_dir = stat.S_ISDIR(vol.stat(top.path).st_mode)
        except _ERRORS as exc:
            print(f"{args.path} [error opening dir]")
            fail(f"'{args.path}': {strerror(exc)}")
            is_dir = False
        else:
            print(top.shown)
            if is_dir:
                _tree(vol, top, "", counts)
    d, f = counts
    print(f"\n{d} director{'y' if d == 1 else 'ies'}, {f} file{'' if f == 1 else 's'}")
    return fail.code


def _tree(vol: Volume, loc: Location, prefix: str, counts: list[int]) -> None:
    try:
        entries = sorted(
            (e for e in loc.store.scandir(loc.path) if not e[0].startswith(".")),
            key=lambda e: e[0].encode("utf-8", "surrogateescape"),
        )
    except _ERRORS:
        print(f"{prefix}[error opening dir]")
        return
    for i, (name, st) in enumerate(entries):
        last = i == len(entries) - 1
        child = loc.child(name)
        line = f"{prefix}{'└── ' if last else '├── '}{name}"
        if stat.S_ISLNK(st.st_mode):
            try:
                line += f" -> {vol.readlink(child.path)}"
                to_dir = vol.is_dir(child.path)
            except _ERRORS:
                to_dir = False
            print(line)
            counts[0 if to_dir else 1] += 1
        elif stat.S_ISDIR(st.st_mode):
            print(line)
            counts[0] += 1
            _tree(vol, child, prefix + ("    " if last else "│   "), counts)
        else:
            print(line)
            counts[1] += 1


# -- cat ------------------------------------------------------------------------------------
def run_cat(args: argparse.Namespace) -> int:
    """Write each PATH's contents to standard output, in order."""
    fail = _Failures("cat")
    out = sys.stdout.buffer
    with Places(args) as places:
        for text in args.paths:
            try:
                loc = places.remote(text)
                with _volume_of(loc).open(loc.path, "rb") as f:
                    shutil.copyfileobj(f, out, CHUNK)
            except _ERRORS as exc:
                out.flush()
                fail(f"{text}: {strerror(exc)}")
        out.flush()
    return fail.code


# -- mv -------------------------------------------------------------------------------------
def run_mv(args: argparse.Namespace) -> int:
    """Rename SOURCE to DEST, or move several SOURCEs into the directory DEST, inside one
    volume (RENAME: the data does not move). DEST may be a URL on the same volume or a path
    starting with '/' in the sources' volume. An existing directory DEST receives the
    sources by name."""
    fail = _Failures("mv")
    *sources, dest_text = args.operands
    if not sources:
        fail(f"missing destination file operand after '{dest_text}'")
        return fail.code
    with Places(args) as places:
        srcs = [places.remote(s) for s in sources]
        vol = _volume_of(srcs[0])
        if dest_text.startswith("/") and not args.brick:
            dest = Location(srcs[0].store, dest_text, dest_text)
        else:
            dest = places.remote(dest_text)
        into = vol.is_dir(dest.path) if _volume_of(dest) is vol else False
        if len(srcs) > 1 and not into:
            fail(f"target '{dest_text}' is not a directory")
            return fail.code
        for src in srcs:
            if _volume_of(src) is not vol or _volume_of(dest) is not vol:
                fail(f"cannot move '{src.shown}' to '{dest_text}': not on the same volume")
                continue
            target = dest.child(src.name) if into else dest
            try:
                vol.lstat(src.path)
            except _ERRORS as exc:
                fail(f"cannot stat '{src.shown}': {strerror(exc)}")
                continue
            try:
                vol.rename(src.path, target.path)
            except _ERRORS as exc:
                fail(f"cannot move '{src.shown}' to '{target.shown}': {strerror(exc)}")
    return fail.code


def _help_flag_only_long(parser: argparse.ArgumentParser) -> None:
    """Leave ``-h`` free for du's --human-readable, as GNU du does (help stays ``--help``)."""
    help_action = parser._option_string_actions.pop("-h")
    help_action.option_strings = [o for o in help_action.option_strings if o != "-h"]


def _paths(nargs: Any = "+") -> Any:
    return arg("paths", nargs=nargs, metavar="URL|PATH")


COMMANDS = (
    Command(
        "du",
        run_du,
        help="disk usage of a tree in a volume, like du",
        arguments=(
            _help_flag_only_long,
            _paths(),
            arg("-s", "--summarize", action="store_true", help="only a total for each PATH"),
            arg("-h", "--human-readable", dest="human", action="store_true", help="1K 234M 2G"),
            *VOLUME_FLAGS,
        ),
    ),
    Command(
        "find",
        run_find,
        help="list the paths of a tree in a volume, like find",
        arguments=(
            _paths(),
            arg("-name", dest="name", metavar="GLOB", help="base name matches GLOB"),
            arg("-type", dest="type", choices=sorted(_TYPES), help="f, d or l"),
            *VOLUME_FLAGS,
        ),
    ),
    Command(
        "tree",
        run_tree,
        help="draw a tree of a volume's directory, like tree",
        arguments=(arg("path", metavar="URL|PATH"), *VOLUME_FLAGS),
    ),
    Command(
        "cat",
        run_cat,
        help="write files of a volume to standard output",
        arguments=(_paths(), *VOLUME_FLAGS),
    ),
    Command(
        "mv",
        run_mv,
        help="rename files and directories inside a volume",
        arguments=(arg("operands", nargs="+", metavar="SOURCE... DEST"), *VOLUME_FLAGS),
    ),
)

__all__ = ["COMMANDS", "human_size", "is_url"]
