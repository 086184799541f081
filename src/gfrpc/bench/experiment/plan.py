"""Which cells one ``gfrpc bench`` run measures, from its command line.

Three shapes:

* the **default** (no workload or server options): the seed's experiment, short. seq-write,
  TLS off and on, the four client x server pairs (fio or gfrpc's client, glusterfsd or the
  gfrpc brick) at 2 event threads, plus the gfrpc brick's other pollers (single, own-thread)
  under the real C client;
* ``--compare``: the full matrix of issue 7, for seq-write, seq-read and smallfile, TLS off and
  on, every pair, the gfrpc brick with single, own-thread and pool x1/x2/x4, glusterfsd with
  server.event-threads 1/2/4;
* anything else is the product of the options given (``--workload``, ``--client``,
  ``--server``, ``--poller``, ``--event-threads``, ``--tls``).

``--sweep-connections 1,4,24,...`` adds, per poller, seq-write points of gfrpc's client into
the gfrpc brick with that many connections (one stream each); the total written is
``--streams`` x ``--size`` split over the connections, at least 4 records each.

Cells come out in a stable order (workload, TLS, reference first); the runner repeats the
whole list ``--repeats`` times, interleaved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import Cell, MiB, ServerSpec

COMPARE_WORKLOADS = ("seq-write", "seq-read", "smallfile")
GFRPC_CONFIGS = (("single", 1), ("own-thread", 1), ("pool", 1), ("pool", 2), ("pool", 4))
GLUSTERFSD_THREADS = (1, 2, 4)
SWEEP_MIN_RECORDS = 4


@dataclass
class Sizes:
    streams: int = 24
    record_bytes: int = MiB
    file_bytes: int = 64 * MiB
    small_file_bytes: int = 4096
    files_per_stream: int = 250
    ops_per_stream: int = 500
    stat_files_per_stream: int = 20
    connections: str = "per-stream"


@dataclass
class Plan:
    cells: list[Cell] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def specs(self) -> list[ServerSpec]:
        seen: dict[ServerSpec, None] = {}
        for c in self.cells:
            seen.setdefault(c.server, None)
        return list(seen)


def _cell(workload: str, client: str, spec: ServerSpec, sizes: Sizes) -> Cell:
    small = workload in ("smallfile", "stat")
    files = sizes.stat_files_per_stream if workload == "stat" else sizes.files_per_stream
    return Cell(
        workload=workload,
        client=client,
        server=spec,
        streams=sizes.streams,
        record_bytes=sizes.small_file_bytes if small else sizes.record_bytes,
        file_bytes=sizes.small_file_bytes if small else sizes.file_bytes,
        connections=sizes.connections,
        files_per_stream=files,
        ops_per_stream=sizes.ops_per_stream,
    )


def _order(cell: Cell) -> tuple[int, int, int, int, str, int]:
    from .model import WORKLOADS

    return (
        WORKLOADS.index(cell.workload),
        int(cell.tls),
        0 if cell.client == "fio" else 1,
        0 if cell.server.kind == "glusterfsd" else 1,
        cell.server.poller or "",
        cell.server.event_threads,
    )


def server_specs(
    servers: list[str], pollers: list[str], threads: list[int], tls: bool
) -> list[ServerSpec]:
    """Every server configuration the options name, for one TLS setting."""
    specs: list[ServerSpec] = []
    if "glusterfsd" in servers:
        specs += [ServerSpec("glusterfsd", tls, None, n) for n in threads]
    if "gfrpc" in servers:
        for poller in pollers:
            for n in threads if poller == "pool" else threads[:1]:
                specs.append(ServerSpec("gfrpc", tls, poller, n if poller == "pool" else 1))
    return specs


def default_plan(sizes: Sizes, tls_modes: list[bool]) -> Plan:
    """The short experiment ``make demo`` runs."""
    plan = Plan()
    for tls in tls_modes:
        real = ServerSpec("glusterfsd", tls, None, 2)
        pool = ServerSpec("gfrpc", tls, "pool", 2)
        for client in ("fio", "gfrpc"):
            plan.cells += [
                _cell("seq-write", client, real, sizes),
                _cell("seq-write", client, pool, sizes),
            ]
        for poller in ("single", "own-thread"):
            plan.cells.append(_cell("seq-write", "fio", ServerSpec("gfrpc", tls, poller, 1), sizes))
    plan.cells.sort(key=_order)
    return plan


def compare_plan(sizes: Sizes, tls_modes: list[bool], workloads: list[str] | None) -> Plan:
    """Issue 7's full matrix."""
    plan = Plan()
    for tls in tls_modes:
        specs = [ServerSpec("glusterfsd", tls, None, n) for n in GLUSTERFSD_THREADS]
        specs += [ServerSpec("gfrpc", tls, p, n) for p, n in GFRPC_CONFIGS]
        for workload in workloads or list(COMPARE_WORKLOADS):
            for client in ("fio", "gfrpc"):
                plan.cells += [_cell(workload, client, s, sizes) for s in specs]
    plan.cells.sort(key=_order)
    return plan


def product_plan(
    sizes: Sizes,
    tls_modes: list[bool],
    workloads: list[str],
    clients: list[str],
    servers: list[str],
    pollers: list[str],
    threads: list[int],
) -> Plan:
    """Every combination of the options given."""
    plan = Plan()
    for tls in tls_modes:
        for spec in server_specs(servers, pollers, threads, tls):
            for workload in workloads:
                plan.cells += [_cell(workload, c, spec, sizes) for c in clients]
    plan.cells.sort(key=_order)
    return plan


def sweep_cells(
    counts: list[int],
    pollers: list[str],
    tls_modes: list[bool],
    sizes: Sizes,
    event_threads: int = 2,
) -> list[Cell]:
    """seq-write points of gfrpc's client into the gfrpc brick, one connection per stream.

    The total written is ``--streams`` x ``--size`` split over the connections, but every
    connection writes at least SWEEP_MIN_RECORDS records: at 1,000 connections the point
    then measures the transport under many writers, not 1,000 file creations."""
    total = sizes.streams * sizes.file_bytes
    cells = []
    for tls in tls_modes:
        for poller in pollers:
            spec = ServerSpec("gfrpc", tls, poller, event_threads if poller == "pool" else 1)
            for n in counts:
                per = max(SWEEP_MIN_RECORDS, total // n // sizes.record_bytes) * sizes.record_bytes
                cells.append(
                    Cell(
                        workload="seq-write",
                        client="gfrpc",
                        server=spec,
                        streams=n,
                        record_bytes=sizes.record_bytes,
                        file_bytes=per,
                        connections="per-stream",
                        connection_count=n,
                    )
                )
    return cells
