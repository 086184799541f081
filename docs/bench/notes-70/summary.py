"""Performance notes 70: the TLS connection sweep, the budget's finishers (N) against 471eef5 (K).

Usage: python summary.py [DIR]  (prints each cell's MB/s per run and the medians, N / K)
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def cells(path: Path) -> dict[tuple[int, str], dict]:
    data = json.loads(path.read_text())
    out = {}
    for r in data["results"]:
        n = r["evidence"][0].get("streams") if r.get("evidence") else None
        key = (r["streams"] if n is None else n, f"{r['poller']} x{r['event_threads']}")
        out[key] = r
    return out


def main() -> None:
    d = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
    runs = {t: [cells(d / f"{s}-{t}.json") for s in ("a", "b")] for t in ("K", "N")}
    print("connections  server        K runs (MB/s)  N runs (MB/s)  N/K medians")
    for key in sorted(runs["K"][0]):
        k = [r[key]["value"] for r in runs["K"] if r[key]["value"]]
        n = [r[key]["value"] for r in runs["N"] if r[key]["value"]]
        ratio = statistics.median(n) / statistics.median(k)
        print(f"{key[0]:>11}  {key[1]:<12}  {' / '.join(f'{v:.0f}' for v in k):<13}  "
              f"{' / '.join(f'{v:.0f}' for v in n):<13}  {ratio:.2f}")
    for name in ("1000-A", "1000-K", "1000-N"):
        data = json.loads((d / f"{name}.json").read_text())
        for r in data["results"]:
            print(f"{name}: {r['poller']} x{r['event_threads']} 1000 TLS connections:",
                  r["value"] or "failed", "MB/s", "; ".join(n for n in data["notes"] if "failed" in n)[:160])
    full = cells(d / "full-N.json")
    for key in sorted(full):
        r = full[key]
        print(f"full-N {key[0]:>5} {key[1]:<12} {r['value']} MB/s runs {r['runs']} "
              f"p99 {r['latency_ms']['p99']} ms busy {r['server_busy_cores']}")


if __name__ == "__main__":
    main()
