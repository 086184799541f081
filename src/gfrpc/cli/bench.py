"""``gfrpc bench``: the 2011 experiment, C and Python clients x C and Python servers, one run.

With no target it stages everything itself (see gfrpc.bench.experiment.stage): as root, inside
a private network and mount namespace, a private glusterd with glusterfsd bricks, gfrpc bricks
behind gfrpc mgmtd, throwaway TLS material; then it runs the plan (gfrpc.bench.experiment.plan),
prints the table and "what bounds each row", and cleans up. With ``gluster://HOST/VOL`` it
measures that volume with gfrpc's client (``--client fio`` for fio's).
"""

from __future__ import annotations

import argparse
import shlex
import signal
import threading
from pathlib import Path

from gfrpc.bench.transport import comma_list
from gfrpc.errors import ConfigError
from gfrpc.services.brick.server import DEFAULT_POLLER

from .common import Command, _size

WORKLOAD_CHOICES = ("seq-write", "seq-read", "smallfile", "stat")
DESCRIPTION = (
    "Measure seq-write (the seed's 24 streams x 1 MiB records), seq-read, smallfile and stat "
    "with the real C client (fio --ioengine=gfapi) and gfrpc's client, against the real "
    "glusterfsd and the gfrpc brick, in one interleaved run. With no target, everything is "
    "started here (as root inside a private network namespace) and removed afterwards. Prints "
    "MB/s or ops/s (medians), CPU, busy cores, latency and the ratio to fio -> glusterfsd."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from gfrpc.services.brick.server import IO_POLICIES
    from gfrpc.transport import POLLER_NAMES

    p.add_argument(
        "target",
        nargs="?",
        metavar="gluster://HOST[:PORT]/VOL",
        help="measure an existing volume instead of staging servers",
    )
    p.add_argument(
        "--workload",
        action="append",
        choices=WORKLOAD_CHOICES,
        help="seq-write, seq-read, smallfile or stat (repeat for several; default seq-write)",
    )
    p.add_argument(
        "--client",
        type=comma_list(str, ("fio", "gfrpc")),
        default=None,
        help="comma-separated clients: fio (gfapi, C), gfrpc (default both; gfrpc "
        "for a gluster:// target)",
    )
    p.add_argument(
        "--server",
        type=comma_list(str, ("gfrpc", "glusterfsd")),
        default=None,
        help="comma-separated servers: gfrpc (the brick), glusterfsd (default both)",
    )
    p.add_argument(
        "--poller",
        type=comma_list(str, tuple(POLLER_NAMES)),
        default=None,
        help=f"the gfrpc brick's poller(s): {', '.join(POLLER_NAMES)} "
        f"(default {DEFAULT_POLLER}, the brick's own)",
    )
    p.add_argument(
        "--event-threads",
        type=comma_list(int),
        default=None,
        metavar="N[,N...]",
        help="pool threads of the gfrpc brick and glusterfsd's server.event-threads (default 2)",
    )
    p.add_argument(
        "--io-threads",
        type=comma_list(int, minimum=0),
        default=None,
        metavar="N[,N...]",
        help="the gfrpc brick's --io-threads, one brick per value (0: every FOP on the "
        "poller thread; default: the brick's own, no extra rows)",
    )
    p.add_argument(
        "--io-policy",
        type=comma_list(str, IO_POLICIES),
        default=None,
        metavar="POLICY[,POLICY...]",
        help=f"the gfrpc brick's --io-policy ({', '.join(IO_POLICIES)}), one brick per value "
        "(moot with --io-threads 0; default: the brick's own, no extra rows)",
    )
    p.add_argument(
        "--baton",
        type=comma_list(str, ("on", "off")),
        default=None,
        metavar="on|off[,...]",
        help="the gfrpc brick's --baton, one brick per value (on: its poller threads run "
        "Python work one at a time; default: the brick's own, no extra rows)",
    )
    p.add_argument(
        "--tls",
        choices=("on", "off", "both"),
        default=None,
        help="TLS on the brick connections (default both; for a gluster:// "
        "target: on with --tls-dir, else off)",
    )
    p.add_argument(
        "--connections",
        choices=("per-stream", "shared"),
        default="per-stream",
        help="gfrpc's client: one connection per stream (default) or one shared",
    )
    p.add_argument("--streams", type=int, default=24, help="streams at once (default 24)")
    p.add_argument(
        "--record",
        type=_size,
        default=1 << 20,
        metavar="BYTES",
        help="bytes per read/write call of seq-* (default 1M)",
    )
    p.add_argument(
        "--size",
        type=_size,
        default=None,
        metavar="BYTES",
        help="bytes per stream of seq-* (default 64M; 16M in the default run)",
    )
    p.add_argument(
        "--files",
        type=int,
        default=250,
        metavar="N",
        help="files per stream for smallfile (default 250)",
    )
    p.add_argument(
        "--file-size",
        type=_size,
        default=4096,
        metavar="BYTES",
        help="bytes per small file (default 4K)",
    )
    p.add_argument(
        "--stat-files",
        type=int,
        default=20,
        metavar="N",
        help="files per stream the stat workload stats in turn (default 20)",
    )
    p.add_argument(
        "--stat-ops",
        type=int,
        default=500,
        metavar="N",
        help="STAT calls per stream for the stat workload (default 500)",
    )
    p.add_argument("--repeats", type=int, default=3, help="runs per row, interleaved (default 3)")
    p.add_argument(
        "--compare",
        action="store_true",
        help="the full matrix: seq-write, seq-read, smallfile x every client and "
        "server x pollers and event-threads 1, 2, 4, TLS on and off, and stat with "
        "gfrpc's client; ends with issue 9's targets, met or missed",
    )
    p.add_argument(
        "--sweep-connections",
        type=comma_list(int),
        default=None,
        metavar="N,N,...",
        help="also seq-write with gfrpc's client into the gfrpc brick at these "
        "connection counts, for each poller, with brick RSS and threads",
    )
    p.add_argument("--json", metavar="FILE", default=None, help="write the results as JSON")
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        default=None,
        help="write bar charts (needs matplotlib: pip install 'gfrpc[bench]')",
    )
    p.add_argument(
        "--from-json",
        metavar="FILE",
        default=None,
        help="measure nothing: print the table (and --plot) of a saved --json run",
    )
    p.add_argument(
        "--tls-dir",
        metavar="DIR",
        default=None,
        help="for a gluster:// target with --tls on: the client identity (glusterfs.pem/.key/.ca)",
    )
    p.add_argument(
        "--mgmt-tls",
        action="store_true",
        help="for a gluster:// target: management (port 24007) over TLS too (secure-access)",
    )
    p.add_argument(
        "--scratch",
        metavar="DIR",
        default=None,
        help="parent of the run's private directory (default: a private tmpfs as "
        "root, /dev/shm otherwise)",
    )
    p.add_argument(
        "--no-isolate",
        action="store_true",
        help="as root, run in the machine's own network namespace (needs port "
        "24007 free for fio rows)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    from gfrpc.bench.experiment import main

    if args.from_json:
        return main.from_json(args)
    if args.command == "bench-write" and not args.workload:
        args.workload = ["seq-write"]
    _check(args)
    argv = getattr(args, "argv", None)
    if argv is not None and not args.target and not args.no_isolate:
        from gfrpc.bench.experiment.isolation import run_isolated, should_isolate

        if should_isolate():
            debug = ["--debug"] if getattr(args, "debug", False) else []
            return run_isolated([*debug, "bench", *argv_after_command(argv)])

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # runs every clean-up on the way out

    old = (
        signal.signal(signal.SIGTERM, on_term)
        if threading.current_thread() is threading.main_thread()
        else None
    )
    try:
        return main.measure(
            args,
            command="gfrpc bench "
            + shlex.join(argv_after_command(argv) if argv is not None else []),
        )
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


def argv_after_command(argv: list[str]) -> list[str]:
    """The arguments after ``bench`` (global options before it are dropped)."""
    for i, a in enumerate(argv):
        if a in ("bench", "bench-write"):
            rest = argv[i + 1 :]
            return ["--workload", "seq-write", *rest] if a == "bench-write" else rest
    return list(argv)


def _check(args: argparse.Namespace) -> None:
    for name in ("streams", "repeats", "files", "stat_files", "stat_ops"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("record", "file_size"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1 byte")
    if args.size is not None and args.size < 1:
        raise ConfigError("--size must be at least 1 byte")
    if args.target and (args.compare or args.sweep_connections):
        raise ConfigError(
            "--compare and --sweep-connections stage their own servers: "
            "leave out the gluster:// target"
        )
    if args.target and (args.io_threads or args.io_policy or args.baton):
        raise ConfigError(
            "--io-threads, --io-policy and --baton configure the gfrpc bricks the bench starts: "
            "leave out the gluster:// target"
        )
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
    if args.target and args.server and len(args.server) > 1:
        raise ConfigError(
            "with a gluster:// target, --server names what it is: gfrpc or glusterfsd (one)"
        )
    if args.target is None and args.tls_dir:
        raise ConfigError("--tls-dir is for a gluster:// target (staged runs make their own)")


COMMANDS = (
    Command(
        "bench",
        run,
        help="the 2011 experiment: fio (C) and gfrpc clients x glusterfsd and gfrpc "
        "bricks, TLS on and off, side by side in one run",
        description=DESCRIPTION,
        arguments=(add_arguments,),
    ),
    Command(
        "bench-write",
        run,
        help="alias of 'gfrpc bench --workload seq-write'",
        description="The same as 'gfrpc bench --workload seq-write' (kept for old scripts). "
        + DESCRIPTION,
        arguments=(add_arguments,),
    ),
)
