"""Performance notes 71: the sweeps of sweep-64/ and sweep-256/, N against M, per cell.

Usage: python summary.py [DIR]
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def main() -> None:
    d = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
    for sub in ("sweep-64", "sweep-256"):
        cells: dict[tuple[int, str, str], list[dict]] = {}
        for f in sorted((d / sub).glob("*.json")):
            tree = f.stem.split("-")[1]
            for r in json.loads(f.read_text())["results"]:
                key = (r["streams"], f"{r['poller']} x{r['event_threads']}", tree)
                cells.setdefault(key, []).append(r)
        print(f"{sub} (connections, server, tree: MB/s runs; brick CPU s/GB; brick RSS MB)")
        for key in sorted(cells):
            rs = cells[key]
            mbs = [r["value"] for r in rs]
            print(f"  {key[0]:>5} {key[1]:<11} {key[2]}: MB/s {' / '.join(f'{v:.0f}' for v in mbs)}"
                  f" (median {statistics.median(mbs):.0f}); CPU/GB "
                  f"{' / '.join(str(r['server_cpu_s_per_gb']) for r in rs)}; RSS "
                  f"{' / '.join(str(r['server_rss_mb']) for r in rs)}")
        for t in sorted((d / sub).glob("*.time.txt")):
            print(f"  {t.stem}: {' '.join(t.read_text().split())}")


if __name__ == "__main__":
    main()
