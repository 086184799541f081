"""The gfrpc brick's io-threads policy as a ``gfrpc bench`` axis (issue 9, lever 1):
``--io-threads`` and ``--io-policy`` in the plan, the labels, the stage's brick arguments and
volume names, run ids, and the ``--json`` document (new optional fields; old files still load).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from gfrpc.bench.experiment import stage_gfrpc
from gfrpc.bench.experiment.main import build_plan
from gfrpc.bench.experiment.model import Cell, Sample, ServerSpec
from gfrpc.bench.experiment.plan import GFRPC_CONFIGS, io_settings
from gfrpc.bench.experiment.report import Run, document, load, row_label, save
from gfrpc.bench.experiment.runner import cell_label, run_id
from gfrpc.bench.experiment.table import render_table
from gfrpc.cli import build_parser, main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bench"
OLD_DOCS = sorted(FIXTURES.glob("*.json"))
MACHINE = {"cpu_model": "AMD EPYC", "cores": 2, "date": "2026-12-01T21:00:00+00:00"}


def parse(*argv: str) -> Any:
    return build_parser().parse_args(["bench", *argv])


def gfrpc_specs(plan: Any) -> list[ServerSpec]:
    return [s for s in plan.specs if s.kind == "gfrpc"]


# -- plan ----------------------------------------------------------------------------------


def test_io_options_multiply_the_gfrpc_bricks_only() -> None:
    """Rule: --io-threads x --io-policy make one gfrpc brick per setting (per poller config);
    glusterfsd specs carry no io setting and are not multiplied."""
    plan = build_plan(
        parse(
            "--workload", "smallfile", "--client", "fio", "--server", "gfrpc,glusterfsd",
            "--tls", "off", "--poller", "pool", "--event-threads", "2",
            "--io-threads", "16", "--io-policy", "all,slow",
        )
    )  # fmt: skip
    assert [(s.kind, s.io_threads, s.io_policy) for s in plan.specs] == [
        ("glusterfsd", None, None),
        ("gfrpc", 16, "all"),
        ("gfrpc", 16, "slow"),
    ]
    assert len(plan.cells) == 3 and not plan.notes


def test_io_threads_zero_takes_no_policy_and_says_so() -> None:
    """Rule: with --io-threads 0 the policy is moot: 0,16 x all,slow gives io0 (no policy),
    io16/all and io16/slow, three bricks, and one note explains the io0 row."""
    plan = build_plan(
        parse(
            "--server", "gfrpc", "--tls", "off", "--io-threads", "0,16", "--io-policy", "all,slow"
        )
    )
    assert [(s.io_threads, s.io_policy) for s in gfrpc_specs(plan)] == [
        (0, None),
        (16, "all"),
        (16, "slow"),
    ]
    assert len(plan.notes) == 1 and "--io-threads 0" in plan.notes[0]
    assert io_settings([0], ["all"]) == [(0, None, None)]
    assert io_settings(None, None) == [(None, None, None)]
    assert io_settings(None, ["all"]) == [(None, "all", None)]


def test_baton_is_an_axis_of_the_gfrpc_bricks() -> None:
    """Rule: --baton on,off makes one gfrpc brick per value (labelled, named and started with
    its flag), glusterfsd untouched, so the two can be compared in one run."""
    plan = build_plan(
        parse(
            "--workload", "smallfile", "--client", "fio", "--tls", "off", "--poller", "pool",
            "--baton", "on,off",
        )
    )  # fmt: skip
    assert sorted((s.kind, s.baton or "") for s in plan.specs) == [
        ("gfrpc", "off"),
        ("gfrpc", "on"),
        ("glusterfsd", ""),
    ]
    off, on = (next(s for s in plan.specs if s.baton == b) for b in ("off", "on"))
    assert off.label == "gfrpc pool x2 baton-off"
    assert stage_gfrpc.io_flags(off) == ["--baton", "off"]
    assert stage_gfrpc.gfrpc_volname(off).endswith("-baton-off")
    assert run_id(Cell("smallfile", "fio", off), 0) != run_id(Cell("smallfile", "fio", on), 0)
    assert io_settings(None, None, ["on", "off"]) == [(None, None, "on"), (None, None, "off")]


def test_without_io_options_the_default_and_compare_plans_are_unchanged() -> None:
    """Rule: no io options: the default run and --compare have exactly their old cells (no
    spec with an io setting); given to --compare they multiply its gfrpc configs."""
    for plan in (build_plan(parse()), build_plan(parse("--compare"))):
        assert all(s.io_threads is None and s.io_policy is None for s in plan.specs)
    assert len(build_plan(parse()).cells) == 14
    # 3 workloads x 2 clients + stat with gfrpc's client alone, x 2 TLS x the servers
    assert len(build_plan(parse("--compare")).cells) == 7 * 2 * (3 + len(GFRPC_CONFIGS))
    plan = build_plan(parse("--compare", "--io-threads", "0,16"))
    # the same x (3 glusterfsd + the gfrpc configs x 2 io settings)
    assert len(plan.cells) == 7 * 2 * (3 + 2 * len(GFRPC_CONFIGS))
    assert {(s.io_threads, s.io_policy) for s in gfrpc_specs(plan)} == {(0, None), (16, None)}


def test_io_options_alone_leave_the_default_shape_like_poller_does() -> None:
    """Rule: an io option makes the run a product of the options (as --poller does): seq-write,
    both clients, both servers, the brick's default poller (sharded x2), times the io
    settings."""
    plan = build_plan(parse("--io-policy", "all", "--tls", "off"))
    assert {(c.client, c.server.label) for c in plan.cells} == {
        (client, server)
        for client in ("fio", "gfrpc")
        for server in ("glusterfsd x2", "gfrpc sharded x2 io/all")
    }


def test_sweep_runs_once_per_io_setting() -> None:
    """Rule: every io setting is a brick of its own in the connection sweep, each swept over
    every connection count, so two hand-off settings are compared in the same run (one
    event-threads count still serves the whole sweep)."""
    plan = build_plan(
        parse(
            "--sweep-connections", "1,4", "--tls", "off", "--poller", "pool",
            "--io-threads", "0,8", "--io-policy", "slow,all", "--event-threads", "2,4",
        )
    )  # fmt: skip
    points = {
        (c.server.io_threads, c.server.io_policy, c.server.event_threads, c.connection_count)
        for c in plan.cells
    }
    assert points == {(t, p, 2, n) for t, p in [(0, None), (8, "slow"), (8, "all")] for n in (1, 4)}


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--io-policy", "fast"], "--io-policy: fast: choose from slow, all"),
        (["--io-policy", "all,sometimes"], "sometimes: choose from"),
        (["--io-threads", "-1"], "--io-threads: numbers must be >= 0"),
        (["--io-threads", "x"], "--io-threads"),
    ],
)
def test_bad_io_options_are_usage_errors(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rule: an unknown policy or a negative thread count is refused by the parser in one
    error line (after argparse's usage), exit status 2, as for the other list options."""
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["bench", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    errors = [x for x in err.splitlines() if "error:" in x]
    assert len(errors) == 1 and needle in errors[0], err


def test_io_options_with_a_gluster_target_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """Rule: the io options configure bricks the bench starts; with a gluster:// target they
    are a one-line error before anything runs."""
    assert main(["bench", "gluster://h/v", "--io-threads", "0"]) == 1
    err = capsys.readouterr().err.strip()
    assert "leave out the gluster:// target" in err and "\n" not in err


# -- labels and run ids --------------------------------------------------------------------


def test_labels_show_the_io_setting_only_when_set() -> None:
    """Rule: a spec's label names its io setting only when it has one; the report's row label
    is the same text (one spelling of a server configuration)."""
    cases = {
        ServerSpec("gfrpc", False, "pool", 2): "gfrpc pool x2",
        ServerSpec("gfrpc", False, "single", 1): "gfrpc single",
        ServerSpec("gfrpc", False, "pool", 2, 16, "all"): "gfrpc pool x2 io16/all",
        ServerSpec("gfrpc", True, "single", 1, 0): "gfrpc single io0",
        ServerSpec("gfrpc", False, "own-thread", 1, None, "slow"): "gfrpc own-thread io/slow",
        ServerSpec("gfrpc", False, "pool", 4, 8): "gfrpc pool x4 io8",
        ServerSpec("glusterfsd", False, None, 2): "glusterfsd x2",
    }
    for spec, label in cases.items():
        assert spec.label == label
        row = _doc([Cell("stat", "gfrpc", spec, streams=1)])["results"][0]
        assert row_label(row) == f"gfrpc → {label}"


def test_run_ids_and_volume_names_differ_per_io_setting() -> None:
    """Rule: bricks that differ only in their io setting get distinct volume names, run ids
    and progress labels; specs without one keep their old names."""
    specs = [
        ServerSpec("gfrpc", False, "pool", 2),
        ServerSpec("gfrpc", False, "pool", 2, 0),
        ServerSpec("gfrpc", False, "pool", 2, 16, "all"),
        ServerSpec("gfrpc", False, "pool", 2, 16, "slow"),
        ServerSpec("gfrpc", False, "pool", 2, None, "slow"),
        ServerSpec("gfrpc", True, "pool", 2, 16, "slow"),
    ]
    names = [stage_gfrpc.gfrpc_volname(s) for s in specs]
    assert names[:4] == [
        "gb-gfrpc-pool-x2",
        "gb-gfrpc-pool-x2-io0",
        "gb-gfrpc-pool-x2-io16-all",
        "gb-gfrpc-pool-x2-io16-slow",
    ]
    assert names[5] == "gb-gfrpc-pool-x2-io16-slow-tls"
    assert len(set(names)) == len(names)
    cells = [Cell("smallfile", "fio", s) for s in specs]
    assert len({run_id(c, 0) for c in cells}) == len(cells)
    assert len({cell_label(c) for c in cells}) == len(cells)


# -- the stage's brick arguments -----------------------------------------------------------


def test_stage_gives_each_brick_its_io_flags_and_the_brick_parser_takes_them(
    tmp_path: Path,
) -> None:
    """Rule: a spec's io setting reaches ``gfrpc brick`` as --io-threads/--io-policy (and
    nothing when unset, so the brick's defaults apply); the brick's own parser accepts them."""
    args = stage_gfrpc._brick_args(
        ServerSpec("gfrpc", False, "pool", 2, 16, "all"), tmp_path, "v", "127.0.0.1", None
    )
    parsed = build_parser().parse_args(args)
    assert (parsed.io_threads, parsed.io_policy, parsed.volname) == (16, "all", "v")
    args = stage_gfrpc._brick_args(
        ServerSpec("gfrpc", False, "single", 1, 0), tmp_path, "v", "127.0.0.1", None
    )
    assert build_parser().parse_args(args).io_threads == 0 and "--io-policy" not in args
    plain = stage_gfrpc._brick_args(
        ServerSpec("gfrpc", False, "pool", 2), tmp_path, "v", "127.0.0.1", None
    )
    assert "--io-threads" not in plain and "--io-policy" not in plain


@pytest.mark.skipif(os.geteuid() != 0, reason="gfrpc bricks (trusted.* xattrs) need root")
@pytest.mark.timeout(90)
def test_stage_runs_bricks_that_differ_only_in_io_setting(tmp_path: Path) -> None:
    """Rule: a stage serves one brick per io setting, each on its own volume, each taking a
    write and a read with gfrpc's client; the brick processes got their flags."""
    from gfrpc.bench.experiment.stage import Stage
    from gfrpc.client.volume import Volume

    specs = [
        ServerSpec("gfrpc", False, "pool", 2, 0),
        ServerSpec("gfrpc", False, "pool", 2, 4, "all"),
        ServerSpec("gfrpc", False, "pool", 2, 4, "slow"),
    ]
    with Stage(specs, scratch_parent=tmp_path, isolated=False, use_port_24007=False) as st:
        names = set()
        for spec in specs:
            t = st.target(spec)
            names.add(t.volname)
            cmdline = Path(f"/proc/{t.server_pids[0]}/cmdline").read_bytes().split(b"\0")
            assert [b"--io-threads", str(spec.io_threads).encode()] == cmdline[
                cmdline.index(b"--io-threads") : cmdline.index(b"--io-threads") + 2
            ]
            assert (b"--io-policy" in cmdline) == (spec.io_policy is not None)
            with Volume.connect(t.url, timeout=20) as v:
                v.write_bytes("/probe", b"io" * 500)
                assert v.read_bytes("/probe") == b"io" * 500
        assert len(names) == 3


# -- the --json document -------------------------------------------------------------------


def _doc(cells: list[Cell]) -> dict[str, Any]:
    runs = [
        Run(cell, rep, [Sample(None, 0, 1000, 0.5 + 0.1 * i + 0.01 * rep, 0.2, 0.3)])
        for rep in range(3)
        for i, cell in enumerate(cells)
    ]
    return document(MACHINE, runs, command="gfrpc bench --io-threads 0,16", notes=[])


def test_json_rows_carry_the_io_setting_only_when_set_and_round_trip(tmp_path: Path) -> None:
    """Rule: a result row has io_threads / io_policy exactly when its spec sets them; the
    document saves and loads back equal, and the table shows each setting as its own row."""
    specs = [
        ServerSpec("gfrpc", False, "pool", 2),
        ServerSpec("gfrpc", False, "pool", 2, 0),
        ServerSpec("gfrpc", False, "pool", 2, 16, "all"),
        ServerSpec("gfrpc", False, "pool", 2, None, "slow"),
    ]
    doc = _doc([Cell("stat", "gfrpc", s, streams=2) for s in specs])
    got = {(r.get("io_threads", "-"), r.get("io_policy", "-")) for r in doc["results"]}
    assert got == {("-", "-"), (0, "-"), (16, "all"), ("-", "slow")}
    path = tmp_path / "run.json"
    save(doc, path)
    back = load(path)
    assert back == json.loads(json.dumps(doc))
    text = render_table(back)
    for label in ("gfrpc pool x2 io0", "gfrpc pool x2 io16/all", "gfrpc pool x2 io/slow"):
        assert sum(line.strip().startswith(f"gfrpc → {label} ") for line in text.splitlines()) == 1
    # io rows sort after the default brick of the same config, io0 before io16
    order = [row_label(r) for r in doc["results"]]
    assert order.index("gfrpc → gfrpc pool x2") < order.index("gfrpc → gfrpc pool x2 io0")
    assert order.index("gfrpc → gfrpc pool x2 io0") < order.index("gfrpc → gfrpc pool x2 io16/all")


def test_io_rows_compare_with_the_reference_of_their_event_threads() -> None:
    """Rule: a pool brick with an io setting is still compared with fio → glusterfsd of the
    same event-threads."""
    ref = ServerSpec("glusterfsd", False, None, 2)
    other = ServerSpec("glusterfsd", False, None, 4)
    io = ServerSpec("gfrpc", False, "pool", 2, 0)
    doc = _doc([Cell("smallfile", "fio", s) for s in (ref, other, io)])
    row = next(r for r in doc["results"] if r.get("io_threads") == 0)
    assert row["reference_event_threads"] == 2 and row["ratio_to_reference"] is not None


@pytest.mark.parametrize("path", OLD_DOCS, ids=[p.name for p in OLD_DOCS])
def test_old_json_files_still_load_and_render(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rule: documents written before the io options (no io_threads/io_policy) load, render
    with the labels they always had, and --from-json prints them."""
    doc = load(path)
    assert doc["results"]
    for row in doc["results"]:
        assert "io_threads" not in row and "io_policy" not in row
        assert " io" not in row_label(row)
    assert main(["bench", "--from-json", str(path)]) == 0
    out = capsys.readouterr().out
    assert row_label(doc["results"][0]) in out
