"""Which cells one ``gfrpc bench`` run measures, from its command line.

Three shapes:

* the **default** (no workload or server options): the seed's experiment, short. seq-write,
  TLS off and on, the four client x server pairs (fio or gfrpc's client, glusterfsd or the
  gfrpc brick) at 2 event threads, plus the gfrpc brick's other pollers (single, own-thread)
  under the real C client;
* ``--compare``: the full matrix of issue 7, for seq-write, seq-read and smallfile, TLS off and
  on, every pair, the gfrpc brick with single, own-thread, pool x1/x2/x4 and sharded x2/x4,
  glusterfsd with server.event-threads 1/2/4; and the stat workload (issue 9's per-STAT
  target) with gfrpc's client, the one that has a STAT loop;
* anything else is the product of the options given (``--workload``, ``--client``,
  ``--server``, ``--poller``, ``--event-threads``, ``--io-threads``, ``--io-policy``,
  ``--tls``).

``--io-threads`` and ``--io-policy`` multiply the gfrpc brick's configurations only
(glusterfsd keeps its io-threads translator as the volume has it), in ``--compare`` too;
without them no spec carries an io setting and every brick runs with its defaults. An
``--io-threads 0`` brick runs every FOP on the poller thread that read it, so the policy
means nothing there: its io0 spec has no policy, one row however many policies are given
(and the plan says so in a note).

``--sweep-connections 1,4,24,...`` adds, per poller, seq-write points of gfrpc's client into
the gfrpc brick with that many connections (one stream each); the total written is
``--streams`` x ``--size`` split over the connections, at least 4 records each; each io
setting is a sweep of its own.

Cells come out in a stable order (workload, TLS, reference first); the runner repeats the
whole list ``--repeats`` times, interleaved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import THREADED_POLLERS, Cell, MiB, ServerSpec

#: (--io-threads, --io-policy, --baton) of a gfrpc brick; None: the brick's default
IoSetting = tuple[int | None, str | None, str | None]

COMPARE_WORKLOADS = ("seq-write", "seq-read", "smallfile", "stat")
GFRPC_CONFIGS = (
    ("single", 1),
    ("own-thread", 1),
    ("pool", 1),
    ("pool", 2),
    ("pool", 4),
    ("sharded", 2),
    ("sharded", 4),
)
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


def _order(cell: Cell) -> tuple[int, int, int, int, str, int, int, str, str]:
    from .model import WORKLOADS

    io_threads = cell.server.io_threads
    return (
        WORKLOADS.index(cell.workload),
        int(cell.tls),
        0 if cell.client == "fio" else 1,
        0 if cell.server.kind == "glusterfsd" else 1,
        cell.server.poller or "",
        cell.server.event_threads,
        -1 if io_threads is None else io_threads,
        cell.server.io_policy or "",
        cell.server.baton or "",
    )


def io_settings(
    threads: list[int] | None, policies: list[str] | None, batons: list[str] | None = None
) -> list[IoSetting]:
    """The gfrpc brick's io settings the options name: their product, in order, with no
    policy on ``--io-threads 0`` (moot there, so one setting); ``[(None, None, None)]`` (the
    brick's defaults) when no option is given."""
    out: dict[IoSetting, None] = {}
    all_threads: list[int | None] = [*threads] if threads else [None]
    all_policies: list[str | None] = [*policies] if policies else [None]
    all_batons: list[str | None] = [*batons] if batons else [None]
    for n in all_threads:
        for policy in all_policies:
            for baton in all_batons:
                out.setdefault((n, None if n == 0 else policy, baton), None)
    return list(out)


def io_notes(threads: list[int] | None, policies: list[str] | None) -> list[str]:
    """What the plan decided about the io options, for the run's notes."""
    if threads and 0 in threads and policies:
        return [
            "--io-threads 0 runs every FOP on the poller thread that read it: --io-policy "
            "does not apply there (one io0 row)"
        ]
    return []


def gfrpc_specs(
    tls: bool, configs: list[tuple[str, int]], io: list[IoSetting] | None = None
) -> list[ServerSpec]:
    """gfrpc brick specs: every (poller, event-threads) of ``configs`` x every io setting."""
    return [
        ServerSpec("gfrpc", tls, poller, n, io_threads, io_policy, baton)
        for poller, n in configs
        for io_threads, io_policy, baton in io or [(None, None, None)]
    ]


def server_specs(
    servers: list[str],
    pollers: list[str],
    threads: list[int],
    tls: bool,
    io: list[IoSetting] | None = None,
) -> list[ServerSpec]:
    """Every server configuration the options name, for one TLS setting (``io``: the gfrpc
    brick's io settings, see :func:`io_settings`)."""
    specs: list[ServerSpec] = []
    if "glusterfsd" in servers:
        specs += [ServerSpec("glusterfsd", tls, None, n) for n in threads]
    if "gfrpc" in servers:
        configs = [
            (poller, n if poller in THREADED_POLLERS else 1)
            for poller in pollers
            for n in (threads if poller in THREADED_POLLERS else threads[:1])
        ]
        specs += gfrpc_specs(tls, configs, io)
    return specs


def default_plan(sizes: Sizes, tls_modes: list[bool]) -> Plan:
    """The short experiment ``make demo`` runs."""
    plan = Plan()
    for tls in tls_modes:
        real = ServerSpec("glusterfsd", tls, None, 2)
        pool = ServerSpec("gfrpc", tls, "pool", 2)  # GlusterFS's design since 2012
        for client in ("fio", "gfrpc"):
            plan.cells += [
                _cell("seq-write", client, real, sizes),
                _cell("seq-write", client, pool, sizes),
            ]
        for poller in ("single", "own-thread"):  # before 2011, and the 2011 patch
            plan.cells.append(_cell("seq-write", "fio", ServerSpec("gfrpc", tls, poller, 1), sizes))
        # and Ceph's design, so that the run shows every model
        plan.cells.append(_cell("seq-write", "fio", ServerSpec("gfrpc", tls, "sharded", 2), sizes))
    plan.cells.sort(key=_order)
    return plan


def compare_plan(
    sizes: Sizes,
    tls_modes: list[bool],
    workloads: list[str] | None,
    io: list[IoSetting] | None = None,
) -> Plan:
    """Issue 7's full matrix (the gfrpc configurations times ``io`` when given), and the stat
    workload with gfrpc's client only (fio has no STAT loop)."""
    plan = Plan()
    for tls in tls_modes:
        specs = [ServerSpec("glusterfsd", tls, None, n) for n in GLUSTERFSD_THREADS]
        specs += gfrpc_specs(tls, list(GFRPC_CONFIGS), io)
        for workload in workloads or list(COMPARE_WORKLOADS):
            for client in ("fio", "gfrpc"):
                if workload == "stat" and client == "fio":
                    continue  # fio has no STAT loop over gfapi
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
    io: list[IoSetting] | None = None,
) -> Plan:
    """Every combination of the options given."""
    plan = Plan()
    for tls in tls_modes:
        for spec in server_specs(servers, pollers, threads, tls, io):
            for workload in workloads:
                plan.cells += [_cell(workload, c, spec, sizes) for c in clients]
    plan.cells.sort(key=_order)
    return plan


def _sweep_threads(poller: str, event_threads: int) -> int:
    return event_threads if poller in THREADED_POLLERS else 1


def sweep_cells(
    counts: list[int],
    pollers: list[str],
    tls_modes: list[bool],
    sizes: Sizes,
    event_threads: int = 2,
    io: list[IoSetting] | None = None,
) -> list[Cell]:
    """seq-write points of gfrpc's client into the gfrpc brick, one connection per stream.

    The total written is ``--streams`` x ``--size`` split over the connections, but every
    connection writes at least SWEEP_MIN_RECORDS records: at 1,000 connections the point
    then measures the transport under many writers, not 1,000 file creations. One
    event-threads count serves the whole sweep; every io setting of ``io`` is a brick of
    its own (one sweep each), so two settings are compared in the same run."""
    total = sizes.streams * sizes.file_bytes
    cells = []
    for tls in tls_modes:
        for spec in gfrpc_specs(tls, [(p, _sweep_threads(p, event_threads)) for p in pollers], io):
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
