"""``gfrpc soak``: hours of verified mixed I/O, then a verdict on loss, errors and growth.

Theory of operation. The target is a gfrpc brick this run starts itself (``gfrpc brick`` as a
child process on 127.0.0.1, in a private temp directory removed afterwards; ``--tls`` gives it
and the client throwaway certificates unless ``--tls-dir`` names real ones) or any volume named
by a ``gluster://HOST/VOL`` URL, real GlusterFS or gfrpc. ``--clients`` connections (each a
:class:`~gfrpc.client.Volume` on one shared client poller, each driven by its own thread) work
in their own directories under ``/soak-<id>`` (see :mod:`gfrpc.bench.soak_workload` for the
operations and how every reply is checked against a model). The run starts with a short
warm-up (all clients write and read largest-size files at the same moment, three times;
verified and counted like any operation) so that steady state is reached early.

Every ``--sample-interval`` seconds the workers are parked between operations
(:class:`~gfrpc.bench.soak_workload.Gate`) and the sampler reads RSS and open descriptors of
this process and of the brick it started (the brick's, once settled: RELEASE is fire and
forget; its bounded cache of ``.glusterfs/xx`` directories is counted apart); one progress line
is printed per sample.
At the end every file still in a model is read back and every directory listed, then
everything is removed.

Verdict (exit status 1 unless all hold):

* no failure: nothing lost, no wrong byte, size or name, no failed operation;
* RSS flat over the last half (each process): the least-squares rise over that half, or
  the amount by which that half's peak passes the first half's peak, is at most
  ``max(8 MiB, 5 %)`` of the value at the half-way mark (a leak does both);
* descriptors flat: over the last half, no quiet sample has more than the first one (each
  process; the brick's ``.glusterfs`` cache left out). Needs ≥ 2 quiet samples in that half.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gfrpc.bench.procstat import (
    HASH_DIR_CACHE,
    Growth,
    MiB,
    fd_count,
    last_half_growth,
    rss_bytes,
    settled_fd_count,
)
from gfrpc.bench.soak_workload import Gate, SoakClient, SoakStats, worker_loop
from gfrpc.errors import ConfigError

RSS_ABS_LIMIT = 8 * MiB
RSS_REL_LIMIT = 0.05


def parse_duration(text: str) -> float:
    """``10m``, ``60s``, ``1h``, ``1.5h``, ``90`` (seconds) → seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text or "")
    if not m:
        raise ConfigError(f"bad duration {text!r}: use e.g. 60s, 10m, 1h or plain seconds")
    value = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
    if value <= 0:
        raise ConfigError(f"bad duration {text!r}: must be more than 0")
    return value


@dataclass
class SoakConfig:
    duration: float
    url: str | None = None  # None: start a gfrpc brick
    clients: int = 8
    poller: str = "pool"
    event_threads: int = 2
    tls: bool = False
    tls_dir: str | None = None
    sample_interval: float | None = None  # None: duration/40, within 2..15 s
    max_files: int = 24
    seed: int | None = None
    tmpdir: str | None = None

    def interval(self) -> float:
        if self.sample_interval is not None:
            return self.sample_interval
        return min(15.0, max(2.0, self.duration / 40))


@dataclass
class Sample:
    t: float
    quiet: bool
    self_rss: int
    self_fds: int
    brick_rss: int | None = None
    brick_fds: int | None = None  # without the .glusterfs cache
    brick_cache_fds: int | None = None


@dataclass
class SoakResult:
    config: SoakConfig
    stats: SoakStats
    samples: list[Sample] = field(default_factory=list)
    elapsed: float = 0.0
    problems: list[str] = field(default_factory=list)
    brick_pid: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


class _Target:
    """The brick this run started, or nothing (a URL); ``connect()`` opens one Volume."""

    def __init__(self, cfg: SoakConfig, poller: Any, say: Callable[[str], None]) -> None:
        self.cfg, self.poller = cfg, poller
        self.tmp: Path | None = None
        self.brick: Any = None
        self.tls: Any = None
        if cfg.tls:
            self.tls = cfg.tls_dir
        if cfg.url is not None:
            if cfg.tls and not cfg.tls_dir:
                from gfrpc.tls.options import default_cert_dir

                self.tls = default_cert_dir()
            return
        from gfrpc.bench.brickproc import GfrpcBrick

        self.tmp = Path(tempfile.mkdtemp(prefix="gfrpc-soak-", dir=cfg.tmpdir))
        try:
            if cfg.tls and not cfg.tls_dir:
                from gfrpc.testing.certs import write_shared_certs

                self.tls = write_shared_certs(str(self.tmp / "certs"))
            self.brick = GfrpcBrick(
                self.tmp / "brick",
                volname="soak",
                tls_dir=Path(self.tls) if self.tls else None,
                poller=cfg.poller,
                event_threads=cfg.event_threads,
            )
        except BaseException:
            self.close()
            raise
        say(
            f"brick pid {self.brick.pid} on 127.0.0.1:{self.brick.port} "
            f"(poller {cfg.poller}, TLS {'on' if cfg.tls else 'off'}) in {self.tmp}"
        )

    @property
    def pid(self) -> int | None:
        return self.brick.pid if self.brick is not None else None

    def connect(self) -> Any:
        from gfrpc.client.volume import Volume

        if self.brick is not None:
            return Volume.connect_brick(
                "127.0.0.1",
                self.brick.port,
                str(self.brick.dir.resolve()),
                "soak",
                tls=self.tls,
                poller=self.poller,
                timeout=30,
            )
        assert self.cfg.url is not None
        return Volume.connect(self.cfg.url, tls=self.tls, poller=self.poller, timeout=30)

    def close(self) -> None:
        if self.brick is not None:
            self.brick.stop()
            self.brick = None
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


def take_sample(t: float, quiet: bool, brick_pid: int | None) -> Sample:
    s = Sample(t, quiet, rss_bytes(), fd_count())
    if brick_pid is not None:
        with contextlib.suppress(OSError):
            s.brick_fds, s.brick_cache_fds = settled_fd_count(brick_pid, exclude=HASH_DIR_CACHE)
            s.brick_rss = rss_bytes(brick_pid)
    return s


def run_soak(cfg: SoakConfig, say: Callable[[str], None] = print) -> SoakResult:
    """Run the soak of ``cfg`` (blocking for ``cfg.duration``) and judge it."""
    from gfrpc.transport import make_poller

    if cfg.clients < 1:
        raise ConfigError("--clients must be at least 1")
    stats = SoakStats()
    result = SoakResult(cfg, stats)
    seed = cfg.seed if cfg.seed is not None else int.from_bytes(os.urandom(4), "big")
    poller = make_poller(cfg.poller, cfg.event_threads)
    poller.start()
    target: _Target | None = None
    vols: list[Any] = []
    try:
        target = _Target(cfg, poller, say)
        result.brick_pid = target.pid
        top = f"/soak-{uuid.uuid4().hex[:8]}"
        vols = [target.connect() for _ in range(cfg.clients)]
        vols[0].mkdir(top)
        clients = []
        for i, vol in enumerate(vols):
            vol.mkdir(f"{top}/c{i:03d}")
            clients.append(
                SoakClient(vol, f"{top}/c{i:03d}", stats, seed=seed + i, max_files=cfg.max_files)
            )
        say(
            f"soak of {cfg.duration:.0f} s: {cfg.clients} clients in "
            f"{cfg.url or 'the brick'}{top}, seed {seed}, sample every {cfg.interval():.0f} s"
        )
        _warm_up(clients)
        _drive(cfg, clients, result, target.pid, say)
        for c in clients:
            c.verify_all()
        for c in clients:
            c.remove_all()
        with contextlib.suppress(OSError):
            vols[0].rmdir(top)
    finally:
        for v in vols:
            with contextlib.suppress(Exception):
                v.close()
        poller.stop()
        if target is not None:
            target.close()
    judge(result)
    return result


def _warm_up(clients: list[SoakClient]) -> None:
    barrier = threading.Barrier(len(clients))
    threads = [
        threading.Thread(target=c.warm_up, args=(barrier,), name=f"soak-warm-{i}", daemon=True)
        for i, c in enumerate(clients)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=600)


def _drive(
    cfg: SoakConfig,
    clients: list[SoakClient],
    result: SoakResult,
    brick_pid: int | None,
    say: Callable[[str], None],
) -> None:
    gate, stop = Gate(), threading.Event()
    threads = [
        threading.Thread(target=worker_loop, args=(c, gate, stop), name=f"soak-{i}", daemon=True)
        for i, c in enumerate(clients)
    ]
    t0 = time.monotonic()
    end = t0 + cfg.duration
    for th in threads:
        th.start()
    next_sample = t0
    last_ops, last_t = 0, t0
    try:
        while True:
            now = time.monotonic()
            if now >= next_sample or now >= end:
                quiet = gate.pause(timeout=max(30.0, cfg.interval()))
                try:
                    s = take_sample(time.monotonic() - t0, quiet, brick_pid)
                finally:
                    gate.resume()
                result.samples.append(s)
                ops = sum(result.stats.ops.values())
                say(progress_line(s, ops, (ops - last_ops) / max(now - last_t, 1e-9), result.stats))
                last_ops, last_t = ops, now
                next_sample += cfg.interval()
            if now >= end:
                break
            time.sleep(min(0.5, max(0.0, min(next_sample, end) - time.monotonic())))
    finally:
        stop.set()
        gate.resume()
        for th in threads:
            th.join(timeout=120)
        result.elapsed = time.monotonic() - t0


def progress_line(s: Sample, ops: int, rate: float, stats: SoakStats) -> str:
    brick = ""
    if s.brick_rss is not None:
        brick = f" | brick RSS {s.brick_rss / MiB:.1f} MiB fds {s.brick_fds}+{s.brick_cache_fds}"
    return (
        f"[{s.t:7.1f}s] ops {ops} ({rate:.0f}/s) failures {stats.failed} | self RSS "
        f"{s.self_rss / MiB:.1f} MiB fds {s.self_fds}{brick}"
        f"{'' if s.quiet else ' (not quiet)'}"
    )


def _growths(samples: list[Sample]) -> dict[str, tuple[Growth, str]]:
    out: dict[str, tuple[Growth, str]] = {}
    times = [s.t for s in samples]
    out["self RSS"] = (last_half_growth(times, [s.self_rss for s in samples]), "rss")
    quiet = [s for s in samples if s.quiet]
    out["self fds"] = (last_half_growth([s.t for s in quiet], [s.self_fds for s in quiet]), "fd")
    if samples and samples[0].brick_rss is not None:
        brick = [s for s in samples if s.brick_rss is not None]
        out["brick RSS"] = (
            last_half_growth([s.t for s in brick], [float(s.brick_rss or 0) for s in brick]),
            "rss",
        )
        bq = [s for s in quiet if s.brick_fds is not None]
        out["brick fds"] = (
            last_half_growth([s.t for s in bq], [float(s.brick_fds or 0) for s in bq]),
            "fd",
        )
    return out


def judge(result: SoakResult) -> None:
    """Fill ``result.problems`` (empty = PASS)."""
    st = result.stats
    for kind in ("lost", "verify", "error"):
        if st.failures[kind]:
            result.problems.append(f"{st.failures[kind]} {kind} failures")
    if not st.ops:
        result.problems.append("no operation completed")
    for name, (g, unit) in _growths(result.samples).items():
        if unit == "rss":
            if g.points >= 2 and not g.within(RSS_ABS_LIMIT, RSS_REL_LIMIT):
                result.problems.append(
                    f"{name} grew {g.rise / MiB:.1f} MiB over the last half, to a peak "
                    f"{g.new_peak / MiB:.1f} MiB above the first half's (limit max(8 MiB, "
                    f"5 % of {g.first / MiB:.1f} MiB))"
                )
        elif g.points < 2:
            result.problems.append(f"{name}: fewer than 2 quiet samples in the last half")
        elif g.maximum > g.first:
            result.problems.append(
                f"{name} grew from {g.first:.0f} to {g.maximum:.0f} in the last half"
            )


def summary(result: SoakResult) -> list[str]:
    """The final report, one line per fact."""
    st, cfg = result.stats, result.config
    total = sum(st.ops.values())
    lines = [
        f"soak summary: {result.elapsed:.0f} s, {cfg.clients} clients, target "
        f"{cfg.url or 'gfrpc brick (started here)'}, poller {cfg.poller}, "
        f"TLS {'on' if cfg.tls else 'off'}",
        f"ops: {total} ({total / max(result.elapsed, 1e-9):.0f}/s): "
        + " ".join(f"{k}={v}" for k, v in sorted(st.ops.items())),
        f"latency per op ms: p50 {st.latency.quantile(0.5) * 1e3:.2f} "
        f"p99 {st.latency.quantile(0.99) * 1e3:.2f} max {st.latency.max * 1e3:.1f}",
        f"bytes written {st.bytes_written} ({st.bytes_written / MiB:.1f} MiB), verified "
        f"{st.bytes_verified} ({st.bytes_verified / MiB:.1f} MiB)",
        "failures: " + (" ".join(f"{k}={st.failures[k]}" for k in ("lost", "verify", "error"))),
    ]
    lines += [f"  {m}" for m in st.messages]
    samples = result.samples
    quiet = sum(1 for s in samples if s.quiet)
    lines.append(f"samples: {len(samples)} ({quiet} quiet)")
    series: list[tuple[str, list[float], float]] = [
        ("self RSS MiB", [s.self_rss for s in samples], MiB),
        ("self fds", [s.self_fds for s in samples], 1),
    ]
    if samples and samples[0].brick_rss is not None:
        series += [
            ("brick RSS MiB", [s.brick_rss or 0 for s in samples], MiB),
            ("brick fds", [s.brick_fds or 0 for s in samples], 1),
            ("brick .glusterfs cache fds", [s.brick_cache_fds or 0 for s in samples], 1),
        ]
    for label, vals, unit in series:
        if vals:
            lines.append(
                f"{label}: first {vals[0] / unit:.1f} last {vals[-1] / unit:.1f} "
                f"max {max(vals) / unit:.1f}"
            )
    for name, (g, kind) in _growths(samples).items():
        scale = MiB if kind == "rss" else 1
        lines.append(
            f"last-half growth of {name}: {g.rise / scale:+.2f}"
            f"{' MiB' if kind == 'rss' else ''} (fit over {g.points} samples; "
            f"max {g.maximum / scale:.1f} vs {g.first / scale:.1f} at half-way"
            + (f", new peak {g.new_peak / scale:+.1f} MiB)" if kind == "rss" else ")")
        )
    lines.append("verdict: PASS" if result.ok else "verdict: FAIL: " + "; ".join(result.problems))
    return lines
