"""Each bench JSON of notes 69: fio -> sharded's MB/s over fio -> glusterfsd's (same event
threads, same run), with both servers' busy cores and fio's CPU; then the medians per arm
(the file name up to its last '-').

Usage: python3 summary.py DIR...
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def rows(path: Path):
    results = json.loads(path.read_text())["results"]
    ref = {r["event_threads"]: r for r in results if r["server"] == "glusterfsd"}
    for r in results:
        g = ref.get(r["event_threads"])
        if r["server"] == "gfrpc" and g is not None:
            yield r["event_threads"], r, g


def main(dirs: list[str]) -> None:
    arms: dict[str, list[float]] = defaultdict(list)
    for d in dirs:
        for path in sorted(Path(d).glob("*.json")):
            for threads, r, g in rows(path):
                ratio = r["value"] / g["value"]
                arm = f"{path.stem.rpartition('-')[0]} x{threads}"
                arms[arm].append(ratio)
                print(
                    f"{path.stem:<10} x{threads}  {r['value']:5.0f} / {g['value']:5.0f} MB/s"
                    f" = {ratio:4.2f}  busy {r['server_busy_cores']:.2f} / "
                    f"{g['server_busy_cores']:.2f}  fio CPU {r['client_cpu_s']:.2f} / "
                    f"{g['client_cpu_s']:.2f} s  CPU/GB {r['server_cpu_s_per_gb']:.2f} / "
                    f"{g['server_cpu_s_per_gb']:.2f}"
                )
    print("medians:")
    for arm, ratios in sorted(arms.items()):
        print(f"  {arm:<10} {statistics.median(ratios):.2f} over {len(ratios)} runs")


if __name__ == "__main__":
    main(sys.argv[1:])
