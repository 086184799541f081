"""Issue 9's targets judged from a bench document (``bench/experiment/targets.py``).

Documents are built through the report's own ``document`` from synthetic runs whose values
are chosen, so the rows, ratios and references are the ones a real run would carry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gfrpc.bench.experiment.model import MB, Cell, MiB, Sample, ServerSpec
from gfrpc.bench.experiment.report import Run, document, load, save
from gfrpc.bench.experiment.targets import (
    MAX_WIDTH,
    STAT,
    STAT_FALLBACK,
    TARGETS,
    judge,
    margin,
    markdown_targets,
    render_targets,
    shown,
)
from gfrpc.cli import main

MACHINE = {"cpu_model": "AMD EPYC", "cores": 2, "date": "2026-12-04T23:00:00+00:00"}
OPS = 1000
GFRPC_SINGLE = ("gfrpc", "single", 1)
GFRPC_POOL2 = ("gfrpc", "pool", 2)
GLUSTERFSD2 = ("glusterfsd", None, 2)
GLUSTERFSD4 = ("glusterfsd", None, 4)


def _cell(workload: str, client: str, server: tuple[str, str | None, int], tls: bool) -> Cell:
    kind, poller, threads = server
    spec = ServerSpec(kind, tls, poller, threads)
    if workload in ("seq-write", "seq-read"):
        return Cell(workload, client, spec, streams=24, file_bytes=32 * MiB)
    return Cell(workload, client, spec, streams=24, file_bytes=4096, files_per_stream=50)


def _sample(phase: str | None, value: float, cpu_us: float | None, mb_s: bool = True) -> Sample:
    """A sample whose value is ``value`` (MB/s for a streaming workload, else ops/s) and whose
    server CPU per operation is ``cpu_us``."""
    if mb_s:
        nbytes = 768 * MiB
        return Sample(None, nbytes, 768, nbytes / MB / value, 0.5, 0.5)
    cpu = None if cpu_us is None else cpu_us * OPS / 1e6
    return Sample(phase, 0, OPS, OPS / value, 0.5, cpu)


def _doc(*spec: tuple[str, str, tuple[str, str | None, int], bool, dict[Any, Any]]) -> dict:
    """``spec``: (workload, client, server, tls, {phase: (value, cpu µs per op)})."""
    runs = []
    for workload, client, server, tls, phases in spec:
        cell = _cell(workload, client, server, tls)
        mb_s = workload in ("seq-write", "seq-read")
        samples = [_sample(p, v, c, mb_s) for p, (v, c) in phases.items()]
        runs += [Run(cell, r, samples) for r in range(3)]
    return document(MACHINE, runs, command="gfrpc bench --compare", notes=[])


def _smallfile(create: float, read: float, cpu: float = 300.0) -> dict[Any, Any]:
    return {"create": (create, cpu), "stat": (read, cpu / 3)}


def _judged(doc: dict, title: str, tls: bool) -> Any:
    return next(j for j in judge(doc) if j.target.title == title and j.tls is tls)


def test_each_brick_is_judged_on_its_own_with_its_margin() -> None:
    """Rule: a target is judged per gfrpc brick and TLS setting: files/s as a ratio to fio →
    glusterfsd (the reference the report picked), met at the aim, missed by aim − value."""
    doc = _doc(
        ("smallfile", "fio", GLUSTERFSD2, False, _smallfile(1000, 3000)),
        ("smallfile", "fio", GLUSTERFSD4, False, _smallfile(900, 2000)),
        ("smallfile", "fio", GFRPC_SINGLE, False, _smallfile(720, 2400)),  # ÷ x4: 0.8, 1.2
        ("smallfile", "fio", GFRPC_POOL2, False, _smallfile(700, 3000)),  # ÷ x2: 0.7, 1.0
    )
    create = _judged(doc, "smallfile create, files/s", False)
    assert create.values == [("single", pytest.approx(0.8)), ("pool x2", pytest.approx(0.7))]
    assert [b for b, _ in create.met] == ["single"]
    assert [b for b, _ in create.missed] == ["pool x2"]
    text = render_targets(doc)
    assert "TLS off: met by 1 of 2; missed by pool x2 (0.10)" in text
    read = _judged(doc, "smallfile read pass (open+lstat+read+close), files/s", False)
    assert [b for b, _ in read.met] == ["single", "pool x2"]
    assert "TLS on" not in text  # nothing measured with TLS: nothing judged


def test_cpu_per_file_is_divided_by_the_reference_row_the_ratio_used() -> None:
    """Rule: server CPU per file is compared with that of the fio → glusterfsd row whose
    event-threads the row's ratio used (pool x2 → glusterfsd x2; single → the most, x4), and
    met at ≤ 1.5×."""
    doc = _doc(
        ("smallfile", "fio", GLUSTERFSD2, True, _smallfile(1000, 3000, cpu=200)),
        ("smallfile", "fio", GLUSTERFSD4, True, _smallfile(1000, 3000, cpu=400)),
        ("smallfile", "fio", GFRPC_SINGLE, True, _smallfile(900, 3000, cpu=500)),
        ("smallfile", "fio", GFRPC_POOL2, True, _smallfile(900, 3000, cpu=500)),
    )
    cpu = _judged(doc, "server CPU per created file, ÷ glusterfsd's", True)
    assert dict(cpu.values) == {"single": pytest.approx(1.25), "pool x2": pytest.approx(2.5)}
    assert [b for b, _ in cpu.met] == ["single"]
    assert "missed by pool x2 (1.00)" in render_targets(doc)


def test_stat_target_uses_the_stat_workload_and_shows_glusterfsd_beside_it() -> None:
    """Rule: the per-STAT target reads the stat workload's gfrpc client → gfrpc brick rows
    (≤ 80 µs), shows glusterfsd's CPU per STAT through the same client for scale, and ignores
    the smallfile stat phase when the stat workload is there."""
    doc = _doc(
        ("stat", "gfrpc", GLUSTERFSD2, False, {None: (8000, 90.0)}),
        ("stat", "gfrpc", GFRPC_SINGLE, False, {None: (16000, 40.0)}),
        ("stat", "gfrpc", GFRPC_POOL2, False, {None: (9000, 85.0)}),
        ("smallfile", "gfrpc", GFRPC_SINGLE, False, _smallfile(900, 3000, cpu=900)),
    )
    [stat] = [j for j in judge(doc) if j.target in (STAT, STAT_FALLBACK)]
    assert stat.target is STAT
    assert stat.values == [("single", pytest.approx(40.0)), ("pool x2", pytest.approx(85.0))]
    assert stat.glusterfsd == [("glusterfsd x2", pytest.approx(90.0))]
    text = " ".join(render_targets(doc).split())  # wrapped lines joined
    assert "missed by pool x2 (5)" in text
    assert "through the same client: glusterfsd x2 90" in text


def test_without_the_stat_workload_the_smallfile_stat_phase_stands_in_and_says_so() -> None:
    """Rule: a run from before the stat workload joined --compare is judged on gfrpc's
    client's smallfile stat phase, and the text names that source."""
    doc = _doc(("smallfile", "gfrpc", GFRPC_SINGLE, True, _smallfile(900, 3000, cpu=150)))
    [stat] = [j for j in judge(doc) if j.target in (STAT, STAT_FALLBACK)]
    assert stat.target is STAT_FALLBACK
    assert stat.values == [("single", pytest.approx(50.0))]
    assert "this run has no stat workload" in render_targets(doc)


def test_seed_target_is_gfrpc_client_into_gfrpc_with_tls_only() -> None:
    """Rule: the seed's end-to-end target takes seq-write, gfrpc's client → gfrpc brick, TLS
    on, against fio → glusterfsd; without TLS it is not judged; seq-write through fio is its
    own target."""
    doc = _doc(
        ("seq-write", "fio", GLUSTERFSD2, True, {None: (800, None)}),
        ("seq-write", "gfrpc", GFRPC_POOL2, True, {None: (840, None)}),
        ("seq-write", "fio", GFRPC_POOL2, True, {None: (720, None)}),
        ("seq-write", "fio", GLUSTERFSD2, False, {None: (1200, None)}),
        ("seq-write", "gfrpc", GFRPC_POOL2, False, {None: (600, None)}),
    )
    judged = {(j.target.title, j.tls): j for j in judge(doc)}
    seed = [k for k in judged if k[0].startswith("the seed's")]
    assert seed == [(seed[0][0], True)]
    assert judged[seed[0]].values == [("pool x2", pytest.approx(1.05))]
    assert judged[("seq-write, MB/s", True)].values == [("pool x2", pytest.approx(0.9))]


def test_sweep_and_shared_connection_rows_are_not_judged() -> None:
    """Rule: only one-connection-per-stream rows outside the connection sweep count."""
    runs = []
    for spec, kw in (
        (ServerSpec("glusterfsd", True, None, 2), {}),
        (ServerSpec("gfrpc", True, "pool", 2), {"connections": "shared"}),
        (ServerSpec("gfrpc", True, "single", 1), {"connection_count": 24}),
    ):
        client = "fio" if spec.kind == "glusterfsd" else "gfrpc"
        cell = Cell("seq-write", client, spec, streams=24, file_bytes=32 * MiB, **kw)
        runs.append(Run(cell, 0, [_sample(None, 800, None, mb_s=True)]))
    doc = document(MACHINE, runs, command="gfrpc bench", notes=[])
    assert judge(doc) == []
    assert render_targets(doc) == "" and markdown_targets(doc) == ""


@pytest.mark.parametrize(
    ("value", "aim_index", "want"),
    [
        (0.997, 5, "0.997"),  # seq-write, ≥ 1.0: a miss never prints as 1.00
        (1.004, 5, "1.00"),  # a met value rounding onto the aim is still met: 1.00
        (0.7996, 0, "0.7996"),  # create, ≥ 0.8: 0.80 and 0.800 would both cross
        (80.4, 4, "80.4"),  # STAT, ≤ 80 µs: a miss never prints as 80
        (79.6, 4, "80"),
    ],
)
def test_printed_values_never_cross_the_aim(value: float, aim_index: int, want: str) -> None:
    """Rule: a value prints with two decimals (µs whole) unless that rounding would put it on
    the other side of the aim; then with as many more as it takes."""
    target = TARGETS[aim_index]
    assert shown(value, target) == want
    assert target.met(float(want)) == target.met(value)


def test_margins_never_print_as_zero() -> None:
    """Rule: a brick that missed by a hair is shown missing by a non-zero amount."""
    assert margin(0.998, TARGETS[5]) == "0.002"
    assert margin(0.75, TARGETS[5]) == "0.25"
    assert margin(80.3, STAT) == "0.3"


def test_lines_stay_within_the_table_width_and_markdown_has_a_row_per_judgement() -> None:
    """Rule: the text wraps at the table's width; the Markdown table has one row per target
    and TLS setting judged."""
    bricks = [("gfrpc", p, n) for p, n in (("single", 1), ("own-thread", 1))] + [
        ("gfrpc", p, n) for p in ("pool", "sharded") for n in (1, 2, 4)
    ]
    spec = [("smallfile", "fio", GLUSTERFSD4, tls, _smallfile(1000, 3000)) for tls in (0, 1)]
    spec += [
        ("smallfile", "fio", b, bool(tls), _smallfile(700 + 10 * i, 2900, cpu=350))
        for tls in (0, 1)
        for i, b in enumerate(bricks)
    ]
    doc = _doc(*[(w, c, s, bool(t), p) for w, c, s, t, p in spec])
    text = render_targets(doc)
    assert max(len(line) for line in text.splitlines()) <= MAX_WIDTH
    lines = text.splitlines()
    for j in judge(doc):  # a brick's name and its number are never cut apart
        for name, value in j.values:
            assert any(f"{name} {shown(value, j.target)}" in line for line in lines)
    assert "\xa0" not in text and "\xa0" not in markdown_targets(doc)
    rows = [line for line in markdown_targets(doc).splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + len(judge(doc)) == 1 + 4 * 2


def test_from_json_prints_the_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Rule: ``gfrpc bench --from-json`` judges a recorded run as the run itself would."""
    doc = _doc(
        ("smallfile", "fio", GLUSTERFSD2, False, _smallfile(1000, 3000)),
        ("smallfile", "fio", GFRPC_POOL2, False, _smallfile(700, 3000)),
    )
    path = tmp_path / "run.json"
    save(doc, path)
    assert main(["bench", "--from-json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "issue 9's targets" in out
    assert render_targets(load(path)) in out
