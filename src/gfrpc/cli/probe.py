"""``gfrpc dump``, ``gfrpc ping`` and ``gfrpc portmap``: ask a GlusterFS server about itself."""

from __future__ import annotations

import argparse
import statistics
import time

from gfrpc.client.mgmt import port_by_brick
from gfrpc.errors import GfrpcError, TimeoutError_
from gfrpc.rpc.dump_client import dump, ping
from gfrpc.transport import DEFAULT_PORT

from .common import AddArguments, Command, add_tls_arguments, arg, open_client


def run_dump(args: argparse.Namespace) -> int:
    """Print one line per program: PROGNUM VERSION NAME."""
    client, poller = open_client(args, args.address, timeout=args.timeout)
    try:
        for prognum, progver, name in dump(client, timeout=args.timeout):
            print(f"{prognum} {progver} {name}")
    finally:
        client.close()
        poller.stop()
    return 0


def run_ping(args: argparse.Namespace) -> int:
    """Send GF-DUMP PINGs; exit non-zero if any fails or none is answered within the timeout."""
    if args.count < 1:
        raise GfrpcError("--count must be at least 1")
    deadline = time.monotonic() + args.timeout
    client, poller = open_client(args, args.address, timeout=args.timeout)
    times: list[float] = []
    try:
        for i in range(args.count):
            try:
                times.append(ping(client, timeout=args.timeout))
            except TimeoutError_:
                raise TimeoutError_(
                    f"ping {i + 1} of {args.count} not answered within {args.timeout:g} s"
                ) from None
            if args.interval and i + 1 < args.count:
                time.sleep(args.interval)
    finally:
        client.close()
        poller.stop()
    if not times and time.monotonic() > deadline:
        raise TimeoutError_("no ping answered")
    ms = sorted(t * 1000 for t in times)
    print(f"{len(times)} pings answered by {args.address}, 0 failed")
    print(
        f"latency ms: min {ms[0]:.3f} p50 {_pct(ms, 50):.3f} p90 {_pct(ms, 90):.3f} "
        f"p99 {_pct(ms, 99):.3f} max {ms[-1]:.3f}"
    )
    if len(ms) > 1:
        print(f"mean {statistics.fmean(ms):.3f} ms, stdev {statistics.stdev(ms):.3f} ms")
    return 0


def _pct(sorted_ms: list[float], p: float) -> float:
    if len(sorted_ms) == 1:
        return sorted_ms[0]
    k = (len(sorted_ms) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_ms) - 1)
    return sorted_ms[lo] + (sorted_ms[hi] - sorted_ms[lo]) * (k - lo)


def run_portmap(args: argparse.Namespace) -> int:
    """Print the port that the port mapper gives for BRICK-PATH."""
    client, poller = open_client(args, args.address, timeout=args.timeout)
    try:
        port = port_by_brick(client, args.brick, timeout=args.timeout)
    finally:
        client.close()
        poller.stop()
    if port is None:
        raise GfrpcError(f"the port mapper at {args.address} knows no brick {args.brick}")
    print(port)
    return 0


def _address(server: str) -> AddArguments:
    return arg("address", metavar="HOST[:PORT]", help=f"{server} (default port {DEFAULT_PORT})")


_TIMEOUT = arg("--timeout", type=float, default=10.0, metavar="SECONDS")

COMMANDS = (
    Command(
        "dump",
        run_dump,
        help="list the RPC programs a server serves (GF-DUMP DUMP)",
        arguments=(_address("server"), _TIMEOUT, add_tls_arguments),
    ),
    Command(
        "ping",
        run_ping,
        help="send GF-DUMP PINGs and print latency percentiles",
        arguments=(
            _address("server"),
            arg(
                "--count", "-c", type=int, default=5, metavar="N", help="pings to send (default 5)"
            ),
            arg(
                "--timeout",
                type=float,
                default=10.0,
                metavar="SECONDS",
                help="give up when a ping is not answered in this time (default 10)",
            ),
            arg(
                "--interval",
                type=float,
                default=0.0,
                metavar="SECONDS",
                help="pause between pings (default 0)",
            ),
            add_tls_arguments,
        ),
    ),
    Command(
        "portmap",
        run_portmap,
        help="ask the port mapper for a brick's port (PORTBYBRICK)",
        arguments=(
            _address("glusterd"),
            arg("brick", metavar="BRICK-PATH"),
            _TIMEOUT,
            add_tls_arguments,
        ),
    ),
)
