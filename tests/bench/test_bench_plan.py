"""What ``gfrpc bench`` measures for a command line: the plan, the options' checks, re-exec argv."""

from __future__ import annotations

import pytest

from gfrpc.bench.experiment import plan as planning
from gfrpc.bench.experiment.main import build_plan, missing_lines
from gfrpc.bench.experiment.model import Cell, MiB, ServerSpec, Target
from gfrpc.bench.experiment.runner import cell_label, fio_cannot, run_id
from gfrpc.cli import build_parser, main
from gfrpc.cli.bench import argv_after_command
from gfrpc.transport import POLLER_NAMES


def parse(*argv: str):  # type: ignore[no-untyped-def]
    return build_parser().parse_args(["bench", *argv])


def pairs(plan: planning.Plan) -> set[tuple[str, str, str | None, int, bool]]:
    return {
        (c.client, c.server.kind, c.server.poller, c.server.event_threads, c.tls)
        for c in plan.cells
    }


def test_default_run_is_seq_write_four_pairs_and_the_poller_rows_tls_off_and_on() -> None:
    """No options: seq-write only, TLS off and on, fio/gfrpc x glusterfsd/gfrpc-pool at 2
    event threads, plus fio into the single, own-thread and sharded x2 bricks (every polling
    model); 16 MiB per stream."""
    plan = build_plan(parse())
    assert {c.workload for c in plan.cells} == {"seq-write"}
    expected = set()
    for tls in (False, True):
        expected |= {
            ("fio", "glusterfsd", None, 2, tls),
            ("fio", "gfrpc", "pool", 2, tls),
            ("gfrpc", "glusterfsd", None, 2, tls),
            ("gfrpc", "gfrpc", "pool", 2, tls),
            ("fio", "gfrpc", "single", 1, tls),
            ("fio", "gfrpc", "own-thread", 1, tls),
            ("fio", "gfrpc", "sharded", 2, tls),
        }
    assert pairs(plan) == expected and len(plan.cells) == 14
    assert all(
        c.streams == 24 and c.record_bytes == MiB and c.file_bytes == 16 * MiB for c in plan.cells
    )
    # the reference row comes first in each TLS group
    assert (plan.cells[0].client, plan.cells[0].server.kind, plan.cells[0].tls) == (
        "fio",
        "glusterfsd",
        False,
    )


def test_compare_is_the_full_matrix() -> None:
    """--compare: 3 workloads x TLS off/on x 2 clients x (glusterfsd x1,x2,x4 + gfrpc single,
    own-thread, pool x1,x2,x4, sharded x2,x4) = 120 cells, and the stat workload (issue 9's
    per-STAT target) with gfrpc's client only, fio having no STAT loop: 20 more; each server
    spec once per TLS setting."""
    plan = build_plan(parse("--compare"))
    assert len(plan.cells) == 140
    assert {c.workload for c in plan.cells} == {"seq-write", "seq-read", "smallfile", "stat"}
    stat = [c for c in plan.cells if c.workload == "stat"]
    assert len(stat) == 20 and {c.client for c in stat} == {"gfrpc"}
    assert len(plan.specs) == 20
    assert {(s.poller, s.event_threads) for s in plan.specs if s.kind == "gfrpc"} == set(
        planning.GFRPC_CONFIGS
    )


def test_options_make_their_product_and_sizes_reach_the_cells() -> None:
    """Explicit options: every workload x client x server config; smallfile cells carry the
    small-file size and file count, seq cells --size and --record."""
    plan = build_plan(
        parse(
            "--workload",
            "smallfile",
            "--workload",
            "seq-read",
            "--client",
            "gfrpc",
            "--server",
            "gfrpc",
            "--poller",
            "single,pool",
            "--event-threads",
            "1,4",
            "--tls",
            "on",
            "--size",
            "8M",
            "--record",
            "256K",
            "--files",
            "10",
            "--file-size",
            "1K",
            "--streams",
            "3",
            "--connections",
            "shared",
        )
    )
    assert pairs(plan) == {
        ("gfrpc", "gfrpc", "single", 1, True),
        ("gfrpc", "gfrpc", "pool", 1, True),
        ("gfrpc", "gfrpc", "pool", 4, True),
    }
    for c in plan.cells:
        assert c.streams == 3 and c.connections == "shared"
        if c.workload == "smallfile":
            assert (c.file_bytes, c.files_per_stream) == (1024, 10)
        else:
            assert (c.file_bytes, c.record_bytes) == (8 * MiB, 256 * 1024)


def test_sweep_points_split_the_same_total_over_the_connections() -> None:
    """--sweep-connections alone: only sweep cells, per poller and count, one stream per
    connection, each at least 4 records, the total about --streams x --size otherwise."""
    plan = build_plan(parse("--sweep-connections", "1,24,1000", "--tls", "off", "--size", "4M"))
    assert {c.connection_count for c in plan.cells} == {1, 24, 1000}
    assert {c.server.poller for c in plan.cells} == set(POLLER_NAMES)
    for c in plan.cells:
        assert c.streams == c.connection_count and c.client == "gfrpc"
        assert c.file_bytes >= 4 * c.record_bytes and c.file_bytes % c.record_bytes == 0
        assert c.streams * c.file_bytes <= max(24 * 4 * MiB, c.streams * 4 * MiB)


def test_fio_cannot_stat_share_a_connection_or_reach_a_volume_without_port_24007() -> None:
    """fio rows are left out, with a reason, where fio cannot do what the row asks."""
    spec = ServerSpec("glusterfsd", False, None, 2)
    t = Target(spec=spec, volname="v", url="gluster://127.0.0.1/v", fio_host="127.0.0.1")
    assert fio_cannot(Cell("seq-write", "fio", spec), t) is None
    assert "STAT" in str(fio_cannot(Cell("stat", "fio", spec), t))
    assert "per job" in str(fio_cannot(Cell("seq-write", "fio", spec, connections="shared"), t))
    t.fio_host = None
    assert "24007" in str(fio_cannot(Cell("seq-write", "fio", spec), t))


def test_labels_and_run_ids_are_distinct_per_cell_and_repeat() -> None:
    """Every run of --compare has its own path name on the volume."""
    plan = build_plan(parse("--compare", "--sweep-connections", "1,4"))
    ids = {run_id(c, r) for c in plan.cells for r in range(3)}
    assert len(ids) == 3 * len(plan.cells)
    assert "TLS on" in cell_label(plan.cells[-1]) or "TLS off" in cell_label(plan.cells[-1])


def test_reexec_argv_keeps_the_bench_arguments_and_maps_bench_write() -> None:
    """The isolated child gets the same bench arguments; bench-write means seq-write."""
    assert argv_after_command(["--debug", "bench", "--tls", "on"]) == ["--tls", "on"]
    assert argv_after_command(["bench-write", "--streams", "2"]) == [
        "--workload",
        "seq-write",
        "--streams",
        "2",
    ]


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--streams", "0"], "--streams must be at least 1"),
        (["--size", "0"], "--size must be at least 1 byte"),
        (["--compare", "gluster://h/v"], "leave out the gluster:// target"),
        (["--tls-dir", "/x"], "--tls-dir is for a gluster:// target"),
    ],
)
def test_bad_options_get_one_line_errors(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Options that cannot work are refused before anything starts, in one line."""
    assert main(["bench", *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err and "Traceback" not in err


def test_a_gluster_url_defaults_to_gfrpc_client_and_tls_only_with_a_tls_dir() -> None:
    """A gluster:// target: gfrpc's client, seq-write, TLS off unless --tls-dir names the
    client identity (then on); --server names what the target is."""
    plain = build_plan(parse("gluster://h/v"))
    assert {(c.client, c.tls, c.workload) for c in plain.cells} == {("gfrpc", False, "seq-write")}
    tls = build_plan(parse("gluster://h/v", "--tls-dir", "/x", "--server", "gfrpc"))
    assert {(c.tls, c.server.kind) for c in tls.cells} == {(True, "gfrpc")}


class _Stage:
    def __init__(self, want_fio: bool, fio_missing: str | None) -> None:
        self.gfrpc_missing = None
        self.glusterfsd_missing = "glusterd did not come up: no"
        self.want_fio = want_fio
        self.fio_missing = fio_missing


def test_missing_lines_name_fio_only_when_the_plan_wants_it() -> None:
    """A run with fio rows says why fio is missing; a run of gfrpc's client alone says nothing
    about fio (the stage's "not wanted" is not a line for the user), and a missing glusterfsd
    is said either way."""
    glusterd = "glusterd did not come up: no"
    assert missing_lines(_Stage(False, "not wanted")) == [glusterd]
    assert missing_lines(_Stage(True, "fio not found")) == [glusterd, "fio not found"]
    assert missing_lines(_Stage(True, None)) == [glusterd]
