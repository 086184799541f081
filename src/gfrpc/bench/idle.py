"""``gfrpc bench-idle``: what idle connections cost a brick (RSS and threads).

Theory of operation. The brick runs as a subprocess (``gfrpc brick``) so that its resident
set is its own: this process only opens sockets. For each poller and each mode the command
reads ``VmRSS`` and ``Threads`` from ``/proc/PID/status`` with no client, then opens N
connections that send nothing more (``tcp``: plain; ``tls``: TCP to a TLS brick that never
starts its handshake; ``mark``: plain, each sends one record mark announcing a fragment of
almost 1 GiB and nothing after it; ``tls-1m``: TLS, each sends one 1 MiB request, a GF-DUMP
PING padded to the size of a gfapi WRITE, and reads its reply, as a connection that once
carried data and then idles), waits until the brick holds them all (its fd count), reads
again, closes them, waits until the fds are gone and reads a third time. The brick is started
with its timeouts off so that nothing is closed by the brick while measuring (``--brick-arg``
replaces that; pass none to measure a build that predates those options).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from gfrpc.programs import dump
from gfrpc.testing.realgluster.probe import recv_record
from gfrpc.tls.options import TLSOptions, make_context
from gfrpc.transport import POLLER_NAMES
from gfrpc.wire.record import record_mark
from gfrpc.wire.rpcmsg import encode_call

MODES = ("tcp", "tls", "mark", "tls-1m")
BIG_REQUEST = 1 << 20  # the padding of a tls-1m request
_READY = re.compile(r"ready on [^ ]*:(\d+),")


@dataclass
class Sample:
    rss_kib: int
    threads: int


def proc_status(pid: int) -> Sample:
    rss = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return Sample(rss, threads)


def fd_count(pid: int) -> int:
    """Sockets the process holds (own-thread also holds an eventfd per connection)."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return n


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--connections",
        type=int,
        default=1000,
        metavar="N",
        help="idle connections to open (default 1000; mark mode uses N/10)",
    )
    p.add_argument(
        "--poller",
        action="append",
        choices=POLLER_NAMES,
        default=None,
        help="poller(s) to measure (repeatable; default all)",
    )
    p.add_argument(
        "--mode",
        action="append",
        choices=MODES,
        default=None,
        help="tcp, tls (never handshaking), mark (1 GiB record mark) or tls-1m (one 1 MiB "
        "request over TLS, then idle); repeatable; default tcp and tls",
    )
    p.add_argument(
        "--brick-arg",
        action="append",
        default=None,
        metavar="ARG",
        help="argument for gfrpc brick (repeatable, e.g. --brick-arg=--poller-x); "
        "default: the three timeouts off, so that nothing is closed while measuring",
    )
    p.add_argument(
        "--settle",
        type=float,
        default=60.0,
        metavar="S",
        help="longest wait for the brick to accept or drop the connections (default 60 s)",
    )


def _start_brick(
    workdir: str, poller: str, tls: bool, extra: list[str]
) -> tuple[subprocess.Popen[bytes], int]:
    brick = os.path.join(workdir, f"brick-{poller}-{int(tls)}")
    os.makedirs(brick, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "gfrpc.cli",
        "brick",
        "--dir",
        brick,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--poller",
        poller,
        *extra,
    ]
    if tls:
        cmd += ["--tls", "--tls-dir", os.path.join(workdir, "tls")]
    log_path = brick + ".log"  # a file, not a pipe: a full pipe would stall the brick's logging
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, stderr=log_file, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        with open(log_path, errors="replace") as f:
            m = _READY.search(f.read())
        if m:
            return proc, int(m.group(1))
        time.sleep(0.1)
    proc.kill()
    with open(log_path, errors="replace") as f:
        raise RuntimeError(f"brick ({poller}) did not start: {f.read()[-500:]}")


def _wait_fds(pid: int, pred: Callable[[int], bool], settle: float) -> bool:
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        if pred(fd_count(pid)):
            return True
        time.sleep(0.1)
    return False


def _big_request(sock: ssl.SSLSocket, xid: int) -> None:
    """Send one 1 MiB request (a PING with padding) over ``sock`` and read its whole reply."""
    call = encode_call(xid, dump.GF_DUMP_PROGRAM, dump.GF_DUMP_VERSION, dump.PING)
    sock.sendall(record_mark(len(call) + BIG_REQUEST) + call)
    sock.sendall(bytes(BIG_REQUEST))
    recv_record(sock)


def measure(
    poller: str, mode: str, n: int, workdir: str, extra: list[str], settle: float
) -> tuple[Sample, Sample, Sample, int]:
    """(before, with N connections, after closing them, connections the brick held)."""
    proc, port = _start_brick(workdir, poller, mode.startswith("tls"), extra)
    socks: list[socket.socket] = []
    client_ctx = (
        make_context(TLSOptions.from_dir(os.path.join(workdir, "tls")), server_side=False)
        if mode == "tls-1m"
        else None
    )
    try:
        time.sleep(0.5)
        base_fds = fd_count(proc.pid)
        before = proc_status(proc.pid)
        mark = (0x3FFFFFFF | 0x80000000).to_bytes(4, "big")
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            if mode == "mark":
                s.sendall(mark)
            elif client_ctx is not None:
                s = client_ctx.wrap_socket(s)
                _big_request(s, i + 1)
            socks.append(s)
        _wait_fds(proc.pid, lambda k: k >= base_fds + n, settle)
        time.sleep(1.0)
        held = fd_count(proc.pid) - base_fds
        during = proc_status(proc.pid)
        for s in socks:
            s.close()
        socks.clear()
        _wait_fds(proc.pid, lambda k: k <= base_fds, settle)
        time.sleep(1.0)
        after = proc_status(proc.pid)
        return before, during, after, held
    finally:
        for s in socks:
            s.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(args: argparse.Namespace) -> int:
    pollers = args.poller or list(POLLER_NAMES)
    modes = args.mode or ["tcp", "tls"]
    workdir = tempfile.mkdtemp(prefix="gfrpc-idle-")
    try:
        if "tls" in modes or "tls-1m" in modes:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "gfrpc.cli",
                    "certs",
                    os.path.join(workdir, "tls"),
                    "--cn",
                    "brick",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        print(
            f"{'poller':<10} {'mode':<6} {'conns':>6} {'held':>6} {'RSS0 MiB':>9} "
            f"{'RSS-N MiB':>10} {'KiB/conn':>9} {'RSS-after':>10} {'thr0':>5} {'thrN':>5} "
            f"{'thr-after':>9}"
        )
        for poller in pollers:
            for mode in modes:
                n = max(1, args.connections // 10) if mode == "mark" else args.connections
                extra = (
                    list(args.brick_arg)
                    if args.brick_arg is not None
                    else ["--handshake-timeout=0", "--first-request-timeout=0", "--frame-timeout=0"]
                )
                b, d, a, held = measure(poller, mode, n, workdir, extra, args.settle)
                per = (d.rss_kib - b.rss_kib) / max(1, n)
                print(
                    f"{poller:<10} {mode:<6} {n:>6} {held:>6} {b.rss_kib / 1024:>9.1f} "
                    f"{d.rss_kib / 1024:>10.1f} {per:>9.1f} {a.rss_kib / 1024:>10.1f} "
                    f"{b.threads:>5} {d.threads:>5} {a.threads:>9}",
                    flush=True,
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    _parser = argparse.ArgumentParser(prog="python -m gfrpc.bench.idle")
    add_arguments(_parser)
    sys.exit(run(_parser.parse_args()))
