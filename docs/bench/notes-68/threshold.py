"""Medians of each tree's bench-transport runs in one directory of notes 68 (``threshold``,
``threshold2`` or ``threshold3``, the first argument): MB/s ratio to bare sockets and CPU-s
per GB, per poller and connection count, TLS on."""
import collections
import json
import pathlib
import statistics
import sys

runs_dir = pathlib.Path(__file__).with_name(sys.argv[1] if len(sys.argv) > 1 else "threshold")
cells = collections.defaultdict(lambda: collections.defaultdict(list))
for p in sorted(runs_dir.glob("*.json")):
    tree = p.stem.split("-")[1]
    for r in json.loads(p.read_text())["rows"]:
        if r["kind"] == "baseline":
            continue
        cells[(r["kind"], r["connections"])][tree].append((r["mbps_ratio"], r["cpu_s_per_gb"]))
print("poller   conns  A ratio (runs)                 H ratio (runs)                 A cpu/GB  H cpu/GB")
for (poller, conns), by in sorted(cells.items()):
    a, h = by["A"], by["H"]
    f = lambda xs: " ".join(f"{x[0]:.2f}" for x in xs)
    print(f"{poller:8} {conns:5}  {statistics.median(x[0] for x in a):.2f} ({f(a)})  "
          f"{statistics.median(x[0] for x in h):.2f} ({f(h)})  "
          f"{statistics.median(x[1] for x in a):.2f}      {statistics.median(x[1] for x in h):.2f}")
