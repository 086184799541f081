"""Run a plan: every cell, ``repeats`` times, interleaved, against the stage's servers.

Theory of operation. The stage starts every server the plan names before the first
measurement, so no row pays for another's start-up and all rows share the same moments of
this noisy machine. The runner then walks the whole cell list once per repeat (A B C D,
A B C D, ...): a burst of noise lands on one run of many rows, not on every run of one row,
and the medians absorb it. One client poller serves every gfrpc-client cell (as one
application would; the library's default kind, ``client.shared.DEFAULT_POLLER``, so the rows
measure what ``Volume.connect`` gives); fio runs as a child process per cell.

A cell that cannot run (fio missing, glusterfsd missing, fio has no STAT loop) is dropped
before the first run with one note saying why; a run that fails is recorded with its error
and the others go on. A fio run whose client crashed (fio or a job process killed by a signal
the bench did not send: libgfapi 10.3 with TLS was seen to die of SIGSEGV, against
glusterfsd) is made once more at once, and a note says so; a second crash is its error.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gfrpc.bench.procstat import cpu_ticks, steal_share
from gfrpc.errors import GfrpcError

from .meter import ServerMeter
from .model import Cell, Target, UnsupportedCell
from .report import Run


def cell_label(cell: Cell) -> str:
    head = cell.workload
    if cell.connection_count is not None:
        head += f" x{cell.connection_count} conns"
    return f"{head:<10} TLS {'on ' if cell.tls else 'off'} {cell.client} -> {cell.server.label}"


RUN_TOKEN = os.urandom(3).hex()  # tells this invocation's paths from a crashed earlier one's


def run_id(cell: Cell, repeat: int) -> str:
    """A short name, unique per run, used for paths on the volume."""
    spec = cell.server
    srv = "gd" if spec.kind == "glusterfsd" else (spec.poller or "g")[:4]
    srv += f"{spec.event_threads}"
    if spec.io_threads is not None or spec.io_policy is not None:
        srv += f"i{'' if spec.io_threads is None else spec.io_threads}{(spec.io_policy or '')[:2]}"
    if spec.baton is not None:
        srv += f"b{spec.baton}"
    n = cell.connection_count or cell.streams
    return (
        f"b{repeat}-{cell.workload[:5]}-{cell.client[:3]}-{srv}-"
        f"{'t' if cell.tls else 'p'}-{n}-{cell.connections[:2]}-{RUN_TOKEN}"
    )


class Progress:
    """A live line on a terminal (rich when installed), nothing otherwise."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.done = total, 0
        self._rich: Any = None
        self._task: Any = None
        if enabled and sys.stderr.isatty():
            with contextlib.suppress(ImportError):
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    TextColumn,
                    TimeElapsedColumn,
                )
                from rich.progress import Progress as RichProgress

                self._rich = RichProgress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    transient=True,
                )

    def __enter__(self) -> Progress:
        if self._rich is not None:
            self._rich.start()
            self._task = self._rich.add_task("starting", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.stop()

    @property
    def live(self) -> bool:
        return self._rich is not None

    def show(self, text: str) -> None:
        if self._rich is not None:
            self._rich.update(self._task, description=text)

    def advance(self, text: str) -> None:
        self.done += 1
        if self._rich is not None:
            self._rich.update(self._task, advance=1, description=text)

    def log(self, text: str) -> None:
        if self._rich is not None:
            self._rich.console.print(text)


Driver = Callable[[Cell, Target, ServerMeter, str], list[Any]]


def fio_cannot(cell: Cell, target: Target) -> str | None:
    """Why fio cannot run this cell, or None."""
    if cell.workload == "stat":
        return "fio has no STAT loop over gfapi (stat rows use gfrpc's client)"
    if target.fio_host is None:
        return "fio reaches a volume only through a volfile server on port 24007"
    if cell.connections == "shared":
        return "fio runs one gfapi instance (one connection) per job"
    return None


def runnable(
    cells: list[Cell], targets: Callable[[Cell], Target | str], fio_missing: str | None
) -> tuple[list[tuple[Cell, Target]], list[str]]:
    """The cells that can run, each with its target, and one note per reason a cell cannot."""
    keep: list[tuple[Cell, Target]] = []
    reasons: dict[str, int] = {}
    for cell in cells:
        target = targets(cell)
        why: str | None = target if isinstance(target, str) else None
        if why is None and cell.client == "fio":
            why = fio_missing
            if why is None:
                why = fio_cannot(cell, target)  # type: ignore[arg-type]
        if why is None:
            assert not isinstance(target, str)
            keep.append((cell, target))
        else:
            reasons[why] = reasons.get(why, 0) + 1
    notes = [f"{n} row(s) left out: {why}" for why, n in reasons.items()]
    return keep, notes


MAX_FIO_TEARING_DOWN = 2  # fio processes left to finish glfs_fini while other rows run


def run_plan(
    pairs: list[tuple[Cell, Target]],
    *,
    repeats: int,
    scratch: Path,
    progress: Progress,
    say: Callable[[str], None],
) -> list[Run]:
    """Every (cell, target) ``repeats`` times, interleaved; one Run per cell and repeat.

    fio's gfapi spends ~8 s in ``glfs_fini`` after its last I/O, waiting. A fio cell returns
    when its I/O has ended (:func:`start_fio`); its process finishes tearing down while the
    next rows run, and its report is read (and its files removed) between rows, never inside
    another row's measured span."""
    from gfrpc.transport import make_poller

    from .drive_fio import FioCell, FioCrashed, start_fio
    from .drive_gfrpc import CLIENT_POLLER, run_gfrpc

    runs: list[Run] = []
    pending: list[tuple[int, FioCell, str, Target]] = []
    steal: dict[int, float | None] = {}  # run index -> steal share over its span

    def settle(block: bool) -> None:
        while pending and (block or pending[0][1].done() or len(pending) > MAX_FIO_TEARING_DOWN):
            index, fio, label, target = pending.pop(0)
            run = runs[index]
            try:
                try:
                    run.samples = fio.finish()
                except FioCrashed as exc:
                    # the C client's own crash says nothing of the server: run it once more,
                    # now, and say so in the notes (a second crash is the run's error)
                    run.crash = "fio crashed: " + (" ".join(str(exc).split())[:300])
                    say(f"[{run.repeat + 1}/{repeats}] {label}: {run.crash}; running it again")
                    again = start_fio(
                        run.cell,
                        target,
                        ServerMeter(target.server_pids),
                        tag=run_id(run.cell, run.repeat) + "-again",
                        scratch=scratch,
                    )
                    run.samples = again.finish()
                    steal[index] = None  # not the first attempt's span
                mark_steal(run.samples, steal.get(index))
                say(
                    f"[{run.repeat + 1}/{repeats}] {label}: "
                    f"{'  '.join(_brief(run.cell, x) for x in run.samples)}"
                )
            except (GfrpcError, OSError, RuntimeError, ValueError) as exc:
                run.error = " ".join(str(exc).split())[:300] or type(exc).__name__
                say(f"[{run.repeat + 1}/{repeats}] {label}: FAILED: {run.error}")

    poller = make_poller(*CLIENT_POLLER)
    poller.start()
    try:
        for rep in range(repeats):
            for cell, target in pairs:
                settle(block=False)
                label = cell_label(cell)
                progress.show(f"run {rep + 1}/{repeats}  {label}")
                tag = run_id(cell, rep)
                meter = ServerMeter(target.server_pids)
                run = Run(cell=cell, repeat=rep, samples=[])
                runs.append(run)
                ticks = cpu_ticks()
                try:
                    if cell.client == "fio":
                        pending.append(
                            (
                                len(runs) - 1,
                                start_fio(cell, target, meter, tag=tag, scratch=scratch),
                                label,
                                target,
                            )
                        )
                        steal[len(runs) - 1] = steal_share(ticks, cpu_ticks())
                    else:
                        run.samples = run_gfrpc(cell, target, meter, tag=tag, poller=poller)
                        mark_steal(run.samples, steal_share(ticks, cpu_ticks()))
                        summary = "  ".join(_brief(cell, x) for x in run.samples)
                        say(f"[{rep + 1}/{repeats}] {label}: {summary}")
                except (GfrpcError, OSError, RuntimeError, ValueError, UnsupportedCell) as exc:
                    run.error = " ".join(str(exc).split())[:300] or type(exc).__name__
                    say(f"[{rep + 1}/{repeats}] {label}: FAILED: {run.error}")
                progress.advance(label)
        settle(block=True)
    finally:
        for _, fio, _, _ in pending:
            with contextlib.suppress(Exception):
                fio.abort()
        poller.stop()
    return runs


#: a run during which the hypervisor took at least this share of the CPU is named in a note
STEAL_NOTE_SHARE = 0.10


def mark_steal(samples: list[Any], share: float | None) -> None:
    """Keep in each sample's evidence the share of the machine's CPU the hypervisor took
    (steal time) over its run's span (from the cell's start to the end of its I/O)."""
    if share is None:
        return
    for sample in samples:
        sample.evidence["steal_share"] = round(share, 3)


def steal_notes(runs: list[Run]) -> list[str]:
    """One note naming the runs taken while the hypervisor took at least
    :data:`STEAL_NOTE_SHARE` of the machine's CPU: their rows compare less well."""
    hit = []
    for run in runs:
        shares = [s.evidence.get("steal_share") for s in run.samples]
        worst = max((v for v in shares if v is not None), default=None)
        if worst is not None and worst >= STEAL_NOTE_SHARE:
            hit.append(f"{cell_label(run.cell)} run {run.repeat + 1} ({worst:.0%})")
    if not hit:
        return []
    return [
        f"the hypervisor took {STEAL_NOTE_SHARE:.0%} or more of this machine's CPU (steal "
        f"time, /proc/stat) during {len(hit)} of {len(runs)} runs, whose rows compare less "
        "well: " + "; ".join(hit)
    ]


def _brief(cell: Cell, sample: Any) -> str:
    from .model import unit_of

    unit = unit_of(cell.workload)
    phase = f"{sample.phase} " if sample.phase else ""
    return f"{phase}{sample.value:,.1f} {unit}"


@contextlib.contextmanager
def more_open_files() -> Iterator[None]:
    """Raise RLIMIT_NOFILE's soft limit to the hard one (1,000-connection sweeps)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
