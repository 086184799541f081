"""Helpers of the fault tests: gfrpc bricks in subprocesses that a test may kill, freeze and
restart; TLS identity directories; a leak check of this process's fds and threads.

A brick runs as ``python -m gfrpc.cli brick`` in its own process, so ``kill -9`` and SIGSTOP
hit a real peer and never the test's interpreter (nor its GIL).
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from proxy_support import FaultProxy

from gfrpc.client import Volume
from gfrpc.programs import fops
from gfrpc.programs.fops import FopProc
from gfrpc.rpc.timers import shared_timers
from gfrpc.rpc.waiter import doorbell

VOLNAME = "faults"


@dataclass(frozen=True)
class TlsDirs:
    """Certificate directories (glusterfs.pem/.key/.ca) of one brick and one client."""

    brick: Path
    client: Path


def _all_threads_stopped(pid: int) -> bool:
    """Whether every thread of process ``pid`` is in state T (stopped)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:  # the thread has exited
            continue
        if state not in ("T", "t"):
            return False
    return True


class BrickProcess:
    """A ``gfrpc brick`` subprocess of directory ``path`` (absolute = its brick path)."""

    def __init__(
        self, path: Path, poller: str, tls: TlsDirs | None, log: Path, extra: tuple[str, ...] = ()
    ) -> None:
        self.path = path
        self.poller = poller
        self.tls = tls
        self.log = log
        self.extra = extra
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def brick_path(self) -> str:
        return str(self.path)

    def start(self) -> BrickProcess:
        """Start (again, on the same port once it had one); return once it logs "ready"."""
        assert self.proc is None or self.proc.poll() is not None, "brick already running"
        self.path.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            "-m",
            "gfrpc.cli",
            "brick",
            "--dir",
            str(self.path),
            "--port",
            str(self.port),
            "--host",
            "127.0.0.1",
            "--volname",
            VOLNAME,
            "--poller",
            self.poller,
            *self.extra,
        ]
        if self.tls is not None:
            argv += ["--tls", "--tls-dir", str(self.tls.brick)]
        self.starts += 1
        with open(self.log, "ab") as out:
            out.write(f"--- start {self.starts}: {' '.join(argv)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + 30
        pattern = re.compile(rb"ready on 127\.0\.0\.1:(\d+)")
        while True:
            # the brick's own "ready" log line is the only event another process offers
            text = self.log.read_bytes().split(f"--- start {self.starts}:".encode())[-1]
            m = pattern.search(text)
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gfrpc brick did not start:\n{self.log_tail()}")
            time.sleep(0.02)

    def send_kill9(self) -> None:
        """SIGKILL, without waiting (safe from any thread, a client's poller thread included);
        :meth:`kill9` reaps."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)

    def kill9(self) -> None:
        """SIGKILL and reap."""
        self.send_kill9()
        if self.proc is not None:
            self.proc.wait(10)

    def freeze(self) -> None:
        """SIGSTOP, and wait until the kernel reports every thread stopped (a signal is
        delivered asynchronously: until then the brick may still answer)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while not _all_threads_stopped(self.proc.pid):
            assert time.monotonic() < deadline, "brick did not stop on SIGSTOP"
            time.sleep(0.001)

    def thaw(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """SIGCONT, SIGTERM, and SIGKILL if it does not stop within 10 s."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGCONT)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no brick log)"


# -- leak check ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Resources:
    """Open fds and live threads of this process (threads named ``faultproxy-*`` belong to
    the test's proxy, not to the code under test, and are not counted)."""

    fds: frozenset[str]
    threads: frozenset[str]

    @staticmethod
    def now() -> Resources:
        fds = frozenset(f"{fd}->{_readlink(fd)}" for fd in os.listdir("/proc/self/fd"))
        threads = frozenset(
            f"{t.name}#{t.ident}"
            for t in threading.enumerate()
            if not t.name.startswith("faultproxy")
        )
        return Resources(fds, threads)


def _readlink(fd: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "?"  # the fd of the listdir itself, gone by now


def baseline() -> Resources:
    """The resources to compare with after the test; first starts the shared timer thread
    and makes the calling thread's doorbell (an eventfd that the thread's synchronous calls
    wait on), both kept for the life of the process or thread by design: a test that ran first
    in its process would otherwise count them as leaks."""
    shared_timers().call_later(0, lambda: None)
    doorbell()
    return Resources.now()


def assert_no_leaks(before: Resources, timeout: float = 10.0) -> None:
    """Every thread started and every fd opened since ``before`` is gone (threads get up to
    ``timeout`` s to exit; fds are compared once the threads are gone)."""
    deadline = time.monotonic() + timeout
    while True:
        after = Resources.now()
        extra_threads = after.threads - before.threads
        if not extra_threads or time.monotonic() > deadline:
            break
        for t in threading.enumerate():
            if f"{t.name}#{t.ident}" in extra_threads:
                t.join(0.05)
                break
    extra_fds = {f for f in after.fds - before.fds if not f.endswith("->?")}
    # an fd number may be reused for another object: compare counts as well as names
    grown = len([f for f in after.fds if not f.endswith("->?")]) - len(
        [f for f in before.fds if not f.endswith("->?")]
    )
    assert not extra_threads, f"threads left behind: {sorted(extra_threads)}"
    assert not extra_fds and grown <= 0, f"fds left behind: {sorted(extra_fds)} (+{grown})"


def wait_all(futures: list[Any], timeout: float) -> float:
    """Wait until every future is done; return the seconds it took (fails after timeout)."""
    start = time.monotonic()
    for f in futures:
        left = start + timeout - time.monotonic()
        try:
            f.exception(timeout=max(0.0, left))
        except TimeoutError:
            pytest.fail(
                f"{sum(not g.done() for g in futures)} of {len(futures)} calls still "
                f"pending after {timeout} s"
            )
    return time.monotonic() - start


# -- a workload whose every reply can be checked against its request ------------------------

MIB = 1 << 20


def tagged_block(tag: int, index: int, size: int = MIB) -> bytes:
    """``size`` bytes (a multiple of 4) naming their file ``tag`` and block ``index``."""
    return ((tag << 16) | index).to_bytes(4, "big") * (size // 4)


class Workload:
    """One data file of distinct blocks (a READ of block i must return block i) and small
    files of distinct sizes (a STAT of file i must return its gfid and size), in a volume of
    one brick. Calls go straight through the BrickConnection, pipelined."""

    def __init__(
        self,
        vol: Any,
        prefix: str,
        *,
        blocks: int = 8,
        block_size: int = MIB,
        files: int = 6,
        tag: int = 7,
    ) -> None:
        self.vol = vol
        self.conn = vol.bricks[0]
        self.tag, self.block_size, self.blocks = tag, block_size, blocks
        self.path = f"/{prefix}.data"
        vol.write_bytes(
            self.path, b"".join(tagged_block(tag, i, block_size) for i in range(blocks))
        )
        self.file = vol.open(self.path, "rb", buffering=0)
        self.small: list[tuple[bytes, int]] = []  # (gfid, size)
        for i in range(files):
            size = 100 + 37 * i
            vol.write_bytes(f"/{prefix}.{i}", b"s" * size)
            self.small.append((vol.stat(f"/{prefix}.{i}").gfid.bytes, size))

    def issue(self, reads: int | None = None, stats: bool = True) -> list[tuple[str, int, Any]]:
        """Send READs of blocks 0..reads-1 (default all) and STATs of every small file,
        interleaved; returns ``(kind, index, future)`` for :meth:`check`."""
        n = self.blocks if reads is None else reads
        calls: list[tuple[str, int, Any]] = []
        for i in range(max(n, len(self.small) if stats else 0)):
            if i < n:
                calls.append(
                    (
                        "read",
                        i,
                        self.conn.read_async(
                            self.file.gfid, self.file.fd, i * self.block_size, self.block_size
                        ),
                    )
                )
            if stats and i < len(self.small):
                calls.append(
                    (
                        "stat",
                        i,
                        self.conn.fop_async(FopProc.STAT, fops.GfxStatReq(gfid=self.small[i][0])),
                    )
                )
        return calls

    def check(
        self, calls: list[tuple[str, int, Any]], *, may_fail: bool = False
    ) -> tuple[int, list[BaseException]]:
        """Every completed call carries the answer to its own request; failures are ENOTCONN
        and only allowed with ``may_fail``. Returns (successes, failures)."""
        ok, failed = 0, []
        for kind, i, fut in calls:
            exc = fut.exception(0)
            if exc is not None:
                failed.append(exc)
                continue
            rsp, data = fut.result()
            if kind == "read":
                assert rsp.op_ret == self.block_size, f"READ {i}: op_ret {rsp.op_ret}"
                assert bytes(data) == tagged_block(self.tag, i, self.block_size), (
                    f"READ {i} got another call's data"
                )
            else:
                gfid, size = self.small[i]
                assert rsp.op_ret == 0, f"STAT {i}: op_ret {rsp.op_ret}"
                assert (bytes(rsp.stat.ia_gfid), rsp.stat.ia_size) == (gfid, size), (
                    f"STAT {i} got another file's attributes"
                )
            ok += 1
        wrong = [e for e in failed if getattr(e, "errno", None) != errno.ENOTCONN]
        assert not wrong, f"calls failed with something other than ENOTCONN: {wrong[:3]}"
        assert may_fail or not failed, f"{len(failed)} calls failed: {failed[:3]}"
        return ok, failed

    def verify_through_the_volume(self) -> None:
        """A fresh read of the data file and stats of the small files (they reconnect if
        needed) return the right contents."""
        whole = self.vol.read_bytes(self.path)
        assert whole == b"".join(
            tagged_block(self.tag, i, self.block_size) for i in range(self.blocks)
        )


def through_proxy(
    proxy: FaultProxy, brick: BrickProcess, tls: TlsDirs | None, poller: str, **kwargs: Any
) -> Volume:
    """A Volume of ``brick`` reached through ``proxy`` (a FaultProxy in front of it), with
    reconnect attempts allowed at once after a loss; kwargs go to Volume.connect_brick."""
    vol = Volume.connect_brick(
        "127.0.0.1",
        proxy.port,
        brick.brick_path,
        VOLNAME,
        tls=str(tls.client) if tls else None,
        poller=poller,
        **kwargs,
    )
    vol.bricks[0].reconnect_interval = 0
    return vol
