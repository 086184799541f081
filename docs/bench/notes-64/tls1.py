#!/usr/bin/env python3
"""run3.sh's runs: MB/s and ratio to bare sockets of each poller, per run, and medians."""

import json
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
per: dict[tuple[str, str], list[tuple[float, float]]] = {}
for f in sorted((HERE / "tls1").glob("*.json")):
    rows = json.loads(f.read_text())["rows"]
    base = next(r["mb_per_s"] for r in rows if r["kind"] == "baseline")
    tree = "old" if f.stem[0] == "o" else "new"
    line = [f.stem, f"base {base:5.0f}"]
    for r in rows:
        if r["kind"] != "baseline":
            per.setdefault((r["kind"], tree), []).append((r["mb_per_s"], r["mb_per_s"] / base))
            line.append(f"{r['kind']} {r['mb_per_s']:5.0f} ({r['mb_per_s'] / base:.2f})")
    print("  ".join(line))
for (kind, tree), vs in sorted(per.items()):
    mb = statistics.median(v for v, _ in vs)
    ratio = statistics.median(r for _, r in vs)
    print(f"{kind:8s} {tree}: median {mb:5.0f} MB/s, {ratio:.2f}x bare sockets ({len(vs)} runs)")
