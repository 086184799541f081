"""``gfrpc cp``: copy files and trees between local paths and volumes, the way ``cp`` does.

The engine is :mod:`gfrpc.client.transfer`; this module turns operands into locations, picks
the progress bar (:mod:`.progress`) and prints one line per failure on stderr, in GNU cp's
words after ``gfrpc cp:``. The exit code is 1 when anything failed, and the rest is copied.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from gfrpc.client.transfer import CopyOptions, Location, copy

from .common import Command, arg
from .places import CONNECT_FLAGS, Places
from .progress import BarProgress, make_progress
from .tree_tools import COMMANDS as TREE_COMMANDS

__all__ = ["COMMANDS", "TRANSFER_FLAGS", "run_copy"]


def run_copy(
    args: argparse.Namespace,
    sources: Sequence[Location],
    dest: Location,
    *,
    console: Any = None,
) -> int:
    """Copy with the flags of ``args`` (``recursive``, ``preserve``, ``jobs``, ``quiet``);
    errors go to stderr as ``gfrpc COMMAND: ...``; returns the exit code."""
    name = args.command
    progress = make_progress(args.quiet, console=console)

    def report(text: str) -> None:
        if isinstance(progress, BarProgress):
            progress.message(f"gfrpc {name}: {text}")
        else:
            print(f"gfrpc {name}: {text}", file=sys.stderr, flush=True)

    options = CopyOptions(
        recursive=args.recursive,
        preserve=getattr(args, "preserve", False),
        jobs=args.jobs,
    )
    failures = copy(sources, dest, options, progress=progress, on_error=report)
    return 1 if failures else 0


def run_cp(args: argparse.Namespace) -> int:
    """Copy SOURCE to DEST, or several SOURCEs into the directory DEST, where each is a local
    path or gluster://HOST[:PORT]/VOLNAME/PATH (volume to volume too). An existing directory
    DEST receives the sources by name; 'cp -r dir new' makes new. With -r, symbolic links
    (in the tree and on the command line) are copied as links, as GNU cp -r does; without it
    they are followed. -p keeps modes and times, and owners when run as root. Failures are
    one line each on stderr and the rest is copied; the exit code is 1 if any failed. A
    progress bar (bytes, rate, ETA, files) is drawn when stderr is a terminal and rich is
    installed."""
    *sources, dest = args.operands
    if not sources:
        print(f"gfrpc cp: missing destination file operand after '{dest}'", file=sys.stderr)
        return 1
    with Places(args) as places:
        return run_copy(args, [places.any(s) for s in sources], places.any(dest))


def _jobs(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError("--jobs must be at least 1")
    return n


TRANSFER_FLAGS = (
    arg("-r", "-R", "--recursive", dest="recursive", action="store_true", help="copy trees"),
    arg(
        "--jobs",
        "-j",
        type=_jobs,
        default=4,
        metavar="N",
        help="files in flight at once (default 4)",
    ),
    arg("-q", "--quiet", action="store_true", help="no progress bar"),
)

COMMANDS = (
    Command(
        "cp",
        run_cp,
        help="copy files and trees between local paths and volumes",
        arguments=(
            arg("operands", nargs="+", metavar="SOURCE... DEST"),
            *TRANSFER_FLAGS,
            arg(
                "-p",
                "--preserve",
                action="store_true",
                help="keep modes and times (and owners when root)",
            ),
            *CONNECT_FLAGS,
        ),
    ),
    *TREE_COMMANDS,
)
