"""The server process of ``bench-transport``: a gfrpc RPC server or the bare-socket baseline.

Run as ``python -m gfrpc.bench.server --mode rpc --poller pool --tls-dir D --port 0``. It
prints ``PORT <n>`` on stdout once it listens, serves until its stdin reaches EOF (the
benchmark closes the pipe) or it gets SIGTERM, then exits. It runs in a process of its own
so that the server and the load generator do not share one GIL.

The benchmark program (``gfrpc-bench``, prognum 0x20000099 v1) has one procedure, WRITE
(proc 1), shaped like GlusterFS's WRITE: the arguments are a small XDR header
(``offset`` u64, ``size`` u32, ``flags`` u32) followed by ``size`` raw payload bytes; the
results are a ``gf_common_rsp``-like 12 bytes (op_ret = size, op_errno = 0, empty xdata).
"""

from __future__ import annotations

import argparse
import os
import signal
import struct
import sys
import threading
from typing import Any

BENCH_PROGRAM = 0x20000099
BENCH_VERSION = 1
BENCH_WRITE = 1
BENCH_NAME = "gfrpc-bench"
WRITE_HEADER = struct.Struct(">QII")  # offset, size, flags (XDR: uhyper, uint, uint)
REPLY = struct.Struct(">iiI")  # op_ret, op_errno, xdata length 0


def write_args_header(offset: int, size: int) -> bytes:
    """The XDR header that precedes a WRITE payload."""
    return WRITE_HEADER.pack(offset, size, 0)


def _write_handler(request: Any) -> bytes:
    args = request.args
    if len(args) < WRITE_HEADER.size:
        from gfrpc.rpc import GarbageArgs

        raise GarbageArgs("short WRITE header")
    _offset, size, _flags = WRITE_HEADER.unpack_from(args)
    if len(args) - WRITE_HEADER.size != size:
        from gfrpc.rpc import GarbageArgs

        raise GarbageArgs(f"WRITE says {size} bytes, carries {len(args) - WRITE_HEADER.size}")
    return REPLY.pack(size, 0, 0)


def start_rpc_server(
    poller_name: str,
    event_threads: int,
    tls_dir: str | None,
    host: str,
    port: int,
    workers: int = 16,
    inline: bool = False,
) -> tuple[Any, int]:
    """Start a poller and an RpcServer with the bench program; return (server, port)."""
    from gfrpc.rpc import Procedure, Program, RpcServer
    from gfrpc.testing.certs import make_bench_context
    from gfrpc.transport import make_poller

    poller = make_poller(poller_name, event_threads)
    poller.start()
    server = RpcServer(poller, workers=workers)
    server.register(
        Program(
            BENCH_PROGRAM,
            BENCH_VERSION,
            BENCH_NAME,
            {BENCH_WRITE: Procedure("WRITE", _write_handler, inline=inline)},
        )
    )
    tls = make_bench_context(tls_dir, server_side=True) if tls_dir else None
    listener = server.listen((host, port), tls=tls)
    return server, int(listener.address.port)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gfrpc.bench.server")
    ap.add_argument("--mode", choices=("rpc", "baseline"), default="rpc")
    ap.add_argument("--poller", default="single")
    ap.add_argument("--event-threads", type=int, default=2)
    ap.add_argument("--tls-dir", default="")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument(
        "--inline",
        action="store_true",
        help="run WRITE on the input thread, not the worker pool (for profiling)",
    )
    args = ap.parse_args(argv)

    if args.mode == "rpc":
        _server, port = start_rpc_server(
            args.poller,
            args.event_threads,
            args.tls_dir or None,
            args.host,
            args.port,
            args.workers,
            args.inline,
        )
    else:
        from gfrpc.bench.baseline import BaselineServer
        from gfrpc.testing.certs import make_bench_context

        tls = make_bench_context(args.tls_dir, server_side=True) if args.tls_dir else None
        baseline = BaselineServer(args.host, args.port, tls)
        baseline.start()
        port = baseline.port

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())

    def watch_stdin() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    while not done.wait(0.5):
        pass
    os._exit(0)  # daemon threads hold sockets; nothing to clean up in a throwaway process


if __name__ == "__main__":
    sys.exit(main())
