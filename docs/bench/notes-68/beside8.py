"""One directory of notes 68 (``beside-8``, ``beside-8-wide`` or ``edge``, the first
argument): per cell, each tree's ratios to bare sockets (runs in order), median, and median
CPU-s per GB. A = b8aad09, H = 7b22aae (whole beside four), T = H whole beside eight, K = T's code
committed."""
import collections
import json
import pathlib
import statistics
import sys

runs_dir = pathlib.Path(__file__).with_name(sys.argv[1] if len(sys.argv) > 1 else "beside-8")
cells = collections.defaultdict(lambda: collections.defaultdict(list))
for p in sorted(runs_dir.glob("*.json"), key=lambda p: int(p.stem.split("-")[0])):
    tree = p.stem.split("-")[1]
    for r in json.loads(p.read_text())["rows"]:
        if r["kind"] != "baseline":
            cells[(r["kind"], r["connections"])][tree].append((r["mbps_ratio"], r["cpu_s_per_gb"], r["mb_per_s"]))
for (poller, conns), by in sorted(cells.items()):
    for t in sorted(by):
        v = by[t]
        print(f"{poller} {conns:3} {t}  median {statistics.median(x[0] for x in v):.2f}  "
              f"({' '.join(f'{x[0]:.2f}' for x in v)})  cpu/GB {statistics.median(x[1] for x in v):.2f}"
              f"  MB/s {statistics.median(x[2] for x in v):.0f}")
