"""The gfrpc client driver: one run of one cell through gfrpc's own client library.

Theory of operation.

* **Connections.** ``per-stream``: each stream gets its own ``Volume`` (its own TCP or TLS
  connection to the brick), as fio runs one gfapi instance per job; ``shared``: one
  ``Volume`` for all streams, whose brick connection pipelines the calls of every thread.
  Volumes come from ``Volume.connect(target.url)`` (GETSPEC and PORTBYBRICK at the management
  daemon), or, past :data:`DIRECT_ABOVE` streams when the target names its brick, from
  ``Volume.connect_brick`` (no thousand GETSPECs). TLS contexts are built once per run. All
  volumes use one client poller: the runner's, or one made (and stopped) here; a row's
  ``evidence["client_poller"]`` names it. Connecting, laying files out, checking and
  cleaning up are never inside a measured span.
* **Streams are threads**, one per stream, each running one function of
  :mod:`gfrpc_workloads` after a start barrier. The span is measured from the barrier to the
  last stream's end: ``meter.reading()`` right before the barrier is released and right after
  the last join; then the server's RSS and threads are read, while every connection is still
  open. Each stream keeps the duration of every call in its own list; p50, p99 and max come
  from all of them together.
* **Workloads.** ``seq-write`` writes one file per stream in ``record_bytes`` calls;
  ``seq-read`` lays those files out first (not measured) and reads them back; ``smallfile``
  measures three spans, ``create`` (create + write + close), ``stat`` and ``unlink``, each
  over ``files_per_stream`` files per stream in the stream's own directory; ``stat`` lays
  out ``files_per_stream`` files per stream (at most 4 KiB each: a STAT costs the same for
  any size) and measures ``ops_per_stream`` ``Volume.stat`` calls per stream, round-robin.
  ``Volume.stat`` is one STAT by gfid on the wire: every path's gfid is cached from the
  CREATE that laid it out, so no LOOKUP is measured.
* **Naming and cleanup.** Everything lives under ``/<tag>/`` on the volume (``/<tag>`` must
  not exist yet) and is removed at the end, also after a failure when the server still
  answers. A failing stream fails the run: after the other streams ended and the cleanup was
  tried, :class:`~gfrpc.errors.GfrpcError` is raised from the first error.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from itertools import chain
from typing import Any

from gfrpc.bench.experiment import gfrpc_workloads as wl
from gfrpc.bench.experiment.fopcount import fop_delta
from gfrpc.bench.experiment.meter import ServerMeter, cpu_between, idle_cores_between
from gfrpc.bench.experiment.model import CONNECTIONS, WORKLOADS, Cell, Sample, Target
from gfrpc.bench.procstat import percentile
from gfrpc.client.shared import DEFAULT_POLLER
from gfrpc.client.volume import Volume, tls_context
from gfrpc.errors import ConfigError, GfrpcError
from gfrpc.transport import Poller, make_poller

__all__ = ["CLIENT_POLLER", "DIRECT_ABOVE", "latency_summary", "run_gfrpc"]

DIRECT_ABOVE = 64  # more streams than this connect straight to the brick (if known)
STAT_FILE_MAX = 4096  # the files the stat workload lays out are at most this big
CONNECTORS = 4  # threads that open per-stream connections at once
CLIENT_POLLER = (DEFAULT_POLLER, 1)  # the client poller, the library's default (one thread)


@dataclass
class Span:
    """What one measured (or unmeasured) run of the streams gave."""

    wall_s: float
    server_cpu_s: float | None
    client_cpu_s: float
    server_rss_mb: float | None
    server_threads: int | None
    latencies: list[list[float]]
    done: list[int]
    fops: dict[str, int] | None = None  # what the brick served meanwhile (fopcount.py)
    idle_cores: float | None = None  # the machine's idle cores meanwhile (meter.py)


def latency_summary(lists: Sequence[Sequence[float]]) -> dict[str, float] | None:
    """p50, p99 (nearest rank) and max of all durations (seconds), in milliseconds."""
    values = sorted(chain.from_iterable(lists))
    if not values:
        return None
    return {
        "p50": percentile(values, 0.50) * 1e3,
        "p99": percentile(values, 0.99) * 1e3,
        "max": values[-1] * 1e3,
    }


def run_streams(streams: Sequence[wl.Stream], meter: ServerMeter | None) -> Span:
    """Run each stream on its own thread, all released by one barrier; wait for all.

    With ``meter``, readings bracket the span and the server's RSS and threads are read at
    its end. Raises GfrpcError (from the error that came first) when any stream failed."""
    n = len(streams)
    barrier = threading.Barrier(n + 1)
    lats: list[list[float]] = [[] for _ in range(n)]
    done = [0] * n
    errors: list[tuple[float, BaseException] | None] = [None] * n  # (when, what)

    def body(i: int) -> None:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return
        try:
            done[i] = streams[i](lats[i])
        except BaseException as exc:  # reported by the main thread, with the others
            errors[i] = (time.perf_counter(), exc)

    threads = [
        threading.Thread(target=body, args=(i,), name=f"gfrpc-bench-stream-{i}", daemon=True)
        for i in range(n)
    ]
    started: list[threading.Thread] = []
    try:
        for t in threads:
            t.start()
            started.append(t)
        a = meter.reading() if meter is not None else None
        barrier.wait()
    except BaseException:
        barrier.abort()
        for t in started:
            t.join()
        raise
    for t in threads:
        t.join()
    b = meter.reading() if meter is not None else None
    rss = meter.rss_mb() if meter is not None else None
    nthreads = meter.threads() if meter is not None else None
    failed = sorted((e for e in errors if e is not None), key=lambda e: e[0])
    if failed:
        first = failed[0][1]
        raise GfrpcError(
            f"{len(failed)} of {n} gfrpc stream(s) failed, the first with "
            f"{type(first).__name__}: {first}"
        ) from first
    if a is None or b is None:
        return Span(0.0, None, 0.0, None, None, lats, done)
    wall, server, client = cpu_between(a, b)
    return Span(
        wall, server, client, rss, nthreads, lats, done, idle_cores=idle_cores_between(a, b)
    )


def connect_volumes(cell: Cell, target: Target, poller: Poller) -> tuple[list[Volume], str]:
    """The cell's volumes (one, or one per stream) and how they were reached."""
    count = 1 if cell.connections == "shared" else cell.streams
    direct = cell.streams > DIRECT_ABOVE and target.brick is not None
    tls, mgmt_tls = tls_context(target.tls_dir), tls_context(target.mgmt_tls_dir)

    def one(_: int) -> Volume:
        if direct and target.brick is not None:
            host, port, path = target.brick
            return Volume.connect_brick(
                host,
                port,
                path,
                target.volname,
                tls=tls,
                mgmt_tls=mgmt_tls,
                poller=poller,
                timeout=30,
            )
        # share=False: "one connection per stream" means one each, not the process's shared set
        return Volume.connect(
            target.url, tls=tls, mgmt_tls=mgmt_tls, poller=poller, timeout=30, share=False
        )

    volumes: list[Volume] = []
    lock = threading.Lock()

    def keep(i: int) -> None:
        v = one(i)
        with lock:
            volumes.append(v)

    pool = ThreadPoolExecutor(min(CONNECTORS, count), "gfrpc-bench-connect")
    try:
        for f in [pool.submit(keep, i) for i in range(count)]:
            f.result()
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # no new connection after the error
        close_volumes(volumes)
        raise
    pool.shutdown(wait=True)
    return volumes, "brick" if direct else "volfile"


def close_volumes(volumes: Sequence[Volume]) -> None:
    for v in volumes:
        with contextlib.suppress(Exception):
            v.close()


def _check_cell(cell: Cell) -> None:
    if cell.workload not in WORKLOADS:
        raise ConfigError(f"unknown workload {cell.workload!r} (one of {', '.join(WORKLOADS)})")
    if cell.connections not in CONNECTIONS:
        raise ConfigError(
            f"unknown connections {cell.connections!r} (one of {', '.join(CONNECTIONS)})"
        )
    if (
        min(cell.streams, cell.record_bytes) < 1
        or cell.file_bytes < 0
        or min(cell.files_per_stream, cell.ops_per_stream) < 1
    ):
        raise ConfigError(
            "streams, record_bytes, files_per_stream and ops_per_stream must be "
            "positive, file_bytes not negative"
        )


def client_poller_label(poller: Poller) -> str:
    """The client poller as the evidence names it: ``single``, ``pool x2``, ``sharded x2``
    (rows made before 2026-12-04 15:30 have none: their client ran ``pool x2``)."""
    threads = getattr(poller, "event_threads", None)
    return poller.name if threads is None else f"{poller.name} x{threads}"


def run_gfrpc(
    cell: Cell, target: Target, meter: ServerMeter, *, tag: str, poller: Poller | None = None
) -> list[Sample]:
    """Run ``cell`` once against ``target`` with gfrpc's client; one Sample per phase.

    ``tag`` names this run's directory ``/<tag>`` on the volume (removed at the end);
    ``poller`` is the client poller shared by all streams (None: one is made and stopped
    here). Raises GfrpcError when a stream failed, ConfigError for a cell it cannot run."""
    _check_cell(cell)
    if not tag or "/" in tag or tag in (".", ".."):
        raise ConfigError(f"bad run tag {tag!r}: one path component is needed")
    own = poller is None
    p = make_poller(*CLIENT_POLLER) if poller is None else poller
    if own:
        p.start()
    try:
        volumes, how = connect_volumes(cell, target, p)
        try:
            evidence = {
                "client": "gfrpc",
                "connections_opened": sum(len(v.bricks) for v in volumes),
                "connect": how,
                "client_poller": client_poller_label(p),
            }
            return _Run(cell, volumes, f"/{tag}", meter, evidence, target.fop_counts).run()
        finally:
            close_volumes(volumes)
    finally:
        if own:
            p.stop()


class _Run:
    """One run: lay out, measure, check, clean up."""

    def __init__(
        self,
        cell: Cell,
        volumes: list[Volume],
        root: str,
        meter: ServerMeter,
        evidence: dict[str, Any],
        fop_counts: Callable[[], dict[str, int] | None] = lambda: None,
    ) -> None:
        self.cell, self.root, self.meter, self.evidence = cell, root, meter, evidence
        self.fop_counts = fop_counts
        self.vol0 = volumes[0]
        self.vols = volumes if len(volumes) > 1 else volumes * cell.streams
        self.dirs: list[str] = []
        self.files: list[list[str]] = [[] for _ in range(cell.streams)]  # what remains

    def run(self) -> list[Sample]:
        try:
            self.vol0.mkdir(self.root)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                raise GfrpcError(
                    f"{self.root} already exists on the volume: a run tag must be new"
                ) from None
            raise
        ok = False
        try:
            samples = getattr(self, "_" + self.cell.workload.replace("-", "_"))()
            ok = True
            return samples
        finally:
            self._cleanup(ok)

    # -- the workloads ------------------------------------------------------------------
    def _seq_write(self) -> list[Sample]:
        c = self.cell
        paths = self._stream_files()
        record = os.urandom(c.record_bytes)
        span = self._measure(
            [
                wl.seq_write(v, p, c.file_bytes, record)
                for v, p in zip(self.vols, paths, strict=True)
            ]
        )
        self._check_sizes(paths)
        return [self._sample(None, span, c.file_bytes * c.streams, self._records())]

    def _seq_read(self) -> list[Sample]:
        c = self.cell
        paths = self._stream_files()
        record = os.urandom(c.record_bytes)
        run_streams(
            [
                wl.seq_write(v, p, c.file_bytes, record)
                for v, p in zip(self.vols, paths, strict=True)
            ],
            None,
        )
        span = self._measure(
            [
                wl.seq_read(v, p, c.file_bytes, c.record_bytes)
                for v, p in zip(self.vols, paths, strict=True)
            ]
        )
        if sum(span.done) != c.file_bytes * c.streams:
            raise GfrpcError(f"read {sum(span.done)} bytes, expected {c.file_bytes * c.streams}")
        return [self._sample(None, span, sum(span.done), self._records())]

    def _smallfile(self) -> list[Sample]:
        c = self.cell
        names = self._small_files()
        data = os.urandom(c.file_bytes)
        create = self._measure(
            [wl.create_files(v, ps, data) for v, ps in zip(self.vols, names, strict=True)]
        )
        files = c.streams * c.files_per_stream
        out = [self._sample("create", create, files * c.file_bytes, sum(create.done))]
        stat = self._measure(
            [wl.stat_files(v, ps, len(ps)) for v, ps in zip(self.vols, names, strict=True)]
        )
        out.append(self._sample("stat", stat, 0, sum(stat.done)))
        unlink = self._measure(
            [wl.unlink_files(v, ps) for v, ps in zip(self.vols, names, strict=True)]
        )
        self.files = [[] for _ in names]
        out.append(self._sample("unlink", unlink, 0, sum(unlink.done)))
        for s in out:
            if s.ops_total != files:
                raise GfrpcError(f"smallfile {s.phase}: {s.ops_total} files, expected {files}")
        return out

    def _stat(self) -> list[Sample]:
        c = self.cell
        names = self._small_files()
        data = os.urandom(min(c.file_bytes, STAT_FILE_MAX))
        run_streams(
            [wl.create_files(v, ps, data) for v, ps in zip(self.vols, names, strict=True)], None
        )
        span = self._measure(
            [wl.stat_files(v, ps, c.ops_per_stream) for v, ps in zip(self.vols, names, strict=True)]
        )
        return [self._sample(None, span, 0, sum(span.done))]

    # -- helpers ------------------------------------------------------------------------
    def _stream_files(self) -> list[str]:
        """One file per stream directly under the root; every volume knows the root."""
        paths = [f"{self.root}/f{i:04d}" for i in range(self.cell.streams)]
        self.files = [[p] for p in paths]
        self._warm([[self.root]] * self.cell.streams)
        return paths

    def _small_files(self) -> list[list[str]]:
        """A directory per stream with the names of its files (not made yet)."""
        c = self.cell
        self.dirs = [f"{self.root}/s{i:04d}" for i in range(c.streams)]
        for d in self.dirs:
            self.vol0.mkdir(d)
        self._warm([[d] for d in self.dirs])
        self.files = [[f"{d}/f{j:06d}" for j in range(c.files_per_stream)] for d in self.dirs]
        return [list(ps) for ps in self.files]

    def _warm(self, dirs: list[list[str]]) -> None:
        """Each stream's volume resolves its directories now, so that no LOOKUP of a parent
        falls into a measured span."""
        if self.vols[0] is self.vols[-1]:  # shared: one volume, every directory once
            run_streams([_stat_once(self.vol0, sorted({d for ds in dirs for d in ds}))], None)
        else:
            run_streams([_stat_once(v, ds) for v, ds in zip(self.vols, dirs, strict=True)], None)

    def _records(self) -> int:
        c = self.cell
        return c.streams * math.ceil(c.file_bytes / c.record_bytes)

    def _measure(self, streams: list[wl.Stream]) -> Span:
        before = self.fop_counts()  # outside the span: the brick's report is not its work
        span = run_streams(streams, self.meter)
        return replace(span, fops=fop_delta(before, self.fop_counts()))

    def _check_sizes(self, paths: list[str]) -> None:
        sizes: list[int] = [0] * len(paths)

        def check(i: int) -> wl.Stream:
            def stream(lat: list[float]) -> int:
                sizes[i] = self.vols[i].stat(paths[i]).st_size
                return 1

            return stream

        run_streams([check(i) for i in range(len(paths))], None)
        if any(s != self.cell.file_bytes for s in sizes):
            raise GfrpcError(
                f"wrong file sizes after writing: {sorted(set(sizes))} "
                f"(expected {self.cell.file_bytes})"
            )

    def _sample(self, phase: str | None, span: Span, nbytes: int, ops: int) -> Sample:
        return Sample(
            phase=phase,
            bytes_total=nbytes,
            ops_total=ops,
            wall_s=span.wall_s,
            client_cpu_s=span.client_cpu_s,
            server_cpu_s=span.server_cpu_s,
            latencies_ms=latency_summary(span.latencies),
            server_rss_mb=span.server_rss_mb,
            server_threads=span.server_threads,
            idle_cores=span.idle_cores,
            evidence=dict(
                self.evidence, **({} if span.fops is None else {"server_fops": span.fops})
            ),
        )

    def _cleanup(self, ok: bool) -> None:
        """Remove ``/<tag>``: each stream's known files on its own volume at once, then the
        directories. After a failure, walk the tree instead and give up at the first error
        (the server may be gone)."""
        if ok:
            try:
                run_streams(
                    [
                        wl.unlink_files(v, ps)
                        for v, ps in zip(self.vols, self.files, strict=True)
                        if ps
                    ],
                    None,
                )
                for d in self.dirs:
                    self.vol0.rmdir(d)
                self.vol0.rmdir(self.root)
                return
            except (OSError, GfrpcError):
                pass  # something else is there: remove what the walk finds
        with contextlib.suppress(OSError, GfrpcError):
            remove_tree(self.vol0, self.root)


def _stat_once(vol: Volume, paths: list[str]) -> wl.Stream:
    def stream(lat: list[float]) -> int:
        for p in paths:
            vol.stat(p)
        return len(paths)

    return stream


def remove_tree(vol: Volume, path: str) -> None:
    """Remove the directory ``path`` and everything under it (one call at a time)."""
    for entry in vol.scandir(path):
        if entry.is_dir():
            remove_tree(vol, entry.path)
        else:
            vol.unlink(entry.path)
    vol.rmdir(path)
