"""The fio driver: the real C client (``fio --ioengine=gfapi``, libgfapi) on the bench workloads.

Theory of operation. fio runs as a child process, one job (a forked process with its own
gfapi instance, hence its own connection to the brick) per stream, and writes its report as
``--output-format=json+`` to a file in ``scratch``. Facts about fio 3.33's gfapi engine
(``engines/glusterfs.c``, ``glusterfs_sync.c``) that shape what follows:

* ``--brick=HOST`` is the volfile server; there is no port option (always 24007).
* Each job's setup is ``glfs_init`` followed by a fixed ``sleep(2)``, and its teardown is
  ``glfs_fini``, which takes about 8 s more in libgfapi 10.3 (measured here): a fio process
  lasts about 11 s longer than its I/O. fio's own ``runtime`` starts after the setup and ends
  with the I/O loop, so it is the span the figures are computed over (``wall_s``).
* The engine cannot make directories and fio checks ``--directory`` on the *local* file
  system, so the files are named with ``--filename_format=/<tag>/f.$jobnum.$filenum`` and the
  directory ``/<tag>`` is made (and afterwards removed, with everything in it) through
  gfrpc's client. ``$jobname`` is left out so that a layout run and a measured run name the
  same files.
* Opening a file is always ``glfs_creat`` (O_CREAT, no O_EXCL: LOOKUP, then CREATE or OPEN).
  A read job also lstats the file and, when fio does not know its size (``--filesize``
  without ``--size``), fails to extend it and silently skips it; fio also exits 0 when
  ``glfs_creat`` fails. So every job gives ``--size`` and the driver checks fio's bytes and
  I/Os against the cell: an exit status of 0 proves nothing.
* ``--unlink`` removes one file per job only (the engine's unlink hook calls ``glfs_fini``
  after the first file): the smallfile ``unlink`` phase has no fio sample.

Figures (summed or merged over fio's jobs):
* ``wall_s``: the longest job's runtime (fio's own group figure: all bytes over it).
* ``client_cpu_s``: each job process's CPU time (all its threads: fio's job thread and
  libgfapi's epoll and other threads) from the start barrier to the job's end-of-I/O mark,
  read from the process's CPU-time clock by :class:`IoWindow`, so it leaves out init, sleep
  and ``glfs_fini`` as the gfrpc client's figure leaves out connecting. fio's own
  ``usr_cpu``/``sys_cpu`` are ``getrusage(RUSAGE_THREAD)`` of the job thread alone, which
  misses the work libgfapi's threads do (with TLS, most of the crypto); that figure is kept
  as ``evidence["fio_job_thread_cpu_s"]``, and is the fallback (``evidence["client_cpu_from"]``
  says which) when a job's marks are missing.
* ``server_cpu_s`` over ``span_s``: from the first job's start of I/O to the last job's end,
  marked by fio itself through ``exec_prerun``/``exec_postrun`` (:class:`IoWindow`). Around
  the whole process the server would look idle for ~11 s of set-up and teardown (busy cores
  3-10x too low); those figures are kept as ``process_span_s``/``process_server_cpu_s`` and
  are the fallback when the marks are missing (``evidence["server_span"]`` says which).
* ``latencies_ms``: completion latencies of fio's I/O calls (for smallfile the write or read
  of each file, not its create or open), p50/p99 from the json+ histograms merged over jobs.
* ``server_rss_mb``/``server_threads``: peaks of a sampler reading the meter every 0.1 s
  while fio runs.
* ``evidence["server_fops"]`` (a gfrpc brick the bench started): the FOPs it served from just
  before the step's fio started to its jobs' end of I/O (``fopcount.py``), mounts included.
  The client graph has write-behind, which answers a WRITE before sending it: a job's last
  WRITE may reach the brick with its close, after its end of I/O, and go uncounted (and one
  read off the socket may not have reached its handler when the counts are read).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gfrpc.bench.experiment.fio_window import IoWindow, PeakSampler
from gfrpc.bench.experiment.fopcount import fop_delta
from gfrpc.bench.experiment.meter import Reading, ServerMeter, cpu_between, idle_cores_between
from gfrpc.bench.experiment.model import Cell, Sample, Target, UnsupportedCell
from gfrpc.client.volume import Volume
from gfrpc.errors import GfrpcError

FIO_TIMEOUT_S = 1800.0  # one fio process; the bench's biggest cell takes well under
JOB_NAME = "fio"


class FioError(GfrpcError):
    """fio exited non-zero, reported a job error, or did less than the cell asked for."""


class FioCrashed(FioError):
    """fio, or one of its job processes, died of a signal that the bench did not send (a
    crash of the C client: libgfapi 10.3 with TLS has been seen to die of SIGSEGV)."""


_JOB_SIGNAL = re.compile(r"got signal=(\d+)")


def crashed(rc: int, stderr: str) -> bool:
    """Whether fio's exit status ``rc`` and ``stderr`` tell of a crash: fio killed by a
    signal other than the SIGKILL with which the bench stops it, or fio's note that a job
    process died of one."""
    return (rc < 0 and rc != -signal.SIGKILL) or _JOB_SIGNAL.search(stderr) is not None


@dataclass(frozen=True)
class FioStep:
    """One fio process of a cell: its arguments, whether it is measured (a layout run is
    not), the phase, the I/O direction read from fio's JSON, what fio must have done (checked
    for every step) and the one-line note of what it did."""

    args: list[str]
    phase: str | None
    measured: bool
    direction: str = "write"  # "read" or "write" in fio's JSON
    expect_bytes: int = 0
    expect_ios: int = 0  # 0: not checked
    note: str = ""


@dataclass
class FioResult:
    """What one fio report says, summed or merged over its jobs."""

    version: str
    jobs: int
    io_bytes: int
    ios: int
    runtime_ms: int  # the longest job's runtime of ``direction``
    client_cpu_s: float
    latencies_ms: dict[str, float] | None
    job_runtimes_ms: list[int] = field(default_factory=list)


# -- availability ---------------------------------------------------------------------------


def fio_available() -> str | None:
    """None when ``fio`` with the gfapi engine is usable here, else one line saying why not."""
    exe = shutil.which("fio")
    if exe is None:
        return "fio is not installed"
    try:
        r = subprocess.run([exe, "--enghelp=gfapi"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"fio --enghelp=gfapi failed: {e}"
    if r.returncode != 0 or "volume" not in r.stdout:
        why = (r.stderr or r.stdout).strip().splitlines()
        return f"fio has no gfapi engine ({why[-1] if why else f'exit {r.returncode}'})"
    return None


def fio_version() -> str | None:
    """``fio --version`` (e.g. ``fio-3.33``), or None when fio is missing."""
    exe = shutil.which("fio")
    return _version(exe) if exe else None


@functools.lru_cache(maxsize=4)
def _version(exe: str) -> str | None:
    try:
        r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (r.stdout.strip() or None) if r.returncode == 0 else None


# -- what fio is asked to do ------------------------------------------------------------------


def fio_steps(cell: Cell, target: Target, *, tag: str, output_dir: Path) -> list[FioStep]:
    """The fio processes that run ``cell`` against ``target``, in order (each step's output
    file is ``output_dir/<n>.json``). Raises :class:`UnsupportedCell` for what fio cannot do."""
    if target.fio_host is None:
        raise UnsupportedCell(
            f"fio cannot reach {target.url}: it only asks a volfile server on port 24007"
        )
    if cell.workload == "stat":
        raise UnsupportedCell("fio has no stat loop over gfapi")
    if cell.connections != "per-stream":
        raise UnsupportedCell(
            "fio runs one gfapi instance (one connection) per job: "
            "--connections shared is not a fio cell"
        )
    if not re.fullmatch(r"[A-Za-z0-9._-]+", tag):
        raise ValueError(f"run tag {tag!r}: letters, digits, '.', '_' and '-' only")
    n, rec, size = cell.streams, cell.record_bytes, cell.file_bytes

    def args(i: int, *extra: str) -> list[str]:
        return [
            "fio",
            f"--name={JOB_NAME}",
            "--ioengine=gfapi",
            f"--volume={target.volname}",
            f"--brick={target.fio_host}",
            f"--numjobs={n}",
            f"--filename_format=/{tag}/f.$jobnum.$filenum",
            *extra,
            "--output-format=json+",
            f"--output={output_dir / f'{i}.json'}",
        ]

    seq = (f"--bs={rec}", f"--size={size}")
    if cell.workload == "seq-write":
        return [
            FioStep(
                args(0, "--rw=write", *seq),
                None,
                True,
                "write",
                n * size,
                0,
                f"fio --rw=write: {n} jobs each wrote one new file of {size} B in {rec} B records",
            )
        ]
    if cell.workload == "seq-read":
        return [
            FioStep(args(0, "--rw=write", *seq), None, False, "write", n * size),
            FioStep(
                args(1, "--rw=read", *seq),
                None,
                True,
                "read",
                n * size,
                0,
                f"fio --rw=read: {n} jobs each read back its own {size} B file "
                f"(laid out by an unmeasured fio write run) in {rec} B records",
            ),
        ]
    if cell.workload == "smallfile":
        files = cell.files_per_stream
        small = (
            f"--nrfiles={files}",
            f"--filesize={size}",
            f"--size={files * size}",
            f"--bs={size}",
            "--openfiles=1",
        )
        return [
            FioStep(
                args(0, "--rw=write", *small, "--create_on_open=1"),
                "create",
                True,
                "write",
                n * files * size,
                n * files,
                f"fio --rw=write --create_on_open=1: each of {n} jobs created "
                f"{files} files (glfs_creat), wrote {size} B to each and closed it, "
                "one file open at a time",
            ),
            FioStep(
                args(1, "--rw=read", *small),
                "stat",
                True,
                "read",
                n * files * size,
                n * files,
                f"fio has no STAT loop over gfapi; instead each of {n} jobs opened "
                f"its {files} files (glfs_creat on an existing file: LOOKUP + OPEN), "
                f"lstat'ed each (glfs_lstat), read its {size} B and closed it; with the "
                "default client graph quick-read and open-behind serve the OPEN and READ "
                "from the bytes the LOOKUP brought back",
            ),
        ]
    raise ValueError(f"unknown workload {cell.workload!r}")


# -- what fio reports -------------------------------------------------------------------------


def parse_fio_json(text: str, direction: str) -> FioResult:
    """Sum (bytes, I/Os, CPU) and merge (latency histograms) fio's per-job report for I/O
    ``direction``. Raises :class:`FioError` when the text is not a fio report or a job
    reports an error. Text before the first ``{`` (fio's own notices) is skipped."""
    try:
        report, _ = json.JSONDecoder().raw_decode(text, text.index("{"))
        jobs: list[dict[str, Any]] = report["jobs"]
    except (ValueError, KeyError, TypeError) as e:
        raise FioError(f"not a fio JSON report ({e}): {text[:200]!r}") from e
    if not jobs:
        raise FioError("fio's report holds no jobs")
    bins: dict[int, int] = {}
    lat_max = 0
    io_bytes = ios = runtime_ms = 0
    cpu = 0.0
    runtimes: list[int] = []
    for job in jobs:
        if job.get("error"):
            raise FioError(
                f"fio job {job.get('jobname')}.{len(runtimes)} failed: error "
                f"{job['error']} ({os.strerror(int(job['error']))})"
            )
        d = job[direction]
        io_bytes += int(d["io_bytes"])
        ios += int(d["total_ios"])
        runtime_ms = max(runtime_ms, int(d["runtime"]))
        runtimes.append(int(job["job_runtime"]))
        # usr_cpu/sys_cpu are % of this job's job_runtime (ms): getrusage(RUSAGE_THREAD) of
        # the job's thread (libgfapi's threads are not in it; see client_cpu_s above)
        cpu += (
            (float(job["usr_cpu"]) + float(job["sys_cpu"])) / 100 * int(job["job_runtime"]) / 1000
        )
        clat = d.get("clat_ns", {})
        for ns, count in (clat.get("bins") or {}).items():
            bins[int(ns)] = bins.get(int(ns), 0) + int(count)
        if clat.get("N"):
            lat_max = max(lat_max, int(clat["max"]))
    return FioResult(
        version=str(report.get("fio version", "")),
        jobs=len(jobs),
        io_bytes=io_bytes,
        ios=ios,
        runtime_ms=runtime_ms,
        client_cpu_s=cpu,
        latencies_ms=_percentiles_ms(bins, lat_max),
        job_runtimes_ms=runtimes,
    )


def _percentiles_ms(bins: dict[int, int], lat_max_ns: int) -> dict[str, float] | None:
    """p50 and p99 of the merged histogram (the smallest bin value with at least that share
    of the samples at or below it, as fio reads its own) and the largest latency seen. A bin's
    value stands for a range and can exceed the true maximum: percentiles are capped at it."""
    total = sum(bins.values())
    if not total:
        return None
    top = lat_max_ns or max(bins)
    out: dict[str, float] = {}
    seen = 0
    wanted = [("p50", 0.50), ("p99", 0.99)]
    for ns in sorted(bins):
        seen += bins[ns]
        while wanted and seen >= wanted[0][1] * total:
            out[wanted.pop(0)[0]] = min(ns, top) / 1e6
    out["max"] = top / 1e6
    return out


# -- running it -------------------------------------------------------------------------------


def run_fio(
    cell: Cell, target: Target, meter: ServerMeter, *, tag: str, scratch: Path
) -> list[Sample]:
    """Run ``cell`` with fio against ``target``: one Sample per measured phase (see the
    module's essay for what each figure covers). Files live under ``/<tag>/`` on the volume
    and are removed afterwards, also when fio fails."""
    return start_fio(cell, target, meter, tag=tag, scratch=scratch).finish()


def start_fio(
    cell: Cell, target: Target, meter: ServerMeter, *, tag: str, scratch: Path
) -> FioCell:
    """Run ``cell``'s fio steps up to the end of the last step's I/O and return; fio's
    ``glfs_fini`` (~8 s of waiting) goes on in the background. ``finish()`` on the result
    waits for fio, reads its reports and gives the samples."""
    run = FioCell(cell, target, meter, tag=tag, scratch=scratch)
    run.start()
    return run


@dataclass
class _Step:
    step: FioStep
    proc: subprocess.Popen[bytes]
    stderr_file: Path
    json_file: Path
    peak: PeakSampler
    window: IoWindow
    a: Reading
    b: Reading
    fops: dict[str, int] | None  # what the brick served meanwhile (fopcount.py), if known


class FioCell:
    """One cell's fio processes. Each step starts once the previous step's jobs have all
    ended their I/O (fio's ``exec_postrun`` marks), so a step never waits for the previous
    process's ``glfs_fini``; nothing of a step's I/O overlaps another's."""

    def __init__(
        self, cell: Cell, target: Target, meter: ServerMeter, *, tag: str, scratch: Path
    ) -> None:
        self.cell, self.target, self.meter, self.tag = cell, target, meter, tag
        self.out_dir = scratch / f"fio-{tag}"
        self.steps = fio_steps(cell, target, tag=tag, output_dir=self.out_dir)
        self.running: list[_Step] = []
        self._finished = False

    def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with _connect(self.target) as vol:
            vol.makedirs(f"/{self.tag}", exist_ok=True)
        try:
            for i, step in enumerate(self.steps):
                self.running.append(self._launch(i, step))
        except BaseException:
            self.abort()
            raise

    def _launch(self, i: int, step: FioStep) -> _Step:
        fops_before = self.target.fop_counts()  # before the first reading: not its CPU
        a = self.meter.reading()
        peak = PeakSampler(self.meter).__enter__()
        window = IoWindow(self.meter, self.out_dir / f"{i}.marks", self.cell.streams)
        window.__enter__()
        err_path = self.out_dir / f"{i}.stderr"
        try:
            with open(err_path, "wb") as err:
                proc = subprocess.Popen(
                    step.args + window.args(),
                    cwd=self.out_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    start_new_session=True,
                )
        except OSError as e:
            peak.__exit__()
            window.__exit__()
            raise FioError(f"cannot run fio: {e}") from e
        deadline = time.monotonic() + FIO_TIMEOUT_S
        while not window.io_done.wait(0.05):
            if proc.poll() is not None:
                break
            if time.monotonic() > deadline:
                _kill(proc)
                break
        peak.__exit__()
        window.__exit__()
        b = self.meter.reading()
        fops = fop_delta(fops_before, self.target.fop_counts())
        return _Step(step, proc, err_path, self.out_dir / f"{i}.json", peak, window, a, b, fops)

    def done(self) -> bool:
        """True once every fio process of the cell has exited."""
        return all(s.proc.poll() is not None for s in self.running)

    def finish(self) -> list[Sample]:
        """Wait for fio, check its reports, remove ``/<tag>``; the measured samples."""
        if self._finished:
            raise RuntimeError("finish() called twice")
        self._finished = True
        try:
            samples = []
            for st in self.running:
                try:
                    rc = st.proc.wait(FIO_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    _kill(st.proc)
                    rc = st.proc.wait()
                stderr = st.stderr_file.read_text(errors="replace")
                if rc != 0:
                    # fio's own words first: a one-line summary cut to its start keeps them
                    raise (FioCrashed if crashed(rc, stderr) else FioError)(
                        f"fio exited with status {rc}"
                        + (_tail(stderr) or " (nothing on stderr)")
                        + f"\nfio's command: {' '.join(st.step.args)}"
                    )
                result = parse_fio_json(st.json_file.read_text(), st.step.direction)
                check_result(st.step, result, self.cell.streams, stderr)
                if st.step.measured:
                    sample = _sample(st.step, result, st.peak, st.window, st.a, st.b)
                    if st.fops is not None:
                        sample.evidence["server_fops"] = st.fops
                    samples.append(sample)
        except BaseException:
            self.abort()
            raise
        _remove_dir(self.target, self.tag)
        return samples

    def abort(self) -> None:
        """Stop every fio process of the cell and remove its files (best effort)."""
        for st in self.running:
            _kill(st.proc)
        with contextlib.suppress(Exception):
            _remove_dir(self.target, self.tag)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Stop fio and its job processes (its own session) by process group id."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _sample(
    step: FioStep, result: FioResult, peak: PeakSampler, window: IoWindow, a: Reading, b: Reading
) -> Sample:
    process_s, process_server_cpu, _ = cpu_between(a, b)
    span_s, server_cpu, server_span = process_s, process_server_cpu, "process"
    wall_s = max(result.runtime_ms, 1) / 1000  # fio counts whole ms
    idle = None  # around the whole process it would be mostly fio's set-up: only in the window
    if window.first is not None and window.last is not None:
        span_s, server_cpu, _ = cpu_between(window.first, window.last)
        server_span = wall_from = "io"
        wall_s = span_s
        idle = idle_cores_between(window.first, window.last)
    else:
        wall_from = "fio-runtime"
    client_cpu, client_cpu_from = window.client_cpu_s(), "job-processes"
    if client_cpu is None:
        client_cpu, client_cpu_from = result.client_cpu_s, "fio-job-threads"
    return Sample(
        phase=step.phase,
        bytes_total=result.io_bytes,
        ops_total=result.ios,
        wall_s=wall_s,
        client_cpu_s=client_cpu,
        server_cpu_s=server_cpu,
        latencies_ms=result.latencies_ms,
        server_rss_mb=peak.rss_mb,
        server_threads=peak.threads,
        span_s=span_s,
        idle_cores=idle,
        evidence={
            "fio_version": result.version or fio_version(),
            "jobs": result.jobs,
            "io_bytes": result.io_bytes,
            "ios": result.ios,
            "fio_runtime_ms": result.runtime_ms,
            "job_runtimes_ms": result.job_runtimes_ms,
            "server_span": server_span,
            "wall_from": wall_from,
            "process_span_s": round(process_s, 3),
            "process_server_cpu_s": process_server_cpu,
            "client_cpu_from": client_cpu_from,
            "fio_job_thread_cpu_s": round(result.client_cpu_s, 3),
            "phase_note": step.note,
        },
    )


def check_result(step: FioStep, result: FioResult, streams: int, stderr: str = "") -> None:
    """fio skips files it cannot open (``glfs_creat failed.`` on stderr) and still exits 0
    with no job error: insist on the jobs, bytes and I/Os the step asked for."""
    problem = None
    if result.jobs != streams:
        problem = f"fio reported {result.jobs} jobs, {streams} were asked for"
    elif result.io_bytes != step.expect_bytes or (
        step.expect_ios and result.ios != step.expect_ios
    ):
        problem = (
            f"fio {step.direction} moved {result.io_bytes} B in {result.ios} I/Os; "
            f"the cell asked for {step.expect_bytes} B"
            + (f" in {step.expect_ios} I/Os" if step.expect_ios else "")
        )
    if problem:
        raise FioError(problem + _tail(stderr))


def _tail(text: str, lines: int = 15) -> str:
    kept = text.strip().splitlines()[-lines:]
    return (": fio's stderr:\n" + "\n".join(kept)) if kept else ""


def _remove_dir(target: Target, tag: str) -> None:
    with _connect(target) as vol:
        for name in vol.listdir(f"/{tag}"):
            vol.unlink(f"/{tag}/{name}")
        vol.rmdir(f"/{tag}")


def _connect(target: Target) -> Volume:
    return Volume.connect(target.url, tls=target.tls_dir, mgmt_tls=target.mgmt_tls_dir, timeout=30)
