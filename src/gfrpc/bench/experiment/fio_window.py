"""Where fio's I/O starts and ends, and what the server looked like meanwhile.

fio's jobs are separate processes that each set up their own gfapi instance; this module
lines them up at a start barrier (:class:`IoWindow`, through fio's ``exec_prerun`` and
``exec_postrun`` hooks) and samples the server's peak RSS and threads while they run
(:class:`PeakSampler`).
"""

from __future__ import annotations

import os
import select
import shlex
import threading
import time
from pathlib import Path

from gfrpc.bench.experiment.meter import Reading, ServerMeter
from gfrpc.bench.transport import proc_cpu

BARRIER_TIMEOUT_S = 60.0  # longest wait for the last fio job to finish its set-up
SAMPLE_EVERY_S = 0.1  # server RSS / threads sampler period while fio runs
POST_HOLD_S = 10.0  # longest a job's postrun waits for its CPU to be read
_POLL_S = 0.002  # the hook commands' wait step


class PeakSampler:
    """Reads the server's RSS and thread count on entry and every SAMPLE_EVERY_S while the
    block runs, and keeps the peaks (None when the meter cannot see the server)."""

    def __init__(self, meter: ServerMeter) -> None:
        self.meter = meter
        self.rss_mb: float | None = None
        self.threads: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fio-server-sampler", daemon=True)

    def _sample(self) -> None:
        rss, threads = self.meter.rss_mb(), self.meter.threads()
        if rss is not None:
            self.rss_mb = max(rss, self.rss_mb or 0.0)
        if threads is not None:
            self.threads = max(threads, self.threads or 0)

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self._sample()

    def __enter__(self) -> PeakSampler:
        if self.meter.pids:
            self._sample()
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


class IoWindow:
    """A start barrier for fio's jobs, meter readings at the start and end of their I/O, and
    each job process's own CPU over its I/O.

    fio runs a job's ``exec_prerun`` (through ``system``) after its setup (``glfs_init`` and
    the engine's sleep), just before the job's clock starts, and its ``exec_postrun`` right
    after its I/O loop, before ``glfs_fini``. Each job's set-up ends at its own moment (24
    ``glfs_init`` calls spread over hundreds of ms, longer than a 16 MiB job's I/O), so the
    prerun command writes ``pre PID`` into a FIFO that a thread here reads and then waits until
    the file ``go`` exists. When all ``jobs`` have said ``pre`` (or BARRIER_TIMEOUT_S after
    the first did), the thread takes the ``first`` reading and makes ``go``: every job starts
    its I/O within a few ms, as gfrpc's client threads leave their barrier. The ``jobs``-th
    ``post`` takes the ``last`` reading. The FIFO is opened read-write, so it never reads EOF
    and a writer's open never blocks. ``first``/``last`` stay None when fio never got that
    far.

    The client's CPU. fio's own ``usr_cpu``/``sys_cpu`` are ``getrusage(RUSAGE_THREAD)`` of
    the job's thread alone (seen with strace): libgfapi's threads, where its epoll threads
    send and receive (and with TLS encrypt and decrypt), are not in them. So each command
    names its job process (``$PPID``: the shell's parent is the process that ran
    ``system``), this thread reads that process's CPU-time clock (every thread of it) when the
    gate opens and again at the job's ``post``, and the postrun command waits until that
    second reading is taken (the file ``ack.PID``; at most POST_HOLD_S, and never once the
    window has closed), so ``glfs_fini`` is not counted. :meth:`client_cpu_s` sums them."""

    def __init__(self, meter: ServerMeter, fifo: Path, jobs: int) -> None:
        self.meter, self.fifo, self.jobs = meter, fifo, jobs
        self.go = fifo.with_suffix(".go")
        self.closed = fifo.with_suffix(".closed")
        self.first: Reading | None = None
        self.last: Reading | None = None
        self.io_done = threading.Event()
        self._cpu_at_go: dict[int, float | None] = {}  # job pid -> CPU-s when its I/O began
        self._cpu_spent: dict[int, float] = {}  # job pid -> CPU-s over its I/O
        self._acked: list[int] = []
        os.mkfifo(fifo)
        self._fd = os.open(fifo, os.O_RDWR)
        self._thread = threading.Thread(target=self._loop, name="fio-io-window", daemon=True)

    def _ack(self, pid: int | str) -> Path:
        return self.fifo.parent / f"{self.fifo.stem}.ack.{pid}"

    def args(self) -> list[str]:
        """fio options that hold each job at the barrier and mark its end of I/O."""
        q, go = shlex.quote(str(self.fifo)), shlex.quote(str(self.go))
        ack = shlex.quote(str(self._ack(""))) + "$PPID"
        closed = shlex.quote(str(self.closed))
        tries = int(POST_HOLD_S / _POLL_S)
        # fio appends "> JOB.prerun.txt 2>&1" to the command: tee keeps the FIFO write
        return [
            f"--exec_prerun=echo pre $PPID | tee -a {q}; "
            f"while [ ! -e {go} ]; do sleep {_POLL_S}; done",
            f"--exec_postrun=echo post $PPID | tee -a {q}; n=0; "
            f"while [ ! -e {ack} ] && [ ! -e {closed} ] && [ $n -lt {tries} ]; "
            f"do sleep {_POLL_S}; n=$((n+1)); done",
        ]

    def client_cpu_s(self) -> float | None:
        """The CPU-seconds of every job process over its I/O (from the gate to its ``post``,
        all its threads); None unless all ``jobs`` were read at both ends."""
        if len(self._cpu_spent) != self.jobs:
            return None
        return sum(self._cpu_spent.values())

    @staticmethod
    def _cpu(pid: int) -> float | None:
        try:
            return proc_cpu(pid)
        except OSError:
            return None

    def _open_gate(self) -> None:
        self.first = self.meter.reading()
        for pid in self._cpu_at_go:
            self._cpu_at_go[pid] = self._cpu(pid)
        self.go.touch()

    def _job_started(self, pid: int | None) -> None:
        if pid is not None:  # a job after the gate opened is read at once
            self._cpu_at_go[pid] = None if self.first is None else self._cpu(pid)

    def _job_ended(self, pid: int | None) -> None:
        if pid is None:
            return
        start, end = self._cpu_at_go.pop(pid, None), self._cpu(pid)
        if start is not None and end is not None:
            self._cpu_spent[pid] = end - start
        self._ack(pid).touch()
        self._acked.append(pid)

    def _loop(self) -> None:
        buf, pres, posts = b"", 0, 0
        deadline: float | None = None
        while True:
            ready, _, _ = select.select([self._fd], [], [], 0.2)
            if not ready:
                if self.first is None and deadline is not None and time.monotonic() > deadline:
                    self._open_gate()  # a job never came: let the others run, fio reports it
                continue
            buf += os.read(self._fd, 4096)
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                word, _, rest = line.partition(b" ")
                pid = int(rest) if rest.isdigit() else None
                if word == b"pre":
                    pres += 1
                    self._job_started(pid)
                    deadline = deadline or time.monotonic() + BARRIER_TIMEOUT_S
                    if pres == self.jobs and self.first is None:
                        self._open_gate()
                elif word == b"post":
                    posts += 1
                    if posts == self.jobs:
                        self.last = self.meter.reading()
                    self._job_ended(pid)
                    if posts == self.jobs:
                        self.io_done.set()
                elif word == b"stop":
                    return

    def __enter__(self) -> IoWindow:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        os.write(self._fd, b"stop\n")
        self._thread.join()
        self.closed.touch()  # no postrun waits for a reading any more
        os.close(self._fd)
        self.fifo.unlink()
        self.go.unlink(missing_ok=True)
        for pid in self._acked:
            self._ack(pid).unlink(missing_ok=True)
