"""The runner: interleaved repeats, fio cells finished between rows, failures kept per run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gfrpc.bench.experiment import drive_fio, drive_gfrpc, report, runner
from gfrpc.bench.experiment.model import Cell, Sample, ServerSpec, Target
from gfrpc.errors import GfrpcError

REAL = ServerSpec("glusterfsd", False, None, 2)
MINE = ServerSpec("gfrpc", False, "pool", 2)


def target(spec: ServerSpec) -> Target:
    return Target(spec=spec, volname="v", url="gluster://127.0.0.1/v", fio_host="127.0.0.1")


class FakeFio:
    """A started fio cell whose process 'exits' after ``polls`` calls of done()."""

    log: list[str] = []
    alive: list[FakeFio] = []

    crashes: dict[str, int] = {}  # tag prefix -> how many attempts of it crash

    def __init__(self, cell: Cell, tag: str, fail: bool = False, polls: int = 1) -> None:
        self.cell, self.tag, self.fail, self.polls = cell, tag, fail, polls
        FakeFio.alive.append(self)
        FakeFio.log.append(f"start {tag}")

    def done(self) -> bool:
        self.polls -= 1
        return self.polls < 0

    def finish(self) -> list[Sample]:
        FakeFio.alive.remove(self)
        FakeFio.log.append(f"finish {self.tag}")
        if self.fail:
            raise GfrpcError("fio exited with status 1")
        for prefix, left in FakeFio.crashes.items():
            if self.tag.startswith(prefix) and left > 0:
                FakeFio.crashes[prefix] = left - 1
                raise drive_fio.FioCrashed("fio exited with status -11: got signal=11")
        return [Sample(None, 1_000_000 + len(self.tag), 1, 1.0, 0.1, 0.2)]

    def abort(self) -> None:
        FakeFio.alive.remove(self)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    FakeFio.log, FakeFio.alive, FakeFio.crashes = [], [], {}

    def start_fio(cell: Cell, target: Target, meter: Any, *, tag: str, scratch: Path) -> FakeFio:
        return FakeFio(cell, tag, fail="gd" in tag and tag.startswith("b1"))

    def run_gfrpc(cell: Cell, target: Target, meter: Any, *, tag: str, poller: Any) -> list[Any]:
        FakeFio.log.append(f"gfrpc {tag}")
        return [Sample(None, 2_000_000, 2, 1.0, 0.1, 0.2)]

    monkeypatch.setattr(drive_fio, "start_fio", start_fio)
    monkeypatch.setattr(drive_gfrpc, "run_gfrpc", run_gfrpc)
    return FakeFio.log


@pytest.mark.timeout(30)
def test_repeats_interleave_and_fio_results_land_in_their_own_runs(
    fakes: list[str], tmp_path: Path
) -> None:
    """Repeats run A B C, A B C; each fio cell's report is read before the run ends and lands
    in its own Run; a fio failure marks only that run; no fio cell is left running."""
    cells = [
        Cell("seq-write", "fio", REAL),
        Cell("seq-write", "fio", MINE),
        Cell("seq-write", "gfrpc", MINE),
    ]
    pairs = [(c, target(c.server)) for c in cells]
    runs = runner.run_plan(
        pairs,
        repeats=2,
        scratch=tmp_path,
        progress=runner.Progress(6, enabled=False),
        say=lambda m: None,
    )
    assert [(r.cell.client, r.cell.server.kind, r.repeat) for r in runs] == [
        (c.client, c.server.kind, rep) for rep in range(2) for c in cells
    ]
    starts = [line.split()[1] for line in fakes if line.split()[0] in ("start", "gfrpc")]
    assert [s[:2] for s in starts] == ["b0", "b0", "b0", "b1", "b1", "b1"]
    assert FakeFio.alive == []
    for r in runs:
        if r.cell.client == "fio" and r.cell.server.kind == "glusterfsd" and r.repeat == 1:
            assert r.error and "status 1" in r.error and r.samples == []
        else:
            assert r.error is None and len(r.samples) == 1
    assert runs[0].samples[0].bytes_total == 1_000_000 + len(runner.run_id(cells[0], 0))
    assert runs[2].samples[0].bytes_total == 2_000_000


@pytest.mark.timeout(30)
def test_no_more_than_the_limit_of_fio_cells_tear_down_at_once(
    fakes: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fio cells whose process never exits on its own are finished (waited for) once more
    than MAX_FIO_TEARING_DOWN of them are pending, before the next row starts."""
    peak = 0
    real_init = FakeFio.__init__

    def init(self: FakeFio, cell: Cell, tag: str, fail: bool = False, polls: int = 1) -> None:
        nonlocal peak
        real_init(self, cell, tag, fail=False, polls=10**9)
        peak = max(peak, len(FakeFio.alive))

    monkeypatch.setattr(FakeFio, "__init__", init)
    cells = [Cell("seq-write", "fio", REAL, streams=n) for n in range(1, 7)]
    runs = runner.run_plan(
        [(c, target(c.server)) for c in cells],
        repeats=1,
        scratch=tmp_path,
        progress=runner.Progress(6, enabled=False),
        say=lambda m: None,
    )
    assert peak <= runner.MAX_FIO_TEARING_DOWN + 1
    assert all(r.samples for r in runs) and FakeFio.alive == []


@pytest.mark.timeout(30)
def test_each_run_keeps_the_steal_of_its_span_and_a_note_names_the_stolen_ones(
    fakes: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every sample carries the share of CPU the hypervisor took over its own run's span (a
    fio run's too, though its report is read later), and one note names exactly the runs at
    or over 10 %."""
    calls = {"n": 0, "steal": 0, "all": 0}

    def ticks() -> tuple[int, int]:
        # two readings per run (before, after); the 2nd run's "after" adds 30 stolen of 100
        calls["n"] += 1
        calls["all"] += 100
        if calls["n"] == 4:
            calls["steal"] += 30
        return calls["steal"], calls["all"]

    monkeypatch.setattr(runner, "cpu_ticks", ticks)
    cells = [Cell("seq-write", "fio", REAL), Cell("seq-write", "fio", MINE)]
    runs = runner.run_plan(
        [(c, target(c.server)) for c in cells],
        repeats=2,
        scratch=tmp_path,
        progress=runner.Progress(4, enabled=False),
        say=lambda m: None,
    )
    shares = [[s.evidence.get("steal_share") for s in r.samples] for r in runs]
    assert shares == [[0.0], [0.3], [], [0.0]]  # run 3 (b1, glusterfsd) failed: no sample
    notes = runner.steal_notes(runs)
    assert len(notes) == 1
    assert "1 of 4 runs" in notes[0] and "run 1 (30%)" in notes[0]
    assert runner.cell_label(cells[1]) in notes[0]
    assert runner.cell_label(cells[0]) not in notes[0]


def test_without_steal_there_is_no_note() -> None:
    """Runs under the threshold, or without a reading, give no note."""
    cell = Cell("seq-write", "gfrpc", MINE)
    quiet = Sample(None, 1, 1, 1.0, 0.1, 0.2)
    runner.mark_steal([quiet], 0.099)
    unread = Sample(None, 1, 1, 1.0, 0.1, 0.2)
    runner.mark_steal([unread], None)
    runs = [runner.Run(cell=cell, repeat=0, samples=[quiet, unread])]
    assert runner.steal_notes(runs) == []
    assert quiet.evidence["steal_share"] == 0.099 and "steal_share" not in unread.evidence


@pytest.mark.timeout(30)
def test_a_fio_run_that_crashed_is_made_again_once_and_the_notes_say_so(
    fakes: list[str], tmp_path: Path
) -> None:
    """A fio run whose client crashed (FioCrashed) is started again at once under a tag of its
    own and its samples are the second attempt's; the notes name the crash. A run that
    crashes twice keeps the second crash as its error. Other runs are not touched."""
    cells = [Cell("seq-write", "fio", MINE), Cell("seq-write", "fio", MINE, streams=3)]
    once, twice = runner.run_id(cells[0], 0), runner.run_id(cells[1], 0)
    FakeFio.crashes = {once: 1, twice: 2}
    runs = runner.run_plan(
        [(c, target(c.server)) for c in cells],
        repeats=2,
        scratch=tmp_path,
        progress=runner.Progress(4, enabled=False),
        say=lambda m: None,
    )
    assert f"start {once}-again" in fakes and f"start {twice}-again" in fakes
    assert runs[0].error is None and runs[0].crash and "signal=11" in runs[0].crash
    assert runs[0].samples[0].bytes_total == 1_000_000 + len(once + "-again")
    assert runs[1].crash and runs[1].error and "status -11" in runs[1].error
    assert runs[1].samples == []
    assert all(r.crash is None and r.error is None and r.samples for r in runs[2:])
    notes = report.failure_notes(runs)
    assert len(notes) == 3
    assert notes[0].startswith("run 1 of seq-write, fio → ") and "made again" in notes[0]
    assert "made again" in notes[1] and "failed: fio exited with status -11" in notes[2]
    assert FakeFio.alive == []
