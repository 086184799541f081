"""From runs to result rows, and the ``--json`` document users script against.

Theory of operation: the runner hands over every :class:`Run` (one cell, one repeat, one
:class:`Sample` per phase). Runs are grouped by (cell, phase); each group becomes one row whose
numbers are **medians over the repeats** (failed runs count as ``null`` in ``runs`` and are left
out of the medians). Per-run quantities are computed per run first and the median taken after:
busy cores (``server_cpu_s / (span_s or wall_s)``), CPU-s per GB and µs per operation.

The reference row of a group (workload, phase, TLS) is **fio -> glusterfsd**: the real C
client against the real brick. A group may hold several of them (``server.event-threads`` 1,
2, 4). A row whose event-threads mean the same thing as glusterfsd's (glusterfsd itself and the
gfrpc ``pool`` poller, whose threads poll and run requests) is compared with the reference of
the **same** event-threads when the group has it; every other row (``single``, ``own-thread``,
or a count with no match) with the reference of the **most** event-threads, GlusterFS's
strongest setting. ``reference_event_threads`` names the one used. Sweep rows
(``connection_count`` set) stand apart: no reference, ratio null.

Rows are ordered by workload, phase, TLS (off, on), then reference first, then by client,
server and configuration; sweep rows come last, by connection count.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gfrpc.bench.experiment.model import (
    CLIENTS,
    SERVERS,
    SMALLFILE_PHASES,
    THREADED_POLLERS,
    WORKLOADS,
    Cell,
    Sample,
    server_label,
    unit_of,
)
from gfrpc.errors import ConfigError

SCHEMA = 1
POLLER_ORDER = {None: 0, "single": 1, "own-thread": 2, "pool": 3, "sharded": 4}
GB = 1_000_000_000


@dataclass
class Run:
    """One run of one cell: a sample per phase, or none and an error when it failed;
    ``crash``: why a first attempt of it was made again (a crash of fio, ``runner``)."""

    cell: Cell
    repeat: int
    samples: list[Sample]
    error: str | None = None
    crash: str | None = None


def _median(values: Iterable[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def _median_int(values: Iterable[int | None]) -> int | None:
    got = [v for v in values if v is not None]
    return int(statistics.median_low(got)) if got else None


def _r(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def _per_run(samples: list[Sample | None], f: Callable[[Sample], float | None]) -> float | None:
    return _median(f(s) if s is not None else None for s in samples)


def _busy(cpu: float | None, s: Sample) -> float | None:
    span = s.span_s or s.wall_s
    return None if cpu is None or span <= 0 else cpu / span


def _per_gb(s: Sample) -> float | None:
    return (
        None
        if s.server_cpu_s is None or s.bytes_total <= 0
        else s.server_cpu_s / (s.bytes_total / GB)
    )


def _us_per_op(s: Sample) -> float | None:
    return (
        None if s.server_cpu_s is None or s.ops_total <= 0 else s.server_cpu_s * 1e6 / s.ops_total
    )


def _latency(samples: list[Sample | None]) -> dict[str, float | None] | None:
    lats = [s.latencies_ms for s in samples if s is not None and s.latencies_ms]
    if not lats:
        return None
    return {k: _r(_median(lat.get(k) for lat in lats)) for k in ("p50", "p99", "max")}


def _row(cell: Cell, phase: str | None, samples: list[Sample | None]) -> dict[str, Any]:
    """One result row; ``samples`` in run order, None where that run failed."""
    unit = unit_of(cell.workload)
    ok = [s for s in samples if s is not None]
    row: dict[str, Any] = {
        "workload": cell.workload,
        "phase": phase,
        "client": cell.client,
        "server": cell.server.kind,
        "tls": cell.tls,
        "poller": None if cell.server.kind == "glusterfsd" else cell.server.poller,
        "event_threads": cell.server.event_threads,
        "connections": cell.connections,
        "streams": cell.streams,
        "record_bytes": cell.record_bytes,
        "bytes_total": _median_int(s.bytes_total for s in ok),
        "ops_total": _median_int(s.ops_total for s in ok),
        "value": _r(_median(s.value for s in ok)),
        "unit": unit,
        "runs": [None if s is None else _r(s.value) for s in samples],
        "client_cpu_s": _r(_median(s.client_cpu_s for s in ok)),
        "server_cpu_s": _r(_median(s.server_cpu_s for s in ok)),
        "server_busy_cores": _r(_per_run(samples, lambda s: _busy(s.server_cpu_s, s))),
        "client_busy_cores": _r(_per_run(samples, lambda s: _busy(s.client_cpu_s, s))),
        "machine_idle_cores": _r(_per_run(samples, lambda s: s.idle_cores)),
        "server_cpu_s_per_gb": _r(_per_run(samples, _per_gb)) if unit == "MB/s" else None,
        "server_cpu_us_per_op": _r(_per_run(samples, _us_per_op)) if unit == "ops/s" else None,
        "latency_ms": _latency(samples),
        "ratio_to_reference": None,
        "reference_event_threads": None,
        "evidence": [None if s is None else s.evidence for s in samples],
    }
    for key in ("io_threads", "io_policy", "baton"):  # optional: only where the spec sets them
        if getattr(cell.server, key) is not None:
            row[key] = getattr(cell.server, key)
    if cell.connection_count is not None:
        row["connection_count"] = cell.connection_count
        row["server_rss_mb"] = _r(_median(s.server_rss_mb for s in ok), 1)
        row["server_threads"] = _median_int(s.server_threads for s in ok)
    return row


def is_reference(row: dict[str, Any]) -> bool:
    """fio -> glusterfsd, outside the sweep."""
    return (
        row["client"] == "fio" and row["server"] == "glusterfsd" and "connection_count" not in row
    )


def group_key(row: dict[str, Any]) -> tuple[str, str | None, bool]:
    """(workload, phase, TLS): the rows one reference compares."""
    return (row["workload"], row["phase"], row["tls"])


def _pick_reference(row: dict[str, Any], refs: list[dict[str, Any]]) -> dict[str, Any] | None:
    usable = [r for r in refs if r["value"]]
    if not usable:
        return None
    if row["server"] == "glusterfsd" or row["poller"] in THREADED_POLLERS:
        same = [r for r in usable if r["event_threads"] == row["event_threads"]]
        if same:
            return same[0]
    return max(usable, key=lambda r: r["event_threads"])


def _sort_key(row: dict[str, Any]) -> tuple[Any, ...]:
    wl = WORKLOADS.index(row["workload"]) if row["workload"] in WORKLOADS else len(WORKLOADS)
    ph = (
        -1
        if row["phase"] is None
        else (SMALLFILE_PHASES.index(row["phase"]) if row["phase"] in SMALLFILE_PHASES else 99)
    )
    sweep = row.get("connection_count")
    io_threads = row.get("io_threads")
    return (
        sweep is not None,
        sweep or 0,
        wl,
        row["workload"],
        ph,
        row["tls"],
        not is_reference(row),
        CLIENTS.index(row["client"]) if row["client"] in CLIENTS else 9,
        SERVERS.index(row["server"]) if row["server"] in SERVERS else 9,
        row["connections"],
        POLLER_ORDER.get(row["poller"], 9),
        row["poller"] or "",
        row["event_threads"],
        -1 if io_threads is None else io_threads,
        row.get("io_policy") or "",
        row.get("baton") or "",
    )


def results(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per (cell, phase): medians over the repeats, ratio to the group's reference."""
    by_cell: dict[Cell, list[Run]] = {}
    for run in runs:
        by_cell.setdefault(run.cell, []).append(run)
    rows = []
    for cell, cell_runs in by_cell.items():
        cell_runs.sort(key=lambda r: r.repeat)
        phases: list[str | None] = []
        for run in cell_runs:
            for s in run.samples:
                if s.phase not in phases:
                    phases.append(s.phase)
        if not phases:  # every run failed: still one row (per phase), value null
            phases = list(SMALLFILE_PHASES) if cell.workload == "smallfile" else [None]
        for phase in phases:
            samples = [
                next((s for s in run.samples if s.phase == phase), None)
                if run.error is None
                else None
                for run in cell_runs
            ]
            rows.append(_row(cell, phase, samples))
    refs: dict[tuple[str, str | None, bool], list[dict[str, Any]]] = {}
    for row in rows:
        if is_reference(row):
            refs.setdefault(group_key(row), []).append(row)
    for row in rows:
        if "connection_count" in row or row["value"] is None:
            continue
        ref = _pick_reference(row, refs.get(group_key(row), []))
        if ref is not None:
            row["ratio_to_reference"] = _r(row["value"] / ref["value"])
            row["reference_event_threads"] = ref["event_threads"]
    rows.sort(key=_sort_key)
    return rows


def row_label(row: dict[str, Any], arrow: str = " → ") -> str:
    """``fio → glusterfsd x2``, ``gfrpc (shared) → gfrpc pool x4``, ``fio → gfrpc single io0``
    (the server part is :func:`~.model.server_label`'s; documents from before the io options
    have no ``io_threads``/``io_policy`` and read as the brick's defaults)."""
    client = row["client"] + (" (shared)" if row["connections"] == "shared" else "")
    return f"{client}{arrow}{server_of(row)}"


def server_of(row: dict[str, Any]) -> str:
    """A row's server, as :func:`~.model.server_label` spells it: ``gfrpc pool x2 io16/all``."""
    return server_label(
        row["server"],
        row["poller"],
        row["event_threads"],
        row.get("io_threads"),
        row.get("io_policy"),
        row.get("baton"),
    )


def failure_notes(runs: list[Run]) -> list[str]:
    """One line per failed run, and one per run made again after a crash, for the notes."""
    out = []
    for run in sorted(runs, key=lambda r: r.repeat):
        c = run.cell
        where = f"{c.workload}, {c.client} → {c.server.label}, TLS {'on' if c.tls else 'off'}"
        if run.crash is not None:
            out.append(f"run {run.repeat + 1} of {where} was made again: {run.crash}")
        if run.error is not None or not run.samples:
            out.append(f"run {run.repeat + 1} of {where} failed: {run.error or 'no samples'}")
    return out


def document(
    machine: dict[str, Any], runs: list[Run], *, command: str, notes: list[str]
) -> dict[str, Any]:
    """The ``--json`` document: schema, command, machine, results, notes (+ failed runs)."""
    return {
        "schema": SCHEMA,
        "command": command,
        "machine": dict(machine),
        "results": results(runs),
        "notes": list(notes) + failure_notes(runs),
    }


def save(doc: dict[str, Any], path: Path) -> None:
    """Write ``doc`` as indented JSON."""
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def load(path: Path) -> dict[str, Any]:
    """Read a ``--json`` file back; ConfigError when it is not one."""
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read bench results {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"{path} is not JSON: {exc}") from exc
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("machine"), dict)
        or not isinstance(doc.get("results"), list)
    ):
        raise ConfigError(
            f"{path} is not a gfrpc bench --json file (needs top-level 'machine' and 'results')"
        )
    for i, row in enumerate(doc["results"], 1):
        problem = _row_problem(row)
        if problem:
            raise ConfigError(f"{path}: result row {i} is not a gfrpc bench row: {problem}")
    doc.setdefault("notes", [])
    doc.setdefault("command", None)
    return doc


_NUMBER = (int, float)
_OPT_NUMBER = (int, float, type(None))
#: what the table, the bounds, the targets and the plot read from every row, and its types
#: (``bool`` is an ``int`` to Python: it is refused where a number is asked for)
ROW_FIELDS: dict[str, tuple[type, ...]] = {
    "workload": (str,),
    "phase": (str, type(None)),
    "client": (str,),
    "server": (str,),
    "tls": (bool,),
    "poller": (str, type(None)),
    "event_threads": (int,),
    "connections": (str,),
    "streams": (int,),
    "record_bytes": (int,),
    "bytes_total": _OPT_NUMBER,
    "ops_total": _OPT_NUMBER,
    "value": _OPT_NUMBER,
    "unit": (str,),
    "runs": (list,),
    "client_cpu_s": _OPT_NUMBER,
    "server_cpu_s": _OPT_NUMBER,
    "server_busy_cores": _OPT_NUMBER,
    "server_cpu_s_per_gb": _OPT_NUMBER,
    "server_cpu_us_per_op": _OPT_NUMBER,
    "latency_ms": (dict, type(None)),
    "ratio_to_reference": _OPT_NUMBER,
}

#: and what a connection sweep's row adds
SWEEP_FIELDS: dict[str, tuple[type, ...]] = {
    "connection_count": (int,),
    "server_rss_mb": _OPT_NUMBER,
    "server_threads": (int, type(None)),
}


def _row_problem(row: object) -> str | None:
    """Why a ``results`` row of a loaded file cannot be rendered, or None."""
    if not isinstance(row, dict):
        return "not an object"
    fields = dict(ROW_FIELDS, **SWEEP_FIELDS) if "connection_count" in row else ROW_FIELDS
    for key, types in fields.items():
        if key not in row:
            return f"no {key!r}"
        value = row[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            return f"{key!r} is {value!r}"
    if not all(
        v is None or (isinstance(v, _NUMBER) and not isinstance(v, bool)) for v in row["runs"]
    ):
        return "'runs' holds something that is not a number or null"
    return None
