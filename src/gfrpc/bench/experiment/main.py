"""``gfrpc bench`` from parsed options to the printed table: plan, stage, run, report.

The command-line module (gfrpc.cli.bench) parses and checks the options and, as root, re-runs
the command inside a private network namespace first; this module does the rest in the
process that measures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from gfrpc.errors import ConfigError, GfrpcError
from gfrpc.transport import POLLER_NAMES

from . import plan as planning
from .model import BRICK_POLLER, Cell, MiB, ServerSpec, Target

DEFAULT_RUN_SIZE = 16 * MiB
FIO_SMALLFILE_NOTE = (
    "smallfile with fio: fio has no STAT or UNLINK loop over gfapi; its 'stat' phase opens "
    "each file, lstats it, reads its bytes and closes it (with both servers' default client "
    "graph, quick-read and open-behind make that one LOOKUP per file, which brings the bytes), "
    "and it has no 'unlink' phase (so those rows have no reference)"
)


def _tls_modes(args: argparse.Namespace) -> list[bool]:
    """--tls, whose default is both for staged runs; for a gluster:// target, on with
    --tls-dir and off without."""
    text = args.tls or (("on" if args.tls_dir else "off") if args.target else "both")
    return {"on": [True], "off": [False], "both": [False, True]}[text]


def _is_default_run(args: argparse.Namespace) -> bool:
    return not (
        args.compare
        or args.workload
        or args.client
        or args.server
        or args.poller
        or args.event_threads
        or args.io_threads
        or args.io_policy
        or args.baton
        or args.sweep_connections
        or args.target
    )


def build_plan(args: argparse.Namespace) -> planning.Plan:
    """The cells this command line asks for (see gfrpc.bench.experiment.plan)."""
    default = _is_default_run(args)
    size = args.size or (DEFAULT_RUN_SIZE if default else 64 * MiB)
    sizes = planning.Sizes(
        streams=args.streams,
        record_bytes=args.record,
        file_bytes=size,
        small_file_bytes=args.file_size,
        files_per_stream=args.files,
        ops_per_stream=args.stat_ops,
        stat_files_per_stream=args.stat_files,
        connections=args.connections,
    )
    tls = _tls_modes(args)
    if default:
        return planning.default_plan(sizes, tls)
    io = planning.io_settings(args.io_threads, args.io_policy, args.baton)
    if args.compare:
        plan = planning.compare_plan(sizes, tls, args.workload, io)
    elif args.sweep_connections and not (args.workload or args.client or args.server):
        plan = planning.Plan()
    else:
        clients = args.client or (["gfrpc"] if args.target else ["fio", "gfrpc"])
        servers = (
            (args.server or ["glusterfsd"])[:1]
            if args.target
            else (args.server or ["glusterfsd", "gfrpc"])
        )
        plan = planning.product_plan(
            sizes,
            tls,
            args.workload or ["seq-write"],
            clients,
            servers,
            args.poller or [BRICK_POLLER],
            args.event_threads or [2],
            io,
        )
    if args.sweep_connections:
        pollers = args.poller or list(POLLER_NAMES)
        threads = (args.event_threads or [2])[0]
        plan.cells += planning.sweep_cells(args.sweep_connections, pollers, tls, sizes, threads, io)
    plan.notes += planning.io_notes(args.io_threads, args.io_policy)
    return plan


def _store_bytes(cells: list[Cell]) -> int:
    """Room for the biggest run's files, times the fio runs whose files wait for their fio
    to finish tearing down (runner.MAX_FIO_TEARING_DOWN) plus the run going on, plus
    glusterd's state."""
    from .runner import MAX_FIO_TEARING_DOWN

    need = 0
    for c in cells:
        if c.workload in ("seq-write", "seq-read"):
            one = c.streams * c.file_bytes
        else:
            one = c.streams * c.files_per_stream * max(c.file_bytes, 4096) * 2
        need = max(need, one * (MAX_FIO_TEARING_DOWN + 2 if c.client == "fio" else 1))
    return need + 512 * MiB


def measure(args: argparse.Namespace, *, command: str) -> int:
    from .machine import machine_info, memory_reclaim_note
    from .report import document
    from .runner import Progress, more_open_files, run_plan, runnable, steal_notes

    def say(msg: str) -> None:
        if not args.quiet:
            if progress is not None and progress.live:
                progress.log(msg)
            else:
                print(msg, file=sys.stderr, flush=True)

    progress: Any = None
    plan = build_plan(args)
    notes = list(plan.notes)
    if not plan.cells:
        raise ConfigError("nothing to measure with these options")
    with more_open_files():
        if args.target:
            pairs, why = _external_pairs(args, plan.cells)
            notes += why
            scratch_root = Path(tempfile.mkdtemp(prefix="gfrpc-bench-"))
            stage: Any = None
        else:
            from .stage import Stage

            stage = Stage(
                plan.specs,
                scratch_parent=Path(args.scratch) if args.scratch else None,
                store_bytes=_store_bytes(plan.cells),
                say=say,
                want_fio=any(c.client == "fio" for c in plan.cells),
            )
            scratch_root = None
        try:
            if stage is not None:
                stage.start()
                for line in missing_lines(stage):
                    say(line)
                notes += stage.notes
                pairs, why = runnable(plan.cells, lambda c: _target(stage, c), stage.fio_missing)
                notes += why
                scratch = stage.scratch
            else:
                assert scratch_root is not None
                scratch = scratch_root
            if any(c.client == "fio" and c.workload == "smallfile" for c, _ in pairs):
                notes.append(FIO_SMALLFILE_NOTE)
            for line in notes:
                say(f"note: {line}")
            if not pairs:
                print("gfrpc bench: nothing could run\n" + "\n".join(notes), file=sys.stderr)
                return 1
            progress = Progress(len(pairs) * args.repeats, enabled=not args.quiet)
            with progress:
                runs = run_plan(
                    pairs, repeats=args.repeats, scratch=scratch, progress=progress, say=say
                )
        finally:
            if stage is not None:
                stage.close()
            if scratch_root is not None:
                import shutil

                shutil.rmtree(scratch_root, ignore_errors=True)
    notes += steal_notes(runs)
    machine = machine_info()
    if machine["memory_reclaim"]:
        notes.append(memory_reclaim_note(machine["memory_reclaim"]))
    doc = document(machine, runs, command=command, notes=notes)
    _print_report(doc)
    _write_outputs(args, doc)
    return 0 if any(r.samples for r in runs) else 1


def _print_report(doc: dict[str, Any]) -> None:
    """The table, what bounds each row, and issue 9's targets when the run measured any."""
    from .bounds import render_bounds
    from .table import render_table
    from .targets import render_targets

    print(render_table(doc))
    print()
    print(render_bounds(doc))
    targets = render_targets(doc)
    if targets:
        print(targets)


def missing_lines(stage: Any) -> list[str]:
    """Why a started stage lacks a peer, one line each: the gfrpc brick, glusterfsd, and fio
    only when the plan has fio rows (a run of gfrpc's client alone does not want it)."""
    lines = [stage.gfrpc_missing, stage.glusterfsd_missing]
    if stage.want_fio:
        lines.append(stage.fio_missing)
    return [line for line in lines if line]


def _target(stage: Any, cell: Cell) -> Target | str:
    if cell.server.kind == "glusterfsd" and stage.glusterfsd_missing:
        return str(stage.glusterfsd_missing)
    try:
        return stage.target(cell.server)  # type: ignore[no-any-return]
    except GfrpcError as exc:
        return " ".join(str(exc).split())


def _external_pairs(
    args: argparse.Namespace, cells: list[Cell]
) -> tuple[list[tuple[Cell, Target]], list[str]]:
    from .runner import fio_cannot
    from .stage import external_target

    pairs, notes = [], []
    kind = (args.server or ["glusterfsd"])[0]
    for cell in cells:
        tls = cell.tls
        if tls and not args.tls_dir:
            raise ConfigError(
                "TLS rows against a gluster:// target need --tls-dir DIR (or --tls off)"
            )
        spec = ServerSpec(kind, tls, None if kind == "glusterfsd" else BRICK_POLLER, 2)
        target = external_target(
            args.target,
            tls_dir=Path(args.tls_dir) if tls else None,
            mgmt_tls_dir=Path(args.tls_dir) if args.mgmt_tls and args.tls_dir else None,
        )
        target.spec = spec
        cell = cell.with_(server=spec)
        why = fio_cannot(cell, target) if cell.client == "fio" else None
        if why:
            notes.append(f"left out {cell.workload} with fio: {why}")
            continue
        pairs.append((cell, target))
    return pairs, notes


def _write_outputs(args: argparse.Namespace, doc: dict[str, Any]) -> None:
    if args.json:
        tmp = f"{args.json}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        os.replace(tmp, args.json)
        print(f"\nresults: {args.json}")
    if args.plot:
        from .plot import plot

        plot(doc, Path(args.plot))
        print(f"plot: {args.plot}")


def from_json(args: argparse.Namespace) -> int:
    """``--from-json FILE``: the table, bounds, targets and plot of a saved run; nothing
    measured."""
    from .report import load

    doc = load(Path(args.from_json))
    _print_report(doc)
    if args.plot:
        from .plot import plot

        plot(doc, Path(args.plot))
        print(f"plot: {args.plot}")
    return 0
