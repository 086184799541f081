#!/usr/bin/env python3
"""Medians of notes 64's alternated runs: bench-transport and the connection sweep, new ÷ old."""

import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def transport() -> None:
    cells: dict[tuple, dict[str, list[float]]] = {}
    for f in sorted((HERE / "transport").glob("bt-*.json")):
        tree = "old" if f.stem[3] == "o" else "new"
        rows = json.loads(f.read_text())["rows"]
        base = {(r["tls"], r["connections"]): r["mb_per_s"] for r in rows if r["kind"] == "baseline"}
        for r in rows:
            key = (r["kind"], r["tls"], r["connections"])
            c = cells.setdefault(key, {"old": [], "new": [], "old_r": [], "new_r": []})
            c[tree].append(r["mb_per_s"])
            c[tree + "_r"].append(r["mb_per_s"] / base[(r["tls"], r["connections"])])
    print("bench-transport MB/s, medians of the runs of each tree; new/old; ratio to bare sockets")
    ratios = []
    for (kind, tls, conns), c in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        o, n = med(c["old"]), med(c["new"])
        print(
            f"{kind:10s} {'on' if tls else 'off':3s} {conns:3d}  old {o:6.0f}  new {n:6.0f}  "
            f"{n / o:5.2f}   vs base {med(c['old_r']):.2f} -> {med(c['new_r']):.2f}"
        )
        if kind != "baseline":
            ratios.append(n / o)
    print(
        f"gfrpc cells new/old: min {min(ratios):.2f} median {med(ratios):.2f} max {max(ratios):.2f}"
    )


def sweep() -> None:
    cells: dict[tuple, dict[str, list[float]]] = {}
    for f in sorted((HERE / "sweep").glob("sw-*.json")):
        tree = "old" if f.stem[3] == "o" else "new"
        for r in json.loads(f.read_text())["results"]:
            key = (r["poller"], r["event_threads"], r["streams"])
            c = cells.setdefault(key, {"old": [], "new": [], "old_g": [], "new_g": []})
            c[tree].append(r["value"])
            c[tree + "_g"].append(r["server_cpu_s_per_gb"])
    print("\nsweep MB/s (brick CPU s per GB), medians of the runs of each tree; new/old")
    ratios = []
    for (poller, threads, streams), c in sorted(cells.items(), key=lambda kv: (kv[0][2], kv[0])):
        o, n = med(c["old"]), med(c["new"])
        ratios.append(n / o)
        print(
            f"{poller:10s} x{threads} {streams:5d} conns  old {o:6.0f} ({med(c['old_g']):.2f})  "
            f"new {n:6.0f} ({med(c['new_g']):.2f})  {n / o:5.2f}"
        )
    print(f"sweep cells new/old: min {min(ratios):.2f} median {med(ratios):.2f} max {max(ratios):.2f}")


if __name__ == "__main__":
    transport()
    sweep()
    sys.exit(0)
