"""Both sets of notes 68 pooled (threshold/, threshold2/, threshold3/): per cell, each tree's median
ratio to bare sockets over all its runs, and the median of its CPU-s per GB."""
import json, pathlib, statistics, collections
here = pathlib.Path(__file__).parent
cells = collections.defaultdict(lambda: collections.defaultdict(list))
for d in ("threshold", "threshold2", "threshold3"):
    for p in sorted((here / d).glob("*.json")):
        tree = p.stem.split("-")[1]
        for r in json.loads(p.read_text())["rows"]:
            if r["kind"] != "baseline":
                cells[(r["kind"], r["connections"])][tree].append((r["mbps_ratio"], r["cpu_s_per_gb"]))
print("poller   conns runs  A ratio  H ratio  H/A   A cpu/GB  H cpu/GB")
for (poller, conns), by in sorted(cells.items()):
    a, h = by["A"], by["H"]
    ma, mh = (statistics.median(x[0] for x in v) for v in (a, h))
    ca, ch = (statistics.median(x[1] for x in v) for v in (a, h))
    print(f"{poller:8} {conns:5} {len(a):4}  {ma:.2f}     {mh:.2f}     {mh/ma:.2f}  {ca:.2f}      {ch:.2f}")
