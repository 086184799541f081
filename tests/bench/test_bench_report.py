"""The bench report: result rows, the --json shape, the table, the bounds text and the plot.

Everything here runs without GlusterFS: a synthetic list of runs (built below) goes through
``document``; the recorded document in ``tests/fixtures/bench/recorded-run.json`` (regenerate
with ``python tests/bench/test_bench_report.py``, or replace it with a real ``--json`` run) is
checked field by field and rendered.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
from pathlib import Path
from typing import Any

import pytest

from gfrpc.bench.experiment.bounds import (
    CLIENT,
    CRYPTO,
    SERVER,
    WAITING,
    render_bounds,
    verdict,
)
from gfrpc.bench.experiment.machine import machine_info, parse_openssl_speed
from gfrpc.bench.experiment.meter import Reading, idle_cores_between, machine_idle_s
from gfrpc.bench.experiment.model import MB, Cell, MiB, Sample, ServerSpec, unit_of
from gfrpc.bench.experiment.report import Run, document, load, results, row_label, save
from gfrpc.bench.experiment.table import MAX_WIDTH, header_lines, markdown_tables, render_table
from gfrpc.errors import ConfigError

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "bench" / "recorded-run.json"
REPEATS = 3
MACHINE: dict[str, Any] = {
    "cpu_model": "AMD EPYC",
    "cores": 2,
    "kernel": "Linux 6.1.0-28-cloud-amd64",
    "python": "3.11.7",
    "openssl": "OpenSSL 3.0.19 27 Jan 2026",
    "glusterfs": "10.3",
    "fio": "3.33",
    "gfrpc": "0.1.0",
    "date": "2026-12-01T17:40:00+00:00",
    "aes_gcm_mb_s": 2453.2,
}
COMMAND = "gfrpc bench --compare --repeats 3"

BASE_KEYS = {
    "workload": str,
    "phase": (str, type(None)),
    "client": str,
    "server": str,
    "tls": bool,
    "poller": (str, type(None)),
    "event_threads": int,
    "connections": str,
    "streams": int,
    "record_bytes": int,
    "bytes_total": int,
    "ops_total": int,
    "value": (int, float),
    "unit": str,
    "runs": list,
    "client_cpu_s": (int, float, type(None)),
    "server_cpu_s": (int, float, type(None)),
    "server_busy_cores": (int, float, type(None)),
    "latency_ms": (dict, type(None)),
    "ratio_to_reference": (int, float, type(None)),
    "server_cpu_s_per_gb": (int, float, type(None)),
    "server_cpu_us_per_op": (int, float, type(None)),
    "evidence": list,
}
SWEEP_KEYS = {
    "connection_count": int,
    "server_rss_mb": (int, float, type(None)),
    "server_threads": (int, type(None)),
}


# -- a synthetic run ---------------------------------------------------------------------


def _specs(tls: bool) -> list[tuple[str, ServerSpec]]:
    return [
        ("fio", ServerSpec("glusterfsd", tls, None, 1)),
        ("fio", ServerSpec("glusterfsd", tls, None, 2)),
        ("fio", ServerSpec("gfrpc", tls, "pool", 2)),
        ("gfrpc", ServerSpec("glusterfsd", tls, None, 2)),
        ("gfrpc", ServerSpec("gfrpc", tls, "single", 2)),
        ("gfrpc", ServerSpec("gfrpc", tls, "pool", 4)),
    ]


def _cells() -> list[Cell]:
    cells = []
    for workload in ("seq-write", "smallfile"):
        for tls in (False, True):
            for client, spec in _specs(tls):
                if workload == "smallfile":
                    cells.append(
                        Cell(
                            workload, client, spec, streams=4, file_bytes=4096, files_per_stream=250
                        )
                    )
                else:
                    cells.append(Cell(workload, client, spec, streams=24, file_bytes=64 * MiB))
    cells.append(
        Cell(
            "stat",
            "gfrpc",
            ServerSpec("gfrpc", False, "pool", 2),
            streams=4,
            files_per_stream=10,
            ops_per_stream=500,
        )
    )
    for n in (1, 24):
        for poller, threads in (("own-thread", 2), ("pool", 4)):
            cells.append(
                Cell(
                    "seq-write",
                    "gfrpc",
                    ServerSpec("gfrpc", False, poller, threads),
                    streams=n,
                    file_bytes=4 * MiB,
                    connection_count=n,
                )
            )
    return cells


def _samples(cell: Cell, i: int, repeat: int) -> list[Sample]:
    """Deterministic, varied numbers: wall time differs by cell and repeat."""
    k = 1.0 + 0.07 * i + 0.11 * ((repeat * 7 + i) % 3)
    lat = {"p50": 2.0 * k, "p99": 9.0 * k, "max": 20.0 * k} if cell.client == "gfrpc" else None
    span = 1.25 * k if cell.client == "fio" else None
    sweep = (
        dict(
            server_rss_mb=40.0
            + (cell.connection_count or 0) * (1.5 if cell.server.poller == "own-thread" else 0.1),
            server_threads=(cell.connection_count or 0) + 3
            if cell.server.poller == "own-thread"
            else 7,
        )
        if cell.connection_count
        else {}
    )
    if cell.workload == "smallfile":
        files = cell.streams * cell.files_per_stream
        return [
            Sample(
                p,
                files * 4096 if p == "create" else 0,
                files,
                0.4 * k * (j + 1),
                0.3 * k,
                0.5 * k * (j + 1),
                latencies_ms=lat,
                span_s=span,
            )
            for j, p in enumerate(("create", "stat", "unlink"))
        ]
    if cell.workload == "stat":
        ops = cell.streams * cell.ops_per_stream
        return [Sample(None, 0, ops, 0.5 * k, 0.45 * k, 0.2 * k, latencies_ms=lat)]
    total = cell.streams * cell.file_bytes
    wall = 1.6 * k if not cell.connection_count else 0.1 * k * max(1.0, cell.streams / 8)
    return [
        Sample(
            None,
            total,
            total // cell.record_bytes,
            wall,
            0.56 * wall,
            0.69 * wall,
            latencies_ms=lat,
            span_s=span,
            **sweep,
        )
    ]


def synthetic_runs() -> list[Run]:
    """Interleaved repeats of every cell; repeat 1 of the gfrpc single TLS-off seq-write fails."""
    runs = []
    cells = _cells()
    for repeat in range(REPEATS):
        for i, cell in enumerate(cells):
            fail = (
                repeat == 1
                and cell.workload == "seq-write"
                and cell.server.poller == "single"
                and not cell.tls
                and cell.connection_count is None
            )
            runs.append(
                Run(
                    cell,
                    repeat,
                    [] if fail else _samples(cell, i, repeat),
                    "brick died" if fail else None,
                )
            )
    return runs


def synthetic_doc() -> dict[str, Any]:
    return document(
        MACHINE,
        synthetic_runs(),
        command=COMMAND,
        notes=["fio has no STAT over gfapi: stat rows are gfrpc only"],
    )


def _cell_key(c: Cell) -> tuple[Any, ...]:
    return (
        c.workload,
        c.client,
        c.server.kind,
        c.tls,
        c.server.poller if c.server.kind == "gfrpc" else None,
        c.server.event_threads,
        c.connections,
        c.connection_count,
    )


def _row_key(r: dict[str, Any]) -> tuple[Any, ...]:
    return (
        r["workload"],
        r["client"],
        r["server"],
        r["tls"],
        r["poller"],
        r["event_threads"],
        r["connections"],
        r.get("connection_count"),
    )


def _find(rows: list[dict[str, Any]], **want: Any) -> dict[str, Any]:
    want.setdefault("connection_count", None)  # main rows unless a sweep point is asked
    hits = [r for r in rows if all(r.get(k) == v for k, v in want.items())]
    assert len(hits) == 1, (want, hits)
    return hits[0]


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    return load(FIXTURE)


# -- the JSON shape ------------------------------------------------------------------------

REAL_RUN = FIXTURE.with_name("real-default-run.json")  # `gfrpc bench --json`, 2026-12-01


@pytest.fixture(params=["synthetic", "real"])
def any_recorded(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The synthetic document, and a real default run recorded on this machine."""
    return load(FIXTURE if request.param == "synthetic" else REAL_RUN)


def test_recorded_json_has_every_contract_field_with_its_type(any_recorded):
    """Rule: each result holds every field of issue 7's contract, typed as documented; unit
    follows the workload; poller is null exactly for glusterfsd; phase only on smallfile."""
    assert {"machine", "results"} <= set(any_recorded)
    assert any_recorded["schema"] == 1 and isinstance(any_recorded["command"], str)
    for key in (
        "cpu_model",
        "cores",
        "kernel",
        "python",
        "openssl",
        "glusterfs",
        "fio",
        "gfrpc",
        "date",
        "aes_gcm_mb_s",
    ):
        assert key in any_recorded["machine"], key
    assert any_recorded["results"]
    for row in any_recorded["results"]:
        for key, typ in BASE_KEYS.items():
            assert key in row, (key, row)
            assert isinstance(row[key], typ), (key, row[key])
        assert row["client"] in ("gfrpc", "fio") and row["server"] in ("gfrpc", "glusterfsd")
        assert row["connections"] in ("per-stream", "shared")
        assert row["unit"] == unit_of(row["workload"])
        assert (row["poller"] is None) == (row["server"] == "glusterfsd")
        assert (row["phase"] is not None) == (row["workload"] == "smallfile")
        if row["latency_ms"] is not None:
            assert set(row["latency_ms"]) == {"p50", "p99", "max"}
        assert len(row["evidence"]) == len(row["runs"])
        assert all(
            (e is None) == (v is None) for e, v in zip(row["evidence"], row["runs"], strict=True)
        )
        if row["unit"] == "MB/s":
            assert row["server_cpu_us_per_op"] is None
        else:
            assert row["server_cpu_s_per_gb"] is None


def test_recorded_runs_hold_one_value_per_repeat(recorded):
    """Rule: ``runs`` has one entry per repeat (the same count on every row), and ``value``
    is their median (over the runs that did not fail)."""
    counts = {len(r["runs"]) for r in recorded["results"]}
    assert len(counts) == 1 and counts.pop() >= 1
    for row in recorded["results"]:
        got = [v for v in row["runs"] if v is not None]
        assert row["value"] == pytest.approx(statistics.median(got), rel=1e-3, abs=1e-3)


def test_sweep_fields_only_on_sweep_rows_and_no_reference(recorded):
    """Rule: connection_count, server_rss_mb and server_threads appear on sweep rows only;
    sweep rows have no ratio to a reference."""
    sweep = [r for r in recorded["results"] if "connection_count" in r]
    assert sweep
    for row in recorded["results"]:
        present = [k for k in SWEEP_KEYS if k in row]
        assert present in ([], list(SWEEP_KEYS)), row
        if present:
            for key, typ in SWEEP_KEYS.items():
                assert isinstance(row[key], typ)
            assert row["ratio_to_reference"] is None
            assert row["streams"] == row["connection_count"]


def test_verdict_lines_end_with_the_machines_idle_cores_when_the_row_has_them():
    """Rule: a row with ``machine_idle_cores`` has its idle cores at the end of its numbers,
    its verdict unchanged; a row recorded without them (older files) shows none."""
    row = _row(server="gfrpc", poller="single", server_busy_cores=0.9)
    plain_verdict, plain_why = verdict(row, MACHINE)
    got, why = verdict(row | {"machine_idle_cores": 0.134}, MACHINE)
    assert got == plain_verdict and why == f"{plain_why}; idle 0.13"
    assert "idle" not in plain_why
    assert verdict(row | {"machine_idle_cores": None}, MACHINE) == (plain_verdict, plain_why)


def test_machine_idle_cores_are_the_median_of_the_runs_that_have_them():
    """Rule: a row's ``machine_idle_cores`` is the median over its runs' idle cores, runs
    without the figure left out, and None when no run has it."""
    spec = ServerSpec("gfrpc", True, "sharded", 2)
    cell = Cell("seq-write", "fio", spec, streams=1)

    def run(i: int, idle: float | None) -> Run:
        return Run(cell, i, [Sample(None, 100 * MB, 100, 1.0, 0.5, 1.0, idle_cores=idle)])

    rows = results([run(0, 0.3), run(1, None), run(2, 0.1), run(3, 0.2)])
    assert rows[0]["machine_idle_cores"] == pytest.approx(0.2)
    assert results([run(0, None)])[0]["machine_idle_cores"] is None


def test_machine_idle_is_read_from_proc_stat(tmp_path):
    """Rule: the machine's idle seconds are ``/proc/stat``'s idle + iowait ticks over the
    clock tick rate; an unreadable or foreign file gives None; idle cores between two
    readings are the idle seconds over the wall time between them, never below 0 nor above the
    machine's core count."""
    tick = os.sysconf("SC_CLK_TCK")
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 5 50 1000 20 3 4 0 0 0\ncpu0 50 2 25 500 10 1 2 0 0 0\n")
    assert machine_idle_s(str(stat)) == pytest.approx(1020 / tick)
    stat.write_text("intr 1 2 3\n")
    assert machine_idle_s(str(stat)) is None
    assert machine_idle_s(str(tmp_path / "missing")) is None
    a, b = Reading(10.0, None, 0.0, 5.0), Reading(12.0, None, 0.0, 6.0)
    assert idle_cores_between(a, b) == pytest.approx(0.5)
    assert idle_cores_between(b, Reading(13.0, None, 0.0, 5.5)) == 0.0
    assert idle_cores_between(a, Reading(12.0, None, 0.0, None)) is None
    # a few ticks over a short span: never more idle cores than the machine has
    cores = os.cpu_count() or 1
    assert idle_cores_between(a, Reading(10.01, None, 0.0, 5.0 + cores * 0.02)) == cores
    assert machine_idle_s() is not None  # this Linux has one


def test_medians_busy_cores_and_cpu_per_unit_are_per_run_then_median():
    """Rule: every number is the median over repeats, and per-run figures (busy cores =
    server CPU-s / (span_s or wall_s), CPU-s per GB, µs per op) are computed per run first."""
    runs = synthetic_runs()
    rows = results(runs)
    checked = 0
    for row in rows:
        mine = [r for r in runs if _cell_key(r.cell) == _row_key(row)]
        ss = [next(s for s in r.samples if s.phase == row["phase"]) for r in mine if r.samples]
        assert row["runs"] == [
            None
            if not r.samples
            else pytest.approx(
                next(s for s in r.samples if s.phase == row["phase"]).value, abs=1e-3
            )
            for r in mine
        ]
        assert row["value"] == pytest.approx(statistics.median(s.value for s in ss), abs=1e-3)
        assert row["server_cpu_s"] == pytest.approx(
            statistics.median(s.server_cpu_s for s in ss), abs=1e-3
        )
        assert row["client_cpu_s"] == pytest.approx(
            statistics.median(s.client_cpu_s for s in ss), abs=1e-3
        )
        busy = statistics.median(s.server_cpu_s / (s.span_s or s.wall_s) for s in ss)
        assert row["server_busy_cores"] == pytest.approx(busy, abs=1e-3)
        if row["unit"] == "MB/s":
            per = statistics.median(s.server_cpu_s / (s.bytes_total / 1e9) for s in ss)
            assert row["server_cpu_s_per_gb"] == pytest.approx(per, abs=1e-3)
        else:
            per = statistics.median(s.server_cpu_s * 1e6 / s.ops_total for s in ss)
            assert row["server_cpu_us_per_op"] == pytest.approx(per, abs=1e-3)
        checked += 1
    assert checked == len(rows) > 30


def test_fio_busy_cores_use_the_cpu_span_not_the_io_span():
    """Rule: busy cores divide by ``span_s`` when the sample has one (fio), not ``wall_s``."""
    spec = ServerSpec("glusterfsd", False, None, 2)
    cell = Cell("seq-write", "fio", spec, streams=1)
    runs = [Run(cell, 0, [Sample(None, 100 * MB, 100, 1.0, 0.5, 3.0, span_s=2.0)])]
    row = results(runs)[0]
    assert row["value"] == pytest.approx(100.0)
    assert row["server_busy_cores"] == pytest.approx(1.5)
    assert row["server_cpu_s_per_gb"] == pytest.approx(30.0)


def test_ratio_to_reference_same_event_threads_else_the_most():
    """Rule: ratio = value / reference value; glusterfsd and pool rows use the fio →
    glusterfsd row of the same event-threads when present, other rows the one with the most;
    the reference's own ratio is 1; a group without a reference has null."""
    rows = synthetic_doc()["results"]
    for tls in (False, True):
        g = {"workload": "seq-write", "tls": tls}
        ref1 = _find(rows, client="fio", server="glusterfsd", event_threads=1, **g)
        ref2 = _find(rows, client="fio", server="glusterfsd", event_threads=2, **g)
        assert ref1["ratio_to_reference"] == 1.0 and ref2["ratio_to_reference"] == 1.0
        pool2 = _find(rows, client="fio", server="gfrpc", **g)
        assert pool2["reference_event_threads"] == 2
        assert pool2["ratio_to_reference"] == pytest.approx(
            pool2["value"] / ref2["value"], abs=1e-3
        )
        pool4 = _find(rows, client="gfrpc", server="gfrpc", poller="pool", phase=None, **g)
        assert pool4["reference_event_threads"] == 2  # no x4 reference: the most (2)
        assert pool4["ratio_to_reference"] == pytest.approx(
            pool4["value"] / ref2["value"], abs=1e-3
        )
        single = _find(rows, client="gfrpc", poller="single", **g)
        assert single["reference_event_threads"] == 2
    stat = _find(rows, workload="stat")
    assert stat["ratio_to_reference"] is None
    create = _find(
        rows, workload="smallfile", phase="create", client="gfrpc", poller="single", tls=True
    )
    ref = _find(
        rows,
        workload="smallfile",
        phase="create",
        client="fio",
        server="glusterfsd",
        event_threads=2,
        tls=True,
    )
    assert create["ratio_to_reference"] == pytest.approx(create["value"] / ref["value"], abs=1e-3)


def test_failed_run_is_null_in_runs_left_out_of_medians_and_noted():
    """Rule: a failed run keeps its place in ``runs`` as null, the median covers the others,
    and the document's notes name it."""
    doc = synthetic_doc()
    row = _find(doc["results"], workload="seq-write", poller="single", tls=False)
    assert row["runs"][1] is None and None not in (row["runs"][0], row["runs"][2])
    assert row["value"] == pytest.approx(
        statistics.median([row["runs"][0], row["runs"][2]]), abs=1e-3
    )
    assert any("run 2 of seq-write" in n and "brick died" in n for n in doc["notes"])


def test_a_cell_whose_runs_all_failed_keeps_a_row_of_nulls():
    """Rule: a cell with no successful run still has its row (value null, every run null, no
    ratio), and the table and bounds render around it."""
    cell = Cell("seq-write", "gfrpc", ServerSpec("gfrpc", False, "pool", 2), streams=2)
    runs = [Run(cell, i, [], "connection refused") for i in range(2)]
    doc = document(MACHINE, runs, command=COMMAND, notes=[])
    (row,) = doc["results"]
    assert row["value"] is None and row["runs"] == [None, None]
    assert row["ratio_to_reference"] is None and row["server_busy_cores"] is None
    assert "err err" in render_table(doc)
    assert "no rows to judge" in render_bounds(doc)
    assert len(doc["notes"]) == 2


def test_many_repeats_keep_table_lines_within_120_characters():
    """Rule: with many repeats the runs column shrinks to min..max so lines stay ≤ 120."""
    cell = Cell("seq-write", "fio", ServerSpec("glusterfsd", True, None, 4), streams=24)
    runs = [
        Run(
            cell,
            i,
            [
                Sample(
                    None,
                    1600 * MB,
                    1526,
                    1.0 + i / 7,
                    2.5,
                    3.1,
                    latencies_ms={"p50": 1234.5, "p99": 99999.0, "max": 1e5},
                )
            ],
        )
        for i in range(15)
    ]
    text = render_table(document(MACHINE, runs, command=COMMAND, notes=[]))
    assert max(len(x) for x in text.splitlines()) <= MAX_WIDTH
    assert "(15/15)" in text


def test_load_round_trips_and_rejects_other_files(tmp_path):
    """Rule: ``load`` gives back what ``save`` wrote; a file that is not a bench document,
    or not JSON, raises ConfigError with the path."""
    doc = synthetic_doc()
    path = tmp_path / "run.json"
    save(doc, path)
    assert load(path) == json.loads(json.dumps(doc))
    (tmp_path / "other.json").write_text('{"rows": []}')
    with pytest.raises(ConfigError, match="other.json"):
        load(tmp_path / "other.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="not JSON"):
        load(tmp_path / "bad.json")


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda row: row.pop("phase"), "no 'phase'"),
        (lambda row: row.update(value="fast"), "'value' is 'fast'"),
        (lambda row: row.update(tls="yes"), "'tls' is 'yes'"),
        (lambda row: row.update(event_threads=True), "'event_threads' is True"),
        (lambda row: row.update(runs=[1.0, "x"]), "'runs' holds"),
        (lambda row: row.update(connection_count=4), "no 'server_rss_mb'"),
    ],
)
def test_load_refuses_a_row_the_renderers_could_not_read(tmp_path, capsys, change, said):
    """Rule: a --json file whose result row lacks a field the table, bounds or targets read,
    or holds one of the wrong type, is refused by ``load`` with the file, the row and the
    field; ``gfrpc bench --from-json`` prints that one line, not a traceback."""
    from gfrpc.cli import main

    doc = json.loads(json.dumps(synthetic_doc()))
    change(doc["results"][1])
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=f"edited.json: result row 2 .*{re.escape(said)}"):
        load(path)
    assert main(["bench", "--from-json", str(path)]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


# -- table, bounds, plot -----------------------------------------------------------------


def test_table_names_the_machine_and_shows_every_row(recorded):
    """Rule: the plain table has the header facts (CPU, cores, kernel, Python, OpenSSL,
    GlusterFS, fio, date, command), a line per result row with its median and runs, TLS off
    before on, lines of at most 120 characters and no pass/fail words."""
    text = render_table(recorded)
    m = recorded["machine"]
    for fact in (
        m["cpu_model"],
        f"{m['cores']} cores",
        m["kernel"],
        m["python"],
        m["openssl"],
        f"GlusterFS {m['glusterfs']}",
        f"fio {m['fio']}",
        m["date"],
        recorded["command"],
    ):
        assert str(fact) in text, fact
    lines = text.splitlines()
    assert max(len(x) for x in lines) <= MAX_WIDTH
    assert not re.search(r"\b(pass|fail(ed)?|target|ok)\b", text.split("notes:")[0], re.I)
    main = [r for r in recorded["results"] if "connection_count" not in r]
    for row in main:
        hits = [x for x in lines if x.strip().startswith(row_label(row))]
        assert hits, row_label(row)
    sweep = [r for r in recorded["results"] if "connection_count" in r]
    assert "connection sweep" in text and sweep
    first_on = text.index(" TLS on")
    assert text.index(" TLS off") < first_on


def test_table_row_values_match_the_document():
    """Rule: a table line carries the row's median, its busy cores and its ratio."""
    doc = synthetic_doc()
    text = render_table(doc)
    row = _find(doc["results"], workload="seq-write", client="fio", server="gfrpc", tls=True)
    line = next(
        x
        for x in text.splitlines()
        if x.strip().startswith(row_label(row))
        and f"(x{row['reference_event_threads']})" in x
        and f"{row['value']:.0f}" in x
    )
    assert f"{row['ratio_to_reference']:.2f}" in line
    assert f"{row['server_busy_cores']:.2f}" in line


def test_markdown_tables_have_a_table_per_block_and_the_sweep(recorded):
    """Rule: the README Markdown has the header facts, a pipe table per workload block with
    both TLS settings, and the sweep table."""
    md = markdown_tables(recorded)
    assert recorded["machine"]["cpu_model"] in md and recorded["command"] in md
    assert md.count("|---|---|") >= 3
    assert "**connection sweep**" in md
    assert "| off |" in md and "| on |" in md


def test_bounds_names_one_verdict_per_row_in_every_group(recorded):
    """Rule: the bounds text has a line per group (workload, phase, TLS) naming the verdicts
    and a line per row with a verdict and the numbers behind it."""
    text = render_bounds(recorded)
    verdicts = (CRYPTO, CLIENT, SERVER, WAITING)
    groups = {
        (r["workload"], r["phase"], r["tls"])
        for r in recorded["results"]
        if "connection_count" not in r
    }
    heads = [x for x in text.splitlines() if not x.startswith(" ")][1:]
    assert len(heads) == len(groups)
    for head in heads:
        assert any(v in head for v in verdicts), head
    rows = [x for x in text.splitlines() if x.startswith("  ")]
    assert len(rows) == sum(1 for r in recorded["results"] if "connection_count" not in r)
    for line in rows:
        assert any(f"{v}: " in line for v in verdicts) and re.search(r"\d\.\d\d", line), line
        assert len(line) <= MAX_WIDTH


def _row(**kw: Any) -> dict[str, Any]:
    base = {
        "workload": "seq-write",
        "phase": None,
        "client": "fio",
        "server": "glusterfsd",
        "tls": False,
        "poller": None,
        "event_threads": 2,
        "connections": "per-stream",
        "bytes_total": 1600 * MB,
        "client_cpu_s": 1.0,
        "server_cpu_s": 1.0,
        "client_busy_cores": 0.3,
        "server_busy_cores": 0.3,
        "value": 1000.0,
    }
    return base | kw


@pytest.mark.parametrize(
    ("row", "want"),
    [
        (_row(tls=True, client_cpu_s=1.5, server_cpu_s=1.5), CRYPTO),  # 1.30 of 3 CPU-s
        (
            _row(
                tls=True,
                client_cpu_s=4.0,
                server_cpu_s=4.0,
                client_busy_cores=0.5,
                server_busy_cores=1.3,
            ),
            SERVER,
        ),  # crypto 16 %: CPU full
        (_row(client_busy_cores=1.1, server_busy_cores=0.6), CLIENT),  # 1.7 of 2 cores
        (_row(client="gfrpc", client_busy_cores=0.95, server_busy_cores=0.2), CLIENT),  # GIL
        (_row(server="gfrpc", poller="single", server_busy_cores=0.9), SERVER),
        (_row(client_busy_cores=0.3, server_busy_cores=0.4), WAITING),
    ],
)
def test_verdict_follows_the_rows_numbers(row, want):
    """Rule: crypto when the estimated AES-GCM CPU (bytes × 2 / rate) is ≥ a third of all CPU;
    else the side with the larger share when the cores are used up, or the side near its
    usable cores (1 for a Python process); else waiting."""
    got, why = verdict(row, MACHINE)
    assert got == want, why


@pytest.mark.timeout(30)
def test_plot_writes_a_png(recorded, tmp_path):
    """Rule: --plot writes a PNG file (signature, more than 10 KB) from a recorded JSON."""
    pytest.importorskip("matplotlib")
    from gfrpc.bench.experiment.plot import plot

    out = tmp_path / "bench.png"
    plot(recorded, out)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


def test_plot_without_matplotlib_says_how_to_install(recorded, tmp_path, monkeypatch):
    """Rule: without matplotlib, plot raises ConfigError naming the bench extra."""
    from gfrpc.bench.experiment.plot import plot

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ConfigError, match=r"gfrpc\[bench\]"):
        plot(recorded, tmp_path / "x.png")


# -- machine facts -------------------------------------------------------------------------


def test_openssl_speed_output_parses_to_mb_per_s():
    """Rule: ``openssl speed`` prints thousands of bytes/s; aes_gcm_mb_s is 10^6 bytes/s."""
    text = (
        "The 'numbers' are in 1000s of bytes per second processed.\n"
        "type          16384 bytes\nAES-128-GCM    2453219.79k\n"
    )
    assert parse_openssl_speed(text) == pytest.approx(2453.2, abs=0.05)
    assert parse_openssl_speed("garbage") is None


@pytest.mark.timeout(30)
def test_machine_info_has_the_header_facts():
    """Rule: machine_info names CPU, cores, kernel, Python, OpenSSL, GlusterFS, fio, gfrpc and
    an ISO date with a time zone; it is JSON-serialisable."""
    info = machine_info(measure_aes=False)
    assert set(MACHINE) <= set(info)
    assert isinstance(info["cores"], int) and info["cores"] >= 1
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$", info["date"])
    assert info["python"] == ".".join(map(str, sys.version_info[:3]))
    assert info["python_executable"] == os.path.realpath(sys.executable)
    json.dumps(info)


def test_header_names_the_interpreter_when_recorded():
    """Rule: the header's Python line names the interpreter's real path when the run recorded
    it (a venv hides whether it is a PGO build), and reads as before for older runs."""
    doc = synthetic_doc()
    doc["machine"]["python_executable"] = "/usr/bin/python3.11"
    assert any(
        line.startswith(f"Python {doc['machine']['python']} (/usr/bin/python3.11); ")
        for line in header_lines(doc)
    )
    del doc["machine"]["python_executable"]
    assert any(
        line.startswith(f"Python {doc['machine']['python']}; ") for line in header_lines(doc)
    )


if __name__ == "__main__":  # regenerate the recorded fixture from the synthetic run
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    save(synthetic_doc(), FIXTURE)
    print(f"wrote {FIXTURE}")
