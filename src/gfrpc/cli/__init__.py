"""``gfrpc``: the command line. One-line errors, never tracebacks (``--debug`` shows them)."""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
from collections.abc import Sequence

from gfrpc import __version__
from gfrpc.errors import GfrpcError

from . import bench, brick, certs, files, mgmtd, probe, soak, transfer, volume
from .common import Command, register


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gfrpc",
        description="A pure-Python, wire-compatible GlusterFS RPC transport and tools.",
    )
    parser.add_argument("--version", action="version", version=f"gfrpc {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    register(
        sub,
        (
            *probe.COMMANDS,
            *brick.COMMANDS,
            *mgmtd.COMMANDS,
            *volume.COMMANDS,
            *certs.COMMANDS,
            *files.COMMANDS,
            *transfer.COMMANDS,
            *soak.COMMANDS,
            *bench.COMMANDS,
            *_bench_commands(),
        ),
    )
    return parser


def _bench_commands() -> tuple[Command, ...]:
    from gfrpc.bench import idle as bench_idle
    from gfrpc.bench import transport as bench_transport

    return (
        Command(
            "bench-transport",
            bench_transport.run,
            help="measure MB/s and CPU-s/GB of 1 MiB RPC calls for every poller, TLS on and off",
            description="Measure MB/s and CPU-seconds per GB for 1 MiB RPC calls with a small "
            "reply, over 1, 4 and 24 connections, for each poller, with TLS on and off, "
            "beside a bare-socket baseline measured in the same run.",
            arguments=(bench_transport.add_arguments,),
        ),
        Command(
            "bench-idle",
            bench_idle.run,
            help="brick RSS and threads at 0, N and again 0 idle connections, for each poller",
            description="Start a gfrpc brick per poller and mode, open N connections that send "
            "nothing (tcp), never start their TLS handshake (tls) or announce a ~1 GiB record "
            "and stall (mark), and print the brick's VmRSS and thread count before, with them, "
            "and after they closed.",
            arguments=(bench_idle.add_arguments,),
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    if getattr(args, "command", None) in ("brick", "mgmtd"):
        level = min(level, logging.INFO)  # the daemons log their "ready" line
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # whoever read our output stopped (``gfrpc ls | head``): stop quietly, as shell tools
        # do, and let nothing more be written to the closed pipe at exit
        _silence_stdout()
        return 141  # 128 + SIGPIPE, a shell's status for a writer the pipe stopped
    except (GfrpcError, OSError) as exc:
        if args.debug:
            raise
        print(f"gfrpc {args.command}: {_one_line(exc)}", file=sys.stderr)
        return 1


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass  # not a real file (a test's stand-in): nothing will flush to a pipe


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
