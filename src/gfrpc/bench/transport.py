"""``gfrpc bench-transport``: MB/s and CPU-seconds per GB of 1 MiB RPC calls.

Theory of operation. Every *cell* is (poller or baseline) × TLS on/off × N connections. The
server runs in a process of its own (``python -m gfrpc.bench.server``), so the load
generator and the server never share a GIL; this process drives it.

* gfrpc cells: the server is an ``RpcServer`` (poller under test, its worker pool) with the
  ``gfrpc-bench`` program. Each WRITE is handed to the pool (``--handler workers``, the
  default: the transport as the foundation issue measured it) or runs on the poller thread
  that read it (``--handler inline``: what the brick does with a record of up to 1 MiB), so
  the hand-off's price can be read off two runs. This process opens N ``RpcClient``
  connections on a client poller
  of the same kind (``--client-poller`` to change that) and keeps ``--window`` WRITE calls
  (default 1) outstanding on each. Calls are chained from the reply callback (which runs on
  the client's transport thread), so no extra client threads are involved.
* baseline cells: bare blocking sockets, one thread per connection on both sides, a 4-byte
  length + payload per message, a 16-byte answer (``baseline.py``), same TLS contexts.

Each cell: connect and warm up (one call per connection, not measured), then run for
``--seconds``; calls in flight at the deadline complete and are counted. Measured: payload
bytes acknowledged, wall time from start to the last completion, CPU of this process
(``getrusage(RUSAGE_SELF)``, all threads) and of the server process (``/proc/PID/stat``
utime + stime), both as deltas over the run. MB/s = 10**6 payload bytes per second;
CPU-s/GB = (client + server CPU seconds) per 10**9 payload bytes. A table row is the median
over ``--repeats``; ratios compare a row with the baseline of the same TLS setting and
connection count measured in the same run. Repeats are the outer loop, so slow drift of this
noisy machine hits every cell alike.
"""

from __future__ import annotations

import argparse
import os
import resource
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from gfrpc.bench import report
from gfrpc.bench.baseline import BaselineLoad, Budget, Load
from gfrpc.bench.server import (
    BENCH_PROGRAM,
    BENCH_VERSION,
    BENCH_WRITE,
    REPLY,
    write_args_header,
)
from gfrpc.testing.certs import make_bench_context, write_shared_certs
from gfrpc.transport import POLLER_NAMES

POLLERS = POLLER_NAMES  # every poller is measured by default
DEFAULT_CONNECTIONS = (1, 4, 24)
DEFAULT_SECONDS = 1.5
DEFAULT_REPEATS = 3
PAYLOAD = 1 << 20
HOST = "127.0.0.1"
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_CPUCLOCK_SCHED = 2  # the kernel's CPU-clock kind that counts scheduled nanoseconds


# -- CPU accounting ---------------------------------------------------------------------------


def self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def proc_cpu(pid: int) -> float:
    """The CPU time of process ``pid`` (all its threads, the finished ones too), in seconds.

    Read from the process's CPU-time clock (``clock_getcpuclockid(3)``: Linux numbers it
    ``(~pid << 3) | CPUCLOCK_SCHED``), which counts nanoseconds; ``/proc/PID/stat``'s utime and
    stime, the fallback, count clock ticks (10 ms here), which is 8 µs per STAT over 1,200
    STATs. OSError where the process is gone."""
    try:
        return time.clock_gettime((~pid << 3) | _CPUCLOCK_SCHED)
    except OSError:
        if not os.path.exists(f"/proc/{pid}"):
            raise
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    fields = data[data.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK  # fields 14, 15 of stat(5)


# -- the server process -----------------------------------------------------------------------


class ServerProcess:
    """``python -m gfrpc.bench.server`` as a child; stopped by closing its stdin."""

    def __init__(
        self,
        mode: str,
        poller: str,
        event_threads: int,
        tls_dir: str | None,
        inline: bool = False,
    ) -> None:
        cmd = [
            sys.executable,
            "-m",
            "gfrpc.bench.server",
            "--mode",
            mode,
            "--poller",
            poller,
            "--event-threads",
            str(event_threads),
            "--host",
            HOST,
            "--port",
            "0",
        ]
        if tls_dir:
            cmd += ["--tls-dir", tls_dir]
        if inline and mode == "rpc":
            cmd.append("--inline")
        env = dict(os.environ)
        src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.pid = self.proc.pid
        self.port = self._read_port(30.0)

    def _read_port(self, timeout: float) -> int:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line.startswith(b"PORT "):
            self.stop()
            raise RuntimeError(f"bench server did not start (got {line!r})")
        return int(line.split()[1])

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # our own child, by its pid
            self.proc.wait(5)


# -- the gfrpc load ---------------------------------------------------------------------------


class _Chain:
    """One connection's stream of WRITE calls, each issued from the previous one's reply."""

    def __init__(self, load: RpcLoad, client: Any) -> None:
        self.load = load
        self.client = client
        self.count = 0
        self.inflight = 0
        self.end = 0.0
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def start(self, window: int) -> None:
        n = 0
        while n < window and self.load.budget.take():
            n += 1
        self.inflight = n
        if n == 0:
            self.end = time.monotonic()
            self.load.chain_finished()
        for _ in range(n):
            self._issue()

    def _issue(self) -> None:
        fut = self.client.call_async(BENCH_PROGRAM, BENCH_VERSION, BENCH_WRITE, self.load.args)
        fut.add_done_callback(self._done)

    def _done(self, fut: Future[Any]) -> None:
        exc = fut.exception()
        with self._lock:
            if exc is not None:
                self.error = self.error or exc
            else:
                self.count += 1
        if exc is None and self.load.budget.take():
            self._issue()
            return
        with self._lock:
            self.inflight -= 1
            last = self.inflight == 0
            if last:
                self.end = time.monotonic()
        if last:
            self.load.chain_finished()


@dataclass(eq=False)
class RpcLoad(Load):
    """N RpcClients on one client poller (``poller_name``, ``event_threads``), ``window``
    outstanding WRITE calls each."""

    poller_name: str = "single"
    event_threads: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        self.args = [write_args_header(0, self.payload_size), bytes(self.payload_size)]
        self.budget = Budget(0, None)
        self._clients: list[Any] = []
        self._poller: Any = None
        self._left = 0
        self._all_done = threading.Event()
        self._lock = threading.Lock()

    def prepare(self, timeout: float = 10.0) -> None:
        from gfrpc.rpc import RpcClient
        from gfrpc.transport import make_poller

        self._poller = make_poller(self.poller_name, self.event_threads)
        self._poller.start()
        for _ in range(self.connections):
            client = RpcClient(
                self.address, poller=self._poller, tls=self.tls, frame_timeout=120, ping_timeout=0
            )
            client.connect(timeout)
            self._clients.append(client)
        expected = REPLY.pack(self.payload_size, 0, 0)
        warm = [
            c.call_async(BENCH_PROGRAM, BENCH_VERSION, BENCH_WRITE, self.args)
            for c in self._clients
        ]
        for fut in warm:
            body = bytes(fut.result(timeout).body)
            if body != expected:
                raise RuntimeError(f"unexpected WRITE reply {body!r}")

    def chain_finished(self) -> None:
        with self._lock:
            self._left -= 1
            if self._left == 0:
                self._all_done.set()

    def run(self, seconds: float | None, max_bytes: int | None = None) -> tuple[int, float]:
        chains = [_Chain(self, c) for c in self._clients]
        self._left = len(chains)
        self._all_done.clear()
        t0 = time.monotonic()
        self.budget = Budget.make(t0, seconds, max_bytes, self.payload_size)
        for chain in chains:
            chain.start(self.window)
        if not self._all_done.wait((seconds or 0) + 300):
            raise RuntimeError("bench calls did not finish")
        errors = [c.error for c in chains if c.error is not None]
        if errors:
            raise RuntimeError(f"bench call failed: {errors[0]!r}") from errors[0]
        return sum(c.count for c in chains) * self.payload_size, max(c.end for c in chains) - t0

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()
        if self._poller is not None:
            self._poller.stop()
            self._poller = None


# -- running cells ----------------------------------------------------------------------------


def measure(
    load: Any, server_pid: int, seconds: float | None, max_bytes: int | None = None
) -> dict[str, Any]:
    """Run ``load`` once; bytes, wall time and CPU of both processes over that run."""
    c0, s0 = self_cpu(), proc_cpu(server_pid)
    nbytes, elapsed = load.run(seconds, max_bytes)
    c1, s1 = self_cpu(), proc_cpu(server_pid)
    client_cpu, server_cpu = c1 - c0, s1 - s0
    gb = nbytes / 1e9
    return {
        "bytes": nbytes,
        "seconds": elapsed,
        "mb_per_s": nbytes / elapsed / 1e6 if elapsed > 0 else 0.0,
        "client_cpu_s": client_cpu,
        "server_cpu_s": server_cpu,
        "cpu_s_per_gb": (client_cpu + server_cpu) / gb if gb > 0 else float("inf"),
    }


def run_bench(
    *,
    pollers: list[str],
    connections: list[int],
    tls_modes: list[bool],
    repeats: int,
    seconds: float | None,
    max_bytes: int | None = None,
    event_threads: int = 2,
    payload_size: int = PAYLOAD,
    window: int = 1,
    client_poller: str = "same",
    baseline: bool = True,
    inline: bool = False,
    progress: Any = None,
) -> dict[str, Any]:
    """Run every cell ``repeats`` times; return the samples and run information.
    ``inline``: the gfrpc server runs each WRITE on the poller thread that read it."""
    say = progress or (lambda msg: None)
    tmp = tempfile.mkdtemp(prefix="gfrpc-bench-")
    samples: list[dict[str, Any]] = []
    info: dict[str, Any] = {"cipher": None, "tls_version": None}
    try:
        tls_dir = write_shared_certs(os.path.join(tmp, "certs")) if any(tls_modes) else None
        client_ctx = make_bench_context(tls_dir, server_side=False) if tls_dir else None
        kinds = (["baseline"] if baseline else []) + list(pollers)
        for rep in range(repeats):
            for tls in tls_modes:
                for kind in kinds:
                    mode = "baseline" if kind == "baseline" else "rpc"
                    server = ServerProcess(
                        mode,
                        kind if mode == "rpc" else "single",
                        event_threads,
                        tls_dir if tls else None,
                        inline=inline,
                    )
                    try:
                        for n in connections:
                            ctx = client_ctx if tls else None
                            load: Any
                            if mode == "baseline":
                                load = BaselineLoad(HOST, server.port, n, ctx, payload_size, window)
                            else:
                                cp = kind if client_poller == "same" else client_poller
                                load = RpcLoad(
                                    HOST,
                                    server.port,
                                    n,
                                    ctx,
                                    payload_size,
                                    window,
                                    poller_name=cp,
                                    event_threads=event_threads,
                                )
                            try:
                                load.prepare()
                                if mode == "baseline" and tls and load.cipher:
                                    info["cipher"] = load.cipher[0]
                                    info["tls_version"] = load.tls_version
                                sample = measure(load, server.pid, seconds, max_bytes)
                            finally:
                                load.close()
                            sample.update(kind=kind, tls=tls, connections=n, repeat=rep)
                            samples.append(sample)
                            say(
                                f"  {kind:<10} tls={'on ' if tls else 'off'} conns={n:<3} "
                                f"rep={rep + 1}: {sample['mb_per_s']:8.1f} MB/s "
                                f"{sample['cpu_s_per_gb']:6.2f} CPU-s/GB"
                            )
                    finally:
                        server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"samples": samples, **info}


# -- command line -----------------------------------------------------------------------------


def comma_list(
    kind: Callable[[str], Any], choices: Sequence[str] | None = None, minimum: int = 1
) -> Any:
    """An argparse ``type`` for comma-separated values: ``kind`` of each item, each one of
    ``choices`` when given; ints must be >= ``minimum``. (Also ``gfrpc bench``'s.)"""

    def parse(text: str) -> list[Any]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError("empty list")
        if choices is not None:
            bad = [t for t in items if t not in choices]
            if bad:
                raise argparse.ArgumentTypeError(
                    f"{', '.join(bad)}: choose from {', '.join(choices)}"
                )
        try:
            values = [kind(t) for t in items]
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if kind is int and any(v < minimum for v in values):
            raise argparse.ArgumentTypeError(f"numbers must be >= {minimum}")
        return values

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``gfrpc bench-transport``."""
    parser.add_argument(
        "--pollers",
        type=comma_list(str, POLLERS),
        default=list(POLLERS),
        help=f"comma-separated pollers (default: {','.join(POLLERS)})",
    )
    parser.add_argument(
        "--connections",
        type=comma_list(int),
        default=list(DEFAULT_CONNECTIONS),
        help="comma-separated connection counts (default: 1,4,24)",
    )
    parser.add_argument(
        "--tls",
        choices=("on", "off", "both"),
        default="both",
        help="TLS setting(s) to measure (default: both)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=DEFAULT_REPEATS,
        help=f"repeats per cell; the table shows medians (default {DEFAULT_REPEATS})",
    )
    vol = parser.add_mutually_exclusive_group()
    vol.add_argument(
        "--seconds",
        type=float,
        default=None,
        help=f"measured time per cell (default {DEFAULT_SECONDS})",
    )
    vol.add_argument(
        "--megabytes",
        type=float,
        default=None,
        help="payload per cell instead of a time (10**6 bytes, shared by the "
        "connections, rounded up to whole calls)",
    )
    parser.add_argument(
        "--event-threads",
        type=int,
        default=2,
        help="threads of the pool and sharded pollers (both sides; default 2)",
    )
    parser.add_argument(
        "--window", type=int, default=1, help="outstanding 1 MiB calls per connection (default 1)"
    )
    parser.add_argument(
        "--payload", type=int, default=PAYLOAD, help="payload bytes per call (default 1 MiB)"
    )
    parser.add_argument(
        "--client-poller",
        choices=("same", *POLLERS),
        default="same",
        help="poller of the load generator (default: the one under test)",
    )
    parser.add_argument(
        "--handler",
        choices=("workers", "inline"),
        default="workers",
        help="where the gfrpc server runs each call: handed to its 16-thread worker pool "
        "(default) or on the poller thread that read it, as the brick runs a record of up "
        "to 1 MiB",
    )
    parser.add_argument(
        "--server",
        choices=("local",),
        default="local",
        help="which server to measure (only an embedded local one for now)",
    )
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the bare-socket baseline (no ratios then)"
    )
    parser.add_argument("--json", metavar="FILE", default=None, help="also write results as JSON")
    parser.add_argument("--quiet", action="store_true", help="no per-cell progress lines")


# flags the report's header records as given (in this order)
_RECORDED_FLAGS = ("repeats", "window", "payload", "event_threads", "client_poller", "handler")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark described by ``args`` (see :func:`add_arguments`); print the table."""
    tls_modes = {"on": [True], "off": [False], "both": [False, True]}[args.tls]
    seconds: float | None = args.seconds
    max_bytes: int | None = None
    if args.megabytes is not None:
        max_bytes = int(args.megabytes * 1e6)
    elif seconds is None:
        seconds = DEFAULT_SECONDS
    if (
        args.repeats < 1
        or (seconds is not None and seconds <= 0)
        or args.event_threads < 1
        or args.window < 1
        or (max_bytes is not None and max_bytes <= 0)
        or args.payload < 1
    ):
        print(
            "bench-transport: --repeats, --seconds, --megabytes, --event-threads, --window and "
            "--payload must be positive",
            file=sys.stderr,
        )
        return 2
    volume = f"{seconds:g} s per cell" if seconds is not None else f"{args.megabytes:g} MB per cell"
    started = time.monotonic()
    out = sys.stderr if not args.quiet else None
    if out:
        print(
            f"bench-transport: {len(args.pollers) + (0 if args.no_baseline else 1)} server kinds × "
            f"TLS {args.tls} × connections {args.connections} × {args.repeats} repeat(s), "
            f"{volume}",
            file=out,
            flush=True,
        )
    result = run_bench(
        pollers=args.pollers,
        connections=args.connections,
        tls_modes=tls_modes,
        repeats=args.repeats,
        seconds=seconds,
        max_bytes=max_bytes,
        event_threads=args.event_threads,
        payload_size=args.payload,
        window=args.window,
        client_poller=args.client_poller,
        baseline=not args.no_baseline,
        inline=args.handler == "inline",
        progress=(lambda m: print(m, file=out, flush=True)) if out else None,
    )
    wall = time.monotonic() - started
    meta = report.run_info(
        cipher=result["cipher"],
        tls_version=result["tls_version"],
        volume=volume,
        **{k: getattr(args, k) for k in _RECORDED_FLAGS},
        wall=wall,
    )
    rows = report.aggregate(result["samples"])
    aims = report.aims(rows)
    print(report.render(meta, rows, aims))
    if args.json:
        report.write_json(args.json, meta, result["samples"], rows, aims)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gfrpc bench-transport", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
