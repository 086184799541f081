"""The nouns of ``gfrpc bench``: what a row measures, where it runs, and what one run gives.

A **cell** is one row of the result table before repeats: a workload, a client, a server
configuration (:class:`ServerSpec`), a TLS setting and the sizes. A **target** is what a client
needs to reach a running server configuration (URL, fio's volfile host, TLS files, the pids
whose CPU, memory and threads count as the server's). Running a cell once against its target
gives one :class:`Sample` per phase (``smallfile`` has three: create, stat, unlink; the other
workloads one, phase ``None``). The report turns samples into result rows: the medians over
repeats, plus the ratio to the reference row of the same group (fio -> glusterfsd, same
workload, phase and TLS).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gfrpc.bench.experiment.fopcount import fop_counts
from gfrpc.services.brick.server import DEFAULT_POLLER

WORKLOADS = ("seq-write", "seq-read", "smallfile", "stat")
SMALLFILE_PHASES = ("create", "stat", "unlink")
CLIENTS = ("fio", "gfrpc")  # fio: fio --ioengine=gfapi (libgfapi, C); gfrpc: gfrpc.client
SERVERS = ("glusterfsd", "gfrpc")  # the real brick; the gfrpc brick
CONNECTIONS = ("per-stream", "shared")
MB = 1_000_000  # MB/s in the report is 10^6 bytes per second
MiB = 1 << 20


#: pollers whose thread count is an axis (shown as "xN" and matched to glusterfsd's
#: event-threads); single and own-thread have none
THREADED_POLLERS = ("pool", "sharded")
#: the poller of a gfrpc brick row that names none (``gfrpc brick``'s own default)
BRICK_POLLER = DEFAULT_POLLER


def server_label(
    kind: str,
    poller: str | None,
    event_threads: int,
    io_threads: int | None = None,
    io_policy: str | None = None,
    baton: str | None = None,
) -> str:
    """``glusterfsd x2``, ``gfrpc pool x2``, ``gfrpc single``; a gfrpc brick's io setting
    follows only when set: ``gfrpc pool x2 io16/all``, ``gfrpc single io0``, ``gfrpc pool x2
    io/slow`` (policy given, io-threads the brick's default); then ``baton-on`` or
    ``baton-off`` when the brick's ``--baton`` is set. The one spelling of a server
    configuration: the table, the bounds, the plot and the progress lines all use it."""
    if kind == "glusterfsd":
        return f"glusterfsd x{event_threads}"
    text = f"gfrpc {poller} x{event_threads}" if poller in THREADED_POLLERS else f"gfrpc {poller}"
    if io_threads is not None or io_policy is not None:
        text += " io" + ("" if io_threads is None else str(io_threads))
        text += "" if io_policy is None else f"/{io_policy}"
    if baton is not None:
        text += f" baton-{baton}"
    return text


@dataclass(frozen=True)
class ServerSpec:
    """One server configuration. ``poller`` is None for glusterfsd; ``event_threads`` is the
    gfrpc brick's ``--event-threads`` or glusterfsd's ``server.event-threads``.
    ``io_threads`` and ``io_policy`` are the gfrpc brick's ``--io-threads`` and
    ``--io-policy`` (None: the brick's default; always None for glusterfsd, whose io-threads
    translator the bench leaves as the volume has it); ``baton`` its ``--baton`` (on, off;
    None: the default)."""

    kind: str  # "gfrpc" or "glusterfsd"
    tls: bool
    poller: str | None = None
    event_threads: int = 2
    io_threads: int | None = None
    io_policy: str | None = None
    baton: str | None = None

    @property
    def label(self) -> str:
        return server_label(
            self.kind, self.poller, self.event_threads, self.io_threads, self.io_policy, self.baton
        )


@dataclass(frozen=True)
class Cell:
    """One configuration to measure (repeats are separate runs of the same cell).

    ``file_bytes`` is the size of each stream's file for seq-write/seq-read and of each small
    file for smallfile. ``files_per_stream`` is used by smallfile and stat (files that stream
    works on), ``ops_per_stream`` by stat (calls per stream). ``connection_count`` is set only
    on ``--sweep-connections`` points, where it equals ``streams``.
    """

    workload: str
    client: str
    server: ServerSpec
    streams: int = 24
    record_bytes: int = MiB
    file_bytes: int = 64 * MiB
    connections: str = "per-stream"
    files_per_stream: int = 250
    ops_per_stream: int = 2000
    connection_count: int | None = None

    @property
    def tls(self) -> bool:
        return self.server.tls

    def with_(self, **changes: Any) -> Cell:
        return replace(self, **changes)


@dataclass
class Target:
    """A running server configuration, as a client reaches it.

    * ``url``: ``gluster://HOST[:PORT]/VOLUME`` for gfrpc's client (volfile + portmap from the
      management daemon: glusterd or gfrpc mgmtd).
    * ``fio_host``: what ``fio --ioengine=gfapi --brick=`` takes (a volfile server on port
      24007), or None when fio cannot reach this target (then fio rows are skipped).
    * ``tls_dir``: the client identity (glusterfs.pem/.key/.ca) for TLS on the brick
      connections, None for plain; ``mgmt_tls_dir`` the same for the management connection
      (set when the run's management traffic is TLS, i.e. ``secure-access`` is on).
    * ``brick``: (host, port, brick path) of its one brick, for direct connections.
    * ``server_pids``: the processes whose CPU, RSS and threads count as "the server"
      (empty for a cluster we did not start: server figures are then None).
    * ``fop_log``: the log of a gfrpc brick the bench started (its first server pid), which
      reports its FOP counts on SIGUSR1 (``fopcount.py``); None for any other server.
    """

    spec: ServerSpec
    volname: str
    url: str
    fio_host: str | None = None
    tls_dir: Path | None = None
    mgmt_tls_dir: Path | None = None
    brick: tuple[str, int, str] | None = None
    server_pids: list[int] = field(default_factory=list)
    fop_log: Path | None = None

    def fop_counts(self) -> dict[str, int] | None:
        """The brick's FOP counts so far (``fopcount.fop_counts``), None when unknown."""
        if self.fop_log is None or not self.server_pids:
            return None
        return fop_counts(self.server_pids[0], self.fop_log)


class UnsupportedCell(Exception):
    """This client cannot run this cell (e.g. fio has no STAT over gfapi); the runner leaves
    the row out and prints the reason once."""


@dataclass
class Sample:
    """One run of one cell, one phase. ``wall_s`` is the span the value was computed over;
    ``server_cpu_s`` and ``client_cpu_s`` are CPU-seconds over the measured span (None when
    unknown). ``latencies_ms`` holds p50, p99 and max per call when the client saw each call.
    ``span_s`` is the span the CPU figures were taken over when it differs from ``wall_s``
    (fio: from its first job's start of I/O to its last job's end, while its value uses
    the longest job's own runtime); busy cores are
    ``server_cpu_s / (span_s or wall_s)``. ``server_rss_mb`` and ``server_threads`` are read
    while the cell's connections are all open. ``idle_cores`` is how many of the machine's
    cores were idle on average over that span (None when unknown): what neither side used.
    ``evidence`` keeps what proves the run happened (e.g. fio's version and job count)."""

    phase: str | None
    bytes_total: int
    ops_total: int
    wall_s: float
    client_cpu_s: float | None
    server_cpu_s: float | None
    latencies_ms: dict[str, float] | None = None
    server_rss_mb: float | None = None
    server_threads: int | None = None
    span_s: float | None = None
    idle_cores: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> float:
        """MB/s for the streaming workloads, ops/s (files/s, calls/s) for the others."""
        if self.wall_s <= 0:
            return 0.0
        if self.bytes_total and self.phase is None:
            return self.bytes_total / self.wall_s / MB
        return self.ops_total / self.wall_s


def unit_of(workload: str) -> str:
    return "MB/s" if workload in ("seq-write", "seq-read") else "ops/s"
